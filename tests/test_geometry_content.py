"""Content parameters <-> sampling matrices: equal to the formulas the data protocols used before, exact
round trip, the on-screen meaning of each parameter checked on pixels, and no tensor made on another device or
in another dtype than the input's."""

import math

import pytest
import torch
from torch.utils import _pytree as pytree
from torch.utils._python_dispatch import TorchDispatchMode

from stnlab import geometry as g
from stnlab.geometry import content_from_out_to_in
from stnlab.nn.layers import LayerGeometry


def _params(n: int = 200, seed: int = 0) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    u = torch.rand(n, 6, generator=gen)
    return {
        "angle": (u[:, 0] * 2 - 1) * math.pi,
        "shift": (u[:, 1:3] * 2 - 1) * 16,
        "shear": torch.tan((u[:, 3] * 2 - 1) * 0.35),
        "scale": torch.exp2(u[:, 4] * 3 - 1),
        "flip": (u[:, 5] < 0.5).float(),
    }


def test_equal_to_the_previous_protocol_formulas():
    """mnist-rot / -trans / -scale matrices are bit-for-bit those the protocols built before; the plankton
    augmentation (formerly ``invert(affine_matrix(...))``) agrees to 1e-6."""
    p, size = _params(), 60
    angle, shift, scale, shear, flip = p["angle"], p["shift"], p["scale"], p["shear"], p["flip"]
    assert torch.equal(g.out_to_in_from_content(28, angle=angle), g.rotation_matrix(angle))
    tx, ty = shift[:, 0] * (2.0 / size), shift[:, 1] * (2.0 / size)
    new = g.out_to_in_from_content(size, shift=(shift[:, 0], shift[:, 1]))
    assert torch.equal(new, g.translation_matrix(-tx, -ty))
    assert torch.equal(g.out_to_in_from_content(112, scale=scale), g.scale_matrix(1.0 / scale))
    sx = scale * (1 - 2 * flip)
    old = g.invert(g.affine_matrix(-angle, (sx, scale), (tx, ty), shear))
    new = g.out_to_in_from_content(size, angle=angle, scale=(sx, scale), shear=shear, shift=(shift[:, 0], shift[:, 1]))
    assert (new - old).abs().max() < 1e-6


@pytest.mark.parametrize("centre", [None, (10.0, 20.5)])
def test_round_trip_recovers_the_content_parameters(centre):
    p = {k: v.double() for k, v in _params(seed=1).items()}
    sy = p["scale"] * (1 + p["flip"])  # anisotropic
    m = g.out_to_in_from_content((40, 50), angle=p["angle"], scale=(p["scale"], sy), shear=p["shear"],
                                 shift=(p["shift"][:, 0], p["shift"][:, 1]), centre=centre)  # fmt: skip
    back = g.content_from_out_to_in(m, (40, 50), centre=centre)
    for key, ref in [("angle", p["angle"]), ("scale_x", p["scale"]), ("scale_y", sy), ("shear", p["shear"]),
                     ("shift_x", p["shift"][:, 0]), ("shift_y", p["shift"][:, 1])]:  # fmt: skip
        assert torch.allclose(back[key], ref, atol=1e-9), key
    assert torch.allclose(back["log_scale"], (p["scale"] * sy).log() / 2, atol=1e-9)
    log = g.out_to_in_from_content(40, log_scale=p["scale"].log())
    assert torch.allclose(log, g.out_to_in_from_content(40, scale=p["scale"]), atol=1e-12)


def test_parameters_mean_what_they_say_on_screen():
    """angle: counter-clockwise (rot90), shift: right/down by whole pixels (roll), centre: its pixel stays."""
    torch.manual_seed(3)
    x = torch.zeros(1, 1, 12, 12)
    x[..., 3:9, 3:9] = torch.rand(1, 1, 6, 6)
    turned = g.warp(x, g.out_to_in_from_content(12, angle=math.pi / 2))
    assert torch.allclose(turned, torch.rot90(x, 1, dims=(-2, -1)), atol=1e-6)
    moved = g.warp(x, g.out_to_in_from_content(12, shift=(2.0, -1.0)))
    assert torch.allclose(moved, torch.roll(x, (-1, 2), dims=(-2, -1)), atol=1e-6)
    dot = torch.zeros(1, 1, 12, 12)
    dot[..., 4, 7] = 1.0  # row 4, column 7
    for kwargs in ({"angle": 1.1}, {"scale": 1.7}, {"shear": 0.4, "angle": -0.5}):
        out = g.warp(dot, g.out_to_in_from_content(12, centre=(7.0, 4.0), **kwargs))
        assert float(out[0, 0, 4, 7]) == pytest.approx(1.0, abs=1e-5), kwargs
    odd = torch.zeros(1, 1, 13, 13)
    odd[..., 5, 8] = 1.0  # 1 px up, 2 px right of the centre pixel (6, 6): 2 px up, 4 px right when magnified 2x
    grown = g.warp(odd, g.out_to_in_from_content(13, scale=2.0))
    assert float(grown[0, 0, 4, 10]) == pytest.approx(1.0, abs=1e-6) and float(grown.sum()) == pytest.approx(4.0)


class _Devices(TorchDispatchMode):
    """Records the device and dtype of every tensor an op receives or returns."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[tuple[str, torch.dtype]] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in pytree.tree_leaves((args, kwargs, out)):
            if isinstance(t, torch.Tensor) and t.is_floating_point():
                self.seen.add((t.device.type, t.dtype))
        return out


@pytest.mark.parametrize("device,dtype", [("meta", torch.float32), ("cpu", torch.float64)])
def test_matrices_are_made_on_the_device_and_in_the_dtype_of_the_input(device, dtype):
    m = torch.eye(3, device=device, dtype=dtype).expand(4, 3, 3)
    geo = LayerGeometry(1, 10, 64, 2.0, 0.7, 0.1)
    with _Devices() as mode:
        content = content_from_out_to_in(m, 28, centre=(3.0, 5.0))  # about a centre: two helper matrices
        on_layer = geo.conjugate(m)
    assert mode.seen == {(device, dtype)}  # no CPU float32 tensor made on the side
    assert content["angle"].device.type == device and content["angle"].dtype == dtype
    assert on_layer.device.type == device and on_layer.dtype == dtype
    assert geo.to_input(device=device, dtype=dtype).dtype == dtype
    assert geo.to_input().dtype == torch.float32 and geo.to_input().device.type == "cpu"
