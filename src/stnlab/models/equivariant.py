"""Rotation-equivariant backbones and the group-aware STN-CX (our extension, not the papers').

The theory says a spatial transform of ordinary CNN feature maps cannot undo a rotation of the input (other
channels respond), and names the way out: maps whose channels transform among themselves. A C_N group CNN
(regular fields, :mod:`stnlab.nn.equivariant`) has such maps, and a group-aware ST
(:class:`~stnlab.nn.GroupSpatialTransformer`: spatial warp + orientation-channel shift) can align them.

Names, for a backbone of ``n`` stages (the data sets of the MNIST CNN, ``n`` = 2, and of the plankton CNN,
``n`` = 10 conv layers; ``X`` in ``1..n``):

=================  =====================================================================================
``CNN{X}-eq``      the *hybrid*: the first X stages are C_8 group convolutions (same kernels, pooling and
                   channels: MNIST's 64 = 8 regular fields of 8 orientations, plankton's 32 = 4 fields), the
                   rest and the head the plain CNN's
``STN-C{X}-eq``    the hybrid with a group-aware ST on its depth-X (regular-field) maps, read by an ordinary
                   loc-net; the ordinary, non-invariant stages after it are what need the canonical pose
``STN-SL{X}-eq``,  the hybrid with the papers' input ST (trunk: the hybrid's own / a copy of its first X
``STN-DL{X}-eq``   stages); it warps the image, which needs no channel action
``CNN-inv``        fully equivariant, invariant-pooled: every stage a group convolution (the last one with
                   64 regular fields), then the maximum over orientations and over space, then the linear
                   classifier: invariant to rotations by multiples of 90 degrees (exactly; of 45 degrees up
                   to interpolation) -- so it cannot tell a 6 from a 9
=================  =====================================================================================

A suffix ``4`` (``STN-C1-eq4``, ``CNN-inv4``) uses C_4 (MNIST: 16 fields of 4) instead of C_8. The MNIST names are
listed for the rotation data (``mnist-rot``), the plankton ones (photographed in every orientation) for X <= 2,
the depths of the paper's plankton STs; every depth builds. On the plankton CNN the group convolutions cost what
the plain ones do (same channels; the filters are expanded once per step), and its 3x3, stride-2 max-pools on odd
sides (95 -> 47 -> 23 -> 11 -> 5) keep quarter turns exact. :func:`group_stn`
builds any of the papers' models around any backbone whose first stages are equivariant, making each
feature ST on regular fields group-aware.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence

from torch import nn

from stnlab.data import DataSpec
from stnlab.errors import StnlabError
from stnlab.models.builder import build_stn
from stnlab.models.registry import BACKBONES, ModelFamily, register_model_family
from stnlab.nn import Backbone, GroupSpatialTransformer, STNModel
from stnlab.nn.equivariant import GroupConv2d, GroupPool, e2cnn_available, regular_group_order

_EQ = re.compile(r"^(?:CNN(?P<cnn>\d+)|STN-(?P<kind>C|DL|SL)(?P<depth>\d+))-eq(?P<order>4|8)?$")
_INV = re.compile(r"^CNN-inv(?P<order>4|8)?$")
GROUP_ORDERS = (8, 4)  # listed; the unsuffixed names are C_8
INVARIANT_FIELDS = 64  # regular fields of CNN-inv's last stage: 64 invariant features, as the MNIST CNN has channels
LISTED_DEPTHS = {"mnist": 2, "plankton": 2}  # the backbones whose stages can be made equivariant; depths listed


def owns(name: str) -> bool:
    """True for the names of this family (``...-eq``, ``...-eq4``, ``CNN-inv``, ``CNN-inv4``)."""
    return bool(_EQ.match(name) or _INV.match(name))


def cnn_name(name: str) -> str:
    """The model without an ST on ``name``'s backbone: ``STN-SL1-eq4`` -> ``CNN1-eq4``; ``CNN-inv`` itself."""
    m = _EQ.match(name)
    if m is None:
        return name
    return f"CNN{m.group('cnn') or m.group('depth')}-eq{m.group('order') or ''}"


def describe(name: str) -> str | None:
    """One line on what the model ``name`` of this family is (``stnlab models``); None for other names."""
    m, inv = _EQ.match(name), _INV.match(name)
    if not (m or inv):
        return None
    group = f"C_{(m or inv).group('order') or 8}"
    if inv:
        return f"every stage a {group} group convolution, max over orientations and space: rotation-invariant"
    x = int(m.group("cnn") or m.group("depth"))
    stages = "stage 1" if x == 1 else f"stages 1-{x}"
    what = {None: "no spatial transformer",
            "C": f"a group-aware ST on the depth-{x} maps (warp + orientation shift)",
            "SL": f"an ST warps the input; loc-net trunk: {stages}, shared",
            "DL": f"an ST warps the input; loc-net trunk: a fresh copy of {stages}"}[m.group("kind")]
    return f"{stages} {group} group convs, the rest plain; {what}"


def equivariant_names(n_stages: int) -> list[str]:
    """The listed names for a backbone of ``n_stages`` stages."""
    names = []
    for order in GROUP_ORDERS:
        suffix = "" if order == 8 else str(order)
        names.append(f"CNN-inv{suffix}")
        names += [f"{base}-eq{suffix}" for x in range(1, n_stages + 1)
                  for base in (f"CNN{x}", f"STN-C{x}", f"STN-SL{x}", f"STN-DL{x}")]
    return names


