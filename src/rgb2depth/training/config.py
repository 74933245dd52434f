"""Training configs: one YAML file per experiment, with ``key=value`` overrides.

A config is a nested dict with these sections (every key has a default in :data:`DEFAULTS`;
unknown keys are an error so that a typo cannot silently fall back to a default)::

    name, seed, output_dir, imports
    model:    name, options, init (checkpoint / model file to start from), strict_init,
              init_include (parts / weight-name prefixes to take from init; empty: all),
              freeze (part names), channels_last
    loss:     name + options, or terms: [{name, weight, options, samples}] (weights normalised
              to sum 1 when ``normalize_weights``: paper 000 Eq. 7; ``samples``: metric |
              relative | all, which images a term sees when relative-depth data is mixed in)
    data:     train / val: lists of {name, <loader kwargs>, select, augment (training items:
              keys replacing data.augment's for that item)}; input_size [H, W];
              augment (handed to rgb2depth.data.transforms.build); cache; num_workers
    optim:    name (adam | adamw | sgd), lr, weight_decay, momentum, betas, nesterov,
              lr_mult ({part or weight-name prefix: factor}: per-part learning rates)
    schedule: name (none | step | multistep | plateau | cosine | exponential) + its options
    train:    epochs, batch_size, max_steps, grad_clip, bf16, threads, log_every, val_every,
              ckpt_every, best_metric, best_mode, image_every, num_vis, stages,
              ema_decay (a moving average of the weights: rgb2depth.training.ema),
              precise_bn (batches over which the saved network's BatchNorm statistics are
              recomputed: rgb2depth.training.precise_bn)
    eval:     protocol, min_depth, max_depth, aggregation, align

Strings may use ``${data}`` (the shared real-data folder, :func:`rgb2depth.paths.
shared_data_dir`), ``${cache}`` (generated data, :func:`rgb2depth.paths.cache_dir`), ``${name}`` (the config's name) and ``${config_dir}``. A config may start
from another with ``base: other.yaml`` (path relative to the config); its keys override the
base's, recursively. Lists (``data.train``, ``loss.terms``, ``train.stages``) are replaced whole,
so a config that changes one item of its base's list says so in ``overrides:``, a mapping of
dotted keys (list items by index, as on the command line; ``+`` appends an item) to values,
applied after the merge::

    base: default_v3_real_ft.yaml
    overrides:
      data.train.6.size: [240, 320]   # only the rendered rooms' size changes
      loss.terms.+: {name: ssi, weight: 0.5}   # one more loss term after the base's
"""

from __future__ import annotations

import copy
import math
import re
from pathlib import Path
from typing import Any

import yaml

DEFAULTS: dict[str, Any] = {
    "name": None,
    "seed": 0,
    "output_dir": "runs/${name}",
    "imports": [],
    "model": {
        "name": None,
        "options": {},
        "init": None,
        "strict_init": True,
        "init_include": [],
        "freeze": [],
        "channels_last": True,
    },
    "loss": {
        "name": None,
        "options": {},
        "terms": None,
        "normalize_weights": True,
    },
    "data": {
        "train": [],
        "val": [],
        "input_size": None,
        "augment": {},
        "val_augment": {},
        "cache": True,
        "cache_dir": None,
        "num_workers": 0,
        "factory": None,
    },
    "optim": {
        "name": "adam",
        "lr": 1e-4,
        "weight_decay": 0.0,
        "momentum": 0.9,
        "betas": [0.9, 0.999],
        "nesterov": False,
        "lr_mult": None,
    },
    "schedule": {
        "name": "none",
        "step_size": 10,
        "milestones": [],
        "gamma": 0.1,
        "factor": 0.1,
        "patience": 2,
        "min_lr": 0.0,
        "t_max": None,
        "metric": None,
    },
    "train": {
        "epochs": 1,
        "batch_size": 8,
        "max_steps": None,
        "grad_clip": None,
        "bf16": False,
        "threads": None,
        "log_every": 10,
        "val_every": 0,
        "ckpt_every": 0,
        "best_metric": "rmse",
        "best_mode": None,
        "image_every": 1,
        "num_vis": 4,
        "tensorboard": True,
        "progress": True,
        "stages": None,
        "val_limit": None,
        "ema_decay": None,
        "precise_bn": None,
    },
    "eval": {
        "protocol": "none",
        "min_depth": None,
        "max_depth": None,
        "aggregation": "per_image",
        "align": None,
    },
}

