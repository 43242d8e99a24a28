"""E5's summary: every ``runs/*/result.json`` -> ``results.json`` (per arm the mean over seeds with a
95% Student-t interval, differences to the reference arm with Welch intervals) and ``report.md``
(budget table, one table per question, the arith_chain TRM comparison, the refinement-loop table,
the per-task analysis with its figure)."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from hrm_agents.arc import analysis
from hrm_agents.arc.data import ArcSpec, build_arrays, load_puzzles
from hrm_agents.arc.scoring import copy_input_baseline, copy_token_accuracy
from hrm_agents.evaluation.stats import paired_bootstrap, t_interval, welch_interval
from hrm_agents.utils.fmt import est_ci
from hrm_agents.utils.jsonio import read_json, write_json

from .plans import LABELS, QUESTIONS, REFERENCE

ARC_METRICS = ("puzzle_pass@1", "puzzle_pass@2", "puzzle_pass@10", "example_orig_exact", "example_aug_exact",
               "puzzle_orig_cell", "puzzle_aug_cell", "demo_exact", "demo_cell")
ARITH_METRICS = ("id_exact", "heldout_exact", "flops_per_task")
COST_KEYS = ("n_params", "steps", "train_s", "examples_seen", "flops_per_task")
REFINE_METRICS = ("mean_steps", "puzzle_pass@2", "example_orig_exact", "puzzle_orig_cell")
PAIRED_METRICS = ("pass@2", "orig_cell")
TRANSFER_METRICS = ("puzzle_pass@2", "puzzle_pass@10", "example_orig_exact", "puzzle_orig_cell")


def _interval(values: Sequence[float]) -> dict[str, Any]:
    mean, lo, hi = t_interval(values)
    return {"mean": mean, "ci95": [lo, hi], "values": list(values), "min": min(values), "max": max(values)}


def _metrics(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "metrics.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def _last_train(lines: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The last ``train`` line of a run's metrics (training accuracy over the last log window)."""
    return next((x for x in reversed(lines) if x.get("event") == "train"), None)


def _exact_by_step(lines: list[dict[str, Any]]) -> dict[int, float]:
    """The trainer's periodic evaluation of an ARC run: exact accuracy on the original copies of the
    held-out test inputs (one prediction each, the model's own halting) at each evaluated step."""
    return {x["step"]: x["heldout_test"]["0"]["exact"] for x in lines if x.get("event") == "eval" and "heldout_test" in x}


def _per_puzzle(runs: Sequence[dict[str, Any]], metric: str) -> dict[str, float]:
    """Per held-out puzzle: ``metric`` averaged over the runs (seeds) of one arm."""
    by: dict[str, list[float]] = defaultdict(list)
    for r in runs:
        for p in r["puzzles"]:
            by[p["puzzle"]].append(p[metric])
    return {k: float(np.mean(v)) for k, v in by.items()}


