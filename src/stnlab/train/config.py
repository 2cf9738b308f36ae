"""The run configuration: a frozen dataclass built from per-data-set defaults, a file, and overrides.

Precedence (later wins): the data set's defaults (:func:`stnlab.data.dataset_defaults`) < a YAML/JSON file
(``--config``) < the CLI flags (``--model``, ``--dataset``, ``--epochs``, ``--seed``) < ``--set key=value``.
Every key is a field of :class:`RunConfig`; an unknown key or a bad value raises a
:class:`~stnlab.errors.StnlabError` that lists the valid keys (or the valid values).

Every field declares its **role** where it is defined (``_key(ROLE, default)``); the key lists that
resuming, ``stnlab reproduce`` and the committed results need are derived from the roles
(:func:`keys_with`), never typed again:

* ``cell`` -- which run it is (model, data set, seed): fixed for the run's life; not part of the recipe a
  results table records;
* ``invariant`` -- what the run computes, fixed for its life (a resume refuses a change);
* ``recipe`` -- what the run computes, changeable on resume only with ``--force-recipe`` (recorded in the run
  folder) -- :data:`stnlab.train.loop.RECIPE_KEYS`;
* ``output`` -- what is validated and recorded (so which checkpoint is best): free on resume;
* ``host`` -- where and how fast it runs, never what it computes: free on resume, not part of a budget's
  folder name nor of the recipe :func:`stnlab.experiments.check_same_recipe` compares
  (:data:`stnlab.experiments.reproduce.HOST_KEYS`).

A resume may change ``host`` and ``output`` keys (:data:`stnlab.train.loop.HOST_RESUME_KEYS`); the recipe
in ``results/<table>.json`` is a run's config without its ``cell`` and ``host`` keys.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from stnlab.data import BUILTIN, check_dataset, dataset_defaults, protocols
from stnlab.errors import StnlabError
from stnlab.geometry import FAMILIES
from stnlab.models.locnets import LOC_BODIES
from stnlab.train.precision import PRECISIONS

OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("step", "constant", "cosine")
DEVICES = ("auto", "cpu", "cuda")
PADDING_MODES = ("zeros", "border", "reflection")  # grid_sample's
CELL, INVARIANT, RECIPE, OUTPUT, HOST = ROLES = ("cell", "invariant", "recipe", "output", "host")


def _key(role: str, default: Any = dataclasses.MISSING) -> Any:
    """A :class:`RunConfig` field of ``role`` (one of :data:`ROLES`) with ``default``."""
    return field(default=default, metadata={"role": role})


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines one training run (saved as ``config.json`` in the run folder).

    ``steps`` (when set) overrides ``epochs``: training stops after that many optimizer steps.
    ``milestones`` are fractions of the total number of steps at which the step schedule multiplies
    the learning rate by ``lr_decay``. ``batch_size`` is the global batch (split evenly over ranks).
    ``theta_bound`` is the guard: a transform matrix entry with ``|entry| > theta_bound`` (or not
    finite) stops the run. ``val_every``/``ckpt_every`` count optimizer steps (0: only at epoch ends).
    ``val_samples`` > 0 validates on the first that many validation samples only (0: all).
    ``prefetch`` batches are rendered ahead in a background thread (0: render inline).
    ``threads`` 0 means all cores (divided among the processes of a machine under torchrun).
    ``precision`` ``bf16`` runs the forward passes under autocast (see :mod:`stnlab.train.precision`).
    ``guard_every``: the guard is read on the host every that many steps (and before every checkpoint
    and record); it is computed on the device at every step, so the step it names is exact.
    ST diagnostics (docs/training.md): ``st_warn_after`` consecutive validations before an ST is reported
    as not moving / collapsing; ``st_identity_weight`` > 0 adds ``weight * ||M - I||^2`` per ST to the loss;
    ``st_log_scale_bound`` > 0 adds ``relu(|log-scale| - bound)^2`` per ST (a soft bound on the zoom);
    ``st_grid_every`` > 0 writes ``st_grid_epochNNN.png`` every that many epochs and at the last step (0: never).
    ``dataset`` is a built-in name or ``folder:PATH`` / ``idx:PATH`` / ``npz:FILE``; ``protocol``
    (none = null, or a transform kind: rotation, scale, translation, perspective), ``image_size`` (resize to
    N x N) and ``strict`` (refuse unreadable image files) select its variant (:func:`stnlab.data.make_source`).
    ``grad_clip`` > 0 clips the norm of the whole gradient; ``loc_grad_clip`` > 0 clips the norm of the
    loc-nets' own parameters' gradient (the ``st*`` parameter groups, before ``grad_clip``), so a loc-net's
    large gradient does not shrink the classifier's steps.
    ``transform_warmup`` > 0 ramps the training split's protocol in over that many epochs (epoch ``e`` at
    amplitude ``min(1, e / N)``: epoch 0 untransformed; validation and test stay at the full protocol).
    ``augment_rotation`` (degrees, 0..180) narrows the rotation of a data set's own augmentation (plankton:
    ``±180``) to ``±augment_rotation``; none keeps the data set's range.
    ``lr_warmup`` > 0 ramps the learning rate linearly from ``lr / steps`` to the schedule's value over that
    many epochs (counted in steps, so a fraction of an epoch works); the schedule itself is unchanged.
    ``chance_stop`` > 0 stops the run (exit 2) when that many validations in a row sit at chance (a
    collapsed run, e.g. a far too large ``lr``); 0 trains on regardless (``stnlab train --no-chance-stop``).
    """

    model: str = _key(CELL)
    dataset: str = _key(CELL)
    protocol: str | None = _key(INVARIANT, None)
    image_size: int | None = _key(INVARIANT, None)
    strict: bool = _key(INVARIANT, False)
    family: str = _key(INVARIANT, "affine")
    iterations: int | None = _key(INVARIANT, None)
    loc_net: str | None = _key(INVARIANT, None)
    padding_mode: str = _key(INVARIANT, "zeros")
    optimizer: str = _key(INVARIANT, "sgd")
    lr: float = _key(RECIPE, 0.01)
    momentum: float = _key(RECIPE, 0.9)
    weight_decay: float = _key(RECIPE, 0.0)
    loc_lr_multiplier: float = _key(RECIPE, 1.0)
    schedule: str = _key(INVARIANT, "step")
    milestones: tuple[float, ...] = _key(INVARIANT, (0.5, 0.75))
    lr_decay: float = _key(INVARIANT, 0.1)
    lr_warmup: float = _key(INVARIANT, 0.0)
    grad_clip: float = _key(RECIPE, 0.0)
    loc_grad_clip: float = _key(RECIPE, 0.0)
    batch_size: int = _key(INVARIANT, 256)
    epochs: int = _key(RECIPE, 50)
    steps: int | None = _key(RECIPE, None)
    val_every: int = _key(OUTPUT, 0)
    ckpt_every: int = _key(HOST, 500)
    eval_batch_size: int = _key(HOST, 500)
    val_samples: int = _key(OUTPUT, 0)
    seed: int = _key(CELL, 0)
    data_seed: int = _key(INVARIANT, 0)
    transform_warmup: float = _key(INVARIANT, 0.0)
    augment_rotation: float | None = _key(INVARIANT, None)
    threads: int = _key(HOST, 0)
    channels_last: bool = _key(INVARIANT, True)
    prefetch: int = _key(HOST, 0)
    device: str = _key(HOST, "auto")
    theta_bound: float = _key(RECIPE, 1e3)
    guard_every: int = _key(HOST, 50)
    precision: str = _key(INVARIANT, "fp32")
    st_warn_after: int = _key(HOST, 3)
    st_identity_weight: float = _key(INVARIANT, 0.0)
    st_log_scale_bound: float = _key(INVARIANT, 0.0)
    st_grid_every: int = _key(HOST, 5)
    chance_stop: int = _key(HOST, 5)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (tuples become lists)."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()}

    def data_options(self) -> dict[str, Any]:
        """The data set options (``protocol``, ``image_size``, ``strict``) for ``make_source``/``create_model``."""
        return {"protocol": self.protocol or "none", "image_size": self.image_size, "strict": self.strict}

    def replace(self, **changes: Any) -> RunConfig:
        """A validated copy with ``changes`` applied."""
        return build_config(self.to_dict(), changes)


