"""Every prompt of the graphs, in one place.

Node prompts are langchain-core ``ChatPromptTemplate`` objects; optional parts of a prompt (a plan,
feedback from a failed test run) are plain ``str`` section templates rendered into a variable, so a
node's template always takes the same variables. To change a prompt, pass your own template with
the same variables to the node factory (e.g. ``coder_node(backend, cfg, prompt=MY_CODER)``).
"""

from __future__ import annotations

from typing import Any, Sequence

from langchain_core.prompts import ChatPromptTemplate, SystemMessagePromptTemplate

from ..backends.base import Message
from ..backends.langchain_adapter import to_message

# Character budgets of the parts a graph feeds back into a prompt, so that a task prompt, a plan,
# the previous code and one failure still fit a 2k-token context next to the reply.
MAX_PLAN_CHARS = 1200
MAX_CODE_CHARS = 2000
MAX_FEEDBACK_CHARS = 600

CODER_SYSTEM = (
    "You are an expert Python programmer. You write one correct, self-contained Python function "
    "for the task you are given. Reply with a single ```python code block and nothing else: "
    "no explanations, no example usage, no tests."
)

# Variables: entry_point, prompt, plan_section, revision_section.
CODER = ChatPromptTemplate.from_messages([
    ("system", CODER_SYSTEM),
    ("human", "Write the Python function `{entry_point}`.\n\nTask:\n{prompt}\n\n"
              "{plan_section}{revision_section}"
              "Reply with one ```python code block that defines `{entry_point}` (with any imports "
              "it needs)."),
])

PLAN_SECTION = "Follow this plan:\n{plan}\n\n"

REVISION_SECTION = (
    "Your previous code:\n```python\n{code}\n```\nIt did not work:\n{feedback}\n\n"
    "Fix the code.\n\n"
)

# Variables: entry_point, prompt, replan_section.
PLANNER = ChatPromptTemplate.from_messages([
    ("system", "You are a senior software engineer who plans before coding. You do not write the "
               "implementation; you write a short plan and a few test cases."),
    ("human", "Task:\n{prompt}\n\n{replan_section}"
              "Write:\nPLAN:\n1. <step>\n2. <step>\n(at most 5 short steps for implementing "
              "`{entry_point}`)\n\nTESTS:\n<2 to 4 lines, each one Python assert statement that "
              "calls `{entry_point}`, e.g. assert {entry_point}(...) == ...>"),
])

REPLAN_SECTION = (
    "A previous plan led to code that kept failing:\n{feedback}\n\n"
    "Previous plan:\n{plan}\n\nWrite a different, better plan.\n\n"
)

# Feedback given to the coder (and to the planner on a re-plan) after a failed tester run.
FEEDBACK_EXTRACTION = (
    "No usable code was found in your reply ({error}). Reply with one ```python code block that "
    "defines `{entry_point}`."
)
FEEDBACK_EXEC = "Running the code failed with {exc_type}: {exc_message}{where}"
FEEDBACK_STATUS = "Running the code stopped: {status} ({detail})"
FEEDBACK_TEST = "This test failed:\n{test}\n{error}"
FEEDBACK_PLANNER_TEST = "This test (proposed by the planner, it may itself be wrong) failed:\n{test}\n{error}"


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, marked when cut."""
    return text if len(text) <= limit else text[:limit] + "\n[... cut]"


EXAMPLES_HEADER = "Examples of solved problems:\n\n"


def with_examples(template: ChatPromptTemplate, examples: Sequence[str]) -> ChatPromptTemplate:
    """``template`` with few-shot ``examples`` (worked solutions, shown verbatim after
    :data:`EXAMPLES_HEADER`) appended to its system message, or put in a system message of their
    own before the others when it has none; ``template`` itself for no examples."""
    if not examples:
        return template
    block = (EXAMPLES_HEADER + "\n\n".join(examples)).replace("{", "{{").replace("}", "}}")
    first, *rest = template.messages
    if isinstance(first, SystemMessagePromptTemplate):
        first = SystemMessagePromptTemplate.from_template(f"{first.prompt.template}\n\n{block}")
        return ChatPromptTemplate.from_messages([first, *rest])
    return ChatPromptTemplate.from_messages([("system", block), first, *rest])


def render(template: ChatPromptTemplate, **variables: Any) -> list[Message]:
    """Format a chat template into backend :class:`Message` objects."""
    return [to_message(m) for m in template.format_messages(**variables)]


# == E2: math graphs (flat, flat + Python tool, supervisor -> PoT executors -> verifier) ============
# Owned by hrm_agents/graphs/math.py. Kept short: the default model is a 135M model with a small
# context window.

MATH_SYSTEM = "You are a careful math assistant."

# Variables: question.
MATH_FLAT = ChatPromptTemplate.from_messages([
    ("system", MATH_SYSTEM),
    ("human", "Solve the problem. Think step by step, then write the last line as "
              "'Answer: <number>'.\n\nProblem: {question}"),
])

# Variables: question.
MATH_FLAT_TOOL = ChatPromptTemplate.from_messages([
    ("system", MATH_SYSTEM),
    ("human", "Solve the problem with a short Python program that computes the answer and prints "
              "it. Reply with one ```python code block.\n\nProblem: {question}"),
])

# Variables: question, code, observation (what the program printed, or its error).
MATH_TOOL_ANSWER = ChatPromptTemplate.from_messages([
    ("system", MATH_SYSTEM),
    ("human", "Problem: {question}\n\nYour program:\n```python\n{code}\n```\nIt printed:\n{observation}\n\n"
              "Write the last line as 'Answer: <number>'."),
])

# Variables: question, max_subgoals, replan_section.
MATH_SUPERVISOR = ChatPromptTemplate.from_messages([
    ("system", MATH_SYSTEM),
    ("human", "Problem: {question}\n\n{replan_section}"
              "Break the problem into at most {max_subgoals} short steps that each compute one "
              "number; the last step computes the final answer. Write one step per line as '1. ...'."),
])

MATH_REPLAN_SECTION = "A previous plan:\n{plan}\nwas rejected because: {reason}\nWrite a better plan.\n\n"

# Variables: question, plan, results, step, subgoal, what ("the result" / "only the final answer").
MATH_EXECUTOR = ChatPromptTemplate.from_messages([
    ("system", MATH_SYSTEM),
    ("human", "Problem: {question}\n\nPlan:\n{plan}\n\nResults so far:\n{results}\n\n"
              "Write a short Python program for step {step}: {subgoal}\n"
              "Use the numbers above and print {what}. Reply with one ```python code block."),
])

# Variables: question, plan, results, answer.
MATH_VERIFIER = ChatPromptTemplate.from_messages([
    ("system", MATH_SYSTEM),
    ("human", "Problem: {question}\n\nPlan:\n{plan}\n\nStep results:\n{results}\n\n"
              "Proposed answer: {answer}\n\nDoes the answer fit the problem (units, sign, whole number "
              "if counting, plausible size)? Reply 'ACCEPT' or 'REJECT: <reason>'."),
])
