"""Reports: ``stats.json`` + ``report.md`` (+ PNG figures) for one or more run directories of one
experiment, and a paired comparison of two runs (different models/backends, same suite).

Several run directories are pooled (e.g. one run per seed): an arm's attempts on a task are all its
samples of all runs; comparisons pair arms inside each run by (run, seed, sample) and bootstrap
over tasks (see :mod:`hrm_agents.evaluation.stats`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Callable, Hashable, Mapping, Sequence

import numpy as np
from rich.console import Console
from rich.table import Table as RichTable

from ..backends.base import Backend
from ..tasks.schema import Task
from ..utils import fmt
from ..utils.jsonio import to_json, write_json
from . import plots
from .criteria import E2_EXPERIMENT, e2_criterion
from .efficiency import arm_efficiency, peak_rss_mb, ratio
from .io import RunData, RunDirError, load_run, load_tasks, write_records
from .judge import JUDGE_KEY, agreement, judge_attempt, judge_pairs
from .records import AttemptKey, AttemptRecord, outcomes
from .stats import VerdictRule, bootstrap_ci, compare, pass_at_k, verdict, wilson_ci
from .taxonomy import TAGS, retag

PASS_KS = (1, 2, 5, 10, 20, 50, 100)


@dataclass
class Table:
    """One report table, rendered both as markdown and with rich."""

    title: str
    headers: list[str]
    rows: list[list[str]]

    def markdown(self) -> str:
        """GitHub markdown table with a level-3 title."""
        lines = [f"### {self.title}", "", "| " + " | ".join(self.headers) + " |",
                 "|" + "|".join("---" for _ in self.headers) + "|"]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in self.rows]
        return "\n".join(lines)

    def rich(self) -> RichTable:
        """The same table for the terminal."""
        t = RichTable(title=self.title)
        for h in self.headers:
            t.add_column(h, overflow="fold")
        for row in self.rows:
            t.add_row(*row)
        return t


# -- tagging -------------------------------------------------------------------------------------

def _retag(run: RunData, tasks: Mapping[str, Task], rec: AttemptRecord) -> AttemptRecord:
    """``rec`` tagged by the rules; ``tool_calls_detail`` is taken from its trace when the record
    does not carry it (runs whose runner kept it only in the trace)."""
    if "tool_calls_detail" not in rec.meta and "tool_calls_detail" in (trace := run.trace(rec)):
        rec = rec.model_copy(update={"meta": {**rec.meta, "tool_calls_detail": trace["tool_calls_detail"]}})
    return retag(tasks.get(rec.task_id), rec)


def ensure_tags(run: RunData) -> None:
    """Tag failed records that carry no failure tags (runs written before tagging existed)."""
    untagged = [i for i, r in enumerate(run.records) if not r.passed and not r.failure_tags]
    if not untagged:
        return
    tasks = load_tasks(run)
    for i in untagged:
        run.records[i] = _retag(run, tasks, run.records[i])


def tag_run(run_dir: str | Path, *, judge: Backend | None = None, backup: bool = True,
            force: bool = False, judge_concurrency: int = 1,
            on_judged: Callable[[int, int], None] | None = None) -> tuple[RunData, Path | None]:
    """Re-tag every record of a finished run with the rules (and the LLM judge, when given, on
    failed attempts: ``meta["judge_tags"]``); rewrite ``results.jsonl`` atomically.

    ``judge_concurrency`` judge requests are in flight at once (for a server that batches them);
    ``on_judged(done, total)`` is called after each judged attempt (e.g. a progress bar).
    Returns the run (with the new records) and the backup path. Refuses a run without
    a finished ``run_summary.json`` (the runner may still be appending) unless ``force``.
    """
    run = load_run(run_dir)
    if run.partial and not force:
        raise RunDirError(f"{run.path}: run not finished (still running or interrupted); use --force to re-tag")
    tasks = load_tasks(run)
    records = [_retag(run, tasks, rec) for rec in run.records]
    if judge is not None:
        failed = [rec for rec in records if not rec.passed]

        def ask(rec: AttemptRecord) -> tuple[AttemptRecord, list | None]:
            return rec, judge_attempt(judge, tasks.get(rec.task_id), rec)

        with ThreadPoolExecutor(max(1, judge_concurrency)) as pool:
            for done, (rec, judged) in enumerate(pool.map(ask, failed), 1):
                if judged is not None:
                    rec.meta[JUDGE_KEY] = [t.model_dump() for t in judged]
                if on_judged is not None:
                    on_judged(done, len(failed))
    run.records = records
    if run.bad_lines:
        run.warnings.append(f"{run.bad_lines} unreadable line(s) dropped from results.jsonl (kept in the backup)")
    return run, write_records(run.path / "results.jsonl", records, backup=backup or bool(run.bad_lines))


# -- analysis ------------------------------------------------------------------------------------

def _pass_at_ks(outs: dict[str, dict[Hashable, bool]], n_resamples: int, seed: int) -> dict[str, dict[str, Any]]:
    counts = [(len(a), sum(a.values())) for a in outs.values()]
    min_n = min((n for n, _ in counts), default=0)
    res = {}
    for k in (k for k in PASS_KS if k <= min_n):
        per_task = np.array([pass_at_k(n, c, k) for n, c in counts])
        res[str(k)] = {"value": float(per_task.mean()),
                       "ci95": list(bootstrap_ci(per_task, n_resamples=n_resamples, seed=seed))}
    return res


def _arm_stats(records: list[AttemptRecord], key: AttemptKey, n_resamples: int, seed: int) -> dict[str, Any]:
    outs = outcomes(records, key)
    passed = sum(r.passed for r in records)
    tags = Counter(t for r in records for t in dict.fromkeys(f.tag for f in r.failure_tags))
    by_k: dict[int, list[bool]] = defaultdict(list)
    for r in records:
        if isinstance(r.meta.get("k"), int):
            by_k[r.meta["k"]].append(r.passed)
    return {
        "n_tasks": len(outs), "n_attempts": len(records), "n_passed": passed, "n_failed": len(records) - passed,
        "accuracy": passed / len(records) if records else None, "ci95": list(wilson_ci(passed, len(records))),
        "pass_at_k": _pass_at_ks(outs, n_resamples, seed),
        "failure_tags": {t: tags[t] for t in [*TAGS, *sorted(set(tags) - set(TAGS))] if tags[t]},
        "by_k": {str(k): {"n": len(v), "passed": sum(v), "accuracy": sum(v) / len(v),
                          "ci95": list(wilson_ci(sum(v), len(v)))} for k, v in sorted(by_k.items())},
        "efficiency": arm_efficiency(records),
    }


def default_baseline(arms: Sequence[str]) -> str | None:
    """The first arm named ``flat`` (else starting with ``flat``, else the first arm); None if no arms."""
    return next((a for a in arms if a == "flat"), next((a for a in arms if a.startswith("flat")),
                                                        arms[0] if arms else None))


def resolve_rule(config: dict[str, Any], rule: VerdictRule | Mapping[str, float] | None = None) -> VerdictRule:
    """The verdict rule: ``rule`` itself, else the defaults updated with ``config["verdict"]`` (keys
    of :class:`VerdictRule`) and then with ``rule`` when it is a mapping of overrides."""
    if isinstance(rule, VerdictRule):
        return rule
    names = {f.name for f in fields(VerdictRule)}
    given = {**(config.get("verdict") or {}), **(rule or {})}
    return VerdictRule(**{k: v for k, v in given.items() if k in names})


def analyze(runs: Sequence[RunData], *, rule: VerdictRule | Mapping[str, float] | None = None,
            baseline: str | None = None, n_resamples: int = 10_000, seed: int = 0) -> dict[str, Any]:
    """The content of ``stats.json`` for pooled runs of one experiment (``rule``: see :func:`resolve_rule`)."""
    for run in runs:
        ensure_tags(run)
    records = [r for run in runs for r in run.records]
    arms = list(dict.fromkeys(a for run in runs for a in run.arms))
    by_arm = {a: [r for r in records if r.arm == a] for a in arms}
    arms = [a for a in arms if by_arm[a]]
    key: AttemptKey = lambda r: (r.run_id, r.seed, r.sample)  # noqa: E731
    rule = resolve_rule(runs[0].config if runs else {}, rule)
    base = baseline or default_baseline(arms)
    if base is not None and base not in arms:
        raise RunDirError(f"baseline arm {base!r} not in the runs (arms: {', '.join(arms)})")
    arm_stats = {a: _arm_stats(by_arm[a], key, n_resamples, seed) for a in arms}
    comparisons: dict[str, Any] = {}
    for arm in (a for a in arms if a != base):
        cmp = compare(arm, outcomes(by_arm[arm], key), base, outcomes(by_arm[base], key),
                      n_resamples=n_resamples, seed=seed)
        eff_t, eff_b = arm_stats[arm]["efficiency"], arm_stats[base]["efficiency"]
        token_ratio = ratio(eff_t["tokens_per_attempt"], eff_b["tokens_per_attempt"])
        latency_ratio = ratio(eff_t["latency_task_s"]["mean"], eff_b["latency_task_s"]["mean"])
        v = verdict(cmp, rule, token_ratio=token_ratio, latency_ratio=latency_ratio)
        comparisons[f"{arm}_vs_{base}"] = {
            "treatment": arm, "baseline": base, "n_tasks": cmp.n_tasks, "n_pairs": cmp.n_pairs,
            "discordant": {f"only_{arm}": cmp.only_treatment, f"only_{base}": cmp.only_baseline},
            "pass_at_1": cmp.pass_at_1(), "token_ratio": token_ratio, "latency_ratio": latency_ratio,
            "verdict": v.verdict, "inconclusive": v.inconclusive, "label": v.label, "reasons": v.reasons}
    out: dict[str, Any] = {
        "experiment": ", ".join(dict.fromkeys(str(r.config.get("experiment", r.path.parent.name)) for r in runs)),
        "partial": any(r.partial for r in runs),
        "runs": [{"path": str(r.path), "backend": r.backend.get("backend"), "model": r.backend.get("model"),
                  "n_records": len(r.records), "partial": r.partial, "bad_lines": r.bad_lines,
                  "peak_rss_mb": peak_rss_mb(r)} for r in runs],
        "warnings": [w for r in runs for w in r.warnings],
        "baseline": base, "verdict_rule": rule.as_dict(), "n_resamples": n_resamples, "seed": seed,
        "arms": arm_stats, "comparisons": comparisons,
        "judge_agreement": agreement(judge_pairs(records)),
    }
    if any(r.config.get("experiment") == E2_EXPERIMENT for r in runs):
        out["e2_criterion"] = e2_criterion(by_arm, key, alpha=rule.alpha, n_resamples=n_resamples, seed=seed)
    if len(comparisons) == 1:
        only = next(iter(comparisons.values()))
        out["pass_at_1"], out["verdict"] = only["pass_at_1"], only["verdict"]
    return to_json(out)


# -- rendering -----------------------------------------------------------------------------------

def tables(stats: dict[str, Any]) -> list[Table]:
    """All tables of a report, from its ``stats.json`` content."""
    arms = stats["arms"]
    out = [Table("Runs", ["run", "backend", "model", "attempts", "status", "peak RAM (MiB)"],
                 [[Path(r["path"]).name, fmt.num(r["backend"]), fmt.num(r["model"]), str(r["n_records"]),
                   "PARTIAL" if r["partial"] else "complete",
                   ", ".join(f"{k} {v:.0f}" for k, v in (r["peak_rss_mb"] or {}).items()) or "n/a"]
                  for r in stats["runs"]]),
           Table("Accuracy (Wilson 95% CI)", ["arm", "tasks", "attempts", "passed", "accuracy", "95% CI"],
                 [[a, str(s["n_tasks"]), str(s["n_attempts"]), str(s["n_passed"]), fmt.num(s["accuracy"]),
                   fmt.ci(s["ci95"])]
                  for a, s in arms.items()])]
    ks = sorted({k for s in arms.values() for k in s["pass_at_k"]}, key=int)
    if ks:
        out.append(Table("pass@k (unbiased; 95% bootstrap CI over tasks)", ["arm", *(f"pass@{k}" for k in ks)],
                         [[a, *(f"{fmt.num(s['pass_at_k'][k]['value'])} {fmt.ci(s['pass_at_k'][k]['ci95'])}"
                                if k in s["pass_at_k"] else "n/a" for k in ks)] for a, s in arms.items()]))
    if stats["comparisons"]:
        out.append(Table(f"Paired comparison vs {stats['baseline']} (Δ pass@1; bootstrap over tasks)",
                         ["arm", "tasks (pairs)", "pass@1 arm / base", "Δ", "95% CI", "p boot / McNemar",
                          "ratio tokens / latency", "verdict"],
                         [[c["treatment"], f"{c['n_tasks']} ({c['n_pairs']})",
                           f"{fmt.num(p[c['treatment']])} / {fmt.num(p[c['baseline']])}", fmt.num(p["delta"]),
                           fmt.ci(p["ci95"]),
                           f"{fmt.p_value(p['p_value'])} / {fmt.p_value(p['mcnemar_p'])}",
                           f"{fmt.num(c['token_ratio'], 2)} / {fmt.num(c['latency_ratio'], 2)}", c.get("label", c["verdict"])]
                          for c in stats["comparisons"].values() for p in [c["pass_at_1"]]]))
    tags = list(dict.fromkeys(t for s in arms.values() for t in s["failure_tags"]))
    if tags:
        out.append(Table("Failure tags (attempts per tag; an attempt can have several)", ["arm", "failed", *tags],
                         [[a, str(s["n_failed"]), *(str(s["failure_tags"].get(t, 0)) for t in tags)]
                          for a, s in arms.items()]))
    out.append(Table("Efficiency (latency: mean / p50 / p95 s)",
                     ["arm", "per attempt", "per model call", "completion tok/s", "calls/solved", "tokens/solved",
                      "tokens/attempt"],
                     [[a, _trio(e["latency_task_s"]), _trio(e["latency_call_s"]), fmt.num(e["throughput_tok_s"], 1),
                       fmt.num(e["model_calls_per_solved"], 1), fmt.num(e["tokens_per_solved"], 0),
                       fmt.num(e["tokens_per_attempt"], 0)] for a, s in arms.items() for e in [s["efficiency"]]]))
    ks_steps = sorted({k for s in arms.values() for k in s["by_k"]}, key=int)
    if ks_steps:
        out.append(Table("Accuracy by number of steps k", ["arm", *(f"k={k}" for k in ks_steps)],
                         [[a, *(f"{fmt.num(s['by_k'][k]['accuracy'], 2)} (n={s['by_k'][k]['n']})" if k in s["by_k"]
                                else "n/a" for k in ks_steps)] for a, s in arms.items()]))
    if stats.get("judge_agreement"):
        out.append(Table("LLM judge vs rules (per tag)", ["tag", "attempts", "rules", "judge", "agreement", "kappa"],
                         [[t, str(g["n"]), str(g["rules"]), str(g["judge"]), fmt.num(g["agreement"]),
                           fmt.num(g["kappa"])]
                          for t, g in stats["judge_agreement"].items()]))
    return out


def _trio(s: dict[str, Any]) -> str:
    return f"{fmt.num(s['mean'], 2)} / {fmt.num(s['p50'], 2)} / {fmt.num(s['p95'], 2)}"


def _banner(stats: dict[str, Any]) -> list[str]:
    lines = []
    if stats["partial"]:
        n = sum(r["n_records"] for r in stats["runs"])
        lines.append(f"> **PARTIAL RUN**: not finished (still running or interrupted); "
                     f"numbers cover the {n} attempts recorded so far.")
    lines += [f"> warning: {w}" for w in stats["warnings"]]
    return lines


def render_markdown(stats: dict[str, Any], figures: Sequence[Path] = (), figure_note: str = "") -> str:
    """``report.md`` text."""
    r = stats["verdict_rule"]
    efficiency = [f"{name} ratio ≤ {r[key]}" for name, key in (("token", "max_token_ratio"),
                                                               ("latency", "max_latency_ratio")) if r[key] is not None]
    banner = _banner(stats)
    parts = [f"# Report: {stats['experiment']}", ""] + (banner + [""] if banner else [])
    parts += [f"**Verdict {c['treatment']} vs {c['baseline']}: {c.get('label', c['verdict'])}** — " + "; ".join(c["reasons"]) + "\n"
              for c in stats["comparisons"].values()]
    if e2 := stats.get("e2_criterion"):
        parts += [f"**E2 criterion, {e2['treatment']} vs {e2['baseline']}: {e2['label']}** — "
                  + "; ".join(e2["reasons"]) + f". Unbounded: Δ {fmt.num(e2['pass_at_1_unbounded']['delta'])} "
                  f"{fmt.ci(e2['pass_at_1_unbounded']['ci95'])}. (SUCCESS needs both: a ≥ {e2['min_reduction']:.0%} "
                  "relative cut of tool misuse + spec errors per attempt, and higher accuracy at equal wall-clock "
                  "per task, CI above 0; PARTIAL one of them; the budget is the baseline's 95th-percentile "
                  "attempt time.)\n"]
    parts += [f"Verdict rule: SUCCESS if Δpass@1 ≥ {r['target_delta']}, CI low > 0, p < {r['alpha']}"
              + "".join(f", {e}" for e in efficiency) + "; PARTIAL if the accuracy target holds without "
              "significance (or efficiency), or the efficiency targets hold with Δ ≥ 0; FAILURE otherwise; "
              f"INCONCLUSIVE is added wherever p ≥ {r['alpha']}. "
              f"Paired bootstrap over tasks: {stats['n_resamples']} resamples, seed {stats['seed']}."]
    for t in tables(stats):
        parts += ["", t.markdown()]
    if figures or figure_note:
        parts += ["", "### Figures", ""] + [f"![{p.stem}]({p.name})" for p in figures]
        parts += [f"_{figure_note}_"] if figure_note else []
    return "\n".join(parts) + "\n"


def _print(console: Console | None, stats: dict[str, Any]) -> None:
    if console is None:
        return
    for line in _banner(stats):
        console.print(line.lstrip("> "), style="yellow", markup=False)
    for t in tables(stats):
        console.print(t.rich())


def write_report(run_dirs: Sequence[str | Path], out_dir: str | Path | None = None, *,
                 rule: VerdictRule | Mapping[str, float] | None = None, baseline: str | None = None,
                 make_plots: bool = True, console: Console | None = None, n_resamples: int = 10_000,
                 seed: int = 0) -> Path:
    """Write ``report.md``, ``stats.json`` and figures for the runs; return the path of report.md.

    ``out_dir`` defaults to the run directory (one run) or ``<parent of the first>/combined-report``.
    Tables are also printed to ``console`` when given. Raises :class:`RunDirError` (one line).
    """
    if not run_dirs:
        raise RunDirError("no run directory given")
    runs = [load_run(d) for d in run_dirs]
    out = Path(out_dir) if out_dir else runs[0].path if len(runs) == 1 else runs[0].path.parent / "combined-report"
    out.mkdir(parents=True, exist_ok=True)
    stats = analyze(runs, rule=rule, baseline=baseline, n_resamples=n_resamples, seed=seed)
    figures, note = plots.make_figures(stats, {a: [r for run in runs for r in run.records if r.arm == a]
                                               for a in stats["arms"]}, out) if make_plots else ([], "")
    write_json(out / "stats.json", stats)
    report = out / "report.md"
    report.write_text(render_markdown(stats, figures, note), encoding="utf-8")
    _print(console, stats)
    return report


def compare_runs(run_a: str | Path, run_b: str | Path, out_dir: str | Path | None = None, *,
                 console: Console | None = None, n_resamples: int = 10_000, seed: int = 0) -> Path:
    """Compare two runs of the same suite (e.g. two models), arm by arm, paired on task ids.

    Attempts pair by (seed, sample). Writes ``compare.md`` and ``compare.json`` to ``out_dir``
    (default ``<parent of run_a>/compare-<a>-vs-<b>``); returns the path of compare.md.
    """
    a, b = load_run(run_a), load_run(run_b)
    out = Path(out_dir) if out_dir else a.path.parent / f"compare-{a.path.name}-vs-{b.path.name}"
    out.mkdir(parents=True, exist_ok=True)
    label_a, label_b = (str(r.backend.get("model") or r.path.name) for r in (a, b))
    if label_a == label_b:
        label_a, label_b = a.path.name, b.path.name
    key: AttemptKey = lambda r: (r.seed, r.sample)  # noqa: E731
    shared = [arm for arm in a.arms if arm in b.arms]
    if not shared:
        raise RunDirError(f"{a.path.name} and {b.path.name} have no arm in common")
    rows, result = [], {"a": str(a.path), "b": str(b.path), "label_a": label_a, "label_b": label_b,
                        "partial": a.partial or b.partial, "arms": {}}
    for arm in shared:
        ra, rb = ([r for r in run.records if r.arm == arm] for run in (a, b))
        cmp = compare(label_a, outcomes(ra, key), label_b, outcomes(rb, key), n_resamples=n_resamples, seed=seed)
        ea, eb = arm_efficiency(ra), arm_efficiency(rb)
        result["arms"][arm] = {"n_tasks": cmp.n_tasks, "n_pairs": cmp.n_pairs, "pass_at_1": cmp.pass_at_1(),
                               "efficiency": {label_a: ea, label_b: eb}}
        rows.append([arm, str(cmp.n_tasks), fmt.num(cmp.treatment_pass1), fmt.num(cmp.baseline_pass1),
                     fmt.num(cmp.delta),
                     fmt.ci(cmp.ci95), fmt.p_value(cmp.p_value), fmt.p_value(cmp.mcnemar_p),
                     f"{fmt.num(ea['tokens_per_attempt'], 0)} / {fmt.num(eb['tokens_per_attempt'], 0)}",
                     f"{fmt.num(ea['latency_task_s']['mean'], 2)} / {fmt.num(eb['latency_task_s']['mean'], 2)}"])
    table = Table(f"{label_a} (A) vs {label_b} (B), paired on task ids",
                  ["arm", "tasks", "pass@1 A", "pass@1 B", "Δ (A−B)", "95% CI", "p (bootstrap)", "p (McNemar)",
                   "tokens/attempt A / B", "latency/attempt s A / B"], rows)
    result = to_json(result)
    banner = ["> **PARTIAL**: at least one run did not finish; only attempts recorded so far are compared."] \
        if result["partial"] else []
    write_json(out / "compare.json", result)
    md = out / "compare.md"
    md.write_text("\n".join([f"# Compare: {a.path.name} vs {b.path.name}", "", *banner, "", table.markdown()]) + "\n",
                  encoding="utf-8")
    if console is not None:
        for line in banner:
            console.print(line.lstrip("> "), style="yellow", markup=False)
        console.print(table.rich())
    return md
