"""Shared fixtures: the real data root (skips visibly without ``STNLAB_DATA``) and a session cache folder."""

from __future__ import annotations

import functools
import http.server
import os
import threading
from pathlib import Path

import pytest
import torch

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The real data root from ``STNLAB_DATA``; tests using it are skipped (with the reason) when unset."""
    env = os.environ.get("STNLAB_DATA")
    if not env:
        pytest.skip("STNLAB_DATA is not set: point it at the real data root (CI: STNLAB_DATA=../shared/data)")
    root = Path(env).expanduser().resolve()
    if not root.is_dir():
        pytest.skip(f"STNLAB_DATA={env} is not a folder")
    return root


@pytest.fixture(scope="session", autouse=True)
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh cache folder for the whole session, also exported as ``STNLAB_CACHE``.

    Decoded caches (plankton, SVHN) are therefore built at most once per test session and never
    written into the user's own cache.
    """
    path = tmp_path_factory.mktemp("stnlab-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STNLAB_CACHE", str(path))
        yield path


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # no request log on stderr
        return None


@pytest.fixture
def http_server(tmp_path: Path):
    """A local HTTP server for download tests: yields (folder it serves, base URL ending in "/")."""
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield served, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
