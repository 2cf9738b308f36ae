"""Downloading a file: try mirrors with a short timeout, show progress, verify, then rename into place."""

from __future__ import annotations

import hashlib
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

from tqdm import tqdm

from stnlab.data.paths import atomic_path
from stnlab.errors import StnlabError

TIMEOUT_S = 5.0
_CHUNK = 1 << 16


def md5_bytes(data: bytes) -> str:
    """Hex md5 of ``data``."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def download_file(
    urls: Sequence[str],
    target: Path,
    verify: Callable[[Path], None],
    *,
    timeout: float = TIMEOUT_S,
    progress: bool = True,
) -> Path:
    """Download the first mirror that answers to ``target``.

    The bytes go to a temporary sibling name; ``verify(tmp_path)`` must raise :class:`StnlabError` for a
    bad file (an md5 mismatch, ...); only a verified file is renamed onto ``target``. Raises
    :class:`StnlabError` listing every failure when no mirror gives a valid file.
    """
    failures = []
    for url in urls:
        try:
            with atomic_path(target) as tmp:
                with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as out:
                    total = int(response.headers.get("Content-Length") or 0) or None
                    bar = tqdm(
                        total=total, unit="B", unit_scale=True, desc=target.name,
                        disable=not progress, file=sys.stderr, leave=False,
                    )  # fmt: skip
                    with bar:
                        while chunk := response.read(_CHUNK):
                            out.write(chunk)
                            bar.update(len(chunk))
                verify(tmp)
            return target
        except (urllib.error.URLError, OSError, ValueError) as err:  # StnlabError is a ValueError
            failures.append(f"{url}: {getattr(err, 'reason', err)}")
    raise StnlabError(f"could not download {target.name} ({'; '.join(failures) or 'no mirror'})")


__all__ = ["TIMEOUT_S", "download_file", "md5_bytes"]
