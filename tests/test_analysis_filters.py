"""Single-layer theorem checks on real MNIST digits, and the two-channel W/M example.

Measured (16 filters of 9x9, 50 digits, 40 steps; docs/analysis.md): c4 filters at rot90 ~3e-7, at
rot45 0.38; radial filters at rot45 0.04; random filters 0.69-0.86; scale2 0.34-0.58 for every kind;
the W/M network: spatial only 0.80, with the channel swap ~1e-6.
"""

from __future__ import annotations

import pytest
import torch

from stnlab.analysis import (
    filter_check,
    filter_noninvariance,
    make_filters,
    symmetrize_c4,
    two_channel_example,
    w_filter,
)
from stnlab.errors import StnlabError

TINY = 1e-4


@pytest.fixture(scope="module")
def digits(data_root) -> torch.Tensor:
    from stnlab.data import load_mnist

    images, _ = load_mnist("test", data_root)
    return images[100:112].float().div(255)[:, None]


def test_filter_noninvariance_matches_the_symmetry_of_each_kind():
    rnd, c4, rad = (make_filters(k, 8, 9, seed=1) for k in ("random", "c4", "radial"))
    assert filter_noninvariance(c4, "rot:90").max() < 1e-5
    assert filter_noninvariance(rad, "rot:90").max() < 1e-5
    assert filter_noninvariance(rnd, "rot:90").min() > 0.8
    assert filter_noninvariance(rnd, "rot:45").min() > 0.8
    assert filter_noninvariance(c4, "rot:45").min() > 0.5
    assert filter_noninvariance(rad, "rot:45").max() < 0.2  # disk discretisation of a 9x9 grid
    for f in (rnd, c4, rad):  # no non-constant filter is scale invariant
        assert filter_noninvariance(f, "scale:2").min() > 1.0
    assert torch.allclose(symmetrize_c4(c4), c4, atol=1e-6)  # idempotent


def test_filter_noninvariance_rejects_translations():
    with pytest.raises(StnlabError, match="linear transform"):
        filter_noninvariance(make_filters("random", 2), "trans:2")


def test_one_layer_residual_follows_the_filters_invariance(digits):
    rows = filter_check(digits, ["rot:45", "rot:90", "rot:30", "scale:2"], n_filters=8, steps=8)
    r = {(row["filters"], row["transform"]): row for row in rows}
    assert r["c4", "rot90"]["optimum"] < TINY  # 4-fold symmetric filters: exact at 90 degrees
    assert r["c4", "rot45"]["optimum"] > 0.25  # ... but not at 45
    assert r["radial", "rot45"]["optimum"] < 0.08  # isotropic: small for any angle
    assert r["radial", "rot30"]["optimum"] < 0.08
    assert r["c4", "rot30"]["optimum"] > 0.25
    assert r["radial", "rot90"]["optimum"] < TINY
    for t in ("rot45", "rot90"):
        assert r["random", t]["optimum"] > 0.5
    for kind in ("random", "c4", "radial"):
        assert r[kind, "scale2"]["optimum"] > 0.25  # scaling: nothing aligns
        assert r[kind, "scale2"]["optimum"] <= r[kind, "scale2"]["inverse"] + 1e-7


def test_two_channel_example_needs_the_channel_swap(digits):
    w = w_filter()
    assert not torch.allclose(torch.rot90(w, 2), w)  # "M" is not "W"
    out = two_channel_example(digits, steps=8)
    assert out["spatial_only"]["optimum"] > 0.5
    assert out["spatial_only"]["inverse"] > 0.5
    assert out["with_permutation"]["inverse"] < TINY
    assert out["with_permutation"]["optimum"] < TINY
