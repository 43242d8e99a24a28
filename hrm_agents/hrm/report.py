"""Summaries of HRM training runs: ``python -m hrm_agents.hrm.report RUN_DIR [RUN_DIR ...]``.

Reads a run's ``metrics.jsonl`` and ``eval.json`` (written by :mod:`hrm_agents.hrm.train`) and
prints exact accuracy per k with 95% Wilson intervals for every final-evaluation setting, the
training throughput and the time until the periodic evaluation first reached a target accuracy.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

from ..utils.flags import FlagParser


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """All lines of ``metrics.jsonl`` as dicts."""
    with open(Path(run_dir) / "metrics.jsonl") as f:
        return [json.loads(line) for line in f if line.strip()]


def read_training_curve(metrics_path: str | Path) -> dict[str, Any]:
    """Accuracy vs training examples seen, from an HRM trainer's ``metrics.jsonl``.

    One point per ``eval`` event: ``examples_seen`` (rows loaded into the batch up to that step, the
    sum of ``samples_loaded`` over the ``train`` windows logged so far; a resumed run's re-logged
    steps replace the old ones), and per evaluation split the exact accuracy per k and pooled.
    """
    loaded: dict[int, int] = {}
    evals: dict[int, dict[str, Any]] = {}
    schedule, final = None, None
    with open(metrics_path, encoding="utf-8") as f:
        for line in f:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by a kill
            kind = event.get("event")
            if kind == "start":
                schedule = (event.get("config") or {}).get("schedule")
            elif kind == "train":
                loaded[event["step"]] = int(event.get("samples_loaded", 0))
            elif kind == "eval":
                evals[event["step"]] = event
            elif kind == "final":
                final = event
    points = []
    for step, event in sorted(evals.items()):
        point: dict[str, Any] = {"step": step, "examples_seen": sum(n for s, n in loaded.items() if s <= step)}
        for split, per_k in event.items():
            if isinstance(per_k, dict) and per_k:
                n = sum(v["n"] for v in per_k.values())
                point[split] = {"exact": sum(v["exact"] * v["n"] for v in per_k.values()) / n if n else None,
                                "by_k": {str(k): v["exact"] for k, v in per_k.items()}}
        points.append(point)
    out: dict[str, Any] = {"metrics": str(metrics_path), "schedule": schedule, "points": points}
    if final and final.get("results"):
        res = final["results"][0]
        out["final"] = {split: {str(k): v["exact"] for k, v in res[split].items()}
                        for split in ("test_id", "heldout") if isinstance(res.get(split), dict)}
    return out


def time_to_accuracy(metrics: Iterable[dict[str, Any]], ks: Iterable[int] = (2, 3, 4), threshold: float = 0.99,
                     split: str = "val") -> dict[str, Any] | None:
    """First periodic evaluation where every k in ``ks`` reached ``threshold`` exact accuracy on
    ``split``: ``{"step", "elapsed_s"}``, or ``None`` if it never did."""
    for m in metrics:
        if m["event"] == "eval" and all(m[split].get(str(k), {}).get("exact", 0) >= threshold for k in ks):
            return {"step": m["step"], "elapsed_s": m["elapsed_s"]}
    return None


def throughput(metrics: Iterable[dict[str, Any]]) -> dict[str, float]:
    """Median training throughput over the log windows after the first (positions/s and samples/s)."""
    rows = [m for m in metrics if m["event"] == "train"][1:]
    if not rows:
        return {}
    med = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
    return {"tokens_per_s": med([r["tokens_per_s"] for r in rows]),
            "samples_per_s": med([r["samples_per_s"] for r in rows])}


def summarise(run_dir: str | Path) -> str:
    """Markdown summary of one run."""
    run_dir = Path(run_dir)
    metrics = read_metrics(run_dir)
    start = next((m for m in metrics if m["event"] == "start"), {})
    lines = [f"### {run_dir.name}", "",
             f"params {start.get('n_params')}, device {start.get('device_name')}, "
             f"world {start.get('world_size')}, train pool {start.get('train_pool')}"]
    tp = throughput(metrics)
    if tp:
        lines.append(f"throughput: {tp['tokens_per_s']:,.0f} positions/s, {tp['samples_per_s']:,.0f} samples/s")
    hit = time_to_accuracy(metrics)
    lines.append("time to 99% on k=2-4 (val): " + (f"step {hit['step']}, {hit['elapsed_s']:.0f} s" if hit else "not reached"))
    eval_path = run_dir / "eval.json"
    if eval_path.exists():
        final = json.loads(eval_path.read_text())
        lines += ["", f"steps {final['steps']}, train time {final['train_s']:.0f} s", "",
                  "| setting | k | n | exact | 95% CI | avg steps | q-halt acc |", "|---|---|---|---|---|---|---|"]
        for res in final["results"]:
            setting = json.dumps(res["setting"]) if res["setting"] else "default"
            for split in ("test_id", "heldout"):
                for k, r in res[split].items():
                    lo, hi = r["exact_ci95"]
                    lines.append(f"| {setting} | {k} | {r['n']} | {r['exact']:.4f} | [{lo:.4f}, {hi:.4f}] | "
                                 f"{r['avg_steps']:.2f} | {r['q_halt_acc']:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = FlagParser(prog="python -m hrm_agents.hrm.report", description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", help="run folders (with metrics.jsonl and eval.json)")
    args = p.parse_args(argv)
    for run in args.runs:
        try:
            print(summarise(run) + "\n")
        except (OSError, json.JSONDecodeError, KeyError) as e:
            print(f"{run}: cannot summarise ({type(e).__name__}: {e})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
