"""HRMBackend: chat messages in, answers out; unsupported tasks tagged; the shipped checkpoint's accuracy."""

from __future__ import annotations

import json
import random
import sys

import pytest

torch = pytest.importorskip("torch")

from hrm_agents.backends import BackendError, GenParams, make_backend  # noqa: E402
from hrm_agents.curriculum.generator import make_splits  # noqa: E402
from hrm_agents.hrm.backend import DEFAULT_CHECKPOINT, HRMBackend  # noqa: E402


@pytest.fixture(scope="module")
def backend():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield make_backend("hrm")
    torch.set_num_threads(threads)


def test_answers_a_question_in_chat_messages(backend):
    assert isinstance(backend, HRMBackend) and backend.task_kinds == {"arith_chain"}
    msgs = [{"role": "system", "content": "You are a calculator."},
            {"role": "user", "content": "Please help. Start with 37, add 5, multiply by 2, subtract 9, "
                                        "take the remainder mod 7, then divide by 3 rounding down. What is the result?"}]
    c = backend.complete(msgs, GenParams(n=2))
    assert c.text == "1" and c.texts == ["1", "1"] and c.finish_reason == "stop"
    assert c.extra["canonical"] == "37 +5 *2 -9 %7 /3" and c.extra["k"] == 5
    assert 1 <= c.extra["act_steps"] <= 8 and 0 <= c.extra["q_halt_prob"] <= 1
    assert c.backend == "hrm" and c.latency_s > 0
    assert backend.describe()["n_params"] > 1_000_000


@pytest.mark.parametrize("text, reason", [
    ("What is the capital of France?", "no curriculum question"),
    ("Start with the list [3, 1, 2], reverse it, then return the sum. What is the result?", "list_program"),
    ("Start with 5, " + ", ".join(["add 1"] * 30) + ". What is the result?", "too long"),
])
def test_unreadable_tasks_come_back_tagged_unsupported(backend, text, reason):
    c = backend.complete([{"role": "user", "content": text}])
    assert c.finish_reason == "unsupported" and c.text == "" and reason in c.extra["unsupported"]


@pytest.mark.parametrize("name", ["default", "fast"])
def test_shipped_checkpoints_score_99_percent_on_200_unseen_k2_to_4_tasks(name):
    """200 tasks of the held-out ``test_id`` split (never in the training pool), k = 2..4."""
    path = DEFAULT_CHECKPOINT.parent / name
    backend = HRMBackend(str(path), threads=1)
    meta = json.loads((path / "config.json").read_text())["meta"]["train_config"]
    test = make_splits(meta["data_seed"], n_train_per_k=0, n_test_per_k=meta["n_test_per_k"],
                       families=meta["families"], heldout_ks=())["test_id"]
    tasks = random.Random(1).sample(test, 200)
    assert {t.k for t in tasks} == {2, 3, 4}
    answers = backend.solve([t.canonical for t in tasks])
    correct = sum(a["answer"] == str(t.answer) for a, t in zip(answers, tasks))
    assert correct >= 198, f"{correct}/200"


def test_missing_checkpoint_and_missing_torch_are_one_line_errors(tmp_path, monkeypatch):
    with pytest.raises(BackendError, match="no HRM checkpoint"):
        make_backend("hrm", model=str(tmp_path))
    (tmp_path / "model.safetensors").write_bytes(b"junk")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(BackendError, match="cannot load"):
        make_backend("hrm", model=str(tmp_path))
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(BackendError, match=r"hrm_agents\[hrm\]"):
        HRMBackend()
