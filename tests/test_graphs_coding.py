"""E1 graphs with the scripted backend: every edge of flat, flat_retry and hier, plus extraction."""

from __future__ import annotations

import pytest
from langchain_core.prompts import ChatPromptTemplate
from langgraph.graph import END, START, StateGraph

from hrm_agents.backends import ScriptedBackend
from hrm_agents.graphs import prompts
from hrm_agents.graphs import coding
from hrm_agents.graphs.coding import (CodeState, build_hier_graph, coder_node, flat_arm, flat_retry_arm, hier_arm,
                                      parse_plan_and_tests, run_code_graph)
from hrm_agents.graphs.extract import add_prompt_imports, extract_code, validate_tests
from hrm_agents.runner import ArmConfig
from hrm_agents.tasks.schema import PublicTask

TASK = PublicTask(id="t_add", kind="code", entry_point="add",
                  prompt='from typing import List\n\ndef add(a: int, b: int) -> int:\n    """Return a + b."""\n',
                  visible_tests=["assert add(1, 2) == 3", "assert add(-1, 1) == 0"])
RIGHT = "```python\ndef add(a, b):\n    return a + b\n```"
WRONG = "```python\ndef add(a, b):\n    return a - b\n```"
PLAN = ("PLAN:\n1. Take a and b.\n2. Return their sum.\n\nTESTS:\nassert add(2, 2) == 4\n"
        "assert add(2, 2\nassert other(1) == 1\nprint(add(1, 1))\n")


def role_script(coder_replies: list[str], plans: list[str] | None = None):
    """Scripted backend answering the planner and the coder from separate queues."""
    coder, planner = list(coder_replies), list(plans or [PLAN])

    def fn(messages, params):
        is_planner = messages[0].content == prompts.PLANNER.messages[0].prompt.template
        return (planner if is_planner else coder).pop(0)

    return ScriptedBackend(fn)


def nodes(outcome) -> list[str]:
    return [s["node"] for s in outcome.trace["steps"]]


def prompt_of(backend: ScriptedBackend, i: int) -> str:
    return backend.calls[i][0][-1].content


# ---------------------------------------------------------------- extraction

@pytest.mark.parametrize("reply, method, expect", [
    (RIGHT, "fenced", "return a + b"),
    ("Sure!\n\ndef add(a, b):\n    return a + b\n\nThis adds the numbers.", "bare", "return a + b"),
    ("```python\nprint('hi')\n```\n```python\ndef add(a, b):\n    return a+b\n```\n```python\nadd(1,2)\n```",
     "fenced", "return a+b"),
    ("```python\ndef plus(a, b):\n    return a + b\n```", "renamed", "add = plus"),
    ("```python\nimport math\n```\n```python\ndef add(a, b):\n    return math.fsum([a, b])\n```", "fenced",
     "import math"),
])
def test_extract_finds_the_entry_point(reply, method, expect):
    found = extract_code(reply, "add")
    assert (found.method, found.ok) == (method, True)
    assert expect in found.code
    compile(found.code, "<extracted>", "exec")


def test_extract_drops_top_level_calls_and_main_block():
    reply = ("```python\ndef add(a, b):\n    return a + b\n\nprint(add(1, 2))\nassert add(1, 1) == 3\n"
             "x = add(5, 5)\nLIMIT = 10\nif __name__ == '__main__':\n    add(0, 0)\n```")
    code = extract_code(reply, "add").code
    assert "print" not in code and "assert" not in code and "__main__" not in code and "x =" not in code
    assert "LIMIT = 10" in code


@pytest.mark.parametrize("reply, error", [
    ("I cannot help with that.", "no code found"),
    ("```python\ndef a(x):\n    return x\ndef b(x):\n    return x\n```", "no function named 'add' (defined: a, b)"),
    ("```python\nx = = 1\n```", "SyntaxError"),
])
def test_extract_failure_is_reported_not_raised(reply, error):
    found = extract_code(reply, "add")
    assert found.code is None and found.method == "none" and error in found.error


def test_extract_returns_a_cut_off_block_unparsed():
    found = extract_code("```python\ndef add(a, b):\n    return (a +", "add")
    assert found.method == "unparsed" and "SyntaxError" in found.error and found.code.startswith("def add")


def test_extract_salvages_a_complete_entry_point_before_a_cut():
    reply = '```python\ndef add(a, b):\n    return a + b\n\ndef add_test(x):\n    """Ramble until the token li'
    found = extract_code(reply, "add")
    assert (found.method, found.code) == ("salvaged", "def add(a, b):\n    return a + b\n")
    assert "unterminated" in found.error


