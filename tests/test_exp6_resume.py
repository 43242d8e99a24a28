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


def test_equal_gpu_steps_match_the_reference_arms_gpu_time():
    from experiments.exp6_hrm_codegen.pipeline import equal_gpu_steps

    steps = equal_gpu_steps({"hrm_lm": 0.126, "gpt2": 0.111, "lm27": 0.040}, 400)
    assert steps == {"hrm_lm": 400, "gpt2": 454, "lm27": 1260}
    assert equal_gpu_steps({"hrm_lm": 0.001, "gpt2": 10.0}, 4)["gpt2"] == 1  # never zero batches


@pytest.mark.skipif(not MBPP.is_file(), reason="../shared/data/mbpp.jsonl not present")
def test_evaluate_takes_each_arm_from_the_first_folder_that_has_it(tmp_path):
    """Baselines retrained at equal GPU time (folder `equal`) beside the first call's HRM-LM (`first`)."""
    from experiments.exp6_hrm_codegen.report import evaluate
    from hrm_agents.hrm.code_data import mbpp_rows

    ref = {r["task_id"]: r["code"] for r in mbpp_rows(MBPP, [11, 12])}
    first, equal, out = tmp_path / "first", tmp_path / "equal", tmp_path / "out"
    first.mkdir(), equal.mkdir()
    for folder, arm, steps, texts in ((first, "hrm_lm", 4, ("x = 1\n", "x = 1\n")), (first, "gpt2", 4, ("x = 1\n",) * 2),
                                      (equal, "gpt2", 8, (ref[11], ref[12]))):
        _write(folder / f"{arm}.completions.jsonl", [_c(t, "greedy", 0, x) for t, x in zip((11, 12), texts)])
        _write(folder / f"{arm}.metrics.jsonl",
               [{"event": "pretrain_done", "steps": steps, "tokens": 10 * steps, "stable": True}])
    (equal / "gputime.json").write_text(json.dumps({"timed_steps": 10, "s_per_batch": {"hrm_lm": 0.5, "gpt2": 0.25}}))
    stats = evaluate([equal, first], MBPP, out, n_resamples=200)
    assert stats["sources"] == {"hrm_lm": str(first), "gpt2": str(equal)}
    assert (stats["arms"]["gpt2"]["pass1"], stats["arms"]["hrm_lm"]["pass1"]) == (1.0, 0.0)
    budget = stats["equal_budget"]
    assert budget["pretraining_tokens"] == {"hrm_lm": 40, "gpt2": 80} and not budget["equal"]
    assert budget["gpu_s_alone"]["pretraining_s"] == {"hrm_lm": 2.0, "gpt2": 2.0}
    report = (out / "report.md").read_text()
    assert "Pretraining tokens: NOT equal" in report and f"Arms from different calls: hrm_lm {first}" in report


def test_equal_gpu_needs_the_timing(capsys):
    from tests.experiment_cli import experiment_main

    with pytest.raises(SystemExit) as e:
        experiment_main("exp6_hrm_codegen")(["--plan", "train", "--out", "/tmp/x", "--equal_gpu", "--mbpp", str(__file__)])
    assert e.value.code == 2 and "--equal_gpu needs --time_steps" in capsys.readouterr().err


@pytest.mark.skipif(not MBPP.is_file(), reason="../shared/data/mbpp.jsonl not present")
def test_train_plan_at_equal_gpu_time_trains_each_arm_its_own_batches(tmp_path):
    """The device script's path on the CPU at smoke sizes: time every arm, then train each the batches
    that equal the HRM-LM's GPU time; the arms' logs show exactly those batches."""
    pytest.importorskip("tokenizers")
    from experiments.exp6_hrm_codegen.pipeline import equal_gpu_steps
    from tests.experiment_cli import experiment_main

    rc = experiment_main("exp6_hrm_codegen")(["--plan", "train", "--sizes", "smoke", "--out", str(tmp_path),
                                              "--arms", "gpt2,lm27", "--time_steps", "4", "--equal_gpu",
                                              "--steps", "6", "--workers", "1"])
    assert rc == 0
    timing = json.loads((tmp_path / "gputime.json").read_text())
    want = equal_gpu_steps(timing["s_per_batch"], 6)
    assert timing["equal_gpu"] and timing["steps"] == {"gpt2": want["gpt2"], "lm27": want["lm27"]}
    for arm in ("gpt2", "lm27"):
        done = [json.loads(x) for x in (tmp_path / f"{arm}.metrics.jsonl").read_text().splitlines()
                if '"pretrain_done"' in x]
        assert (done[0]["steps"], done[0]["planned_steps"]) == (want[arm], want[arm])
    assert not (tmp_path / "hrm_lm.metrics.jsonl").exists()
