"""What a training config names, built: models, losses, optimisers, schedules, frozen parts,
datasets, and the checks run before the first step.

:class:`rgb2depth.training.trainer.Trainer` assembles a run from these; each turns one config
section into an object, with a one-line error naming the key when the section is wrong.
"""

from __future__ import annotations

import functools
import importlib
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from rgb2depth.training.data import build_dataset


def import_plugins(names: list[str]) -> None:
    for n in names or []:
        importlib.import_module(n)


def _resolve(name: str, registry_create, **kw):
    if ":" in name:
        from rgb2depth.training.data import import_object

        factory = import_object(name)
    else:
        factory = functools.partial(registry_create, name)
    try:
        return factory(**kw)
    except TypeError as e:  # a wrong option: one line naming it, not a traceback
        if "argument" not in str(e):
            raise
        from rgb2depth.training.config import ConfigError

        raise ConfigError(f"{name!r} with options {kw}: {e}") from None


def build_loss(lcfg: dict) -> nn.Module:
    """``{name, options}`` or ``{terms: [{name, weight, options}], normalize_weights}``."""
    from rgb2depth import losses

    if lcfg.get("terms"):
        terms = []
        for t in lcfg["terms"]:
            opts = dict(t.get("options") or {})
            terms.append((t["name"], float(t.get("weight", 1.0)), _resolve(t["name"], losses.create, **opts),
                          t.get("samples")))
        return losses.WeightedSum(terms, normalize=bool(lcfg.get("normalize_weights", True)))
    return _resolve(lcfg["name"], losses.create, **dict(lcfg.get("options") or {}))


def build_model(mcfg: dict, load_pretrained: bool = True) -> nn.Module:
    """The configured network. ``load_pretrained=False`` when every weight is about to come
    from a file (a resumed checkpoint, a strict ``model.init``): its pretrained-backbone
    options are then not read (``models.create(..., load_pretrained=False)``)."""
    from rgb2depth import models

    options = dict(mcfg.get("options") or {})
    if ":" in mcfg["name"]:
        return _resolve(mcfg["name"], models.create, **options)
    return models.create(mcfg["name"], load_pretrained=load_pretrained, **options)


def init_prefixes(model: nn.Module, names: list[str] | None) -> list[str]:
    """``model.init_include`` names -> state_dict key prefixes: a part of ``model.parts()``
    (its module's name in the model) or a key prefix such as ``decoder.blocks.0``."""
    parts = model_parts(model)
    module_names = {id(m): n for n, m in model.named_modules()}
    keys = list(model.state_dict())
    out = []
    for n in names or []:
        if n in parts and module_names.get(id(parts[n])):
            out.append(module_names[id(parts[n])])
        elif any(is_under(k, n) for k in keys):
            out.append(n)
        else:
            raise ValueError(f"model.init_include: {n!r} is not a part of the model (parts: "
                             f"{', '.join(parts) or 'none'}) nor a prefix of its weight names")
    return out


def is_under(key: str, prefix: str) -> bool:
    """Whether the weight / module name ``key`` is ``prefix`` or lies inside it (``decoder``
    holds ``decoder.blocks.0.weight``, not ``decoder2.weight``)."""
    return key == prefix or key.startswith(prefix + ".")


def _under(key: str, prefixes: list[str]) -> bool:
    return not prefixes or any(is_under(key, p) for p in prefixes)


