"""A backbone CNN given as an ordered list of stages, composed with spatial transformers.

Placement semantics (X = depth = number of backbone stages before the ST):

* **feature STs** (STN-CX): ``feature_sts[X]`` sits before stage X; its loc-net reads the depth-X feature
  maps and *those maps* are warped (X = 0: the input image).
* **input ST** (STN-DLX / STN-SLX / iterative): ``input_st`` reads the input through its own trunk (a fresh
  copy of the first X stages for DL, the very same stage modules for SL) and warps the *input*, which then
  runs through the whole backbone.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from torch import Tensor, nn

from stnlab.nn.transformer import SpatialTransformer


class Backbone(nn.Module):
    """``stages`` (feature extractor, split where STs may go) followed by ``head`` (the classifier)."""

    def __init__(self, stages: Sequence[nn.Module], head: nn.Module) -> None:
        super().__init__()
        self.stages = nn.ModuleList(stages)
        self.head = head

    def features(self, x: Tensor, depth: int) -> Tensor:
        """Output of the first ``depth`` stages."""
        for stage in self.stages[:depth]:
            x = stage(x)
        return x

    def forward(self, x: Tensor) -> Tensor:
        """Logits of the plain CNN."""
        return self.head(self.features(x, len(self.stages)))


class STNModel(nn.Module):
    """A backbone with spatial transformers; ``forward(x, return_transforms=True)`` also gives the matrices.

    The transforms list holds one ``B x 3 x 3`` matrix per ST in the order they run (the input ST first,
    then feature STs by depth); for an iterative ST it is the final composed matrix.
    """

    def __init__(
        self,
        backbone: Backbone,
        feature_sts: Mapping[int, SpatialTransformer] | None = None,
        input_st: SpatialTransformer | None = None,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        feature_sts = dict(feature_sts or {})
        for depth in feature_sts:
            if not 0 <= depth <= len(backbone.stages):
                raise ValueError(f"ST depth {depth} outside 0..{len(backbone.stages)}")
        self.feature_sts = nn.ModuleDict({str(d): st for d, st in sorted(feature_sts.items())})
        self.input_st = input_st

    def spatial_transformers(self) -> list[SpatialTransformer]:
        """Every ST of the model, in the order they run."""
        sts = [self.input_st] if self.input_st is not None else []
        return sts + list(self.feature_sts.values())

    def forward(self, x: Tensor, return_transforms: bool = False) -> Tensor | tuple[Tensor, list[Tensor]]:
        """Logits (``B x classes`` or ``B x heads x classes``), plus the ST matrices if asked."""
        mats: list[Tensor] = []
        if self.input_st is not None:
            x, m = self.input_st(x)
            mats.append(m)
        for depth in range(len(self.backbone.stages) + 1):
            st = self.feature_sts[str(depth)] if str(depth) in self.feature_sts else None
            if st is not None:
                x, m = st(x)
                mats.append(m)
            if depth < len(self.backbone.stages):
                x = self.backbone.stages[depth](x)
        logits = self.backbone.head(x)
        return (logits, mats) if return_transforms else logits

    def localization_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters owned by the STs (loc-nets, DL trunk copies); shared SL trunks are excluded."""
        shared = {id(p) for p in self.backbone.parameters()}
        seen: set[int] = set()
        for st in self.spatial_transformers():
            for p in st.parameters():
                if id(p) not in shared and id(p) not in seen:
                    seen.add(id(p))
                    yield p

    def classifier_parameters(self) -> Iterator[nn.Parameter]:
        """The backbone's parameters (including trunks that STN-SL shares with its loc-net)."""
        return self.backbone.parameters()


def st_depths(model: nn.Module) -> list[int]:
    """Depth each ST of ``model`` acts at, in the order of ``model(x, return_transforms=True)``: 0 for an ST on
    the input image (the input ST of DL/SL/iterative models, STN-C0's), X for one on depth-X feature maps;
    ``[]`` for a model without STs. Duck-typed on ``input_st`` / ``feature_sts``."""
    depths = [0] if getattr(model, "input_st", None) is not None else []
    return depths + sorted(int(k) for k in getattr(model, "feature_sts", {}))


def parameter_groups(model: nn.Module, lr: float, loc_lr_multiplier: float | None = None) -> list[dict]:
    """Optimizer parameter groups: the classifier at ``lr``, each ST's own parameters at ``lr * multiplier``.

    The multiplier is ``loc_lr_multiplier`` when given, else each ST's ``lr_multiplier``. Parameters
    shared between an ST and the backbone (STN-SL) train at the classifier's rate.
    """
    if not isinstance(model, STNModel):
        return [{"params": list(model.parameters()), "lr": lr, "name": "all"}]
    groups = [{"params": list(model.classifier_parameters()), "lr": lr, "name": "classifier"}]
    shared = {id(p) for p in model.backbone.parameters()}
    seen: set[int] = set()
    for i, st in enumerate(model.spatial_transformers()):
        params = [p for p in st.parameters() if id(p) not in shared and id(p) not in seen]
        seen.update(id(p) for p in params)
        mult = st.lr_multiplier if loc_lr_multiplier is None else loc_lr_multiplier
        if params:
            groups.append({"params": params, "lr": lr * mult, "name": f"st{i}"})
    return groups
