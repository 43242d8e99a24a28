"""E6: completing a cut-short call (retrained arm's samples for the missing tasks, greedy agreement) and
the arms' GPU seconds alone in stats.json."""

import json
from pathlib import Path

import pytest

from experiments.exp6_hrm_codegen.pipeline import missing_samples
from experiments.exp6_hrm_codegen.scoring import merge_resumed

MBPP = Path(__file__).resolve().parents[2] / "shared" / "data" / "mbpp.jsonl"


def _c(task, kind, index, text):
    return {"task_id": task, "kind": kind, "index": index, "text": text, "n_tokens": 1, "finished": True}


def _write(path, recs):
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))


def test_missing_samples_counts_whole_tasks(tmp_path):
    path = tmp_path / "a.jsonl"
    _write(path, [_c(1, "greedy", 0, "g"), _c(1, "sample", 0, "x"), _c(1, "sample", 1, "y"), _c(2, "sample", 0, "z")])
    assert missing_samples(path, [1, 2, 3], n_samples=2) == [2, 3]  # 2 has one of two samples, 3 none
    assert missing_samples(tmp_path / "absent.jsonl", [1, 2], n_samples=2) == [1, 2]


def test_merge_keeps_the_first_call_and_adds_only_missing_tasks():
    first = [_c(1, "greedy", 0, "a"), _c(2, "greedy", 0, "b"), _c(1, "sample", 0, "s1")]
    later = [_c(1, "greedy", 0, "a"), _c(2, "greedy", 0, "B"), _c(1, "sample", 0, "other"), _c(2, "sample", 0, "s2"),
             _c(2, "sample", 1, "s3")]
    merged, check = merge_resumed(first, later)
    assert merged[:3] == first
    assert [(r["task_id"], r["text"], r["source"]) for r in merged[3:]] == [(2, "s2", "resumed"), (2, "s3", "resumed")]
    assert check == {"tasks_sampled_added": 1, "samples_added": 2, "greedy_compared": 2, "greedy_identical": 1}


@pytest.mark.skipif(not MBPP.is_file(), reason="../shared/data/mbpp.jsonl not present")
def test_evaluate_with_a_resumed_call(tmp_path):
    from experiments.exp6_hrm_codegen.report import evaluate
    from hrm_agents.hrm.code_data import mbpp_rows

    ref = {r["task_id"]: r["code"] for r in mbpp_rows(MBPP, [11, 12])}
    first, later, out = tmp_path / "first", tmp_path / "later", tmp_path / "out"
    first.mkdir(), later.mkdir()
    _write(first / "hrm_lm.completions.jsonl", [_c(11, "greedy", 0, "x = 1\n"), _c(12, "greedy", 0, ref[12]),
                                                _c(11, "sample", 0, "x = 1\n"), _c(11, "sample", 1, ref[11])])
    _write(first / "gpt2.completions.jsonl", [_c(t, k, i, "x = 1\n") for t in (11, 12)
                                              for k, i in (("greedy", 0), ("sample", 0), ("sample", 1))])
    for arm in ("hrm_lm", "gpt2"):
        _write(first / f"{arm}.metrics.jsonl", [{"event": "pretrain_done", "steps": 4, "tokens": 100, "stable": True}])
    _write(later / "hrm_lm.completions.jsonl", [_c(11, "greedy", 0, "x = 1\n"), _c(12, "greedy", 0, "x = 2\n"),
                                                _c(12, "sample", 0, ref[12]), _c(12, "sample", 1, "x = 3\n")])
    (later / "gputime.json").write_text(json.dumps({"timed_steps": 10, "s_per_batch": {"hrm_lm": 0.5, "gpt2": 0.25}}))
    stats = evaluate(first, MBPP, out, n_resamples=200, resumed=later)
    h = stats["arms"]["hrm_lm"]
    assert (h["n_tasks_sampled"], h["pass1"], h["pass10"]) == (2, 0.5, 1.0)  # task 12's samples came from `later`
    r = stats["resumed"]["arms"]["hrm_lm"]
    assert (r["tasks_sampled_added"], r["greedy_identical"], r["greedy_compared"], r["greedy_pass1"]) == (1, 1, 2, 0.0)
    assert stats["equal_budget"]["gpu_s_alone"]["pretraining_s"] == {"hrm_lm": 2.0, "gpt2": 1.0}
    assert "from a later call that retrained the arm" in (out / "report.md").read_text()
    # scoring again reuses the scored file: nothing new runs, same numbers
    again = evaluate(first, MBPP, out, n_resamples=200, resumed=later)
    assert again["arms"]["hrm_lm"] == h
