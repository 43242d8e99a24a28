"""Training and sampling loops of the causal LMs (:mod:`hrm_agents.hrm.lm`): pretraining on a token
stream, fine-tuning on prompt/completion pairs, and batched generation of MBPP completions.

Deep supervision: every batch runs the model's ``segments`` (1 for a plain LM), each followed by its
own loss, backward pass and optimiser step on the detached carry, as in the HRM paper; the learning
rate is scheduled per batch, so every arm sees the same schedule for the same data. A non-finite
loss stops training (``stable=False`` in the returned summary).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from .code_data import EOS_ID, PAD_ID, mbpp_prompt
from .lm import IGNORE_LABEL, CausalLM, lm_loss

Log = Callable[[dict[str, Any]], None]


@dataclass
class LMTrainConfig:
    """Optimiser and data settings shared by all arms (pretraining, then fine-tuning)."""

    batch_size: int = 64
    seq_len: int = 512
    lr: float = 5e-4
    min_lr_ratio: float = 0.1
    warmup_steps: int = 100
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.95)
    grad_clip: float = 1.0
    max_steps: int = 100_000
    log_every: int = 25
    ft_epochs: int = 3
    ft_lr: float = 3e-4
    ft_batch_size: int = 64
    ft_warmup_frac: float = 0.05
    ft_max_len: int = 512
    seed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _autocast(device: torch.device):
    return torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast("cpu", enabled=False)


def _optimizer(model: CausalLM, lr: float, cfg: LMTrainConfig, device: torch.device) -> torch.optim.Optimizer:
    decay = [p for p in model.parameters() if p.ndim >= 2]
    rest = [p for p in model.parameters() if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=tuple(cfg.betas), fused=device.type == "cuda")


def _cosine(step: int, total: int, warmup: int, min_ratio: float) -> float:
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def _train_batch(model: CausalLM, opt: torch.optim.Optimizer, inputs: torch.Tensor, labels: torch.Tensor,
                 lr: float, clip: float) -> float:
    """All segments of one batch (one optimiser step each); returns the last segment's loss."""
    for g in opt.param_groups:
        g["lr"] = lr
    state = None
    for _ in range(model.segments):
        with _autocast(inputs.device):
            logits, state = model(inputs, state)
        loss = lm_loss(logits, labels)
        if not torch.isfinite(loss):
            return float("nan")
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
    return float(loss.detach())


def pretrain(model: CausalLM, stream: np.ndarray, cfg: LMTrainConfig, *, deadline: float | None = None,
             plan_steps: Callable[[float], int] | None = None, log: Log = print) -> dict[str, Any]:
    """Next-token training on random ``seq_len`` windows of ``stream`` (uint16 ids).

    Runs ``cfg.max_steps`` batches, or, with ``plan_steps``, the number it returns when given the
    seconds per batch measured over batches 10-30 (how arms agree on one budget); never past
    ``deadline`` (``time.time()``). Returns a summary (steps, tokens, losses, wall time, stable).
    """
    device = model.embed.weight.device
    torch.backends.cuda.matmul.allow_tf32 = True
    rng = np.random.default_rng(cfg.seed)
    data = torch.from_numpy(stream.astype(np.int64))
    opt = _optimizer(model, cfg.lr, cfg, device)
    total, probe_t0, losses = cfg.max_steps, None, []
    t0 = time.time()
    first = last = float("nan")
    step, stable = 0, True
    model.train()
    while step < total:
        if deadline is not None and time.time() >= deadline:
            break
        starts = torch.from_numpy(rng.integers(0, len(data) - cfg.seq_len - 1, cfg.batch_size))
        idx = starts[:, None] + torch.arange(cfg.seq_len + 1)
        window = data[idx].to(device, non_blocking=True)
        lr = cfg.lr * _cosine(step, total, cfg.warmup_steps, cfg.min_lr_ratio)
        loss = _train_batch(model, opt, window[:, :-1], window[:, 1:], lr, cfg.grad_clip)
        if not math.isfinite(loss):
            stable = False
            log({"event": "diverged", "step": step})
            break
        losses.append(loss)
        step += 1
        if step == 10:
            _sync(device)
            probe_t0 = time.time()
            first = float(np.mean(losses))
        if step == 30 and plan_steps is not None and probe_t0 is not None:
            _sync(device)
            total = max(step, min(cfg.max_steps, plan_steps((time.time() - probe_t0) / 20)))
            log({"event": "planned", "steps": total})
        if step % cfg.log_every == 0 or step == total:
            last = float(np.mean(losses[-cfg.log_every:]))
            log({"event": "pretrain", "step": step, "loss": last, "lr": lr, "elapsed_s": time.time() - t0})
    _sync(device)
    last = float(np.mean(losses[-cfg.log_every:])) if losses else float("nan")
    return {"steps": step, "planned_steps": total, "tokens": step * cfg.batch_size * cfg.seq_len,
            "loss_first10": first, "loss_last": last, "wall_s": time.time() - t0,
            "stable": stable and (math.isnan(first) or last < first)}


