"""E2 math graphs on the scripted backend: every edge of flat, flat_tool and hier. Codelets run in
the real sandbox."""

from __future__ import annotations

import json
import re

import pytest
from langchain_core.prompts import ChatPromptTemplate

from hrm_agents.backends import ScriptedBackend
from hrm_agents.backends.base import GenParams, Message
from hrm_agents.evaluation.taxonomy import BUDGET_EXHAUSTED, TOOL_MISUSE
from hrm_agents.graphs import prompts
from hrm_agents.graphs.extract import extract_codelet, looks_like_code
from hrm_agents.graphs.math import (CODE_STOP, MATH_ARMS, flat_arm, flat_tool_arm, hier_arm, parse_subgoals,
                                    parse_verdict)
from hrm_agents.runner import ArmConfig, run_experiment
from hrm_agents.tasks.plausibility import rule_checks
from hrm_agents.tasks.schema import Task

QUESTION = "A box holds 6 rows of 7 eggs. One more egg is added. How many eggs are in the box?"
TASK = Task(id="eggs", kind="math", prompt=QUESTION, answer="43")
PUBLIC = TASK.public()


def fence(code: str) -> str:
    return f"Here is the program:\n```python\n{code}\n```\n"


def by_node(supervisor, executor, verifier):
    """A scripted model that answers by node (recognised from the prompt); each argument is a list of
    replies consumed in order. Also records the prompt seen by each call."""
    queues = {"supervisor": list(supervisor), "executor": list(executor), "verifier": list(verifier)}
    seen: dict[str, list[str]] = {k: [] for k in queues}

    def reply(messages: list[Message], params: GenParams) -> str:
        prompt = messages[-1].content
        node = ("supervisor" if "Break the problem" in prompt else
                "executor" if "Write a short Python program for step" in prompt else
                "verifier" if "Proposed answer" in prompt else None)
        assert node is not None, prompt
        seen[node].append(prompt)
        return queues[node].pop(0)

    return ScriptedBackend(reply), seen


def tags(outcome) -> dict[str, str]:
    return {t.tag: t.evidence for t in outcome.tags}


# -- pure helpers ----------------------------------------------------------------------------------

def test_extract_codelet_cases():
    assert extract_codelet(fence("print(6 * 7)")).code == "print(6 * 7)\n"
    assert extract_codelet(fence("print(1)") + fence("print(2)")).code == "print(1)\n"
    bad = extract_codelet(fence("The answer is 42"))
    assert bad.method == "unparsed" and bad.code and bad.error.startswith("SyntaxError")
    assert extract_codelet("x = 3\nprint(x * 2)").method == "bare"
    none = extract_codelet("The answer is 42.")
    assert none.code is None and none.method == "none"


def test_rule_checks():
    assert rule_checks(QUESTION, "43") == []
    assert rule_checks(QUESTION, None) == ["no answer: the last step printed no number"]
    assert "not a whole number" in rule_checks(QUESTION, "42.5")[0]
    assert "negative" in rule_checks(QUESTION, "-43")[0]
    assert rule_checks("The temperature was 5 degrees and fell 8 degrees. What is it now?", "-3") == []
    assert "percentage" in rule_checks("What percent of 40 is 10?", "0.25")[0]
    assert rule_checks("What percent of 40 is 10?", "25") == []
    assert "implausibly large" in rule_checks(QUESTION, "99999999999")[0]
    assert rule_checks("A star is 1" + "0" * 200 + " km away. How far is it in km?", "5") == []
    assert "not a number" in rule_checks(QUESTION, "x+1")[0]


def test_parse_plan_and_verdict():
    assert parse_subgoals("Plan:\n1. multiply 6 by 7\n2) add 1\n", 3) == ["multiply 6 by 7", "add 1"]
    assert parse_subgoals("1. a\n2. b\n3. c\n4. d", 3) == ["a", "b", "d"]
    assert parse_subgoals("just compute it", 3) == ["just compute it"]
    assert parse_verdict("ACCEPT") == (True, "")
    assert parse_verdict("I think: REJECT: the sign is wrong.") == (False, "the sign is wrong.")
    assert parse_verdict("looks fine to me") == (None, "the verifier gave no verdict")


