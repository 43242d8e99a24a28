"""E3 (issue 7): test tasks, exemplar selection by schedule, arm wiring, summary math, the HRM
training-curve reader, and end-to-end runs with the scripted backend (plus one on the embedded model)."""

from __future__ import annotations

import importlib.util
import json
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from hrm_agents.backends import ScriptedBackend
from hrm_agents.backends.base import BackendError, GenParams, Message
from hrm_agents.curriculum import ARITH, LIST, exemplars, from_canonical, generate, make_splits, parse_question, to_task
from hrm_agents.evaluation.generalisation import generalisation_gap
from hrm_agents.evaluation.records import AttemptRecord
from hrm_agents.evaluation.stats import wilson_ci
from hrm_agents.graphs.arms import single_call_arm
from hrm_agents.graphs.math import flat_arm
from hrm_agents.hrm.report import read_training_curve
from hrm_agents.runner import ArmConfig, RunAborted

from experiment_cli import experiment_main
from experiments.exp3_curriculum import e3


def last_question(messages: list[Message]):
    """The curriculum question of the last user message (the system message may hold exemplars)."""
    return parse_question([m for m in messages if m.role == "user"][-1].content)


def oracle(messages: list[Message], params: GenParams) -> str:
    """Right on k <= 4, wrong on k >= 5: accuracy 1 in distribution, 0 held out."""
    t = last_question(messages)
    return f"Some steps.\nAnswer: {t.answer if t.k <= 4 else t.answer + 1}"


# -- tasks and exemplars ---------------------------------------------------------------------------

def test_test_tasks_are_test_id_and_heldout_of_the_splits():
    tasks = exemplars.test_tasks(3, 4)
    assert Counter((t.family, t.k) for t in tasks) == {(f, k): 4 for f in (ARITH, LIST) for k in (2, 3, 4, 5, 6)}
    assert [t.k for t in tasks] == sorted(t.k for t in tasks)
    splits = make_splits(3, n_train_per_k=0, n_test_per_k=4)
    assert {t.canonical for t in tasks if t.k <= 4} == {t.canonical for t in splits["test_id"]}
    assert {t.canonical for t in tasks if t.k >= 5} == {t.canonical for t in splits["heldout"]}
    # the HRM trainer's evaluation splits (same seed, more tasks per k) contain them all
    hrm_eval = make_splits(3, n_train_per_k=0, n_test_per_k=50, families=[ARITH])
    assert {t.canonical for t in tasks if t.family == ARITH} <= {t.canonical for s in hrm_eval.values() for t in s}
    assert {(t.family, t.k) for t in exemplars.test_tasks(0, 1, [ARITH], [2, 6])} == {(ARITH, 2), (ARITH, 6)}


def test_exemplar_pool_never_shares_a_canonical_form_with_the_tests():
    tests = generate(ARITH, 2, 400, seed="e3-exemplars-0")  # the very stream the pool draws from
    pool = exemplars.exemplar_pool(0, 300, [ARITH], {t.canonical for t in tests})
    assert Counter(t.k for t in pool) == {2: 300, 3: 300, 4: 300}
    assert not {t.canonical for t in pool} & {t.canonical for t in tests}
    unguarded = exemplars.exemplar_pool(0, 300, [ARITH], ())
    assert {t.canonical for t in unguarded} & {t.canonical for t in tests}  # the exclusion is what prevents it


@pytest.fixture(scope="module")
def pool():
    tests = exemplars.test_tasks(0, 5)
    return exemplars.exemplar_pool(0, 8, [ARITH, LIST], {t.canonical for t in tests})


def test_select_exemplars_orders_counts_and_nests(pool):
    for budget, counts in ((2, {2: 1, 3: 1}), (4, {2: 2, 3: 1, 4: 1}), (8, {2: 3, 3: 3, 4: 2})):
        cur = exemplars.select_exemplars(pool, budget, "curriculum", seed=1)
        mixed = exemplars.select_exemplars(pool, budget, "mixed", seed=1)
        assert set(cur) == {ARITH, LIST}
        for family in cur:
            assert all(t.family == family for t in cur[family])
            assert [t.k for t in cur[family]] == sorted(t.k for t in cur[family])  # easy -> hard
            assert Counter(t.k for t in cur[family]) == counts
            assert sorted(t.id for t in mixed[family]) == sorted(t.id for t in cur[family])  # same exemplars
    big_cur, big_mixed = (exemplars.select_exemplars(pool, 8, s, seed=1)[ARITH] for s in exemplars.SCHEDULES)
    assert [t.k for t in big_mixed] != sorted(t.k for t in big_mixed)  # shuffled
    small = exemplars.select_exemplars(pool, 4, "curriculum", seed=1)[ARITH]
    assert {t.id for t in small} <= {t.id for t in big_cur}  # nested budgets
    assert exemplars.select_exemplars(pool, 0, "mixed") == {ARITH: [], LIST: []}
    with pytest.raises(ValueError, match="unknown schedule"):
        exemplars.select_exemplars(pool, 2, "random")
    with pytest.raises(ValueError, match="budget"):
        exemplars.select_exemplars(pool, -1, "mixed")


