"""Plausibility rules for a numeric answer to a word problem (used by the E2 verifier as a
self-check before it asks the model): a number at all, finite, whole when the question counts, not
negative for an amount, a percentage not given as a fraction, a size plausible for the question's
numbers."""

from __future__ import annotations

import math
import re

from .answers import parse_number

_COUNTING = re.compile(r"\bhow many\b|\bnumber of\b", re.IGNORECASE)
_PERCENT = re.compile(r"\bwhat (?:percent|percentage)\b|\bhow many percent\b|\bin percent\b", re.IGNORECASE)
_SIGNED = re.compile(r"-\s*\d|\bnegative|\bbelow\b|\bminus\b|\bloss\b|\bdebt\b|\btemperature|\bdecrease|"
                     r"\bchange\b|\bdifference\b|\bprofit\b", re.IGNORECASE)
_NUMBER = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?")
PLAUSIBLE_MAX = 1e6  # answers beyond max(PLAUSIBLE_MAX, (largest number in the question) ** 3) are rejected


def rule_checks(question: str, answer: str | None) -> list[str]:
    """Problems the rules find with ``answer`` to ``question`` (empty: it passes).

    Checks: there is a number; it is finite; whole when the question asks "how many"/"number of";
    not negative unless the question allows it (a negative number, loss, change, difference, ...);
    not a fraction in (0, 1) when a percentage is asked; at most
    ``max(PLAUSIBLE_MAX, (largest number in the question) ** 3)`` in size.
    """
    if answer is None:
        return ["no answer: the last step printed no number"]
    value = parse_number(answer)
    if value is None:
        return [f"the answer {answer!r} is not a number"]
    x = float(value)
    if not math.isfinite(x):
        return [f"the answer {answer} is not a finite number"]
    problems = []
    if _COUNTING.search(question) and not x.is_integer():
        problems.append(f"the question asks how many, but {answer} is not a whole number")
    if x < 0 and not _SIGNED.search(question):
        problems.append(f"the answer {answer} is negative, but the question asks for an amount")
    if _PERCENT.search(question) and 0 < abs(x) < 1 and not answer.endswith("%"):
        problems.append(f"the question asks for a percentage, but {answer} looks like a fraction")
    largest = max((abs(float(n.replace(",", ""))) for n in _NUMBER.findall(question)), default=0.0)
    if abs(x) > PLAUSIBLE_MAX and abs(x) ** (1 / 3) > largest:
        problems.append(f"the answer {answer} is implausibly large for the numbers in the question")
    return problems
