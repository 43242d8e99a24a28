"""Training watchdog for :mod:`hrm_agents.hrm.train`: heartbeat, system health, recovery.

- **Heartbeat**: ``heartbeat.json`` in the run folder (time, step, pid, status), rewritten
  atomically by the training loop every ``heartbeat_s`` seconds, so a stale file means the loop
  itself is stuck, not just the process alive. Its status ends as ``finished`` or ``stopped``.
- **System health**: every ``health_every_s`` seconds a ``health`` line in ``metrics.jsonl`` with
  CPU %, RAM % and this process's resident memory (psutil), plus GPU memory and utilisation where a
  GPU is used (utilisation needs NVML; left out without it).
- **Recovery**: a loss or gradient norm that is NaN/inf, or a loss above ``max_loss``, makes the
  trainer restore the last good checkpoint (weights, optimiser, scheduler, sampler, step), multiply
  the learning rate by ``lr_factor`` (once per recovery, cumulatively) and go on; a ``recover`` line
  records it. After ``max_recoveries`` recoveries, or with no checkpoint written yet, training stops
  with :class:`TrainingDiverged` (one line; exit code 3 from the CLI).
- **Good checkpoints only**: a checkpoint is skipped (``checkpoint_skipped`` line) while the mean
  loss of the last ``loss_window`` steps is above ``spike_factor`` times the lowest such mean so far,
  so a run that drifts towards divergence does not overwrite its last good checkpoint.

Only rank 0 writes the heartbeat and health lines; every rank takes the same recovery decision.
"""

from __future__ import annotations

import math
import os
import socket
from collections import deque
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import psutil
import torch

from ..utils.jsonio import write_json


class TrainingDiverged(RuntimeError):
    """Loss or gradient became NaN/inf (or exploded) and could not be recovered; the last good
    checkpoint was kept."""


@dataclass(frozen=True)
class WatchdogConfig:
    """Watchdog settings (see the module doc). ``max_recoveries=0`` stops at the first bad step."""

    heartbeat_s: float = 60.0
    health_every_s: float = 60.0
    max_loss: float = 1e6
    lr_factor: float = 0.5
    max_recoveries: int = 3
    spike_factor: float = 10.0
    loss_window: int = 10


def health_sample(device: torch.device) -> dict[str, Any]:
    """CPU %, RAM %, process RSS (MiB) and, on a CUDA device, GPU memory (MiB) and utilisation %."""
    sample: dict[str, Any] = {"cpu_percent": psutil.cpu_percent(interval=None),
                              "ram_percent": psutil.virtual_memory().percent,
                              "rss_mb": psutil.Process().memory_info().rss / 2**20}
    if device.type == "cuda":
        sample["gpu_mem_mb"] = torch.cuda.memory_allocated(device) / 2**20
        sample["gpu_mem_reserved_mb"] = torch.cuda.memory_reserved(device) / 2**20
        try:
            sample["gpu_util_percent"] = torch.cuda.utilization(device)
        except Exception:  # noqa: BLE001 - NVML missing: no utilisation figure
            pass
    return sample


