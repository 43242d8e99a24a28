"""E2 end to end on the embedded llama.cpp model: the CLI, all three arms, 2 math tasks, short
generations."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from experiment_cli import experiment_main

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.integration
@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python not installed")
def test_exp2_cli_embedded_model(tmp_path):
    main = experiment_main("exp2_pot_supervisor")
    code = main(["--suite", str(ROOT / "eval/suites/math_suite.yaml"), "--limit", "2", "--max_iters", "1",
                 "--max_tokens", "48", "--model_name", "smollm2-135m", "--out_root", str(tmp_path), "--no_progress"])
    assert code == 0
    (run_dir,) = (tmp_path / "exp2_pot_supervisor").iterdir()
    records = [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines()]
    assert sorted((r["arm"], r["task_id"]) for r in records) == sorted(
        (arm, t) for arm in ("flat", "flat_tool", "hier") for t in {r["task_id"] for r in records})
    assert len(records) == 6
    for r in records:
        assert r["error"] is None and r["model_calls"] >= 1 and r["completion_tokens"] > 0
        assert r["passed"] or r["failure_tags"], r
        trace = json.loads((run_dir / r["trace_path"]).read_text())["outcome"]
        assert len(trace["steps"]) >= r["model_calls"]
        if r["arm"] != "flat":
            assert len(r["meta"]["tool_calls_detail"]) == r["tool_calls"]
    hier = [r for r in records if r["arm"] == "hier"]
    assert all(r["iterations"] == 1 and r["model_calls"] >= 2 for r in hier)  # supervisor + executor(s) at least
    summary = json.loads((run_dir / "run_summary.json").read_text())
    assert not summary["partial"]
    assert "**E2 criterion, hier vs flat_tool:" in (run_dir / "report.md").read_text()
    assert json.loads((run_dir / "stats.json").read_text())["e2_criterion"]["time_budget_s"] > 0
