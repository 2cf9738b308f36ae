"""`stnlab data status|fetch|import`: output, exit codes (0 / 2), one-line errors, nothing half-written."""

from __future__ import annotations

import ast
import math

import pytest
from PIL import Image

from stnlab.cli import main
from stnlab.data import mnist


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["data", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_status_on_the_real_files(data_root, tmp_path, capsys):
    """A root that links the real mnist/ (and plankton/, where the real root has it) and lacks svhn/: the
    test does not depend on which data sets a machine happens to hold."""
    (tmp_path / "mnist").symlink_to(data_root / "mnist", target_is_directory=True)
    has_plankton = (data_root / "plankton").exists()
    if has_plankton:
        (tmp_path / "plankton").symlink_to(data_root / "plankton", target_is_directory=True)
    code, out, _ = run(capsys, "status", "--data-root", str(tmp_path))
    assert code == 0
    assert "mnist     ok       " in out and "60000 train + 10000 test images, md5 ok" in out
    if has_plankton:
        assert "plankton  ok       " in out and "30336 files in 121 class folders" in out
    assert "svhn      MISSING" in out


def test_status_on_an_empty_root_lists_what_is_missing(tmp_path, capsys):
    code, out, _ = run(capsys, "status", "--data-root", str(tmp_path))
    assert code == 0 and out.count("MISSING") == 3 and "stnlab data fetch mnist" in out


def test_fetch_without_network_exits_2_with_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(mnist, "MIRRORS", ["http://127.0.0.1:9/"])
    code, _, err = run(capsys, "fetch", "mnist", "--data-root", str(tmp_path), "--quiet")
    assert code == 2 and err.startswith("stnlab: error: could not download") and err.count("\n") == 1
    assert "Traceback" not in err and f"{tmp_path}/mnist/" in err
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


def test_fetch_plankton_explains_that_it_needs_a_manual_download(tmp_path, capsys):
    code, _, err = run(capsys, "fetch", "plankton", "--data-root", str(tmp_path))
    assert code == 2 and "Kaggle needs a login" in err


def test_import_plankton_folder_then_refuse_to_overwrite(tmp_path, capsys):
    src = tmp_path / "download" / "train" / "copepod"
    src.mkdir(parents=True)
    Image.new("L", (50, 40), 200).save(src / "1.jpg")
    root = tmp_path / "root"
    code, out, _ = run(capsys, "import", "plankton", str(tmp_path / "download"), "--data-root", str(root))
    assert code == 0 and (root / "plankton" / "train" / "copepod" / "1.jpg").is_file()
    code, _, err = run(capsys, "import", "plankton", str(tmp_path / "download"), "--data-root", str(root))
    assert code == 2 and "already exists" in err


def test_import_of_bad_files_exits_2_and_writes_nothing(tmp_path, capsys):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x01" + b"\x00" * 20)
    code, _, err = run(capsys, "import", "mnist", str(bad), "--data-root", str(tmp_path / "root"))
    assert code == 2 and "stnlab: error:" in err and "Traceback" not in err
    assert not (tmp_path / "root").exists()
    code, _, err = run(capsys, "import", "svhn", str(tmp_path / "nowhere"), "--data-root", str(tmp_path / "root"))
    assert code == 2 and "does not exist" in err


def test_unknown_data_set_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["data", "fetch", "cifar"])
    assert exc.value.code == 2


def test_prepare_builds_the_plankton_cache_once(tmp_path, capsys):
    folder = tmp_path / "root" / "plankton" / "train" / "copepod"
    folder.mkdir(parents=True)
    for i in range(3):
        Image.new("L", (40 + i, 30), 100).save(folder / f"{i}.jpg")
    argv = ["prepare", "plankton", "--data-root", str(tmp_path / "root"), "--cache-dir", str(tmp_path / "c")]
    code, out, _ = run(capsys, *argv)
    assert code == 0 and "plankton: 3 images in 1 classes cached" in out
    assert len(list((tmp_path / "c").glob("plankton-v1-*.npy"))) == 1
    code, _, err = run(capsys, "prepare", "svhn", "--data-root", str(tmp_path / "root"))
    assert code == 2 and "SVHN not found" in err


def test_show_writes_a_grid_of_the_protocol_images(data_root, tmp_path, capsys):
    out = tmp_path / "grid.png"
    code, text, _ = run(capsys, "show", "mnist-trans", "--data-root", str(data_root), "--n", "10", "--out", str(out))
    assert code == 0 and "10 mnist-trans test images" in text
    assert sorted(ast.literal_eval(text.split("labels ")[1])) == list(range(10))  # one digit of each class
    grid = Image.open(out)
    assert grid.format == "PNG" and grid.size[0] >= 8 * 150 and grid.size[1] >= 2 * 150  # readable cells
    code, _, err = run(capsys, "show", "mnist", "--data-root", str(data_root), "--out", str(tmp_path / "x.gif"))
    assert code == 2 and "must end in .png" in err and not (tmp_path / "x.gif").exists()
    code, _, err = run(capsys, "show", "cifar", "--data-root", str(data_root), "--out", str(tmp_path / "y.png"))
    assert code == 2 and "unknown dataset 'cifar'" in err


def test_show_writes_png_for_an_upper_case_suffix(data_root, tmp_path, capsys):
    out = tmp_path / "grid.PNG"
    code, _, _ = run(capsys, "show", "mnist", "--data-root", str(data_root), "--n", "2", "--out", str(out))
    assert code == 0 and Image.open(out).format == "PNG"


def test_show_labels_each_image_with_its_class_and_transform(data_root):
    from stnlab.cli.data_cmd import _caption, _spread
    from stnlab.data import make_source

    source = make_source("mnist-rot", "test", root=data_root)
    index = _spread(source.labels, 12, seed=1)
    assert sorted(source.labels[index[:10]].tolist()) == list(range(10)) and len(set(index.tolist())) == 12
    images, labels, params = source.render(index, 0)
    caption = _caption(source, labels[3], params, 3, ["angle"])
    assert caption.split("\n") == [f"digit {int(labels[3])}", f"rot {math.degrees(float(params['angle'][3])):+.0f}°"]


def test_show_svhn_never_downloads(tmp_path, capsys, monkeypatch):
    from stnlab.data import svhn

    monkeypatch.setattr(svhn, "fetch_svhn", lambda *a, **k: pytest.fail("data show tried to download SVHN"))
    code, _, err = run(capsys, "show", "svhn", "--data-root", str(tmp_path), "--out", str(tmp_path / "s.png"))
    assert code == 2 and "stnlab data fetch svhn" in err and not (tmp_path / "s.png").exists()
