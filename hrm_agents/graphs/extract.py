"""Pull runnable code out of a model's reply (a solution: :func:`extract_code`; a Program-of-Thought
codelet: :func:`extract_codelet`), and validate model-proposed tests.

Models wrap code in fenced blocks, add prose, print examples, name the function differently, or
run out of tokens mid-block. :func:`extract_code` handles these cases and reports *how* it found
the code; when nothing usable is found it returns ``code=None`` with the reason (the caller tags
the attempt ``extraction_failure``) instead of raising. Nothing here executes the code: it is only
parsed with :mod:`ast`.
"""

from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass, field
from typing import Sequence

_FENCE = re.compile(r"```[ \t]*([\w+.-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_PYTHON_LANGS = {"", "python", "py", "python3", "py3"}
_CODE_START = re.compile(r"^(?:def |async def |class |import |from [\w.]+ import |@)")
_IMPORT_LINE = re.compile(r"^(?:from\s+[\w.]+\s+)?import\s+[\w., ()*]+$")
_KEEP = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_FUNCS = (ast.FunctionDef, ast.AsyncFunctionDef)


@dataclass(frozen=True)
class Extraction:
    """The result of :func:`extract_code`.

    ``method`` is how the code was found: ``fenced`` (a code block), ``bare`` (code without
    fences), ``renamed`` (the only function had another name; an alias to the entry point was
    added), ``salvaged`` (a block that does not parse, e.g. cut off by the token limit, but whose
    longest parsing prefix holds the complete entry point), ``unparsed`` (a block defining the entry
    point that does not parse: returned as is so the tester reports the SyntaxError) or ``none`` (``code`` is None and ``error`` says why).
    """

    code: str | None
    method: str
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether there is code to run."""
        return self.code is not None


@dataclass
class _Candidate:
    source: str
    tree: ast.Module | None
    error: str | None = None
    functions: list[str] = field(default_factory=list)


def python_blocks(text: str) -> list[str]:
    """Python fenced blocks of ``text`` (an unterminated last block counts: output was cut off)."""
    return [body for lang, body in _FENCE.findall(text) if lang.lower() in _PYTHON_LANGS]


def _parse(source: str) -> _Candidate:
    source = textwrap.dedent(source).strip("\n")
    try:
        tree = ast.parse(source)
    except SyntaxError as e:
        return _Candidate(source, None, f"SyntaxError: {e.msg} (line {e.lineno})")
    return _Candidate(source, tree, functions=[n.name for n in tree.body if isinstance(n, _FUNCS)])


def _bare(text: str) -> _Candidate | None:
    """Code without fences: from the first line that starts code, dropping trailing prose lines."""
    lines = textwrap.dedent(text).splitlines()
    start = next((i for i, line in enumerate(lines) if _CODE_START.match(line)), None)
    if start is None:
        return None
    for end in range(len(lines), start, -1):
        cand = _parse("\n".join(lines[start:end]))
        if cand.tree is not None:
            return cand
    return _parse("\n".join(lines[start:]))


def _complete_prefix(cand: _Candidate, entry_point: str | None) -> _Candidate | None:
    """The longest parsing prefix of a broken candidate in which ``entry_point`` is complete.

    Small models often write a correct function and then ramble (more defs, examples) until the
    token limit cuts a line in half. The prefix counts only if a top-level line follows the entry
    point in the reply (its body ended), so a cut inside the entry point is never passed off as code.
    """
    lines = cand.source.splitlines()
    for end in range(len(lines) - 1, 0, -1):
        prefix = _parse("\n".join(lines[:end]))
        if prefix.tree is not None:
            fn = next((n for n in prefix.tree.body if isinstance(n, _FUNCS) and n.name == entry_point), None)
            ended = fn is not None and any(line[:1].strip() and not line.startswith("#")
                                           for line in lines[fn.end_lineno:])
            return prefix if ended else None
    return None


def _sanitize(cand: _Candidate) -> str:
    """Only the definitions of a parsed candidate: imports, functions, classes and constants.

    Top-level example calls, prints, asserts and ``if __name__ == "__main__"`` blocks are dropped
    so that running the code only defines things.
    """
    assert cand.tree is not None
    lines = cand.source.splitlines()
    defined = set(cand.functions)
    kept: list[str] = []
    for node in cand.tree.body:
        keep = isinstance(node, _KEEP) or (
            isinstance(node, (ast.Assign, ast.AnnAssign)) and not any(
                isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in defined
                for n in ast.walk(node)))
        if keep:
            first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
            kept.append("\n".join(lines[first - 1:node.end_lineno]))
    return "\n\n".join(kept) + "\n"


def _with_imports(chosen: _Candidate, parsed: list[_Candidate]) -> str:
    """The sanitized chosen candidate, preceded by imports that other blocks of the reply made."""
    code = _sanitize(chosen)
    imports = [ast.unparse(n) for c in parsed if c is not chosen for n in c.tree.body
               if isinstance(n, (ast.Import, ast.ImportFrom))]
    missing = [i for i in dict.fromkeys(imports) if i not in code.splitlines()]
    return "\n".join(missing) + "\n\n" + code if missing else code


def extract_code(text: str, entry_point: str | None) -> Extraction:
    """Find the code defining ``entry_point`` in a model reply.

    Candidates are the Python fenced blocks, or the bare code when there are none. Among candidates
    that parse, the last one defining ``entry_point`` wins. If none defines it but exactly one
    function is defined in all candidates, that function is aliased to ``entry_point``.
    """
    cands, method = [_parse(b) for b in python_blocks(text)], "fenced"
    if not cands and (bare := _bare(text)) is not None:
        cands, method = [bare], "bare"
    if not cands:
        return Extraction(None, "none", "no code found in the reply")
    parsed = [c for c in cands if c.tree is not None]
    defining = [c for c in parsed if entry_point is None and c.functions or entry_point in c.functions]
    if defining:
        return Extraction(_with_imports(defining[-1], parsed), method)
    functions = [(c, f) for c in parsed for f in c.functions]
    if entry_point and len(functions) == 1:
        cand, name = functions[0]
        return Extraction(f"{_with_imports(cand, parsed)}\n{entry_point} = {name}\n", "renamed")
    broken = [c for c in cands if c.tree is None and f"def {entry_point}" in c.source]
    salvaged = [p for c in broken if (p := _complete_prefix(c, entry_point)) is not None]
    if salvaged:
        return Extraction(_with_imports(salvaged[-1], parsed), "salvaged", broken[-1].error)
    if broken:
        return Extraction(broken[-1].source + "\n", "unparsed", broken[-1].error)
    if functions:
        names = ", ".join(sorted({f for _, f in functions}))
        return Extraction(None, "none", f"no function named {entry_point!r} (defined: {names})")
    errors = [c.error for c in cands if c.error]
    return Extraction(None, "none", errors[-1] if errors else "no function defined in the reply")


def add_prompt_imports(code: str, prompt: str) -> str:
    """Prepend the top-level import lines of a task prompt (e.g. HumanEval's ``from typing import
    List``) that the code lacks: models often drop them when rewriting the signature."""
    have = set(code.splitlines())
    missing = [line for line in prompt.splitlines() if _IMPORT_LINE.match(line) and line not in have]
    return "\n".join(missing) + "\n\n" + code if missing else code


@dataclass(frozen=True)
class ProposedTests:
    """Model-proposed tests after validation: ``valid`` ones and ``rejected`` ``(test, reason)``."""

    valid: list[str]
    rejected: list[tuple[str, str]]


def validate_tests(candidates: Sequence[str], entry_point: str | None, known: Sequence[str] = (),
                   limit: int = 8) -> ProposedTests:
    """Keep candidates that are one ``assert`` statement calling ``entry_point``.

    Rejected (with the reason): syntax errors, non-assert statements, asserts that never call the
    entry point, duplicates of ``known`` (e.g. the visible tests) or of each other, and those
    beyond ``limit``.
    """
    valid: list[str] = []
    rejected: list[tuple[str, str]] = []
    seen = {ast.unparse(ast.parse(t)) for t in known if _parses(t)}
    for test in candidates:
        test = test.strip()
        try:
            tree = ast.parse(test)
        except SyntaxError as e:
            rejected.append((test, f"SyntaxError: {e.msg}"))
            continue
        if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assert):
            rejected.append((test, "not a single assert statement"))
        elif entry_point and not any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
                                     and n.func.id == entry_point for n in ast.walk(tree)):
            rejected.append((test, f"does not call {entry_point}"))
        elif ast.unparse(tree) in seen:
            rejected.append((test, "duplicate"))
        elif len(valid) >= limit:
            rejected.append((test, f"over the limit of {limit} tests"))
        else:
            seen.add(ast.unparse(tree))
            valid.append(test)
    return ProposedTests(valid, rejected)


def _parses(source: str) -> bool:
    try:
        ast.parse(source)
    except SyntaxError:
        return False
    return True


# -- Program-of-Thought codelets -------------------------------------------------------------------

def extract_codelet(text: str) -> Extraction:
    """The Python codelet in a model reply.

    The first fenced Python block (``method="fenced"``; ``"unparsed"`` with the SyntaxError in
    ``error`` when it does not parse: it still goes to the tool, which reports the error),
    else the whole reply when it parses as Python and prints (``"bare"``), else ``code=None``.
    Nothing is executed here.
    """
    blocks = python_blocks(text)
    if blocks:
        code = textwrap.dedent(blocks[0]).strip("\n") + "\n"
        error = syntax_error(code)
        return Extraction(code, "unparsed" if error else "fenced", error)
    bare = textwrap.dedent(text).strip()
    if bare and syntax_error(bare) is None and "print(" in bare:
        return Extraction(bare + "\n", "bare")
    return Extraction(None, "none", "no Python code block in the reply")


def syntax_error(code: str) -> str | None:
    """``SyntaxError: <msg> (line N)`` when ``code`` does not parse, else None."""
    try:
        ast.parse(code)
    except SyntaxError as e:
        return f"SyntaxError: {e.msg} (line {e.lineno})"
    return None


def looks_like_code(text: str) -> bool:
    """Whether any line of ``text`` is a Python statement on its own (not just a name or a
    constant): tells code that fails to parse (cut off, one typo) from prose sent to the tool."""
    for line in text.splitlines():
        try:
            tree = ast.parse(line.strip())
        except SyntaxError:
            continue
        if any(not (isinstance(n, ast.Expr) and isinstance(n.value, (ast.Name, ast.Constant))) for n in tree.body):
            return True
    return False
