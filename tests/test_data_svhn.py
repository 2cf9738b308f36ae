"""SVHN format 1 on synthetic folders: a real HDF5 digitStruct.mat (h5py) + PNGs, crops, labels, drops, errors."""

from __future__ import annotations

import tarfile

import h5py
import numpy as np
import pytest
import torch

from helpers import BOX, FIELDS, TWO, digit, make_split, write_digitstruct
from stnlab.data import make_source, sequence_correct, sequence_error
from stnlab.data.manage import import_data, status
from stnlab.data.svhn import crop_box, read_digitstruct
from stnlab.errors import StnlabError


@pytest.fixture
def root(tmp_path):
    make_split(tmp_path / "svhn" / "train", 30)
    make_split(tmp_path / "svhn" / "extra", 20, first_label=3)
    make_split(tmp_path / "svhn" / "test", 12)
    return tmp_path


def test_digitstruct_round_trip(root):
    records = read_digitstruct(root / "svhn" / "test" / "digitStruct.mat")
    assert len(records) == 13 and records[0][0] == "1.png"
    assert records[0][1] == {k: [d[k] for d in TWO] for k in FIELDS}
    assert records[-1][1]["label"] == [1, 2, 3, 4, 5, 6]
    single = root / "one.mat"
    write_digitstruct(single, [("a.png", [digit(7, 1, 2, 3, 4)])])
    assert read_digitstruct(single) == [("a.png", {"label": [7], "left": [1], "top": [2], "width": [3], "height": [4]})]


def test_crop_box_is_the_union_enlarged_by_30_percent():
    fields = {k: [d[k] for d in TWO] for k in FIELDS}
    assert crop_box(fields) == BOX


def test_crops_labels_and_the_drop_of_long_numbers(root):
    with pytest.warns(UserWarning, match="dropped 1 number"):
        test = make_source("svhn", "test", root=root)
    assert test.num_samples == 12 and test.dropped == 1
    assert test.image_shape == (3, 64, 64) and test.label_shape == (5,) and test.num_classes == 11
    batch = next(test.batches(12))
    assert batch.images.shape == (12, 3, 64, 64) and batch.labels.shape == (12, 5)
    red = torch.tensor([1.0, 0.0, 0.0])[:, None, None]
    assert torch.allclose(batch.images, red.expand_as(batch.images), atol=0.02)  # exactly the enlarged box
    assert batch.labels[0].tolist() == [1, 0, 10, 10, 10]  # label 10 is the digit 0; then "no digit"
    assert batch.labels[:, 0].tolist() == [(1 + i) % 10 for i in range(12)]


def test_train_is_train_plus_extra_minus_val(root):
    with pytest.warns(UserWarning):
        train = make_source("svhn", "train", root=root)
    val = make_source("svhn", "val", root=root)
    assert train.num_samples + val.num_samples == 50 and val.num_samples == 5
    assert set(train.rows.tolist()).isdisjoint(val.rows.tolist())
    labels = torch.cat([b.labels for b in train.batches(64, shuffle=False)])
    assert torch.equal(labels, train.labels)
    extra_rows = train.rows >= 30  # rows of the extra part carry first digits 3, 4, ...
    assert extra_rows.any() and torch.equal(labels[extra_rows, 0], (3 + train.rows[extra_rows] - 30) % 10)


@pytest.mark.parametrize("python", ["with data_filter", "before 3.10.12"])
def test_tar_gz_is_extracted_into_the_cache_not_the_data_root(root, tmp_path, monkeypatch, python):
    if python == "before 3.10.12":  # no tarfile filter=: stnlab checks the members itself
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
    other = tmp_path / "other"
    (other / "svhn").mkdir(parents=True)
    for split in ("test",):
        with tarfile.open(other / "svhn" / f"{split}.tar.gz", "w:gz") as tar:
            tar.add(root / "svhn" / split, arcname=split)
    cache = tmp_path / "cache"
    with pytest.warns(UserWarning):
        src = make_source("svhn", "test", root=other, cache_dir=cache)
    assert src.num_samples == 12
    assert sorted(p.name for p in (other / "svhn").iterdir()) == ["test.tar.gz"]
    assert any(p.name.startswith("svhn-extract-test-") for p in cache.iterdir())