def load_init_weights(model: nn.Module, path: str, strict: bool = True, include: list[str] | None = None) -> dict:
    """Weights from a model file, training checkpoint or bare state_dict file
    (``weights_only=True``) into ``model``; errors are one line naming the file.

    ``include``: parts (``model.parts()``) or weight-name prefixes to take from the file (for
    instance ``["decoder"]``: a decoder trained elsewhere on a freshly built, ImageNet-pretrained
    backbone); the tensors outside them keep their built values. None or empty: all of them.
    ``strict``: every selected tensor of the model must be in the file with the same shape, and
    the file may hold no other tensor under the selection (else a one-line ``ValueError``);
    ``strict=False`` copies the tensors whose names and shapes match and skips the rest.

    Returns the report ``{"loaded": [names], "skipped": {name: reason}, "not_included": n,
    "include": [prefixes], "tensors": n}`` (``tensors``: the model's count): reasons ``missing from the file``, ``not in the model`` and
    ``shape <file> in the file, <model> in the model``.
    """
    from rgb2depth.fileio import torch_load

    p = Path(path)
    rec = torch_load(p, "model.init file")
    if isinstance(rec, dict) and isinstance(rec.get("model"), dict) and "state_dict" in rec["model"]:
        rec = rec["model"]
    sd = rec["state_dict"] if isinstance(rec, dict) and "state_dict" in rec else rec
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise ValueError(f"{p}: model.init file holds no state_dict")
    prefixes = init_prefixes(model, include)
    own = model.state_dict()
    selected = [k for k in own if _under(k, prefixes)]
    skipped: dict[str, str] = {}
    for k in selected:
        if k not in sd:
            skipped[k] = "missing from the file"
        elif tuple(sd[k].shape) != tuple(own[k].shape):
            skipped[k] = f"shape {tuple(sd[k].shape)} in the file, {tuple(own[k].shape)} in the model"
    for k in sd:
        if k not in own and _under(k, prefixes):
            skipped[k] = "not in the model"
    if strict and skipped:
        name = getattr(model, "rgb2depth_name", type(model).__name__)
        first = sorted(skipped)[:3]
        raise ValueError(f"{p} (model.init): weights do not fit {name}: {len(skipped)} tensor(s) "
                         f"({'; '.join(f'{k}: {skipped[k]}' for k in first)}{'; ...' if len(skipped) > 3 else ''})"
                         + ("" if not prefixes else f" under init_include {include}"))
    loaded = [k for k in selected if k not in skipped]
    try:
        model.load_state_dict({**own, **{k: sd[k] for k in loaded}})
    except (RuntimeError, TypeError) as e:  # dtype or non-tensor values
        raise ValueError(f"{p} (model.init): weights do not fit: {str(e).strip().splitlines()[0]}") from None
    return {"loaded": loaded, "skipped": dict(sorted(skipped.items())), "not_included": len(own) - len(selected),
            "include": prefixes, "tensors": len(own)}


def init_summary(path: str, report: dict, max_names: int = 20) -> str:
    """One log line of a :func:`load_init_weights` report: counts, and the skipped tensors
    named, grouped by reason (shape mismatches with both shapes; the first ``max_names`` of
    each reason, then how many more)."""
    text = f"initialised from {path}: loaded {len(report['loaded'])} of the model's {report['tensors']} tensors"
    if report["include"]:
        text += (f" (init_include {', '.join(report['include'])}; {report['not_included']} others keep "
                 "their built values)")
    groups: dict[str, list[str]] = {}
    for k, r in report["skipped"].items():
        if r.startswith("shape "):
            groups.setdefault("shape mismatch", []).append(f"{k} [{r[6:]}]")
        else:
            groups.setdefault(r, []).append(k)
    if groups:
        text += f"; skipped {len(report['skipped'])}: " + "; ".join(
            f"{len(ks)} {r}: {', '.join(ks[:max_names])}" + (f" and {len(ks) - max_names} more" if len(ks) > max_names else "")
            for r, ks in groups.items())
    return text


def model_parts(model: nn.Module) -> dict[str, nn.Module]:
    return dict(model.parts()) if hasattr(model, "parts") else {}


def resolve_parts(model: nn.Module, names: list[str], what: str = "cannot freeze") -> list[tuple[str, nn.Module | None]]:
    """Each name -> (name, module) from ``model.parts()``, or a parameter-name prefix; an unknown
    name raises ``ValueError`` starting with ``what``."""
    parts = model_parts(model)
    out = []
    param_names = [n for n, _ in model.named_parameters()]
    for n in names or []:
        if n in parts:
            out.append((n, parts[n]))
        elif any(is_under(p, n) for p in param_names):
            out.append((n, None))
        else:
            raise ValueError(f"{what} {n!r}: not a part of the model (parts: "
                             f"{', '.join(parts) or 'none'}) nor a parameter prefix")
    return out


