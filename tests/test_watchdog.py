"""Training watchdog: heartbeat and health lines, recovery from an injected NaN and from a loss spike
(restore the last good checkpoint, lower lr, finish), and a clean one-line stop after R recoveries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("psutil")

from hrm_agents.hrm import train as train_mod  # noqa: E402
from hrm_agents.hrm.config import load_json, train_config_from_dict  # noqa: E402
from hrm_agents.hrm.watchdog import WatchdogConfig  # noqa: E402

TINY = Path(train_mod.__file__).parent / "configs" / "tiny.json"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def small():
    return train_config_from_dict({**load_json(TINY), "steps": 40, "ckpt_every": 10, "log_every": 10,
                                   "eval_every": 1000, "n_train_per_k": 300, "n_test_per_k": 10,
                                   "n_eval_per_k": 10, "final_eval": []})


def events(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def poison(monkeypatch, bad_calls: set[int] | None = None, scale: float = float("nan"), after: int | None = None):
    """Multiply the loss by ``scale`` on the given call numbers (1-based), or on every call after ``after``."""
    real, n = train_mod.act_loss, [0]

    def poisoned(*args, **kw):
        loss, stats = real(*args, **kw)
        n[0] += 1
        hit = n[0] in (bad_calls or ()) or (after is not None and n[0] > after)
        return (loss * scale if hit else loss), stats
    monkeypatch.setattr(train_mod, "act_loss", poisoned)


@pytest.mark.parametrize("scale, reason", [(float("nan"), "non-finite"), (1e9, "loss above 1e+06")])
def test_poisoned_step_recovers_from_the_last_checkpoint_with_lower_lr(tmp_path, monkeypatch, scale, reason):
    poison(monkeypatch, {26}, scale)  # call 26 = step 25 (0-based step counter before the update)
    final = train_mod.train(small(), tmp_path, progress=False,
                            watchdog=WatchdogConfig(heartbeat_s=0, health_every_s=0, lr_factor=0.5))
    assert final["steps"] == 40
    ev = events(tmp_path)
    [rec] = [e for e in ev if e["event"] == "recover"]
    assert rec["step"] == 25 and rec["restored_step"] == 20 and reason in rec["reason"]
    assert rec["recovery"] == 1 and rec["lr_scale"] == 0.5
    train_lr = {e["step"]: e["lr"] for e in ev if e["event"] == "train"}
    assert list(train_lr) == [10, 20, 30, 40]  # steps 20-25 were re-run after the restore
    unpoisoned = small().lr_factor(30 - 1, 40) * small().lr
    assert train_lr[30] == pytest.approx(0.5 * unpoisoned)
    assert all(torch.isfinite(p).all() for p in train_mod.load_model(tmp_path / "export")[0].parameters())
    health = [e for e in ev if e["event"] == "health"]
    assert len(health) >= 40 and {"cpu_percent", "ram_percent", "rss_mb"} <= set(health[-1])
    assert 0 <= health[-1]["ram_percent"] <= 100 and health[-1]["rss_mb"] > 10
    beat = json.loads((tmp_path / "heartbeat.json").read_text())
    assert beat["status"] == "finished" and beat["step"] == 40 and beat["recoveries"] == 1


def test_persistent_nan_stops_after_r_recoveries_in_one_line(tmp_path, monkeypatch, capsys):
    poison(monkeypatch, after=15)
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({**load_json(TINY), "steps": 40, "ckpt_every": 10, "log_every": 10,
                               "eval_every": 1000, "n_train_per_k": 300, "n_test_per_k": 10, "n_eval_per_k": 10}))
    code = train_mod.main(["--config", str(cfg), "--out", str(tmp_path / "run"), "--no-progress",
                           "--max_recoveries", "2"])
    assert code == 3
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "after 2 recoveries" in err and "step 10" in err
    ev = events(tmp_path / "run")
    assert [e["restored_step"] for e in ev if e["event"] == "recover"] == [10, 10]
    assert json.loads((tmp_path / "run" / "heartbeat.json").read_text())["status"] == "stopped"
    assert torch.load(tmp_path / "run" / "checkpoint" / "train_state.pt", weights_only=False)["step"] == 10
    assert not (tmp_path / "run" / "export").exists()


def test_nan_before_any_checkpoint_stops_cleanly(tmp_path, monkeypatch):
    poison(monkeypatch, {3})
    with pytest.raises(train_mod.TrainingDiverged, match="no checkpoint to restore yet"):
        train_mod.train(small(), tmp_path, progress=False)


def test_no_checkpoint_during_a_loss_spike_so_recovery_goes_back_to_a_good_one(tmp_path, monkeypatch):
    real, n = train_mod.act_loss, [0]

    def drifting(*args, **kw):  # steps 22-29 report 50x the loss (a run drifting away), step 35 is NaN
        loss, stats = real(*args, **kw)
        n[0] += 1
        return loss * (50.0 if 23 <= n[0] <= 30 else float("nan") if n[0] == 36 else 1.0), stats
    monkeypatch.setattr(train_mod, "act_loss", drifting)
    train_mod.train(small(), tmp_path, progress=False, watchdog=WatchdogConfig(loss_window=5))
    ev = events(tmp_path)
    assert [e["step"] for e in ev if e["event"] == "checkpoint_skipped"] == [30]
    [rec] = [e for e in ev if e["event"] == "recover"]
    assert rec["step"] == 35 and rec["restored_step"] == 20  # not the step-30 state saved mid-spike
