"""Command-line flags and the main loop shared by every experiment CLI (``experiments/*/run.py``).

An experiment CLI is one call::

    sys.exit(run_cli("exp1_decomp_vs_flat", CODING_ARMS, description=__doc__,
                     default_suite="eval/suites/coding_suite.yaml", default_arms="flat,hier"))

Every failure the user can cause or meet (bad flag, missing suite, server down, Ctrl-C) ends with
one ``error: ...`` line on stderr and a non-zero exit code (2, or 130 for Ctrl-C), never a stack
trace; finished results are already on disk by then.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from rich.console import Console
from rich.markdown import Markdown

from .backends import Backend, BackendError, make_backend
from .backends.wrappers import wrap_backend
from .runner import ArmFn, RunAborted, RunSettings, run_experiment
from .runner.settings import DEFAULTS
from .tasks import SuiteError, load_suite
from .utils.flags import FlagParser

# --base_url goes to this constructor argument of each server backend.
_URL_OPTION = {"ollama": "host", "openai": "base_url"}


def _csv(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def _option(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def build_parser(description: str | None, *, arms: Sequence[str], default_arms: str, default_suite: str = "",
                 suite: bool = True) -> argparse.ArgumentParser:
    """The flags every experiment shares; ``suite=False`` leaves out ``--suite`` (for an experiment
    that generates its own tasks, like E3)."""
    p = FlagParser(description=description)
    if suite:
        p.add_argument("--suite", default=default_suite,
                       help="suite: a .yaml/.jsonl path or humaneval/mbpp/gsm8k (default: %(default)s)")
        p.add_argument("--split", default=None, help="MBPP split: prompt, test (11-510), validation or train")
        p.add_argument("--sample", type=int, default=None, help="a seeded random sample of N tasks")
        p.add_argument("--sample_seed", type=int, default=0, help="seed of --sample (default: 0)")
    p.add_argument("--model_backend", default=None,
                   help="llamacpp (default: embedded Qwen2.5-Coder-1.5B), ollama, openai, hrm")
    p.add_argument("--model_name", default=None,
                   help="model id / registry name (qwen2.5-coder-1.5b, smollm2-135m; see `hrm-agents models`) / "
                        "GGUF path / checkpoint (default: the backend's)")
    p.add_argument("--n_threads", type=int, default=None,
                   help="llamacpp CPU threads (default: one per physical core)")
    p.add_argument("--base_url", default=None,
                   help="server URL for ollama/openai; several, comma-separated, make a pool with failover "
                        "(default: their env var or localhost)")
    p.add_argument("--arms", type=_csv, default=_csv(default_arms),
                   help=f"comma-separated arms out of {', '.join(arms)} (default: {default_arms})")
    for flag, kind in (("samples", int), ("seed", int), ("temperature", float), ("max_iters", int),
                       ("max_tokens", int), ("concurrency", int)):
        field = RunSettings.model_fields[flag]
        p.add_argument(f"--{flag}", type=kind, default=field.default,
                       help=f"{field.description} (default: %(default)s)")
    p.add_argument("--limit", type=int, default=None, help="only the first N tasks")
    p.add_argument("--task_ids", type=_csv, default=None, help="only these comma-separated task ids")
    p.add_argument("--option", type=_option, action="append", default=[], metavar="KEY=VALUE",
                   help="arm option (repeatable), e.g. planner_tests=required")
    p.add_argument("--name", default=None, help="run name (default: <backend>-<model>)")
    p.add_argument("--out_root", default=str(DEFAULTS.out_root), help="output root (default: %(default)s)")
    p.add_argument("--resume", default=None, metavar="RUN_DIR",
                   help="finish an interrupted run; flags not given are taken from its config.json")
    p.add_argument("--cache", default=None, metavar="PATH", help="SQLite response cache (default: off)")
    p.add_argument("--no_progress", action="store_true", help="no progress bars")
    p.add_argument("--tracker", default=None, metavar="wandb|mlflow|wandb,mlflow",
                   help="also log to W&B (offline; `wandb sync` later) and/or MLflow (runs/mlflow.db; `mlflow ui`)")
    return p


def parse_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None, arms: Mapping[str, ArmFn]
               ) -> argparse.Namespace:
    """Parse ``argv``; with ``--resume``, flags not given on the command line come from the run's
    stored ``config.json`` (so ``run.py --resume RUN_DIR`` alone continues the same run)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if args.resume:
        config_path = Path(args.resume) / "config.json"
        try:
            stored = json.loads(config_path.read_text())["args"]
        except (OSError, KeyError, ValueError) as e:
            parser.error(f"cannot resume from {args.resume}: {config_path} unreadable ({type(e).__name__})")
        given = {a.dest for a in parser._actions for tok in argv if tok.split("=")[0] in a.option_strings}
        for key, value in stored.items():
            if key not in given and key != "resume":
                setattr(args, key, [tuple(v) for v in value] if key == "option" else value)
    unknown = [a for a in args.arms if a not in arms]
    if unknown or not args.arms:
        parser.error(f"unknown arms {unknown}; choose from {', '.join(arms)}")
    for flag in ("samples", "max_iters", "max_tokens", "concurrency"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag} must be at least 1")
    if args.n_threads is not None and args.n_threads < 1:
        parser.error("--n_threads must be at least 1")
    return args