def test_worked_solution_shows_every_intermediate():
    t = from_canonical("37 +5 *2 %9")
    assert exemplars.worked_solution(t) == (f"Problem: {t.question}\nStep 1: 37 +5 = 42\nStep 2: 42 *2 = 84\n"
                                     "Step 3: 84 %9 = 3\nAnswer: 3")
    lst = from_canonical("[3,1,2] rev app5 get1")
    assert exemplars.worked_solution(lst).splitlines()[1:] == [
        "Step 1: [3,1,2] rev = [2,1,3]", "Step 2: [2,1,3] app5 = [2,1,3,5]", "Step 3: [2,1,3,5] get1 = 1", "Answer: 1"]


# -- arms ------------------------------------------------------------------------------------------

def test_llm_arms_wire_exemplars_by_schedule_and_budget(pool):
    arms, specs = e3.llm_arms({"flat": flat_arm}, exemplars.SCHEDULES, [0, 2, 4], pool, seed=1)
    assert list(arms) == [s.name for s in specs] == [
        "flat/0", "flat@curriculum/2", "flat@mixed/2", "flat@curriculum/4", "flat@mixed/4"]
    task = to_task(exemplars.test_tasks(0, 1, [LIST], [5])[0]).public()
    for spec in specs:
        backend = ScriptedBackend(oracle)
        outcome = arms[spec.name](task, backend, ArmConfig())
        (messages, _), = backend.calls
        system = messages[0].content
        shown = [q.id for q in exemplars.select_exemplars(pool, spec.budget, spec.schedule, 1)[LIST]] if spec.budget else []
        assert spec.exemplars.get(LIST, []) == shown
        assert outcome.meta.get("exemplars", []) == shown
        questions = [line[len("Problem: "):] for line in system.splitlines() if line.startswith("Problem: ")]
        by_id = {q.id: q for q in pool}
        assert system.count("Problem: ") == len(shown) and all(exemplars.worked_solution(by_id[i]) in system for i in shown)
        assert questions == [by_id[i].question for i in shown]  # in schedule order
        assert task.prompt in messages[-1].content and task.prompt not in system


def test_single_call_arm_answers_with_the_completion():
    task = to_task(from_canonical("7 *3 -4")).public()
    backend = ScriptedBackend(lambda m, p: str(last_question(m).answer))
    outcome = single_call_arm(backend)(task, ScriptedBackend([]), ArmConfig(max_tokens=8))
    assert (outcome.final, outcome.model_calls, outcome.iterations) == ("17", 1, 1)
    assert backend.calls[0][0] == [Message(role="user", content=task.prompt)]
    assert backend.calls[0][1].max_tokens == 8
    assert single_call_arm(ScriptedBackend(lambda m, p: ""))(task, None, ArmConfig()).final is None


def test_settings_check_rejects_bad_input():
    for bad, msg in ((dict(bases=["nope"]), "unknown arms"), (dict(schedules=["random"]), "unknown arms"),
                     (dict(bases=[]), "nothing to run"), (dict(n_per_k=0), "n_per_k"),
                     (dict(budgets=[]), "budget"), (dict(schedules=[]), "schedule"),
                     (dict(families=["x"]), "unknown or no families"),
                     (dict(families=[]), "no families"), (dict(hrm={"later": "p"}), "unknown arms")):
        with pytest.raises(ValueError, match=msg):
            e3.E3Settings(**bad).check()
    e3.E3Settings(schedules=[], budgets=[0]).check()


def test_hrm_leakage_warning():
    meta = {"train_config": {"data_seed": 0, "n_test_per_k": 50}}
    assert e3.hrm_leakage_warning("mixed", meta, 0, 50) is None
    assert "--seed 0" in e3.hrm_leakage_warning("mixed", meta, 1, 10)
    assert "n_per_k <= 50" in e3.hrm_leakage_warning("mixed", meta, 0, 51)
    assert e3.hrm_leakage_warning("mixed", {}, 0, 1)