def apply_freeze(model: nn.Module, freeze: list[str], train_parts: list[str] | None) -> list[nn.Module]:
    """Set ``requires_grad`` for a stage; returns the frozen modules (kept in eval mode)."""
    for p in model.parameters():
        p.requires_grad_(True)
    frozen_modules: list[nn.Module] = []
    frozen_prefixes: list[str] = []
    if train_parts:
        keep = resolve_parts(model, train_parts)
        keep_ids = set()
        for _, m in keep:
            if m is not None:
                keep_ids |= {id(p) for p in m.parameters()}
        keep_prefixes = [n for n, m in keep if m is None]
        for n, p in model.named_parameters():
            if id(p) not in keep_ids and not any(is_under(n, k) for k in keep_prefixes):
                p.requires_grad_(False)
        for name, m in model_parts(model).items():
            if name not in train_parts:
                frozen_modules.append(m)
    for n, m in resolve_parts(model, freeze):
        if m is not None:
            for p in m.parameters():
                p.requires_grad_(False)
            frozen_modules.append(m)
        else:
            frozen_prefixes.append(n)
    if frozen_prefixes:
        for n, p in model.named_parameters():
            if any(is_under(n, k) for k in frozen_prefixes):
                p.requires_grad_(False)
        for n, m in model.named_modules():
            if any(is_under(n, k) for k in frozen_prefixes):
                frozen_modules.append(m)
    return frozen_modules


def param_groups(model: nn.Module, params, lr: float, lr_mult: dict | None) -> list[dict]:
    """Split ``params`` into optimiser groups by ``lr_mult`` ({part or weight-name prefix:
    factor}): each named part trains at ``lr * factor``, the rest at ``lr``.

    A smaller rate for an ImageNet-trained encoder than for a new decoder keeps more of what
    the encoder learnt from a million photos while the decoder is fitted to a few thousand
    depth maps (discriminative fine-tuning, as the transfer-learning depth networks do)."""
    params = list(params)
    if not lr_mult:
        return [{"params": params, "lr": lr}]
    wanted = {id(p) for p in params}
    taken: set[int] = set()
    groups = []
    for part, module in resolve_parts(model, list(lr_mult), "optim.lr_mult:"):
        factor = float(lr_mult[part])
        if not factor > 0:
            raise ValueError(f"optim.lr_mult.{part} must be a positive number (got {lr_mult[part]!r})")
        if module is not None:
            members = list(module.parameters())
        else:
            members = [p for n, p in model.named_parameters() if is_under(n, part)]
        members = [p for p in members if id(p) in wanted and id(p) not in taken]
        taken |= {id(p) for p in members}
        if members:
            groups.append({"params": members, "lr": lr * factor, "name": part})
    rest = [p for p in params if id(p) not in taken]
    if rest:
        groups.append({"params": rest, "lr": lr, "name": "rest"})
    return groups


def base_lr(optimizer: torch.optim.Optimizer) -> float:
    """The current learning rate of the parameters without an ``lr_mult`` (the config's
    ``optim.lr`` as scheduled)."""
    groups = optimizer.param_groups
    return float(next((g["lr"] for g in groups if g.get("name") == "rest"), groups[-1]["lr"]))


def build_optimizer(ocfg: dict, params, model: nn.Module | None = None) -> torch.optim.Optimizer:
    """The optimiser of ``ocfg``; with ``ocfg["lr_mult"]`` (needs ``model``) its parameter
    groups train at per-part rates (:func:`param_groups`)."""
    name = ocfg["name"]
    lr = float(ocfg["lr"])
    wd = float(ocfg.get("weight_decay") or 0.0)
    if ocfg.get("lr_mult"):
        if model is None:
            raise ValueError("optim.lr_mult needs the model to find its parts")
        params = param_groups(model, params, lr, ocfg["lr_mult"])
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=tuple(ocfg.get("betas", (0.9, 0.999))), weight_decay=wd)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=tuple(ocfg.get("betas", (0.9, 0.999))), weight_decay=wd)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=float(ocfg.get("momentum") or 0.0),
                               weight_decay=wd, nesterov=bool(ocfg.get("nesterov", False)))
    raise ValueError(f"unknown optimiser {name!r}")