# Keys whose values are free-form dicts/lists: not checked against DEFAULTS.
_FREE = {
    ("model", "options"),
    ("loss", "options"),
    ("loss", "terms"),
    ("data", "train"),
    ("data", "val"),
    ("data", "augment"),
    ("data", "val_augment"),
    ("train", "stages"),
}

# Keys a stage may override (see :mod:`rgb2depth.training.trainer`).
STAGE_KEYS = {"name", "epochs", "max_steps", "freeze", "train_parts", "optim", "schedule", "loss",
              "batch_size", "model_stage"}


class ConfigError(ValueError):
    """A config file or override is wrong; the message names the file/key and the problem."""


def deep_merge(base: dict, over: dict) -> dict:
    """``over`` on top of ``base`` (dicts merge recursively, anything else replaces).

    Options belong to what they configure: where ``over`` names a different ``name`` (another
    loss, model, optimiser...), the base's ``options`` are dropped, not merged into the new one.
    """
    out = copy.deepcopy(base)
    if "name" in over and over["name"] != out.get("name") and isinstance(out.get("options"), dict):
        out["options"] = {}
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _read_yaml(path: Path, seen: tuple[Path, ...] = ()) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file")
    if path.resolve() in seen:
        raise ConfigError(f"{path}: 'base' chain loops back onto itself")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({e})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a config must be a mapping at the top level")
    base = raw.pop("base", None)
    overrides = raw.pop("overrides", None) or {}
    if not isinstance(overrides, dict):
        raise ConfigError(f"{path}: 'overrides' must map dotted keys to values "
                          f"(e.g. data.train.0.select.repeat: 2), got {overrides!r}")
    if base is not None:
        bpath = (path.parent / base) if not Path(base).is_absolute() else Path(base)
        raw = deep_merge(_read_yaml(bpath, seen + (path.resolve(),)), raw)
    for key, value in overrides.items():
        keys = split_key(str(key), f"{path}: overrides: {key!r}")
        try:
            apply_override(raw, keys, value)
        except ConfigError as e:
            raise ConfigError(f"{path}: {e}") from None
    return raw


