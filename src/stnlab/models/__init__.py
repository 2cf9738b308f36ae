"""Models: ``create_model(name, dataset, **overrides)``, ``list_models(dataset)``, ``build_stn(cnn, ...)``.

One file per backbone family (``mnist``, ``svhn``, ``plankton``) registers its CNN; the facts of each data
set come from its :class:`~stnlab.data.DataSpec`; every model (the papers' and the user's own backbones)
is assembled by :func:`stnlab.models.builder.build_stn`. ``equivariant`` registers a model family of its
own: the rotation-equivariant ``-eq`` / ``-inv`` models on the MNIST CNN's layout (our extension).
"""

from stnlab.models import equivariant, mnist, plankton, svhn  # noqa: F401  (registers the backbones)
from stnlab.models.builder import STOptions, as_backbone, build_stn, model_names
from stnlab.models.equivariant import group_stn
from stnlab.models.registry import DATASETS, build_backbone, cnn_of, create_model, list_datasets, list_models

__all__ = ["DATASETS", "STOptions", "as_backbone", "build_backbone", "build_stn", "cnn_of", "create_model",
           "group_stn", "list_datasets", "list_models", "model_names"]
