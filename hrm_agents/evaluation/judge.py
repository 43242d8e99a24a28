"""Optional LLM-judge tagger (any :class:`Backend`) and its agreement with the rule-based tags.

The judge sees the task prompt, the plan, the final code/answer and a summary of what the hidden
tests reported, plus the tag definitions, and answers JSON ``{"tags": [{"tag", "evidence"}]}``.
Its tags go to ``record.meta["judge_tags"]``; agreement with the rules is computed per tag as a
binary label over the attempts both tagged (agreement rate and Cohen's kappa).
"""

from __future__ import annotations

import json
import re
from typing import Sequence

from ..backends.base import Backend, BackendError, GenParams, Message
from ..tasks.schema import PublicTask
from .records import AttemptRecord, FailureTag
from .taxonomy import TAG_DESCRIPTIONS, TAGS

JUDGE_KEY = "judge_tags"
_JSON_OBJECT = re.compile(r"\{.*\}", re.S)


def judge_messages(task: PublicTask | None, record: AttemptRecord) -> list[Message]:
    """The judge prompt for one attempt."""
    tags = "\n".join(f"- {t}: {d}" for t, d in TAG_DESCRIPTIONS.items())
    report = record.hidden_report or {}
    failures = [r for r in report.get("results", []) if not r.get("passed")][:3]
    outcome = {"passed": record.passed, "expected": record.expected, "extracted": report.get("extracted"),
               "exec": report.get("exec"),
               "failed_tests": failures, "self_check_passed": record.self_check_passed,
               "iterations": record.iterations, "max_iters": record.meta.get("max_iters"),
               "tool_calls": record.meta.get("tool_calls_detail"), "error": record.error}
    system = ("You classify why an AI agent's attempt at a task failed. Use only these tags:\n" + tags +
              '\nAnswer with JSON only: {"tags": [{"tag": "<tag>", "evidence": "<one sentence>"}]}')
    user = (f"TASK:\n{task.prompt if task else '(unknown)'}\n\nPLAN:\n{record.plan or '(none)'}\n\n"
            f"FINAL CODE/ANSWER:\n{record.final or '(none)'}\n\n"
            f"OUTCOME:\n{json.dumps(outcome, default=str)[:3000]}")
    return [Message(role="system", content=system), Message(role="user", content=user)]


def parse_judge(text: str) -> list[FailureTag] | None:
    """Known tags from a judge answer; None when the answer holds no readable JSON object."""
    m = _JSON_OBJECT.search(text or "")
    if not m:
        return None
    try:
        data = json.loads(m.group(0))
    except json.JSONDecodeError:
        return None
    items = data.get("tags") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return None
    out: list[FailureTag] = []
    for item in items:
        tag = item.get("tag") if isinstance(item, dict) else item
        if tag in TAGS:
            out.append(FailureTag(tag=tag, evidence=str(item.get("evidence", "")) if isinstance(item, dict) else ""))
    return out


def judge_attempt(backend: Backend, task: PublicTask | None, record: AttemptRecord,
                  params: GenParams | None = None) -> list[FailureTag] | None:
    """Ask the judge about one attempt; None if the backend failed or the answer is unreadable."""
    try:
        completion = backend.complete(judge_messages(task, record), params or GenParams(max_tokens=256))
    except BackendError:
        return None
    return parse_judge(completion.text)


def cohen_kappa(a: Sequence[bool], b: Sequence[bool]) -> float:
    """Cohen's kappa of two binary raters; NaN when chance agreement is 1 (both constant, equal)."""
    n = len(a)
    if n == 0 or n != len(b):
        raise ValueError("cohen_kappa needs two equally long, non-empty label lists")
    po = sum(x == y for x, y in zip(a, b)) / n
    pa, pb = sum(a) / n, sum(b) / n
    pe = pa * pb + (1 - pa) * (1 - pb)
    return float("nan") if pe == 1 else (po - pe) / (1 - pe)


def agreement(pairs: Sequence[tuple[set[str], set[str]]], tags: Sequence[str] = TAGS) -> dict[str, dict[str, float]]:
    """Per tag: ``n``, ``rules`` and ``judge`` (how often each set it), ``agreement`` rate, ``kappa``.

    ``pairs`` holds (rule tags, judge tags) of each attempt both tagged.
    """
    out: dict[str, dict[str, float]] = {}
    if not pairs:
        return out
    for tag in tags:
        r = [tag in rule for rule, _ in pairs]
        j = [tag in judged for _, judged in pairs]
        if not any(r) and not any(j):
            continue
        out[tag] = {"n": len(pairs), "rules": sum(r), "judge": sum(j),
                    "agreement": sum(x == y for x, y in zip(r, j)) / len(pairs), "kappa": cohen_kappa(r, j)}
    return out


def judge_pairs(records: Sequence[AttemptRecord]) -> list[tuple[set[str], set[str]]]:
    """(rule tags, judge tags) of every record carrying ``meta["judge_tags"]``."""
    return [({t.tag for t in r.failure_tags}, {t["tag"] for t in r.meta[JUDGE_KEY]})
            for r in records if isinstance(r.meta.get(JUDGE_KEY), list)]