def split_key(key: str, where: str) -> list[str]:
    """``"train.epochs"`` -> ``["train", "epochs"]``; an empty key or part is an error naming ``where``."""
    parts = key.split(".")
    if not key or any(not p for p in parts):
        raise ConfigError(f"{where}: empty key")
    return parts


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"train.epochs=3"`` -> (["train", "epochs"], 3); the value is parsed as YAML."""
    if "=" not in text:
        raise ConfigError(f"override {text!r}: expected key=value (e.g. train.epochs=3)")
    key, value = text.split("=", 1)
    keys = split_key(key.strip().lstrip("-"), f"override {text!r}")
    try:
        parsed = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError:
        parsed = value
    return keys, parsed


def apply_override(cfg: dict, keys: list[str], value: Any) -> None:
    d = cfg
    for i, k in enumerate(keys[:-1]):
        if isinstance(d, list):
            try:
                d = d[int(k)]
            except (ValueError, IndexError):
                raise ConfigError(f"override {'.'.join(keys)}: no item {k!r}") from None
            continue
        if k not in d or d[k] is None:
            d[k] = {}
        if not isinstance(d[k], dict | list):
            raise ConfigError(f"override {'.'.join(keys)}: {'.'.join(keys[: i + 1])} is not a section")
        d = d[k]
    last = keys[-1]
    if isinstance(d, list) and last == "+":
        d.append(value)  # data.train.+: {...} lists one more item after the base's
    elif isinstance(d, list):
        try:
            d[int(last)] = value
        except (ValueError, IndexError):
            raise ConfigError(f"override {'.'.join(keys)}: no item {last!r}") from None
    else:
        d[last] = value


def _check_keys(cfg: dict, ref: dict, where: tuple[str, ...], source: str) -> None:
    for k, v in cfg.items():
        if k not in ref:
            loc = ".".join(where + (k,))
            raise ConfigError(f"{source}: unknown config key {loc!r} (known in this section: "
                              f"{', '.join(sorted(ref))})")
        if (*where, k) in _FREE:
            continue
        if isinstance(ref[k], dict):
            if not isinstance(v, dict):
                raise ConfigError(f"{source}: {'.'.join(where + (k,))} must be a section (a mapping "
                                  f"of keys: {', '.join(sorted(ref[k]))}), got {v!r}")
            _check_keys(v, ref[k], where + (k,), source)


# Value types of the keys whose default is None (the others take their default's type).
_NUMBER, _INTEGER = "a number", "an integer"
_OPTIONAL = {
    ("train", "max_steps"): _INTEGER,
    ("train", "grad_clip"): _NUMBER,
    ("train", "threads"): _INTEGER,
    ("train", "val_limit"): _INTEGER,
    ("train", "ema_decay"): _NUMBER,
    ("train", "precise_bn"): _INTEGER,
    ("schedule", "t_max"): _INTEGER,
    ("eval", "min_depth"): _NUMBER,
    ("eval", "max_depth"): _NUMBER,
}
# Keys whose value may be one of several types: checked by validate() or their consumer.
_UNTYPED = {("data", "cache"), ("data", "input_size"), ("train", "best_mode"), ("schedule", "metric"),
            ("model", "init"), ("data", "cache_dir"), ("data", "factory"), ("eval", "align"), ("name",),
            ("output_dir",), ("train", "stages")}


def _number(v: Any) -> float | None:
    """``v`` as a float when it is a number or numeric text (YAML reads ``1e-4`` as text)."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return None
    return None


def _check_types(cfg: dict, ref: dict, where: tuple[str, ...], source: str) -> None:
    """Every scalar key holds its default's kind of value: a wrong type is named, not met later
    as ``could not convert string to float`` deep in the trainer."""
    for k, default in ref.items():
        key = where + (k,)
        if key in _FREE or key in _UNTYPED or k not in cfg:
            continue
        v = cfg[k]
        if isinstance(default, dict):
            _check_types(v, default, key, source)
            continue
        want = _OPTIONAL.get(key)
        if default is None and (want is None or v is None):
            continue
        if want is None:
            want = ("true or false" if isinstance(default, bool) else _INTEGER if isinstance(default, int)
                    else _NUMBER if isinstance(default, float) else "a string" if isinstance(default, str)
                    else "a list" if isinstance(default, list) else None)
        x = _number(v)
        ok = {"true or false": isinstance(v, bool), _NUMBER: x is not None and math.isfinite(x),
              _INTEGER: x is not None and math.isfinite(x) and x == int(x), "a string": isinstance(v, str),
              "a list": isinstance(v, list)}.get(want, True)
        if not ok:
            raise ConfigError(f"{source}: {'.'.join(key)} must be {want}, got {v!r}")


_VAR = re.compile(r"\$\{(\w+)\}")


def substitute(obj: Any, variables: dict[str, str], source: str) -> Any:
    """``obj`` (nested dicts/lists/strings) with every ``${name}`` replaced from ``variables``; an
    unknown or unset variable is a :class:`ConfigError` naming ``source``."""
    if isinstance(obj, dict):
        return {k: substitute(v, variables, source) for k, v in obj.items()}
    if isinstance(obj, list):
        return [substitute(v, variables, source) for v in obj]
    if isinstance(obj, str):
        def rep(m: re.Match) -> str:
            name = m.group(1)
            if name not in variables or variables[name] is None:
                if name == "data":
                    raise ConfigError(
                        f"{source}: '${{data}}' is used but the shared data folder was not found "
                        "(set RGB2DEPTH_DATA to its path)")
                raise ConfigError(f"{source}: unknown variable ${{{name}}}")
            return str(variables[name])

        return _VAR.sub(rep, obj)
    return obj


