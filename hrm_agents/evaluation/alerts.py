"""Alerts: where a run's KPIs fall below their targets, or a run is in trouble.

One implementation for every reader (the dashboard's alert feed, scripts): experiment alerts come
from a run's ``stats.json`` content (:func:`~hrm_agents.evaluation.report.analyze`) and its
verdict rule; training alerts from a training folder's ``metrics.jsonl`` events and
``heartbeat.json`` (:mod:`hrm_agents.hrm.watchdog`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable, Literal

from .taxonomy import ARM_ERROR, BACKEND_ERROR

Level = Literal["error", "warning", "info"]
STALE_HEARTBEAT_S = 180.0  # three missed beats at the watchdog's default 60 s
RAM_LIMIT_PERCENT = 90.0


@dataclass(frozen=True)
class Alert:
    """One alert: ``level`` (error, warning, info), the run it is about, one line of text."""

    level: Level
    run: str
    message: str


def experiment_alerts(run: str, stats: dict[str, Any]) -> list[Alert]:
    """Alerts of an analysed experiment run (``stats``: :func:`~.report.analyze` output).

    Every comparison whose Δpass@1 is below the rule's target, or whose efficiency ratio exceeds
    its limit, is a warning; p >= alpha is INCONCLUSIVE (info); errored attempts are errors; an
    unfinished run and the analysis' own warnings are listed too.
    """
    rule = stats["verdict_rule"]
    out: list[Alert] = []
    for name, c in stats["comparisons"].items():
        p = c["pass_at_1"]
        delta, p_value = p.get("delta"), p.get("p_value")
        if delta is None or delta < rule["target_delta"]:
            shown = "n/a" if delta is None else f"{delta:+.3f}"
            out.append(Alert("warning", run, f"{name}: Δpass@1 {shown} below target {rule['target_delta']:+.3f} "
                                             f"({c.get('label', c['verdict'])})"))
        if c.get("inconclusive", p_value is None or not p_value < rule["alpha"]):
            shown = "n/a" if p_value is None else f"{p_value:.3f}"
            out.append(Alert("info", run, f"{name}: INCONCLUSIVE, p {shown} ≥ {rule['alpha']}"))
        for kind, key in (("token", "max_token_ratio"), ("latency", "max_latency_ratio")):
            value, limit = c.get(f"{kind}_ratio"), rule.get(key)
            if limit is not None and (value is None or value > limit):
                out.append(Alert("warning", run, f"{name}: {kind} ratio {_num(value)} above max {limit}"))
    for arm, s in stats["arms"].items():
        errored = sum(s["failure_tags"].get(t, 0) for t in (BACKEND_ERROR, ARM_ERROR))
        if errored:
            out.append(Alert("error", run, f"{arm}: {errored} of {s['n_attempts']} attempts errored (backend or arm)"))
    if stats.get("partial"):
        n = sum(r["n_records"] for r in stats["runs"])
        out.append(Alert("info", run, f"not finished: {n} attempts so far (still running or interrupted)"))
    out += [Alert("warning", run, w) for w in stats.get("warnings", [])]
    return out


def training_alerts(run: str, events: Iterable[dict[str, Any]], heartbeat: dict[str, Any] | None = None, *,
                    now: datetime | None = None, stale_s: float = STALE_HEARTBEAT_S,
                    ram_limit: float = RAM_LIMIT_PERCENT) -> list[Alert]:
    """Alerts of a training run from its ``metrics.jsonl`` events and ``heartbeat.json``.

    Non-finite or exploding loss (``nan`` events) is an error, a recovery or a checkpoint skipped
    during a loss spike a warning; a heartbeat
    older than ``stale_s`` while the status is ``training`` is an error (the loop is stuck or the
    process died); a stopped run is an error; RAM above ``ram_limit`` % in a health sample is a
    warning (the latest such sample only).
    """
    out: list[Alert] = []
    high_ram = None
    for e in events:
        kind = e.get("event")
        if kind == "nan":
            out.append(Alert("error", run, f"step {e.get('step')}: {e.get('reason', 'non-finite loss or gradient')} "
                                           f"(loss {_num(e.get('loss'))})"))
        elif kind == "recover":
            out.append(Alert("warning", run, f"step {e.get('step')}: recovered from checkpoint step "
                                             f"{e.get('restored_step')}, lr x{e.get('lr_scale')} "
                                             f"(recovery {e.get('recovery')})"))
        elif kind == "checkpoint_skipped":
            out.append(Alert("warning", run, f"step {e.get('step')}: checkpoint skipped, loss spike "
                                             f"(recent {_num(e.get('recent_loss'))}, best {_num(e.get('best_loss'))})"))
        elif kind == "health" and (e.get("ram_percent") or 0) > ram_limit:
            high_ram = e
    if high_ram is not None:
        out.append(Alert("warning", run, f"step {high_ram.get('step')}: RAM {high_ram['ram_percent']:.0f}% "
                                         f"above {ram_limit:.0f}%"))
    if heartbeat:
        status = heartbeat.get("status")
        if status == "stopped":
            out.append(Alert("error", run, f"training stopped at step {heartbeat.get('step')} "
                                           f"after {heartbeat.get('recoveries', 0)} recoveries"))
        elif status == "training":
            age = ((now or datetime.now(timezone.utc)) - datetime.fromisoformat(heartbeat["time"])).total_seconds()
            if age > stale_s:
                out.append(Alert("error", run, f"no heartbeat for {age:.0f} s (last at step {heartbeat.get('step')}): "
                                               "training stuck or killed"))
    return out


def _num(value: Any) -> str:
    if isinstance(value, (int, float)) and math.isfinite(value):
        return f"{value:.3g}"
    return str(value)
