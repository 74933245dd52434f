"""The config-driven trainer: single or multi-stage, resumable, distributed.

One :class:`Trainer` runs one config (see :mod:`rgb2depth.training.config`):

* **Stages** (``train.stages``): a list of ``{name, epochs, freeze, train_parts, model_stage,
  optim, schedule, loss}``; each stage builds a fresh optimiser over the parameters it trains.
  Paper 001 (Sec. III-A, "we did not backpropagate through the coarse network") is
  ``[{name: coarse}, {name: fine, freeze: [coarse]}]``. Without stages the run is one stage.
  Frozen parts have ``requires_grad=False`` and stay in eval mode (BatchNorm statistics fixed).
* **Fine-tuning**: ``model.init`` loads weights from a model file or training checkpoint before
  training; pretrained backbones are a model option (e.g. ``pretrained: true``); ``freeze``
  names parts (``model.parts()``) or parameter-name prefixes.
* **Targets** are converted to the network's output kind (``models.from_metres``) after
  replacing invalid pixels by 1 m, so nothing NaN reaches the loss; when the network predicts at
  a lower resolution the target is resized to it by nearest neighbour (paper 001 Sec. III-A
  trains the coarse network "using the resized ground truth").
* **Exact resumption**: a checkpoint stores model, optimiser, scheduler, RNG states, stage,
  epoch, batches done in the epoch, global step, best metric and the metrics-file length.
  Sample order is a pure function of (seed, stage, epoch), augmentation of (seed, epoch, index),
  so ``--resume`` after a SIGKILL at any moment reaches bit-identical weights.
* **Non-finite loss** stops the run with :class:`NonFiniteLossError` naming the step, before
  any update; checkpoints are only written after good steps, so the last one stays intact.
* **Weight averaging** (``train.ema_decay``): an exponential moving average of the weights
  (:mod:`rgb2depth.training.ema`) is validated and saved as ``model.pt`` / ``best.pt``; the
  last weights as trained go to ``model_unaveraged.pt``; checkpoints carry the average.
* **Precise BatchNorm statistics** (``train.precise_bn: N``): before each validation and before
  ``model.pt`` is written, a copy of that network gets its BatchNorm statistics recomputed over
  ``N`` training batches (:mod:`rgb2depth.training.precise_bn`); the copy is what is validated
  and saved (``best.pt`` too), the network being trained keeps its own statistics.
* **DDP**: under ``torchrun`` each process trains its share (``ResumableSampler``), gradients
  are averaged by ``DistributedDataParallel``; only rank 0 logs and writes files.

The pieces a config names (model, loss, optimiser, schedule, frozen parts, datasets) are built
by :mod:`rgb2depth.training.builders`; what the run logs (``metrics.jsonl``,
TensorBoard, console) is written by :mod:`rgb2depth.training.runlog`.
"""

from __future__ import annotations

import json
import math
import os
import time
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from rgb2depth.fileio import ensure_dir, write_text
from rgb2depth.models.base import camera_scale
from rgb2depth.progress import interactive, progress_bar
from rgb2depth.training import checkpoint as ckpt_mod
from rgb2depth.training import distributed as dist_mod
from rgb2depth.training.builders import (
    apply_freeze,
    base_lr,
    build_loss,
    build_model,
    build_optimizer,
    build_scheduler,
    build_split,
    import_plugins,
    init_summary,
    load_init_weights,
    loss_label,
    require_relative_loss,
    require_valid_depth,
)
from rgb2depth.training.config import check_options, dump
from rgb2depth.training.data import ResumableSampler, collate
from rgb2depth.training.ema import UNAVERAGED_NAME, WeightAverage
from rgb2depth.training.precise_bn import draw_seed, recompute_bn_stats
from rgb2depth.training.runlog import RunLog
from rgb2depth.viz import image_grid

