"""The one exception type for user mistakes.

Anything a user can get wrong (a bad name, a missing file, a bad value) raises :class:`StnlabError`
with a one-line message that names the problem and the fix. The CLI prints it as ``error: ...`` and exits
with status 2; a traceback means a bug in stnlab, never a user mistake.
"""

from __future__ import annotations


class StnlabError(ValueError):
    """A user error: bad input, missing data, a bad configuration value. One line, names the fix."""


__all__ = ["StnlabError"]
