"""E6 evaluation entry points: :func:`evaluate` (trained arms -> ``stats.json`` + ``report.md``) and
:func:`reference` (zero-shot pass@1 of a llama.cpp model on a seeded MBPP-test subset)."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

from hrm_agents.hrm.code_data import MBPP_TEST_IDS, mbpp_rows
from hrm_agents.utils import fmt
from hrm_agents.utils.jsonio import write_json, write_text_atomic

from .pipeline import ARM_LABELS, ARMS
from .scoring import (arm_metrics, merge_resumed, read_jsonl, run_completion, score_completions, scored_index,
                      study_stats)

TREATMENT, BASELINE = "hrm_lm", "gpt2"


def _training(folder: Path, arm: str) -> dict[str, Any]:
    """The arm's training record from ``<arm>.metrics.jsonl``: parameters, pretraining, fine-tuning,
    generation (each from its own event, so an arm that crashed while sampling still has its training)
    and ``stable`` = both training phases finished with finite losses (and pretraining loss fell)."""
    path = folder / f"{arm}.metrics.jsonl"
    recs = read_jsonl(path) if path.is_file() else []
    ev = {r.get("event"): r for r in recs}
    strip = lambda r: {k: v for k, v in (r or {}).items() if k not in ("arm", "t", "event")} or None  # noqa: E731
    pre, ft = strip(ev.get("pretrain_done")), strip(ev.get("finetune_done"))
    return {"n_params": (ev.get("start") or {}).get("n_params"), "pretrain": pre, "finetune": ft,
            "generate": (ev.get("summary") or {}).get("generate"),
            "generation_finished": "summary" in ev,
            "stable": bool(pre and ft and pre.get("stable") and ft.get("stable"))}


def evaluate(completions: Path | Sequence[Path], mbpp: Path, out: Path, *, bench_path: Path | None = None,
             workers: int = 2, n_resamples: int = 10_000, resumed: Path | None = None) -> dict[str, Any]:
    """Score every arm's completions in the sandbox; write ``<arm>.scored.jsonl``, ``stats.json`` and
    ``report.md`` into ``out``; returns the stats. ``completions``: a train plan's folder, or several,
    each arm taken (with its training log) from the first that has it, e.g. baselines retrained at
    equal GPU time beside the first call's HRM-LM. Completions already in ``<arm>.scored.jsonl`` are not
    run again (re-rendering with a new ``--bench`` does not re-run the sandbox). ``resumed``: a later
    call's folder that completes arms whose sampling was cut short (:func:`merge_resumed`); its greedy
    completions are scored too, as a check of the retrained model. The first ``gputime.json`` (each
    arm's seconds per batch alone on the GPU) in the completion folders, then ``resumed``, goes into
    ``equal_budget``."""
    out.mkdir(parents=True, exist_ok=True)
    folders = [completions] if isinstance(completions, Path) else list(completions)
    rows = {r["task_id"]: r for r in mbpp_rows(mbpp, MBPP_TEST_IDS)}
    metrics, training, wall, resumes, source = {}, {}, {}, {}, {}
    for arm in ARMS:
        path = _first(folders, f"{arm}.completions.jsonl")
        if path is None:
            print(f"  {arm}: no completions in {', '.join(map(str, folders))}; left out")
            continue
        source[arm] = str(path.parent)
        t0 = time.time()
        comps = read_jsonl(path)
        later = resumed / f"{arm}.completions.jsonl" if resumed else None
        if later is not None and later.is_file():
            comps, resumes[arm] = merge_resumed(comps, read_jsonl(later))
        cached = out / f"{arm}.scored.jsonl"
        known = scored_index(read_jsonl(cached)) if cached.is_file() else {}
        print(f"scoring {arm} ({path}{' + ' + str(later) if arm in resumes else ''})", flush=True)
        scored = score_completions(comps, rows, workers=workers, known=known)
        write_text_atomic(cached, "".join(json.dumps(r) + "\n" for r in scored))
        metrics[arm] = arm_metrics(scored)
        training[arm] = _training(path.parent, arm)
        if arm in resumes:
            rerun = [r for r in read_jsonl(later) if r["kind"] == "greedy"]
            rerun = score_completions(rerun, rows, workers=workers, known=scored_index(scored), progress=False)
            resumes[arm].update(greedy_pass1=arm_metrics(rerun)["pass1"], training=_training(resumed, arm))
        wall[arm] = round(time.time() - t0, 1)
    if TREATMENT not in metrics or BASELINE not in metrics:
        raise ValueError(f"need completions of both {TREATMENT} and {BASELINE} in {', '.join(map(str, folders))}")
    bench = json.loads(bench_path.read_text()) if bench_path else None
    stable = all(training[a].get("stable", False) for a in (TREATMENT, BASELINE))
    stats = study_stats(metrics, treatment=TREATMENT, baseline=BASELINE, stable=stable, bench=bench,
                        n_resamples=n_resamples, extra_baselines=[a for a in metrics if a not in (TREATMENT, BASELINE)])
    stats["training"] = training
    tokens = {a: (t.get("pretrain") or {}).get("tokens") for a, t in training.items()}
    stats["equal_budget"] = {"pretraining_tokens": tokens, "equal": len(set(tokens.values())) == 1,
                             "pretraining_wall_s": {a: (t.get("pretrain") or {}).get("wall_s")
                                                    for a, t in training.items()},
                             "gpu_s_alone": _gpu_seconds([*folders, *([resumed] if resumed else [])], training)}
    stats["sources"] = source
    stats["resumed"] = {"folder": str(resumed), "arms": resumes} if resumes else None
    stats["scoring_wall_s"] = wall
    data = _first(folders, "data.json")
    stats["data"] = json.loads(data.read_text()) if data else None
    write_json(out / "stats.json", stats)
    write_text_atomic(out / "report.md", render(stats))
    print(render(stats))
    return stats


def _first(folders: Sequence[Path], name: str) -> Path | None:
    """``folder / name`` for the first of ``folders`` that has that file; None if none has it."""
    return next((f / name for f in folders if (f / name).is_file()), None)


def _gpu_seconds(folders: Sequence[Path], training: Mapping[str, Any]) -> dict[str, Any] | None:
    """Each arm's pretraining batches x its seconds per batch alone on the GPU (``gputime.json`` of the
    first of ``folders`` that has one): the GPU time its budget would take alone, unlike the walls of
    arms that shared one GPU."""
    path = _first(folders, "gputime.json")
    if path is None:
        return None
    timing = json.loads(path.read_text())
    steps = {a: (t.get("pretrain") or {}).get("steps") for a, t in training.items()}
    return {"s_per_batch": timing["s_per_batch"], "timed_batches": timing["timed_steps"] // 2,
            "pretraining_s": {a: steps[a] * s for a, s in timing["s_per_batch"].items() if steps.get(a)}}


def _ratio(a: Any, b: Any) -> str:
    return fmt.num(a / b, 2) + "x" if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b else fmt.MISSING


def _sampled(m: Mapping[str, Any]) -> str:
    return f"{m['n_tasks_sampled']} tasks x {m['n_samples']}" if m["n_samples"] else "no samples"


def render(stats: Mapping[str, Any]) -> str:
    """The study's table (metric, HRM, GPT-2 arch, delta, 95% CI, p, verdict) and the arms' details."""
    arms, cmp = stats["arms"], stats["comparisons"][f"{TREATMENT}_vs_{BASELINE}"]
    h, g = arms[TREATMENT], arms[BASELINE]
    v = stats["verdict"]
    lines = ["| metric | HRM-LM 27M | GPT-2-117M arch | Δ (HRM − GPT-2) | 95% CI | p | verdict |",
             "|---|---|---|---|---|---|---|",
             f"| pass@1 (greedy, n={h['n_tasks_greedy']}) | {fmt.num(h['pass1'])} | {fmt.num(g['pass1'])} | "
             f"{fmt.num(cmp['delta'], sign=True)} | {fmt.ci(cmp['ci95'])} | {fmt.p_value(cmp['p_value'])} | **{v['label']}** |",
             f"| pass@10 (n=10, T=0.8; HRM {_sampled(h)}, GPT-2 {_sampled(g)}) | {fmt.num(h['pass10'])} | "
             f"{fmt.num(g['pass10'])} | {fmt.num(h['pass10'] - g['pass10'], sign=True)} | | | |"]
    bench = stats.get("bench") or {}
    if bench:
        bh, bg = bench["arms"][TREATMENT], bench["arms"][BASELINE]
        for key, label, digits in (("latency_512_s", "latency, 512 tokens, CPU (s)", 2),
                                   ("peak_rss_train_mb", "peak RAM, training step (MB)", 0),
                                   ("peak_rss_infer_mb", "peak RAM, inference (MB)", 0),
                                   ("tokens_per_s", "CPU throughput (tokens/s)", 1)):
            lines.append(f"| {label} | {fmt.num(float(bh[key]), digits)} | {fmt.num(float(bg[key]), digits)} | "
                         f"ratio {_ratio(bh[key], bg[key])} | | | |")
    budget = stats.get("equal_budget") or {}
    gpu = budget.get("gpu_s_alone")
    gpu_text = (" GPU seconds of that pretraining, each arm alone (seconds per batch timed alone x batches): "
                + ", ".join(f"{a} {fmt.num(x, 1)}" for a, x in gpu["pretraining_s"].items()) + ".") if gpu else ""
    lines += ["", "Verdict checks: " + "; ".join(v["reasons"]), "",
              f"Pretraining tokens: {'equal' if budget.get('equal') else 'NOT equal'} across arms "
              f"({budget.get('pretraining_tokens')}).{gpu_text}", ""]
    if len(set((stats.get("sources") or {}).values())) > 1:
        lines += ["Arms from different calls: " + ", ".join(f"{a} {f}" for a, f in stats["sources"].items()), ""]
    for arm, r in ((stats.get("resumed") or {}).get("arms") or {}).items():
        lines += [f"{arm}: the samples of {r['tasks_sampled_added']} tasks ({r['samples_added']} completions) come "
                  f"from a later call that retrained the arm (same seed, data and batches); its greedy completions "
                  f"match the first call's on {r['greedy_identical']} of {r['greedy_compared']} tasks, and its greedy "
                  f"pass@1 is {fmt.num(r['greedy_pass1'])}.", ""]
    lines += [
              "| arm | params | pretraining tokens | batches | pretraining wall (s, shared GPU) | final pretrain loss | "
              "fine-tune loss (last epoch) | pass@1 | pass@10 | sample pass@1 | ended at EOS | outcomes |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for arm, m in arms.items():
        t = (stats.get("training") or {}).get(arm) or {}
        pre, ft = t.get("pretrain") or {}, t.get("finetune") or {}
        lines.append(f"| {ARM_LABELS.get(arm, arm)} | {fmt.num(t.get('n_params'))} | {fmt.num(pre.get('tokens'))} | "
                     f"{fmt.num(pre.get('steps'))} | {fmt.num(pre.get('wall_s'), 1)} | {fmt.num(pre.get('loss_last'))} | "
                     f"{fmt.num(ft.get('loss_last_epoch'))} | "
                     f"{fmt.num(m['pass1'])} | {fmt.num(m['pass10'])} | {fmt.num(m['sample_pass1'])} | "
                     f"{fmt.num(m['finished_at_eos'])} | {m['status_counts']} |")
    for name, c in stats["comparisons"].items():
        lines.append(f"\n{name}: Δpass@1 {fmt.num(c['delta'], sign=True)} {fmt.ci(c['ci95'])}, "
                     f"p {fmt.p_value(c['p_value'])}, McNemar p {fmt.p_value(c['mcnemar_p'])} "
                     f"(tasks only HRM solved: {c['only_treatment']}, only the other: {c['only_baseline']})")
    return "\n".join(lines) + "\n"


REFERENCE_PROMPT = ("You are an expert Python programmer, and here is your task: {text} "
                    "Your code should pass these tests:\n\n{tests}\n\nReply with the Python code only.")


def reference(mbpp: Path, out: Path, *, n_tasks: int = 100, model: str | None = None, seed: int = 0,
              max_tokens: int = 512, time_budget_s: float | None = None, backend: Any = None) -> dict[str, Any]:
    """Zero-shot greedy pass@1 of the embedded llama.cpp model (``model``: registry name or GGUF;
    default SmolLM2-135M-Instruct) on ``n_tasks`` MBPP-test tasks drawn with ``seed``; the reply's code
    is pulled out with :func:`hrm_agents.graphs.extract.extract_code` and run in the sandbox.

    Resumable: tasks already in ``out/reference.jsonl`` are not asked again, and the summary counts
    every recorded task of the draw. Tasks are asked in the draw's own (random) order, and no task
    starts after ``time_budget_s``, so a run cut short still covers a uniformly random subset of the
    draw (``complete`` in the summary says whether it covered all of it). ``backend``: a ready backend
    (tests), instead of the llama.cpp one."""
    from hrm_agents.backends import GenParams, make_backend
    from hrm_agents.evaluation.stats import wilson_ci
    from hrm_agents.graphs.extract import extract_code
    from hrm_agents.tasks.suites import mbpp_task

    out.mkdir(parents=True, exist_ok=True)
    rows = mbpp_rows(mbpp, MBPP_TEST_IDS)
    picked = random.Random(seed).sample(rows, min(n_tasks, len(rows)))  # in the draw's random order
    backend = backend or make_backend("llamacpp", model=model or "smollm2-135m", n_threads=1)
    path = out / "reference.jsonl"
    done = {r["task_id"]: r for r in read_jsonl(path)} if path.is_file() else {}
    t0 = time.time()
    with open(path, "a") as f:
        for i, row in enumerate(picked, 1):
            if row["task_id"] in done:
                continue
            if time_budget_s is not None and time.time() - t0 >= time_budget_s:
                print(f"  time budget {time_budget_s:.0f} s spent; stopping before task {i}/{len(picked)}")
                break
            prompt = REFERENCE_PROMPT.format(text=row["text"], tests="\n".join(row["test_list"]))
            reply = backend.complete([{"role": "user", "content": prompt}], GenParams(max_tokens=max_tokens))
            code = extract_code(reply.text, mbpp_task(row).entry_point).code or ""
            rec = {"task_id": row["task_id"], "reply": reply.text, "latency_s": reply.latency_s,
                   "completion_tokens": reply.completion_tokens, **run_completion(code, row)}
            done[row["task_id"]] = rec
            f.write(json.dumps(rec) + "\n")
            f.flush()
            print(f"  {i}/{len(picked)} task {row['task_id']}: {rec['status']} ({reply.latency_s:.1f} s)", flush=True)
    recs = sorted((done[r["task_id"]] for r in picked if r["task_id"] in done), key=lambda r: r["task_id"])
    passed = sum(r["passed"] for r in recs)
    summary = {"model": backend.describe(), "n_tasks": len(recs), "n_drawn": len(picked),
               "complete": len(recs) == len(picked), "seed": seed, "passed": passed,
               "pass1": passed / len(recs) if recs else None, "wilson95": wilson_ci(passed, len(recs)),
               "task_ids": [r["task_id"] for r in recs], "wall_s_this_call": round(time.time() - t0, 1),
               "mean_latency_s": sum(r["latency_s"] for r in recs) / len(recs) if recs else None}
    write_json(out / "reference.json", summary)
    print(json.dumps({k: v for k, v in summary.items() if k != "task_ids"}))
    return summary