# -- flat ------------------------------------------------------------------------------------------

def test_flat_chain_of_thought():
    backend = ScriptedBackend(["6 * 7 = 42, plus 1 is 43.\nAnswer: 43"])
    out = flat_arm(PUBLIC, backend, ArmConfig())
    assert out.final == "43" and out.iterations == 1 and out.model_calls == 1 and out.tool_calls == 0
    assert out.completion_tokens == 11 and "tool_calls_detail" not in out.meta and out.tags == []
    assert QUESTION in backend.calls[0][0][-1].content


# -- flat + tool -----------------------------------------------------------------------------------

def test_flat_tool_runs_codelet_then_answers():
    backend = ScriptedBackend([fence("print(6 * 7 + 1)"), "The program printed 43.\nAnswer: 43"])
    out = flat_tool_arm(PUBLIC, backend, ArmConfig())
    assert out.final == "43" and out.model_calls == 2 and out.tool_calls == 1 and out.tags == []
    detail = out.meta["tool_calls_detail"]
    assert [(d["code"], d["status"], d["stdout"].strip(), d["error"], d["misuse"]) for d in detail] == [
        ("print(6 * 7 + 1)\n", "ok", "43", None, None)]
    answer_prompt = backend.calls[1][0][-1].content
    assert "print(6 * 7 + 1)" in answer_prompt and "It printed:\n43" in answer_prompt


def test_flat_tool_without_codelet_answers_from_reply():
    backend = ScriptedBackend(["I can do this in my head: the answer is 43."])
    out = flat_tool_arm(PUBLIC, backend, ArmConfig())
    assert out.final == "43" and out.model_calls == 1 and out.tool_calls == 0
    assert out.meta["tool_calls_detail"] == []
    assert "no_tool_call" in tags(out)[TOOL_MISUSE]


def test_flat_tool_codelet_error_is_shown_and_tagged():
    backend = ScriptedBackend([fence("eggs = 6 * 7\nprint(eggs / 0)"), "Answer: 42"])
    out = flat_tool_arm(PUBLIC, backend, ArmConfig())
    (call,) = out.meta["tool_calls_detail"]
    assert call["status"] == "error" and call["misuse"] == "error"
    assert call["error"].startswith("ZeroDivisionError") and "print(eggs / 0)" in call["error"]
    assert "error: ZeroDivisionError" in backend.calls[1][0][-1].content
    assert "error (iteration 1, step 1: ZeroDivisionError" in tags(out)[TOOL_MISUSE]
    assert out.final == "42" and out.tool_calls == 1


def test_flat_tool_non_code_input_is_tagged():
    backend = ScriptedBackend([fence("The eggs are 6 times 7 plus 1"), "Answer: 43"])
    out = flat_tool_arm(PUBLIC, backend, ArmConfig())
    (call,) = out.meta["tool_calls_detail"]
    assert call["status"] == "error" and call["misuse"] == "non_code" and "SyntaxError" in call["error"]
    assert "non_code" in tags(out)[TOOL_MISUSE]


def test_flat_tool_cut_off_code_is_an_error_not_non_code():
    backend = ScriptedBackend([fence("eggs = 6 * 7 + 1\nprint(f\"There are {eggs"), "Answer: 43"])
    out = flat_tool_arm(PUBLIC, backend, ArmConfig())
    (call,) = out.meta["tool_calls_detail"]
    assert call["misuse"] == "error" and call["error"].startswith("SyntaxError")


def test_looks_like_code():
    assert looks_like_code("x = 1\nprint(f'{x") and looks_like_code("print(3)")
    assert not looks_like_code("The answer is 42\n42\nanswer")


def test_flat_tool_silent_codelet_is_tagged():
    backend = ScriptedBackend([fence("eggs = 6 * 7 + 1"), "Answer: 43"])
    out = flat_tool_arm(PUBLIC, backend, ArmConfig())
    (call,) = out.meta["tool_calls_detail"]
    assert call["status"] == "ok" and call["stdout"] == "" and call["misuse"] == "no_output"
    assert "the program printed nothing" in backend.calls[1][0][-1].content
    assert "no_output" in tags(out)[TOOL_MISUSE]