def backend_from_args(args: argparse.Namespace) -> Backend:
    """The backend the flags ask for, wrapped with the response cache when ``--cache`` is set."""
    opts: dict[str, Any] = {}
    if args.base_url:
        if args.model_backend not in _URL_OPTION:
            raise BackendError(f"--base_url needs --model_backend {' or '.join(_URL_OPTION)}")
        opts[_URL_OPTION[args.model_backend]] = args.base_url
    if args.n_threads:
        if (args.model_backend or "llamacpp") != "llamacpp":
            raise BackendError("--n_threads needs --model_backend llamacpp")
        opts["n_threads"] = args.n_threads
    return wrap_backend(make_backend(args.model_backend, args.model_name, **opts), cache=args.cache)


def run_settings(args: argparse.Namespace, **extra_config: Any) -> RunSettings:
    """The :class:`~hrm_agents.runner.RunSettings` the shared flags set; ``extra_config`` (plus the
    flags themselves, as ``args``) goes into the run's config.json."""
    return RunSettings(samples=args.samples, seed=args.seed, temperature=args.temperature, max_iters=args.max_iters,
                       max_tokens=args.max_tokens, concurrency=args.concurrency, options=dict(args.option),
                       out_root=args.out_root, name=args.name, resume=args.resume, progress=not args.no_progress,
                       tracker=args.tracker,
                       extra_config={"args": vars(args), **extra_config})


def run_and_report(run: Callable[[], Path], *,
                   errors: tuple[type[Exception], ...] = (BackendError, SuiteError, OSError),
                   after: Callable[[Path], None] | None = None) -> int:
    """Call ``run`` (it runs the experiment and returns the run dir), print the report (then call
    ``after``) and return the exit code; a stopped run, one of ``errors`` or Ctrl-C before the run
    started is one ``error:`` line on stderr instead (exit 2, or 130 for Ctrl-C)."""
    try:
        run_dir = run()
    except RunAborted as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except errors as e:
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted before the run started; nothing was saved", file=sys.stderr)
        return 130
    print_report(run_dir)
    if after is not None:
        after(run_dir)
    return 0


def print_report(run_dir: Path) -> None:
    """Print the run's report.md (rich markdown) and where the run lives."""
    report = run_dir / "report.md"
    if report.exists():
        Console().print(Markdown(report.read_text()))
    print(f"results: {run_dir}", flush=True)


def run_cli(experiment: str, arms: Mapping[str, ArmFn], argv: Sequence[str] | None = None, *,
            description: str | None = None, default_suite: str, default_arms: str) -> int:
    """Parse flags, load the suite, build the backend, run, print the report; return the exit code."""
    parser = build_parser(description, arms=list(arms), default_arms=default_arms, default_suite=default_suite)
    args = parse_args(parser, argv, arms)

    def run() -> Path:
        suite = load_suite(args.suite, limit=args.limit, task_ids=args.task_ids, split=args.split,
                           sample=args.sample, sample_seed=args.sample_seed)
        for skipped in suite.skipped:
            print(f"warning: skipped unreadable record {skipped}", file=sys.stderr)
        backend = backend_from_args(args)
        try:
            return run_experiment(experiment, suite.tasks, {a: arms[a] for a in args.arms}, backend,
                                  run_settings(args, suite=args.suite, suite_skipped=suite.skipped))
        finally:
            backend.close()

    return run_and_report(run)
