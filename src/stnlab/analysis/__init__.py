"""The theory made measurable: can spatial transforms of CNN feature maps undo input transforms?

The KTH papers prove that a spatial transform ``T_g`` of CNN feature maps cannot align the maps of a
transformed image ``T_h f`` with those of ``f`` — except for translations, and for rotations/reflections
when the filters are invariant to them; when ``T_h`` has an eigenvalue of modulus != 1 (a scaling) no
non-trivial network allows it. This package measures that on real networks and images:

* :func:`alignment_residual` — per depth, transform and image: the residual without alignment, with the
  analytic inverse, and at the optimum over a transform family (batched Levenberg-Marquardt from two starts);
  with a ``channel_action`` (:class:`RegularFieldAction`) also of "spatial transform + channel action";
* :func:`filter_check`, :func:`filter_noninvariance`, :func:`two_channel_example` — the single-layer
  theorem on random, 90-degree-symmetric and isotropic filters, and the "W"/"M" channel-swap example;
* :func:`compensation` — how much a trained ST's predicted transform undoes known input transforms;
* :mod:`stnlab.analysis.figures` — PNG figures and JSON numbers.

Everything takes tensors and a network (an stnlab model, an ``nn.Sequential`` or a list of stages);
nothing here trains or loads runs (that is :mod:`stnlab.train`, used by the CLI).
"""

from stnlab.analysis.alignment import AlignmentResult, align_maps, alignment_residual
from stnlab.analysis.channel_action import RegularFieldAction, parse_channel_action
from stnlab.analysis.compensation import (
    CompensationResult,
    aligned_views,
    circular_correlation,
    class_stds,
    compensation,
    st_depths,
)
from stnlab.analysis.filters import (
    FILTER_KINDS,
    conv_layer,
    filter_check,
    filter_noninvariance,
    make_filters,
    radial_filters,
    random_filters,
    symmetrize_c4,
    two_channel_example,
    w_filter,
)
from stnlab.analysis.transforms import InputTransform, parse_transform, parse_transforms
from stnlab.nn.layers import LayerGeometry, feature_maps, layer_geometries, stages_of

__all__ = [
    "FILTER_KINDS",
    "AlignmentResult",
    "CompensationResult",
    "InputTransform",
    "LayerGeometry",
    "RegularFieldAction",
    "align_maps",
    "aligned_views",
    "alignment_residual",
    "circular_correlation",
    "class_stds",
    "compensation",
    "conv_layer",
    "feature_maps",
    "filter_check",
    "filter_noninvariance",
    "layer_geometries",
    "make_filters",
    "parse_channel_action",
    "parse_transform",
    "parse_transforms",
    "radial_filters",
    "random_filters",
    "st_depths",
    "stages_of",
    "symmetrize_c4",
    "two_channel_example",
    "w_filter",
]