# -- hierarchical ----------------------------------------------------------------------------------

def test_hier_plan_executors_verifier_accept():
    backend, seen = by_node(["1. Multiply 6 by 7.\n2. Add 1."],
                            [fence("print(6 * 7)"), fence("print(42 + 1)")], ["ACCEPT"])
    out = hier_arm(PUBLIC, backend, ArmConfig(max_iters=3))
    assert out.final == "43" and out.self_check_passed is True and out.iterations == 1
    assert out.model_calls == 4 and out.tool_calls == 2 and out.tags == []
    assert out.plan == "1. Multiply 6 by 7.\n2. Add 1."
    assert "step 1: Multiply 6 by 7." in seen["executor"][0] and "print the result" in seen["executor"][0]
    assert "Step 1: 42" in seen["executor"][1] and "print only the final answer" in seen["executor"][1]
    assert "Proposed answer: 43" in seen["verifier"][0]
    assert [c["stdout"].strip() for c in out.meta["tool_calls_detail"]] == ["42", "43"]
    nodes = [s["node"] for s in out.trace["steps"]]
    assert nodes == ["supervisor", "executor", "tools", "executor", "tools", "verifier"]
    assert [c["node"] for c in out.trace["tool_log"]] == ["executor", "executor"]
    assert [p.stop for _, p in backend.calls] == [("\n4.",), CODE_STOP, CODE_STOP, ("\n\n",)]


def test_hier_verifier_reject_replans_with_reason():
    backend, seen = by_node(["1. Multiply 6 by 7.", "1. Multiply 6 by 7.\n2. Add 1."],
                            [fence("print(6 * 7)"), fence("print(6 * 7)"), fence("print(42 + 1)")],
                            ["REJECT: the added egg is missing", "ACCEPT"])
    out = hier_arm(PUBLIC, backend, ArmConfig(max_iters=3))
    assert out.final == "43" and out.self_check_passed is True and out.iterations == 2
    assert "rejected because: the added egg is missing" in seen["supervisor"][1]
    assert "1. Multiply 6 by 7." in seen["supervisor"][1]
    verdicts = out.trace["verdicts"]
    assert [(v["answer"], v["accepted"], v["source"]) for v in verdicts] == [("42", False, "llm"), ("43", True, "llm")]


def test_hier_rule_check_rejects_without_model_call():
    backend, seen = by_node(["1. Compute the eggs.", "1. Compute the eggs."],
                            [fence("print(-43)"), fence("print(43)")], ["ACCEPT"])
    out = hier_arm(PUBLIC, backend, ArmConfig(max_iters=3))
    assert out.final == "43" and out.iterations == 2 and len(seen["verifier"]) == 1
    first = out.trace["verdicts"][0]
    assert first["source"] == "rules" and not first["accepted"] and "negative" in first["reason"]
    assert "negative" in seen["supervisor"][1]


def test_hier_budget_exhausted_returns_last_answer():
    backend, seen = by_node(["1. Compute the eggs."] * 2, [fence("print(42)")] * 2,
                            ["REJECT: too small"] * 2)
    out = hier_arm(PUBLIC, backend, ArmConfig(max_iters=2))
    assert out.iterations == 2 and out.self_check_passed is False and out.final == "42"
    assert len(seen["supervisor"]) == 2 and len(seen["verifier"]) == 2


def test_hier_missing_codelet_is_misuse_and_rejected():
    backend, seen = by_node(["1. Multiply 6 by 7.\n2. Add 1."], ["It is 42.", "I would add one."], [])
    out = hier_arm(PUBLIC, backend, ArmConfig(max_iters=1))
    assert out.tool_calls == 0 and out.final is None and out.self_check_passed is False
    assert "Step 1: no program was written" in seen["executor"][1]
    assert out.trace["verdicts"][0]["reason"] == "no answer: the last step printed no number"
    assert tags(out)[TOOL_MISUSE].startswith("2 misused tool call(s): no_tool_call")
    assert out.meta["tool_calls_detail"] == []