#: Metrics where larger is better (for best-checkpoint selection); everything else: smaller.
HIGHER_IS_BETTER = {"delta1", "delta2", "delta3", "d1", "d2", "d3", "ssim", "a1", "a2", "a3"}


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the message names the step and the last checkpoint."""


# --------------------------------------------------------------------------------------------
# the training step


def target_like(pred: torch.Tensor, depth: torch.Tensor, valid: torch.Tensor, meta) -> tuple[torch.Tensor, torch.Tensor]:
    """Ground truth in the network's output kind and at its output size; invalid -> 1 m first."""
    from rgb2depth.models import from_metres

    if pred.shape[-2:] != depth.shape[-2:]:
        depth = F.interpolate(depth, size=pred.shape[-2:], mode="nearest")
        valid = F.interpolate(valid.float(), size=pred.shape[-2:], mode="nearest") > 0.5
    valid = valid & torch.isfinite(depth) & (depth > 0)
    safe = torch.where(valid, depth, torch.ones_like(depth))
    return from_metres(safe, meta), valid


def params_digest(model: nn.Module) -> str:
    """A hash of every parameter (to check that ranks or resumed runs hold identical weights)."""
    import hashlib

    h = hashlib.sha256()
    for k, v in sorted(model.named_parameters()):
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


# --------------------------------------------------------------------------------------------


