"""Train the HRM on curriculum data: ``python -m hrm_agents.hrm.train --config CFG.json --out DIR``.

One optimiser step = one ACT segment for every row of the batch (the reference's scheme): rows whose
sample halted are refilled from the schedule's sampler, the others carry their state on. Logs
``metrics.jsonl`` in ``--out`` (training loss/accuracy per k, halt steps, Q-halt accuracy, grad norm,
throughput, ``examples_seen`` = rows loaded so far, counted at each train line; periodic evaluation
per k, and with ``select_k`` the selection split, whose best weights go to ``best/``; curriculum
promotions; ``health`` samples), keeps ``checkpoint/`` (safetensors +
config.json + optimiser state, replaced atomically) and ``heartbeat.json``, resumes with ``--resume``,
and on a non-finite or exploding loss restores the last good checkpoint with a lower learning rate
(:mod:`~hrm_agents.hrm.watchdog`), stopping after ``--max_recoveries``; ``--tracker`` also logs to W&B or
MLflow. At the end it writes the
exported model (``export/``, weights in ``export_dtype``) and scores that very file on the full
test splits (``eval.json``). Runs on CPU, one GPU (bf16 autocast), or several through ``torchrun``
(DistributedDataParallel; gloo on CPU, NCCL on GPU).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from ..curriculum.arrays import SEQ_LEN, VOCAB
from ..tracking import Tracker, TrackerError, check_tracker, open_tracker
from ..tracking.trackers import log_training_event
from ..utils.flags import FlagParser
from .config import (ConfigError, TrainConfig, load_json, model_config_from_dict, to_dict,
                     train_config_from_dict)
from .data import CurriculumSampler, DataSpec, MixedSampler, load_data, selection_split, used_width
from .evaluate import autocast, evaluate, subset, to_tensors
from .model import HRM, act_loss, load_model, n_params, save_model
from .watchdog import TrainingDiverged, Watchdog, WatchdogConfig


_PROBE = (10, 60)  # steps between which the step time is measured for --time-budget-s


class _Dist:
    """Rank/world from torchrun's environment; a no-op when launched as a single process."""

    def __init__(self, device_arg: str | None):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", "0"))
        want_cuda = device_arg in (None, "cuda") and torch.cuda.is_available()
        if device_arg == "cuda" and not torch.cuda.is_available():
            raise ConfigError("--device cuda asked for but no CUDA device is visible")
        self.device = torch.device(f"cuda:{local}" if want_cuda else "cpu")
        if want_cuda:
            torch.cuda.set_device(self.device)
        if self.world > 1:
            dist.init_process_group("nccl" if want_cuda else "gloo")

    @property
    def main(self) -> bool:
        return self.rank == 0

    def sum(self, t: torch.Tensor) -> torch.Tensor:
        if self.world > 1:
            dist.all_reduce(t)
        return t

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def gather(self, obj: Any) -> list[Any]:
        if self.world == 1:
            return [obj]
        out: list[Any] = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def close(self) -> None:
        if self.world > 1:
            dist.destroy_process_group()


