"""Rule-based failure taxonomy: every failed attempt gets one or more :class:`FailureTag` with the
evidence that led to it.

Inputs are the :class:`AttemptRecord` (final code/answer, plan, self-check verdict, iterations,
error, ``hidden_report`` = the sandbox ``TestReport`` as a dict, ``meta["max_iters"]`` and
``meta["tool_calls_detail"]``) and the task (entry point, prompt, tests, answer, ``reference["steps"]``).
Model-written code is only *parsed* here (``ast``), never run.

Order of the tags on one attempt: first the one mechanical outcome (extraction failure, syntax
error, runtime error, timeout or wrong answer; or the backend/arm error that stopped the attempt),
then the behavioural tags (spec error, tool misuse, plan drift, verification gap, budget exhausted).
"""

from __future__ import annotations

import ast
import re
from typing import Any

from ..tasks.answers import answers_match, extract_answer
from ..tasks.schema import PublicTask, Task
from .records import AttemptRecord, FailureTag

SPEC_ERROR = "spec_error"
TOOL_MISUSE = "tool_misuse"
PLAN_DRIFT = "plan_drift"
VERIFICATION_GAP = "verification_gap"
SYNTAX_ERROR = "syntax_error"
RUNTIME_ERROR = "runtime_error"
TIMEOUT = "timeout"
WRONG_ANSWER = "wrong_answer"
EXTRACTION_FAILURE = "extraction_failure"
BACKEND_ERROR = "backend_error"
ARM_ERROR = "arm_error"
BUDGET_EXHAUSTED = "budget_exhausted"

TAG_DESCRIPTIONS: dict[str, str] = {
    SPEC_ERROR: "solves a different problem: entry point missing or wrong arity, return annotation differs "
                "from the spec, never returns a value, reads stdin instead of arguments",
    TOOL_MISUSE: "the last tool call crashed (not a failing assert), empty tool input, tools available but "
                 "never called, or a tool result ignored (final = the code the tool reported failing; "
                 "tool printed the right answer but the final answer differs)",
    PLAN_DRIFT: "the final code/answer does not follow the plan (fewer than half of the plan steps have a "
                "keyword in the code; math: the plan reaches the right answer but the final answer differs)",
    VERIFICATION_GAP: "the controller's own tester/verifier passed an attempt the hidden tests fail, or rejected "
                      "one they pass (the only tag also set on passed attempts)",
    SYNTAX_ERROR: "the final code does not parse",
    RUNTIME_ERROR: "the code raised (evidence has the exception type) or hit a sandbox limit",
    TIMEOUT: "the code ran past the sandbox time limit",
    WRONG_ANSWER: "ran cleanly but hidden tests failed / the answer differs from the reference",
    EXTRACTION_FAILURE: "no code or answer could be extracted from the model output",
    BACKEND_ERROR: "the model backend failed (server unreachable, request error)",
    ARM_ERROR: "the controller itself crashed (an exception that is not a backend error)",
    BUDGET_EXHAUSTED: "all iterations used without the controller's own check passing",
}
TAGS: tuple[str, ...] = tuple(TAG_DESCRIPTIONS)
MECHANICAL: frozenset[str] = frozenset({SYNTAX_ERROR, RUNTIME_ERROR, TIMEOUT, WRONG_ANSWER, EXTRACTION_FAILURE,
                                        BACKEND_ERROR, ARM_ERROR})

ARM_TAGS_KEY = "arm_tags"  # record.meta key of the tags the arm reported itself (kept by re-tagging)
PLAN_COVERAGE_MIN = 0.5  # plan drift below this fraction of plan steps reflected in the code
_SYNTAX_EXC = {"SyntaxError", "IndentationError", "TabError"}
_BACKEND_ERR = re.compile(r"Backend(Error|Unreachable)|unreachable|connection|HTTP|server", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z]+")
_STEP_LINE = re.compile(r"^\s*(?:\d+[.):]|[-*\u2022]|step\s*\d+\s*[:.)-]?)\s*(.+)", re.IGNORECASE)
_STOPWORDS = frozenset(
    "the a an and or of to in on for with by from into that this then than each is are be as it its if "
    "else use using given return returns value values function result results number numbers first next "
    "finally step steps we will should must can make sure all any new variable write code implement "
    "compute calculate answer final output input list string integer".split())
