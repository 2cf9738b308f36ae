"""The one exception type for user mistakes.

Anything a user can get wrong (a bad name, a missing file, a bad value) raises :class:`StnlabError`
with a one-line message that names the problem and the fix. The CLI prints it as ``error: ...`` and exits
with status 2; a traceback means a bug in stnlab, never a user mistake.
"""

from __future__ import annotations


class StnlabError(ValueError):
    """A user error: bad input, missing data, a bad configuration value. One line, names the fix."""


class Interrupted(KeyboardInterrupt):
    """A run stopped on request (Ctrl-C, SIGTERM) after saving its state; ``exit_code`` is 128 + the signal
    (130 for SIGINT, 143 for SIGTERM). The message says what was saved and how to go on."""

    def __init__(self, message: str, exit_code: int = 130) -> None:
        super().__init__(message)
        self.exit_code = exit_code


__all__ = ["Interrupted", "StnlabError"]
