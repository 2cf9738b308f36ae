"""PlanktonSet: decoding rules, skip/strict/empty-class handling, the cache, stratified splits, augmentation."""

from __future__ import annotations

import io
import tarfile
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from stnlab.data import make_source, plankton_files
from stnlab.data.plankton import augmentation, decode, load_plankton, preprocess, split_indices
from stnlab.data.source import BatchSource
from stnlab.errors import StnlabError
from stnlab.geometry import warp


def jpeg(width: int, height: int, ink: tuple[int, int, int, int] | None = None) -> bytes:
    """A white JPEG with a black rectangle ``ink`` (left, top, right, bottom)."""
    im = Image.new("RGB", (width, height), (255, 255, 255))
    if ink:
        im.paste((0, 0, 0), ink)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=95)
    return buf.getvalue()


@pytest.fixture
def folder(tmp_path):
    """A tiny plankton tree: two classes, sizes that do and do not need shrinking."""
    train = tmp_path / "plankton" / "train"
    for cls, sizes in {"alpha": [(200, 100), (40, 30), (95, 95)], "beta": [(60, 120), (31, 31), (300, 50)]}.items():
        (train / cls).mkdir(parents=True)
        for i, (w, h) in enumerate(sizes):
            (train / cls / f"{i}.jpg").write_bytes(jpeg(w, h, (w // 4, h // 4, w // 2, h // 2)))
    return tmp_path


def test_preprocess_inverts_shrinks_the_longest_side_and_never_enlarges():
    big = preprocess(jpeg(200, 100, (0, 0, 200, 100)))
    assert big.shape == (95, 95) and big.dtype == np.uint8
    rows = np.nonzero(big.max(1) > 128)[0]
    assert rows.min() == (95 - 48) // 2 and rows.max() == (95 - 48) // 2 + 47  # 200x100 -> 95x48, centred
    small = preprocess(jpeg(40, 30))
    assert small.max() < 10  # white paper becomes black
    ink = preprocess(jpeg(40, 30, (0, 0, 40, 30)))
    ys, xs = np.nonzero(ink > 128)
    assert (ys.max() - ys.min() + 1, xs.max() - xs.min() + 1) == (30, 40)  # kept at 40x30, not enlarged
    assert (ys.min(), xs.min()) == ((95 - 30) // 2, (95 - 40) // 2)


def test_folder_and_tar_decode_identically(folder, tmp_path):
    arrays = decode(folder / "plankton" / "train")
    assert arrays.classes == ["alpha", "beta"] and arrays.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert arrays.names[0] == "alpha/0.jpg" and arrays.skipped == []
    tar_path = tmp_path / "p.tar"
    with tarfile.open(tar_path, "w") as tar:
        tar.add(folder / "plankton" / "train", arcname="train")
    from_tar = decode(tar_path)
    assert np.array_equal(from_tar.images, arrays.images) and from_tar.names == arrays.names


def test_unreadable_files_are_skipped_and_counted_or_refused_when_strict(folder):
    bad = folder / "plankton" / "train" / "beta" / "broken.jpg"
    bad.write_bytes(b"this is no jpeg")
    with pytest.warns(UserWarning, match="skipped 1 unreadable file"):
        arrays = decode(folder / "plankton" / "train")
    assert arrays.skipped == ["beta/broken.jpg"] and len(arrays.labels) == 6
    with pytest.raises(StnlabError, match="beta/broken.jpg is not a readable image"):
        decode(folder / "plankton" / "train", strict=True)


def test_empty_class_folder_is_an_error(folder):
    (folder / "plankton" / "train" / "gamma").mkdir()
    with pytest.raises(StnlabError, match="gamma hold no readable image; remove them or add images"):
        decode(folder / "plankton" / "train")


def test_missing_plankton_says_where_to_put_it(tmp_path):
    with pytest.raises(StnlabError, match="ndsb_train.tar .* `stnlab data import plankton PATH`"):
        make_source("plankton", "train", root=tmp_path, cache_dir=tmp_path / "cache")


def test_unreadable_tar_is_named(tmp_path):
    (tmp_path / "plankton").mkdir()
    (tmp_path / "plankton" / "ndsb_train.tar").write_bytes(b"junk" * 100)
    with pytest.raises(StnlabError, match="not a readable tar"):
        load_plankton(tmp_path, tmp_path / "cache")


@pytest.fixture(scope="session")
def plankton_root(data_root):
    """The real data root when it holds ``plankton/``; the tests that need it skip (with the reason) otherwise."""
    if not (data_root / "plankton").exists():
        pytest.skip(f"{data_root} has no plankton/ (stnlab data import plankton PATH puts it there)")
    return data_root


@pytest.fixture(scope="session")
def real(plankton_root, cache_dir):
    """The real PlanktonSet, decoded once per session into the session cache."""
    return load_plankton(plankton_root, cache_dir)


def test_real_plankton_has_30336_images_in_121_classes(real):
    assert real.images.shape == (30336, 95, 95) and real.images.dtype == np.uint8
    assert len(real.classes) == 121 and real.skipped == []
    counts = np.bincount(real.labels, minlength=121)
    assert counts.min() == 9 and counts.max() == 1979
    border = np.concatenate([real.images[:500, :3].ravel(), real.images[:500, -3:].ravel()])
    assert border.mean() < real.images[:500, 40:55, 40:55].mean()  # inverted: dark background


def test_cache_is_reused_on_a_second_load(real, plankton_root, cache_dir, monkeypatch):
    files = sorted(p.name for p in cache_dir.glob("plankton-v1-*"))
    assert len(files) == 2 and files[0].endswith(".meta.npz") and files[1].endswith(".npy")

    def no_decode(*a, **k):
        raise AssertionError("decoded again instead of using the cache")

    monkeypatch.setattr(plankton_files, "decode", no_decode)
    again = load_plankton(plankton_root, cache_dir)
    assert np.array_equal(again.labels, real.labels) and np.array_equal(again.images[::997], real.images[::997])


def test_splits_are_stratified_disjoint_and_complete(real):
    splits = split_indices(real.labels, real.classes)
    sizes = {k: len(v) for k, v in splits.items()}
    assert sum(sizes.values()) == 30336
    assert len(torch.cat(list(splits.values())).unique()) == 30336
    per_class = {k: np.bincount(real.labels[v.numpy()], minlength=121) for k, v in splits.items()}
    total = np.bincount(real.labels, minlength=121)
    expected = np.maximum(1, np.round(0.1 * total))
    assert np.array_equal(per_class["val"], expected) and np.array_equal(per_class["test"], expected)
    assert sizes == {"train": 24272, "val": 3032, "test": 3032}
    # val/test come in a fixed mixed order: their first samples (val_samples, eval_samples) span the classes
    assert len(np.unique(real.labels[splits["val"][:100].numpy()])) >= 40
    assert torch.equal(splits["test"], split_indices(real.labels, real.classes)["test"])  # fixed, not random
    assert torch.equal(splits["train"], splits["train"].sort().values)


def test_batches_val_plain_and_train_augmented_by_the_returned_matrix(plankton_root):
    val = make_source("plankton", "val", root=plankton_root)
    assert val.num_classes == 121 and val.image_shape == (1, 95, 95)
    vb = next(val.batches(16, return_params=True))
    raw = torch.from_numpy(np.stack([val.arrays.images[int(r)] for r in val.indices[vb.index]])).float() / 255
    assert torch.equal(vb.images[:, 0], raw)  # no augmentation on val
    train = make_source("plankton", "train", root=plankton_root, seed=3)
    tb = next(train.batches(256, return_params=True))
    raw = torch.from_numpy(np.stack([train.arrays.images[int(r)] for r in train.indices[tb.index]])).float() / 255
    assert torch.allclose(tb.images, warp(raw[:, None], tb.params["matrix"]).clamp(0, 1), atol=1e-6)
    p = tb.params
    assert p["angle"].abs().max() <= np.pi and p["angle"].abs().max() > 2.5
    assert (p["tx"].abs() * 95 / 2).max() <= 10 and p["scale"].min() >= 1 / 1.3 and p["scale"].max() <= 1.3
    assert torch.rad2deg(torch.atan(p["shear"])).abs().max() <= 20
    assert 0.35 < p["flip"].mean() < 0.65
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not torch.equal(tb.images, next(train.batches(256, epoch=1)).images)


def test_a_warm_up_ramps_the_augmentation_in_on_the_same_draws(plankton_root):
    """Epoch 0 of a warm-up shows the images as they are; epoch e draws the same numbers at e / N of the
    authors' amplitude (flips with probability e / 2N); from epoch N on it is the full augmentation."""
    plain = make_source("plankton", "train", root=plankton_root, seed=3)
    ramped = make_source("plankton", "train", root=plankton_root, seed=3).set_warmup(4)
    index = torch.arange(256)
    images, _, params = ramped.render(index, 0)
    raw = torch.from_numpy(np.stack([plain.arrays.images[int(r)] for r in plain.indices[index]])).float() / 255
    assert torch.allclose(images[:, 0], raw, atol=1e-5) and float(params["flip"].sum()) == 0.0  # identity warp
    full, half = plain.render(index, 2)[2], ramped.render(index, 2)[2]
    assert torch.allclose(half["angle"], full["angle"] / 2) and torch.allclose(half["tx"], full["tx"] / 2)
    assert torch.allclose(half["scale"].log(), full["scale"].log() / 2, atol=1e-6)
    assert bool((half["flip"] <= full["flip"]).all()) and 0.15 < float(half["flip"].mean()) < 0.35
    assert torch.equal(ramped.render(index, 5)[0], plain.render(index, 5)[0])


@pytest.mark.parametrize("limit", [0.0, 45.0, 90.0])
def test_a_rotation_limit_narrows_the_rotation_alone_on_the_same_draws(limit):
    index = torch.arange(512)
    full, narrow = augmentation(11, index), augmentation(11, index, max_angle=limit)
    assert torch.allclose(narrow["angle"], full["angle"] * (limit / 180.0), atol=1e-6)
    assert float(narrow["angle"].abs().max()) <= float(np.deg2rad(limit)) + 1e-6
    assert float(full["angle"].abs().max()) > 3.0  # the authors': U(-180, 180) deg
    for key in ("scale", "shear", "flip", "tx", "ty"):
        assert torch.equal(narrow[key], full[key]), key
    half = augmentation(11, index, amplitude=0.5, max_angle=limit)  # a warm-up scales the narrowed range
    assert torch.allclose(half["angle"], narrow["angle"] / 2, atol=1e-6)


def test_a_rotation_limit_reaches_the_rendered_batches_and_is_refused_where_nothing_rotates(plankton_root):
    plain = make_source("plankton", "train", root=plankton_root, seed=3)
    still = make_source("plankton", "train", root=plankton_root, seed=3).set_rotation_limit(0)
    index = torch.arange(64)
    p_plain, p_still = plain.render(index, 1)[2], still.render(index, 1)[2]
    assert float(p_still["angle"].abs().max()) == 0.0 and torch.equal(p_still["scale"], p_plain["scale"])
    with pytest.raises(StnlabError, match="must be in 0..180 degrees"):
        still.set_rotation_limit(181)
    with pytest.raises(StnlabError, match="draws no augmentation rotation to limit"):
        BatchSource("mnist", "train", 0).set_rotation_limit(10)


def test_strict_also_refuses_a_cache_built_with_skipped_files(folder, tmp_path):
    (folder / "plankton" / "train" / "beta" / "broken.jpg").write_bytes(b"no jpeg")
    with pytest.warns(UserWarning):
        assert load_plankton(folder, tmp_path / "c").skipped == ["beta/broken.jpg"]
    with pytest.raises(StnlabError, match="beta/broken.jpg .* not readable images"):
        load_plankton(folder, tmp_path / "c", strict=True)


def test_a_source_without_class_folders_is_refused(tmp_path):
    (tmp_path / "plankton" / "train").mkdir(parents=True)
    with pytest.raises(StnlabError, match="holds no class folders"):
        load_plankton(tmp_path, tmp_path / "c")
