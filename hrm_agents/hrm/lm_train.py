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
from typing import Any, Callable, Collection, Sequence

import numpy as np
import torch

from ..utils.constants import IGNORE_LABEL
from .code_data import EOS_ID, PAD_ID, mbpp_prompt
from .config import OptimConfig, warmup_cosine
from .lm import CausalLM, lm_loss

Log = Callable[[dict[str, Any]], None]


@dataclass
class LMTrainConfig(OptimConfig):
    """Settings shared by all arms: the optimiser (:class:`~hrm_agents.hrm.config.OptimConfig`;
    pretraining lr 5e-4), pretraining for ``max_steps`` batches of ``batch_size`` x ``seq_len``
    tokens (the equal budget), then ``ft_epochs`` of fine-tuning."""

    lr: float = 5e-4
    batch_size: int = 64
    seq_len: int = 512
    max_steps: int = 100_000
    log_every: int = 25
    ft_epochs: int = 3
    ft_lr: float = 3e-4
    ft_batch_size: int = 64
    ft_warmup_frac: float = 0.05
    ft_max_len: int = 512
    seed: int = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON form (logged at the start of every arm)."""
        return asdict(self)


def _autocast(device: torch.device):
    return torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast("cpu", enabled=False)


def _optimizer(model: CausalLM, lr: float, cfg: LMTrainConfig, device: torch.device) -> torch.optim.Optimizer:
    decay = [p for p in model.parameters() if p.ndim >= 2]
    rest = [p for p in model.parameters() if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=tuple(cfg.betas), fused=device.type == "cuda")


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
             log: Log = print) -> dict[str, Any]:
    """Next-token training on random ``seq_len`` windows of ``stream`` (uint16 ids) for ``cfg.max_steps``
    batches (every arm's equal budget), unless ``deadline`` (``time.time()``) comes first: then the
    summary's ``steps`` is below ``planned_steps``. Returns steps, tokens, losses, wall time, stable."""
    device = model.embed.weight.device
    torch.backends.cuda.matmul.allow_tf32 = True
    rng = np.random.default_rng(cfg.seed)
    data = torch.from_numpy(stream.astype(np.int64))
    opt = _optimizer(model, cfg.lr, cfg, device)
    t0, losses, step, stable = time.time(), [], 0, True
    model.train()
    while step < cfg.max_steps and (deadline is None or time.time() < deadline):
        starts = torch.from_numpy(rng.integers(0, len(data) - cfg.seq_len - 1, cfg.batch_size))
        window = data[starts[:, None] + torch.arange(cfg.seq_len + 1)].to(device, non_blocking=True)
        lr = cfg.lr * cfg.lr_factor(step, cfg.max_steps)
        loss = _train_batch(model, opt, window[:, :-1], window[:, 1:], lr, cfg.grad_clip)
        if not math.isfinite(loss):
            stable = False
            log({"event": "diverged", "step": step})
            break
        losses.append(loss)
        step += 1
        if step % cfg.log_every == 0 or step == cfg.max_steps:
            log({"event": "pretrain", "step": step, "loss": float(np.mean(losses[-cfg.log_every:])), "lr": lr,
                 "elapsed_s": time.time() - t0})
    _sync(device)
    first = float(np.mean(losses[:10])) if losses else float("nan")
    last = float(np.mean(losses[-cfg.log_every:])) if losses else float("nan")
    return {"steps": step, "planned_steps": cfg.max_steps, "tokens": step * cfg.batch_size * cfg.seq_len,
            "loss_first10": first, "loss_last": last, "wall_s": time.time() - t0,
            "stable": stable and (len(losses) < 20 or last < first)}  # too few batches to judge a fall


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
            lr = cfg.ft_lr * warmup_cosine(step, total, warm, 0.0)
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


Job = tuple[int, str, int]  # (task_id, "greedy" | "sample", sample index)


def plan_batches(groups: Sequence[Sequence[Job]], prompt_len: dict[int, int], *, max_new_tokens: int,
                 max_rows: int, kv_bytes_per_position: int, kv_budget_bytes: float) -> list[list[Job]]:
    """Consecutive ``groups`` (a task's jobs; keep them sorted by prompt length) packed into batches of
    at most ``max_rows`` rows whose KV cache (rows x (longest prompt + ``max_new_tokens``) positions)
    stays within ``kv_budget_bytes``; a group is never split, and a batch holds at least one group."""
    batches: list[list[Job]] = []
    batch: list[Job] = []
    width = 0
    for group in groups:
        w = max(width, max(prompt_len[t] for t, _, _ in group))
        rows = len(batch) + len(group)
        if batch and (rows > max_rows or rows * (w + max_new_tokens) * kv_bytes_per_position > kv_budget_bytes):
            batches.append(batch)
            batch, w = [], max(prompt_len[t] for t, _, _ in group)
        batch += group
        width = w
    return batches + ([batch] if batch else [])


def generate_mbpp(model: CausalLM, tok: Any, rows: Sequence[dict[str, Any]], out_path: str | Path, *,
                  n_samples: int = 10, temperature: float = 0.8, top_p: float = 0.95, max_new_tokens: int = 256,
                  max_rows: int = 1000, kv_budget_bytes: float = 20e9, seed: int = 0,
                  deadline: float | None = None, sample_ids: Collection[int] | None = None,
                  log: Log = print) -> dict[str, Any]:
    """Greedy completion of every row first, then ``n_samples`` sampled ones per row (only the rows
    whose ``task_id`` is in ``sample_ids``, if given: completing an earlier, cut-short call); each batch is
    appended to ``out_path`` (JSONL: ``task_id``, ``kind`` greedy/sample, ``index``, ``text``,
    ``n_tokens``, ``finished`` = ended at ``<|endoftext|>``) as it finishes, so a timeout keeps
    what was done. Batches (:func:`plan_batches`) hold prompts of similar length; the sampled
    batches run in a seeded random order, so a ``deadline`` (no batch starts past it) leaves a
    random subset of tasks with all their samples, not only the shortest prompts. A batch that
    runs out of GPU memory is split in halves and retried."""
    device = model.embed.weight.device
    model.eval()
    if device.type == "cuda":  # hand back the training phase's cached blocks before the KV caches grow
        torch.cuda.empty_cache()
    prompts = {r["task_id"]: tok.encode(mbpp_prompt(r["text"], r["test_list"])).ids for r in rows}
    by_len = sorted(prompts, key=lambda t: len(prompts[t]))
    plan = dict(prompt_len={t: len(p) for t, p in prompts.items()}, max_new_tokens=max_new_tokens,
                max_rows=max_rows, kv_budget_bytes=kv_budget_bytes,
                kv_bytes_per_position=model.kv_bytes_per_position(2 if device.type == "cuda" else 4))
    greedy = plan_batches([[(t, "greedy", 0)] for t in by_len], **plan)
    to_sample = [t for t in by_len if sample_ids is None or t in sample_ids]
    sampled = plan_batches([[(t, "sample", i) for i in range(n_samples)] for t in to_sample], **plan) if n_samples else []
    order = np.random.default_rng(seed).permutation(len(sampled))
    batches = greedy + [sampled[i] for i in order]
    total = sum(map(len, batches))
    gen = torch.Generator(device=device).manual_seed(seed)

    def run(chunk: list[Job]) -> list[list[int]]:
        temp = 0.0 if chunk[0][1] == "greedy" else temperature
        try:
            with _autocast(device):
                return model.generate([prompts[t] for t, _, _ in chunk], max_new_tokens + 1, eos_id=EOS_ID,
                                      temperature=temp, top_p=top_p, generator=gen)
        except torch.cuda.OutOfMemoryError:
            if len(chunk) == 1:
                raise
        torch.cuda.empty_cache()  # outside the except block: the failed call's tensors are released
        log({"event": "generate_oom_split", "rows": len(chunk)})
        return run(chunk[:len(chunk) // 2]) + run(chunk[len(chunk) // 2:])

    t0, done, n_tokens = time.time(), 0, 0
    with open(out_path, "a") as f:
        for chunk in batches:
            if deadline is not None and time.time() >= deadline:
                log({"event": "generate_deadline", "done": done, "of": total})
                break
            for (task, kind, index), ids in zip(chunk, run(chunk)):
                finished = len(ids) <= max_new_tokens
                ids = ids[:max_new_tokens]
                f.write(json.dumps({"task_id": task, "kind": kind, "index": index, "text": tok.decode(ids),
                                    "n_tokens": len(ids), "finished": finished}) + "\n")
                n_tokens += len(ids)
            f.flush()
            done += len(chunk)
            log({"event": "generate", "done": done, "of": total, "rows": len(chunk), "elapsed_s": time.time() - t0})
    return {"completions": done, "of": total, "batches": len(batches), "tokens": n_tokens, "wall_s": time.time() - t0}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
