"""stnlab: spatial transformer networks, the KTH papers' experiments, and invariance measurements.

Quick use::

    import stnlab
    model = stnlab.create_model("STN-SL1", "mnist-rot")
    logits, mats = model(images, return_transforms=True)
"""

from stnlab.errors import StnlabError
from stnlab.models import build_stn, create_model, list_datasets, list_models

__version__ = "0.1.0"

__all__ = ["StnlabError", "__version__", "build_stn", "create_model", "list_datasets", "list_models"]