# plan word prefix -> code words that realise it (plans speak English, code speaks Python)
_CONCEPTS: dict[str, frozenset[str]] = {
    "iter": frozenset({"for", "while"}), "loop": frozenset({"for", "while"}), "travers": frozenset({"for", "while"}),
    "every": frozenset({"for", "all"}), "check": frozenset({"if", "assert"}), "condition": frozenset({"if"}),
    "count": frozenset({"count", "len", "sum"}), "total": frozenset({"sum"}), "add": frozenset({"sum", "append"}),
    "sort": frozenset({"sorted", "sort"}), "revers": frozenset({"reversed", "reverse"}),
    "large": frozenset({"max"}), "maxim": frozenset({"max"}), "small": frozenset({"min"}),
    "minim": frozenset({"min"}), "length": frozenset({"len"}), "dictionar": frozenset({"dict"}),
    "collect": frozenset({"append", "list", "set"}), "unique": frozenset({"set"}), "duplicat": frozenset({"set"}),
}


def _clip(text: object, n: int = 160) -> str:
    s = " ".join(str(text).split())
    return s if len(s) <= n else s[: n - 3] + "..."


def tag_attempt(task: PublicTask | Task | None, record: AttemptRecord) -> list[FailureTag]:
    """Failure tags of one attempt, each with its evidence; ``[]`` for a clean pass.

    ``task`` may be None (suite not loadable): checks that need it (entry point, arity, reference
    answer when the record has no ``expected``) are skipped. A passed attempt only gets a
    verification-gap tag, when its own verifier rejected it.
    """
    if record.error:
        tag = BACKEND_ERROR if _BACKEND_ERR.search(record.error) else ARM_ERROR
        return [FailureTag(tag=tag, evidence=_clip(record.error))]
    if record.passed:
        return _verification(record)
    kind = _kind(task, record)
    tags = _code_tags(task, record) if kind == "code" else _math_tags(task, record)
    if tags[0].tag == EXTRACTION_FAILURE:
        return tags + _budget(record)
    return (tags + _tool_tags(task, record, kind) + _plan_tags(task, record, kind) + _verification(record)
            + _budget(record))


def _kind(task: PublicTask | None, record: AttemptRecord) -> str:
    """Task kind; without the task, a record with a reference answer (``expected``) or an
    ``extracted`` answer is a math task (that is how the runner scores math)."""
    if task is not None:
        return task.kind
    return "math" if record.expected is not None or "extracted" in (record.hidden_report or {}) else "code"


# -- mechanical outcome ----------------------------------------------------------------------------

def _code_tags(task: PublicTask | None, record: AttemptRecord) -> list[FailureTag]:
    code = record.final or ""
    if not code.strip():
        return [FailureTag(tag=EXTRACTION_FAILURE, evidence="no code in the final answer")]
    if "```" in code:
        return [FailureTag(tag=EXTRACTION_FAILURE, evidence="final code still contains a markdown fence")]
    outcome = _sandbox_tag(record.hidden_report)
    try:
        tree = ast.parse(code)
    except SyntaxError as e:
        if not re.search(r"\bdef\b|\breturn\b|=", code):
            return [FailureTag(tag=EXTRACTION_FAILURE, evidence=f"final answer is not code: {_clip(code, 80)!r}")]
        if outcome is None or outcome.tag != SYNTAX_ERROR:
            outcome = FailureTag(tag=SYNTAX_ERROR, evidence=f"line {e.lineno}: {e.msg}: {_clip(e.text or '', 80)}")
        return [outcome]
    tags = [outcome or FailureTag(tag=WRONG_ANSWER, evidence="hidden tests failed (no sandbox report)")]
    return tags + (_spec_tags(task, tree) if task is not None else [])