def finetune(model: CausalLM, examples: Sequence[tuple[list[int], int]], cfg: LMTrainConfig, *,
             log: Log = print) -> dict[str, Any]:
    """``ft_epochs`` over (ids, prompt length) pairs, loss on the completion only; linear warm-up over
    ``ft_warmup_frac`` of the steps, then cosine decay."""
    device = model.embed.weight.device
    rng = np.random.default_rng(cfg.seed + 1)
    per_epoch = math.ceil(len(examples) / cfg.ft_batch_size)
    total = per_epoch * cfg.ft_epochs
    warm = max(1, round(cfg.ft_warmup_frac * total))
    opt = _optimizer(model, cfg.ft_lr, cfg, device)
    t0, step, losses, stable = time.time(), 0, [], True
    model.train()
    for epoch in range(cfg.ft_epochs):
        order = rng.permutation(len(examples))
        for b in range(per_epoch):
            batch = [examples[i] for i in order[b * cfg.ft_batch_size:(b + 1) * cfg.ft_batch_size]]
            width = min(cfg.ft_max_len, max(len(ids) for ids, _ in batch))
            inputs = torch.full((len(batch), width), PAD_ID, dtype=torch.long)
            labels = torch.full((len(batch), width), IGNORE_LABEL, dtype=torch.long)
            for r, (ids, plen) in enumerate(batch):
                ids = ids[:width + 1]
                inputs[r, :len(ids) - 1] = torch.tensor(ids[:-1])
                target = torch.tensor(ids[1:])
                target[:max(0, plen - 1)] = IGNORE_LABEL
                labels[r, :len(ids) - 1] = target
            lr = cfg.ft_lr * _cosine(step, total, warm, 0.0)
            loss = _train_batch(model, opt, inputs.to(device), labels.to(device), lr, cfg.grad_clip)
            step += 1
            if not math.isfinite(loss):
                stable = False
                log({"event": "diverged", "phase": "finetune", "step": step})
                return {"steps": step, "losses": losses, "wall_s": time.time() - t0, "stable": False}
            losses.append(loss)
        log({"event": "finetune", "epoch": epoch + 1, "loss": float(np.mean(losses[-per_epoch:]))})
    return {"steps": step, "loss_first_epoch": float(np.mean(losses[:per_epoch])),
            "loss_last_epoch": float(np.mean(losses[-per_epoch:])), "wall_s": time.time() - t0, "stable": stable}


def generate_mbpp(model: CausalLM, tok: Any, rows: Sequence[dict[str, Any]], out_path: str | Path, *,
                  n_samples: int = 10, temperature: float = 0.8, top_p: float = 0.95, max_new_tokens: int = 320,
                  batch_rows: int = 256, seed: int = 0, deadline: float | None = None,
                  log: Log = print) -> dict[str, Any]:
    """Greedy completion of every row first, then ``n_samples`` sampled ones per row; each batch is
    appended to ``out_path`` (JSONL: ``task_id``, ``kind`` greedy/sample, ``index``, ``text``,
    ``n_tokens``, ``finished`` = ended at ``<|endoftext|>``) as it finishes, so a timeout keeps
    what was done. Stops before a batch that would start past ``deadline``."""
    device = model.embed.weight.device
    model.eval()
    if device.type == "cuda":  # hand back the training phase's cached blocks before the KV caches grow
        torch.cuda.empty_cache()
    prompts = {r["task_id"]: tok.encode(mbpp_prompt(r["text"], r["test_list"])).ids for r in rows}
    by_len = sorted(prompts, key=lambda t: len(prompts[t]))
    greedy = [(t, "greedy", 0) for t in by_len]
    sampled = [(t, "sample", i) for t in by_len for i in range(n_samples)]
    batches = [jobs[lo:lo + batch_rows] for jobs in (greedy, sampled) for lo in range(0, len(jobs), batch_rows)]
    gen = torch.Generator(device=device).manual_seed(seed)
    t0, done, n_tokens = time.time(), 0, 0
    with open(out_path, "a") as f:
        for chunk in batches:
            if deadline is not None and time.time() >= deadline:
                log({"event": "generate_deadline", "done": done, "of": len(greedy) + len(sampled)})
                break
            temp = 0.0 if chunk[0][1] == "greedy" else temperature
            with _autocast(device):
                outs = model.generate([prompts[t] for t, _, _ in chunk], max_new_tokens + 1, eos_id=EOS_ID,
                                      temperature=temp, top_p=top_p, generator=gen)
            for (task, kind, index), ids in zip(chunk, outs):
                finished = len(ids) <= max_new_tokens
                ids = ids[:max_new_tokens]
                f.write(json.dumps({"task_id": task, "kind": kind, "index": index, "text": tok.decode(ids),
                                    "n_tokens": len(ids), "finished": finished}) + "\n")
                n_tokens += len(ids)
            f.flush()
            done += len(chunk)
            log({"event": "generate", "done": done, "of": len(greedy) + len(sampled), "elapsed_s": time.time() - t0})
    return {"completions": done, "tokens": n_tokens, "wall_s": time.time() - t0}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
