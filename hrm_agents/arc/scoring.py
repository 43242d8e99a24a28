"""Scoring ARC predictions as the ARC community does.

For every held-out test input the model predicts on every augmented copy; each prediction is decoded,
mapped back through its copy's inverse augmentation and counted as a vote (the HRM's voting; ties go
to the higher mean Q-halt probability). ``pass@k`` = the true grid is among the ``k`` most-voted
grids. Next to it: exact-grid and per-cell accuracy of single predictions, on the original copy
(``orig_*``) and averaged over the augmented copies (``aug_*``), per example and per puzzle (a
puzzle's score is the mean over its test inputs, as in ARC's scoring).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Sequence

import numpy as np

from ..utils.constants import IGNORE_LABEL
from .data import COLOUR0, Augmentation, Puzzle, decode_grid

PASS_KS = (1, 2, 10)


def predict(model: Any, arrays: dict[str, np.ndarray], *, batch_size: int = 1024, device: Any = "cpu",
            halt_mode: str | None = None, max_steps: int | None = None) -> dict[str, np.ndarray]:
    """``tokens`` (int8 [N, S]), ``steps`` and ``q_halt_prob`` of ``model.predict`` on ``arrays``
    (``inputs`` and ``puzzle_ids``), in batches; ``halt_mode`` / ``max_steps`` override the model's
    halting (e.g. more ACT segments at test time than in training)."""
    import torch

    from ..hrm.evaluate import autocast

    device = torch.device(device)
    was_training = model.training
    model.eval()
    parts: dict[str, list[np.ndarray]] = defaultdict(list)
    with torch.no_grad():
        for i in range(0, len(arrays["inputs"]), batch_size):
            inputs = torch.as_tensor(arrays["inputs"][i:i + batch_size], dtype=torch.long, device=device)
            pids = torch.as_tensor(arrays["puzzle_ids"][i:i + batch_size], dtype=torch.long, device=device)
            with autocast(device):
                pred = model.predict(inputs, puzzle_ids=pids, halt_mode=halt_mode, max_steps=max_steps)
            parts["tokens"].append(pred.tokens.to(torch.int8).cpu().numpy())
            parts["steps"].append(pred.steps.cpu().numpy())
            parts["q_halt_prob"].append(pred.q_halt_prob.float().cpu().numpy())
    model.train(was_training)
    return {k: np.concatenate(v) for k, v in parts.items()}


def row_accuracy(tokens: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: exact (every non-ignored label token right: colours, grid shape through the EOS
    markers) and per-cell accuracy (share of the output grid's cells right)."""
    scored = labels != IGNORE_LABEL
    cells = labels >= COLOUR0
    right = tokens.astype(np.int16) == labels
    exact = (right | ~scored).all(1)
    cell = (right & cells).sum(1) / np.maximum(cells.sum(1), 1)
    return exact, cell


def vote(grids: Sequence[np.ndarray | None], confidence: Sequence[float]) -> list[np.ndarray]:
    """Distinct grids ranked by votes (then by mean confidence); undecodable predictions (None) are dropped."""
    tally: dict[tuple, list] = {}
    for g, q in zip(grids, confidence):
        if g is None:
            continue
        key = (g.shape, g.astype(np.int8).tobytes())
        entry = tally.setdefault(key, [0, 0.0, g])
        entry[0] += 1
        entry[1] += q
    ranked = sorted(tally.values(), key=lambda e: (-e[0], -e[1] / e[0]))
    return [e[2] for e in ranked]