KEYS = tuple(f.name for f in fields(RunConfig))
ROLE_OF: dict[str, str] = {f.name: f.metadata.get("role", "") for f in fields(RunConfig)}


def keys_with(*roles: str) -> tuple[str, ...]:
    """The config keys of the given roles (:data:`ROLES`), in the order of :class:`RunConfig`'s fields."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown role(s) {sorted(unknown)}; valid: {', '.join(ROLES)}")
    return tuple(k for k, role in ROLE_OF.items() if role in roles)
_HINTS = typing.get_type_hints(RunConfig)


def _valid_keys() -> str:
    return ", ".join(KEYS)


def parse_scalar(text: str) -> Any:
    """A value written in a file or ``--set``: JSON if it parses (numbers, true/false, null, lists), else text."""
    text = text.strip()
    if text.lower() in ("none", "null", "~", ""):
        return None
    if text.lower() in ("true", "yes", "on"):
        return True
    if text.lower() in ("false", "no", "off"):
        return False
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text.strip("'\"")


def _coerce(key: str, value: Any) -> Any:
    """Convert ``value`` to the type of field ``key``; StnlabError on mismatch."""
    hint = _HINTS[key]
    args = typing.get_args(hint)
    optional = (typing.get_origin(hint) in (typing.Union, types.UnionType)) and type(None) in args
    base = next((a for a in args if a is not type(None)), hint) if optional else hint
    if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
        if optional:
            return None
        raise StnlabError(f"config key {key!r} cannot be empty; give a {getattr(base, '__name__', base)}")
    if isinstance(value, str) and base is not str:
        value = parse_scalar(value)
    try:
        if typing.get_origin(base) is tuple:
            items = value.split(",") if isinstance(value, str) else value
            if isinstance(items, (int, float)):
                items = [items]
            return tuple(float(parse_scalar(str(v))) for v in items)
        if base is bool:
            if isinstance(value, bool) or value in (0, 1):
                return bool(value)
            raise ValueError
        if base is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if base is float:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if base is str:
            if not isinstance(value, str):
                raise ValueError
            return value
    except (TypeError, ValueError):
        pass
    name = "list of numbers" if typing.get_origin(base) is tuple else base.__name__
    raise StnlabError(f"config key {key!r}: {value!r} is not a valid {name}; e.g. --set {key}=...")


def _check(cfg: RunConfig) -> None:
    """Range and choice checks; each failure names the key and the valid values."""
    def bad(key: str, why: str) -> StnlabError:
        return StnlabError(f"config key {key!r} = {getattr(cfg, key)!r}: {why}")

    check_dataset(cfg.dataset, cfg.protocol or "none", cfg.image_size)
    for key, choices in (("optimizer", OPTIMIZERS), ("schedule", SCHEDULES), ("device", DEVICES),
                         ("precision", PRECISIONS), ("padding_mode", PADDING_MODES), ("family", tuple(FAMILIES)),
                         ("loc_net", (None, *LOC_BODIES))):
        if getattr(cfg, key) not in choices:
            raise bad(key, f"valid: {', '.join(str(c) for c in choices if c is not None)} (--set {key}=...)")
    positive = ("lr", "batch_size", "epochs", "eval_batch_size", "theta_bound", "lr_decay", "guard_every",
                "st_warn_after")
    for key in positive:
        value = getattr(cfg, key)
        if not (value > 0 and math.isfinite(value)):
            raise bad(key, "must be a positive number")
    for key in ("momentum", "weight_decay", "grad_clip", "loc_grad_clip", "val_every", "ckpt_every", "threads",
                "loc_lr_multiplier", "seed", "data_seed", "val_samples", "prefetch", "st_identity_weight",
                "st_log_scale_bound", "st_grid_every", "transform_warmup", "lr_warmup", "chance_stop"):
        value = getattr(cfg, key)
        if not (value >= 0 and math.isfinite(value)):
            raise bad(key, "must be >= 0")
    for key in ("seed", "data_seed"):
        if getattr(cfg, key) >= 2**63:  # torch.manual_seed takes a 64-bit integer
            raise bad(key, "must be below 2**63")
    protocol = cfg.protocol or (BUILTIN[cfg.dataset].protocol if cfg.dataset in BUILTIN else "none")
    augmented = cfg.dataset in BUILTIN and BUILTIN[cfg.dataset].augmented
    if cfg.transform_warmup > 0 and protocol == "none" and not augmented:
        raise bad("transform_warmup", "needs a transformed protocol or an augmented data set (plankton, "
                  "mnist-rot, mnist-scale, mnist-trans or "
                  f"--set protocol={'|'.join(protocols()[1:])}); use 0 for this data set")
    if cfg.augment_rotation is not None and not (augmented and 0 <= cfg.augment_rotation <= 180):
        raise bad("augment_rotation", "must be in 0..180 (degrees) and limits only a data set's own "
                  "augmentation (plankton); leave it unset (none) otherwise")
    if cfg.steps is not None and cfg.steps < 1:
        raise bad("steps", "must be >= 1 (or none to train for 'epochs')")
    if cfg.iterations is not None and cfg.iterations < 1:
        raise bad("iterations", "must be >= 1 (or none)")
    if any(not 0 < m < 1 for m in cfg.milestones) or list(cfg.milestones) != sorted(cfg.milestones):
        raise bad("milestones", "must be increasing fractions of the run in (0, 1), e.g. 0.5,0.75")


def build_config(*layers: Mapping[str, Any]) -> RunConfig:
    """Merge override ``layers`` (later wins) over the defaults of their data set and validate.

    ``model`` and ``dataset`` must be given by some layer. Raises StnlabError on unknown keys,
    bad values, or missing model/dataset.
    """
    merged: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            if key not in KEYS:
                raise StnlabError(f"unknown config key {key!r}; valid keys: {_valid_keys()}")
            merged[key] = value
    for key in ("model", "dataset"):
        if merged.get(key) in (None, ""):
            raise StnlabError(f"no {key} given; pass --{key} (or set it in the --config file)")
    dataset = str(merged["dataset"])
    values = {**dataset_defaults(dataset), **merged}
    cfg = RunConfig(**{k: _coerce(k, v) for k, v in values.items()})
    _check(cfg)
    return cfg


def parse_sets(items: Iterable[str]) -> dict[str, Any]:
    """``["lr=0.1", "steps=100"]`` -> ``{"lr": "0.1", "steps": "100"}`` (typed later by :func:`build_config`)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise StnlabError(f"--set {item!r} is not key=value; e.g. --set lr=0.001 (keys: {_valid_keys()})")
        if key not in KEYS:
            raise StnlabError(f"unknown config key {key!r} in --set; valid keys: {_valid_keys()}")
        out[key] = value
    return out


__all__ = ["KEYS", "ROLES", "ROLE_OF", "RunConfig", "build_config", "keys_with", "parse_scalar",
           "parse_sets"]
