"""ST diagnostics: the compensation convention (slope -1 = the ST undoes the data transform), the
statistics of a run in metrics.jsonl, and the "not moving" warning for a loc-net that never trains."""

import math
import os

import pytest
import torch
from PIL import Image

import stnlab.train.loop as loop
import stnlab.train.metrics as metrics
from stnlab.geometry import rotation_matrix, scale_matrix, translation_matrix, warp
from stnlab.nn.layers import LayerGeometry
from stnlab.train import build_config, build_model, read_metrics, train
from stnlab.train.diagnostics import STCollector, describe, st_geometries, st_places, st_warnings
from stnlab.train.distributed import Dist

DATA = os.environ.get("STNLAB_DATA")
needs_data = pytest.mark.skipif(not DATA, reason="STNLAB_DATA is not set (real MNIST needed)")


def blob_images(n: int, size: int = 32) -> torch.Tensor:
    """Asymmetric smooth blobs (no rotational or scale symmetry), ``n x 1 x size x size``."""
    g = torch.Generator().manual_seed(0)
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    cx, cy = torch.rand(n, 1, 1, generator=g) * 0.4 - 0.2, torch.rand(n, 1, 1, generator=g) * 0.4 - 0.2
    img = torch.exp(-((xs - cx) ** 2 / 0.08 + (ys - cy) ** 2 / 0.02))
    img = img + 0.5 * torch.exp(-((xs - 0.3) ** 2 + ys**2) / 0.01)
    return img[:, None]


def centre_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean |a - b| in the central half of the image (away from the padded corners)."""
    s = a.shape[-1]
    return float((a - b)[..., s // 4: 3 * s // 4, s // 4: 3 * s // 4].abs().mean())


@pytest.mark.parametrize("kind", ["rotation", "scale", "translation"])
def test_an_st_that_undoes_the_data_transform_has_slope_minus_one(kind):
    n = 64
    v = torch.linspace(-1, 1, n)
    # the data's sampling matrix (as the MNIST protocols return it) and the matrix that undoes it
    applied, undo, key = {
        "rotation": (rotation_matrix(v * math.pi / 2), rotation_matrix(-v * math.pi / 2), "angle_deg"),
        "scale": (scale_matrix(2 ** (-0.5 * v)), scale_matrix(2 ** (0.5 * v)), "log_scale"),
        "translation": (translation_matrix(-0.2 * v, 0.0), translation_matrix(0.2 * v, 0.0), "tx"),
    }[kind]
    digits = blob_images(n)
    shown = warp(digits, applied)
    assert centre_error(warp(shown, undo), digits) < 0.02 < centre_error(shown, digits)  # it does undo it
    full, none, half = STCollector(["input image"]), STCollector(["input image"]), STCollector(["input image"])
    full.add([undo], {"matrix": applied})
    none.add([torch.eye(3).expand(n, 3, 3)], {"matrix": applied})
    half_undo = {"rotation": rotation_matrix(-v * math.pi / 4), "scale": scale_matrix(2 ** (0.25 * v)),
                 "translation": translation_matrix(0.1 * v, 0.0)}[kind]
    half.add([half_undo], {"matrix": applied})
    fit = full.summary(Dist())[0]["compensation"]
    assert list(fit) == [key]  # only the parameter the data varies
    assert fit[key]["slope"] == pytest.approx(-1, abs=1e-4) and fit[key]["r2"] == pytest.approx(1, abs=1e-4)
    assert half.summary(Dist())[0]["compensation"][key]["slope"] == pytest.approx(-0.5, abs=1e-4)
    idle = none.summary(Dist())[0]
    assert idle["compensation"][key] == {"slope": 0.0, "r2": 0.0} and idle["identity"] and not idle["collapsing"]


def test_an_st_on_feature_maps_that_centres_the_input_has_input_shift_slope_minus_one():
    """A layer-1 map of a 60 px canvas (26 px, stride 2: ``L = [[a, 0, 0], [0, a, 0]]``, a = 52/60) sees an
    input shift ``t`` as ``t / a``: the ST that exactly undoes it has slope -1/a in its own units, -1 in the
    input's (``compensation_input``)."""
    n, a = 64, 52 / 60
    v = torch.linspace(-1, 1, n)
    applied = translation_matrix(-0.3 * v, 0.2 * v.flip(0))
    undo_in = torch.linalg.inv(applied)
    to_input = torch.tensor([[a, 0.0, 0.0], [0.0, a, 0.0], [0.0, 0.0, 1.0]])
    undo_layer = torch.linalg.inv(to_input) @ undo_in @ to_input  # the same warp in layer-1 coordinates
    c = STCollector(["feature maps at depth 1"], [LayerGeometry(1, 26, 64, 2.0, a, 0.0)])
    c.add([undo_layer], {"matrix": applied})
    st = c.summary(Dist())[0]
    assert st["layer_to_input"] == {"a": pytest.approx(a, rel=1e-5), "b": 0.0}
    assert all(st["compensation"][q]["slope"] == pytest.approx(-1 / a, rel=1e-4) for q in ("tx", "ty"))
    assert list(st["compensation_input"]) == ["tx", "ty"]
    assert all(st["compensation_input"][q]["slope"] == pytest.approx(-1, abs=1e-3) for q in ("tx", "ty"))
    assert "in input coordinates tx -1.000, ty -1.000" in describe(st)
    plain = STCollector(["input image"])
    plain.add([undo_in], {"matrix": applied})
    assert "compensation_input" not in plain.summary(Dist())[0]