def test_bad_digitstruct_files_are_named(tmp_path):
    folder = tmp_path / "svhn" / "test"
    folder.mkdir(parents=True)
    with h5py.File(folder / "digitStruct.mat", "w") as f:
        f.create_group("digitStruct").create_dataset("name", data=np.zeros((1, 1)))
    with pytest.raises(StnlabError, match="lacks the fields digitStruct/name and digitStruct/bbox"):
        read_digitstruct(folder / "digitStruct.mat")
    write_digitstruct(folder / "digitStruct.mat", [("1.png", TWO)], skip="height")
    with pytest.raises(StnlabError, match="bbox of 1.png lacks height"):
        read_digitstruct(folder / "digitStruct.mat")
    (folder / "digitStruct.mat").write_bytes(b"MATLAB 5.0 MAT-file")
    with pytest.raises(StnlabError, match="not an HDF5"):
        read_digitstruct(folder / "digitStruct.mat")


def test_missing_svhn_says_where_to_put_it(tmp_path):
    with pytest.raises(StnlabError, match=r"svhn/\{train,test,extra\}/ .* `stnlab data fetch svhn`"):
        make_source("svhn", "test", root=tmp_path)


def test_sequence_error_counts_a_number_right_only_when_all_positions_are():
    labels = torch.tensor([[1, 2, 10, 10, 10], [3, 10, 10, 10, 10], [4, 5, 6, 10, 10]])
    logits = torch.nn.functional.one_hot(labels, 11).float()
    assert sequence_error(logits, labels) == 0.0
    logits[2, 4] = torch.nn.functional.one_hot(torch.tensor(7), 11).float() * 2  # one wrong position
    assert sequence_correct(logits, labels).tolist() == [True, True, False]
    assert sequence_error(logits, labels) == pytest.approx(1 / 3)


def test_import_and_status(root, tmp_path):
    target = tmp_path / "imported"
    copied = import_data("svhn", root / "svhn", target)
    assert sorted(p.name for p in copied) == ["extra", "test", "train"]
    line = dict((n, (ok, msg)) for n, ok, msg in status(target))["svhn"]
    assert line[0] and "train/ (folder)" in line[1]


def test_fetch_downloads_verified_archives_or_fails_fast(root, tmp_path, http_server, monkeypatch):
    from stnlab.data import svhn

    served, url = http_server
    with tarfile.open(served / "test.tar.gz", "w:gz") as tar:
        tar.add(root / "svhn" / "test", arcname="test")
    (served / "train.tar.gz").write_bytes(b"not an archive")
    monkeypatch.setattr(svhn, "URL", url + "{split}.tar.gz")
    target = tmp_path / "fresh"
    with pytest.warns(UserWarning):
        src = make_source("svhn", "test", root=target, cache_dir=tmp_path / "c", download=True)
    assert src.num_samples == 12 and (target / "svhn" / "test.tar.gz").is_file()
    with pytest.raises(StnlabError, match="not a readable tar.gz"):
        svhn.fetch_svhn(target, ("train",), progress=False)
    assert not (target / "svhn" / "train.tar.gz").exists()
    monkeypatch.setattr(svhn, "URL", "http://127.0.0.1:9/{split}.tar.gz")
    with pytest.raises(StnlabError, match="could not download .* put SVHN format 1"):
        make_source("svhn", "train", root=tmp_path / "none", download=True)


@pytest.mark.parametrize("python", ["with data_filter", "before 3.10.12"])
def test_a_tar_member_leaving_the_folder_is_refused(tmp_path, monkeypatch, python):
    if python == "before 3.10.12":
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
    (tmp_path / "svhn").mkdir()
    (tmp_path / "evil.txt").write_text("x")
    with tarfile.open(tmp_path / "svhn" / "test.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "evil.txt", arcname="../evil.txt")
    with pytest.raises(StnlabError, match="test.tar.gz is not a readable tar.gz"):
        make_source("svhn", "test", root=tmp_path, cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache" / "evil.txt").exists() and not list((tmp_path / "cache").glob("svhn-extract-*"))


def test_without_h5py_svhn_names_the_extra_to_install(root, monkeypatch):
    from stnlab.data import svhn_files

    monkeypatch.setattr(svhn_files, "h5py", None)  # as if h5py were not installed
    with pytest.raises(StnlabError, match=r'needs h5py, .*pip install "stnlab\[svhn\]"') as err:
        make_source("svhn", "test", root=root)
    assert "\n" not in str(err.value)


def test_make_source_never_downloads_by_default(tmp_path, monkeypatch):
    from stnlab.data import mnist, svhn

    def no_network(*args, **kwargs):
        raise AssertionError("make_source downloaded without being asked")

    monkeypatch.setattr(mnist, "fetch_mnist", no_network)
    monkeypatch.setattr(svhn, "fetch_svhn", no_network)
    with pytest.raises(StnlabError, match="stnlab data fetch mnist"):
        make_source("mnist-rot", "test", root=tmp_path)
    with pytest.raises(StnlabError, match="stnlab data fetch svhn"):
        make_source("svhn", "test", root=tmp_path)