class _Window:
    """Training statistics summed over one log window (on device; reduced across ranks on read)."""

    FIELDS = ("count", "exact", "token_acc", "steps", "q_halt_ok")

    def __init__(self, max_k: int, device: torch.device):
        self.per_k = torch.zeros(max_k + 1, len(self.FIELDS), device=device)
        self.scalars = torch.zeros(5, device=device)  # loss, lm_loss, grad_norm, optimiser steps, loaded rows
        self.positions = 0
        self.t0 = time.perf_counter()

    def add(self, loss: torch.Tensor, stats: dict[str, torch.Tensor], carry: Any, grad_norm: torch.Tensor,
            loaded: int) -> None:
        done = carry.halted.float()
        cols = torch.stack([done, stats["exact"].float(), stats["token_acc"], carry.steps.float(),
                            stats["q_halt_ok"].float()], 1) * done[:, None]
        self.per_k.index_add_(0, carry.data["k"], cols)
        self.scalars += torch.stack([loss.detach().float(), stats["lm_loss"].mean().float(), grad_norm.float(),
                                     torch.ones((), device=loss.device), torch.tensor(float(loaded), device=loss.device)])
        self.positions += carry.data["inputs"].numel()

    def read(self, d: _Dist) -> dict[str, Any]:
        per_k = d.sum(self.per_k.clone()).cpu().numpy()
        loss, lm, gn, n, loaded = d.sum(self.scalars.clone()).cpu().tolist()
        elapsed = time.perf_counter() - self.t0
        total = per_k.sum(0)
        cnt = max(total[0], 1)
        out: dict[str, Any] = {
            "loss": loss / n, "lm_loss": lm / n, "grad_norm": gn / n,
            "exact_acc": total[1] / cnt, "token_acc": total[2] / cnt, "avg_halt_steps": total[3] / cnt,
            "q_halt_acc": total[4] / cnt, "samples_done": int(total[0]), "samples_loaded": int(loaded),
            "tokens_per_s": self.positions * d.world / elapsed, "samples_per_s": total[0] / elapsed,
        }
        out["per_k"] = {int(k): {"n": int(r[0]), "exact": r[1] / r[0], "token_acc": r[2] / r[0],
                                 "avg_halt_steps": r[3] / r[0]} for k, r in enumerate(per_k) if r[0] > 0}
        return out


def _restore(ckpt: Path, model: HRM, opt: torch.optim.Optimizer, sched: Any, device: torch.device) -> dict[str, Any]:
    """Load the checkpoint's weights, optimiser and scheduler into the live objects; return its train state."""
    loaded, _ = load_model(ckpt, device)
    if loaded.config != model.config:
        raise ConfigError(f"{ckpt} holds a different model config")
    model.load_state_dict(loaded.state_dict())
    state = torch.load(ckpt / "train_state.pt", map_location=device, weights_only=False)
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    return state


def _position(state: dict[str, Any], sampler: Any, d: _Dist) -> tuple[int, int, Any]:
    """``(step, examples_seen, sampler)`` stored in a train state (the sampler only if the world size matches)."""
    return state["step"], state.get("examples_seen", 0), \
        state["samplers"][d.rank] if len(state["samplers"]) == d.world else sampler


def _save_checkpoint(out: Path, model: HRM, opt: torch.optim.Optimizer, sched: Any, step: int,
                     samplers: list[Any], meta: dict[str, Any], examples_seen: int) -> None:
    """Write ``checkpoint.tmp`` fully, then swap it in for ``checkpoint`` (a crash keeps the old one)."""
    tmp, final, old = out / "checkpoint.tmp", out / "checkpoint", out / "checkpoint.old"
    shutil.rmtree(tmp, ignore_errors=True)
    save_model(model, tmp, meta={**meta, "step": step})
    torch.save({"optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "step": step,
                "samplers": samplers, "torch_rng": torch.get_rng_state(), "examples_seen": examples_seen},
               tmp / "train_state.pt")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)


class _Log:
    def __init__(self, path: Path, enabled: bool, echo: bool, tracker: Tracker | None = None):
        self.path, self.enabled, self.echo, self.tracker = path, enabled, echo, tracker

    def __call__(self, event: str, **fields: Any) -> None:
        if not self.enabled:
            return
        line = json.dumps({"event": event, **fields}, default=float)
        with open(self.path, "a") as f:
            f.write(line + "\n")
        if self.echo:
            print(line, flush=True)
        if self.tracker is not None:
            log_training_event(self.tracker, event, fields)