def parse_equivariant_name(name: str, n_stages: int) -> tuple[str, int, int]:
    """``'STN-C1-eq4'`` -> ``('STN-C1', 1, 4)``: the papers' name on the hybrid, its equivariant depth and
    group order; ``('CNN-inv', n, N)`` for the invariant CNN. StnlabError on a depth outside ``1..n``."""
    inv = _INV.match(name)
    if inv:
        return "CNN-inv", n_stages, int(inv.group("order") or 8)
    m = _EQ.match(name)
    if m is None:
        raise StnlabError(f"{name!r} is not an equivariant model name (e.g. STN-C1-eq, CNN1-eq, CNN-inv)")
    depth = int(m.group("cnn") or m.group("depth"))
    if not 1 <= depth <= n_stages:
        raise StnlabError(f"model {name!r}: the equivariant depth must be in 1..{n_stages} for this backbone")
    base = "CNN" if m.group("cnn") else f"STN-{m.group('kind')}{depth}"
    return base, depth, int(m.group("order") or 8)


def equivariant_stage(stage: nn.Module, group_order: int, in_regular: bool, out_fields: int | None = None
                      ) -> nn.Sequential:
    """A copy of a plain stage (a conv, then pointwise layers) whose conv is a C_N group convolution with the
    same kernel and padding; ``out_fields`` regular fields (default: as many channels as the conv had)."""
    layers = list(stage.children()) if isinstance(stage, nn.Sequential) else [stage]
    conv = layers[0]
    if not isinstance(conv, nn.Conv2d) or conv.stride != (1, 1) or conv.groups != 1 or conv.dilation != (1, 1):
        raise StnlabError(f"cannot make {type(conv).__name__} equivariant: a stage must start with a plain "
                          "stride-1 nn.Conv2d")
    fields = out_fields or conv.out_channels // group_order
    if out_fields is None and conv.out_channels % group_order:
        raise StnlabError(f"{conv.out_channels} channels are not whole regular fields of C_{group_order}")
    k, p = conv.kernel_size[0], conv.padding[0]
    group = GroupConv2d(conv.in_channels, fields, k, group_order, in_regular=in_regular, padding=p,
                        bias=conv.bias is not None)
    return nn.Sequential(group, *copy.deepcopy(layers[1:]))


def hybrid_backbone(plain: Backbone, group_order: int, depth: int) -> Backbone:
    """``plain`` with its first ``depth`` stages made C_N-equivariant (same channels), the rest its own."""
    stages = [equivariant_stage(s, group_order, in_regular=i > 0) if i < depth else s
              for i, s in enumerate(plain.stages)]
    return Backbone(stages, plain.head)


def invariant_backbone(plain: Backbone, group_order: int, num_classes: int) -> Backbone:
    """Every stage of ``plain`` equivariant (the last with :data:`INVARIANT_FIELDS` fields), then the maximum
    over orientations and space and a linear classifier."""
    n = len(plain.stages)
    stages = [equivariant_stage(s, group_order, in_regular=i > 0, out_fields=INVARIANT_FIELDS if i == n - 1 else None)
              for i, s in enumerate(plain.stages)]
    head = nn.Sequential(GroupPool(group_order), nn.AdaptiveMaxPool2d(1), nn.Flatten(),
                         nn.Linear(INVARIANT_FIELDS, num_classes))  # B x 64 invariant features -> logits
    return Backbone(stages, head)


def group_stn(cnn: Backbone, input_shape: Sequence[int], name: str, **options: object) -> STNModel:
    """:func:`~stnlab.models.build_stn` around ``cnn``, with every feature ST whose maps are regular C_N
    fields made group-aware (:class:`~stnlab.nn.GroupSpatialTransformer`, the same loc-net). STs on the image
    or on plain feature maps stay spatial. ``options`` are :func:`~stnlab.models.build_stn`'s."""
    model = build_stn(cnn, input_shape, name, **options)
    for depth, st in list(model.feature_sts.items()):
        order = regular_group_order(model.backbone.stages, int(depth))
        if order is not None:
            try:
                model.feature_sts[depth] = GroupSpatialTransformer.from_spatial(st, order)
            except ValueError as err:  # e.g. the projective family
                raise StnlabError(f"model {name!r}: {err}") from None
    return model


def build_equivariant(name: str, spec: DataSpec, **options: object) -> STNModel:
    """Model ``name`` of this family for data set ``spec`` (``options``: :func:`~stnlab.models.build_stn`'s)."""
    if spec.backbone not in LISTED_DEPTHS:
        raise StnlabError(f"the equivariant models exist for the data sets of the {' and '.join(LISTED_DEPTHS)} "
                          f"CNNs, not {spec.name!r} (a backbone of your own: stnlab.models.group_stn)")
    plain = BACKBONES[spec.backbone](spec)
    base, depth, order = parse_equivariant_name(name, len(plain.stages))
    if base == "CNN-inv":
        return STNModel(invariant_backbone(plain, order, spec.num_classes))
    return group_stn(hybrid_backbone(plain, order, depth), spec.input_shape, base, where=repr(spec.name), **options)


def _listed(spec: DataSpec) -> list[str]:
    """The names listed for ``spec``, when e2cnn is installed: data sets of the MNIST CNN with the rotation
    protocol (``mnist-rot``, ``--set protocol=rotation``) and plankton, up to :data:`LISTED_DEPTHS`. They build
    on the MNIST CNN's other data sets too, and at every depth of the backbone."""
    rotated = spec.backbone == "plankton" or (spec.backbone == "mnist" and spec.protocol == "rotation")
    if not rotated or not e2cnn_available():
        return []
    return equivariant_names(LISTED_DEPTHS[spec.backbone])


register_model_family(ModelFamily(owns=owns, names=_listed, build=build_equivariant, cnn=cnn_name))
