"""MNIST files: canonical md5s on the real data, every bad-input path, fetch (closed port, local server), import."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest

from stnlab.data import mnist
from stnlab.data.mnist import FILES, fetch_mnist, import_mnist, load_mnist, parse_idx
from stnlab.errors import StnlabError


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_split(folder: Path, split: str, n_images: int, n_labels: int | None = None, gz: bool = True) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    parts = {
        "images": idx_bytes(rng.integers(0, 256, (n_images, 28, 28)), 0x803),
        "labels": idx_bytes(rng.integers(0, 10, (n_labels if n_labels is not None else n_images,)), 0x801),
    }
    for kind, data in parts.items():
        name = FILES[(split, kind)]
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)


def test_all_70000_images_load_with_the_canonical_md5s(data_root):
    train_x, train_y = load_mnist("train", data_root, download=False)
    test_x, test_y = load_mnist("test", data_root, download=False)
    assert train_x.shape == (60000, 28, 28) and test_x.shape == (10000, 28, 28)
    assert len(train_y) + len(test_y) == 70000
    assert set(train_y.unique().tolist()) == set(range(10))
    assert abs(train_x.float().mean().item() / 255 - 0.1307) < 1e-3  # the documented pixel mean
    for split, kind in FILES:
        path = mnist.find_file(data_root / "mnist", FILES[(split, kind)])
        assert mnist.md5_bytes(mnist.read_bytes(path)) == mnist.MD5[FILES[(split, kind)]]


def test_raw_and_gz_files_parse_the_same(tmp_path):
    write_split(tmp_path / "gz" / "mnist", "test", 5)
    write_split(tmp_path / "raw" / "mnist", "test", 5, gz=False)
    a = load_mnist("test", tmp_path / "gz", verify=False, download=False)
    b = load_mnist("test", tmp_path / "raw", verify=False, download=False)
    assert all(np.array_equal(x.numpy(), y.numpy()) for x, y in zip(a, b))


def test_wrong_magic_number_is_named():
    data = idx_bytes(np.zeros((2, 28, 28)), 0x801)
    with pytest.raises(StnlabError, match=r"magic number 0x00000801, expected 0x00000803"):
        parse_idx(data, "images", Path("x-images"))


@pytest.mark.parametrize("cut", [3, 100])
def test_truncated_file_is_named(cut):
    data = idx_bytes(np.zeros((2, 28, 28)), 0x803)
    with pytest.raises(StnlabError, match="truncated"):
        parse_idx(data[:cut], "images", Path("x-images"))


def test_image_and_label_counts_must_agree(tmp_path):
    write_split(tmp_path / "mnist", "test", 5, n_labels=4)
    with pytest.raises(StnlabError, match="5 images but 4 labels"):
        load_mnist("test", tmp_path, verify=False, download=False)


def test_md5_mismatch_is_refused(tmp_path):
    write_split(tmp_path / "mnist", "test", 5)
    with pytest.raises(StnlabError, match="md5 of the decompressed data is .* expected 2646ac64"):
        load_mnist("test", tmp_path, download=False)


def test_corrupt_gzip_is_named(tmp_path):
    (tmp_path / "mnist").mkdir()
    for kind in ("images", "labels"):
        (tmp_path / "mnist" / f"{FILES[('test', kind)]}.gz").write_bytes(b"not gzip at all")
    with pytest.raises(StnlabError, match="not a readable"):
        load_mnist("test", tmp_path, download=False)


def test_missing_files_say_where_to_put_them(tmp_path):
    with pytest.raises(StnlabError, match=r"mnist/, or run `stnlab data fetch mnist`"):
        load_mnist("train", tmp_path, download=False)


def test_fetch_fails_fast_with_instructions_when_no_mirror_answers(tmp_path, monkeypatch):
    monkeypatch.setattr(mnist, "MIRRORS", ["http://127.0.0.1:9/"])  # discard port: connection refused
    with pytest.raises(StnlabError, match="could not download .* put the four MNIST IDX files"):
        load_mnist("test", tmp_path)  # download=True tries the mirrors, then explains
    assert not any(p.is_file() for p in tmp_path.rglob("*"))  # nothing half-written


def test_fetch_from_a_local_mirror_checks_md5_then_renames(data_root, tmp_path, http_server, monkeypatch):
    served, url = http_server
    for name in mnist.MD5:
        shutil.copy(data_root / "mnist" / f"{name}.gz", served / f"{name}.gz")
    monkeypatch.setattr(mnist, "MIRRORS", ["http://127.0.0.1:9/", url])  # the first mirror is down
    folder = fetch_mnist(tmp_path / "root", progress=False)
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{n}.gz" for n in mnist.MD5)
    assert load_mnist("test", tmp_path / "root", download=False)[0].shape == (10000, 28, 28)


def test_fetch_refuses_a_file_with_the_wrong_md5(tmp_path, http_server, monkeypatch):
    served, url = http_server
    write_split(served, "train", 3)
    write_split(served, "test", 3)
    monkeypatch.setattr(mnist, "MIRRORS", [url])
    with pytest.raises(StnlabError, match="md5"):
        fetch_mnist(tmp_path / "root", progress=False)
    assert not any(p.is_file() for p in (tmp_path / "root").rglob("*"))  # the bad download was removed


def test_import_validates_then_copies(data_root, tmp_path):
    copied = import_mnist(data_root / "mnist", tmp_path)
    assert len(copied) == 4 and all(p.parent == tmp_path / "mnist" for p in copied)
    bad = tmp_path / "bad"
    write_split(bad, "train", 3)
    write_split(bad, "test", 3)
    with pytest.raises(StnlabError, match="md5"):
        import_mnist(bad, tmp_path / "other")
    assert not (tmp_path / "other").exists()