def train(cfg: TrainConfig, out_dir: str | Path, *, resume: bool = False, progress: bool = True,
          device: str | None = None, time_budget_s: float | None = None, echo: bool = False,
          data_cache: str | Path | None = None, data: tuple[dict, dict] | None = None,
          vocab: Sequence[str] = VOCAB, watchdog: WatchdogConfig = WatchdogConfig(),
          tracker: str | None = None) -> dict[str, Any]:
    """Run training per ``cfg`` into ``out_dir``; returns the final evaluation (rank 0) or ``{}``.

    ``data``: ``(pool, {split: arrays})`` of int arrays (``inputs``, ``labels``, ``k`` and optional
    ``puzzle_ids`` / ``step_labels``) to train on instead of the curriculum data of ``cfg`` (used
    at full width; e.g. ARC grids, :mod:`hrm_agents.arc`); ``vocab`` is then recorded in the meta.

    ``data_cache``: a folder where the generated data is kept and reused by later runs on the same
    data settings (see :func:`~hrm_agents.hrm.data.load_data`).

    ``time_budget_s`` caps the run: the step time over steps 10-60 is measured and ``steps`` lowered to
    what fits (the cosine schedule follows; the chosen number is logged as a ``budget`` event).
    ``watchdog``: heartbeat, system-health samples and recovery from NaN/inf or exploding loss
    (:mod:`~hrm_agents.hrm.watchdog`). Raises :class:`TrainingDiverged` when it cannot recover.
    ``tracker``: ``wandb`` or ``mlflow`` also logs the run there (:mod:`hrm_agents.tracking`; project
    ``hrm_train``, MLflow store in the parent of ``out_dir``); raises its :class:`TrackerError`.
    """
    check_tracker(tracker)
    d = _Dist(device)
    out = Path(out_dir)
    track = open_tracker(tracker, project="hrm_train", run_name=out.name, run_dir=out, root=out.parent) \
        if d.main else Tracker()
    try:
        final = _train(cfg, out, d, resume=resume, progress=progress and d.main, time_budget_s=time_budget_s,
                       echo=echo, data_cache=data_cache, data=data, vocab=vocab, watchdog_cfg=watchdog,
                       tracker=track)
        d.barrier()  # ranks leave together (a rank tearing gloo down while rank 0 exports can abort)
    except BaseException:
        track.finish("failed")
        raise
    finally:
        d.close()
    for name in ("metrics.jsonl", "eval.json"):
        track.log_artifact(out / name)
    track.finish()
    return final


def _train(cfg: TrainConfig, out: Path, d: _Dist, *, resume: bool, progress: bool, time_budget_s: float | None,
           echo: bool, data_cache: str | Path | None, data: tuple[dict, dict] | None = None,
           vocab: Sequence[str] = VOCAB, watchdog_cfg: WatchdogConfig = WatchdogConfig(),
           tracker: Tracker | None = None) -> dict[str, Any]:
    """The training run, step by step (see :class:`_Training`)."""
    run = _Training(cfg, out, d, echo, tracker)
    run.load_data(data, data_cache)
    run.build_model(vocab)
    run.build_optimiser()
    run.start_or_resume(resume)
    run.train(progress, time_budget_s, watchdog_cfg)
    return run.export_and_evaluate() if d.main else {}


