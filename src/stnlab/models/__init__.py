"""Models: ``create_model(name, dataset, **overrides)``, ``list_models(dataset)``, ``build_stn(cnn, ...)``.

One file per backbone family (``mnist``, ``svhn``, ``plankton``) registers its CNN; the facts of each data
set come from its :class:`~stnlab.data.DataSpec`; every model (the papers' and the user's own backbones)
is assembled by :func:`stnlab.models.builder.build_stn`.
"""

from stnlab.models import mnist, plankton, svhn  # noqa: F401  (registers the backbones)
from stnlab.models.builder import as_backbone, build_stn, model_names
from stnlab.models.registry import DATASETS, build_backbone, create_model, list_datasets, list_models

__all__ = ["DATASETS", "as_backbone", "build_backbone", "build_stn", "create_model", "list_datasets",
           "list_models", "model_names"]
