"""The model registry: a backbone per data-set family is registered; models are assembled by :mod:`.builder`.

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

Model families beyond these names (e.g. the rotation-equivariant ``-eq`` models of
:mod:`stnlab.models.equivariant`) register a :class:`ModelFamily`: the names it owns, the names it lists for a
data set, and how it builds one.

Digits are read as one depth when that depth exists for the data set (``STN-C10`` on plankton) and as
a list of depths otherwise (they must then be strictly increasing).

The facts of a data set (input shape, classes, heads, default loc-net, which backbone) come from its
:class:`~stnlab.data.DataSpec`; ``create_model`` accepts a data set name (built-in, or ``folder:PATH``,
``idx:PATH``, ``npz:FILE``) or a ``DataSpec``. A user's data set gets the authors' MNIST CNN, widened to its
channels and classes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from torch import nn

from stnlab.data import BUILTIN, DataSpec, dataset_names, dataset_spec
from stnlab.errors import StnlabError
from stnlab.models.builder import STOptions, build_stn, model_names
from stnlab.models.pretrained import load_pretrained
from stnlab.nn import Backbone
from stnlab.options import options_of

BACKBONES: dict[str, Callable[[DataSpec], Backbone]] = {}
DATASETS = BUILTIN  # the registered data sets' specs, by name (a live, read-only view of stnlab.data's registry)


@dataclass(frozen=True)
class ModelFamily:
    """Models named beyond the papers' scheme: ``owns(name)``, ``names(spec)`` (listed for a data set),
    ``build(name, spec, st=STOptions)`` (:class:`~stnlab.models.builder.STOptions`) and ``cnn(name)``,
    the name of the plain model (no ST) on the same backbone."""

    owns: Callable[[str], bool]
    names: Callable[[DataSpec], list[str]]
    build: Callable[..., nn.Module]
    cnn: Callable[[str], str]


MODEL_FAMILIES: list[ModelFamily] = []


def register_model_family(family: ModelFamily) -> ModelFamily:
    """Add a :class:`ModelFamily` to what :func:`create_model` builds and :func:`list_models` lists."""
    MODEL_FAMILIES.append(family)
    return family


def register_backbone(family: str) -> Callable:
    """Decorator: register ``fn(spec) -> Backbone`` as the CNN of the data sets whose spec names ``family``."""

    def wrap(fn: Callable[[DataSpec], Backbone]) -> Callable[[DataSpec], Backbone]:
        BACKBONES[family] = fn
        return fn

    return wrap


def resolve_spec(dataset: str | DataSpec, **options: object) -> DataSpec:
    """``dataset`` as a :class:`DataSpec` (``options``: protocol, image_size, strict, cache_dir)."""
    return dataset if isinstance(dataset, DataSpec) else dataset_spec(dataset, **options)


def build_backbone(dataset: str | DataSpec, **options: object) -> Backbone:
    """A fresh CNN of ``dataset`` (its registered backbone, built for its spec)."""
    spec = resolve_spec(dataset, **options)
    return BACKBONES[spec.backbone](spec)


def cnn_of(name: str) -> str:
    """The name of the model without STs on ``name``'s backbone (``"CNN"`` for the papers' names)."""
    owner = next((f for f in MODEL_FAMILIES if f.owns(name)), None)
    return "CNN" if owner is None else owner.cnn(name)


def list_models(dataset: str | DataSpec | None = None) -> list[str]:
    """Concrete model names valid for ``dataset`` (default: the names for ``mnist-rot``)."""
    spec = resolve_spec(dataset or "mnist-rot")
    return model_names(len(build_backbone(spec).stages)) + [n for f in MODEL_FAMILIES for n in f.names(spec)]


def list_datasets() -> list[str]:
    """Names of the registered data sets (the user's own are ``folder:PATH``, ``idx:PATH``, ``npz:FILE``)."""
    return sorted(dataset_names())


DATA_OPTIONS = ("protocol", "image_size", "strict", "cache_dir")  # create_model's keywords for the data set


def create_model(name: str, dataset: str | DataSpec, st: STOptions | None = None, *, pretrained: bool = False,
                 **options: Any) -> nn.Module:
    """Build model ``name`` for ``dataset`` (see the module docstring for names).

    ``st`` / the ST keywords of ``options`` (:class:`~stnlab.models.builder.STOptions`: ``family``, the transform
    family of every ST; ``iterations``, each ST's predictions (iterative alignment; default one pass per listed
    depth); ``loc_net``, the loc-net body, ``mnist``/``small``/``large``/``ndsb`` or a callable, default per
    data set; ``loc_lr_multiplier``, stored on each ST for :func:`stnlab.nn.parameter_groups`;
    ``padding_mode``). The data keywords ``protocol``, ``image_size``, ``strict`` and ``cache_dir`` select the
    data set's variant (see :func:`stnlab.data.make_source`). ``pretrained`` loads the weights shipped with
    the package (:mod:`stnlab.models.pretrained`; offline).
    """
    data = {k: options.pop(k) for k in DATA_OPTIONS if k in options}
    o = options_of(STOptions, st, options, "create_model")
    spec = resolve_spec(dataset, **data)
    st = replace(o, loc_net=o.loc_net or spec.loc_net)
    owner = next((f for f in MODEL_FAMILIES if f.owns(name)), None)
    if owner is not None:
        model = owner.build(name, spec, st=st)
    else:
        model = build_stn(BACKBONES[spec.backbone](spec), spec.input_shape, name, st=st, where=repr(spec.name))
    if pretrained:
        try:
            load_pretrained(model, name, spec.name)
        except RuntimeError as err:  # a state dict of another shape: other family / loc-net / iterations
            raise StnlabError(f"the shipped {name} weights do not fit this model ({str(err).splitlines()[0]}); "
                              "build it with the default family, loc-net and iterations") from None
    return model
