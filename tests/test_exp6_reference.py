"""E6's zero-shot reference row: asked in the draw's random order, resumable, cut by a time budget."""

import json
import random
from pathlib import Path

import pytest

from hrm_agents.backends.base import BackendError
from hrm_agents.backends.scripted import ScriptedBackend

MBPP = Path(__file__).resolve().parents[2] / "shared" / "data" / "mbpp.jsonl"
pytestmark = pytest.mark.skipif(not MBPP.is_file(), reason="../shared/data/mbpp.jsonl not present")


def _oracle():
    """Answers each MBPP prompt with that task's reference solution, in a fenced block."""
    from hrm_agents.hrm.code_data import MBPP_TEST_IDS, mbpp_rows

    by_text = {r["text"]: r["code"] for r in mbpp_rows(MBPP, MBPP_TEST_IDS)}
    asked = []

    def answer(messages, params):
        text = next(t for t in by_text if t in messages[-1].content)
        asked.append(text)
        return f"```python\n{by_text[text]}\n```"

    return ScriptedBackend(answer), asked


def _refuse(messages, params):
    raise BackendError("a recorded task was asked again")


def test_reference_order_budget_and_resume(tmp_path):
    from experiments.exp6_hrm_codegen.report import reference
    from hrm_agents.hrm.code_data import MBPP_TEST_IDS, mbpp_rows

    draw = random.Random(0).sample(mbpp_rows(MBPP, MBPP_TEST_IDS), 4)
    s0 = reference(MBPP, tmp_path, n_tasks=4, time_budget_s=0, backend=ScriptedBackend(_refuse))
    assert (s0["n_tasks"], s0["n_drawn"], s0["complete"], s0["pass1"]) == (0, 4, False, None)

    oracle, asked = _oracle()
    s1 = reference(MBPP, tmp_path, n_tasks=4, backend=oracle)
    assert asked == [r["text"] for r in draw]  # the draw's own order, not sorted by task_id
    assert (s1["n_tasks"], s1["passed"], s1["complete"]) == (4, 4, True)
    assert s1["task_ids"] == sorted(r["task_id"] for r in draw)

    # resuming the same draw asks nothing again; a larger draw keeps the recorded tasks that are in it
    s2 = reference(MBPP, tmp_path, n_tasks=4, backend=ScriptedBackend(_refuse))
    assert (s2["n_tasks"], s2["passed"]) == (4, 4)
    lines = (tmp_path / "reference.jsonl").read_text().splitlines()
    assert len(lines) == 4 and all(json.loads(line)["status"] == "passed" for line in lines)
    s3 = reference(MBPP, tmp_path, n_tasks=500, time_budget_s=0, backend=ScriptedBackend(_refuse))
    assert (s3["n_drawn"], s3["complete"]) == (500, False) and set(s2["task_ids"]) <= set(s3["task_ids"])