class _Training:
    """One training run, in the order it happens: data, model (+ DDP), optimiser and schedule,
    sampler, start or resume, the loop (optimiser steps, step-time budget, log windows, periodic
    evaluation, checkpoints, watchdog recovery), then export and final evaluation."""

    def __init__(self, cfg: TrainConfig, out: Path, d: _Dist, echo: bool, tracker: Tracker | None = None):
        self.cfg, self.out, self.d = cfg, out, d
        self.t_start = time.perf_counter()
        out.mkdir(parents=True, exist_ok=True)
        self.log = _Log(out / "metrics.jsonl", d.main, echo, tracker)
        self.ckpt = out / "checkpoint"
        self.step = self.examples_seen = 0  # examples_seen: rows loaded into the batch so far, summed over ranks
        self.total_steps = cfg.steps  # lowered by a time budget; the lr schedule follows it
        self.best_select = -1.0  # best exact accuracy on the selection split so far (select_k)
        torch.manual_seed(cfg.seed * 1000 + d.rank)

    def load_data(self, data: tuple[dict, dict] | None, data_cache: str | Path | None) -> None:
        """The training pool (trimmed to its used width) and the evaluation splits, as tensors on the
        device; every rank builds the same pool and samples it with its own seed."""
        cfg, d = self.cfg, self.d
        t0 = time.perf_counter()
        pool_np, evals_np = data or load_data(DataSpec.of(cfg), workers=cfg.data_workers, cache_dir=data_cache)
        self.width = used_width(pool_np["inputs"]) if data is None else pool_np["inputs"].shape[1]
        self.pool = to_tensors({k: v[:, :self.width] if v.ndim == 2 else v for k, v in pool_np.items()}, d.device)
        self.n_pool = len(pool_np["k"])
        self.evals = {name: to_tensors(arrays, d.device) for name, arrays in evals_np.items()}
        self.quick = {name: subset(arrs, cfg.n_eval_per_k) for name, arrs in self.evals.items() if name != "test_id"}
        self.pool_ks = pool_np["k"].astype(np.int64)
        self.select = None
        if cfg.select_k is not None:
            if data is not None:
                raise ConfigError("select_k needs the curriculum data (no selection split for given data)")
            self.select = to_tensors(selection_split(DataSpec.of(cfg), cfg.select_k, cfg.n_eval_per_k), d.device)
        self.data_s = time.perf_counter() - t0

    def build_model(self, vocab: Sequence[str]) -> None:
        """The HRM (wrapped in DDP on several ranks) and the meta stored with every checkpoint."""
        cfg, d = self.cfg, self.d
        self.model_cfg = model_config_from_dict({"vocab_size": len(VOCAB), "seq_len": SEQ_LEN, **cfg.model})
        self.model = HRM(self.model_cfg).to(d.device)
        device_ids = [d.device.index] if d.device.type == "cuda" else None
        self.ddp = DistributedDataParallel(self.model, device_ids=device_ids) if d.world > 1 else self.model
        self.meta = {"train_config": to_dict(cfg), "vocab": list(vocab), "train_width": self.width,
                     "n_params": n_params(self.model)}

    def build_optimiser(self) -> None:
        """AdamW (puzzle-ID embeddings in their own group at ``puzzle_emb_lr``, if set), warm-up + cosine
        schedule over :attr:`total_steps`, and the schedule's sampler."""
        cfg, d = self.cfg, self.d
        own = [cfg.puzzle_emb_lr is not None and n.startswith("puzzle_emb.") for n, _ in self.model.named_parameters()]
        params = list(self.model.parameters())
        groups = [{"params": [p for p, o in zip(params, own) if not o]}]
        if any(own):  # the puzzle-ID embeddings at their own peak lr (same warm-up and cosine)
            groups.append({"params": [p for p, o in zip(params, own) if o], "lr": cfg.puzzle_emb_lr})
        self.opt = torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas,
                                     weight_decay=cfg.weight_decay, fused=d.device.type == "cuda")
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lambda s: cfg.lr_factor(s, self.total_steps))
        seed = cfg.seed * 1000 + d.rank
        self.sampler = CurriculumSampler(self.pool_ks, cfg.train_ks, cfg.promote_at, seed, cfg.max_per_stage,
                                         cfg.replay) \
            if cfg.schedule == "curriculum" else MixedSampler(self.pool_ks, cfg.train_ks, seed)

    def start_or_resume(self, resume: bool) -> None:
        """Continue from ``checkpoint/`` when asked and present, else log the start."""
        d = self.d
        if resume and (self.ckpt / "train_state.pt").exists():
            state = self._restore()
            self.step, self.examples_seen, self.sampler = _position(state, self.sampler, d)
            torch.set_rng_state(state["torch_rng"])
            if (self.out / "best" / "config.json").exists():
                self.best_select = json.loads((self.out / "best" / "config.json").read_text())["meta"]["select_exact"]
            self.log("resume", step=self.step)
        else:
            shutil.rmtree(self.out / "best", ignore_errors=True)  # an earlier run's selection
            self.log("start", n_params=self.meta["n_params"], world_size=d.world, device=str(d.device),
                     device_name=torch.cuda.get_device_name(d.device) if d.device.type == "cuda" else "cpu",
                     train_pool=self.n_pool, train_width=self.width, data_s=round(self.data_s, 2),
                     config=to_dict(self.cfg), model_config=to_dict(self.model_cfg))

    def _restore(self) -> dict[str, Any]:
        return _restore(self.ckpt, self.model, self.opt, self.sched, self.d.device)

    def train(self, progress: bool, time_budget_s: float | None, watchdog_cfg: WatchdogConfig) -> None:
        """The loop: optimiser steps until :attr:`total_steps`, with logging, evaluation and checkpoints."""
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        cfg, d = self.cfg, self.d
        self.model.train()
        watchdog = Watchdog(self.out, self.log, d.device, watchdog_cfg, main=d.main)
        watchdog.tick(self.step, self.sched)
        max_k = max(cfg.train_ks + cfg.heldout_ks)
        carry, window = None, _Window(max_k, d.device)
        bar = Progress(TextColumn("[bold]hrm[/] step {task.completed}/{task.total}"), BarColumn(),
                       TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                       disable=not progress)
        probe_t0 = time.perf_counter()
        with bar:
            task = bar.add_task("train", total=self.total_steps, completed=self.step, info="")
            while self.step < self.total_steps:
                carry, loss, stats, grad_norm, loaded = self._forward_backward(carry)
                if why := watchdog.problem(loss, grad_norm, d.sum):
                    # restore the last good checkpoint with a lower lr, or stop (TrainingDiverged)
                    self.log("nan", step=self.step, loss=loss.item(), grad_norm=grad_norm.item(), reason=why)
                    self.step, self.examples_seen, self.sampler = _position(watchdog.recover(
                        why, self.step, self.ckpt, self._restore, self.opt, self.sched), self.sampler, d)
                    carry, window = None, _Window(max_k, d.device)
                    bar.update(task, completed=self.step)
                    continue
                self.opt.step()
                self.sched.step()
                self.opt.zero_grad(set_to_none=True)
                self.step += 1
                window.add(loss, stats, carry, grad_norm, loaded)

                if self.step == _PROBE[0]:
                    probe_t0 = time.perf_counter()
                if time_budget_s and self.step == _PROBE[1]:
                    self._fit_time_budget(time_budget_s, probe_t0)
                    bar.update(task, total=self.total_steps)
                if self.step % cfg.log_every == 0 or self.step == self.total_steps:
                    bar.update(task, info=self._log_window(window))
                    window = _Window(max_k, d.device)
                if d.main and (self.step % cfg.eval_every == 0 or self.step == self.total_steps):
                    self._evaluate()
                if (self.step % cfg.ckpt_every == 0 or self.step == self.total_steps) and watchdog.checkpoint_ok(self.step):
                    self._checkpoint()
                bar.update(task, completed=self.step)
                watchdog.tick(self.step, self.sched)
        watchdog.beat(self.step, "finished")
        self.train_s = time.perf_counter() - self.t_start

    def _evaluate(self) -> None:
        """Periodic evaluation of the quick splits (under ``eval_halt_mode``); with ``select_k`` also the
        selection split, whose best exact accuracy so far (the later step on ties) keeps its weights
        in ``best/`` (``export_dtype``; the step and accuracy in its meta), replaced atomically."""
        cfg = self.cfg
        res = {name: evaluate(self.model, arrs, halt_mode=cfg.eval_halt_mode) for name, arrs in self.quick.items()}
        if self.select is not None:
            res["select"] = evaluate(self.model, self.select, halt_mode=cfg.eval_halt_mode)
            exact = float(np.mean([r["exact"] for r in res["select"].values()]))
            if exact >= self.best_select:
                self.best_select = exact
                tmp, best = self.out / "best.tmp", self.out / "best"
                shutil.rmtree(tmp, ignore_errors=True)
                save_model(self.model, tmp, dtype=getattr(torch, cfg.export_dtype),
                           meta={**self.meta, "step": self.step, "select_k": cfg.select_k, "select_exact": exact,
                                 "eval_halt_mode": cfg.eval_halt_mode})
                shutil.rmtree(best, ignore_errors=True)
                tmp.rename(best)
        self.log("eval", step=self.step, elapsed_s=time.perf_counter() - self.t_start,
                 examples_seen=self.examples_seen, **res)

    def _forward_backward(self, carry: Any) -> tuple[Any, torch.Tensor, dict[str, torch.Tensor], torch.Tensor, int]:
        """Refill the rows whose sample halted with the next examples (the others keep theirs; row 0 is
        a dummy), run one ACT segment, backpropagate and clip; returns the new carry, the loss, its
        statistics, the gradient norm and the number of rows loaded."""
        cfg, d, batch_size = self.cfg, self.d, self.cfg.batch_size
        refill = torch.arange(batch_size, device=d.device) if carry is None else carry.halted.nonzero().squeeze(1)
        rows = torch.zeros(batch_size, dtype=torch.long, device=d.device)
        rows[refill] = torch.as_tensor(self.sampler.next(len(refill)), device=d.device)
        batch = {k: v[rows] for k, v in self.pool.items()}
        if carry is None:
            carry = self.model.initial_carry(batch)
        with autocast(d.device):
            carry, outputs = self.ddp(carry, batch)
            loss, stats = act_loss(outputs, carry.data["labels"], loss_type=self.model_cfg.loss,
                                   step_labels=carry.data.get("step_labels"), step_weight=cfg.step_weight)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
        return carry, loss, stats, grad_norm, len(refill)

    def _fit_time_budget(self, time_budget_s: float, probe_t0: float) -> None:
        """Lower :attr:`total_steps` to what fits the budget at the step time measured since ``probe_t0``."""
        d = self.d
        per_step = (time.perf_counter() - probe_t0) / (_PROBE[1] - _PROBE[0])
        left = time_budget_s - (time.perf_counter() - self.t_start)
        fit = max(self.step, int(d.sum(torch.tensor([self.step + left * 0.92 / per_step], device=d.device)).item()
                                 / d.world))
        self.total_steps = min(self.total_steps, fit)
        self.log("budget", steps=self.total_steps, step_time_s=per_step, budget_s=time_budget_s)

    def _log_window(self, window: _Window) -> str:
        """Log the window's training statistics, promote the curriculum stage if due; returns the bar text."""
        w = window.read(self.d)
        self.examples_seen += w["samples_loaded"]
        self.log("train", step=self.step, lr=self.sched.get_last_lr()[0], stage=self.sampler.stage,
                 elapsed_s=time.perf_counter() - self.t_start, examples_seen=self.examples_seen, **w)
        info = (f"loss {w['loss']:.3f} exact {w['exact_acc']:.3f} steps {w['avg_halt_steps']:.2f} "
                f"stage {self.sampler.stage}")
        promoted = self.sampler.report({k: (v["exact"], v["n"]) for k, v in w["per_k"].items()},
                                       self.cfg.promote_min_count)
        if promoted:
            self.log("promote", step=self.step, **promoted)
        return info

    def _checkpoint(self) -> None:
        """Every rank's sampler state, saved with the weights and optimiser by rank 0."""
        samplers = self.d.gather(self.sampler)
        if self.d.main:
            _save_checkpoint(self.out, self.model, self.opt, self.sched, self.step, samplers, self.meta,
                             self.examples_seen)
        self.d.barrier()

    def export_and_evaluate(self) -> dict[str, Any]:
        """Write ``export/`` (weights in ``export_dtype``), reload it and score it on the full test
        splits under each ``final_eval`` setting into ``eval.json``; returns that."""
        cfg, d = self.cfg, self.d
        save_model(self.model, self.out / "export", dtype=getattr(torch, cfg.export_dtype),
                   meta={**self.meta, "step": self.step, "train_s": round(self.train_s, 1), "device": str(d.device),
                         "world_size": d.world, "steps": self.total_steps})
        exported, _ = load_model(self.out / "export", d.device)
        final = {"steps": self.total_steps, "train_s": self.train_s, "examples_seen": self.examples_seen,
                 "results": []}
        for setting in cfg.final_eval:
            res = {name: evaluate(exported, self.evals[name], **setting) for name in ("test_id", "heldout")}
            final["results"].append({"setting": setting, **res})
        (self.out / "eval.json").write_text(json.dumps(final, indent=2, default=float) + "\n")
        self.log("final", **final)
        return final


