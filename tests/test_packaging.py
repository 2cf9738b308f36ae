"""Packaging: one version source, LICENSE/CITATION/py.typed shipped, h5py only as the svhn extra, and the
README install lines (the development / CI one is what .ci/run runs)."""

from __future__ import annotations

import importlib.metadata
import re
import sys
from pathlib import Path

import pytest

import stnlab

ROOT = Path(__file__).resolve().parents[1]
tomllib = pytest.importorskip("tomllib") if sys.version_info >= (3, 11) else pytest.importorskip("tomli")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_one_version_source():
    project = PYPROJECT["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "stnlab.__version__"}
    assert importlib.metadata.version("stnlab") == stnlab.__version__
    assert "\nversion:" not in (ROOT / "CITATION.cff").read_text()  # no second copy to forget


def test_license_citation_and_typing_marker_ship():
    license_text = (ROOT / "LICENSE").read_text()
    assert license_text.startswith("MIT License") and "stnlab developers" in license_text
    assert PYPROJECT["project"]["license"] == "MIT" and PYPROJECT["project"]["license-files"] == ["LICENSE"]
    assert (Path(stnlab.__file__).parent / "py.typed").is_file()
    assert "py.typed" in PYPROJECT["tool"]["setuptools"]["package-data"]["stnlab"]
    cff = (ROOT / "CITATION.cff").read_text()
    assert cff.startswith("cff-version: 1.2.0") and "\ntitle: \"stnlab:" in cff
    assert "Understanding when spatial transformer networks do not support invariance" in cff
    assert "Spatial transformations in convolutional networks and invariant recognition" in cff


def test_h5py_is_only_the_svhn_extra():
    project = PYPROJECT["project"]
    assert not any(d.startswith("h5py") for d in project["dependencies"])
    assert project["optional-dependencies"]["svhn"] == ["h5py>=3.8"]
    assert any(c.startswith("Typing :: Typed") for c in project["classifiers"])


def test_readme_install_lines_and_ci_agree():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    ci_install = re.search(r"^python -m pip install -q (.*)$", ci, re.M).group(1)
    assert ci_install == '-c constraints.txt -e ".[dev]"'
    dev = readme[readme.index("**Development / CI**") :]
    assert f"python -m pip install {ci_install}" in dev.split("```")[1]
    cpu = readme[readme.index("**CPU-only machine**") : readme.index("**CUDA machine**")]
    assert "pip install torch --index-url https://download.pytorch.org/whl/cpu" in cpu
    assert "constraints.txt" not in cpu
    assert "torch==2.13.0" in (ROOT / "constraints.txt").read_text()
