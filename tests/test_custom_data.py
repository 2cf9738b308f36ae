"""The user's own data sets (folder:, idx:, npz:), protocols on them, and the one data set description."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import make_idx, make_image_folder
from stnlab.data import dataset_spec, make_source
from stnlab.data.custom import custom_splits, load_custom
from stnlab.data.spec import BUILTIN, canvas_size
from stnlab.models import create_model

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_image_folder(tmp_path_factory.mktemp("own") / "shapes", classes=3, per_class=12, size=28)


@pytest.fixture(scope="module")
def colour(tmp_path_factory):
    return make_image_folder(tmp_path_factory.mktemp("own") / "rgb", classes=2, per_class=10, size=30, colour=True)


@pytest.fixture(scope="module")
def idx(tmp_path_factory):
    return make_idx(tmp_path_factory.mktemp("own") / "idx", n_train=30, n_test=12, size=24)


def _npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def test_folder_splits_are_stratified_seeded_disjoint_and_keep_class_names(folder):
    spec = dataset_spec(f"folder:{folder}")
    assert spec.class_names == ("class0", "class1", "class2") and spec.input_shape == (1, 28, 28)
    sources = {s: make_source(f"folder:{folder}", s) for s in ("train", "val", "test")}
    assert {s: len(v) for s, v in sources.items()} == {"train": 30, "val": 3, "test": 3}
    for s in ("val", "test"):  # one image of each class (10% of 12, rounded)
        assert sorted(sources[s].labels.tolist()) == [0, 1, 2]
    arrays = load_custom("folder", folder)
    splits = custom_splits(arrays)
    all_idx = torch.cat(list(splits.values()))
    assert len(all_idx) == len(set(all_idx.tolist())) == 36
    assert all(torch.equal(splits[k], custom_splits(arrays)[k]) for k in splits)  # the same split every time
    assert sources["test"].classes == ["class0", "class1", "class2"]


def test_given_splits_are_kept_and_a_missing_val_is_carved_from_train(tmp_path):
    for split, n in (("train", 10), ("test", 4)):
        make_image_folder(tmp_path / "data" / split, classes=2, per_class=n, seed=len(split))
    name = f"folder:{tmp_path / 'data'}"
    assert len(make_source(name, "test")) == 8  # the given test/ folder, untouched
    assert len(make_source(name, "val")) == 2 and len(make_source(name, "train")) == 18


def test_idx_any_size_grey_and_its_labels(idx):
    spec = dataset_spec(f"idx:{idx}")
    assert spec.input_shape == (1, 24, 24) and spec.class_names == ("0", "1", "2")
    test = make_source(f"idx:{idx}", "test")
    assert len(test) == 12 and torch.equal(test.labels, torch.arange(12) % 3)  # t10k files, in order
    batch = next(test.batches(4))
    assert batch.images.shape == (4, 1, 24, 24) and 0 <= batch.images.min() and batch.images.max() <= 1


def test_npz_nchw_float_and_nhw_uint8_give_the_same_images(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (20, 26, 26), dtype=np.uint8)
    y = np.arange(20) % 2
    a = _npz(tmp_path / "a.npz", x_train=x, y_train=y, x_test=x[:4], y_test=y[:4], classes=np.array(["cat", "dog"]))
    b = _npz(tmp_path / "b.npz", x_train=x[:, None] / 255.0, y_train=y, x_test=x[:4, None] / 255.0, y_test=y[:4])
    sa, sb = make_source(f"npz:{a}", "test"), make_source(f"npz:{b}", "test")
    assert torch.equal(sa.images, sb.images) and torch.equal(sa.images[:, 0], torch.from_numpy(x[:4]))
    assert sa.classes == ["cat", "dog"] and sb.classes == ["0", "1"]


def test_npz_given_val_is_kept_and_test_is_carved_from_train(tmp_path):
    rng = np.random.default_rng(1)
    x, y = rng.integers(0, 256, (40, 24, 24), dtype=np.uint8), np.arange(40) % 4
    path = _npz(tmp_path / "v.npz", x_train=x[:30], y_train=y[:30], x_val=x[30:], y_val=y[30:])
    val, test = make_source(f"npz:{path}", "val"), make_source(f"npz:{path}", "test")
    assert torch.equal(val.images[:, 0], torch.from_numpy(x[30:]))  # the given val, in order
    assert len(test) == 4 and sorted(test.labels.tolist()) == [0, 1, 2, 3]  # 10 % of each class of train
    assert len(make_source(f"npz:{path}", "train")) == 26


def test_the_channel_count_is_the_majority_and_hidden_files_are_ignored(tmp_path):
    root = make_image_folder(tmp_path / "c", classes=2, per_class=4)
    red = np.zeros((28, 28, 3), np.uint8)
    red[..., 0] = 200
    Image.fromarray(red).save(root / "class0" / "rgb.png")  # one colour image among 8 grey: the set stays grey
    (root / "class1" / ".DS_Store").write_bytes(b"junk")
    with pytest.warns(UserWarning, match="read as grey"):
        arrays = load_custom("folder", root)
    assert arrays.images.shape == (9, 1, 28, 28) and not arrays.skipped
    assert arrays.notes == [f"folder: {root}: read as grey (1 channel: 8 of 9 images are grey); converted: 1 colour "
                            f"to grey by luma 0.299 R + 0.587 G + 0.114 B"]
    assert int(arrays.images[np.nonzero(arrays.labels == 0)[0][4], 0, 0, 0]) == round(0.299 * 200)  # after 000..003
    for i in range(8):  # now most images are colour: the grey ones are copied into 3 channels
        Image.fromarray(red).save(root / "class1" / f"rgb{i}.png")
    with pytest.warns(UserWarning, match="read as colour"):
        arrays = load_custom("folder", root)
    assert arrays.images.shape == (17, 3, 28, 28)
    grey = arrays.images[arrays.labels == 1][:4]  # 000.png .. 003.png sort before rgb*.png
    assert (grey[:, 0] == grey[:, 1]).all() and (grey[:, 1] == grey[:, 2]).all() and grey.any()
    assert arrays.notes[0].endswith("read as colour (3 channels: 9 of 17 images are colour); converted: 8 grey "
                                    "copied to the 3 channels")


def test_cache_is_keyed_by_content(tmp_path, folder, cache_dir):
    copy = shutil.copytree(folder, tmp_path / "moved")
    load_custom("folder", folder)
    n = len(list(cache_dir.glob("custom-*.npy")))
    assert load_custom("folder", copy).digest == load_custom("folder", folder).digest
    assert len(list(cache_dir.glob("custom-*.npy"))) == n  # another path, same bytes: the same cache entry
    img = copy / "class0" / "000.png"
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(img)  # new content: a new entry, and it is used
    arrays = load_custom("folder", copy)
    assert len(set(cache_dir.glob("custom-*.npy"))) == n + 1
    assert arrays.images[0].max() == 0


def test_mixed_sizes_are_resized_with_a_note_and_image_size_resizes_all(tmp_path):
    root = make_image_folder(tmp_path / "mixed", classes=2, per_class=5, size=28)
    Image.fromarray(np.full((40, 33), 200, np.uint8)).save(root / "class1" / "big.png")
    with pytest.warns(UserWarning, match="resized 1 image"):
        arrays = load_custom("folder", root)
    assert arrays.images.shape == (11, 1, 28, 28)
    assert dataset_spec(f"folder:{root}", image_size=32).input_shape == (1, 32, 32)
    assert next(make_source(f"folder:{root}", "train", image_size=32).batches(2)).images.shape == (2, 1, 32, 32)


@pytest.mark.parametrize("protocol", ["none", "rotation", "translation", "scale"])
def test_protocols_on_colour_images(colour, protocol):
    name = f"folder:{colour}"
    spec = dataset_spec(name, protocol=protocol)
    src = make_source(name, "test", protocol=protocol)
    batch = next(src.batches(4, return_params=True))
    side = canvas_size(protocol, 30)
    assert spec.input_shape == src.image_shape == (3, side, side) == tuple(batch.images.shape[1:])
    assert spec.test_passes == (1 if protocol == "none" else 10)
    assert batch.images.min() >= 0 and batch.images.max() <= 1
    if protocol == "rotation":  # one warp for all channels: red + blue is 255 wherever the content is whole
        inner = batch.images[..., 10:20, 10:20]
        assert torch.allclose(inner[:, 0] + inner[:, 2], torch.ones_like(inner[:, 0]), atol=0.05)
    if protocol != "none":
        again = next(make_source(name, "test", protocol=protocol).batches(4))
        assert torch.equal(batch.images, again.images)  # deterministic by seed


def test_mnist_with_a_protocol_is_the_builtin_protocol(data_root):
    for protocol, name in (("rotation", "mnist-rot"), ("scale", "mnist-scale")):
        a = next(make_source("mnist", "test", root=data_root, protocol=protocol).batches(32, epoch=2))
        b = next(make_source(name, "test", root=data_root).batches(32, epoch=2))
        assert torch.equal(a.images, b.images)
    assert dataset_spec("mnist", protocol="translation") == BUILTIN["mnist-trans"]


def test_every_source_has_its_models_input_shape(data_root, folder, idx, colour):
    names = [(n, {}) for n in BUILTIN if n != "svhn"]  # (SVHN is not in the shared data root)
    names += [(f"folder:{folder}", {"protocol": "rotation"}), (f"idx:{idx}", {"protocol": "translation"}),
              (f"folder:{colour}", {"protocol": "scale", "image_size": 24}), (f"idx:{idx}", {}),
              ("mnist", {"protocol": "translation", "image_size": 32})]
    for name, options in names:
        spec = dataset_spec(name, **options)
        source = make_source(name, "test", root=data_root, **options)
        model = create_model("STN-C1", name, **options).eval()
        batch = next(source.batches(2))
        assert source.image_shape == spec.input_shape == tuple(batch.images.shape[1:]), name
        with torch.no_grad():
            assert model(batch.images).shape == (2, spec.num_classes), name