# -- summary math ----------------------------------------------------------------------------------

def test_generalisation_gap_bootstraps_over_tasks():
    g = generalisation_gap([1, 1, 0, 0], [1, 1, 1, 1], n_resamples=2000)
    assert g["delta"] == pytest.approx(-0.5) and g["n_ood_tasks"] == 4 and g["n_id_tasks"] == 4
    lo, hi = g["ci95"]
    assert -1.0 <= lo < -0.5 < hi <= 0.0
    assert generalisation_gap([1, 1], [1, 1])["ci95"] == [0.0, 0.0]  # no spread, no width
    assert np.isnan(generalisation_gap([1], [0, 1])["ci95"][0])
    assert generalisation_gap([], [1])["delta"] is None


def _record(arm: str, task: str, k: int, passed: bool, sample: int = 0) -> AttemptRecord:
    return AttemptRecord(run_id="r", experiment=e3.EXPERIMENT, arm=arm, task_id=task, sample=sample, seed=sample,
                         passed=passed, meta={"k": k, "family": ARITH})


def test_summarize_fixed_records(tmp_path):
    specs = {s.name: s for s in (e3.ArmSpec("flat", None, 0), e3.ArmSpec("flat", "curriculum", 2),
                                 e3.ArmSpec("flat", "mixed", 2))}
    passes = {  # arm -> (task, k) -> passed
        "flat/0": {("a", 2): 1, ("b", 2): 0, ("c", 5): 0, ("d", 5): 0},
        "flat@curriculum/2": {("a", 2): 1, ("b", 2): 1, ("c", 5): 1, ("d", 5): 0},
        "flat@mixed/2": {("a", 2): 1, ("b", 2): 0, ("c", 5): 0, ("d", 5): 0},
    }
    records = [_record(arm, t, k, bool(p)) for arm, d in passes.items() for (t, k), p in d.items()]
    (tmp_path / "results.jsonl").write_text("".join(r.model_dump_json() + "\n" for r in records))
    (tmp_path / "config.json").write_text(json.dumps(
        {"settings": {"arms": list(specs)}, "e3": {"arms": {n: asdict(s) for n, s in specs.items()}}}))
    (tmp_path / "run_summary.json").write_text("{}")
    s = e3.summarize(tmp_path, n_resamples=500)
    cur = s["arms"]["flat@curriculum/2"]
    assert cur["by_k"]["2"] == {"n": 2, "passed": 2, "accuracy": 1.0, "ci95": list(wilson_ci(2, 2))}
    assert cur["by_k"]["5"]["accuracy"] == 0.5 and cur["accuracy"] == 0.75 and cur["ci95"] == list(wilson_ci(3, 4))
    assert (cur["id"]["accuracy"], cur["ood"]["accuracy"], cur["gap"]["delta"]) == (1.0, 0.5, -0.5)
    assert s["arms"]["flat/0"]["gap"]["delta"] == -0.5
    curves = s["accuracy_vs_budget"]["flat"]
    assert [(p["budget"], p["accuracy"]) for p in curves["curriculum"]] == [(0, 0.25), (2, 0.75)]
    assert [(p["budget"], p["accuracy"]) for p in curves["mixed"]] == [(0, 0.25), (2, 0.25)]
    effect = s["schedule_effect"]["flat/2"]
    assert (effect["curriculum"], effect["mixed"], effect["delta"], effect["n_tasks"]) == (0.75, 0.25, 0.5, 4)
    assert effect["ci95"][0] <= 0.5 <= effect["ci95"][1]
    assert effect["mcnemar_p"] == pytest.approx(0.5)  # 2 discordant pairs, both favour curriculum
    assert not s["partial"] and s["hrm_training"] == {}
    md = e3.summary_markdown(s)
    assert "| flat@curriculum/2 | 1.000 (2/2) | 0.500 (1/2) | 0.750 [0.301, 0.954] | -0.500 " in md
    paths = e3.plot_summary(s, tmp_path)
    if importlib.util.find_spec("matplotlib") is None:  # no `plots` extra: no figures, no error
        assert paths == []
    else:
        assert [p.name for p in paths] == ["e3_accuracy_vs_budget.png"] and paths[0].stat().st_size > 0


