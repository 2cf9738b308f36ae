"""Model registry: ``create_model(name, dataset, **overrides)``, ``list_models(dataset)``, ``DATASETS``.

One file per backbone family (``mnist``, ``svhn``, ``plankton``) registers its data sets; model names are
parsed and assembled in :mod:`stnlab.models.registry`.
"""

from stnlab.models import mnist, plankton, svhn  # noqa: F401  (registers the backbones)
from stnlab.models.registry import DATASETS, DatasetSpec, create_model, list_datasets, list_models

__all__ = ["DATASETS", "DatasetSpec", "create_model", "list_datasets", "list_models"]