def load_config(path: str | Path | None, overrides: list[str] | tuple[str, ...] = (),
                base: dict | None = None) -> dict:
    """Read ``path`` (or start from ``base``), apply ``overrides``, fill defaults, check keys.

    Returns the complete config dict (plain YAML types), ready for :class:`Trainer`.
    """
    from rgb2depth.paths import cache_dir, shared_data_dir

    source = str(path) if path is not None else "<config>"
    raw = _read_yaml(Path(path)) if path is not None else {}
    if base is not None:
        raw = deep_merge(base, raw)
    for o in overrides:
        keys, value = parse_override(o)
        apply_override(raw, keys, value)
    _check_keys(raw, DEFAULTS, (), source)
    cfg = deep_merge(DEFAULTS, raw)
    _check_types(cfg, DEFAULTS, (), source)
    if not cfg["name"]:
        cfg["name"] = Path(path).stem if path is not None else "run"
    data_dir = shared_data_dir()
    variables = {
        "data": str(data_dir) if data_dir is not None else None,
        "cache": str(cache_dir()),
        "name": cfg["name"],
        "config_dir": str(Path(path).resolve().parent) if path is not None else ".",
    }
    cfg = substitute(cfg, variables, source)
    validate(cfg, source)
    return cfg


def _sample_kinds() -> tuple[str, ...]:
    # imported only when a config names them: rgb2depth.losses loads torch
    from rgb2depth.losses import SAMPLE_KINDS

    return SAMPLE_KINDS


def validate(cfg: dict, source: str = "<config>") -> None:
    """Semantic checks with one-line messages naming the key."""
    if not cfg["model"]["name"]:
        raise ConfigError(f"{source}: model.name is required")
    if cfg["model"].get("init_include") and not cfg["model"].get("init"):
        raise ConfigError(f"{source}: model.init_include is set but model.init (the file to take them from) is not")
    if not all(isinstance(n, str) and n for n in cfg["model"].get("init_include") or []):
        raise ConfigError(f"{source}: model.init_include must list part names or weight-name prefixes, "
                          f"got {cfg['model']['init_include']!r}")
    if not cfg["loss"]["name"] and not cfg["loss"]["terms"]:
        raise ConfigError(f"{source}: loss.name or loss.terms is required")
    if cfg["loss"]["terms"] is not None:
        for t in cfg["loss"]["terms"]:
            if not isinstance(t, dict) or "name" not in t:
                raise ConfigError(f"{source}: each loss.terms item needs a name (got {t!r})")
            if t.get("samples") is not None and t["samples"] not in _sample_kinds():
                raise ConfigError(f"{source}: loss.terms {t['name']!r}: samples must be one of "
                                  f"{', '.join(_sample_kinds())} (got {t['samples']!r})")
    if not cfg["data"]["train"] and not cfg["data"]["factory"]:
        raise ConfigError(f"{source}: data.train lists no dataset")
    for split in ("train", "val"):
        items = cfg["data"][split]
        if isinstance(items, dict):
            cfg["data"][split] = items = [items]
        for it in items:
            if not isinstance(it, dict) or "name" not in it:
                raise ConfigError(f"{source}: each data.{split} item needs a name (got {it!r})")
    size = cfg["data"]["input_size"]
    if size is not None and (not isinstance(size, list | tuple) or len(size) != 2):
        raise ConfigError(f"{source}: data.input_size must be [H, W] (got {size!r})")
    for key in ("options",):
        for section in ("model", "loss"):
            if cfg[section][key] is not None and not isinstance(cfg[section][key], dict):
                raise ConfigError(f"{source}: {section}.{key} must be a mapping of option: value, "
                                  f"got {cfg[section][key]!r}")
    lr = _number(cfg["optim"]["lr"])
    if not (lr is not None and lr > 0):
        raise ConfigError(f"{source}: optim.lr must be a positive number, got {cfg['optim']['lr']!r}")
    t = cfg["train"]
    for k in ("epochs", "batch_size"):
        if not isinstance(t[k], int) or t[k] < 1:
            raise ConfigError(f"{source}: train.{k} must be a positive integer (got {t[k]!r})")
    ema = _number(t["ema_decay"]) if t["ema_decay"] is not None else None
    if t["ema_decay"] is not None and not (ema is not None and 0.0 <= ema < 1.0):
        raise ConfigError(f"{source}: train.ema_decay must be a number in [0, 1) or null (got {t['ema_decay']!r})")
    pbn = t["precise_bn"]
    if pbn is not None and not (isinstance(pbn, int) and not isinstance(pbn, bool) and pbn >= 1):
        raise ConfigError(f"{source}: train.precise_bn must be a positive number of batches or null "
                          f"(got {t['precise_bn']!r})")
    mult = cfg["optim"].get("lr_mult")
    if mult is not None and not (isinstance(mult, dict) and all(
            isinstance(v, int | float) and not isinstance(v, bool) and v > 0 for v in mult.values())):
        raise ConfigError(f"{source}: optim.lr_mult must map part names to positive numbers (got {mult!r})")
    if cfg["optim"]["name"] not in ("adam", "adamw", "sgd"):
        raise ConfigError(f"{source}: optim.name must be adam, adamw or sgd (got {cfg['optim']['name']!r})")
    if cfg["schedule"]["name"] not in ("none", "step", "multistep", "plateau", "cosine", "exponential"):
        raise ConfigError(f"{source}: schedule.name {cfg['schedule']['name']!r} is not known")
    if t["stages"] is not None:
        if not isinstance(t["stages"], list) or not t["stages"]:
            raise ConfigError(f"{source}: train.stages must be a non-empty list")
        for i, st in enumerate(t["stages"]):
            if not isinstance(st, dict) or "name" not in st:
                raise ConfigError(f"{source}: train.stages[{i}] needs a name")
            bad = set(st) - STAGE_KEYS
            if bad:
                raise ConfigError(f"{source}: train.stages[{i}] has unknown keys {sorted(bad)} "
                                  f"(known: {sorted(STAGE_KEYS)})")