class Trainer:
    """Runs one training config; ``run()`` returns a summary dict (also written as JSON)."""

    def __init__(self, cfg: dict, resume: bool | str = False, device: str | None = None) -> None:
        self.cfg = cfg
        self.resume = resume
        self.requested_device = device

    # ---------------------------------------------------------------- setup
    def _setup(self) -> None:
        cfg = self.cfg
        threads = cfg["train"].get("threads")
        if threads:
            torch.set_num_threads(int(threads))
        self.dist = dist_mod.setup(self.requested_device)
        self.device = torch.device(self.dist.device)
        self.main = self.dist.is_main
        self.out = Path(cfg["output_dir"])
        self.ckpt_dir = self.out / "checkpoints"
        self.log = RunLog(self.out, main=self.main, tensorboard=bool(cfg["train"].get("tensorboard", True)))
        if self.main:
            ensure_dir(self.ckpt_dir, "checkpoint folder")
            write_text(self.out / "config.yaml", dump(cfg))
        import_plugins(cfg.get("imports"))
        check_options(cfg, f"config {cfg['name']!r}")
        ckpt_mod.seed_everything(int(cfg["seed"]))

        # Resuming or a strict model.init of every tensor replaces every weight: pretrained
        # backbone options are then not read (no download, no other file unpickled).
        self.resume_path = self._resume_path()
        mcfg = cfg["model"]
        from_file = self.resume_path is not None or bool(
            mcfg.get("init") and mcfg.get("strict_init", True) and not mcfg.get("init_include"))
        self.model = build_model(cfg["model"], load_pretrained=not from_file).to(self.device)
        self.meta = self.model.meta
        if cfg["data"].get("input_size"):
            # the saved model file says the size it was trained at; inference and evaluation
            # resize images to it
            self.meta.input_size = tuple(int(v) for v in cfg["data"]["input_size"])
        if mcfg.get("init"):
            # the report names what was loaded and what starts fresh (and why): in the log, and
            # in full in init_report.json
            info = load_init_weights(self.model, mcfg["init"], bool(mcfg.get("strict_init", True)),
                                     mcfg.get("init_include") or None)
            self.log.text(init_summary(mcfg["init"], info))
            if self.main:
                write_text(self.out / "init_report.json", json.dumps({"file": str(mcfg["init"]), **info}, indent=1))
        self.channels_last = bool(cfg["model"].get("channels_last")) and self.meta.in_channels in (1, 3)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        decay = cfg["train"].get("ema_decay")
        self.ema = WeightAverage(self.model, float(decay)) if decay is not None else None
        self._calibrated: tuple[int | None, nn.Module | None] = (None, None)  # (step, saved_model())

        seed = int(cfg["seed"])
        progress = self.main and bool(cfg["train"].get("progress", True)) and interactive()
        self.train_set = build_split(cfg, "train", seed, progress)
        self.val_set = build_split(cfg, "val", seed, progress)
        require_valid_depth(self.train_set, cfg["data"])
        if self.val_set is not None and cfg["train"].get("val_limit"):
            from rgb2depth.training.data import Subset

            n = min(len(self.val_set), int(cfg["train"]["val_limit"]))
            self.val_set = Subset(self.val_set, list(range(n)))

        stages = cfg["train"]["stages"] or [{"name": "main"}]
        self.stages = []
        for st in stages:
            s = dict(st)
            s.setdefault("epochs", cfg["train"]["epochs"])
            s.setdefault("max_steps", None)
            s.setdefault("freeze", list(cfg["model"].get("freeze") or []))
            s.setdefault("train_parts", None)
            s["optim"] = {**cfg["optim"], **(st.get("optim") or {})}
            s["schedule"] = {**cfg["schedule"], **(st.get("schedule") or {})}
            s["loss"] = {**cfg["loss"], **(st.get("loss") or {})}
            s.setdefault("batch_size", cfg["train"]["batch_size"])
            if "model_stage" not in s:
                names = tuple(getattr(self.model, "stages", ()) or ())
                s["model_stage"] = s["name"] if s["name"] in names else None
            self.stages.append(s)

        self.eval_cfg = cfg["eval"]
        self.best_metric = cfg["train"]["best_metric"]
        mode = cfg["train"].get("best_mode") or ("max" if self.best_metric in HIGHER_IS_BETTER else "min")
        self.best_mode = mode
        self.best: dict | None = None

    @property
    def eval_model(self) -> nn.Module:
        """The network that is validated and saved: the weight average when there is one."""
        return self.ema.module if self.ema is not None else self.model

    def saved_model(self) -> nn.Module:
        """:attr:`eval_model`, or with ``train.precise_bn`` a copy of it with recomputed BatchNorm
        statistics (made once per step: validation and the final save share it)."""
        n = self.cfg["train"].get("precise_bn")
        if not n:
            return self.eval_model
        if self._calibrated[0] != self.step:
            model = recompute_bn_stats(self.eval_model, self.train_set, int(n), self.batch_size,
                                       seed=draw_seed(self.cfg["seed"], self.step), channels_last=self.channels_last)
            self._calibrated = (self.step, model)
        return self._calibrated[1]

    # ---------------------------------------------------------------- stage objects
    def _enter_stage(self, si: int):
        st = self.stages[si]
        model = self.model
        if st["model_stage"] is not None:
            if not hasattr(model, "set_stage"):
                raise ValueError(f"stage {st['name']!r}: the model has no stages")
            model.set_stage(st["model_stage"])
        self.frozen = apply_freeze(model, st["freeze"], st["train_parts"])
        params = [p for p in model.parameters() if p.requires_grad]
        if not params:
            raise ValueError(f"stage {st['name']!r} trains no parameter (everything frozen)")
        self.loss_fn = build_loss(st["loss"]).to(self.device)
        require_relative_loss(self.train_set, self.loss_fn, st["name"])
        self.optimizer = build_optimizer(st["optim"], params, model)
        self.scheduler = build_scheduler(st["schedule"], self.optimizer, int(st["epochs"]))
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel as DDP

            self.net = None  # drop the previous stage's wrapper (and its gradient hooks) first

            self.net = DDP(model, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                           find_unused_parameters=bool(self.frozen) or st["model_stage"] is not None)
        else:
            self.net = model
        bs = int(st["batch_size"])
        self.sampler = ResumableSampler(self.train_set, num_replicas=self.dist.world_size,
                                        rank=self.dist.rank, shuffle=True,
                                        seed=int(self.cfg["seed"]) + 7919 * si, drop_last=False)
        self.batch_size = bs
        n = len(self.sampler) // bs  # drop_last batches
        if n == 0:
            raise ValueError(f"stage {st['name']!r}: {len(self.train_set)} training samples "
                             f"(per process) are fewer than one batch of {bs}")
        self.batches_per_epoch = n

    def _loader(self, si: int, epoch: int, start_batch: int):
        from torch.utils.data import DataLoader

        self.sampler.set_epoch(epoch)
        self.sampler.set_start(start_batch * self.batch_size)
        if hasattr(self.train_set, "set_epoch"):
            self.train_set.set_epoch(self._global_epoch(si, epoch))
        nw = int(self.cfg["data"].get("num_workers") or 0)
        g = torch.Generator()
        g.manual_seed(int(self.cfg["seed"]) * 1_000_003 + 1009 * si + epoch)
        return DataLoader(self.train_set, batch_size=self.batch_size, sampler=self.sampler,
                          num_workers=nw, collate_fn=collate, drop_last=True, generator=g,
                          persistent_workers=False, pin_memory=False)

    def _global_epoch(self, si: int, epoch: int) -> int:
        return sum(int(s["epochs"]) for s in self.stages[:si]) + epoch

    def _set_train_mode(self) -> None:
        self.model.train()
        for m in self.frozen:
            m.eval()

    # ---------------------------------------------------------------- checkpoints
    def _last_path(self) -> Path:
        return self.ckpt_dir / "last.pt"

    def _resume_path(self) -> Path | None:
        """The checkpoint to continue from, None to start from scratch (``--resume`` without a
        checkpoint yet); a named checkpoint that does not exist is an error."""
        if not self.resume:
            return None
        named = isinstance(self.resume, str | os.PathLike)
        path = Path(self.resume) if named else self._last_path()
        if path.is_file():
            return path
        if named:
            raise FileNotFoundError(f"{path}: no checkpoint to resume from")
        return None

    def _save(self, si: int, epoch: int, batch: int) -> None:
        if not self.main:
            return
        ck = ckpt_mod.make_checkpoint(
            self.model, self.optimizer, self.scheduler, stage=si, epoch=epoch, batch=batch,
            step=self.step, best=self.best, config=self.cfg,
            info={"stage": self.stages[si]["name"], "step": self.step})
        if self.ema is not None:
            ck["ema"] = self.ema.state_dict()
        ck["metrics_bytes"] = self.log.size()
        ckpt_mod.save_checkpoint(ck, self._last_path())
        self.last_saved_step = self.step

    def _load(self, path: Path) -> tuple[int, int, int]:
        from rgb2depth.models.io import load_weights

        ck = ckpt_mod.load_checkpoint(path)
        si, epoch, batch = ck["stage"], ck["epoch"], ck["batch"]
        if not 0 <= int(si) < len(self.stages):
            raise ValueError(f"{path}: checkpoint is at stage {si}, the config has {len(self.stages)} stage(s)")
        load_weights(self.model, ck["model"]["state_dict"], path)
        self._enter_stage(si)
        if ck["optimizer"] is not None:
            self.optimizer.load_state_dict(ck["optimizer"])
        if self.scheduler is not None and ck["scheduler"] is not None:
            self.scheduler.load_state_dict(ck["scheduler"])
        ckpt_mod.set_rng_state(ck["rng"])
        if self.ema is not None:
            if "ema" not in ck:
                raise ValueError(f"{path}: the checkpoint holds no weight average but the config sets "
                                 "train.ema_decay; resume with the config the run started with")
            self.ema.load_state_dict(ck["ema"], path)
        self.step = int(ck["step"])
        self.best = ck.get("best")
        self.last_saved_step = self.step
        self.log.truncate(int(ck.get("metrics_bytes", 0)))
        return si, epoch, batch

    # ---------------------------------------------------------------- validation
    def validate(self, si: int, epoch: int) -> dict | None:
        """Score the validation set (rank 0 computes, every rank receives the numbers so that
        plateau schedules and best tracking stay identical across processes)."""
        if self.val_set is None:
            return None
        ecfg = self.eval_cfg
        t0 = time.perf_counter()
        res = None
        if self.main:
            from rgb2depth.evaluation.evaluate import evaluate_dataset

            res = evaluate_dataset(
                self.saved_model(), self.val_set, protocol=ecfg["protocol"], min_depth=ecfg.get("min_depth"),
                max_depth=ecfg.get("max_depth"), align=ecfg.get("align"),
                aggregation=ecfg.get("aggregation", "per_image"), batch_size=self.batch_size,
                channels_last=self.channels_last, keep_images=int(self.cfg["train"].get("num_vis", 4)),
                progress=False)
        metrics = dist_mod.broadcast_object(self.dist, res["metrics"] if res is not None else None)
        self._set_train_mode()
        self._last_val_step = self.step
        self._last_val = metrics
        rec = {"kind": "val", "stage": self.stages[si]["name"], "epoch": epoch, "step": self.step,
               "protocol": ecfg["protocol"], "time_s": round(time.perf_counter() - t0, 3),
               **{k: float(v) for k, v in metrics.items()}}
        self.log.record(rec)
        if self.main:
            shown = "  ".join(f"{k}={v:.4g}" for k, v in metrics.items())
            self.log.text(f"val step {self.step}: {shown}")
            self.log.scalars("val/", metrics, self.step)
            if res.get("images"):
                self.log.image("val/rgb_gt_pred_error", image_grid(res["images"]), self.step)
        # plateau scheduling on the validation metric (paper 003: lr decayed on plateaus)
        if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            key = self.stages[si]["schedule"].get("metric") or self.best_metric
            v = metrics.get(key)
            if v is not None and math.isfinite(v):
                self.scheduler.step(v if (key not in HIGHER_IS_BETTER) else -v)
        value = metrics.get(self.best_metric)
        if value is not None and math.isfinite(value):
            better = self.best is None or (value < self.best["value"] if self.best_mode == "min"
                                           else value > self.best["value"])
            if better:
                self.best = {"metric": self.best_metric, "value": float(value), "step": self.step,
                             "stage": self.stages[si]["name"]}
                if self.main:
                    from rgb2depth.models.io import save_model

                    save_model(self.saved_model(), self.ckpt_dir / "best.pt",
                               info={"best": self.best, "protocol": ecfg["protocol"],
                                     "config": self.cfg["name"], "loss": loss_label(self.cfg["loss"])})
        return metrics

    # ---------------------------------------------------------------- training
    def _train_step(self, batch: dict, si: int, epoch: int, bi: int) -> float:
        image = batch["image"].to(self.device, non_blocking=True)
        depth = batch["depth"].to(self.device)
        valid = batch["valid"].to(self.device)
        if self.channels_last:
            image = image.contiguous(memory_format=torch.channels_last)
        bf16 = bool(self.cfg["train"].get("bf16"))
        ctx = torch.autocast(self.device.type, dtype=torch.bfloat16) if bf16 else nullcontext()
        with ctx:
            pred = self.net(image)
        pred = pred.float()
        if "K" in batch and (self.meta.extra or {}).get("canonical_focal"):
            # a canonical-camera network learns the depth its own camera would see
            scale = camera_scale(self.meta, batch["K"][:, 0] / image.shape[-1])
            depth = depth / scale.to(self.device).view(-1, 1, 1, 1)
        target, tvalid = target_like(pred, depth, valid, self.meta)
        rgb = image if image.shape[-2:] == pred.shape[-2:] else F.interpolate(
            image, size=pred.shape[-2:], mode="bilinear", align_corners=False)
        relative = batch.get("relative")
        if relative is not None:  # relative-depth samples: only scale-and-shift-invariant terms see them
            loss = self.loss_fn(pred, target, tvalid, rgb=rgb, relative=relative.to(self.device))
        else:
            loss = self.loss_fn(pred, target, tvalid, rgb=rgb)
        bad = not bool(torch.isfinite(loss).item())
        if dist_mod.any_flag(self.dist, bad):
            raise NonFiniteLossError(
                f"loss is {float(loss.item())} at step {self.step + 1} (stage "
                f"{self.stages[si]['name']!r}, epoch {epoch}, batch {bi}); training stopped before "
                f"updating the weights. Last good checkpoint: {self._last_path()} (step "
                f"{self.last_saved_step}). Lower the learning rate or check the data, then --resume.")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        clip = self.cfg["train"].get("grad_clip")
        if clip:
            gn = torch.nn.utils.clip_grad_norm_([p for p in self.model.parameters() if p.requires_grad], float(clip))
            if dist_mod.any_flag(self.dist, not bool(torch.isfinite(gn).item())):
                raise NonFiniteLossError(
                    f"gradient norm is {float(gn)} at step {self.step + 1} (stage "
                    f"{self.stages[si]['name']!r}, epoch {epoch}, batch {bi}); training stopped before "
                    f"updating the weights. Last good checkpoint: {self._last_path()} (step "
                    f"{self.last_saved_step}).")
        try:
            self.optimizer.step()
        except RuntimeError as e:  # e.g. Adam's step size overflowing float32 for a huge lr
            if "overflow" not in str(e):
                raise
            lr = base_lr(self.optimizer)
            raise NonFiniteLossError(
                f"the optimiser step overflowed at step {self.step + 1} (stage {self.stages[si]['name']!r}) "
                f"with optim.lr = {lr:g}: lower the learning rate") from None
        if self.ema is not None:
            self.ema.update(self.model)
        self.step += 1
        return float(loss.item())

    def run(self) -> dict:
        self._setup()
        cfg = self.cfg
        tcfg = cfg["train"]
        self.step = 0
        self.last_saved_step = 0
        self._last_val_step = -1
        start = None
        if self.main:  # what a killed save left behind, whether or not there is a run to resume
            ckpt_mod.clean_stale_temporaries(self.ckpt_dir)
        path = self.resume_path
        if path is not None:
            if self.main and path.parent != self.ckpt_dir:
                ckpt_mod.clean_stale_temporaries(path.parent)
            start = self._load(path)
            self.log.text(f"resumed from {path} at step {self.step} (stage {start[0]}, "
                          f"epoch {start[1]}, batch {start[2]})")
        elif self.resume:
            self.log.text(f"no checkpoint in {self.ckpt_dir}: starting from scratch")
        if start is None:
            self.log.reset()
        self.log.open_tensorboard(self.step)
        t_start = time.perf_counter()
        max_total = int(tcfg["max_steps"]) if tcfg.get("max_steps") else None
        log_every = max(1, int(tcfg.get("log_every") or 1))
        val_every = int(tcfg.get("val_every") or 0)
        ckpt_every = int(tcfg.get("ckpt_every") or 0)
        last_val = None
        finished = False
        first_si = start[0] if start is not None else 0
        for si in range(first_si, len(self.stages)):
            st = self.stages[si]
            if start is not None and si == first_si:
                e0, b0 = start[1], start[2]  # _load entered this stage
            else:
                self._enter_stage(si)
                e0, b0 = 0, 0
            bpe = self.batches_per_epoch
            stage_step0 = self.step - (e0 * bpe + b0)
            stage_max = int(st["max_steps"]) if st.get("max_steps") else None
            stage_done = False
            for epoch in range(e0, int(st["epochs"])):
                bstart = min(b0 if epoch == e0 else 0, bpe)
                loader = self._loader(si, epoch, bstart)
                self._set_train_mode()
                bar = None
                if self.main and tcfg.get("progress", True) and bstart < bpe:
                    bar = progress_bar(total=bpe, initial=bstart, unit="batch",
                                       desc=f"{st['name']} epoch {epoch + 1}/{st['epochs']}")
                t_epoch = time.perf_counter()
                seen = 0
                for bi, batch in enumerate(loader, start=bstart):
                    if bi >= bpe:
                        break
                    loss = self._train_step(batch, si, epoch, bi)
                    seen += 1
                    if bar is not None:
                        bar.set_postfix(loss=f"{loss:.4f}", step=self.step, refresh=False)
                        bar.update(1)
                    at_max = max_total is not None and self.step >= max_total
                    if self.step % log_every == 0 or bi == bpe - 1 or at_max:
                        self._log_train(st, epoch, bi, loss, seen, t_epoch)
                    if val_every and self.step % val_every == 0:
                        last_val = self.validate(si, epoch)
                    if at_max:
                        self._save(si, epoch, bi + 1)
                        finished = True
                        break
                    if stage_max is not None and self.step - stage_step0 >= stage_max:
                        stage_done = True
                        break
                    if ckpt_every and self.step % ckpt_every == 0 and bi < bpe - 1:
                        self._save(si, epoch, bi + 1)
                if bar is not None:
                    bar.close()
                if finished:
                    break
                # end of epoch: validation (per-epoch mode), schedule step, checkpoint at the
                # start of the next epoch (or of the next stage when this one is done)
                if not val_every:
                    last_val = self.validate(si, epoch)
                if self.scheduler is not None and not isinstance(
                        self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                    self.scheduler.step()
                if stage_done:
                    self._save(si, int(st["epochs"]), 0)
                    break
                self._save(si, epoch + 1, 0)
            if finished:
                break
        if self.val_set is not None and self._last_val_step != self.step:
            last_val = self.validate(len(self.stages) - 1, -1)
        elif last_val is None and self.val_set is not None:
            last_val = self._last_val
        wall = time.perf_counter() - t_start
        digests = dist_mod.all_gather_object(self.dist, params_digest(self.model))
        summary = {
            "name": cfg["name"], "model": cfg["model"]["name"], "steps": self.step,
            "wall_time_s": round(wall, 2), "world_size": self.dist.world_size,
            "final_val": last_val, "best": self.best, "rank_digests": digests,
            "params": sum(p.numel() for p in self.model.parameters()),
            "output_dir": str(self.out),
        }
        if self.main:
            from rgb2depth.models.io import save_model

            info = {"config": cfg["name"], "steps": self.step, "best": self.best,
                    "final_val": last_val, "loss": loss_label(cfg["loss"])}
            if self.ema is not None:
                save_model(self.model, self.out / UNAVERAGED_NAME, info={**info, "weights": "last, not averaged"})
                info["weights"] = f"moving average, decay {self.ema.decay}"
            if self.cfg["train"].get("precise_bn"):
                info["precise_bn"] = {"batches": int(self.cfg["train"]["precise_bn"]),
                                      "seed": draw_seed(self.cfg["seed"], self.step)}
            save_model(self.saved_model(), self.out / "model.pt", info=info)
            write_text(self.out / "summary.json", json.dumps(summary, indent=2))
            self.log.close()
            self.log.text(f"done: {self.step} steps in {wall:.1f} s; model written to {self.out / 'model.pt'}")
        dist_mod.barrier(self.dist)
        dist_mod.teardown(self.dist)
        return summary

    def _log_train(self, st: dict, epoch: int, bi: int, loss: float, seen: int, t_epoch: float) -> None:
        if not self.main:
            return
        rec = {"kind": "train", "stage": st["name"], "epoch": epoch, "batch": bi,
               "step": self.step, "loss": loss, "lr": base_lr(self.optimizer),
               "samples_per_s": round(seen * self.batch_size * self.dist.world_size
                                      / max(time.perf_counter() - t_epoch, 1e-9), 3)}
        terms = getattr(self.loss_fn, "last_terms", None)
        if terms:
            rec["terms"] = {k: float(v) for k, v in terms.items()}
        self.log.record(rec)
        self.log.scalars("train/", {"loss": loss, "lr": rec["lr"],
                                    **{f"loss_{k}": v for k, v in (rec.get("terms") or {}).items()}}, self.step)