def test_hier_long_budget_stays_under_recursion_limit():
    backend, _ = by_node(["1. a\n2. b\n3. c"] * 4, [fence("print(1)")] * 12, ["REJECT: no"] * 4)
    out = hier_arm(PUBLIC, backend, ArmConfig(max_iters=4))
    assert out.iterations == 4 and out.tool_calls == 12 and out.model_calls == 4 * 5


def test_hier_rejects_bad_max_subgoals():
    for bad in (0, "3"):
        with pytest.raises(ValueError, match="max_subgoals"):
            hier_arm(PUBLIC, ScriptedBackend([]), ArmConfig(options={"max_subgoals": bad}))


# -- through the shared runner ---------------------------------------------------------------------

def test_runner_records_and_tags(tmp_path):
    def reply(messages: list[Message], params: GenParams) -> str:
        prompt = messages[-1].content
        if "Break the problem" in prompt:
            return "1. Count the eggs."
        if "step 1" in prompt or "Python program" in prompt:
            return fence("print(6 * 7)")
        if "Proposed answer" in prompt:
            return "REJECT: looks off"
        return "Answer: " + re.findall(r"\d+", prompt.split("It printed:")[-1])[0]

    run_dir = run_experiment("exp2_test", [TASK], MATH_ARMS, ScriptedBackend(reply), max_iters=2,
                             out_root=tmp_path, progress=False)
    records = {r["arm"]: r for r in map(json.loads, (run_dir / "results.jsonl").read_text().splitlines())}
    assert set(records) == {"flat", "flat_tool", "hier"}
    hier = records["hier"]
    assert not hier["passed"] and hier["iterations"] == 2 and hier["tool_calls"] == 2
    assert BUDGET_EXHAUSTED in {t["tag"] for t in hier["failure_tags"]}
    assert records["flat_tool"]["tool_calls"] == 1 and records["flat_tool"]["final"] == "42"
    # the arm's tool log reaches the record (and so the taxonomy); arm tags are kept as information
    detail = records["flat_tool"]["meta"]["tool_calls_detail"]
    assert [(c["status"], c["stdout"].strip()) for c in detail] == [("ok", "42")]
    assert "tool_calls_detail" not in records["flat"]["meta"] and records["flat"]["meta"]["arm_tags"] == []
    assert all(len(r["meta"]["tool_calls_detail"]) == r["tool_calls"] for r in (hier, records["flat_tool"]))


# -- few-shot examples (E3) ------------------------------------------------------------------------

def _solving_backend(arm: str) -> ScriptedBackend:
    if arm == "hier":
        return by_node(["1. Count the eggs."], [fence("print(43)")], ["ACCEPT"])[0]
    return ScriptedBackend([fence("print(43)"), "Answer: 43"])


@pytest.mark.parametrize("arm", sorted(MATH_ARMS))
def test_examples_reach_the_system_message_of_every_call(arm):
    examples = ["Problem: 2 + {x}\nAnswer: 4", "Problem: [1,2] sum\nAnswer: 3"]
    backend = _solving_backend(arm)
    out = MATH_ARMS[arm](PUBLIC, backend, ArmConfig(max_iters=1), examples=examples)
    assert out.final == "43" and backend.calls
    block = "Examples of solved problems:\n\n" + "\n\n".join(examples)  # braces are not template fields
    for messages, _ in backend.calls:
        assert messages[0].role == "system" and messages[0].content.endswith("\n\n" + block)
        assert all(block not in m.content for m in messages[1:])
    plain = _solving_backend(arm)
    MATH_ARMS[arm](PUBLIC, plain, ArmConfig(max_iters=1))
    assert all("Examples of solved problems" not in m.content for msgs, _ in plain.calls for m in msgs)


def test_with_examples_without_a_system_message():
    template = ChatPromptTemplate.from_messages([("human", "Q: {question}")])
    assert prompts.with_examples(template, []) is template
    rendered = prompts.render(prompts.with_examples(template, ["ex {1}"]), question="why?")
    assert [(m.role, m.content) for m in rendered] == [
        ("system", "Examples of solved problems:\n\nex {1}"), ("user", "Q: why?")]
