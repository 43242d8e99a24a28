"""Trackers: one experiment run and one HRM training run, each logged to MLflow (local SQLite store)
and to W&B (offline), read back from disk: params, per-step metrics, final stats, report artifacts;
without the package, one line naming the install command."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from hrm_agents.backends import GenParams, Message, ScriptedBackend
from hrm_agents.runner import ArmConfig, ArmOutcome, RunAborted, run_experiment
from hrm_agents.tasks.schema import Task
from hrm_agents.tracking import TrackerError, check_tracker

N_TASKS = 4


def need(package: str) -> None:
    if importlib.util.find_spec(package) is None:
        pytest.skip(f"{package} not installed: pip install -e .[track]")


def echo_arm(task, backend, cfg: ArmConfig) -> ArmOutcome:
    c = backend.complete([Message(role="user", content=task.id)], GenParams(seed=cfg.seed))
    return ArmOutcome(final=c.text, model_calls=1, iterations=1, completion_tokens=c.completion_tokens,
                      call_latencies_s=[0.1])


def experiment(tmp_path: Path, tracker: str) -> Path:
    """flat answers t0 and t1 right, t2 and t3 wrong; hier answers all right."""
    tasks = [Task(id=f"t{i}", kind="math", prompt="1+1?", answer="2") for i in range(N_TASKS)]
    backend = ScriptedBackend(lambda m, p: "2" if m[-1].content in ("t0", "t1") or p.seed == 100 else "3")

    def hier(task, backend, cfg):
        return echo_arm(task, backend, cfg.model_copy(update={"seed": 100}))
    return run_experiment("exp_track", tasks, {"flat": echo_arm, "hier": hier}, backend, out_root=tmp_path,
                          progress=False, tracker=tracker)


def test_experiment_in_mlflow(tmp_path):
    need("mlflow")
    from mlflow import MlflowClient

    run_dir = experiment(tmp_path, "mlflow")
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    [run] = client.search_runs([client.get_experiment_by_name("exp_track").experiment_id])
    assert run.info.run_name == run_dir.name and run.info.status == "FINISHED"
    assert run.data.params["samples"] == "1" and run.data.params["arms"] == "['flat', 'hier']"
    assert run.data.params["backend/backend"] == "scripted"
    history = client.get_metric_history(run.info.run_id, "flat/pass_rate")
    assert len(history) == N_TASKS and history[-1].value == 0.5
    assert sorted(m.step for m in history) == sorted({m.step for m in history})
    # MLflow metric names allow no "@": pass@1 is logged as pass_1
    assert run.data.metrics["final/arms/hier/pass_1"] == 1.0 and run.data.metrics["final/arms/flat/pass_1"] == 0.5
    assert run.data.metrics["final/comparisons/hier_vs_flat/delta"] == 0.5
    assert {"report.md", "stats.json", "run_summary.json", "config.json"} <= \
        {a.path for a in client.list_artifacts(run.info.run_id)}


def test_experiment_in_wandb_offline(tmp_path, monkeypatch):
    need("wandb")
    from wandb_log import read_run

    monkeypatch.setenv("WANDB_SILENT", "true")
    run_dir = experiment(tmp_path, "wandb")
    logged = read_run(run_dir)
    assert logged["config"]["samples"] == "1" and logged["config"]["experiment"] == '"exp_track"'
    flat = [h for h in logged["history"] if "flat/pass_rate" in h]
    assert len(flat) == N_TASKS and float(flat[-1]["flat/pass_rate"]) == 0.5
    assert float(logged["summary"]["arms/hier/pass@1"]) == 1.0
    assert float(logged["summary"]["comparisons/hier_vs_flat/delta"]) == 0.5
    assert {"report.md", "stats.json", "run_summary.json", "config.json"} <= set(logged["artifacts"])
    assert logged["exit_code"] == 0


def test_same_run_in_mlflow_and_wandb(tmp_path, monkeypatch):
    need("mlflow")
    need("wandb")
    from mlflow import MlflowClient
    from wandb_log import read_run

    monkeypatch.setenv("WANDB_SILENT", "true")
    run_dir = experiment(tmp_path, "wandb,mlflow")
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    [run] = client.search_runs([client.get_experiment_by_name("exp_track").experiment_id])
    logged = read_run(run_dir)
    assert run.info.run_name == run_dir.name and logged["config"]["run_dir"] == json.dumps(str(run_dir))
    assert run.data.metrics["final/arms/hier/pass_1"] == float(logged["summary"]["arms/hier/pass@1"]) == 1.0


def test_missing_package_is_one_line_naming_the_install(tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a))
    with pytest.raises(TrackerError, match=r"pip install -e \.\[track\]"):
        check_tracker("wandb")
    with pytest.raises(RunAborted, match=r"--tracker wandb needs the wandb package: pip install -e \.\[track\]"):
        experiment(tmp_path, "wandb")
    assert not (tmp_path / "exp_track").exists()  # nothing started


@pytest.mark.parametrize("kind", ["mlflow", "wandb"])
def test_hrm_training_in_tracker(tmp_path, kind, monkeypatch):
    need(kind)
    torch = pytest.importorskip("torch")
    from hrm_agents.hrm import train as train_mod
    from hrm_agents.hrm.config import load_json, train_config_from_dict

    monkeypatch.setenv("WANDB_SILENT", "true")
    torch.set_num_threads(1)
    cfg = train_config_from_dict({**load_json(Path(train_mod.__file__).parent / "configs" / "tiny.json"),
                                  "steps": 20, "log_every": 5, "eval_every": 10, "ckpt_every": 10,
                                  "n_train_per_k": 300, "n_test_per_k": 10, "n_eval_per_k": 10})
    out = tmp_path / "hrm-run"
    train_mod.train(cfg, out, progress=False, tracker=kind)
    if kind == "mlflow":
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
        [run] = client.search_runs([client.get_experiment_by_name("hrm_train").experiment_id])
        assert run.info.status == "FINISHED" and run.data.params["lr"] == str(cfg.lr)
        assert [m.step for m in client.get_metric_history(run.info.run_id, "train/loss")] == [5, 10, 15, 20]
        assert "train/grad_norm" in run.data.metrics and "eval/heldout/5/exact" in run.data.metrics
        assert "final/steps" in run.data.metrics
        assert {"metrics.jsonl", "eval.json"} <= {a.path for a in client.list_artifacts(run.info.run_id)}
    else:
        from wandb_log import read_run

        logged = read_run(out)
        assert [int(h["_step"]) for h in logged["history"] if "train/loss" in h] == [5, 10, 15, 20]
        assert logged["config"]["lr"] == json.dumps(cfg.lr) and float(logged["summary"]["steps"]) == 20
        assert {"metrics.jsonl", "eval.json"} <= set(logged["artifacts"]) and logged["exit_code"] == 0