def _paired(a: Sequence[dict[str, Any]], ref: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Paired comparison over the held-out puzzles (each arm's seeds averaged per puzzle; bootstrap
    over puzzles): more power than the seed interval when there are few seeds, but it does not
    cover seed-to-seed variation. Empty when the arms were scored on different puzzles."""
    out: dict[str, Any] = {}
    for metric in PAIRED_METRICS:
        pa, pr = _per_puzzle(a, metric), _per_puzzle(ref, metric)
        if set(pa) != set(pr):
            return {}
        keys = sorted(pa)
        b = paired_bootstrap(np.array([pa[k] for k in keys]), np.array([pr[k] for k in keys]))
        out[metric] = {"diff": b.delta, "lo": b.ci95[0], "hi": b.ci95[1], "p": b.p_value, "n_puzzles": len(keys)}
    return out


def aggregate(out_dir: str | Path) -> dict[str, Any]:
    """Read the runs of ``out_dir`` and write ``results.json``; returns it."""
    out_dir = Path(out_dir)
    results = [read_json(p) for p in sorted((out_dir / "runs").glob("*/result.json"))]
    errors = [read_json(p) for p in sorted((out_dir / "runs").glob("*/error.json"))
              if not (p.parent / "result.json").exists()]
    arms: dict[str, Any] = {}
    for arm in dict.fromkeys(r["arm"] for r in results):
        mine = [r for r in results if r["arm"] == arm]
        metrics = ARITH_METRICS if mine[0]["config"]["kind"] == "arith" else ARC_METRICS
        st: dict[str, Any] = {"seeds": [r["seed"] for r in mine], "kind": mine[0]["config"]["kind"],
                              "label": LABELS.get(arm, arm)}
        st.update({m: _interval([r["summary"][m] for r in mine]) for m in metrics})
        st.update({f"cost_{k}": _interval([r.get(k, r["summary"].get(k)) for r in mine]) for k in COST_KEYS})
        st["batch_size"] = mine[0]["config"]["train"]["batch_size"]
        if mine[0].get("refinement"):
            st["refinement"] = [{"halt_mode": row["halt_mode"], "max_steps": row["max_steps"],
                                 **{m: _interval([r["refinement"][i][m] for r in mine]) for m in REFINE_METRICS}}
                                for i, row in enumerate(mine[0]["refinement"])]
        lines = [_metrics(out_dir / "runs" / r["run_id"]) for r in mine]
        last = [_last_train(x) for x in lines]
        if all(last):
            st.update({f"fit_{m}": _interval([t[m] for t in last]) for m in ("token_acc", "exact_acc")})
        if st["kind"] == "arc":
            by_step = [_exact_by_step(x) for x in lines]
            st["exact_by_step"] = {str(k): _interval([b[k] for b in by_step])
                                   for k in sorted(set.intersection(*(set(b) for b in by_step)))}
            st["solved_pass@2"] = [int(sum(ex["pass@2"] for ex in r["examples"])) for r in mine]
            st["recipe"] = {"n_aug": mine[0]["config"]["data"]["n_aug"],
                            "puzzle_emb_dim": mine[0]["config"]["model"].get("puzzle_emb_dim", 0)}
        if st["kind"] == "arith":
            ks = sorted(mine[0]["per_k"], key=int)
            st["exact_by_k"] = {k: _interval([r["per_k"][k]["exact"] for r in mine]) for k in ks}
        arms[arm] = st
    questions = {}
    for q, names in QUESTIONS.items():
        present = [a for a in names if a in arms]
        if len(present) < 2:
            continue
        ref = REFERENCE if REFERENCE in present else present[0]
        diffs = {}
        for a in present:
            if a == ref:
                continue
            metrics = ARITH_METRICS if arms[a]["kind"] == "arith" else ARC_METRICS
            diffs[a] = {m: dict(zip(("diff", "lo", "hi"), welch_interval(arms[a][m]["values"], arms[ref][m]["values"])))
                        for m in metrics}
            if arms[a]["kind"] == "arc":
                diffs[a]["paired"] = _paired([r for r in results if r["arm"] == a],
                                             [r for r in results if r["arm"] == ref])
        others = [a for a in present if a != ref and arms[a]["kind"] == "arc"]
        pairs = {f"{b}-{a}": paired for i, a in enumerate(others) for b in others[i + 1:]
                 if (paired := _paired([r for r in results if r["arm"] == b], [r for r in results if r["arm"] == a]))}
        questions[q] = {"arms": present, "reference": ref, "vs_reference": diffs, "pairs": pairs}
    pooled = [p for r in results if r["arm"] == REFERENCE for p in r.get("puzzles", [])]
    baselines = {}
    for split in dict.fromkeys(r["config"]["data"]["split"] for r in results if r["config"]["kind"] == "arc"):
        data = next(r["config"]["data"] for r in results if r["config"]["kind"] == "arc" and r["config"]["data"]["split"] == split)
        spec = ArcSpec(**{**data, "n_aug": 0})  # copying is right or wrong alike on every augmented copy
        arrays = build_arrays(spec, *load_puzzles(spec.version, spec.max_side))
        baselines[split] = {**copy_input_baseline(arrays["test"]), "copy_train_token": copy_token_accuracy(arrays["train"])}
    transfer = {}
    for path in sorted(out_dir.glob("transfer_*.json")):
        t = read_json(path)
        by_arm: dict[str, Any] = {}
        for arm in dict.fromkeys(r["arm"] for r in t["runs"]):
            mine = [r for r in t["runs"] if r["arm"] == arm]
            by_arm[arm] = {"label": LABELS.get(arm, arm), "seeds": [r["seed"] for r in mine],
                           **{m: _interval([r["summary"][m] for r in mine]) for m in TRANSFER_METRICS},
                           "solved_pass@2": [len(r["solved_pass@2"]) for r in mine],
                           "eval_subset_pass@2": [r["eval_subset_pass@2"] for r in mine]}
        transfer[t["version"]] = {**{k: t[k] for k in ("seen", "n_aug", "puzzles", "copy_input_baseline")},
                                  "arms": by_arm}
    out = {"experiment": "exp5_hrm_arc", "arms": arms, "questions": questions, "errors": errors,
           "transfer": transfer,
           "copy_input_baseline": baselines,
           "per_task": analysis.table(pooled) if pooled else [],
           "runs": [{k: r[k] for k in ("run_id", "arm", "seed", "steps", "train_s", "n_params", "summary", "device")}
                    for r in results]}
    write_json(out_dir / "results.json", out)
    return out


def _cell(st: dict[str, Any], m: str, digits: int = 3) -> str:
    return est_ci(st[m]["mean"], st[m]["ci95"], digits)


def _diff(d: dict[str, float]) -> str:
    return est_ci(d["diff"], (d["lo"], d["hi"]), 3, sign=True)


def _p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def render(res: dict[str, Any]) -> str:
    """``report.md`` text of :func:`aggregate`'s output."""
    arms, lines = res["arms"], ["# E5 — the HRM on ARC-AGI (and TRM on arith_chain)", ""]
    lines += ["Means over seeds with 95% Student-t intervals (n/a with one seed); differences to the reference "
              "arm use Welch's interval. Rates are fractions.", "",
              "## Budget per arm", "",
              "| arm | seeds | augmentations | puzzle emb | params | steps | batch | train s (per run) | examples seen "
              "| FLOPs/task |", "|---|---|---|---|---|---|---|---|---|---|"]
    for a, st in arms.items():
        recipe = st.get("recipe", {})
        lines.append(f"| {st['label']} | {len(st['seeds'])} | {recipe.get('n_aug', '')} | "
                     f"{recipe.get('puzzle_emb_dim', '')} | {st['cost_n_params']['mean']:,.0f} | "
                     f"{st['cost_steps']['min']:.0f}-{st['cost_steps']['max']:.0f} | {st['batch_size']} | "
                     f"{st['cost_train_s']['mean']:.0f} | {st['cost_examples_seen']['mean']:,.0f} | "
                     f"{st['cost_flops_per_task']['mean']:.3g} |")
    arc_cols = ("puzzle_pass@1", "puzzle_pass@2", "puzzle_pass@10", "example_orig_exact", "example_aug_exact",
                "puzzle_orig_cell", "puzzle_aug_cell", "demo_exact", "demo_cell")
    for q, info in res["questions"].items():
        lines += ["", f"## {q}", ""]
        if q == "arith_trm":
            lines += ["| arm | k 2-4 exact | k 5-6 exact (held out) | GFLOP/task |", "|---|---|---|---|"]
            for a in info["arms"]:
                st = arms[a]
                lines.append(f"| {st['label']} | {_cell(st, 'id_exact')} | {_cell(st, 'heldout_exact')} | "
                             f"{st['flops_per_task']['mean'] / 1e9:.3f} |")
            for a, d in info["vs_reference"].items():
                lines.append(f"\nΔ {a} − {info['reference']}: k 2-4 {_diff(d['id_exact'])}, "
                             f"k 5-6 {_diff(d['heldout_exact'])}")
            continue
        lines += ["| arm | " + " | ".join(arc_cols) + " |", "|---|" + "---|" * len(arc_cols)]
        for a in info["arms"]:
            lines.append(f"| {arms[a]['label']} | " + " | ".join(_cell(arms[a], m) for m in arc_cols) + " |")
        lines.append("\nTest inputs solved (pass@2) per seed: " + "; ".join(
            f"{a} {', '.join(map(str, arms[a]['solved_pass@2']))}" for a in info["arms"]))
        for a, d in info["vs_reference"].items():
            lines.append(f"\nΔ {a} − {info['reference']}: pass@2 {_diff(d['puzzle_pass@2'])}, "
                         f"original exact {_diff(d['example_orig_exact'])}, cell {_diff(d['puzzle_orig_cell'])}, "
                         f"demo exact {_diff(d['demo_exact'])}, demo cell {_diff(d['demo_cell'])}")
            if pd := d.get("paired"):
                lines.append(f"Paired over the {pd['pass@2']['n_puzzles']} held-out puzzles (seeds averaged per puzzle, "
                             f"bootstrap): pass@2 {_diff(pd['pass@2'])} ({_p(pd['pass@2']['p'])}), "
                             f"per-cell {_diff(pd['orig_cell'])} ({_p(pd['orig_cell']['p'])})")
        for name, pd in info.get("pairs", {}).items():
            b, a = name.split("-", 1)
            lines.append(f"\nΔ {b} − {a}, paired over the {pd['pass@2']['n_puzzles']} held-out puzzles: pass@2 "
                         f"{_diff(pd['pass@2'])} ({_p(pd['pass@2']['p'])}), per-cell {_diff(pd['orig_cell'])} "
                         f"({_p(pd['orig_cell']['p'])})")
        steps = sorted(set.intersection(*(set(arms[a].get("exact_by_step", {})) for a in info["arms"])), key=int)
        if steps:
            lines.append("\nAt equal steps (the trainer's evaluation: exact on the original test inputs, one "
                         "prediction, own halting): " + "; ".join(
                             f"step {k}: " + ", ".join(f"{a} {_cell(arms[a]['exact_by_step'], k)}" for a in info["arms"])
                             for k in steps))
    fitted = [a for a, st in arms.items() if st["kind"] == "arc" and "fit_token_acc" in st]
    if fitted:
        copy = ", ".join(f"{split} split {b['copy_train_token']:.3f}" for split, b in res["copy_input_baseline"].items())
        lines += ["", "## fit: training accuracy over the last log window", "",
                  f"Copying the input scores a token accuracy of {copy} on the training rows.", "",
                  "| arm | training token accuracy | training exact |", "|---|---|---|"]
        lines += [f"| {arms[a]['label']} | {_cell(arms[a], 'fit_token_acc')} | {_cell(arms[a], 'fit_exact_acc')} |"
                  for a in fitted]
    refined = [a for a, st in arms.items() if st.get("refinement")]
    if refined:
        lines += ["", "## refinement loop: segments at test time", "",
                  "The trained models scored again with at most m ACT segments (`act`: the Q-head may stop "
                  "earlier) or exactly m (`fixed`).", "",
                  "| arm | halting | max segments | mean segments | pass@2 | original exact | per-cell |",
                  "|---|---|---|---|---|---|---|"]
        for a in refined:
            for row in arms[a]["refinement"]:
                lines.append(f"| {arms[a]['label']} | {row['halt_mode']} | {row['max_steps']} | "
                             f"{row['mean_steps']['mean']:.2f} | {_cell(row, 'puzzle_pass@2')} | "
                             f"{_cell(row, 'example_orig_exact')} | {_cell(row, 'puzzle_orig_cell')} |")
    for split, b in res.get("copy_input_baseline", {}).items():
        lines += ["", f"Copy-input baseline ({split} split, answer = the test input): exact {b['copy_exact']:.3f}, "
                      f"per-cell {b['copy_cell']:.3f} on {b['n']} test inputs."]
    for version, t in res.get("transfer", {}).items():
        for side, puzzles in t["puzzles"].items():
            b = t["copy_input_baseline"][side]
            n_eval = sum(p["subset"] == "eval" for p in puzzles)
            lines += ["", f"## transfer: {version} puzzles unseen in {t['seen']}", "",
                      f"{len(puzzles)} puzzles with grids <= {side}x{side} ({n_eval} from the evaluation set) that "
                      f"no run trained on, scored without a puzzle ID (ID 0, the zero embedding), votes over "
                      f"{t['n_aug']} augmented copies + the original. Copy-input: exact {b['copy_exact']:.3f}, "
                      f"per-cell {b['copy_cell']:.3f} on {b['n']} test inputs.", "",
                      "| arm | pass@2 | pass@10 | orig exact | orig per-cell | solved (pass@2) per seed "
                      "| evaluation-set pass@2 per seed |", "|---|---|---|---|---|---|---|"]
            for st in t["arms"].values():
                ev = ", ".join("n/a" if v is None else f"{v:.3f}" for v in st["eval_subset_pass@2"])
                lines.append(f"| {st['label']} | " + " | ".join(_cell(st, m) for m in TRANSFER_METRICS)
                             + f" | {', '.join(map(str, st['solved_pass@2']))} | {ev} |")
    if res["per_task"]:
        lines += ["", "## Per-task analysis (reference arm, puzzle-runs pooled over seeds)", "",
                  analysis.markdown(res["per_task"]), "", "![per-task](exp5_per_task.png)"]
    if res["errors"]:
        lines += ["", "## Failed runs", ""] + [f"- {e['run_id']}: {e['error']}" for e in res["errors"]]
    return "\n".join(lines) + "\n"


def report(out_dir: str | Path, report_dir: str | Path | None = None, make_plots: bool = True) -> Path:
    """Aggregate ``out_dir`` and write ``report.md`` (+ figure; a copy of ``results.json`` when
    ``report_dir`` differs) into ``report_dir`` (default ``out_dir``)."""
    res = aggregate(out_dir)
    target = Path(report_dir or out_dir)
    target.mkdir(parents=True, exist_ok=True)
    if target.resolve() != Path(out_dir).resolve():
        write_json(target / "results.json", res)
    if make_plots and res["per_task"]:
        analysis.figure(res["per_task"], target / "exp5_per_task.png", title="reference arm: mean per-cell accuracy")
    path = target / "report.md"
    path.write_text(render(res))
    return path
