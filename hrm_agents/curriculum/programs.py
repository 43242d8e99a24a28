"""The little languages of the curriculum: operations, interpreter, canonical form, questions.

Two families, both ending in a single integer answer:

* ``arith_chain`` — an integer is transformed left to right, no precedence:
  canonical ``"37 +5 *2 -9 %7 /3"`` = start with 37, add 5, multiply by 2, subtract 9, take the
  remainder mod 7, divide by 3 rounding down (floor division).
* ``list_program`` — a list of digits is transformed, then reduced to one number by the last step:
  canonical ``"[3,1,2] rev app5 sort get1"`` = reverse, append 5, sort ascending, return the element
  at 0-based index 1 (the question says "the 2nd element"). Transforms: ``rev sort appN pop rot``;
  reducers (final step only, exactly one): ``getN sum max min``.

Canonical form: start value, then one space-separated token per step, no spaces inside a token.
Everything here (generator, parser, exporters) goes through :func:`build_task`, so a task's canonical
form, question, per-step results and answer always agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Union

ARITH = "arith_chain"
LIST = "list_program"
FAMILIES: tuple[str, ...] = (ARITH, LIST)

State = Union[int, tuple[int, ...]]
Step = tuple[str, Union[int, None]]  # (op name, argument or None)


@dataclass(frozen=True)
class Op:
    """One operation: its canonical mnemonic, question phrase and semantics."""

    name: str
    family: str
    phrase: str  # question template; "{n}" = the argument, "{nth}" = argument + 1 as an ordinal
    fn: Callable[..., State]
    takes_arg: bool
    reducer: bool = False


def _get(s: tuple[int, ...], i: int) -> int:
    if not 0 <= i < len(s):
        raise ValueError(f"index {i} out of range for a list of length {len(s)}")
    return s[i]


def _nonempty(fn: Callable[[tuple[int, ...]], State]) -> Callable[[tuple[int, ...]], State]:
    def wrapped(s: tuple[int, ...]) -> State:
        if not s:
            raise ValueError("operation on an empty list")
        return fn(s)
    return wrapped


def _div(v: int, a: int) -> int:
    if a == 0:
        raise ValueError("division by zero")
    return v // a


def _mod(v: int, a: int) -> int:
    if a == 0:
        raise ValueError("remainder mod zero")
    return v % a


OPS: dict[str, Op] = {op.name: op for op in (
    Op("+", ARITH, "add {n}", lambda v, a: v + a, True),
    Op("-", ARITH, "subtract {n}", lambda v, a: v - a, True),
    Op("*", ARITH, "multiply by {n}", lambda v, a: v * a, True),
    Op("%", ARITH, "take the remainder mod {n}", _mod, True),
    Op("/", ARITH, "divide by {n} rounding down", _div, True),
    Op("rev", LIST, "reverse it", lambda s: s[::-1], False),
    Op("sort", LIST, "sort it ascending", lambda s: tuple(sorted(s)), False),
    Op("app", LIST, "append {n}", lambda s, a: s + (a,), True),
    Op("pop", LIST, "remove the last element", _nonempty(lambda s: s[:-1]), False),
    Op("rot", LIST, "move the first element to the end", lambda s: s[1:] + s[:1], False),
    Op("get", LIST, "return the {nth} element", _get, True, reducer=True),
    Op("sum", LIST, "return the sum", lambda s: sum(s), False, reducer=True),
    Op("max", LIST, "return the largest element", _nonempty(max), False, reducer=True),
    Op("min", LIST, "return the smallest element", _nonempty(min), False, reducer=True),
)}


@dataclass(frozen=True, slots=True)
class CurriculumTask:
    """One generated multi-step task.

    ``steps[i]`` is the state after step ``i + 1`` (an int, or a tuple of ints for list states), so
    ``len(steps) == k`` and ``steps[-1] == answer``. ``seed`` regenerates the task with
    :func:`hrm_agents.curriculum.generate_task`; it is ``None`` for tasks parsed from text.
    """

    family: str
    k: int
    seed: int | None
    canonical: str
    question: str
    steps: tuple[State, ...]
    answer: int

    @property
    def id(self) -> str:
        """Stable id: family, k and seed (or canonical form when there is no seed)."""
        tail = f"{self.seed:012x}" if self.seed is not None else self.canonical.replace(" ", "_")
        return f"{self.family}-k{self.k}-{tail}"


def apply_op(state: State, step: Step) -> State:
    """Apply one step to a state (raises ValueError on an undefined operation)."""
    name, arg = step
    op = OPS[name]
    return op.fn(state, arg) if op.takes_arg else op.fn(state)


def execute(start: State, steps: tuple[Step, ...]) -> tuple[State, ...]:
    """Run a program; return the state after each step."""
    out: list[State] = []
    state = start
    for step in steps:
        state = apply_op(state, step)
        out.append(state)
    return tuple(out)


def format_state(state: State, *, spaced: bool = False) -> str:
    """``37`` / ``[3,1,2]`` (canonical) or ``[3, 1, 2]`` (``spaced``, for questions)."""
    if isinstance(state, int):
        return str(state)
    return "[" + (", " if spaced else ",").join(map(str, state)) + "]"


def format_step(step: Step) -> str:
    """Canonical token of one step, e.g. ``+5`` or ``app5`` or ``rev``."""
    name, arg = step
    return name if arg is None else f"{name}{arg}"


def ordinal(n: int) -> str:
    """1 -> '1st', 2 -> '2nd', 11 -> '11th', 23 -> '23rd'."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _phrase(step: Step) -> str:
    name, arg = step
    return OPS[name].phrase.format(n=arg, nth=ordinal(arg + 1) if arg is not None else "")


