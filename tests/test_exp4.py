"""E4 HRM ablations: smoke plan end to end on CPU + report, resume, equal budgets, calibration and
seed statistics on hand-computed values, and that each ablation hook changes the model as claimed."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from experiment_cli import experiment_main  # noqa: E402
from experiments.exp4_hrm_ablations import plan as e4_plan  # noqa: E402
from experiments.exp4_hrm_ablations import runs as e4_runs  # noqa: E402
from hrm_agents import cli  # noqa: E402
from hrm_agents.evaluation.ablation import aggregate  # noqa: E402
from hrm_agents.evaluation.ablation_report import question_paragraph  # noqa: E402
from hrm_agents.evaluation.calibration import (expected_calibration_error, pool_bins,  # noqa: E402
                                               reliability_bins, reliability_curve)
from hrm_agents.evaluation.stats import t_interval, welch_interval  # noqa: E402
from hrm_agents.hrm import ablations  # noqa: E402
from hrm_agents.hrm.config import ModelConfig  # noqa: E402
from hrm_agents.hrm.data import CurriculumSampler  # noqa: E402
from hrm_agents.hrm.model import HRM, n_params  # noqa: E402

SEEDS = ["0", "1"]
e4_main = experiment_main("exp4_hrm_ablations")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> Path:
    """The whole smoke plan (11 arms x 2 seeds, tiny model, 8 steps each) trained once on CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("exp4")
    try:
        assert e4_main(["--plan", "smoke", "--seeds", *SEEDS, "--out", str(out), "--device", "cpu"]) == 0
    finally:
        torch.set_num_threads(threads)
    return out


def test_smoke_plan_runs_end_to_end_and_report_renders_every_question(smoke):
    results = json.loads((smoke / "results.json").read_text())
    assert set(results["questions"]) == set(e4_plan.QUESTIONS)
    assert len(results["runs"]) == 11 * len(SEEDS) and not results["errors"]
    for q, arms in e4_plan.QUESTIONS.items():
        qd = results["questions"][q]
        assert list(qd["arms"]) == list(arms) and qd["budget_equal"] and not qd["missing"]
        for arm, st in qd["arms"].items():
            assert st["seeds"] == [0, 1]
            assert set(st["exact_by_k"]) == {"2", "3", "4", "5", "6"}
            lo, hi = st["gap"]["ci95"]
            assert lo <= st["gap"]["mean"] <= hi
            assert st["flops_per_task"]["mean"] > 0 and st["wall_s_per_task"]["mean"] > 0
            if arm != "base":
                assert set(st["vs_reference"]) == {"id_exact", "heldout_exact", "gap", "ece"}
    run = json.loads((smoke / "runs" / "base-s0" / "result.json").read_text())
    assert run["steps"] == 8 and sum(run["calibration"]["n"]) == 5 * 20
    assert not (smoke / "runs" / "base-s0" / "checkpoint").exists()  # no optimiser state kept
    train_lines = [json.loads(line) for line in (smoke / "runs" / "base-s0" / "metrics.jsonl").read_text().splitlines()
                   if '"train"' in line]
    seen = [e["examples_seen"] for e in train_lines]
    assert seen == sorted(seen) and seen[-1] == run["examples_seen"] == sum(e["samples_loaded"] for e in train_lines)

    # the evaluator's report command renders the exp4 folder (re-aggregating it)
    (smoke / "report.md").unlink()
    assert cli.main(["report", str(smoke)]) == 0
    md = (smoke / "report.md").read_text()
    for q in ("H/L cycles", "HRM vs plain transformers", "Halting rule", "Curriculum vs mixed schedule",
              "Calibration of the Q-halt head"):
        assert f"## {q}" in md
    assert md.count("| k=2 | k=3 | k=4 | k=5 (held out) | k=6 (held out) | gap") == 4
    assert "What the numbers support" in md and "ECE per seed" in md
    pngs = {p.name for p in smoke.glob("*.png")}
    assert pngs == {f"exp4_{q}_accuracy_vs_k.png" for q in ("cycles", "transformer", "halting", "schedule")} | \
        {"exp4_reliability.png"}


