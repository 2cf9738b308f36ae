"""Bad user data: one clear line each, exit code 2, nothing written (no run folder, no cache entry)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from helpers import cli_error, make_idx, make_image_folder
from stnlab.data.custom import load_custom


def _folder_with(tmp_path, what):
    root = tmp_path / "data"
    root.mkdir()
    if what == "empty class":
        make_image_folder(root, classes=2, per_class=3)
        (root / "class2").mkdir()
    elif what == "unreadable class":
        make_image_folder(root, classes=2, per_class=3)
        (root / "class2").mkdir()
        (root / "class2" / "a.png").write_bytes(b"not an image")
    elif what == "loose files":
        Image.fromarray(np.zeros((28, 28), np.uint8)).save(root / "a.png")
    elif what == "non-square":
        for c in range(2):
            (root / f"c{c}").mkdir()
            for i in range(4):
                Image.fromarray(np.zeros((20, 30), np.uint8)).save(root / f"c{c}" / f"{i}.png")
    return f"folder:{root}"


def _npz_with(tmp_path, what):
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (12, 28, 28), dtype=np.uint8), np.arange(12) % 2
    arrays = {
        "no y_train": {"x_train": x},
        "int16 images": {"x_train": x.astype(np.int16), "y_train": y},
        "NHWC": {"x_train": np.repeat(x[..., None], 3, -1), "y_train": y},
        "float labels": {"x_train": x, "y_train": y.astype(np.float32)},
        "label count": {"x_train": x, "y_train": y[:5]},
        "float out of range": {"x_train": x.astype(np.float32), "y_train": y},
        "x_test alone": {"x_train": x, "y_train": y, "x_test": x},
    }[what]
    path = tmp_path / "data.npz"
    np.savez(path, **arrays)
    return f"npz:{path}"


CASES = [
    ("folder", "empty", "holds no class folders"),
    ("folder", "loose files", "holds no class folders"),
    ("folder", "empty class", "class folder .*class2 holds no images"),
    ("folder", "unreadable class", "class2 .* hold no readable image"),
    ("folder", "non-square", "needs square images, these are 20 x 30; resize them with --set image_size=N"),
    ("npz", "no y_train", "lacks y_train"),
    ("npz", "int16 images", "dtype int16; store uint8"),
    ("npz", "NHWC", "transpose"),
    ("npz", "float labels", "y_train must be 12 integer labels"),
    ("npz", "label count", "y_train must be 12 integer labels"),
    ("npz", "float out of range", "must hold values in \\[0, 1\\]"),
    ("npz", "x_test alone", "only one of x_test and y_test"),
]


@pytest.mark.parametrize("kind,what,match", CASES, ids=[f"{k}-{w}" for k, w, _ in CASES])
def test_bad_data_is_one_line_exit_2_and_nothing_written(tmp_path, capsys, cache_dir, kind, what, match):
    import re

    if what == "empty":
        (tmp_path / "data").mkdir()
        name = f"folder:{tmp_path / 'data'}"
    else:
        name = _folder_with(tmp_path, what) if kind == "folder" else _npz_with(tmp_path, what)
    before = set(cache_dir.iterdir())
    out = tmp_path / "run"
    err = cli_error(capsys, "train", "--model", "STN-SL1", "--dataset", name, "--steps", "1", "--out", out,
                    "--set", "protocol=rotation", "--no-progress")
    assert re.search(match, err), err
    assert not out.exists()
    if what != "non-square":  # (non-square images are good data: their decoded cache is kept for protocol=none)
        assert set(cache_dir.iterdir()) == before


def test_idx_label_count_and_missing_files(tmp_path, capsys):
    bad = make_idx(tmp_path / "bad", n_train=12, n_test=6, n_test_labels=5)
    err = cli_error(capsys, "data", "show", f"idx:{bad}", "--out", tmp_path / "x.png")
    assert "6 test images but 5 labels" in err and not (tmp_path / "x.png").exists()
    (bad / "train-labels-idx1-ubyte").unlink()
    assert "lacks the train labels file" in cli_error(capsys, "data", "show", f"idx:{bad}", "--out", tmp_path / "x.png")


def test_unreadable_files_are_counted_and_skipped_or_refused_when_strict(tmp_path, capsys):
    root = make_image_folder(tmp_path / "data", classes=2, per_class=6)
    (root / "class1" / "broken.png").write_bytes(b"\x89PNG truncated")
    with pytest.warns(UserWarning, match="skipped 1 unreadable file"):
        arrays = load_custom("folder", root)
    assert len(arrays.images) == 12 and arrays.skipped == ["class1/broken.png"]
    err = cli_error(capsys, "train", "--model", "CNN", "--dataset", f"folder:{root}", "--steps", "1",
                    "--out", tmp_path / "run", "--set", "strict=true")
    assert "broken.png" in err and "strict=true" in err and not (tmp_path / "run").exists()


@pytest.mark.parametrize("args,match", [
    (["--dataset", "folder:/no/such/folder"], "does not exist"),
    (["--dataset", "csv:/tmp/x.csv"], "unknown dataset 'csv:/tmp/x.csv'.*folder:PATH"),
    (["--dataset", "mnist", "--set", "protocol=shear"], "unknown protocol 'shear'; valid: none, rotation"),
    (["--dataset", "plankton", "--set", "protocol=rotation"], "not to plankton"),
    (["--dataset", "mnist-rot", "--set", "protocol=scale"], "already applies the rotation protocol"),
])
def test_bad_dataset_options(tmp_path, capsys, args, match):
    import re

    err = cli_error(capsys, "train", "--model", "CNN", "--steps", "1", "--out", tmp_path / "run", *args)
    assert re.search(match, err), err


def test_images_too_small_for_the_default_cnn(tmp_path, capsys):
    root = make_image_folder(tmp_path / "tiny", classes=2, per_class=4, size=12)
    err = cli_error(capsys, "train", "--model", "CNN", "--dataset", f"folder:{root}", "--steps", "1",
                    "--out", tmp_path / "run")
    assert "12 x 12 images are too small" in err and "image_size=28" in err and not (tmp_path / "run").exists()
