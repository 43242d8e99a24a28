"""Math answer extraction and matching (GSM8K-style numeric answers).

``extract_answer`` pulls the final answer out of a model's text; ``parse_number`` turns an answer
string into a number; ``answers_match`` compares a predicted answer string with the gold one.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

# One number as written in prose: optional sign and currency, then a mixed number ("1 1/2"),
# a fraction ("3/4"), a decimal with optional thousands commas ("1,234.5"), or ".5"; then "%".
_NUMBER = (
    r"(?P<sign>[-+\u2212])?(?:\$ ?)?"
    r"(?P<num>\d+ +\d+/\d+|\d+(?:\.\d+)?/\d+(?:\.\d+)?|(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)"
    r"(?P<pct>\s*%)?"
)
_NUMBER_IN_TEXT = re.compile(r"(?<![\w.,/])" + _NUMBER)
_NUMBER_EXACT = re.compile(r"\s*" + _NUMBER + r"\.?\s*")
_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_ANSWER_CUE = re.compile(r"\banswer\b\W{0,4}(?:is|was|=|:)", re.IGNORECASE)
_LATEX_TEXT = re.compile(r"\\(?:text|mbox|mathrm)\s*\{([^{}]*)\}")
_OPERATOR_OR_DIGIT = re.compile(r"[-=+*/^,\d]")
_LATEX_FRAC = re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")


def _normalise_latex(text: str) -> str:
    text = _LATEX_FRAC.sub(r"\1/\2", text)
    return text.replace("{,}", ",").replace("\\%", "%").replace("\\$", "$").replace("\\!", "")


def _first_number(text: str) -> str | None:
    m = _NUMBER_IN_TEXT.search(text)
    return _format(m) if m else None


def _last_number(text: str) -> str | None:
    found = None
    for found in _NUMBER_IN_TEXT.finditer(text):
        pass
    return _format(found) if found else None


def _format(m: re.Match[str]) -> str:
    sign = "-" if m["sign"] in ("-", "\u2212") else ""
    return sign + m["num"].replace(",", "") + ("%" if m["pct"] else "")


def _boxed_contents(text: str) -> str | None:
    """Contents of the last ``\\boxed{...}`` (balanced braces), or None."""
    starts = list(_BOXED.finditer(text))
    if not starts:
        return None
    i = start = starts[-1].end()
    depth = 1
    while i < len(text) and depth:
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        i += 1
    return text[start : i - 1] if depth == 0 else None


def _boxed_answer(boxed: str) -> str:
    """The number in a boxed answer ("12 \\text{ cm}" -> "12"), or the content as written when it
    is an expression rather than one number ("x+1", "2, 3")."""
    boxed = _LATEX_TEXT.sub(r" \1", boxed).strip()
    numbers = list(_NUMBER_IN_TEXT.finditer(boxed))
    if len(numbers) == 1:
        rest = boxed[: numbers[0].start()] + boxed[numbers[0].end() :]
        if not _OPERATOR_OR_DIGIT.search(rest):
            return _format(numbers[0])
    return boxed


def extract_answer(text: str | None) -> str | None:
    """The final answer in a model's text, as a plain string ("1234.5", "3/4", "-2", "50%").

    Looks, in order, for the last ``#### <answer>`` (GSM8K), the last ``\\boxed{...}``, the last
    "answer is / answer: / answer =" cue, and finally the last number in the text. Commas, currency
    signs and trailing units are dropped. A boxed answer that is not one number ("x+1") is returned
    as written. Returns None when there is no answer at all.
    """
    if not text:
        return None
    text = _normalise_latex(text)
    hashes = text.rfind("####")
    if hashes >= 0 and (num := _first_number(text[hashes + 4 :])):
        return num
    boxed = _boxed_contents(text)
    if boxed is not None and boxed.strip():
        return _boxed_answer(boxed)
    cues = list(_ANSWER_CUE.finditer(text))
    if cues and (num := _first_number(text[cues[-1].end() :])):
        return num
    return _last_number(text)


def parse_number(s: str | None) -> float | Fraction | None:
    """Parse one number: "1,234.5", "-3", "3/4", "1 1/2", "50%", "$12", ".5".

    Fractions and mixed numbers give a :class:`Fraction`, everything else a float; a percentage is
    divided by 100. Returns None if ``s`` is not exactly one number (or divides by zero).
    """
    if s is None:
        return None
    m = _NUMBER_EXACT.fullmatch(_normalise_latex(s))
    if not m:
        return None
    num = m["num"].replace(",", "")
    value: float | Fraction
    if "/" in num:
        whole, _, frac = num.rpartition(" ")
        top, bottom = frac.split("/")
        if float(bottom) == 0:
            return None
        value = Fraction(top) / Fraction(bottom) + Fraction(whole or 0)
    else:
        value = float(num)
    if m["sign"] in ("-", "\u2212"):
        value = -value
    return value / 100 if m["pct"] else value


def _is_percent(s: str) -> bool:
    return s.rstrip().rstrip(".").rstrip().endswith("%")


def answers_match(pred: str | None, gold: str | None, rel_tol: float = 1e-6, abs_tol: float = 1e-9) -> bool:
    """Whether a predicted answer string matches the gold one.

    Both numeric: equal within ``rel_tol``/``abs_tol`` (so "1,000", "1000.0" and "$1000" match
    "1000", and "0.75" matches "3/4"). A percentage on one side only also matches its bare number
    ("25%" matches "25" as well as "0.25"). Otherwise the strings are compared case-insensitively,
    ignoring surrounding whitespace and a trailing period. ``pred`` should be an extracted answer
    (see :func:`extract_answer`), not a whole model response.
    """
    if pred is None or gold is None:
        return False
    p, g = parse_number(pred), parse_number(gold)
    if p is None or g is None:
        return pred.strip().rstrip(".").casefold() == gold.strip().rstrip(".").casefold()
    candidates = [(p, g)]
    if _is_percent(pred) != _is_percent(gold):
        candidates.append((p * 100, g) if _is_percent(pred) else (p, g * 100))
    return any(math.isclose(float(a), float(b), rel_tol=rel_tol, abs_tol=abs_tol) for a, b in candidates)
