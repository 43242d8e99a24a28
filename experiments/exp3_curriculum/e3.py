"""E3's orchestration: the arms (exemplar budgets x schedules, HRM checkpoints), the run and the summary.

* Test tasks and exemplars come from :mod:`hrm_agents.curriculum.exemplars` (k = 2..4 from
  ``test_id``, k = 5..6 held out; exemplars ordered ``curriculum`` or ``mixed``, nested budgets).
* LLM arms: an E2 math arm (``flat``, ``flat_tool``, ``hier``) given ``budget`` worked exemplars of
  the task's family (:func:`hrm_agents.graphs.arms.few_shot_arm`, shown in the system message of
  every model call of the attempt). Arm names: ``flat/0`` (no exemplars), ``flat@curriculum/4``, ...
* HRM arms: ``hrm@<schedule>``, a checkpoint trained under that schedule answering with one call
  (:func:`hrm_agents.graphs.arms.single_call_arm`).
* After the run, :func:`summarize` writes ``e3_summary.json`` (+ ``e3_summary.md`` and figures):
  accuracy per k with Wilson 95% CIs, accuracy vs exemplar budget, the generalisation gap
  (accuracy at k = 5..6 minus k = 2..4, bootstrap CI over tasks;
  :mod:`hrm_agents.evaluation.generalisation`), curriculum-vs-mixed paired comparisons, and the
  HRM's accuracy vs training examples seen (:func:`hrm_agents.hrm.report.read_training_curve`).
"""

from __future__ import annotations

import sys
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from hrm_agents.backends import make_backend
from hrm_agents.backends.base import Backend
from hrm_agents.curriculum import FAMILIES, CurriculumTask, to_task
from hrm_agents.curriculum.exemplars import (HELDOUT_KS, SCHEDULES, TRAIN_KS, exemplar_pool, select_exemplars,
                                             test_tasks, worked_solution)
from hrm_agents.evaluation.generalisation import arm_summary, paired_outcomes
from hrm_agents.evaluation.io import load_run
from hrm_agents.evaluation.records import AttemptRecord
from hrm_agents.evaluation.stats import compare
from hrm_agents.graphs.arms import few_shot_arm, single_call_arm
from hrm_agents.graphs.math import MATH_ARMS
from hrm_agents.hrm.report import read_training_curve
from hrm_agents.runner import ArmFn, RunAborted, RunSettings, run_experiment
from hrm_agents.utils import figures, fmt
from hrm_agents.utils.jsonio import to_json, write_json

EXPERIMENT = "exp3_curriculum"
LLM_ARMS: tuple[str, ...] = ("flat", "flat_tool", "hier")
SUMMARY_FILE = "e3_summary.json"


# -- arms ------------------------------------------------------------------------------------------

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
                shown = {f: [(t.id, worked_solution(t)) for t in ex] for f, ex in chosen.items()}
                arms[spec.name] = few_shot_arm(fn, shown) if chosen else fn
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


def run_e3(settings: E3Settings, backend: Backend | None, run: RunSettings | None = None, **overrides: Any) -> Path:
    """Run E3 through :func:`~hrm_agents.runner.run_experiment` and write the summary; return the run dir.

    ``backend`` serves the LLM arms (None when there are none); ``run`` (with keyword ``overrides``
    of its fields) is how the runner runs it. The summary is also written when the run stops early
    (:class:`~hrm_agents.runner.RunAborted` is re-raised).
    """
    run = RunSettings.of(run, **overrides)
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
        e3 = {"settings": asdict(settings), "arms": {s.name: asdict(s) for s in specs}, "warnings": warnings}
        try:
            run_dir = run_experiment(EXPERIMENT, [to_task(t) for t in tests], arms, backend or hrm_backends[0], run,
                                     extra_config={**run.extra_config, "e3": e3})
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

# -- summary ---------------------------------------------------------------------------------------

def summarize(run_dir: str | Path, *, n_resamples: int = 10_000, seed: int = 0) -> dict[str, Any]:
    """The content of ``e3_summary.json`` for a finished (or partial) E3 run."""
    run = load_run(run_dir)
    e3 = run.config.get("e3")
    if not e3:
        raise ValueError(f"{run_dir}: not an E3 run (config.json has no 'e3' block)")
    specs = {name: ArmSpec(**s) for name, s in (e3.get("arms") or {}).items()}
    by_arm: dict[str, list[AttemptRecord]] = defaultdict(list)
    for r in run.records:
        if isinstance(r.meta.get("k"), int):
            by_arm[r.arm].append(r)
    arms = {name: {**asdict(spec), **arm_summary(by_arm[name], id_ks=TRAIN_KS, n_resamples=n_resamples, seed=seed)}
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
            c = compare(s.name, paired_outcomes(by_arm[s.name]), other, paired_outcomes(by_arm[other]),
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