def test_add_prompt_imports_only_adds_missing_lines():
    code = add_prompt_imports("def add(a, b):\n    return a\n", TASK.prompt)
    assert code.startswith("from typing import List\n")
    assert add_prompt_imports(code, TASK.prompt) == code


def test_validate_and_parse_planner_tests():
    plan, candidates = parse_plan_and_tests(PLAN)
    assert plan == "1. Take a and b.\n2. Return their sum."
    tests = validate_tests(candidates, "add", known=["assert add(2,2)==4"])
    assert tests.valid == []
    assert [r for _, r in tests.rejected] == ["duplicate", "SyntaxError: '(' was never closed", "does not call add",
                                              "not a single assert statement"]
    tests = validate_tests(candidates + ["assert add(0, 0) == 0", "assert add(1, 0) == 1"], "add", limit=2)
    assert tests.valid == ["assert add(2, 2) == 4", "assert add(0, 0) == 0"]
    assert ("assert add(1, 0) == 1", "over the limit of 2 tests") in tests.rejected


# ---------------------------------------------------------------- flat

def test_flat_success_records_costs_in_the_trace():
    backend = ScriptedBackend([RIGHT])
    out = flat_arm(TASK, backend, ArmConfig(max_iters=3, max_tokens=64))
    assert out.self_check_passed is True and out.iterations == 1
    assert nodes(out) == ["coder", "tester"]
    assert (out.model_calls, out.tool_calls) == (1, 1)
    coder = out.trace["steps"][0]
    assert out.prompt_tokens == coder["prompt_tokens"] == sum(len(m.content.split()) for m in backend.calls[0][0])
    assert out.completion_tokens == len(RIGHT.split()) and out.call_latencies_s[0] > 0
    assert coder["output"] == RIGHT and backend.calls[0][1].max_tokens == 64
    assert out.trace["visible_report"]["n_passed"] == 2
    assert out.final.startswith("from typing import List")  # prompt imports added


def test_flat_does_not_revise():
    out = flat_arm(TASK, ScriptedBackend([WRONG, RIGHT]), ArmConfig(max_iters=3))
    assert out.self_check_passed is False and out.model_calls == 1 and "a - b" in out.final
    assert out.trace["feedback"].startswith("This test failed:\nassert add(1, 2) == 3")


# ---------------------------------------------------------------- flat_retry

def test_flat_retry_revises_from_the_failing_assertion():
    backend = ScriptedBackend([WRONG, RIGHT])
    out = flat_retry_arm(TASK, backend, ArmConfig(max_iters=3))
    assert out.self_check_passed is True and out.iterations == 2
    assert nodes(out) == ["coder", "tester", "coder", "tester"]
    second = prompt_of(backend, 1)
    assert "assert add(1, 2) == 3" in second and "return a - b" in second and "Fix the code" in second
    assert "Fix the code" not in prompt_of(backend, 0)


def test_flat_retry_stops_when_the_budget_is_spent():
    backend = ScriptedBackend([WRONG] * 5)
    out = flat_retry_arm(TASK, backend, ArmConfig(max_iters=3))
    assert out.self_check_passed is False and out.iterations == 3 and len(backend.calls) == 3
    assert out.tool_calls == 3


def test_extraction_failure_is_tagged_and_fed_back():
    backend = ScriptedBackend(["I would use the + operator.", RIGHT])
    out = flat_retry_arm(TASK, backend, ArmConfig(max_iters=2))
    assert out.self_check_passed is True and out.tags == []
    assert "No usable code was found in your reply (no code found" in prompt_of(backend, 1)
    out = flat_arm(TASK, ScriptedBackend(["no idea"]), ArmConfig())
    assert out.final is None and out.tool_calls == 0
    assert [(t.tag, t.evidence) for t in out.tags] == [("extraction_failure", "no code found in the reply")]


def test_crashing_code_feedback_names_the_exception():
    backend = ScriptedBackend(["```python\ndef add(a, b):\n    return a + b + undefined_name\n```", RIGHT])
    out = flat_retry_arm(TASK, backend, ArmConfig(max_iters=2))
    assert out.self_check_passed is True
    assert "NameError" in prompt_of(backend, 1)


# ---------------------------------------------------------------- hier

def test_hier_planner_coder_tester_done():
    backend = role_script([RIGHT])
    out = hier_arm(TASK, backend, ArmConfig(max_iters=3))
    assert nodes(out) == ["planner", "coder", "tester", "tester"]  # visible tests pass, then planner tests
    assert out.self_check_passed is True and out.iterations == 1 and out.model_calls == 2 and out.tool_calls == 2
    assert out.plan == "1. Take a and b.\n2. Return their sum."
    assert "Follow this plan:\n1. Take a and b." in prompt_of(backend, 1)
    trace = out.trace
    assert trace["planner_tests"] == ["assert add(2, 2) == 4"]
    assert [r["reason"] for r in trace["rejected_tests"]] == [
        "SyntaxError: '(' was never closed", "does not call add", "not a single assert statement"]
    assert trace["visible_report"]["n_total"] == 2 and trace["planner_report"]["n_total"] == 1