@pytest.mark.parametrize("name,dataset,size,a", [("STN-C1", "mnist-trans", 60, 52 / 60),
                                                 ("STN-C1", "mnist-rot", 28, 20 / 28)])
def test_st_geometries_place_each_feature_map_st_on_its_layer(name, dataset, size, a):
    geos = st_geometries(build_model(build_config({"model": name, "dataset": dataset})), (1, size, size))
    assert [g.depth for g in geos] == [1] and geos[0].a == pytest.approx(a) and geos[0].b == pytest.approx(0)
    assert st_geometries(build_model(build_config({"model": "STN-SL1", "dataset": dataset})), (1, size, size)) == [None]


def test_statistics_of_known_transforms():
    n = 100
    angle = torch.linspace(-30, 30, n)
    mats = rotation_matrix(torch.deg2rad(angle)) @ scale_matrix(torch.full((n,), 8.0))  # zoomed out 8x
    c = STCollector(["input image"])
    c.add([mats[:40]], None)
    c.add([mats[40:]], None)
    st = c.summary(Dist())[0]
    assert st["samples"] == n and "compensation" not in st
    assert st["angle_deg"]["mean"] == pytest.approx(0, abs=1e-4)
    assert st["angle_deg"]["std"] == pytest.approx(float(angle.double().std(unbiased=False)), rel=1e-4)
    assert st["angle_deg"]["p5"] < -25 and st["angle_deg"]["p95"] > 25
    assert st["log_scale"]["mean"] == pytest.approx(math.log(8), rel=1e-5)
    assert st["det"]["mean"] == pytest.approx(64, rel=1e-5)
    assert st["outside"]["mean"] > 0.8  # most of the sampling grid samples padding
    assert st["collapsing"] and not st["identity"]


def test_warnings_need_n_consecutive_flags_and_come_once():
    def rec(flag: bool) -> dict:
        return {"st": [{"index": 0, "acts_on": "input image", "identity": flag, "collapsing": False,
                        "angle_deg": {"mean_abs": 0.0}, "log_scale": {"mean_abs": 0.0}, "tx": {"mean_abs": 0.0},
                        "ty": {"mean_abs": 0.0}, "outside": {"mean": 0.0}}]}

    history: list[dict] = []
    raised = []
    for flag in (True, False, True, True, True, True):
        r = rec(flag)
        r["st_warnings"] = st_warnings(history, r, after=3)
        raised.append(len(r["st_warnings"]))
        history.append(r)
    assert raised == [0, 0, 0, 0, 1, 0]
    assert history[4]["st_warnings"][0]["kind"] == "not moving"

    zoom = STCollector(["input image"])
    zoom.add([scale_matrix(torch.full((8,), 8.0))], None)  # samples 8x the image: the digit shrinks to a dot
    st = zoom.summary(Dist())[0]
    (warning,) = st_warnings([{"st": [st]}], {"st": [st]}, after=2)
    assert warning["kind"] == "collapsing" and "mean |log-scale| 2.08" in warning["message"]
    assert "st_log_scale_bound" in warning["message"]


def test_st_places_name_where_each_st_acts():
    assert st_places(build_model(build_config({"model": "CNN", "dataset": "mnist-rot"}))) == []
    assert st_places(build_model(build_config({"model": "STN-C0", "dataset": "mnist-rot"}))) == ["input image"]
    assert st_places(build_model(build_config({"model": "STN-SL1", "dataset": "mnist-rot"}))) == ["input image"]
    assert st_places(build_model(build_config({"model": "STN-C1", "dataset": "mnist-rot"}))) == [
        "feature maps at depth 1"]


def test_build_model_leaves_the_callers_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a = build_model(build_config({"model": "STN-C0", "dataset": "mnist-rot", "seed": 5}))
    assert torch.equal(torch.rand(3), expected)
    b = build_model(build_config({"model": "STN-C0", "dataset": "mnist-rot", "seed": 5}))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


class FakeWriter:
    def __init__(self) -> None:
        self.scalars: dict[str, list] = {}
        self.figures: list[str] = []

    def add_scalar(self, tag, value, step):
        self.scalars.setdefault(tag, []).append((step, value))

    def add_figure(self, tag, figure, step, close=True):
        self.figures.append(tag)

    def flush(self):
        pass

    def close(self):
        pass