def score(pred: dict[str, np.ndarray], test: dict[str, np.ndarray], puzzles: Sequence[Puzzle],
          augs: Sequence[Augmentation], size: int, ks: Sequence[int] = PASS_KS) -> dict[str, Any]:
    """Per example, per puzzle and overall scores of predictions ``pred`` on the ``test`` arrays of
    :func:`~hrm_agents.arc.data.build_arrays` (rows of every copy of every held-out test input)."""
    exact, cell = row_accuracy(pred["tokens"], test["labels"])
    groups: dict[tuple[int, int], list[int]] = defaultdict(list)
    for row, key in enumerate(zip(test["puzzle"].tolist(), test["example"].tolist())):
        groups[key].append(row)
    examples = []
    for (p, e), rows in sorted(groups.items()):
        rows_a = np.asarray(rows)
        copies = test["copy"][rows_a]
        orig = rows_a[copies == 0]
        aug = rows_a[copies > 0] if (copies > 0).any() else orig
        grids = []
        for r in rows:
            g = decode_grid(pred["tokens"][r], size)
            grids.append(None if g is None else augs[int(test["copy"][r])].invert(g))
        ranked = vote(grids, pred["q_halt_prob"][rows_a].tolist())
        truth = puzzles[p].test[e][1]
        hit = next((i for i, g in enumerate(ranked) if g.shape == truth.shape and (g == truth).all()), None)
        ex = {"puzzle": puzzles[p].id, "example": e, "n_votes": len(rows),
              "n_valid": sum(g is not None for g in grids), "n_candidates": len(ranked),
              "orig_exact": float(exact[orig].mean()), "orig_cell": float(cell[orig].mean()),
              "aug_exact": float(exact[aug].mean()), "aug_cell": float(cell[aug].mean()),
              "mean_steps": float(pred["steps"][rows_a].mean())}
        ex.update({f"pass@{k}": float(hit is not None and hit < k) for k in ks})
        examples.append(ex)
    metrics = ["orig_exact", "orig_cell", "aug_exact", "aug_cell", *(f"pass@{k}" for k in ks)]
    per_puzzle: dict[str, dict[str, Any]] = {}
    for ex in examples:
        per_puzzle.setdefault(ex["puzzle"], {"puzzle": ex["puzzle"], "rows": []})["rows"].append(ex)
    puzzles_out = [{"puzzle": pid, "n_tests": len(v["rows"]),
                    **{m: float(np.mean([r[m] for r in v["rows"]])) for m in metrics}}
                   for pid, v in per_puzzle.items()]
    summary = {f"puzzle_{m}": float(np.mean([p[m] for p in puzzles_out])) for m in metrics}
    summary.update({f"example_{m}": float(np.mean([x[m] for x in examples])) for m in metrics})
    summary.update({"n_puzzles": len(puzzles_out), "n_examples": len(examples), "n_copies": len(augs)})
    return {"summary": summary, "puzzles": puzzles_out, "examples": examples}


def demo_accuracy(pred: dict[str, np.ndarray], demos: dict[str, np.ndarray]) -> dict[str, float]:
    """Exact and per-cell accuracy on the held-out puzzles' demonstration pairs (original copy): fitted
    in the ``original`` split (memorisation), never seen in ``clean``."""
    exact, cell = row_accuracy(pred["tokens"], demos["labels"])
    return {"demo_exact": float(exact.mean()), "demo_cell": float(cell.mean()), "n_demos": int(len(exact))}


def copy_input_baseline(test: dict[str, np.ndarray]) -> dict[str, float]:
    """Exact and per-cell accuracy of answering every original test input with the input grid itself
    (the floor a model reaches by learning the identity; right wherever the output repeats the input)."""
    orig = test["copy"] == 0
    exact, cell = row_accuracy(test["inputs"][orig], test["labels"][orig])
    return {"copy_exact": float(exact.mean()), "copy_cell": float(cell.mean()), "n": int(orig.sum())}


def copy_token_accuracy(arrays: dict[str, np.ndarray]) -> float:
    """Share of the labelled tokens (colours, EOS markers, PAD inside the canvas) that copying the input
    gets right, over every row of ``arrays``: the trainer's ``token_acc`` of a model that learnt only
    the identity, to read a training curve against."""
    scored = arrays["labels"] != IGNORE_LABEL
    return float((arrays["inputs"].astype(np.int16) == arrays["labels"])[scored].mean())
