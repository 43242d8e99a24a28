"""Report of a seeded ablation (experiment 4, HRM ablations): ``report.md`` + PNG figures.

Input: the ``results.json`` dict of :func:`hrm_agents.evaluation.ablation.aggregate` — per question, per
arm the mean over seeds with 95% Student-t intervals, and Welch intervals of the difference to the
reference arm. Output: one table per question (exact accuracy per k, generalisation gap = mean
accuracy at the training k minus mean at the held-out k, ACT segments used, FLOPs and wall time per
task), one figure per question (accuracy vs k per arm), the Q-halt reliability diagram with ECE,
and a paragraph per question generated from the numbers (an effect is called only when the 95%
interval of the difference excludes zero).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from ..utils import figures, fmt
from .calibration import reliability_curve
from .report import Table

TITLES = {"cycles": "H/L cycles", "transformer": "HRM vs plain transformers", "halting": "Halting rule",
          "schedule": "Curriculum vs mixed schedule", "calibration": "Calibration of the Q-halt head"}
_WHAT = {"id_exact": "accuracy on the training k", "heldout_exact": "held-out accuracy (longer chains)",
         "gap": "generalisation gap", "ece": "ECE"}


def _mci(s: Mapping[str, Any], digits: int = 3) -> str:
    """``mean [lo, hi]`` (just the mean when there is no interval)."""
    return fmt.est_ci(s["mean"], s["ci95"], digits)


def _label(results: Mapping[str, Any], arm: str) -> str:
    return results["plan"].get("labels", {}).get(arm, arm)


def question_table(results: Mapping[str, Any], q: str) -> Table:
    """Accuracy per k (mean over seeds, 95% t interval), gap, segments, FLOPs and time per task."""
    arms = results["questions"][q]["arms"]
    ks = sorted({int(k) for st in arms.values() for k in st["exact_by_k"]})
    heldout = results["plan"]["base_config"]["heldout_ks"]
    headers = ["arm", "seeds", "params", *[f"k={k}" + (" (held out)" if k in heldout else "") for k in ks],
               "gap (train k - held-out k)", "segments", "GFLOP/task", "ms/task"]
    rows = []
    for arm, st in arms.items():
        rows.append([_label(results, arm), str(len(st["seeds"])), f"{st['n_params'] / 1e6:.2f}M",
                     *[_mci(st["exact_by_k"][str(k)]) if str(k) in st["exact_by_k"] else "n/a" for k in ks],
                     _mci(st["gap"]), _mci(st["avg_steps"], 2),
                     fmt.num(st["flops_per_task"]["mean"] / 1e9, 3), fmt.num(st["wall_s_per_task"]["mean"] * 1e3, 3)])
    return Table(f"{TITLES.get(q, q)}: exact accuracy per k (mean over seeds, 95% t interval)", headers, rows)


def calibration_table(results: Mapping[str, Any], q: str = "calibration") -> Table:
    """ECE per arm (mean over seeds with t interval, and of the pooled bins) and mean confidence vs accuracy."""
    rows = []
    for arm, st in results["questions"][q]["arms"].items():
        rel = st["reliability"]
        n = sum(rel["n"])
        rows.append([_label(results, arm), str(len(st["seeds"])), _mci(st["ece"]), fmt.num(st["pooled_ece"]),
                     fmt.num(sum(rel["conf_sum"]) / n if n else None),
                     fmt.num(sum(rel["correct_sum"]) / n if n else None)])
    return Table("Q-halt head calibration (all test tasks, k = 2..6; 10 equal-width bins)",
                 ["arm", "seeds", "ECE per seed (mean, 95% t)", "ECE pooled", "mean P(correct)", "accuracy"], rows)


def _verdict(cmp: Mapping[str, Any], n_min: int) -> str:
    lo, hi = cmp["ci95"]
    if fmt.missing(lo):
        return "no interval (fewer than 2 seeds in an arm)"
    if lo > 0:
        return "higher than the reference"
    if hi < 0:
        return "lower than the reference"
    return f"not separated from the reference with {n_min} seeds (the interval includes 0)"


def question_paragraph(results: Mapping[str, Any], q: str) -> str:
    """What the numbers support, generated from the Welch intervals of each arm minus the reference."""
    qd = results["questions"][q]
    arms, ref = qd["arms"], results["plan"]["reference"]
    budget = qd["budget"]
    head = (f"All arms: {budget['steps']} optimiser steps of {budget['batch_size']} rows on the same data "
            f"(`{budget['families']}`, {budget['n_train_per_k']} tasks per training k, seed {budget['data_seed']})."
            if qd["budget_equal"] else
            "**Warning: the arms of this question were not trained at one budget (steps, batch or data differ); "
            "the comparisons below are not at equal budget.**")
    if qd["missing"]:
        head += f" Missing arms (no finished run): {', '.join(qd['missing'])}."
    if ref not in arms:
        return head + f" The reference arm ({ref}) has no finished run, so nothing is compared."
    keys = ("ece",) if q == "calibration" else ("id_exact", "heldout_exact", "gap")
    sentences, effects = [], []
    for arm, st in arms.items():
        if arm == ref:
            continue
        n_min = min(len(st["seeds"]), len(arms[ref]["seeds"]))
        parts = []
        for key in keys:
            c = st["vs_reference"][key]
            lo, hi = c["ci95"]
            verdict = _verdict(c, n_min)
            parts.append(f"{_WHAT[key]} {fmt.num(st[key]['mean'])} vs {fmt.num(arms[ref][key]['mean'])}, "
                         f"difference {fmt.num(c['diff'])} (95% Welch CI [{fmt.num(lo)}, {fmt.num(hi)}]): {verdict}")
            if verdict.startswith(("higher", "lower")):
                effects.append(f"{_label(results, arm)} has {verdict.split(' than')[0]} {_WHAT[key]}")
        if q in ("halting", "cycles", "transformer"):
            ratio = st["flops_per_task"]["mean"] / arms[ref]["flops_per_task"]["mean"]
            parts.append(f"{fmt.num(st['avg_steps']['mean'], 2)} segments per task vs "
                         f"{fmt.num(arms[ref]['avg_steps']['mean'], 2)}, {ratio:.2f}x the reference's FLOPs per task")
        sentences.append(f"*{_label(results, arm)}*: " + "; ".join(parts) + ".")
    if q == "calibration":
        for arm, st in arms.items():
            rel = st["reliability"]
            n = sum(rel["n"])
            if n:
                conf, acc = sum(rel["conf_sum"]) / n, sum(rel["correct_sum"]) / n
                side = "over-confident" if conf > acc else "under-confident"
                sentences.append(f"{_label(results, arm)}: pooled ECE {fmt.num(st['pooled_ece'])}, mean P(correct) "
                                 f"{fmt.num(conf)} vs accuracy {fmt.num(acc)} ({side} on average).")
    summary = ("What the numbers support: " + "; ".join(effects) + "." if effects else
               "What the numbers support: no arm differs from the reference by more than the seed-to-seed "
               "variation allows (every 95% interval of a difference includes 0); this budget and seed count "
               "cannot separate them.")
    return "\n\n".join([head, *sentences, summary])


def make_figures(results: Mapping[str, Any], out_dir: Path) -> tuple[list[Path], str]:
    """``exp4_<question>_accuracy_vs_k.png`` per question and ``exp4_reliability.png``; ([], note)
    without matplotlib."""
    if (plt := figures.pyplot()) is None:
        return [], figures.NO_MATPLOTLIB
    paths = []
    heldout = results["plan"]["base_config"]["heldout_ks"]
    for q, qd in results["questions"].items():
        if q == "calibration":
            continue
        fig, ax = plt.subplots(figsize=(6.5, 4))
        arms = qd["arms"]
        for i, (arm, st) in enumerate(arms.items()):
            ks = sorted(int(k) for k in st["exact_by_k"])
            pts = [st["exact_by_k"][str(k)] for k in ks]
            ys = [p["mean"] for p in pts]
            err = [[0.0 if fmt.missing(p["ci95"][0]) else p["mean"] - p["ci95"][0] for p in pts],
                   [0.0 if fmt.missing(p["ci95"][1]) else p["ci95"][1] - p["mean"] for p in pts]]
            dodge = 0.06 * (i - (len(arms) - 1) / 2)
            ax.errorbar([k + dodge for k in ks], ys, yerr=err, marker="o", capsize=3,
                        label=f"{_label(results, arm)} (n={len(st['seeds'])})")
        if heldout:
            ax.axvspan(min(heldout) - 0.5, max(heldout) + 0.5, color="0.9", zorder=0, label="held-out k")
        ax.set_ylim(0, 1.05)
        ax.set_xlabel("number of steps k")
        ax.set_ylabel("exact accuracy")
        ax.set_title(f"{TITLES.get(q, q)} (mean over seeds, 95% t CI)")
        ax.legend(fontsize=7)
        paths.append(figures.save(fig, out_dir / f"exp4_{q}_accuracy_vs_k.png"))
    if "calibration" in results["questions"]:
        fig, ax = plt.subplots(figsize=(5, 5))
        ax.plot([0, 1], [0, 1], ls="--", color="0.5", label="perfect calibration")
        for arm, st in results["questions"]["calibration"]["arms"].items():
            curve = reliability_curve(st["reliability"])
            ax.plot([c["confidence"] for c in curve], [c["accuracy"] for c in curve], marker="o",
                    label=f"{_label(results, arm)} (ECE {fmt.num(st['pooled_ece'])})")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("Q-halt P(correct) (bin mean)")
        ax.set_ylabel("fraction correct")
        ax.set_title("Reliability of the Q-halt head (seeds pooled)")
        ax.legend(fontsize=7)
        paths.append(figures.save(fig, out_dir / "exp4_reliability.png"))
    return paths, ""


def runs_table(results: Mapping[str, Any]) -> Table:
    """Every finished run (one row per arm and seed)."""
    rows = [[r["run_id"], str(r["steps"]), str(r["examples_seen"]), f"{r['train_s']:.0f}", fmt.num(r["id_exact"]),
             fmt.num(r["heldout_exact"]), fmt.num(r["avg_steps"], 2), r["device"]] for r in results["runs"]]
    return Table("Runs", ["run", "steps", "examples seen", "train s", "exact k in train", "exact held out",
                          "segments", "device"], rows)


def write_ablation_report(results: Mapping[str, Any], out_dir: str | Path, *, make_plots: bool = True) -> Path:
    """Write ``report.md`` (+ figures) into ``out_dir``; returns its path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    figures, note = make_figures(results, out_dir) if make_plots else ([], "")
    names = {p.name for p in figures}
    plan = results["plan"]
    lines = [f"# Experiment 4 — HRM ablations ({plan['plan']} plan)", "",
             f"{len(results['runs'])} finished runs, {len(results['errors'])} failed; seeds {plan['seeds']}. "
             "Intervals are 95% Student-t intervals over seeds; differences to the reference "
             f"(`{plan['reference']}`) use Welch's t interval. Accuracy is exact match of the answer on "
             "`test_id` (k = 2-4) and `heldout` (k = 5-6); FLOPs per task count the forward matrix multiplies "
             "(2 x positions x segments x (blocks per segment x parameters per block + LM head)).", ""]
    for q in results["questions"]:
        lines += [f"## {TITLES.get(q, q)}", ""]
        table = calibration_table(results, q) if q == "calibration" else question_table(results, q)
        lines += [table.markdown(), ""]
        fig = "exp4_reliability.png" if q == "calibration" else f"exp4_{q}_accuracy_vs_k.png"
        if fig in names:
            lines += [f"![{q}]({fig})", ""]
        lines += [question_paragraph(results, q), ""]
    if results["errors"]:
        lines += ["## Failed runs", ""] + [f"- {e['run_id']}: {e['error']}" for e in results["errors"]] + [""]
    lines += [runs_table(results).markdown(), ""]
    if note:
        lines += [note, ""]
    path = out_dir / "report.md"
    path.write_text("\n".join(lines))
    return path