@needs_data
def test_a_frozen_loc_net_is_reported_as_not_moving(tmp_path, capsys, monkeypatch):
    writer = FakeWriter()
    monkeypatch.setattr(loop, "require_tensorboard", lambda: None)
    monkeypatch.setattr(metrics, "_summary_writer", lambda folder: writer)
    cfg = build_config({"model": "STN-C0", "dataset": "mnist-rot", "steps": 6, "val_every": 2, "batch_size": 16,
                        "val_samples": 200, "eval_batch_size": 100, "loc_lr_multiplier": 0, "st_warn_after": 2,
                        "threads": 2})
    train(cfg, tmp_path / "run", progress=False, tensorboard=True)
    records = read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert [r["step"] for r in records] == [2, 4, 6]
    for r in records:
        (st,) = r["st"]
        assert st["acts_on"] == "input image" and st["samples"] == 200 and st["identity"]
        assert st["angle_deg"] == {"mean": 0.0, "std": 0.0, "mean_abs": 0.0, "p5": 0.0, "p95": 0.0}
        assert st["det"]["mean"] == 1.0 and st["outside"]["mean"] == 0.0
        assert list(st["compensation"]) == ["angle_deg"]  # mnist-rot varies the angle only
    assert [len(r["st_warnings"]) for r in records] == [0, 1, 0]  # after 2 validations, once
    assert records[1]["st_warnings"][0]["kind"] == "not moving"
    err = capsys.readouterr().err
    assert err.count("has stayed at the identity for 2 validations") == 1
    assert [s for s, _ in writer.scalars["st0/angle_deg_mean"]] == [2, 4, 6]
    assert "st0/compensation_angle_deg_slope" in writer.scalars and "val_error" in writer.scalars
    png = tmp_path / "run" / "st_grid_epoch001.png"  # the last step (mid-epoch 1) gets a grid
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and writer.figures == ["st_grid"]
    with Image.open(png) as im:
        assert im.size[0] >= 600 and im.size[1] >= 400  # big enough to read


@needs_data
def test_a_training_st_moves_and_the_cnn_has_no_st_records(tmp_path):
    sets = {"dataset": "mnist-rot", "steps": 4, "batch_size": 32, "val_samples": 100, "eval_batch_size": 100,
            "threads": 2, "lr": 0.05}
    train(build_config({"model": "STN-C0", **sets}), tmp_path / "stn", progress=False)
    (st,) = read_metrics(tmp_path / "stn" / "metrics.jsonl")[-1]["st"]
    assert st["angle_deg"]["std"] > 0 and st["det"]["mean"] != 1.0
    assert (tmp_path / "stn" / "st_grid_epoch001.png").is_file()
    train(build_config({"model": "CNN", **sets}), tmp_path / "cnn", progress=False)
    assert "st" not in read_metrics(tmp_path / "cnn" / "metrics.jsonl")[-1]
    train(build_config({"model": "STN-C1", **sets, "st_grid_every": 1}), tmp_path / "c1", progress=False)
    assert read_metrics(tmp_path / "c1" / "metrics.jsonl")[-1]["st"][0]["acts_on"] == "feature maps at depth 1"
    assert not list((tmp_path / "c1").glob("*.png")) and not list((tmp_path / "cnn").glob("*.png"))
    train(build_config({"model": "STN-C0", **sets, "st_grid_every": 0}), tmp_path / "stn", progress=False, force=True)
    assert not list((tmp_path / "stn").glob("*.png"))  # --force removed the old grid; none written when off


def test_st_grid_rows_follow_the_applied_transform():
    from stnlab.train.st_grid import _pick

    angle = torch.deg2rad(torch.linspace(-90, 90, 37))  # 5 deg apart
    rows, labels = _pick({"angle": angle, "scale": torch.ones(37), "tx": torch.zeros(37)}, 37, 28)
    assert labels == ["rotation -90 deg ccw", "rotation -45 deg ccw", "rotation +0 deg ccw", "rotation +45 deg ccw",
                      "rotation +90 deg ccw"]
    for r, t in zip(rows, (-90, -45, 0, 45, 90)):  # the four images nearest to the row value (5 deg apart)
        assert sorted((torch.rad2deg(angle[r]) - t).abs().round().tolist()) in ([0, 5, 5, 10], [0, 5, 10, 15])
    scale = 2 ** torch.linspace(-1, 2, 31)
    _, labels = _pick({"angle": torch.zeros(31), "scale": scale}, 31, 112)
    assert labels[0] == "scale x0.50" and labels[2] == "scale x1.41" and labels[-1] == "scale x4.00"  # log-spaced
    shift = torch.linspace(-16, 16, 33) * 2 / 60  # normalised units of a 60 px canvas
    assert _pick({"tx": shift}, 33, 60)[1][-1] == "shift +16 px"
    rows, labels = _pick({"angle": torch.zeros(6)}, 6, 28)  # nothing varies: rows of consecutive images
    assert labels == [""] and rows[0].tolist() == [0, 1, 2, 3]