def _metrics(path: Path) -> None:
    per_k = lambda a, b: {"2": {"n": 10, "exact": a}, "4": {"n": 30, "exact": b}}  # noqa: E731
    lines = [
        {"event": "start", "config": {"schedule": "curriculum"}},
        {"event": "train", "step": 50, "samples_loaded": 64},
        {"event": "train", "step": 100, "samples_loaded": 40},
        {"event": "eval", "step": 100, "val": per_k(0.5, 0.1), "heldout": {"5": {"n": 20, "exact": 0.0}}},
        {"event": "train", "step": 150, "samples_loaded": 7},  # lost in a crash, re-logged after resume
        {"event": "resume", "step": 100},
        {"event": "train", "step": 150, "samples_loaded": 30},
        {"event": "eval", "step": 150, "val": per_k(1.0, 0.5), "heldout": {"5": {"n": 20, "exact": 0.25}}},
        {"event": "final",
         "results": [{"setting": {}, "test_id": {"2": {"exact": 0.9}}, "heldout": {"5": {"exact": 0.2}}}]},
    ]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines) + '{"event": "tra')  # a line cut by a kill


def test_read_training_curve(tmp_path):
    _metrics(tmp_path / "metrics.jsonl")
    c = read_training_curve(tmp_path / "metrics.jsonl")
    assert c["schedule"] == "curriculum"
    assert [(p["step"], p["examples_seen"]) for p in c["points"]] == [(100, 104), (150, 134)]
    assert c["points"][0]["val"] == {"exact": pytest.approx(0.2), "by_k": {"2": 0.5, "4": 0.1}}
    assert c["points"][1]["heldout"]["exact"] == 0.25
    assert c["final"] == {"test_id": {"2": 0.9}, "heldout": {"5": 0.2}}


def test_resolve_hrm(tmp_path):
    (tmp_path / "run" / "export").mkdir(parents=True)
    (tmp_path / "run" / "metrics.jsonl").write_text("")
    (tmp_path / "run" / "export" / "model.safetensors").write_text("")
    assert e3.resolve_hrm(tmp_path / "run") == (tmp_path / "run" / "export", tmp_path / "run" / "metrics.jsonl")
    run = tmp_path / "run"
    assert e3.resolve_hrm(run / "export") == (run / "export", run / "metrics.jsonl")
    with pytest.raises(ValueError, match="neither"):
        e3.resolve_hrm(tmp_path)


# -- end to end ------------------------------------------------------------------------------------

def test_run_e3_scripted(tmp_path):
    settings = e3.E3Settings(n_per_k=2, families=[ARITH], budgets=[0, 2])
    run_dir = e3.run_e3(settings, ScriptedBackend(oracle), out_root=tmp_path, progress=False)
    records = [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines()]
    assert Counter(r["arm"] for r in records) == {"flat/0": 10, "flat@curriculum/2": 10, "flat@mixed/2": 10}
    assert all(r["passed"] == (r["meta"]["k"] <= 4) and r["meta"]["family"] == ARITH for r in records)
    summary = json.loads((run_dir / e3.SUMMARY_FILE).read_text())
    for arm in summary["arms"].values():
        assert {k: v["accuracy"] for k, v in arm["by_k"].items()} == {"2": 1, "3": 1, "4": 1, "5": 0, "6": 0}
        assert arm["gap"]["delta"] == -1.0 and arm["gap"]["ci95"] == [-1.0, -1.0]
    assert summary["schedule_effect"]["flat/2"]["delta"] == 0.0
    config = json.loads((run_dir / "config.json").read_text())
    assert config["e3"]["arms"]["flat@curriculum/2"]["exemplars"][ARITH]
    figures = ("accuracy_vs_k.png", "e3_accuracy_vs_budget.png") if importlib.util.find_spec("matplotlib") else ()
    for name in ("report.md", "stats.json", "e3_summary.md", *figures):
        assert (run_dir / name).is_file(), name


def test_stopped_run_still_gets_a_summary(tmp_path):
    def down(messages, params):
        raise BackendError("server went away")

    with pytest.raises(RunAborted) as exc:
        e3.run_e3(e3.E3Settings(n_per_k=1, families=[ARITH], budgets=[0]), ScriptedBackend(down),
                  out_root=tmp_path, progress=False, max_consecutive_errors=2)
    summary = json.loads((exc.value.run_dir / e3.SUMMARY_FILE).read_text())
    assert summary["partial"] and summary["arms"]["flat/0"]["errors"] == 2
    with pytest.raises(ValueError, match="not an E3 run"):
        (tmp_path / "other").mkdir()
        (tmp_path / "other" / "results.jsonl").write_text("")
        e3.summarize(tmp_path / "other")


