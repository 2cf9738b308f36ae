"""The model registry: data-set backbones are registered, model names are parsed and assembled.

Names (as in the papers), for a data set whose backbone has ``n`` stages:

==================  ========================================================================
``CNN``             the backbone alone
``STN-C{X}``        an ST before stage X transforming the depth-X feature maps (``0 <= X <= n``)
``STN-DL{X}``       loc-net trunk = a fresh copy of the first X stages; transforms the input
``STN-SL{X}``       loc-net trunk = the backbone's own first X stages (shared); transforms the input
``STN-C0123``       several digits = several depths: independent STs at depths 0, 1, 2, 3
``STN-SL0123``      iterative: iteration i uses a loc-net with trunk depth of the i-th digit
                    (likewise ``STN-DL0123``); always resamples the original input
``STN-C0-large``    Jaderberg's single ST with the "large" 4-layer conv loc-net
==================  ========================================================================

Digits are read as one depth when that depth exists for the data set (``STN-C10`` on plankton) and as
a list of depths otherwise (they must then be strictly increasing).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from stnlab.errors import StnlabError
from stnlab.geometry import FAMILIES, family_size
from stnlab.models.locnets import LOC_BODIES
from stnlab.nn import Backbone, LocalizationNet, SpatialTransformer, STNModel, output_shape


@dataclass(frozen=True)
class DatasetSpec:
    """What a model needs to know about a data set, and how to build its backbone."""

    name: str
    in_channels: int
    image_size: int
    num_classes: int
    num_heads: int
    loc_net: str
    build_backbone: Callable[[], Backbone]

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one input image."""
        return (self.in_channels, self.image_size, self.image_size)


DATASETS: dict[str, DatasetSpec] = {}

_NAME = re.compile(r"^STN-(C|DL|SL)(\d+)(-large)?$")


def register_backbone(*names: str, in_channels: int, image_size: int | dict[str, int], num_classes: int,
                      loc_net: str, num_heads: int = 1) -> Callable:
    """Decorator: register ``fn(dataset_name) -> Backbone`` for the data sets ``names``."""

    def wrap(fn: Callable[[str], Backbone]) -> Callable[[str], Backbone]:
        for name in names:
            size = image_size[name] if isinstance(image_size, dict) else image_size
            DATASETS[name] = DatasetSpec(name, in_channels, size, num_classes, num_heads, loc_net,
                                         lambda name=name: fn(name))
        return fn

    return wrap


def _spec(dataset: str) -> DatasetSpec:
    if dataset not in DATASETS:
        raise StnlabError(f"unknown dataset {dataset!r}; valid: {', '.join(sorted(DATASETS))}")
    return DATASETS[dataset]


def _parse(name: str, n_stages: int, dataset: str) -> tuple[str, list[int], bool]:
    """``'STN-SL0123'`` -> ``('SL', [0, 1, 2, 3], False)``; raises StnlabError on bad names."""
    m = _NAME.match(name)
    if m is None:
        raise StnlabError(f"unknown model {name!r}; valid: CNN, STN-C{{X}}, STN-DL{{X}}, STN-SL{{X}}, "
                          f"STN-C0123, STN-SL0123, STN-C0-large (e.g. {', '.join(list_models(dataset)[:6])}, ...)")
    kind, digits, large = m.group(1), m.group(2), bool(m.group(3))
    if int(digits) <= n_stages and (digits == "0" or not digits.startswith("0")):
        depths = [int(digits)]
    else:
        depths = [int(d) for d in digits]
        if any(b <= a for a, b in zip(depths, depths[1:])) or depths[-1] > n_stages:
            raise StnlabError(f"model {name!r}: depths {digits} are not valid for {dataset!r} "
                              f"(0..{n_stages}, several depths strictly increasing)")
    if kind in ("DL", "SL") and depths == [0]:
        raise StnlabError(f"model {name!r}: STN-{kind}0 is STN-C0; use 'STN-C0' (or a depth >= 1)")
    return kind, depths, large


def list_models(dataset: str | None = None) -> list[str]:
    """Concrete model names valid for ``dataset`` (default: the names for ``mnist-rot``)."""
    n = len(_spec(dataset or "mnist-rot").build_backbone().stages)
    names = ["CNN", "STN-C0-large"] + [f"STN-C{x}" for x in range(n + 1)]
    names += [f"STN-{k}{x}" for k in ("DL", "SL") for x in range(1, n + 1)]
    if n >= 3:
        names += ["STN-C0123", "STN-DL0123", "STN-SL0123"]
    return names


def list_datasets() -> list[str]:
    """Names of the data sets that have a registered backbone."""
    return sorted(DATASETS)


def _reset(module: nn.Module) -> nn.Module:
    """Re-initialise every submodule that knows how to."""
    for sub in module.modules():
        if hasattr(sub, "reset_parameters"):
            sub.reset_parameters()
    return module


def _loc_net(trunk: nn.Module, spec: DatasetSpec, body: str, family: str, depth_on_image: bool) -> LocalizationNet:
    shape = output_shape(trunk, spec.input_shape)
    return LocalizationNet(trunk, LOC_BODIES[body](shape, depth_on_image), spec.input_shape, family_size(family))


def create_model(name: str, dataset: str, *, family: str = "affine", iterations: int | None = None,
                 loc_net: str | None = None, loc_lr_multiplier: float = 1.0,
                 padding_mode: str = "zeros") -> nn.Module:
    """Build model ``name`` for ``dataset`` (see the module docstring for names).

    ``family`` is the transform family of every ST, ``iterations`` repeats each ST's prediction
    (iterative alignment; defaults to one pass per listed depth), ``loc_net`` picks the loc-net body
    (``mnist``/``small``/``large``; default per data set), ``loc_lr_multiplier`` is stored on each ST
    for :func:`stnlab.nn.parameter_groups`.
    """
    spec = _spec(dataset)
    backbone = spec.build_backbone()
    if name == "CNN":
        return STNModel(backbone)
    if family not in FAMILIES:
        raise StnlabError(f"unknown transform family {family!r}; valid: {', '.join(FAMILIES)}")
    if loc_net is not None and loc_net not in LOC_BODIES:
        raise StnlabError(f"unknown loc_net {loc_net!r}; valid: {', '.join(LOC_BODIES)}")
    if iterations is not None and iterations < 1:
        raise StnlabError(f"iterations must be >= 1, got {iterations}")
    kind, depths, large = _parse(name, len(backbone.stages), dataset)
    body = "large" if large else (loc_net or spec.loc_net)
    st_args = {"family": family, "padding_mode": padding_mode, "lr_multiplier": loc_lr_multiplier}
    if kind == "C":
        sts = {}
        for d in depths:
            trunk = nn.Sequential(*backbone.stages[:d])  # only to find the map shape; not kept
            shape = output_shape(trunk, spec.input_shape)
            net = LocalizationNet(nn.Identity(), LOC_BODIES[body](shape, d == 0), shape, family_size(family))
            sts[d] = SpatialTransformer(net, iterations=iterations, **st_args)
        return STNModel(backbone, feature_sts=sts)
    nets = []
    for d in depths:
        stages = backbone.stages[:d]
        trunk = nn.Sequential(*stages) if kind == "SL" else _reset(copy.deepcopy(nn.Sequential(*stages)))
        nets.append(_loc_net(trunk, spec, body, family, d == 0))
    return STNModel(backbone, input_st=SpatialTransformer(nets, iterations=iterations, **st_args))
