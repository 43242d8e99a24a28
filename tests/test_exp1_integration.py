"""E1 end to end on the embedded llama.cpp model (SmolLM2-135M): the CLI, arms flat and hier,
3 coding tasks, short generations."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from experiment_cli import experiment_main

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.integration
@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python not installed")
def test_exp1_cli_embedded_model(tmp_path):
    main = experiment_main("exp1_decomp_vs_flat")
    code = main(["--suite", str(ROOT / "eval/suites/coding_suite.yaml"), "--limit", "3", "--arms", "flat,hier",
                 "--max_iters", "2", "--max_tokens", "128", "--model_name", "smollm2-135m", "--out_root", str(tmp_path), "--no_progress"])
    assert code == 0
    (run_dir,) = (tmp_path / "exp1_decomp_vs_flat").iterdir()
    config = json.loads((run_dir / "config.json").read_text())
    assert config["backend_describe"]["backend"] == "llamacpp" and config["settings"]["max_tokens"] == 128
    records = [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines()]
    assert sorted((r["arm"], r["task_id"]) for r in records) == sorted(
        (arm, t) for arm in ("flat", "hier") for t in config["settings"]["tasks"])
    for r in records:
        assert r["error"] is None and r["completion_tokens"] > 0 and r["prompt_tokens"] > 0
        assert r["passed"] or r["failure_tags"], r
        trace = json.loads((run_dir / r["trace_path"]).read_text())["outcome"]
        llm_steps = [s for s in trace["steps"] if s["kind"] == "llm"]
        assert len(llm_steps) == r["model_calls"] and all(s["completion_tokens"] <= 128 for s in llm_steps)
        if r["arm"] == "flat":
            assert r["model_calls"] == r["iterations"] == 1
        else:
            assert llm_steps[0]["node"] == "planner" and 1 <= r["iterations"] <= 2 and r["model_calls"] >= 2
            assert "planner_tests" in trace and "rejected_tests" in trace
    summary = json.loads((run_dir / "run_summary.json").read_text())
    assert not summary["partial"] and set(summary["arms"]) == {"flat", "hier"}
    assert summary["arms"]["hier"]["mean_model_calls"] > summary["arms"]["flat"]["mean_model_calls"]
    assert (run_dir / "report.md").read_text().strip()
