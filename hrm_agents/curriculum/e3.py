"""E3 — does a curriculum help? Curriculum vs mixed ordering of few-shot exemplars (LLM arms) and of
training examples (native HRM), scored on curriculum test tasks at k = 2..6.

* Test tasks: per family and k, ``test_id`` of :func:`~hrm_agents.curriculum.make_splits` for the
  training step counts (k = 2..4) and ``heldout`` for k = 5..6 (``n_train_per_k=0``, so the tasks
  are the same ones the HRM trainer evaluates on when ``seed`` equals its ``data_seed``).
* LLM arms: an E2 math arm (``flat``, ``flat_tool``, ``hier``) given ``budget`` worked exemplars
  (question, one line per step with its intermediate result, ``Answer: N``) of the task's family,
  drawn from an exemplar pool (k = 2..4, disjoint from every test task) by
  :func:`~hrm_agents.curriculum.schedule_streams`: ``curriculum`` = easy to hard (k = 2, then 3,
  then 4), ``mixed`` = the very same exemplars shuffled. Budgets are nested (the exemplars of budget
  2 are among those of budget 4). Arm names: ``flat/0`` (no exemplars), ``flat@curriculum/4``, ...
  The exemplars go to the E2 arm as ``examples=`` (shown in the system message of every model call
  of the attempt, :func:`~hrm_agents.graphs.prompts.with_examples`).
* HRM arms: ``hrm@<schedule>``, a checkpoint trained under that schedule answering with one call.
* After the run, :func:`summarize` writes ``e3_summary.json`` (+ ``e3_summary.md`` and figures):
  accuracy per k with Wilson 95% CIs, accuracy vs exemplar budget, the generalisation gap
  (accuracy at k = 5..6 minus k = 2..4, bootstrap CI over tasks), curriculum-vs-mixed paired
  comparisons, and the HRM's accuracy vs training examples seen (from its ``metrics.jsonl``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from ..backends.base import Backend, BackendError, GenParams, Message
from ..evaluation.records import AttemptRecord
from ..evaluation.stats import compare, unpaired_bootstrap_ci, wilson_ci
from ..runner import ArmConfig, ArmFn, ArmOutcome, RunAborted, run_experiment
from ..utils import figures, fmt
from ..utils.jsonio import to_json, write_json
from .export import to_task
from .generator import generate, make_splits
from .programs import FAMILIES, CurriculumTask, format_state
from .schedules import schedule_streams

EXPERIMENT = "exp3_curriculum"
TRAIN_KS: tuple[int, ...] = (2, 3, 4)
HELDOUT_KS: tuple[int, ...] = (5, 6)
SCHEDULES: tuple[str, ...] = ("curriculum", "mixed")
LLM_ARMS: tuple[str, ...] = ("flat", "flat_tool", "hier")
SUMMARY_FILE = "e3_summary.json"


# -- tasks and exemplars ---------------------------------------------------------------------------

def test_tasks(seed: int, n_per_k: int, families: Sequence[str] = FAMILIES,
               ks: Sequence[int] = TRAIN_KS + HELDOUT_KS) -> list[CurriculumTask]:
    """``n_per_k`` test tasks per family and k: ``test_id`` for k in :data:`TRAIN_KS`, ``heldout``
    otherwise (ordered by k, then family)."""
    ks = sorted(set(ks))
    splits = make_splits(seed, n_train_per_k=0, n_test_per_k=n_per_k, families=families,
                         train_ks=[k for k in ks if k in TRAIN_KS], heldout_ks=[k for k in ks if k not in TRAIN_KS])
    return sorted(splits["test_id"] + splits["heldout"], key=lambda t: (t.k, FAMILIES.index(t.family)))


def exemplar_pool(seed: int, n_per_k: int, families: Sequence[str], exclude: Iterable[str]) -> list[CurriculumTask]:
    """``n_per_k`` exemplar candidates per family and k in :data:`TRAIN_KS`, none of whose canonical
    forms is in ``exclude`` (pass the test tasks' canonical forms)."""
    exclude = set(exclude)
    return [t for f in families for k in TRAIN_KS
            for t in generate(f, k, n_per_k, seed=f"e3-exemplars-{seed}", exclude=exclude)]


def select_exemplars(pool: Sequence[CurriculumTask], budget: int, schedule: str,
                     seed: int = 0) -> dict[str, list[CurriculumTask]]:
    """Per family in ``pool``: ``budget`` exemplars in ``schedule`` order (see the module docstring).

    Equal counts per k (earlier k get the remainder); a budget above the pool repeats exemplars.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; use one of {SCHEDULES}")
    if budget < 0:
        raise ValueError(f"budget must be >= 0, got {budget}")
    out = {}
    for family in dict.fromkeys(t.family for t in pool):
        sub = [t for t in pool if t.family == family]
        order = schedule_streams([t.k for t in sub], budget, stages=TRAIN_KS, seed=seed)[schedule]
        out[family] = [sub[i] for i in order]
    return out


def worked_solution(t: CurriculumTask) -> str:
    """Question, one ``Step i: <state> <op> = <result>`` line per step, then ``Answer: N``."""
    head, *ops = t.canonical.split(" ")
    before = [head] + [format_state(s) for s in t.steps[:-1]]
    lines = [f"Step {i}: {b} {op} = {format_state(s)}" for i, (b, op, s) in enumerate(zip(before, ops, t.steps), 1)]
    return "\n".join([f"Problem: {t.question}", *lines, f"Answer: {t.answer}"])


# -- arms ------------------------------------------------------------------------------------------

def few_shot_arm(base: Callable[..., ArmOutcome], exemplars: Mapping[str, Sequence[CurriculumTask]]) -> ArmFn:
    """``base`` (an E2 math arm) given the worked solutions of the task family's exemplars as
    ``examples=`` (none for a family not in ``exemplars``); the exemplar ids go to
    ``meta["exemplars"]`` of the attempt's record."""
    shown = {f: ([worked_solution(t) for t in ex], [t.id for t in ex]) for f, ex in exemplars.items()}

    def arm(task: Any, backend: Backend, cfg: ArmConfig) -> ArmOutcome:
        examples, ids = shown.get(task.family, ([], []))
        outcome = base(task, backend, cfg, examples=examples)
        outcome.meta["exemplars"] = ids
        return outcome

    return arm


def single_call_arm(model: Backend) -> ArmFn:
    """One call to ``model`` (e.g. an HRMBackend) with the question; the answer is the completion text.
    The run's backend is not used."""

    def arm(task: Any, backend: Backend, cfg: ArmConfig) -> ArmOutcome:
        c = model.complete([Message(role="user", content=task.prompt)],
                           GenParams(temperature=cfg.temperature, max_tokens=cfg.max_tokens, seed=cfg.seed))
        return ArmOutcome(final=c.text or None, iterations=1, model_calls=1, prompt_tokens=c.prompt_tokens,
                          completion_tokens=c.completion_tokens, call_latencies_s=[c.latency_s],
                          trace={"completion": c.model_dump()})

    return arm


@dataclass
class ArmSpec:
    """What an E3 arm is (stored in ``config.json["e3"]["arms"]``)."""

    base: str
    schedule: str | None = None  # None: no exemplars (budget 0)
    budget: int | None = None  # exemplars per prompt (LLM arms); None for HRM arms
    exemplars: dict[str, list[str]] = field(default_factory=dict)  # family -> exemplar ids
    checkpoint: str | None = None  # HRM arms
    metrics: str | None = None  # HRM arms: the trainer's metrics.jsonl, when found

    @property
    def name(self) -> str:
        """``flat/0``, ``flat@curriculum/4``, ``hrm@mixed``."""
        if self.budget is None:
            return f"{self.base}@{self.schedule}"
        return f"{self.base}/0" if self.budget == 0 else f"{self.base}@{self.schedule}/{self.budget}"


def llm_arms(bases: Mapping[str, ArmFn], schedules: Sequence[str], budgets: Sequence[int],
             pool: Sequence[CurriculumTask], seed: int = 0) -> tuple[dict[str, ArmFn], list[ArmSpec]]:
    """Arms ``<base>/0`` (if 0 is a budget) and ``<base>@<schedule>/<budget>`` for every base arm."""
    arms: dict[str, ArmFn] = {}
    specs = []
    for budget in sorted(set(budgets)):
        for schedule in ([None] if budget == 0 else schedules):
            chosen = select_exemplars(pool, budget, schedule, seed) if schedule else {}
            for base, fn in bases.items():
                spec = ArmSpec(base, schedule, budget, {f: [t.id for t in ex] for f, ex in chosen.items()})
                arms[spec.name] = few_shot_arm(fn, chosen) if chosen else fn
                specs.append(spec)
    return arms, specs


def resolve_hrm(path: str | Path) -> tuple[Path, Path | None]:
    """(checkpoint folder, metrics.jsonl or None) for an HRM training folder (``metrics.jsonl`` +
    ``export/``) or a checkpoint folder (``model.safetensors``; metrics looked up in its parent)."""
    p = Path(path)
    if (p / "metrics.jsonl").is_file():
        return p / "export", p / "metrics.jsonl"
    if (p / "model.safetensors").is_file():
        return p, p.parent / "metrics.jsonl" if (p.parent / "metrics.jsonl").is_file() else None
    raise ValueError(f"{path}: neither an HRM training folder (metrics.jsonl) nor a checkpoint (model.safetensors)")


def hrm_leakage_warning(schedule: str, meta: Mapping[str, Any], seed: int, n_per_k: int) -> str | None:
    """Why the test tasks might overlap the HRM's training pool, or None when they cannot.

    The trainer excludes its own evaluation splits (``make_splits(data_seed, 0, n_test_per_k)``)
    from training; our test tasks are among them iff ``seed == data_seed`` and
    ``n_per_k <= n_test_per_k``.
    """
    cfg = meta.get("train_config") or {}
    data_seed, n_test = cfg.get("data_seed"), cfg.get("n_test_per_k")
    if data_seed == seed and isinstance(n_test, int) and n_per_k <= n_test:
        return None
    return (f"hrm@{schedule}: trained with data_seed={data_seed}, n_test_per_k={n_test}; with --seed {seed} "
            f"--n_per_k {n_per_k} test tasks may overlap its training data (use --seed {data_seed} and "
            f"--n_per_k <= {n_test})")


# -- the run ---------------------------------------------------------------------------------------

@dataclass
class E3Settings:
    """What E3 runs (the runner's own settings are passed to :func:`run_e3` separately)."""

    seed: int = 0
    n_per_k: int = 10
    families: list[str] = field(default_factory=lambda: list(FAMILIES))
    ks: list[int] = field(default_factory=lambda: [*TRAIN_KS, *HELDOUT_KS])
    bases: list[str] = field(default_factory=lambda: ["flat"])
    schedules: list[str] = field(default_factory=lambda: list(SCHEDULES))
    budgets: list[int] = field(default_factory=lambda: [0, 2, 4, 8])
    hrm: dict[str, str] = field(default_factory=dict)  # schedule -> training folder or checkpoint
    task_ids: list[str] | None = None  # only these test tasks
    limit: int | None = None  # only the first N test tasks (after task_ids)

    def check(self) -> None:
        """ValueError (one line) on settings that cannot run."""
        from ..graphs.math import MATH_ARMS

        bad = [b for b in self.bases if b not in MATH_ARMS]
        if bad or [s for s in [*self.schedules, *self.hrm] if s not in SCHEDULES]:
            raise ValueError(f"unknown arms/schedules: arms must be in {list(MATH_ARMS)}, schedules in {SCHEDULES}")
        if not self.bases and not self.hrm:
            raise ValueError("nothing to run: no LLM arm and no HRM checkpoint")
        if self.n_per_k < 1 or min(self.budgets, default=0) < 0 or not self.ks or min(self.ks) < 1:
            raise ValueError("need n_per_k >= 1, budgets >= 0 and step counts k >= 1")
        if self.bases and not self.budgets:
            raise ValueError("LLM arms need at least one exemplar budget")
        if self.bases and any(b > 0 for b in self.budgets) and not self.schedules:
            raise ValueError("budgets above 0 need at least one schedule")
        if not self.families or (bad := [f for f in self.families if f not in FAMILIES]):
            raise ValueError(f"unknown or no families {self.families}; choose from {FAMILIES}")


def run_e3(settings: E3Settings, backend: Backend | None, **runner: Any) -> Path:
    """Run E3 through :func:`~hrm_agents.runner.run_experiment` and write the summary; return the run dir.

    ``backend`` serves the LLM arms (None when there are none); ``runner`` holds the runner's keyword
    arguments (samples, seed, max_tokens, out_root, resume, extra_config, ...). The summary is also
    written when the run stops early (:class:`~hrm_agents.runner.RunAborted` is re-raised).
    """
    from ..backends import make_backend
    from ..graphs.math import MATH_ARMS

    settings.check()
    tests = test_tasks(settings.seed, settings.n_per_k, settings.families, settings.ks)
    if settings.task_ids is not None:
        tests = [t for t in tests if t.id in set(settings.task_ids)]
    tests = tests[:settings.limit]
    warnings = []
    arms: dict[str, ArmFn] = {}
    specs: list[ArmSpec] = []
    if settings.bases:
        if backend is None:
            raise ValueError("LLM arms need a backend")
        pool = exemplar_pool(settings.seed, max(1, max(settings.budgets)), settings.families,
                             {t.canonical for t in tests})
        arms, specs = llm_arms({b: MATH_ARMS[b] for b in settings.bases}, settings.schedules, settings.budgets,
                               pool, settings.seed)
    hrm_backends = []
    try:
        for schedule, path in settings.hrm.items():
            checkpoint, metrics = resolve_hrm(path)
            model = make_backend("hrm", model=str(checkpoint))
            hrm_backends.append(model)
            spec = ArmSpec("hrm", schedule, checkpoint=str(checkpoint), metrics=str(metrics) if metrics else None)
            arms[spec.name] = single_call_arm(model)
            specs.append(spec)
            if warning := hrm_leakage_warning(schedule, getattr(model, "meta", {}), settings.seed, settings.n_per_k):
                warnings.append(warning)
                print(f"warning: {warning}", file=sys.stderr)
        extra = {**runner.pop("extra_config", {}),
                 "e3": {"settings": asdict(settings), "arms": {s.name: asdict(s) for s in specs}, "warnings": warnings}}
        try:
            run_dir = run_experiment(EXPERIMENT, [to_task(t) for t in tests], arms, backend or hrm_backends[0],
                                     extra_config=extra, **runner)
        except RunAborted as e:
            if e.run_dir is not None:
                _summary_or_warning(e.run_dir)
            raise
        _summary_or_warning(run_dir)
    finally:
        for model in hrm_backends:
            model.close()
    return run_dir


def _summary_or_warning(run_dir: Path) -> None:
    """:func:`write_summary`; a failure there is one warning line (the results are on disk)."""
    try:
        write_summary(run_dir)
    except Exception as e:  # noqa: BLE001 - never lose a finished run to a summary problem
        print(f"warning: {SUMMARY_FILE} not written ({type(e).__name__}: {e})", file=sys.stderr)


# -- summary ---------------------------------------------------------------------------------------

def _acc(passed: Sequence[bool]) -> dict[str, Any]:
    n, c = len(passed), int(sum(passed))
    return {"n": n, "passed": c, "accuracy": c / n if n else None, "ci95": list(wilson_ci(c, n))}


def _task_rates(records: Iterable[AttemptRecord]) -> dict[str, tuple[int, float]]:
    """task id -> (k, mean pass rate over the task's attempts)."""
    by_task: dict[str, list[bool]] = defaultdict(list)
    ks = {}
    for r in records:
        by_task[r.task_id].append(r.passed)
        ks[r.task_id] = int(r.meta["k"])
    return {t: (ks[t], float(np.mean(v))) for t, v in by_task.items()}


def generalisation_gap(ood: Sequence[float], in_dist: Sequence[float], *, n_resamples: int = 10_000,
                       seed: int = 0) -> dict[str, Any]:
    """mean(ood) - mean(in_dist) of per-task pass rates with a percentile bootstrap 95% CI that
    resamples the tasks of each group independently (NaN CI with fewer than 2 tasks in a group)."""
    a, b = np.asarray(ood, float), np.asarray(in_dist, float)
    if not len(a) or not len(b):
        return {"delta": None, "ci95": [None, None], "n_ood_tasks": len(a), "n_id_tasks": len(b)}
    ci = unpaired_bootstrap_ci(a, b, n_resamples=n_resamples, seed=seed)
    return {"delta": float(a.mean() - b.mean()), "ci95": list(ci), "n_ood_tasks": len(a), "n_id_tasks": len(b)}


def arm_summary(records: Sequence[AttemptRecord], *, id_ks: Sequence[int] = TRAIN_KS,
                n_resamples: int = 10_000, seed: int = 0) -> dict[str, Any]:
    """Accuracy overall, per k, in-distribution (k in ``id_ks``) and out of it, each with a Wilson
    95% CI over attempts, and the generalisation gap (out minus in) over tasks."""
    by_k: dict[int, list[bool]] = defaultdict(list)
    for r in records:
        by_k[int(r.meta["k"])].append(r.passed)
    rates = _task_rates(records).values()
    return {
        **_acc([r.passed for r in records]),
        "errors": sum(r.error is not None for r in records),
        "by_k": {str(k): _acc(v) for k, v in sorted(by_k.items())},
        "id": _acc([p for k, v in by_k.items() if k in id_ks for p in v]),
        "ood": _acc([p for k, v in by_k.items() if k not in id_ks for p in v]),
        "gap": generalisation_gap([x for k, x in rates if k not in id_ks], [x for k, x in rates if k in id_ks],
                                  n_resamples=n_resamples, seed=seed),
    }


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


def summarize(run_dir: str | Path, *, n_resamples: int = 10_000, seed: int = 0) -> dict[str, Any]:
    """The content of ``e3_summary.json`` for a finished (or partial) E3 run."""
    from ..evaluation.io import load_run

    run = load_run(run_dir)
    e3 = run.config.get("e3")
    if not e3:
        raise ValueError(f"{run_dir}: not an E3 run (config.json has no 'e3' block)")
    specs = {name: ArmSpec(**s) for name, s in (e3.get("arms") or {}).items()}
    by_arm: dict[str, list[AttemptRecord]] = defaultdict(list)
    for r in run.records:
        if isinstance(r.meta.get("k"), int):
            by_arm[r.arm].append(r)
    arms = {name: {**asdict(spec), **arm_summary(by_arm[name], n_resamples=n_resamples, seed=seed)}
            for name, spec in specs.items() if by_arm[name]}

    budget_curves: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    llm = [s for s in specs.values() if s.budget is not None and s.name in arms]
    schedules = sorted({s.schedule for s in llm if s.schedule}) or ["none"]
    for s in sorted(llm, key=lambda s: s.budget):
        for schedule in ([s.schedule] if s.schedule else schedules):
            a = arms[s.name]
            budget_curves[s.base][schedule].append(
                {"budget": s.budget, "arm": s.name, "n": a["n"], "accuracy": a["accuracy"], "ci95": a["ci95"],
                 "id_accuracy": a["id"]["accuracy"], "ood_accuracy": a["ood"]["accuracy"]})

    effects = {}
    for s in llm:
        other = ArmSpec(s.base, "mixed", s.budget).name
        if s.schedule == "curriculum" and other in arms:
            c = compare(s.name, _outcomes(by_arm[s.name]), other, _outcomes(by_arm[other]),
                        n_resamples=n_resamples, seed=seed)
            effects[f"{s.base}/{s.budget}"] = {"curriculum": c.treatment_pass1, "mixed": c.baseline_pass1,
                                               "delta": c.delta, "ci95": list(c.ci95), "p_value": c.p_value,
                                               "mcnemar_p": c.mcnemar_p, "n_tasks": c.n_tasks}

    training = {s.schedule: read_training_curve(s.metrics) for s in specs.values()
                if s.metrics and Path(s.metrics).is_file()}
    return to_json({"run_dir": str(run.path), "partial": run.partial, "id_ks": list(TRAIN_KS),
                    "settings": e3.get("settings"), "warnings": [*e3.get("warnings", []), *run.warnings],
                    "arms": arms, "accuracy_vs_budget": budget_curves, "schedule_effect": effects,
                    "hrm_training": training})


def _outcomes(records: Iterable[AttemptRecord]) -> dict[str, dict[Any, bool]]:
    """task id -> (seed, sample) -> passed, the pairing of :func:`~hrm_agents.evaluation.stats.compare`."""
    out: dict[str, dict[Any, bool]] = defaultdict(dict)
    for r in records:
        out[r.task_id][(r.seed, r.sample)] = r.passed
    return out


def summary_markdown(summary: Mapping[str, Any]) -> str:
    """Tables of a summary: accuracy per arm and k with Wilson CIs, the gap, schedule effects."""
    arms = summary["arms"]
    ks = sorted({int(k) for a in arms.values() for k in a["by_k"]})
    lines = ["| arm | " + " | ".join(f"k={k}" for k in ks) + " | all [95% CI] | gap (k≥5 − k≤4) [95% CI] |",
             "|---|" + "---|" * (len(ks) + 2)]
    for name, a in arms.items():
        cells = [f"{fmt.num(b['accuracy'])} ({b['passed']}/{b['n']})" if (b := a["by_k"].get(str(k))) else fmt.MISSING
                 for k in ks]
        gap = fmt.est_ci(a["gap"]["delta"], a["gap"]["ci95"], sign=True)
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {fmt.est_ci(a['accuracy'], a['ci95'])} | {gap} |")
    if summary["schedule_effect"]:
        lines += ["", "| arm/budget | curriculum | mixed | Δ [95% CI] | p (bootstrap) | p (McNemar) |",
                  "|---|---|---|---|---|---|"]
        for name, e in summary["schedule_effect"].items():
            lines.append(f"| {name} | {fmt.num(e['curriculum'])} | {fmt.num(e['mixed'])} | "
                         f"{fmt.est_ci(e['delta'], e['ci95'], sign=True)} | {fmt.p_value(e['p_value'])} | "
                         f"{fmt.p_value(e['mcnemar_p'])} |")
    for schedule, curve in summary["hrm_training"].items():
        lines += ["", f"HRM trained with `{schedule}` ({curve['metrics']}): exact accuracy vs examples seen",
                  "", "| step | examples seen | val | heldout |", "|---|---|---|---|"]
        lines += [f"| {p['step']} | {p['examples_seen']} | {fmt.num((p.get('val') or {}).get('exact'))} | "
                  f"{fmt.num((p.get('heldout') or {}).get('exact'))} |" for p in curve["points"]]
    return "Accuracy as a fraction (passed/attempts); CIs are 95% (Wilson per cell, bootstrap over tasks for " \
        "Δ/gap).\n\n" + "\n".join(lines) + "\n"


def plot_summary(summary: Mapping[str, Any], out_dir: str | Path) -> list[Path]:
    """``e3_accuracy_vs_budget.png`` and ``e3_hrm_training.png`` (when there is data); [] without matplotlib.
    Accuracy vs k is in the evaluator's report (``accuracy_vs_k.png``)."""
    if (plt := figures.pyplot()) is None:
        return []
    paths: list[Path] = []

    def save(fig: Any, name: str) -> None:
        paths.append(figures.save(fig, Path(out_dir) / name))

    curves = [(f"{base}@{schedule}", pts) for base, by_s in summary["accuracy_vs_budget"].items()
              for schedule, pts in by_s.items()]
    if curves:
        fig, ax = plt.subplots(figsize=(6, 4))
        for label, pts in curves:
            acc = [p["accuracy"] for p in pts]
            err = [[a - p["ci95"][0] for a, p in zip(acc, pts)], [p["ci95"][1] - a for a, p in zip(acc, pts)]]
            ax.errorbar([p["budget"] for p in pts], acc, yerr=err, marker="o", capsize=3, label=label)
        ax.set(xlabel="few-shot exemplars per prompt", ylabel="accuracy (all k)", ylim=(0, 1.05),
               title="Accuracy vs exemplar budget (Wilson 95% CI)")
        ax.legend()
        save(fig, "e3_accuracy_vs_budget.png")
    if summary["hrm_training"]:
        fig, ax = plt.subplots(figsize=(6, 4))
        for schedule, curve in summary["hrm_training"].items():
            for split, style in (("val", "-"), ("heldout", "--")):
                pts = [(p["examples_seen"], p[split]["exact"]) for p in curve["points"] if p.get(split)]
                if pts:
                    ax.plot(*zip(*pts), style, marker="o", label=f"{schedule} {split}")
        ax.set(xlabel="training examples seen", ylabel="exact accuracy", ylim=(0, 1.05),
               title="HRM: accuracy vs training examples")
        ax.legend()
        save(fig, "e3_hrm_training.png")
    return paths


def write_summary(run_dir: str | Path, **kwargs: Any) -> dict[str, Any]:
    """Write ``e3_summary.json``, ``e3_summary.md`` and the E3 figures into ``run_dir``; return the summary."""
    summary = summarize(run_dir, **kwargs)
    out = Path(run_dir)
    write_json(out / SUMMARY_FILE, summary)
    (out / "e3_summary.md").write_text(summary_markdown(summary), encoding="utf-8")
    plot_summary(summary, out)
    return summary


# -- CLI -------------------------------------------------------------------------------------------

def _ints(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _pairs(text: str) -> dict[str, str]:
    out = {}
    for item in filter(None, (x.strip() for x in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise argparse.ArgumentTypeError(f"expected SCHEDULE=PATH[,SCHEDULE=PATH], got {text!r}")
        out[key] = value
    return out


def main(argv: Sequence[str] | None = None, *, description: str | None = None) -> int:
    """The E3 CLI (``experiments/exp3_curriculum/run.py``); returns the exit code."""
    from ..cli_common import backend_from_args, build_parser, parse_args, run_and_report, runner_kwargs

    choices = [*LLM_ARMS, "hrm"]
    parser = build_parser(description, arms=choices, default_arms="flat", suite=False)  # E3 generates its tasks
    parser.add_argument("--n_per_k", type=int, default=10, help="test tasks per family and k (default: 10)")
    parser.add_argument("--families", default=",".join(FAMILIES), help="comma-separated (default: %(default)s)")
    parser.add_argument("--ks", type=_ints, default=[*TRAIN_KS, *HELDOUT_KS],
                        help="step counts to test; 2-4 from test_id, others held out (default: 2,3,4,5,6)")
    parser.add_argument("--schedules", default=",".join(SCHEDULES), help="exemplar orders (default: %(default)s)")
    parser.add_argument("--budgets", type=_ints, default=[0, 2, 4, 8],
                        help="exemplars per prompt, one arm each (default: 0,2,4,8)")
    parser.add_argument("--hrm_checkpoints", type=_pairs, default={}, metavar="SCHEDULE=PATH,...",
                        help="HRM training folders (or checkpoints) per schedule, e.g. "
                             "curriculum=runs/hrm-cur,mixed=runs/hrm-mix; adds arms hrm@<schedule>")
    args = parse_args(parser, argv, dict.fromkeys(choices))
    if "hrm" in args.arms and not args.hrm_checkpoints:
        parser.error("--arms hrm needs --hrm_checkpoints")
    settings = E3Settings(seed=args.seed, n_per_k=args.n_per_k, families=[f for f in args.families.split(",") if f],
                          ks=args.ks, bases=[a for a in args.arms if a != "hrm"],
                          schedules=[s for s in args.schedules.split(",") if s], budgets=args.budgets,
                          hrm=args.hrm_checkpoints, task_ids=args.task_ids, limit=args.limit)
    try:
        settings.check()
    except ValueError as e:
        parser.error(str(e))

    def run() -> Path:
        backend = backend_from_args(args) if settings.bases else None
        try:
            return run_e3(settings, backend, extra_config={"args": vars(args)}, **runner_kwargs(args))
        finally:
            if backend is not None:
                backend.close()

    return run_and_report(run, errors=(BackendError, ValueError, OSError),
                          after=lambda run_dir: print((run_dir / "e3_summary.md").read_text()))