def test_resume_skips_finished_runs_and_refuses_a_changed_plan(smoke, monkeypatch, capsys):
    def boom(*a, **k):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(e4_runs, "run_one", boom)
    assert e4_main(["--plan", "smoke", "--seeds", *SEEDS, "--out", str(smoke), "--no-report"]) == 0
    assert f"{11 * len(SEEDS)} skipped" in capsys.readouterr().out
    # a run whose result was made with other settings is not silently mixed in
    assert e4_main(["--plan", "smoke", "--seeds", "0", "--steps", "5", "--out", str(smoke), "--no-report"]) == 2
    assert "another config" in capsys.readouterr().err


def test_unfinished_run_is_retrained(smoke, tmp_path, monkeypatch):
    out = tmp_path / "exp4"
    shutil.copytree(smoke, out)
    (out / "runs" / "curriculum-s1" / "result.json").unlink()
    trained = []
    monkeypatch.setattr(e4_runs, "run_one", lambda spec, *a, **k: trained.append(spec.run_id) or
                        {"run_id": spec.run_id, "status": "done", "wall_s": 0.0, "id_exact": 0.0})
    assert e4_main(["--plan", "smoke", "--seeds", *SEEDS, "--out", str(out), "--no-report"]) == 0
    assert trained == ["curriculum-s1"]


def test_equal_steps_and_data_per_arm_are_enforced(smoke, tmp_path, monkeypatch):
    base, runs = e4_plan.make_plan("full")
    assert len(runs) == 33
    for key in ablations.BUDGET_KEYS:
        assert len({json.dumps(r.config[key]) for r in runs}) == 1, key
    assert {r.config["steps"] for r in e4_plan.make_plan("full", steps=123)[1]} == {123}
    # an arm may not change the budget
    real = ablations.arm_overrides
    monkeypatch.setattr(ablations, "arm_overrides",
                        lambda arm, b: ({}, {"steps": 5}) if arm == "curriculum" else real(arm, b))
    with pytest.raises(ablations.PlanError, match="may not change steps"):
        e4_plan.make_plan("smoke", questions=["schedule"])
    monkeypatch.undo()
    # results trained at different budgets are flagged by the aggregation and the report
    out = tmp_path / "exp4"
    shutil.copytree(smoke, out)
    path = out / "runs" / "curriculum-s0" / "result.json"
    res = json.loads(path.read_text())
    res["config"]["steps"] = 99
    path.write_text(json.dumps(res))
    agg = aggregate(out)
    assert not agg["questions"]["schedule"]["budget_equal"] and agg["questions"]["cycles"]["budget_equal"]
    assert "not trained at one budget" in question_paragraph(agg, "schedule")


def test_reliability_bins_and_ece_on_hand_computed_values():
    conf = [0.1, 0.2, 0.85, 0.95, 0.3, 0.35, 1.0]
    hit = [0, 1, 1, 1, 1, 0, 1]
    bins = reliability_bins(conf, hit)
    assert bins["n"] == [0, 1, 1, 2, 0, 0, 0, 0, 1, 2]  # 1.0 falls in the last bin
    # |0-0.1| + |1-0.2| + |1-0.85| + |(1+0)-(0.3+0.35)| + |(1+1)-(0.95+1.0)| over 7 samples
    assert expected_calibration_error(bins) == pytest.approx((0.1 + 0.8 + 0.15 + 0.35 + 0.05) / 7)
    curve = reliability_curve(bins)
    assert curve[2] == pytest.approx({"lo": 0.3, "hi": 0.4, "n": 2, "confidence": 0.325, "accuracy": 0.5})
    # pooling runs equals binning their samples together
    pooled = pool_bins([reliability_bins(conf[:3], hit[:3]), reliability_bins(conf[3:], hit[3:])])
    assert pooled["n"] == bins["n"] and np.allclose(pooled["conf_sum"], bins["conf_sum"])
    assert expected_calibration_error(reliability_bins([0.9] * 10, [1] * 9 + [0])) == pytest.approx(0.0)
    assert math.isnan(expected_calibration_error(reliability_bins([], [])))
    with pytest.raises(ValueError):
        reliability_bins([1.2], [1])


