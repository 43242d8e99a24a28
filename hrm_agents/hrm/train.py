"""Train the HRM on curriculum data: ``python -m hrm_agents.hrm.train --config CFG.json --out DIR``.

One optimiser step = one ACT segment for every row of the batch (the reference's scheme): rows whose
sample halted are refilled from the schedule's sampler, the others carry their state on. Logs
``metrics.jsonl`` in ``--out`` (training loss/accuracy per k, halt steps, Q-halt accuracy, grad norm,
throughput, ``examples_seen`` = rows loaded so far, counted at each train line; periodic evaluation
per k; curriculum promotions; ``health`` samples), keeps ``checkpoint/`` (safetensors +
config.json + optimiser state, replaced atomically) and ``heartbeat.json``, resumes with ``--resume``,
and on a non-finite or exploding loss restores the last good checkpoint with a lower learning rate
(:mod:`~hrm_agents.hrm.watchdog`), stopping after ``--max-recoveries``. At the end it writes the
exported model (``export/``, weights in ``export_dtype``) and scores that very file on the full
test splits (``eval.json``). Runs on CPU, one GPU (bf16 autocast), or several through ``torchrun``
(DistributedDataParallel; gloo on CPU, NCCL on GPU).
"""

from __future__ import annotations

import json
import math
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
from ..utils.flags import FlagParser
from .config import (ConfigError, TrainConfig, load_json, model_config_from_dict, to_dict,
                     train_config_from_dict)
from .data import CurriculumSampler, DataSpec, MixedSampler, load_data, used_width
from .evaluate import autocast, evaluate, subset, to_tensors
from .model import HRM, act_loss, load_model, n_params, save_model
from .watchdog import TrainingDiverged, Watchdog, WatchdogConfig


_PROBE = (10, 60)  # steps between which the step time is measured for --time-budget-s


def _lr_factor(cfg: TrainConfig, total: int):
    def factor(step: int) -> float:
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        progress = min(1.0, (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps))
        return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    return factor


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
    def __init__(self, path: Path, enabled: bool, echo: bool):
        self.path, self.enabled, self.echo = path, enabled, echo

    def __call__(self, event: str, **fields: Any) -> None:
        if not self.enabled:
            return
        line = json.dumps({"event": event, **fields}, default=float)
        with open(self.path, "a") as f:
            f.write(line + "\n")
        if self.echo:
            print(line, flush=True)


