"""Number formatting for reports, with one unit convention.

Rates (accuracy, pass@k, deltas of rates) are fractions in [0, 1] everywhere: in JSON and in
tables, printed with three decimals. A missing or NaN value prints as ``n/a``. Intervals print as
``[lo, hi]`` in the unit of their estimate. :func:`pct` is only for one-line progress text.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

MISSING = "n/a"


def missing(x: Any) -> bool:
    """True for None and NaN."""
    return x is None or (isinstance(x, float) and math.isnan(x))


def num(x: Any, digits: int = 3, sign: bool = False) -> str:
    """``x`` with ``digits`` decimals when it is a float (``+`` before positives with ``sign``); ints
    and strings as they are; None/NaN -> ``n/a``."""
    if missing(x):
        return MISSING
    if isinstance(x, float):
        return f"{x:{'+' if sign else ''}.{digits}f}"
    return str(x)


def ci(interval: Sequence[Any], digits: int = 3) -> str:
    """``[lo, hi]``."""
    return f"[{num(interval[0], digits)}, {num(interval[1], digits)}]"


def est_ci(estimate: Any, interval: Sequence[Any], digits: int = 3, sign: bool = False) -> str:
    """``estimate [lo, hi]``, or just the estimate when the interval is missing."""
    if missing(interval[0]):
        return num(estimate, digits, sign)
    return f"{num(estimate, digits, sign)} {ci(interval, digits)}"


def p_value(p: Any) -> str:
    """A p-value: 4 decimals, scientific notation below 1e-4."""
    return f"{p:.1e}" if isinstance(p, float) and 0 < p < 1e-4 else num(p, 4)


def pct(passed: int, n: int) -> str:
    """``passed/n (NN%)`` for progress lines; empty when ``n`` is 0."""
    return f"{passed}/{n} ({100 * passed / n:.0f}%)" if n else ""