def test_hier_tester_sends_the_failing_assertion_back_to_the_coder():
    backend = role_script([WRONG, RIGHT])
    out = hier_arm(TASK, backend, ArmConfig(max_iters=3))
    assert nodes(out) == ["planner", "coder", "tester", "coder", "tester", "tester"]
    assert out.self_check_passed is True and out.iterations == 2
    retry_prompt = prompt_of(backend, 2)
    assert "This test failed:\nassert add(1, 2) == 3" in retry_prompt and "Follow this plan" in retry_prompt


def test_hier_repeated_failure_goes_back_to_the_planner():
    second_plan = "PLAN:\n1. Use the + operator.\nTESTS:\nassert add(3, 4) == 7"
    backend = role_script([WRONG, WRONG, RIGHT], [PLAN, second_plan])
    out = hier_arm(TASK, backend, ArmConfig(max_iters=3))
    assert nodes(out) == ["planner", "coder", "tester", "coder", "tester", "planner", "coder", "tester", "tester"]
    assert out.self_check_passed is True and out.trace["plans"] == 2 and out.plan == "1. Use the + operator."
    replan_prompt = prompt_of(backend, 3)
    assert "kept failing" in replan_prompt and "assert add(1, 2) == 3" in replan_prompt
    assert "Take a and b" in replan_prompt  # the previous plan
    assert "Fix the code" not in prompt_of(backend, 4)  # fresh start from the new plan


def test_hier_budget_exhausted_ends_before_replanning():
    backend = role_script([WRONG, WRONG, WRONG])
    out = hier_arm(TASK, backend, ArmConfig(max_iters=2))
    assert nodes(out) == ["planner", "coder", "tester", "coder", "tester"]
    assert out.self_check_passed is False and out.iterations == 2 and out.trace["plans"] == 1


@pytest.mark.parametrize("policy, iterations, self_check", [("advisory", 1, True), ("required", 2, False)])
def test_planner_tests_are_advisory_unless_required(policy, iterations, self_check):
    wrong_plan = "PLAN:\n1. Add.\nTESTS:\nassert add(2, 2) == 5"
    backend = role_script([RIGHT, RIGHT], [wrong_plan])
    out = hier_arm(TASK, backend, ArmConfig(max_iters=2, options={"planner_tests": policy, "replan_after": 0}))
    assert out.iterations == iterations and out.self_check_passed is self_check
    assert out.trace["visible_report"]["passed"] is True and out.trace["planner_report"]["passed"] is False
    if policy == "required":
        assert "proposed by the planner, it may itself be wrong" in prompt_of(backend, 2)


def test_bad_option_is_a_clear_error():
    with pytest.raises(ValueError, match="planner_tests='always'"):
        build_hier_graph(ScriptedBackend(), ArmConfig(options={"planner_tests": "always"}))


def test_nodes_assemble_into_a_custom_graph():
    """The node factories are reusable: a coder -> tester graph with a custom prompt."""
    custom = ChatPromptTemplate.from_messages(
        [("human", "Write {entry_point}:\n{prompt}{plan_section}{revision_section}")])
    backend = ScriptedBackend([RIGHT])
    cfg = ArmConfig()
    g = StateGraph(CodeState)
    g.add_node("write", coder_node(backend, cfg, prompt=custom, name="write"))
    g.add_node("check", coding.tester_node(cfg, name="check"))
    g.add_edge(START, "write")
    g.add_edge("write", "check")
    g.add_edge("check", END)
    out = run_code_graph(g.compile(), TASK, cfg)
    assert nodes(out) == ["write", "check"] and out.self_check_passed is True
    assert [m.role for m in backend.calls[0][0]] == ["user"]
    assert backend.calls[0][0][0].content.startswith("Write add:\nfrom typing import List")


@pytest.mark.parametrize("options, max_tokens, planner_cap", [({}, 512, 256), ({}, 128, 128),
                                                               ({"planner_max_tokens": 64}, 512, 64)])
def test_planner_reply_is_capped_below_max_tokens(options, max_tokens, planner_cap):
    backend = role_script([RIGHT])
    hier_arm(TASK, backend, ArmConfig(max_iters=2, max_tokens=max_tokens, options=options))
    (planner_params, coder_params) = [params for _, params in backend.calls]
    assert (planner_params.max_tokens, coder_params.max_tokens) == (planner_cap, max_tokens)