def train(cfg: TrainConfig, out_dir: str | Path, *, resume: bool = False, progress: bool = True,
          device: str | None = None, time_budget_s: float | None = None, echo: bool = False,
          data_cache: str | Path | None = None, data: tuple[dict, dict] | None = None,
          vocab: Sequence[str] = VOCAB, watchdog: WatchdogConfig = WatchdogConfig()) -> dict[str, Any]:
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
    """
    d = _Dist(device)
    out = Path(out_dir)
    try:
        return _train(cfg, out, d, resume=resume, progress=progress and d.main, time_budget_s=time_budget_s,
                      echo=echo, data_cache=data_cache, data=data, vocab=vocab, watchdog_cfg=watchdog)
    finally:
        d.close()


def _train(cfg: TrainConfig, out: Path, d: _Dist, *, resume: bool, progress: bool, time_budget_s: float | None,
           echo: bool, data_cache: str | Path | None, data: tuple[dict, dict] | None = None,
           vocab: Sequence[str] = VOCAB, watchdog_cfg: WatchdogConfig = WatchdogConfig()) -> dict[str, Any]:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    t_start = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    log = _Log(out / "metrics.jsonl", d.main, echo)
    torch.manual_seed(cfg.seed * 1000 + d.rank)

    # data (every rank builds the same pool; each samples with its own seed)
    spec = DataSpec(tuple(cfg.families), cfg.data_seed, tuple(cfg.train_ks), tuple(cfg.heldout_ks),
                    cfg.n_train_per_k, cfg.n_test_per_k)
    t0 = time.perf_counter()
    pool_np, evals_np = data or load_data(spec, workers=cfg.data_workers, cache_dir=data_cache)
    width = used_width(pool_np["inputs"]) if data is None else pool_np["inputs"].shape[1]
    pool = to_tensors({k: v[:, :width] if v.ndim == 2 else v for k, v in pool_np.items()}, d.device)
    n_pool = len(pool_np["k"])
    evals = {name: to_tensors(arrays, d.device) for name, arrays in evals_np.items()}
    quick = {name: subset(arrs, cfg.n_eval_per_k) for name, arrs in evals.items() if name != "test_id"}
    data_s = time.perf_counter() - t0

    model_cfg = model_config_from_dict({"vocab_size": len(VOCAB), "seq_len": SEQ_LEN, **cfg.model})
    model = HRM(model_cfg).to(d.device)
    ddp = DistributedDataParallel(model, device_ids=[d.device.index] if d.device.type == "cuda" else None) \
        if d.world > 1 else model
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay,
                            fused=d.device.type == "cuda")
    total_steps = cfg.steps
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _lr_factor(cfg, total_steps)(s))
    ks = pool_np["k"].astype(np.int64)
    sampler = CurriculumSampler(ks, cfg.train_ks, cfg.promote_at, cfg.seed * 1000 + d.rank, cfg.max_per_stage) \
        if cfg.schedule == "curriculum" else MixedSampler(ks, cfg.train_ks, cfg.seed * 1000 + d.rank)
    meta = {"train_config": to_dict(cfg), "vocab": list(vocab), "train_width": width,
            "n_params": n_params(model)}

    step = examples_seen = 0  # examples_seen: rows loaded into the batch so far, summed over ranks
    ckpt = out / "checkpoint"
    if resume and (ckpt / "train_state.pt").exists():
        state = _restore(ckpt, model, opt, sched, d.device)
        step, examples_seen, sampler = _position(state, sampler, d)
        torch.set_rng_state(state["torch_rng"])
        log("resume", step=step)
    else:
        log("start", n_params=meta["n_params"], world_size=d.world, device=str(d.device),
            device_name=torch.cuda.get_device_name(d.device) if d.device.type == "cuda" else "cpu",
            train_pool=n_pool, train_width=width, data_s=round(data_s, 2), config=to_dict(cfg),
            model_config=to_dict(model_cfg))

    model.train()
    watchdog = Watchdog(out, log, d.device, watchdog_cfg, main=d.main)
    watchdog.tick(step, sched)
    batch_size = cfg.batch_size
    carry = None
    max_k = max(cfg.train_ks + cfg.heldout_ks)
    window = _Window(max_k, d.device)
    bar = Progress(TextColumn("[bold]hrm[/] step {task.completed}/{task.total}"), BarColumn(),
                   TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                   disable=not progress)
    probe_t0 = time.perf_counter()
    with bar:
        task = bar.add_task("train", total=total_steps, completed=step, info="")
        while step < total_steps:
            # rows whose sample halted take the next examples; the others keep theirs (row 0 is a dummy)
            refill = torch.arange(batch_size, device=d.device) if carry is None else carry.halted.nonzero().squeeze(1)
            rows = torch.zeros(batch_size, dtype=torch.long, device=d.device)
            rows[refill] = torch.as_tensor(sampler.next(len(refill)), device=d.device)
            batch = {k: v[rows] for k, v in pool.items()}
            if carry is None:
                carry = model.initial_carry(batch)
            with autocast(d.device):
                carry, outputs = ddp(carry, batch)
                loss, stats = act_loss(outputs, carry.data["labels"], loss_type=model_cfg.loss,
                                       step_labels=carry.data.get("step_labels"), step_weight=cfg.step_weight)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            why = watchdog.problem(loss, grad_norm, d.sum)
            if why:  # restore the last good checkpoint with a lower lr, or stop (TrainingDiverged)
                log("nan", step=step, loss=loss.item(), grad_norm=grad_norm.item(), reason=why)
                step, examples_seen, sampler = _position(watchdog.recover(
                    why, step, ckpt, lambda: _restore(ckpt, model, opt, sched, d.device), opt, sched), sampler, d)
                carry, window = None, _Window(max_k, d.device)
                bar.update(task, completed=step)
                continue
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            step += 1
            window.add(loss, stats, carry, grad_norm, len(refill))

            if step == _PROBE[0]:
                probe_t0 = time.perf_counter()
            if time_budget_s and step == _PROBE[1]:
                per_step = (time.perf_counter() - probe_t0) / (_PROBE[1] - _PROBE[0])
                left = time_budget_s - (time.perf_counter() - t_start)
                fit = max(step, int(d.sum(torch.tensor([step + left * 0.92 / per_step], device=d.device)).item() / d.world))
                if fit < total_steps:
                    total_steps = fit
                    bar.update(task, total=total_steps)
                log("budget", steps=total_steps, step_time_s=per_step, budget_s=time_budget_s)

            if step % cfg.log_every == 0 or step == total_steps:
                w = window.read(d)
                window = _Window(max_k, d.device)
                examples_seen += w["samples_loaded"]
                log("train", step=step, lr=sched.get_last_lr()[0], stage=sampler.stage,
                    elapsed_s=time.perf_counter() - t_start, examples_seen=examples_seen, **w)
                bar.update(task, info=f"loss {w['loss']:.3f} exact {w['exact_acc']:.3f} "
                                      f"steps {w['avg_halt_steps']:.2f} stage {sampler.stage}")
                promoted = sampler.report({k: (v["exact"], v["n"]) for k, v in w["per_k"].items()},
                                          cfg.promote_min_count)
                if promoted:
                    log("promote", step=step, **promoted)
            if d.main and (step % cfg.eval_every == 0 or step == total_steps):
                res = {name: evaluate(model, arrs) for name, arrs in quick.items()}
                log("eval", step=step, elapsed_s=time.perf_counter() - t_start, examples_seen=examples_seen, **res)
            if step % cfg.ckpt_every == 0 or step == total_steps:
                samplers = d.gather(sampler)
                if d.main:
                    _save_checkpoint(out, model, opt, sched, step, samplers, meta, examples_seen)
                d.barrier()
            bar.update(task, completed=step)
            watchdog.tick(step, sched)

    watchdog.beat(step, "finished")
    train_s = time.perf_counter() - t_start
    if not d.main:
        return {}
    dtype = getattr(torch, cfg.export_dtype)
    save_model(model, out / "export", dtype=dtype,
               meta={**meta, "step": step, "train_s": round(train_s, 1), "device": str(d.device),
                     "world_size": d.world, "steps": total_steps})
    exported, _ = load_model(out / "export", d.device)
    final = {"steps": total_steps, "train_s": train_s, "examples_seen": examples_seen, "results": []}
    for setting in cfg.final_eval:
        res = {name: evaluate(exported, evals[name], **setting) for name in ("test_id", "heldout")}
        final["results"].append({"setting": setting, **res})
    (out / "eval.json").write_text(json.dumps(final, indent=2, default=float) + "\n")
    log("final", **final)
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
    p.add_argument("--heartbeat-s", type=float, default=w.heartbeat_s, help="heartbeat.json every N s (default: %(default)s)")
    p.add_argument("--health-every-s", type=float, default=w.health_every_s,
                   help="CPU/RAM/GPU sample into metrics.jsonl every N s (default: %(default)s)")
    p.add_argument("--max-recoveries", type=int, default=w.max_recoveries,
                   help="restores of the last good checkpoint on NaN/inf or loss > --max-loss (default: %(default)s)")
    p.add_argument("--lr-factor", type=float, default=w.lr_factor, help="lr multiplier per recovery (default: %(default)s)")
    p.add_argument("--max-loss", type=float, default=w.max_loss, help="a loss above this is a divergence (default: %(default)g)")
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
                                      args.max_recoveries))
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except TrainingDiverged as e:
        print(f"error: {e}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