def _sandbox_tag(report: dict[str, Any] | None) -> FailureTag | None:
    """The mechanical tag from a sandbox TestReport dict, or None if there is no report."""
    if not report:
        return None
    ex = report.get("exec") or {}
    status = ex.get("status", "ok")
    where = f" at `{_clip(ex['exc_line'], 80)}`" if ex.get("exc_line") else ""
    if status == "timeout":
        return FailureTag(tag=TIMEOUT, evidence=f"program timed out after {float(ex.get('duration_s') or 0):.1f} s")
    if status != "ok" and (ex.get("exc_type") or "") in _SYNTAX_EXC:
        return FailureTag(tag=SYNTAX_ERROR, evidence=f"{ex['exc_type']}: {_clip(ex.get('exc_message', ''))}{where}")
    if status == "error":
        return FailureTag(tag=RUNTIME_ERROR,
                          evidence=f"{ex.get('exc_type') or 'error'}: {_clip(ex.get('exc_message', ''))}{where}")
    if status != "ok":
        return FailureTag(tag=RUNTIME_ERROR, evidence=f"sandbox stopped the program: {status}")
    results = report.get("results") or []
    failed = [r for r in results if not r.get("passed")]
    if not failed:
        return None
    crash = next((r for r in failed if r.get("exc_type") not in (None, "", "AssertionError")), None)
    if crash is not None:
        tag = TIMEOUT if "timeout" in crash["exc_type"].lower() else RUNTIME_ERROR
        return FailureTag(tag=tag, evidence=f"{crash['exc_type']} in test `{_clip(crash.get('test', ''), 80)}`: "
                                            f"{_clip(crash.get('message', ''), 80)}")
    first = failed[0]
    msg = f": {_clip(first['message'], 80)}" if first.get("message") else ""
    return FailureTag(tag=WRONG_ANSWER, evidence=f"{len(failed)}/{len(results)} hidden tests failed; first "
                                                 f"`{_clip(first.get('test', ''), 80)}`{msg}")


def _math_tags(task: PublicTask | Task | None, record: AttemptRecord) -> list[FailureTag]:
    pred = extract_answer(record.final)
    if pred is None:
        return [FailureTag(tag=EXTRACTION_FAILURE,
                           evidence=f"no answer in final output {_clip(record.final or '', 80)!r}")]
    gold = _gold(task, record)
    evidence = f"answer {pred} != expected {gold}"
    steps = _steps(task, record)
    if steps:
        text = f"{record.plan or ''}\n{record.final}"
        missing = [i for i, v in enumerate(steps, 1) if not _mentions(text, v)]
        if missing:
            evidence += (f"; intermediates reached {len(steps) - len(missing)}/{len(steps)}, first missing: "
                         f"step {missing[0]} = {steps[missing[0] - 1]}")
    return [FailureTag(tag=WRONG_ANSWER, evidence=evidence)]


def _gold(task: PublicTask | Task | None, record: AttemptRecord) -> str | None:
    return record.expected if record.expected is not None else getattr(task, "answer", None)


def _steps(task: PublicTask | Task | None, record: AttemptRecord) -> list[Any]:
    """Gold intermediate results (ints, or lists for list states): the curriculum task's evaluator-only
    ``reference["steps"]``, else the copy the runner keeps in ``record.meta["steps"]``."""
    return list(getattr(task, "reference", {}).get("steps") or record.meta.get("steps") or [])


def _mentions(text: str, value: Any) -> bool:
    """Whether ``text`` contains the number (or the list, any spacing/brackets) ``value``."""
    if isinstance(value, (list, tuple)):
        body = r"\s*,\s*".join(re.escape(str(v)) for v in value)
    else:
        body = re.escape(str(value))
    return re.search(rf"(?<![\w.-]){body}(?!\w|\.\d)", text) is not None


# -- spec checks (AST only) ------------------------------------------------------------------------

def _spec_tags(task: PublicTask, tree: ast.Module) -> list[FailureTag]:
    entry = task.entry_point
    if not entry:
        return []
    funcs = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    fn = funcs.get(entry)
    if fn is None:
        defined = ", ".join(sorted(funcs)) or "no functions"
        return [FailureTag(tag=SPEC_ERROR, evidence=f"no top-level function `{entry}` (defines {defined})")]
    problems: list[str] = []
    spec_fn = _prompt_signature(task.prompt, entry)
    calls = _test_calls(task, entry)
    if spec_fn is not None:
        n_req = len(spec_fn.args.posonlyargs) + len(spec_fn.args.args) - len(spec_fn.args.defaults)
        calls.add((n_req, frozenset()))
    bad = sorted((n, sorted(kw)) for n, kw in calls if not _accepts(fn.args, n, kw))
    if bad:
        n, kw = bad[0]
        problems.append(f"`{entry}({ast.unparse(fn.args)})` cannot be called with {n} positional args"
                        + (f" and keywords {', '.join(kw)}" if kw else ""))
    if spec_fn is not None and spec_fn.returns is not None and fn.returns is not None:
        want, got = _norm_type(spec_fn.returns), _norm_type(fn.returns)
        if want != got:
            problems.append(f"returns `{ast.unparse(fn.returns)}` but the spec says `{ast.unparse(spec_fn.returns)}`")
    if not any(isinstance(n, (ast.Yield, ast.YieldFrom)) or (isinstance(n, ast.Return) and n.value is not None)
               for n in _own_nodes(fn)):
        problems.append(f"`{entry}` never returns a value")
    if any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "input" for n in ast.walk(tree)) \
            or "sys.stdin" in ast.unparse(tree):
        problems.append("reads stdin instead of taking arguments")
    return [FailureTag(tag=SPEC_ERROR, evidence="; ".join(problems))] if problems else []


