"""Input-transform kinds: one module per kind, each registered in :mod:`stnlab.data.kinds.base`.

Built in: :mod:`~stnlab.data.kinds.rotation`, :mod:`~stnlab.data.kinds.scale`,
:mod:`~stnlab.data.kinds.translation` (the papers' R, S and T) and :mod:`~stnlab.data.kinds.perspective`.
A kind serves as a data protocol (``--set protocol=NAME``), as an analysis transform (``NAME:VALUE``) and as
the read-out of ``stnlab analyze compensation --kind NAME``. Adding one: a module like ``perspective.py``
(its draw, matrix and read-out, then ``register_kind``) and its import below (docs/architecture.md).
"""

# registering the kinds, in the order they are listed: the papers' first
from stnlab.data.kinds import rotation, scale, translation  # noqa: F401  # isort: skip
from stnlab.data.kinds import perspective  # noqa: F401  # isort: skip
from stnlab.data.kinds.base import TransformKind, content_params, get_kind, kind_names, kinds, register_kind

__all__ = ["TransformKind", "content_params", "get_kind", "kind_names", "kinds", "register_kind"]