class Watchdog:
    """Heartbeat, health samples and recovery bookkeeping of one training run.

    Args:
        out: the run folder (``heartbeat.json`` goes there).
        log: the trainer's metrics logger, ``log(event, **fields)``.
        device: the training device (for GPU figures).
        config: :class:`WatchdogConfig`.
        main: whether this is rank 0 (the only one writing files).
    """

    def __init__(self, out: Path, log: Callable[..., None], device: torch.device,
                 config: WatchdogConfig = WatchdogConfig(), main: bool = True):
        self.out, self.log, self.device, self.config, self.main = out, log, device, config, main
        self.recoveries = 0
        self._losses: deque[float] = deque(maxlen=config.loss_window)
        self._best = math.inf  # lowest mean loss over a full window so far
        self._base_lrs: list[float] | None = None
        self._last_beat = self._last_health = float("-inf")
        psutil.cpu_percent(interval=None)  # starts the CPU measurement window

    def tick(self, step: int, sched: Any) -> None:
        """Call once per optimiser step: writes the heartbeat / a health line when they are due."""
        if self._base_lrs is None:
            self._base_lrs = list(sched.base_lrs)
        if not self.main:
            return
        now = time.monotonic()
        if now - self._last_beat >= self.config.heartbeat_s:
            self.beat(step, "training")
        if now - self._last_health >= self.config.health_every_s:
            self._last_health = now
            self.log("health", step=step, **health_sample(self.device))

    def beat(self, step: int, status: str) -> None:
        """Rewrite ``heartbeat.json`` now."""
        if not self.main:
            return
        self._last_beat = time.monotonic()
        write_json(self.out / "heartbeat.json", {
            "time": datetime.now(timezone.utc).isoformat(timespec="seconds"), "step": step, "status": status,
            "pid": os.getpid(), "host": socket.gethostname(), "recoveries": self.recoveries})

    def problem(self, loss: torch.Tensor, grad_norm: torch.Tensor,
                reduce: Callable[[torch.Tensor], torch.Tensor]) -> str | None:
        """Why this step must not be applied (on any rank), or None. One host sync per call; a good
        step's loss (mean over ranks) joins the recent-loss window."""
        loss, grad_norm = loss.detach().float(), grad_norm.detach().float()
        flags = torch.stack([(~torch.isfinite(loss) | ~torch.isfinite(grad_norm)).float(),
                             (loss > self.config.max_loss).float(), torch.nan_to_num(loss), torch.ones_like(loss)])
        nonfinite, exploded, loss_sum, ranks = reduce(flags).tolist()
        if nonfinite:
            return "non-finite loss or gradient"
        if exploded:
            return f"loss above {self.config.max_loss:g}"
        self._losses.append(loss_sum / ranks)
        if len(self._losses) == self._losses.maxlen:
            self._best = min(self._best, sum(self._losses) / len(self._losses))
        return None

    def checkpoint_ok(self, step: int) -> bool:
        """Whether a checkpoint may be written now: not while the recent loss is a spike (above
        ``spike_factor`` x the best recent loss); a skipped checkpoint is logged."""
        recent = sum(self._losses) / len(self._losses) if self._losses else math.nan
        if not recent > self.config.spike_factor * self._best:  # True while no full window yet
            return True
        self.log("checkpoint_skipped", step=step, recent_loss=recent, best_loss=self._best)
        return False

    def recover(self, why: str, step: int, ckpt: Path, restore: Callable[[], dict[str, Any]], opt: Any,
                sched: Any) -> dict[str, Any]:
        """Restore the last good checkpoint (``restore()`` loads it and returns its train state) and
        lower the learning rate; raises :class:`TrainingDiverged` when no recovery is left."""
        if self.recoveries >= self.config.max_recoveries or not (ckpt / "train_state.pt").exists():
            left = "no checkpoint to restore yet" if self.recoveries < self.config.max_recoveries \
                else f"after {self.recoveries} recoveries"
            self.beat(step, "stopped")
            raise TrainingDiverged(f"{why} at step {step}, {left}; last good checkpoint kept at "
                                   f"{ckpt if ckpt.exists() else '(none yet)'}")
        state = restore()
        self.recoveries += 1
        scale = self.config.lr_factor ** self.recoveries
        base = self._base_lrs or list(sched.base_lrs)
        sched.base_lrs = [b * scale for b in base]
        for group, b, fn in zip(opt.param_groups, sched.base_lrs, sched.lr_lambdas):
            group["lr"] = b * fn(sched.last_epoch)
        opt.zero_grad(set_to_none=True)
        self._losses.clear()
        self.log("recover", step=step, reason=why, restored_step=state["step"], recovery=self.recoveries,
                 lr_scale=scale, lr=opt.param_groups[0]["lr"])
        self.beat(state["step"], "training")
        return state