def _own_nodes(fn: ast.AST) -> list[ast.AST]:
    """Nodes of a function body, not descending into nested functions/classes/lambdas."""
    out, todo = [], list(ast.iter_child_nodes(fn))
    while todo:
        node = todo.pop()
        out.append(node)
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            todo.extend(ast.iter_child_nodes(node))
    return out


def _prompt_signature(prompt: str, entry: str) -> ast.FunctionDef | None:
    """The ``def <entry>(...)`` header in the prompt (HumanEval style), parsed, or None."""
    m = re.search(rf"^[ \t]*def\s+{re.escape(entry)}\s*\(.*?\)\s*(->[^\n]*?)?:[ \t]*$", prompt, re.M | re.S)
    if not m:
        return None
    try:
        node = ast.parse(m.group(0).strip() + "\n    pass").body[0]
    except SyntaxError:
        return None
    return node if isinstance(node, ast.FunctionDef) else None


def _test_calls(task: PublicTask, entry: str) -> set[tuple[int, frozenset[str]]]:
    """(positional count, keyword names) of every call to ``entry`` in the visible/hidden tests."""
    out: set[tuple[int, frozenset[str]]] = set()
    for test in [*task.visible_tests, *getattr(task, "hidden_tests", [])]:
        try:
            tree = ast.parse(test)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == entry
                    and not any(isinstance(a, ast.Starred) for a in node.args)
                    and all(k.arg for k in node.keywords)):
                out.add((len(node.args), frozenset(k.arg for k in node.keywords if k.arg)))
    return out


def _accepts(args: ast.arguments, n_pos: int, keywords: frozenset[str]) -> bool:
    positional = [*args.posonlyargs, *args.args]
    n_required = len(positional) - len(args.defaults)
    if n_pos > len(positional) and args.vararg is None:
        return False
    named = {a.arg for a in positional[n_pos:]} | {a.arg for a in args.kwonlyargs}
    if args.kwarg is None and not keywords <= named:
        return False
    filled = n_pos + len(keywords & {a.arg for a in positional[n_pos:]})
    required_kwonly = {a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is None}
    return filled >= n_required and required_kwonly <= keywords


def _norm_type(node: ast.expr) -> str:
    return re.sub(r"\btyping\.", "", ast.unparse(node)).replace(" ", "").lower()


# -- behaviour: tools, plan, verifier, budget ------------------------------------------------------

def _tool_tags(task: PublicTask | Task | None, record: AttemptRecord, kind: str) -> list[FailureTag]:
    """Tool misuse from ``meta["tool_calls_detail"]`` (``[{code, status, stdout, error}]``).

    An arm that offers tools records the key even when empty; no key = no tools offered. Crashes
    the controller recovered from are not misuse on their own; a crashing *last* call is.
    """
    if "tool_calls_detail" not in record.meta:
        return []
    calls: list[dict[str, Any]] = record.meta["tool_calls_detail"] or []
    if not calls:
        return [FailureTag(tag=TOOL_MISUSE, evidence="tools were available but never called")]
    failed = [c for c in calls if c.get("status", "ok") != "ok"]
    crashes = [c for c in failed if not str(c.get("error") or "").startswith("AssertionError")]
    last = calls[-1]
    problems: list[str] = []
    if crashes and crashes[-1] is last:
        problems.append(f"last tool call crashed: {_clip(last.get('error') or last.get('status'), 100)}")
    if empty := sum(1 for c in calls if not str(c.get("code") or "").strip()):
        problems.append(f"{empty} tool call(s) with empty input")
    if failed and failed[-1] is last and (record.final or "").strip() == str(last.get("code") or "").strip():
        problems.append(f"final code is the code the last tool call reported failing "
                        f"({_clip(last.get('error') or last.get('status'), 80)})")
    gold = _gold(task, record) if kind == "math" else None
    if gold is not None and any(answers_match(extract_answer(str(c.get("stdout") or "")), gold) for c in calls):
        problems.append(f"a tool printed the correct answer {gold} but the final answer is "
                        f"{extract_answer(record.final)}")
    if problems and len(crashes) > 1:
        problems.append(f"{len(crashes)}/{len(calls)} tool calls crashed in total")
    return [FailureTag(tag=TOOL_MISUSE, evidence="; ".join(problems))] if problems else []


