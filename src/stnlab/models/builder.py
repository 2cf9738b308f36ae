"""Any CNN -> CNN / STN-CX / STN-DLX / STN-SLX / iterative models: the one assembly of every stnlab model.

:func:`build_stn` takes a backbone given as

* a :class:`~stnlab.nn.Backbone` (``stages`` + ``head``);
* a list of modules or an ``nn.Sequential``: each element is a stage, the last one is the head (the
  classifier), unless ``head=`` is given, in which case every element is a stage;
* any module with named children (a torchvision-style model) plus ``split_points``: the names of the
  children after which a stage ends. The children after the last split point form the head; an
  ``nn.Flatten`` is put before the first ``nn.Linear`` of the head when there is none (torchvision models
  flatten inside ``forward``, not in a module).

and an input shape ``(C, H, W)``, and builds the model ``name`` (``CNN``, ``STN-C{X}``, ``STN-DL{X}``,
``STN-SL{X}``, ``STN-C0123``, ``STN-SL0123``, ``STN-C0-large``; see :mod:`stnlab.models.registry`) with
the transform ``family`` and loc-net body of the caller's choice (``"mnist"``, ``"small"``, ``"large"``,
or a callable ``body(in_shape, on_image) -> nn.Module`` mapping the loc-net input to a flat vector).
:func:`stnlab.create_model` uses it for the papers' backbones. The backbone's modules become part of the
model (not copied): build a fresh backbone for each model.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from stnlab.errors import StnlabError
from stnlab.geometry import FAMILIES, family_size
from stnlab.models.locnets import LOC_BODIES
from stnlab.nn import Backbone, LocalizationNet, SpatialTransformer, STNModel, output_shape
from stnlab.options import options_of

_NAME = re.compile(r"^STN-(C|DL|SL)(\d+)(-large)?$")
LocBody = str | Callable[[Sequence[int], bool], nn.Module]


@dataclass(frozen=True)
class STOptions:
    """How a model's STs are built: the transform ``family`` of every ST, the ``loc_net`` body (a name or a
    callable; None: the data set's, ``mnist`` for :func:`build_stn`), ``iterations`` of each ST's prediction
    (default: one pass per listed depth), the ``loc_lr_multiplier`` stored on each ST for
    :func:`stnlab.nn.parameter_groups`, and grid_sample's ``padding_mode``. :func:`build_stn` and
    :func:`stnlab.create_model` take these as keywords (or one ``STOptions``)."""

    family: str = "affine"
    loc_net: LocBody | None = None
    iterations: int | None = None
    loc_lr_multiplier: float = 1.0
    padding_mode: str = "zeros"


def model_names(n_stages: int) -> list[str]:
    """Concrete model names for a backbone of ``n_stages`` stages."""
    names = ["CNN", "STN-C0-large"] + [f"STN-C{x}" for x in range(n_stages + 1)]
    names += [f"STN-{k}{x}" for k in ("DL", "SL") for x in range(1, n_stages + 1)]
    if n_stages >= 3:
        names += ["STN-C0123", "STN-DL0123", "STN-SL0123"]
    return names


def parse_name(name: str, n_stages: int, where: str = "this backbone") -> tuple[str, list[int], bool]:
    """``'STN-SL0123'`` -> ``('SL', [0, 1, 2, 3], False)``; raises StnlabError on bad names."""
    m = _NAME.match(name)
    if m is None:
        raise StnlabError(f"unknown model {name!r}; valid: CNN, STN-C{{X}}, STN-DL{{X}}, STN-SL{{X}}, "
                          f"STN-C0123, STN-SL0123, STN-C0-large (e.g. {', '.join(model_names(n_stages)[:6])}, ...)")
    kind, digits, large = m.group(1), m.group(2), bool(m.group(3))
    if int(digits) <= n_stages and (digits == "0" or not digits.startswith("0")):
        depths = [int(digits)]
    else:
        depths = [int(d) for d in digits]
        if any(b <= a for a, b in zip(depths, depths[1:])) or depths[-1] > n_stages:
            raise StnlabError(f"model {name!r}: depths {digits} are not valid for {where} "
                              f"(0..{n_stages}, several depths strictly increasing)")
    if kind in ("DL", "SL") and depths == [0]:
        raise StnlabError(f"model {name!r}: STN-{kind}0 is STN-C0; use 'STN-C0' (or a depth >= 1)")
    return kind, depths, large


def _split_children(model: nn.Module, split_points: Sequence[str]) -> Backbone:
    children = list(model.named_children())
    names = [n for n, _ in children]
    unknown = [p for p in split_points if p not in names]
    if unknown:
        raise StnlabError(f"split point(s) {', '.join(unknown)} are not children of the model; "
                          f"its children: {', '.join(names)}")
    ends = [names.index(p) for p in split_points]
    if ends != sorted(set(ends)):
        raise StnlabError(f"split points {', '.join(split_points)} must be distinct and in the model's order")
    stages, start = [], 0
    for end in ends:
        stages.append(nn.Sequential(*[m for _, m in children[start:end + 1]]))
        start = end + 1
    head = [m for _, m in children[start:]]
    first_linear = next((i for i, m in enumerate(head) if isinstance(m, nn.Linear)), None)
    if first_linear is not None and not any(isinstance(m, nn.Flatten) for m in head[:first_linear]):
        head.insert(first_linear, nn.Flatten())
    return Backbone(stages, nn.Sequential(*head))


def as_backbone(cnn: Backbone | Sequence[nn.Module] | nn.Module, *, head: nn.Module | None = None,
                split_points: Sequence[str] | None = None) -> Backbone:
    """``cnn`` as a :class:`~stnlab.nn.Backbone` (see the module docstring for the accepted forms)."""
    if isinstance(cnn, Backbone):
        return cnn
    if split_points is not None:
        if head is not None:
            raise StnlabError("pass either split_points (the head is what follows the last one) or head, not both")
        return _split_children(cnn, split_points)
    if isinstance(cnn, nn.Sequential):
        cnn = list(cnn)
    if not isinstance(cnn, (list, tuple)) or not all(isinstance(m, nn.Module) for m in cnn):
        raise StnlabError("give the CNN as a list of stage modules, an nn.Sequential, a Backbone, or a model "
                          "with split_points=[names of the children that end a stage]")
    stages = list(cnn) if head is not None else list(cnn[:-1])
    if not stages:
        raise StnlabError("the CNN needs at least one stage before its head")
    return Backbone(stages, head if head is not None else cnn[-1])


def _reset(module: nn.Module) -> nn.Module:
    """Re-initialise every submodule that knows how to."""
    for sub in module.modules():
        if hasattr(sub, "reset_parameters"):
            sub.reset_parameters()
    return module


def _body(loc_net: LocBody) -> Callable[[Sequence[int], bool], nn.Module]:
    if callable(loc_net):
        return loc_net
    if loc_net not in LOC_BODIES:
        raise StnlabError(f"unknown loc_net {loc_net!r}; valid: {', '.join(LOC_BODIES)} (or a callable)")
    return LOC_BODIES[loc_net]


def _check_runs(backbone: Backbone, input_shape: Sequence[int]) -> None:
    try:
        output_shape(backbone, input_shape)
    except RuntimeError as err:
        first = str(err).splitlines()[0][:160]
        raise StnlabError(f"the CNN does not run on inputs of shape {tuple(input_shape)} ({first}); "
                          f"check the input shape (or --set image_size=N) and the stages") from None


def build_stn(cnn: Backbone | Sequence[nn.Module] | nn.Module, input_shape: Sequence[int], name: str = "CNN", *,
              head: nn.Module | None = None, split_points: Sequence[str] | None = None, st: STOptions | None = None,
              where: str = "this backbone", **st_options: Any) -> STNModel:
    """Build model ``name`` around the CNN ``cnn`` for inputs of shape ``input_shape`` = ``(C, H, W)``.

    ``st`` / ``st_options`` (:class:`STOptions`, e.g. ``family="similarity"``, ``loc_net="large"``,
    ``iterations=2``, ``loc_lr_multiplier=0.1``, ``padding_mode="border"``) say how the STs are built. STN-SL
    loc-nets use the very same stage modules as the classifier; STN-DL ones a re-initialised copy. ``where``
    names the backbone in errors.
    """
    o = options_of(STOptions, st, st_options, "build_stn")
    family, iterations = o.family, o.iterations
    backbone = as_backbone(cnn, head=head, split_points=split_points)
    input_shape = tuple(int(s) for s in input_shape)
    _check_runs(backbone, input_shape)
    if name == "CNN":
        return STNModel(backbone)
    if family not in FAMILIES:
        raise StnlabError(f"unknown transform family {family!r}; valid: {', '.join(FAMILIES)}")
    if iterations is not None and iterations < 1:
        raise StnlabError(f"iterations must be >= 1, got {iterations}")
    body = _body(o.loc_net or "mnist")
    kind, depths, large = parse_name(name, len(backbone.stages), where)
    body = LOC_BODIES["large"] if large else body
    st_args = {"family": family, "padding_mode": o.padding_mode, "lr_multiplier": o.loc_lr_multiplier}
    if kind == "C":
        sts = {}
        for d in depths:
            shape = output_shape(nn.Sequential(*backbone.stages[:d]), input_shape)  # the map the ST warps
            net = LocalizationNet(nn.Identity(), body(shape, d == 0), shape, family_size(family))
            sts[d] = SpatialTransformer(net, iterations=iterations, **st_args)
        return STNModel(backbone, feature_sts=sts)
    nets = []
    for d in depths:
        stages = backbone.stages[:d]
        trunk = nn.Sequential(*stages) if kind == "SL" else _reset(copy.deepcopy(nn.Sequential(*stages)))
        shape = output_shape(trunk, input_shape)
        nets.append(LocalizationNet(trunk, body(shape, d == 0), input_shape, family_size(family)))
    return STNModel(backbone, input_st=SpatialTransformer(nets, iterations=iterations, **st_args))


__all__ = ["STOptions", "as_backbone", "build_stn", "model_names", "parse_name"]