def main(argv: list[str] | None = None) -> int:
    """CLI entry point (exit 0 ok, 2 bad config, 3 diverged)."""
    p = FlagParser(prog="python -m hrm_agents.hrm.train", description=__doc__.splitlines()[0])
    p.add_argument("--config", help="recipe: a JSON file with TrainConfig fields (model settings under 'model'), "
                                    "or a name in hrm_agents/hrm/configs (default, fast, tiny, e3_tiny, e4_full, ...)")
    p.add_argument("--out", required=True, help="output folder (metrics.jsonl, checkpoint/, export/, eval.json)")
    p.add_argument("--schedule", choices=["curriculum", "mixed"], help="override the config's schedule")
    p.add_argument("--steps", type=int, help="override the number of optimiser steps")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint if present")
    p.add_argument("--device", choices=["cpu", "cuda"], help="default: cuda when available")
    p.add_argument("--time-budget-s", type=float, help="lower --steps to fit this wall-clock budget")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (for logs)")
    p.add_argument("--echo", action="store_true", help="also print every metrics line")
    w = WatchdogConfig()
    p.add_argument("--heartbeat_s", type=float, default=w.heartbeat_s, help="heartbeat.json every N s (default: %(default)s)")
    p.add_argument("--health_every_s", type=float, default=w.health_every_s,
                   help="CPU/RAM/GPU sample into metrics.jsonl every N s (default: %(default)s)")
    p.add_argument("--max_recoveries", type=int, default=w.max_recoveries,
                   help="restores of the last good checkpoint on NaN/inf or loss > --max_loss (default: %(default)s)")
    p.add_argument("--lr_factor", type=float, default=w.lr_factor, help="lr multiplier per recovery (default: %(default)s)")
    p.add_argument("--max_loss", type=float, default=w.max_loss, help="a loss above this is a divergence (default: %(default)g)")
    p.add_argument("--tracker", metavar="wandb|mlflow|wandb,mlflow",
                   help="also log to W&B (offline) and/or MLflow (local store in the parent of --out)")
    args = p.parse_args(argv)
    try:
        raw = load_json(args.config) if args.config else {}
        raw.update({k: v for k, v in (("schedule", args.schedule), ("steps", args.steps)) if v is not None})
        cfg = train_config_from_dict(raw)
        if args.threads:
            torch.set_num_threads(args.threads)
        progress = not args.no_progress and sys.stderr.isatty()
        train(cfg, args.out, resume=args.resume, progress=progress, device=args.device,
              time_budget_s=args.time_budget_s, echo=args.echo,
              watchdog=WatchdogConfig(args.heartbeat_s, args.health_every_s, args.max_loss, args.lr_factor,
                                      args.max_recoveries), tracker=args.tracker)
    except (ConfigError, TrackerError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except TrainingDiverged as e:
        print(f"error: {e}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
