"""E6's evaluation side (this machine): MBPP-test completions -> sandboxed test runs -> pass@k,
the paired bootstrap, the verdict, ``stats.json`` and ``report.md``.

Every completion runs in :func:`hrm_agents.sandbox.run_tests` (never in-process) against the task's
``test_list`` after its ``test_setup_code``; a completion that does not even parse (checked with
:mod:`ast`, nothing executed) fails without a run, and identical completions of one task are run once.
pass@1 is the greedy completion's pass rate; pass@10 the unbiased estimator with n = 10 samples at
T = 0.8 (:func:`hrm_agents.evaluation.stats.pass_at_k`); delta pass@1 (HRM minus baseline, greedy,
paired by task) gets the 10,000-resample paired bootstrap CI and two-sided p of
:func:`hrm_agents.evaluation.stats.compare`.
"""

from __future__ import annotations

import ast
import json
import math
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from hrm_agents.evaluation.stats import compare, pass_at_k
from hrm_agents.sandbox import Limits, run_tests

from .verdict import StudyNumbers, Thresholds, study_verdict

LIMITS = Limits(timeout_s=10, cpu_s=5, memory_mb=512)


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Records of a JSONL file; a torn last line (the writer was killed) is skipped."""
    out = []
    for line in Path(path).read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def _parses(code: str) -> bool:
    try:
        with warnings.catch_warnings():  # generated code trips SyntaxWarnings; only parsing matters here
            warnings.simplefilter("ignore")
            ast.parse(code)
        return True
    except (SyntaxError, ValueError):
        return False


def run_completion(code: str, row: Mapping[str, Any]) -> dict[str, Any]:
    """One completion against one MBPP task in the sandbox: ``{"passed", "status"}``."""
    if not code.strip():
        return {"passed": False, "status": "empty"}
    if not _parses(code):
        return {"passed": False, "status": "syntax_error"}
    rep = run_tests(code, list(row["test_list"]), setup=row.get("test_setup_code") or "", limits=LIMITS)
    status = "passed" if rep.passed else (rep.exec.status if rep.exec.status != "ok" else "wrong_answer")
    return {"passed": bool(rep.passed), "status": status}


def score_completions(completions: Iterable[Mapping[str, Any]], rows: Mapping[int, Mapping[str, Any]], *,
                      workers: int = 2, progress: bool = True,
                      known: Mapping[tuple[int, str], Mapping[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Each completion record with ``passed`` and ``status`` added (unique (task, text) pairs run once;
    pairs in ``known``, e.g. from an earlier scoring, are not run again)."""
    recs = [dict(c) for c in completions if c["task_id"] in rows]
    results: dict[tuple[int, str], Any] = dict(known or {})
    unique = sorted({(r["task_id"], r["text"]) for r in recs} - set(results), key=lambda x: x[0])
    with ThreadPoolExecutor(workers) as pool:
        futures = {key: pool.submit(run_completion, key[1], rows[key[0]]) for key in unique}
        for i, (key, fut) in enumerate(futures.items(), 1):
            results[key] = fut.result()
            if progress and (i % 500 == 0 or i == len(futures)):
                print(f"  scored {i}/{len(futures)} unique completions", flush=True)
    for r in recs:
        res = results[(r["task_id"], r["text"])]
        r.update(passed=res["passed"], status=res["status"])
    return recs


def scored_index(scored: Iterable[Mapping[str, Any]]) -> dict[tuple[int, str], dict[str, Any]]:
    """``(task_id, text) -> {"passed", "status"}`` of scored records (``known`` for :func:`score_completions`)."""
    return {(r["task_id"], r["text"]): {"passed": r["passed"], "status": r["status"]} for r in scored}