def plan_steps(plan: str) -> list[str]:
    """The steps of a plan: numbered/bulleted lines, else its non-empty lines/sentences."""
    lines = [m.group(1).strip() for line in plan.splitlines() if (m := _STEP_LINE.match(line))]
    if lines:
        return lines
    return [s.strip() for s in re.split(r"(?<=[.;])\s+|\n+", plan) if s.strip()]


def _keywords(text: str) -> list[str]:
    return [w for w in dict.fromkeys(w.lower() for w in _WORD.findall(text)) if len(w) >= 3 and w not in _STOPWORDS]


def _code_words(code: str) -> set[str]:
    """Lower-case words of the code: identifiers split on ``_`` and camelCase, strings, comments."""
    words = re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])", code)
    return {w.lower() for w in words}


def _covered(keyword: str, code_words: set[str], code_stems: set[str]) -> bool:
    return keyword[:5] in code_stems or any(keyword.startswith(stem) and realised & code_words
                                            for stem, realised in _CONCEPTS.items())


def _plan_tags(task: PublicTask | Task | None, record: AttemptRecord, kind: str) -> list[FailureTag]:
    """Plan drift heuristic.

    Code: each plan step's keywords (words of 3+ letters minus stop words) are looked up in the
    code's words by 5-letter stem, or through a small English->Python concept map ("iterate" ->
    for/while, "sort" -> sorted, ...). Drift when fewer than ``PLAN_COVERAGE_MIN`` of the steps with
    keywords (at least two) have any match. Math: drift when the plan mentions the reference answer
    (a number not already in the question) but the final answer differs.
    """
    plan = record.plan or ""
    if not plan.strip() or not record.final:
        return []
    if kind == "math":
        gold = _gold(task, record)
        if gold is not None and _mentions(plan, gold) and not (task is not None and _mentions(task.prompt, gold)):
            return [FailureTag(tag=PLAN_DRIFT, evidence=f"plan reaches {gold} but the final answer is "
                                                        f"{extract_answer(record.final)}")]
        return []
    words = _code_words(record.final)
    stems = {w[:5] for w in words if len(w) >= 3}
    steps = [(s, kw) for s in plan_steps(plan) if (kw := _keywords(s))]
    if len(steps) < 2:
        return []
    missing = [(s, kw) for s, kw in steps if not any(_covered(k, words, stems) for k in kw)]
    if len(steps) - len(missing) >= PLAN_COVERAGE_MIN * len(steps):
        return []
    shown = "; ".join(f"{_clip(s, 60)!r} (no {', '.join(kw[:4])})" for s, kw in missing[:3])
    return [FailureTag(tag=PLAN_DRIFT,
                       evidence=f"{len(missing)}/{len(steps)} plan steps not reflected in the code: {shown}")]


def _verification(record: AttemptRecord) -> list[FailureTag]:
    if record.self_check_passed is True and not record.passed:
        return [FailureTag(tag=VERIFICATION_GAP,
                           evidence="the controller's own check passed; the hidden tests failed")]
    if record.self_check_passed is False and record.passed:
        return [FailureTag(tag=VERIFICATION_GAP,
                           evidence="the controller's own check rejected a solution that passes the hidden tests")]
    return []


def _budget(record: AttemptRecord) -> list[FailureTag]:
    max_iters = record.meta.get("max_iters")
    if max_iters and record.iterations >= max_iters and record.self_check_passed is not True:
        return [FailureTag(tag=BUDGET_EXHAUSTED,
                           evidence=f"{record.iterations}/{max_iters} iterations used, own check never passed")]
    return []


def retag(task: PublicTask | Task | None, record: AttemptRecord) -> AttemptRecord:
    """A copy of ``record`` with freshly computed failure tags.

    Tags the arm itself reported, when the runner kept them in ``meta["arm_tags"]``, come first
    and win over a rule tag of the same name (as when the runner tagged the attempt).
    """
    arm = [FailureTag.model_validate(t) for t in record.meta.get(ARM_TAGS_KEY) or []]
    rules = [t for t in tag_attempt(task, record) if t.tag not in {a.tag for a in arm}]
    return record.model_copy(update={"failure_tags": arm + rules})
