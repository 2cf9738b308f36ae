"""Helpers shared by several test modules: the CLI's one-line-error check, the model contract, synthetic
SVHN, image-folder and IDX writers, and the jobs of the worker-process tests."""

from __future__ import annotations

import os
import time
from pathlib import Path

import h5py
import numpy as np
import torch
from PIL import Image
from torch.utils._python_dispatch import TorchDispatchMode

import stnlab.nn.conv
from stnlab.cli import main
from stnlab.errors import StnlabError
from stnlab.nn import st_depths
from stnlab.train.interrupt import StopSignals


def cli_error(capsys, *argv: str) -> str:
    """Run the CLI in-process; assert exit 2 and a one-line error; return that line."""
    capsys.readouterr()
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert err.startswith("stnlab: error: ") and "\n" not in err and "Traceback" not in err, err
    return err


def _wake_loc_nets(model: torch.nn.Module, scale: float = 1e-2) -> None:
    """Give every zero-initialised loc-net output layer small random weights so gradients flow through it."""
    for st in model.spatial_transformers():
        for net in st.loc_nets:
            torch.nn.init.normal_(net.out.weight, std=scale)


class NoHostSync(TorchDispatchMode):
    """Raise on any op that reads a tensor value on the host (``.item()``, ``bool(t)``, ``.tolist()``)."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in (torch.ops.aten._local_scalar_dense.default, torch.ops.aten.is_nonzero.default):
            raise AssertionError(f"host synchronisation in the model: {func}")
        return func(*args, **(kwargs or {}))


def _loss_and_grads(model, x, target, num_classes, fast: bool) -> tuple[torch.Tensor, dict]:
    """Forward + backward with the fast conv input gradient on or off; the logits and every gradient."""
    model.zero_grad(set_to_none=True)
    saved = stnlab.nn.conv.FastInputGradConv2d._fast_ok
    if not fast:
        stnlab.nn.conv.FastInputGradConv2d._fast_ok = lambda self, x: False
    try:
        with NoHostSync():
            torch.manual_seed(1)  # the same dropout masks in both passes
            out = model(x)
            loss = torch.nn.functional.cross_entropy(out.reshape(-1, num_classes), target.reshape(-1))
            loss.backward()
    finally:
        stnlab.nn.conv.FastInputGradConv2d._fast_ok = saved
    return out.detach(), {n: p.grad for n, p in model.named_parameters()}


def check_contract(cnn: torch.nn.Module, model: torch.nn.Module, x: torch.Tensor, num_classes: int) -> None:
    """The model contract (every registered model, and models of users' backbones): identity at start
    (logits equal the CNN's with the same backbone weights, every matrix the identity); every parameter
    gets a finite, non-zero gradient; the step reads no tensor value on the host; the fast first-conv
    input gradient (stnlab.nn.conv) equals the plain PyTorch path."""
    model.backbone.load_state_dict(cnn.backbone.state_dict())
    cnn.eval(), model.eval()
    with torch.no_grad():
        ref = cnn(x)
        logits, mats = model(x, return_transforms=True)
    assert logits.shape == ref.shape
    assert torch.allclose(logits, ref, atol=1e-5, rtol=1e-4), (logits - ref).abs().max()
    assert len(mats) == len(model.spatial_transformers()) == len(st_depths(model))
    for m in mats:
        assert torch.equal(m, torch.eye(3).expand(len(x), 3, 3))

    model.train()
    _wake_loc_nets(model)
    target = torch.randint(0, num_classes, ref.shape[:-1])
    out, grads = _loss_and_grads(model, x, target, num_classes, fast=True)
    ref_out, ref_grads = _loss_and_grads(model, x, target, num_classes, fast=False)
    assert torch.allclose(out, ref_out, atol=1e-5, rtol=1e-4)
    for pname, g in grads.items():
        assert g is not None, f"{pname} got no gradient"
        assert torch.isfinite(g).all(), pname
        assert g.abs().sum() > 0, f"{pname} has an all-zero gradient"
        # float32 sums in another order: on large images (plankton, 95 px) an element may differ by ~2e-5 of the
        # tensor's largest one; a wrong gradient differs by its own size
        atol = 1e-5 + 1e-4 * float(ref_grads[pname].abs().max())
        assert torch.allclose(g, ref_grads[pname], atol=atol, rtol=1e-3), (pname, (g - ref_grads[pname]).abs().max())


def check_sl_shares(model: torch.nn.Module, depth: int) -> None:
    """STN-SL: the loc-net trunk holds the very same stage modules and tensors as the classifier."""
    trunk = model.input_st.loc_nets[0].trunk
    assert len(trunk) == depth
    for i in range(depth):
        assert trunk[i] is model.backbone.stages[i]
        for p, q in zip(trunk[i].parameters(), model.backbone.stages[i].parameters()):
            assert p is q
    own = {id(p) for p in model.localization_parameters()}
    assert not own & {id(p) for p in model.backbone.parameters()}
    assert len(list(model.parameters())) == len(list(model.backbone.parameters())) + len(own)


FIELDS = ("label", "left", "top", "width", "height")


def write_digitstruct(path: Path, records: list[tuple[str, list[dict[str, float]]]], skip: str = "") -> None:
    """Write ``records`` as MATLAB 7.3 stores the format-1 struct (one reference per value when > 1 digit)."""
    ref = h5py.ref_dtype
    with h5py.File(path, "w") as f:
        g, pool = f.create_group("digitStruct"), f.create_group("#refs#")
        names = g.create_dataset("name", (len(records), 1), dtype=ref)
        boxes = g.create_dataset("bbox", (len(records), 1), dtype=ref)
        for i, (name, digits) in enumerate(records):
            names[i, 0] = pool.create_dataset(f"n{i}", data=np.array([[ord(c)] for c in name], np.uint16)).ref
            box = pool.create_group(f"b{i}")
            for key in FIELDS:
                if key == skip:
                    continue
                values = [d[key] for d in digits]
                if len(values) == 1:
                    box.create_dataset(key, data=np.array([[values[0]]], dtype=np.float64))
                else:
                    d = box.create_dataset(key, (len(values), 1), dtype=ref)
                    for j, v in enumerate(values):
                        d[j, 0] = pool.create_dataset(f"b{i}_{key}_{j}", data=np.array([[v]], np.float64)).ref
            boxes[i, 0] = box.ref


def digit(label: float, left: float, top: float, width: float = 10, height: float = 20) -> dict[str, float]:
    return {"label": label, "left": left, "top": top, "width": width, "height": height}


# union x 20..40, y 10..32 -> enlarged by 30% about (30, 21): (17, 6.7, 43, 35.3) -> (17, 7, 43, 35)
TWO = [digit(1, 20, 10), digit(10, 30, 12)]
BOX = (17, 7, 43, 35)


def make_split(folder: Path, n: int, first_label: int = 1) -> None:
    """``n`` images: the enlarged digit box is red, the rest white; one 6-digit number (dropped)."""
    folder.mkdir(parents=True)
    records = []
    for i in range(n):
        im = Image.new("RGB", (60, 45), (255, 255, 255))
        im.paste((255, 0, 0), BOX)
        im.save(folder / f"{i + 1}.png")
        records.append((f"{i + 1}.png", [digit((first_label + i) % 10 or 10, 20, 10), digit(10, 30, 12)]))
    Image.new("RGB", (80, 30)).save(folder / "long.png")
    records.append(("long.png", [digit(d, 2 + 12 * d, 5) for d in range(1, 7)]))
    write_digitstruct(folder / "digitStruct.mat", records)


def class_pattern(label: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """A ``size x size`` uint8 image of class ``label``: a bright bar whose orientation is the class, plus noise."""
    yy, xx = np.mgrid[0:size, 0:size] - (size - 1) / 2
    angle = np.pi * label / 4
    dist = np.abs(-np.sin(angle) * xx + np.cos(angle) * yy)
    img = (dist < size / 10) & (np.hypot(xx, yy) < size * 0.4)
    return np.clip(img * 220 + rng.integers(0, 30, (size, size)), 0, 255).astype(np.uint8)


def make_image_folder(root: Path, classes: int = 3, per_class: int = 12, size: int = 28, colour: bool = False,
                      seed: int = 0) -> Path:
    """``root/<class>/<i>.png``: ``per_class`` patterned images of each class (grey or RGB)."""
    rng = np.random.default_rng(seed)
    for c in range(classes):
        folder = root / f"class{c}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            img = class_pattern(c, size, rng)
            if colour:
                img = np.stack([img, img // 2, 255 - img], -1)
            Image.fromarray(img).save(folder / f"{i:03d}.png")
    return root


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of a uint8 array (images 3-D, labels 1-D)."""
    magic = 0x800 | array.ndim
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def make_idx(root: Path, n_train: int = 30, n_test: int = 12, size: int = 24, classes: int = 3, seed: int = 0,
             n_test_labels: int | None = None) -> Path:
    """The four standard IDX files of a patterned data set in ``root``."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = np.arange(n) % classes
        images = np.stack([class_pattern(int(c), size, rng) for c in labels])
        (root / f"{prefix}-images-idx3-ubyte").write_bytes(idx_bytes(images))
        n_labels = n_test_labels if prefix == "t10k" and n_test_labels is not None else n
        (root / f"{prefix}-labels-idx1-ubyte").write_bytes(idx_bytes((np.arange(n_labels) % classes).astype(np.uint8)))
    return root


def worker_job(spec: tuple[str, object]) -> object:
    """A job for the worker-process tests (module-level: a spawned process imports it). ``("fail", seconds)``:
    raise after a delay; ``("train", path)``: act as a training run (SIGTERM = save and stop): write ``path`` on
    the request; ``("sleep", path)``: write the pid to ``path``, sleep; ``("cores", None)``: the cores this
    process may use; ``("value", x)``: ``x``."""
    what, arg = spec
    if what == "fail":
        time.sleep(float(arg))
        raise StnlabError("this job fails on purpose")
    if what == "train":
        with StopSignals() as stop:
            Path(f"{arg}.started").write_text("1")
            deadline = time.monotonic() + 60
            while stop.signum is None and time.monotonic() < deadline:
                time.sleep(0.02)
        Path(str(arg)).write_text(f"saved after signal {stop.signum}")
        raise StnlabError("stopped by a signal")
    if what == "sleep":
        Path(str(arg)).write_text(str(os.getpid()))
        time.sleep(120)
    if what == "cores":
        return sorted(os.sched_getaffinity(0))
    return arg
