"""stnlab: spatial transformer networks, the KTH papers' experiments, and invariance measurements."""

from stnlab.errors import StnlabError

__version__ = "0.1.0"

__all__ = ["StnlabError", "__version__"]