def build_scheduler(scfg: dict, optimizer, epochs: int):
    name = scfg.get("name", "none")
    if name == "none":
        return None
    if name == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=int(scfg["step_size"]), gamma=float(scfg["gamma"]))
    if name == "multistep":
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(scfg["milestones"]), gamma=float(scfg["gamma"]))
    if name == "exponential":
        return torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=float(scfg["gamma"]))
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=int(scfg.get("t_max") or epochs),
                                                          eta_min=float(scfg.get("min_lr") or 0.0))
    if name == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=float(scfg["factor"]), patience=int(scfg["patience"]),
            min_lr=float(scfg.get("min_lr") or 0.0))
    raise ValueError(f"unknown schedule {name!r}")


def build_split(cfg: dict, split: str, seed: int, progress: bool):
    """``build_dataset`` with a loader's wrong argument reported as a one-line ConfigError."""
    try:
        return build_dataset(cfg, split, seed, progress=progress)
    except TypeError as e:
        if "argument" not in str(e):
            raise
        from rgb2depth.training.config import ConfigError

        raise ConfigError(f"data.{split}: {e}") from None


def require_relative_loss(dataset, loss: nn.Module, stage: str) -> None:
    """Stop before training on relative-depth samples (depth known only up to scale and shift)
    with a loss none of whose terms can learn from them: they would be masked out of every
    metric term and cost steps for nothing."""
    flags = getattr(dataset, "relative", None)
    if not flags or not any(flags):
        return
    if not getattr(loss, "takes_relative", False):
        raise ValueError(f"stage {stage!r}: data.train has {sum(flags)} relative-depth samples (depth only up to "
                         "scale and shift) but no loss term takes them: add loss.terms item {name: ssi, weight: ..., "
                         "options: {log_input: ...}} (its samples default to all)")


def require_valid_depth(dataset, dcfg: dict) -> None:
    """Stop before training on a dataset none of whose samples has a valid depth pixel.

    Such data (a wrong ``depth_scale``, empty depth PNGs, a loader reading the wrong files)
    would give a loss of 0 at every step and a "trained" model that learnt nothing. Each
    ``data.train`` item is checked on its own (one sample with a valid pixel is enough, so a
    healthy dataset costs one sample); the error names the item.
    """
    source = getattr(dataset, "source", None)
    items = list(dcfg.get("train") or [])
    offsets = getattr(source, "offsets", None)
    if offsets is not None and len(offsets) == len(items) + 1:
        ranges = [(int(a), int(b)) for a, b in zip(offsets[:-1], offsets[1:], strict=True)]
    else:
        ranges = [(0, len(dataset))]
    get = dataset.raw if hasattr(dataset, "raw") else dataset.__getitem__
    for k, (a, b) in enumerate(ranges):
        if any(bool(np.asarray(get(i)["valid"]).any()) for i in range(a, b)):
            continue
        if dcfg.get("factory"):
            what = f"data.factory {dcfg['factory']!r}"
        else:
            item = items[k] if len(ranges) == len(items) else items[0] if len(items) == 1 else None
            label = ", ".join(f"{key}={v}" for key, v in (item or {}).items() if key != "select")
            what = f"data.train[{k}] ({label})" if item is not None else "data.train"
        raise ValueError(f"{what}: none of its {b - a} training samples has a valid depth pixel "
                         "(check the depth files and depth_scale); training would learn nothing")


def loss_label(lcfg: dict) -> str:
    """A short name for a loss config (for reports): ``berhu`` or ``l1+ssim+edge``."""
    if lcfg.get("terms"):
        return "+".join(str(t["name"]) for t in lcfg["terms"])
    return str(lcfg.get("name"))
