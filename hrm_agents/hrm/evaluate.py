"""Score an HRM checkpoint per step count k: ``python -m hrm_agents.hrm.evaluate [--checkpoint DIR]``.

Regenerates the checkpoint's evaluation splits from its training config (same seed and sizes, so
``test_id``/``heldout`` are exactly the tasks excluded from its training pool) and reports exact
accuracy with 95% Wilson intervals, token accuracy, mean ACT segments and Q-halt accuracy, for any
halting settings, e.g. ``--halt-mode fixed --max-steps 1 2 3 4`` for accuracy against compute.
"""

from __future__ import annotations

import json
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..evaluation.stats import wilson_ci
from ..utils.constants import IGNORE_LABEL
from ..utils.flags import FlagParser
from .model import HRM, load_model


def to_tensors(arrays: dict[str, np.ndarray], device: torch.device | str) -> dict[str, torch.Tensor]:
    """Array dict -> int64 tensors on ``device``."""
    return {k: torch.as_tensor(v, dtype=torch.long, device=device) for k, v in arrays.items()}


def subset(arrays: dict[str, torch.Tensor], n_per_k: int) -> dict[str, torch.Tensor]:
    """The first ``n_per_k`` rows of every k."""
    keep = torch.cat([torch.nonzero(arrays["k"] == k).squeeze(1)[:n_per_k] for k in arrays["k"].unique()])
    return {k: v[keep] for k, v in arrays.items()}


def autocast(device: torch.device):
    """bf16 autocast on CUDA, nothing on CPU."""
    return torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else nullcontext()


@torch.no_grad()
def score(model: HRM, data: dict[str, torch.Tensor], *, batch_size: int = 1024, halt_mode: str | None = None,
          max_steps: int | None = None) -> dict[str, np.ndarray]:
    """Per-sample results under ``model.predict`` halting: ``k``, ``exact`` (bool), ``token_acc``,
    ``steps`` (ACT segments used) and ``q_halt_prob`` (the Q-head's P(correct) at the halting segment)."""
    was_training = model.training
    model.eval()
    parts: list[dict[str, torch.Tensor]] = []
    for i in range(0, len(data["inputs"]), batch_size):
        inputs, labels, ks = (data[k][i:i + batch_size] for k in ("inputs", "labels", "k"))
        with autocast(inputs.device):
            pids = data["puzzle_ids"][i:i + batch_size] if "puzzle_ids" in data else None
            pred = model.predict(inputs, halt_mode=halt_mode, max_steps=max_steps, puzzle_ids=pids)
        mask = labels != IGNORE_LABEL
        correct = (pred.tokens == labels) & mask
        parts.append({"k": ks, "exact": correct.sum(1) == mask.sum(1),
                      "token_acc": correct.sum(1) / mask.sum(1).clamp_min(1), "steps": pred.steps,
                      "q_halt_prob": pred.q_halt_prob.float()})
    model.train(was_training)
    return {key: torch.cat([p[key] for p in parts]).cpu().numpy() for key in parts[0]} if parts else {}


def evaluate(model: HRM, data: dict[str, torch.Tensor], *, batch_size: int = 1024, halt_mode: str | None = None,
             max_steps: int | None = None) -> dict[int, dict[str, Any]]:
    """Per k: ``n``, ``exact`` (+ ``exact_ci95``), ``token_acc``, ``avg_steps`` and ``q_halt_acc``
    (the Q-head's P(correct) >= 0.5 agrees with exactness), under ``model.predict`` halting."""
    s = score(model, data, batch_size=batch_size, halt_mode=halt_mode, max_steps=max_steps)
    out = {}
    for k in sorted(np.unique(s["k"]).tolist()) if s else []:
        sel = s["k"] == k
        n, ex = int(sel.sum()), int(s["exact"][sel].sum())
        lo, hi = wilson_ci(ex, n)
        out[k] = {"n": n, "exact": ex / n, "exact_ci95": [lo, hi], "token_acc": float(s["token_acc"][sel].mean()),
                  "avg_steps": float(s["steps"][sel].mean()),
                  "q_halt_acc": float(((s["q_halt_prob"][sel] >= 0.5) == s["exact"][sel]).mean())}
    return out


def checkpoint_splits(meta: dict[str, Any], n_per_k: int | None = None) -> dict[str, dict[str, np.ndarray]]:
    """Encoded ``test_id`` and ``heldout`` splits of a checkpoint's training config (first ``n_per_k`` per k)."""
    from .data import DataSpec, encode, eval_splits

    tc = meta["train_config"]
    spec = DataSpec(tuple(tc["families"]), tc["data_seed"], tuple(tc["train_ks"]), tuple(tc["heldout_ks"]),
                    n_test_per_k=tc["n_test_per_k"])
    splits = eval_splits(spec)
    out = {}
    for name in ("test_id", "heldout"):
        arrays = encode(splits[name])
        if n_per_k is not None:
            keep = np.concatenate([np.flatnonzero(arrays["k"] == k)[:n_per_k] for k in np.unique(arrays["k"])])
            arrays = {k: v[keep] for k, v in arrays.items()}
        out[name] = arrays
    return out


def main(argv: list[str] | None = None) -> int:
    from .backend import DEFAULT_CHECKPOINT

    p = FlagParser(prog="python -m hrm_agents.hrm.evaluate", description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    p.add_argument("--n-per-k", type=int, help="first N tasks per k (default: the whole split)")
    p.add_argument("--halt-mode", choices=["act", "fixed", "equilibrium", "random"])
    p.add_argument("--max-steps", type=int, nargs="+", default=[None], help="one run per value")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int)
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    model, meta = load_model(args.checkpoint, args.device)
    data = {n: to_tensors(a, args.device) for n, a in checkpoint_splits(meta, args.n_per_k).items()}
    results = []
    print("| halting | max steps | k | n | exact | 95% CI | avg segments | q-halt acc |")
    print("|---|---|---|---|---|---|---|---|")
    for max_steps in args.max_steps:
        res = {}
        for name, arrays in data.items():
            res.update(evaluate(model, arrays, halt_mode=args.halt_mode, max_steps=max_steps))
        results.append({"halt_mode": args.halt_mode, "max_steps": max_steps, "per_k": res})
        for k, r in res.items():
            lo, hi = r["exact_ci95"]
            print(f"| {args.halt_mode or model.config.halt_mode} | {max_steps or model.config.halt_max_steps} | {k} | "
                  f"{r['n']} | {r['exact']:.4f} | [{lo:.4f}, {hi:.4f}] | {r['avg_steps']:.2f} | {r['q_halt_acc']:.3f} |",
                  flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=float) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
