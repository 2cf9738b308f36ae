"""The MNIST protocols R, T, S on the real data: shapes, ranges, determinism, params, clutter origin."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from stnlab.data import BUILTIN, as_torch_dataset, load_mnist, make_source
from stnlab.data.mnist import MNIST, val_indices
from stnlab.geometry import affine_matrix, invert, rotation_matrix, warp

CANVAS = {name: BUILTIN[name].canvas for name in ("mnist", *MNIST.variants)}  # 28, 28, 60, 112

BS = 64


@pytest.fixture(scope="module")
def sources(data_root):
    return {name: make_source(name, "test", root=data_root) for name in CANVAS}


def first(source, **kw):
    return next(source.batches(BS, return_params=True, **kw))


@pytest.mark.parametrize("name", list(CANVAS))
def test_shapes_value_ranges_and_labels(sources, data_root, name):
    src = sources[name]
    batch = first(src)
    s = CANVAS[name]
    assert src.image_shape == (1, s, s) and batch.images.shape == (BS, 1, s, s)
    assert batch.images.dtype == torch.float32 and batch.labels.dtype == torch.int64
    assert batch.images.min() >= 0 and batch.images.max() <= 1 and batch.images.max() > 0.9
    assert torch.equal(batch.labels, src.labels[:BS])  # test split is unshuffled
    assert src.num_samples == 10000 and src.num_classes == 10 and src.label_shape == ()
    train = make_source(name, "train", root=data_root)
    assert train.num_samples == 50000 and make_source(name, "val", root=data_root).num_samples == 10000


@pytest.mark.parametrize("name", ["mnist-rot", "mnist-trans", "mnist-scale"])
def test_bit_identical_for_same_seed_and_different_for_another(data_root, sources, name):
    a = first(sources[name], epoch=3)
    b = first(make_source(name, "test", root=data_root), epoch=3)
    assert torch.equal(a.images, b.images)
    assert all(torch.equal(a.params[k], b.params[k]) for k in a.params)
    assert not torch.equal(a.images, first(make_source(name, "test", root=data_root, seed=1), epoch=3).images)
    assert not torch.equal(a.images, first(sources[name], epoch=4).images)  # another test pass


@pytest.mark.parametrize("name", ["mnist-rot", "mnist-scale"])
def test_transform_of_a_sample_does_not_depend_on_batching(sources, name):
    src = sources[name]
    batch = first(src, epoch=1)
    image, label = as_torch_dataset(src, epoch=1)[5]
    assert torch.allclose(image, batch.images[5], atol=1e-6) and label == batch.labels[5]
    shifted = next(src.batches(BS // 2, epoch=1, start_batch=1, return_params=True))
    assert torch.equal(shifted.params["matrix"], batch.params["matrix"][BS // 2 :])


@pytest.mark.parametrize("name", list(CANVAS))
def test_matrix_is_the_inverse_of_the_content_transform(sources, name):
    p = first(sources[name]).params
    content = affine_matrix(-p["angle"], p["scale"], (p["tx"], p["ty"]))  # angle: counter-clockwise
    assert torch.allclose(p["matrix"], invert(content), atol=1e-5)


def test_parameter_ranges(data_root):
    n = 2048
    rot = next(make_source("mnist-rot", "train", root=data_root).batches(n, return_params=True)).params
    deg = torch.rad2deg(rot["angle"])
    assert deg.min() >= -90 and deg.max() <= 90 and deg.min() < -85 and deg.max() > 85
    trans = next(make_source("mnist-trans", "train", root=data_root).batches(n, return_params=True)).params
    px = trans["tx"] * 30
    assert torch.allclose(px, px.round(), atol=1e-4) and px.min() == -16 and px.max() == 16
    log_s = torch.log2(next(make_source("mnist-scale", "train", root=data_root).batches(n, return_params=True))
                       .params["scale"])  # fmt: skip
    assert log_s.min() >= -1 and log_s.max() <= 2 and log_s.min() < -0.95 and log_s.max() > 1.95


def test_undoing_the_returned_angle_restores_the_digit(sources):
    src = sources["mnist-rot"]
    batch = first(src, epoch=2)
    restored = warp(batch.images, rotation_matrix(-batch.params["angle"]))
    original = src.images[batch.index].float()[:, None] / 255
    c = slice(6, 22)  # the centre, where no corner was cut off
    a = restored[..., c, c].flatten(1)
    b = original[..., c, c].flatten(1)
    a, b = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
    corr = (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))
    assert corr.min() > 0.9, corr.min()
    # the rotated image itself is not the original (the test would pass trivially otherwise)
    rotated = batch.images[..., c, c].flatten(1)
    rotated = rotated - rotated.mean(1, keepdim=True)
    assert ((rotated * b).sum(1) / (rotated.norm(dim=1) * b.norm(dim=1))).median() < 0.8


def test_translation_moves_the_digit_by_whole_pixels_and_clutter_comes_only_from_the_pool(data_root):
    src = make_source("mnist-trans", "test", root=data_root)
    cluttered = first(src)
    assert cluttered.params["clutter_index"].max() < len(src.clutter_pool) == 50000
    train_x = make_source("mnist", "train", root=data_root).images
    assert torch.equal(src.clutter_pool, train_x)  # the pool is the training split (no val, no test)
    src.clutter_pool = torch.zeros_like(src.clutter_pool)
    clean = first(src)
    assert (cluttered.images - clean.images).abs().sum() > 0  # there was clutter, and only the pool made it
    digits = F.pad(src.images[clean.index].float()[:, None] / 255, (16, 16, 16, 16))
    for i in range(8):
        dx, dy = (round(float(v)) for v in (clean.params["tx"][i] * 30, clean.params["ty"][i] * 30))
        expected = torch.roll(digits[i], shifts=(dy, dx), dims=(-2, -1))
        assert torch.allclose(clean.images[i], expected, atol=1e-4)


def test_scale_clutter_patches_and_ink_mass(data_root):
    src = make_source("mnist-scale", "test", root=data_root)
    cluttered = first(src)
    src.clutter_pool = torch.zeros_like(src.clutter_pool)
    clean = first(src)
    extra = (cluttered.images - clean.images).clamp(min=0).flatten(1)
    assert (extra > 0).sum(1).float().mean() > 20  # six patches of 2..18 px add ink to every image
    s = clean.params["scale"]
    digit_ink = src.images[clean.index].float().sum((1, 2)) / 255
    ratio = clean.images.sum((1, 2, 3)) / (digit_ink * s**2)
    keep = s > 1
    assert (ratio[keep] - 1).abs().max() < 0.1  # ink grows as the area, s^2


def test_validation_split_is_held_out_of_train(data_root):
    train_idx, val_idx = val_indices()
    assert len(val_idx) == 10000 and len(train_idx) == 50000
    assert len(set(train_idx.tolist()) | set(val_idx.tolist())) == 60000
    val = make_source("mnist", "val", root=data_root)
    train_x, train_y = load_mnist("train", data_root, download=False)
    assert torch.equal(val.images, train_x[val_idx]) and torch.equal(val.labels, train_y[val_idx])
    assert torch.equal(make_source("mnist", "train", root=data_root, seed=5).images, train_x[train_idx])


def test_tent_weights_equal_grid_sample_with_zero_padding():
    from stnlab.data.protocols import tent

    row = torch.rand(1, 1, 1, 7)
    coord = torch.linspace(-1.7, 7.4, 50)  # pixel units, beyond both borders
    grid = torch.stack([(coord + 0.5) * 2 / 7 - 1, torch.zeros_like(coord)], -1)[None, None]  # 1 x 1 x 50 x 2
    expected = torch.nn.functional.grid_sample(row, grid, align_corners=False)[0, 0, 0]
    assert torch.allclose(tent(coord, 7) @ row[0, 0, 0], expected, atol=1e-6)


@pytest.mark.parametrize("name", list(CANVAS))
def test_images_equal_the_geometry_warp_of_the_centred_digit(sources, name):
    src = sources[name]
    pool = src.clutter_pool
    src.clutter_pool = torch.zeros_like(pool)  # compare the digit alone
    try:
        batch = first(src, epoch=5)
    finally:
        src.clutter_pool = pool
    pad = (CANVAS[name] - 28) // 2
    digits = F.pad(src.images[batch.index].float()[:, None] / 255, (pad, pad, pad, pad))
    assert torch.allclose(batch.images, warp(digits, batch.params["matrix"]).clamp(0, 1), atol=1e-5)


@pytest.mark.parametrize("name", ["mnist-trans", "mnist-scale"])
def test_clutter_patches_are_sharp_squares_of_the_protocol_sizes(name):
    from stnlab.data.protocols import add_clutter

    ones = torch.full((3, 28, 28), 255, dtype=torch.uint8)  # every crop is a 6x6 block of ones
    layer = torch.zeros(400, CANVAS[name], CANVAS[name])
    src = add_clutter(layer, ones, 7, torch.arange(400), resize=name == "mnist-scale")
    # layer: 400 x S x S, how many patches cover each pixel (before clipping)
    assert torch.allclose(layer, layer.round(), atol=1e-5) and layer.min() >= 0  # whole pixels, no blur
    area = layer.sum((1, 2)).round().long()  # sum over the 6 patches of side**2
    if name == "mnist-trans":
        assert (area == 6 * 36).all()
    else:  # sides 2k, k in 1..9: areas are multiples of 4 between 6 * 4 and 6 * 324
        assert (area % 4 == 0).all() and area.min() >= 24 and area.max() <= 6 * 324
        assert len(area.unique()) > 50
    assert src.max() < 3


@pytest.mark.parametrize("resize", [False, True])
def test_clutter_draws_next_to_one_stay_in_range(resize):
    """Sample 70255 (a y position draw) and 497972 (a pool index draw) under key 12345 have a clutter draw
    above 1 - 2**-25, which float32 rounds to 1.0: the patch must still come from the pool and fit."""
    from stnlab.data.protocols import add_clutter

    pool = torch.full((100, 28, 28), 255, dtype=torch.uint8)
    size = 112 if resize else 60
    layer = torch.zeros(2, size, size)
    src = add_clutter(layer, pool, 12345, torch.tensor([70255, 497972]), resize=resize)
    assert src.max() < len(pool)
    area = layer.sum((1, 2)).round()
    if not resize:  # every patch lands whole inside its own canvas
        assert (area == 6 * 36).all()


@pytest.mark.parametrize("dataset", ["mnist-rot", "mnist-trans", "mnist-scale"])
def test_rendering_on_a_device_gives_the_same_batches(data_root, dataset):
    """``source.to(device)`` renders there (the images, labels and clutter pool move once; the random
    draws stay on the CPU): on the CPU the batches are bit-identical, and they come out on the device."""
    ref = next(make_source(dataset, "train", root=data_root).batches(8, return_params=True))
    moved = make_source(dataset, "train", root=data_root).to("cpu")
    got = next(moved.batches(8, return_params=True))
    assert torch.equal(got.images, ref.images) and torch.equal(got.labels, ref.labels)
    assert got.images.device == moved.device == torch.device("cpu")
    for key, value in ref.params.items():
        assert torch.equal(got.params[key], value), key


@pytest.mark.parametrize("name", ["mnist-rot", "mnist-scale", "mnist-trans"])
def test_warmup_ramps_the_protocol_in_and_ends_at_the_protocol_itself(data_root, name):
    """Epoch 0 of a warm-up is untransformed, epoch e draws the same numbers at amplitude e / N, and from
    epoch N on every batch equals the protocol's own batch bit for bit."""
    plain = make_source(name, "train", root=data_root, seed=3)
    ramped = make_source(name, "train", root=data_root, seed=3).set_warmup(4)
    index = torch.arange(BS)
    _, _, p0 = ramped.render(index, 0)
    assert torch.equal(p0["angle"], torch.zeros(BS)) and torch.equal(p0["scale"], torch.ones(BS))
    assert p0["tx"].abs().max() == 0 and p0["ty"].abs().max() == 0
    full, half = plain.render(index, 2)[2], ramped.render(index, 2)[2]
    torch.testing.assert_close(half["angle"], full["angle"] / 2)
    torch.testing.assert_close(torch.log2(half["scale"]), torch.log2(full["scale"]) / 2)
    shift = ((full["tx"] * plain.canvas / 2).round() * 0.5).round()  # whole pixels, halved, whole again
    torch.testing.assert_close(half["tx"] * plain.canvas / 2, shift, atol=1e-4, rtol=0)
    for epoch in (4, 7):
        a, b = plain.render(index, epoch), ramped.render(index, epoch)
        assert torch.equal(a[0], b[0]) and torch.equal(a[2]["matrix"], b[2]["matrix"])


def test_warmup_of_the_rotation_protocol_keeps_digits_upright_at_epoch_0(data_root):
    src = make_source("mnist-rot", "train", root=data_root).set_warmup(10)
    images, _, _ = src.render(torch.arange(BS), 0)
    assert torch.allclose(images[:, 0], src.images[:BS].float() / 255, atol=1e-5)  # identity warp
    assert src.amplitude(5) == 0.5 and src.amplitude(10) == 1.0 and src.amplitude(30) == 1.0