def test_t_interval_across_seeds():
    mean, lo, hi = t_interval([0.5, 0.7, 0.9])
    half = 4.302652729911275 * 0.2 / math.sqrt(3)  # t(0.975, df=2) * sd / sqrt(n)
    assert (mean, lo, hi) == pytest.approx((0.7, 0.7 - half, 0.7 + half))
    assert t_interval([0.4])[0] == 0.4 and math.isnan(t_interval([0.4])[1])
    assert t_interval([0.3, 0.3, 0.3]) == pytest.approx((0.3, 0.3, 0.3))
    from scipy import stats
    a, b = [0.5, 0.7, 0.9], [0.4, 0.45, 0.6, 0.52]
    ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert welch_interval(a, b) == pytest.approx((np.mean(a) - np.mean(b), ci.low, ci.high))


def _model(**kw) -> HRM:
    cfg = {**e4_plan.PLANS["full"]["model"], **kw}
    return HRM(ModelConfig(vocab_size=36, seq_len=64, **cfg))


def test_hooks_change_the_model_as_claimed():
    torch.manual_seed(0)
    base = e4_plan.PLANS["full"]
    hrm = _model()
    flat_cfg = ablations.arm_config("transformer", base, 0)["model"]
    deep_cfg = ablations.arm_config("transformer_deep", base, 0)["model"]
    flat, deep = _model(**flat_cfg), _model(**deep_cfg)
    assert abs(n_params(flat) / n_params(hrm) - 1) < 0.10  # matched parameter count
    assert len(deep.core.stack.layers) == 2 * (2 * 2 + 2) == hrm.config.deep_transformer_layers()
    assert ablations.arm_config("cycles_1x4", base, 0)["model"] == {**base["model"], "H_cycles": 1, "L_cycles": 4}
    assert ablations.step_cost(ablations.arm_config("cycles_4x4", base, 0)["model"]) > ablations.step_cost(base["model"])


def test_random_halting_varies_segments_in_training():
    torch.manual_seed(0)
    m = HRM(ModelConfig(vocab_size=20, seq_len=8, hidden_size=16, num_heads=2, H_layers=1, L_layers=1,
                        halt_mode="random", halt_max_steps=6)).train()
    batch = {"inputs": torch.randint(3, 20, (64, 8)), "labels": torch.randint(0, 20, (64, 8))}
    carry = m.initial_carry(batch)
    halted_at = []
    for _ in range(12):
        carry, out = m(carry, batch)
        halted_at += carry.steps[carry.halted].tolist()
        assert "target_q_continue" not in out
    assert len(set(halted_at)) >= 4 and min(halted_at) >= 1 and max(halted_at) <= 6


def test_equilibrium_stops_early_only_when_the_residual_of_z_H_is_small():
    torch.manual_seed(0)
    m = HRM(ModelConfig(vocab_size=20, seq_len=8, hidden_size=16, num_heads=2, H_layers=1, L_layers=1,
                        halt_mode="equilibrium", halt_max_steps=6, equilibrium_tol=1e-3)).eval()
    inputs = torch.randint(3, 20, (5, 8))
    fixed_point = torch.randn(5, 8, 16)

    def converged(z_H, z_L, x, rope, mask):  # z_H reaches a fixed point after its first update
        return fixed_point[: len(z_H)], z_L

    def moving(z_H, z_L, x, rope, mask):  # z_H changes by 10% every segment
        return z_H * 1.1 + 0.1, z_L

    m.core.forward = converged
    assert m.predict(inputs).steps.tolist() == [2] * 5  # residual 0 at segment 2
    m.core.forward = moving
    assert m.predict(inputs).steps.tolist() == [6] * 5  # never below the tolerance: runs to the limit


def test_curriculum_stage_cap_promotes_and_fills_every_batch():
    ks = np.repeat([2, 3, 4], 50)
    s = CurriculumSampler(ks, [2, 3, 4], threshold=0.99, seed=0, max_per_stage=30)
    batch = s.next(40)  # crosses the cap of stage 2
    assert len(batch) == 40 and set(ks[batch[:30]]) == {2} and set(ks[batch[30:]]) == {3}
    promo = s.report({3: (0.1, 100)}, min_count=10)
    assert promo["reason"] == "max_per_stage" and promo["from_k"] == 2 and s.report({}, 10) is None
    assert len(s.next(100)) == 100 and s.stage == 4