def check_options(cfg: dict, source: str = "<config>") -> None:
    """Check the options the config hands to registered models, losses and optimisers.

    Every ``model.options`` / ``loss.options`` / ``loss.terms[i].options`` key (also inside
    ``train.stages``) must be a parameter of the registered constructor, with a value of its
    annotated type (:meth:`rgb2depth.registry.Registry.check_options`). Plugins named in
    ``imports`` are imported first (they register their own models and losses).
    ``module:function`` names are not checked. Errors are one ``ConfigError`` line naming the
    file and key.
    """
    import importlib

    from rgb2depth import losses, models

    for mod in cfg.get("imports") or []:
        try:
            importlib.import_module(mod)
        except ImportError as e:
            raise ConfigError(f"{source}: imports: cannot import {mod!r} ({e})") from None

    def check(check_fn, name, options, key: str) -> None:
        if not name or ":" in str(name):
            return
        try:
            check_fn(name, dict(options or {}))
        except KeyError as e:
            raise ConfigError(f"{source}: {key}: {e.args[0] if e.args else e}") from None
        except ValueError as e:
            raise ConfigError(f"{source}: {key}.options: {e}") from None

    def check_loss(lcfg: dict, where: str) -> None:
        if lcfg.get("terms"):
            for i, term in enumerate(lcfg["terms"]):
                check(losses.LOSSES.check_options, term.get("name"), term.get("options"), f"{where}.terms[{i}]")
        elif lcfg.get("name"):
            check(losses.LOSSES.check_options, lcfg["name"], lcfg.get("options"), where)

    check(models.check_options, cfg["model"]["name"], cfg["model"]["options"], "model")
    check_loss(cfg["loss"], "loss")
    for i, st in enumerate(cfg["train"].get("stages") or []):
        if isinstance(st.get("loss"), dict):
            check_loss({**cfg["loss"], **st["loss"]}, f"train.stages[{i}].loss")
        optim = st.get("optim")
        if optim is not None and not isinstance(optim, dict):
            raise ConfigError(f"{source}: train.stages[{i}].optim must be a section, got {optim!r}")


def dump(cfg: dict) -> str:
    return yaml.safe_dump(cfg, sort_keys=False)
