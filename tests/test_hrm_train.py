"""HRM trainer on CPU: learns beyond chance, resumes, stops on NaN, runs under torchrun (gloo)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hrm_agents.hrm import train as train_mod  # noqa: E402
from hrm_agents.hrm.config import load_json, train_config_from_dict  # noqa: E402
from hrm_agents.hrm.data import DataSpec, encode, eval_splits  # noqa: E402
from hrm_agents.hrm.model import load_model  # noqa: E402

TINY = Path(train_mod.__file__).parent / "configs" / "tiny.json"
REPO = Path(__file__).resolve().parents[1]
REFERENCE = json.loads((REPO / "tests" / "data" / "hrm_tiny_reference.json").read_text())


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny(**overrides):
    return train_config_from_dict({**load_json(TINY), **overrides})


def events(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_tiny_cpu_run_beats_chance_and_reproduces(tmp_path):
    """The CI config (800 steps, about 30 s on 2 cores) must clearly beat the majority baselines and
    reproduce its recorded run (tests/data/hrm_tiny_reference.json) within the stated tolerances."""
    cfg = tiny()
    assert cfg.seed == REFERENCE["seed"]
    final = train_mod.train(cfg, tmp_path, progress=False)
    res = final["results"][0]["test_id"]
    test = eval_splits(DataSpec(n_test_per_k=cfg.n_test_per_k))["test_id"]
    labels = encode(test)["labels"]
    slots = labels[labels != -100].reshape(len(labels), -1)
    token_chance = np.mean([np.bincount(col).max() / len(col) for col in slots.T])
    exact_chance = Counter(t.answer for t in test).most_common(1)[0][1] / len(test)
    exact = np.mean([res[k]["exact"] for k in (2, 3, 4)])
    token = np.mean([res[k]["token_acc"] for k in (2, 3, 4)])
    assert exact > exact_chance + 0.08, (exact, exact_chance)
    assert token > token_chance + 0.03, (token, token_chance)
    ev = events(tmp_path)
    train_lines = [e for e in ev if e["event"] == "train"]
    assert train_lines[-1]["loss"] < train_lines[0]["loss"]
    for key in ("grad_norm", "tokens_per_s", "avg_halt_steps", "q_halt_acc", "per_k"):
        assert key in train_lines[-1]
    assert {e["event"] for e in ev} >= {"start", "train", "eval", "final"}
    assert (tmp_path / "export" / "model.safetensors").exists() and (tmp_path / "eval.json").exists()
    tol = REFERENCE["tolerance"]
    recorded = np.mean([REFERENCE["test_id_exact"][str(k)] for k in (2, 3, 4)])
    assert abs(exact - recorded) <= tol["mean_exact_k2_4"], (exact, recorded)
    assert abs(train_lines[-1]["loss"] - REFERENCE["final_train_loss"]) <= tol["final_train_loss"], \
        (train_lines[-1]["loss"], REFERENCE["final_train_loss"])


def test_resume_continues_from_the_checkpoint(tmp_path):
    cfg = tiny(steps=20, ckpt_every=10, log_every=10, eval_every=1000, n_train_per_k=500, n_test_per_k=20)
    train_mod.train(cfg, tmp_path, progress=False)
    state = torch.load(tmp_path / "checkpoint" / "train_state.pt", weights_only=False)
    assert state["step"] == 20
    train_mod.train(tiny(**{**cfg.__dict__, "steps": 30}), tmp_path, progress=False, resume=True)
    ev = events(tmp_path)
    assert [e["step"] for e in ev if e["event"] == "resume"] == [20]
    assert [e["step"] for e in ev if e["event"] == "train"] == [10, 20, 30]
    assert torch.load(tmp_path / "checkpoint" / "train_state.pt", weights_only=False)["step"] == 30


def test_nan_stops_cleanly_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    cfg = tiny(steps=50, ckpt_every=10, log_every=10, eval_every=1000, n_train_per_k=500, n_test_per_k=20)
    real_loss, calls = train_mod.act_loss, []

    def poisoned(*args, **kw):
        loss, stats = real_loss(*args, **kw)
        calls.append(1)
        return (loss * float("nan") if len(calls) > 25 else loss), stats

    monkeypatch.setattr(train_mod, "act_loss", poisoned)
    with pytest.raises(train_mod.TrainingDiverged, match="step 25"):
        train_mod.train(cfg, tmp_path, progress=False, watchdog=train_mod.WatchdogConfig(max_recoveries=0))
    good, _ = load_model(tmp_path / "checkpoint")
    assert all(torch.isfinite(p).all() for p in good.parameters())
    assert torch.load(tmp_path / "checkpoint" / "train_state.pt", weights_only=False)["step"] == 20
    assert events(tmp_path)[-1]["event"] == "nan"
    assert not (tmp_path / "export").exists()


def test_cli_rejects_a_bad_config_in_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"steps": 5, "learning_rate": 1}))
    assert train_mod.main(["--config", str(bad), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "learning_rate" in err


@pytest.mark.timeout(120)
def test_torchrun_two_gloo_processes(tmp_path):
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({**load_json(TINY), "steps": 8, "log_every": 4, "eval_every": 8, "ckpt_every": 8,
                               "n_train_per_k": 300, "n_test_per_k": 20, "n_eval_per_k": 10}))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "hrm_agents.hrm.train", "--config", str(cfg), "--out", str(tmp_path / "run"),
                           "--device", "cpu", "--no-progress", "--threads", "1"],
                          env=env, capture_output=True, text=True, timeout=110)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ev = events(tmp_path / "run")
    start = next(e for e in ev if e["event"] == "start")
    assert start["world_size"] == 2
    last = [e for e in ev if e["event"] == "train"][-1]
    assert last["step"] == 8 and last["samples_loaded"] > 0
    assert (tmp_path / "run" / "checkpoint" / "train_state.pt").exists()
    state = torch.load(tmp_path / "run" / "checkpoint" / "train_state.pt", weights_only=False)
    assert len(state["samplers"]) == 2