def test_cli_scripted(tmp_path, monkeypatch, capsys):
    import hrm_agents.cli_common as cli_common

    monkeypatch.setattr(cli_common, "backend_from_args", lambda args: ScriptedBackend(oracle))
    base = ["--out_root", str(tmp_path), "--no_progress"]
    code = experiment_main("exp3_curriculum")(["--n_per_k", "1", "--families", ARITH, "--ks", "2,5", "--budgets", "0,4", "--schedules",
                    "curriculum", "--arms", "flat,flat_tool", *base])
    assert code == 0
    (run_dir,) = (tmp_path / e3.EXPERIMENT).iterdir()
    summary = json.loads((run_dir / e3.SUMMARY_FILE).read_text())
    assert sorted(summary["arms"]) == ["flat/0", "flat@curriculum/4", "flat_tool/0", "flat_tool@curriculum/4"]
    assert summary["arms"]["flat/0"]["by_k"]["2"]["accuracy"] == 1.0
    assert "| flat/0 |" in capsys.readouterr().out
    for argv, msg in ((["--suite", "x.yaml"], "unrecognized arguments: --suite"), (["--arms", "hrm"], "needs --hrm_checkpoints"),
                      (["--budgets", "a"], "integers"), (["--n_per_k", "0"], "n_per_k"),
                      (["--hrm_checkpoints", "curriculum"], "SCHEDULE=PATH")):
        with pytest.raises(SystemExit) as exc:
            experiment_main("exp3_curriculum")([*argv, *base])
        assert exc.value.code == 2 and msg in capsys.readouterr().err
    assert experiment_main("exp3_curriculum")(["--arms", "hrm", "--hrm_checkpoints", f"mixed={tmp_path}", *base]) == 2
    assert "neither an HRM training folder" in capsys.readouterr().err


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch not installed")
def test_run_e3_hrm_arm(tmp_path):
    import torch

    from hrm_agents.curriculum import VOCAB
    from hrm_agents.hrm.config import model_config_from_dict
    from hrm_agents.hrm.model import HRM, save_model

    torch.manual_seed(0)
    model = HRM(model_config_from_dict({"vocab_size": len(VOCAB), "seq_len": 64, "hidden_size": 16, "num_heads": 1,
                                        "expansion": 1.0, "H_layers": 1, "L_layers": 1, "halt_max_steps": 2}))
    train_dir = tmp_path / "hrm-cur"
    save_model(model, train_dir / "export", meta={"vocab": list(VOCAB), "train_config": {
        "families": [ARITH], "data_seed": 1, "n_test_per_k": 100}})
    _metrics(train_dir / "metrics.jsonl")
    settings = e3.E3Settings(n_per_k=1, ks=[2, 5], bases=[], hrm={"curriculum": str(train_dir)})
    run_dir = e3.run_e3(settings, None, out_root=tmp_path / "runs", progress=False)
    records = [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines()]
    assert len(records) == 4 and {r["arm"] for r in records} == {"hrm@curriculum"}
    for r in records:
        trace = json.loads((run_dir / r["trace_path"]).read_text())["outcome"]["completion"]
        if r["meta"]["family"] == ARITH:
            assert r["model_calls"] == 1 and trace["finish_reason"] == "stop" and trace["extra"]["k"] == r["meta"]["k"]
        else:  # a family this checkpoint was not trained on
            assert trace["finish_reason"] == "unsupported" and r["final"] is None and not r["passed"]
    summary = json.loads((run_dir / e3.SUMMARY_FILE).read_text())
    assert summary["arms"]["hrm@curriculum"]["checkpoint"] == str(train_dir / "export")
    assert [p["examples_seen"] for p in summary["hrm_training"]["curriculum"]["points"]] == [104, 134]
    assert any("data_seed=1" in w for w in summary["warnings"])  # seed 0 tasks may be in its training data
    assert (run_dir / "e3_hrm_training.png").is_file()


@pytest.mark.integration
@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python not installed")
def test_exp3_cli_embedded_model(tmp_path):
    code = experiment_main("exp3_curriculum")(["--n_per_k", "1", "--families", ARITH, "--ks", "2,3", "--budgets", "0",
                        "--max_tokens", "48", "--model_name", "smollm2-135m", "--out_root", str(tmp_path), "--no_progress"])
    assert code == 0
    (run_dir,) = (tmp_path / e3.EXPERIMENT).iterdir()
    records = [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines()]
    assert len(records) == 2 and all(r["error"] is None and r["completion_tokens"] > 0 for r in records)
    summary = json.loads((run_dir / e3.SUMMARY_FILE).read_text())
    assert set(summary["arms"]["flat/0"]["by_k"]) == {"2", "3"}
