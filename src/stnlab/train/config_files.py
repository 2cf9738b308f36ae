"""Reading run configs from files: ``--config`` (a flat ``.json``, ``.yaml`` or ``.yml`` mapping) and a run
folder's ``config.json`` (an older one, lacking keys added since, gets their defaults)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stnlab.errors import StnlabError
from stnlab.io import parse_json
from stnlab.train.config import KEYS, RunConfig, build_config, parse_scalar


def _valid_keys() -> str:
    return ", ".join(KEYS)


def _read_flat_yaml(path: Path, text: str) -> dict[str, Any]:
    """The YAML subset a run config needs: ``key: value`` lines, ``#`` comments, ``[a, b]`` lists."""
    out: dict[str, Any] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not line or line == "---":
            continue
        key, sep, value = line.partition(":")
        if not sep or not key.strip() or raw[:1].isspace():
            raise StnlabError(f"{path}:{lineno}: expected 'key: value' (a flat mapping), got {raw.strip()!r}")
        if key.strip() in out:
            raise StnlabError(f"{path}:{lineno}: key {key.strip()!r} appears twice; keep one of them")
        out[key.strip()] = parse_scalar(value)
    return out


def read_config_file(path: str | Path, fix: str = "check the path") -> dict[str, Any]:
    """Read a ``.json``, ``.yaml`` or ``.yml`` file holding a flat mapping of config keys; ``fix`` ends the
    one-line error of a file that cannot be read or is not UTF-8 text."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise StnlabError(f"cannot read config file {path} ({err.strerror or err}); {fix}") from None
    except UnicodeDecodeError as err:
        raise StnlabError(f"config file {path} is not UTF-8 text (byte {err.start}: a binary file?); {fix}") from None
    if path.suffix == ".json":
        data = parse_json(text, f"config file {path}")  # a key given twice is refused
    elif path.suffix in (".yaml", ".yml"):
        data = _read_flat_yaml(path, text)
    else:
        raise StnlabError(f"config file {path}: unknown extension; use .json, .yaml or .yml")
    if not isinstance(data, dict):
        raise StnlabError(f"config file {path} must hold a mapping of config keys ({_valid_keys()})")
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise StnlabError(f"config file {path}: unknown key(s) {', '.join(unknown)}; valid keys: {_valid_keys()}")
    return data


def load_config_json(path: Path) -> RunConfig:
    """The :class:`RunConfig` saved in a run folder's ``config.json``."""
    if not path.is_file():
        raise StnlabError(f"{path} not found; is {path.parent} a run folder made by 'stnlab train'?")
    fix = f"restore it, or retrain into another folder (is {path.parent} a run folder?)"
    return build_config(read_config_file(path, fix))


__all__ = ["load_config_json", "read_config_file"]