def merge_resumed(first: list[dict[str, Any]], resumed: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Complete a call whose sampling was cut short with a later call's completions of the same arm
    (retrained with the same seed, data and batches, since checkpoints do not come back): every
    completion of ``first`` is kept, and ``resumed``'s samples are added for the tasks ``first`` has no
    samples of (tagged ``"source": "resumed"``). Also returns how the two calls' greedy completions
    compare (how many are identical text), which says how close the retrained model is."""
    sampled = {r["task_id"] for r in first if r["kind"] == "sample"}
    added = [{**r, "source": "resumed"} for r in resumed if r["kind"] == "sample" and r["task_id"] not in sampled]
    g_first = {r["task_id"]: r["text"] for r in first if r["kind"] == "greedy"}
    g_resumed = {r["task_id"]: r["text"] for r in resumed if r["kind"] == "greedy"}
    both = set(g_first) & set(g_resumed)
    return first + added, {"tasks_sampled_added": len({r["task_id"] for r in added}), "samples_added": len(added),
                           "greedy_compared": len(both),
                           "greedy_identical": sum(g_first[t] == g_resumed[t] for t in both)}


def arm_metrics(scored: list[dict[str, Any]], k: int = 10) -> dict[str, Any]:
    """pass@1 (greedy), unbiased pass@k over the tasks' n samples (k = min(k, n); ``pass10`` is the
    key whatever k is, ``pass_k`` says which), the sampled pass rate, outcome counts, per-task greedy outcome."""
    greedy = {r["task_id"]: r["passed"] for r in scored if r["kind"] == "greedy"}
    samples: dict[int, list[bool]] = {}
    for r in scored:
        if r["kind"] == "sample":
            samples.setdefault(r["task_id"], []).append(r["passed"])
    n = max(map(len, samples.values()), default=0)
    full = {t: s for t, s in samples.items() if len(s) == n}  # tasks whose sampling finished
    kk = min(k, n)
    pk = [pass_at_k(n, sum(s), kk) for s in full.values()] if n else []
    status: dict[str, int] = {}
    for r in scored:
        status[r["status"]] = status.get(r["status"], 0) + 1
    return {"n_tasks_greedy": len(greedy), "pass1": float(np.mean(list(greedy.values()))) if greedy else math.nan,
            "n_tasks_sampled": len(full), "n_samples": n, "pass_k": kk, "pass10": float(np.mean(pk)) if pk else math.nan,
            "sample_pass1": float(np.mean([np.mean(s) for s in full.values()])) if full else math.nan,
            "finished_at_eos": float(np.mean([r.get("finished", True) for r in scored])) if scored else math.nan,
            "status_counts": dict(sorted(status.items())), "greedy": greedy}


def efficiency_ratios(bench: Mapping[str, Any] | None, treatment: str, baseline: str) -> dict[str, float | None]:
    """HRM / baseline ratios of latency (512 tokens) and peak RAM (train, inference) from the benchmark JSON."""
    if not bench:
        return {"latency_ratio": None, "ram_ratio_train": None, "ram_ratio_infer": None}
    a, b = bench["arms"][treatment], bench["arms"][baseline]
    return {"latency_ratio": a["latency_512_s"] / b["latency_512_s"],
            "ram_ratio_train": a["peak_rss_train_mb"] / b["peak_rss_train_mb"],
            "ram_ratio_infer": a["peak_rss_infer_mb"] / b["peak_rss_infer_mb"]}


def study_stats(metrics: Mapping[str, Mapping[str, Any]], *, treatment: str, baseline: str, stable: bool,
                bench: Mapping[str, Any] | None, thresholds: Thresholds = Thresholds(),
                n_resamples: int = 10_000, extra_baselines: Iterable[str] = ()) -> dict[str, Any]:
    """``stats.json``: per-arm metrics, paired comparisons, efficiency ratios and the computed verdict."""
    def cmp(base: str) -> Any:
        a = {str(t): {0: p} for t, p in metrics[treatment]["greedy"].items()}
        b = {str(t): {0: p} for t, p in metrics[base]["greedy"].items()}
        return compare(treatment, a, base, b, n_resamples=n_resamples)

    main = cmp(baseline)
    eff = efficiency_ratios(bench, treatment, baseline)
    numbers = StudyNumbers(hrm_pass1=metrics[treatment]["pass1"], hrm_pass10=metrics[treatment]["pass10"],
                           delta_pass1=main.delta, ci95=main.ci95, p_value=main.p_value, stable=stable, **eff)
    verdict = study_verdict(numbers, thresholds)
    comparisons = {f"{treatment}_vs_{b}": {**_cmp_dict(c), "n_tasks": c.n_tasks}
                   for b, c in [(baseline, main), *[(x, cmp(x)) for x in extra_baselines]]}
    return {"arms": {a: {k: v for k, v in m.items() if k != "greedy"} for a, m in metrics.items()},
            "comparisons": comparisons, "efficiency": eff, "bench": bench, "thresholds": thresholds.as_dict(),
            "n_resamples": n_resamples, "training_stable": stable, "verdict": verdict.as_dict()}


def _cmp_dict(c: Any) -> dict[str, Any]:
    return {"delta": c.delta, "ci95": list(c.ci95), "p_value": c.p_value, "mcnemar_p": c.mcnemar_p,
            "only_treatment": c.only_treatment, "only_baseline": c.only_baseline}