def render_question(family: str, start: State, steps: tuple[Step, ...]) -> str:
    """The natural-language question, e.g. 'Start with 7, add 3, then multiply by 2. What is the result?'."""
    head = f"Start with the list {format_state(start, spaced=True)}" if family == LIST else f"Start with {start}"
    phrases = [_phrase(s) for s in steps]
    if len(phrases) > 1:
        phrases[-1] = "then " + phrases[-1]
    return f"{head}, {', '.join(phrases)}. What is the result?"


def _check_structure(family: str, steps: tuple[Step, ...]) -> None:
    for i, (name, _) in enumerate(steps):
        op = OPS[name]
        if op.family != family:
            raise ValueError(f"operation {name!r} does not belong to family {family!r}")
        if family == LIST and op.reducer != (i == len(steps) - 1):
            raise ValueError("a list program needs exactly one reducer (get/sum/max/min), as its last step")


def build_task(family: str, start: State, steps: tuple[Step, ...], seed: int | None = None) -> CurriculumTask:
    """Execute a program and wrap it with its canonical form and question (ValueError if invalid)."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; expected one of {FAMILIES}")
    if not steps:
        raise ValueError("a program needs at least one step")
    _check_structure(family, steps)
    results = execute(start, steps)
    canonical = " ".join([format_state(start)] + [format_step(s) for s in steps])
    return CurriculumTask(family=family, k=len(steps), seed=seed, canonical=canonical,
                          question=render_question(family, start, steps), steps=results, answer=results[-1])


_ARITH_TOKEN = re.compile(r"([-+*%/])(\d+)")
_LIST_TOKEN = re.compile(r"([a-z]+)(\d*)")
_LIST_START = re.compile(r"\[(\d+(?:,\d+)*)?\]")


def _parse_token(family: str, token: str) -> Step:
    m = (_ARITH_TOKEN if family == ARITH else _LIST_TOKEN).fullmatch(token)
    name = m.group(1) if m else None
    if name not in OPS or OPS[name].family != family or OPS[name].takes_arg != bool(m.group(2)):
        raise ValueError(f"bad {family} step {token!r}")
    return name, int(m.group(2)) if m.group(2) else None


def from_canonical(canonical: str, seed: int | None = None) -> CurriculumTask:
    """Parse a canonical form (``"37 +5 *2"`` or ``"[3,1,2] rev get1"``) into a task (ValueError if invalid)."""
    head, *tokens = canonical.split(" ")
    if head.isdigit():
        family, start = ARITH, int(head)
    elif _LIST_START.fullmatch(head):
        family, start = LIST, tuple(int(x) for x in head[1:-1].split(",") if x)
    else:
        raise ValueError(f"bad canonical start {head!r} in {canonical!r}")
    return build_task(family, start, tuple(_parse_token(family, t) for t in tokens), seed)


def _phrase_regex(op: Op, capture: bool) -> str:
    num = r"(\d+)" if capture else r"\d+"
    pattern = re.escape(op.phrase).replace(r"\{n\}", num).replace(r"\{nth\}", num + "(?:st|nd|rd|th)")
    return pattern.replace(r"\ ", r"\s+")


_PHRASES = {name: re.compile(_phrase_regex(op, capture=True), re.IGNORECASE) for name, op in OPS.items()}
_STEP_SEP = re.compile(r",\s*(?:then\s+)?", re.IGNORECASE)


def _question_regex(family: str, start: str) -> re.Pattern[str]:
    step = "|".join(_phrase_regex(op, capture=False) for op in OPS.values() if op.family == family)
    return re.compile(rf"start\s+with\s+{start}((?:,\s*(?:then\s+)?(?:{step})\b)+)", re.IGNORECASE)


_QUESTIONS = {
    ARITH: _question_regex(ARITH, r"(\d+)"),
    LIST: _question_regex(LIST, r"the\s+list\s+\[\s*(\d+(?:\s*,\s*\d+)*)?\s*\]"),
}


def _parse_phrase(family: str, text: str) -> Step:
    for name, rx in _PHRASES.items():
        m = rx.fullmatch(text) if OPS[name].family == family else None
        if m:
            if not OPS[name].takes_arg:
                return name, None
            arg = int(m.group(1))
            return name, arg - 1 if "{nth}" in OPS[name].phrase else arg
    raise ValueError(f"unrecognised step {text!r}")


def parse_question(text: str) -> CurriculumTask | None:
    """Find a generated question anywhere in ``text`` (any case, extra words around it) and parse it.

    Returns the task (``seed=None``), or ``None`` when there is no such question or its program is
    not executable (e.g. an index past the end of the list). Values outside the generator's ranges
    are accepted as long as the program runs.
    """
    for family, rx in _QUESTIONS.items():
        m = rx.search(text)
        if not m:
            continue
        start: State = int(m.group(1)) if family == ARITH else tuple(
            int(x) for x in re.findall(r"\d+", m.group(1) or ""))
        pieces = _STEP_SEP.split(m.group(2))[1:]
        try:
            steps = tuple(_parse_phrase(family, p.strip()) for p in pieces)
            return build_task(family, start, steps)
        except ValueError:
            return None
    return None
