"""E4's runs: train one arm and seed, score it per k, and run a plan (resumable, in parallel).

Each run trains with :func:`hrm_agents.hrm.train.train` into ``<out>/runs/<arm>-s<seed>/`` (the
generated data is cached once in ``<out>/data/``), then scores its exported model on the full
``test_id`` (k = 2-4) and ``heldout`` (k = 5-6) splits per k with
:func:`hrm_agents.hrm.ablations.measure_by_k` (halting by the config's ``eval_halt_mode``), into
``result.json``; a run trained with ``select_k`` also scores its selected weights (``best/``) there,
under ``selected``. A run with a ``result.json`` is finished and skipped on the next call (resume).
"""

from __future__ import annotations

import json
import shutil
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from experiments.exp4_hrm_ablations.plan import PLANS, RunSpec
from hrm_agents.hrm.ablations import PlanError, measure_by_k, step_cost
from hrm_agents.hrm.config import TrainConfig, train_config_from_dict
from hrm_agents.hrm.data import DataSpec, load_data
from hrm_agents.utils.jsonio import write_json


def run_status(spec: RunSpec, out_dir: Path) -> str:
    """``done`` (a result.json of this very config), ``todo``; raises :class:`PlanError` when the
    folder holds a finished run of another config."""
    path = out_dir / "runs" / spec.run_id / "result.json"
    if not path.exists():
        return "todo"
    if json.loads(path.read_text()).get("config") != spec.config:
        raise PlanError(f"{path} was made with another config (steps or settings changed); use another --out")
    return "done"


def run_one(spec: RunSpec, out_dir: str | Path, device: str | None = None,
            threads: int | None = None) -> dict[str, Any]:
    """Train one run and score its exported model; writes ``result.json`` (or ``error.json``).

    Returns a short status dict. Never raises for a failed run (the error is recorded), so one bad
    arm does not stop the others.
    """
    import torch

    from hrm_agents.hrm.evaluate import to_tensors
    from hrm_agents.hrm.model import load_model, n_params
    from hrm_agents.hrm.train import train

    out_dir = Path(out_dir)
    run_dir = out_dir / "runs" / spec.run_id
    shutil.rmtree(run_dir, ignore_errors=True)  # an unfinished run starts over
    run_dir.mkdir(parents=True)
    if threads:
        torch.set_num_threads(threads)
    t0 = time.perf_counter()
    try:
        cfg: TrainConfig = train_config_from_dict(spec.config)
        final = train(cfg, run_dir, progress=False, device=device, data_cache=out_dir / "data")
        dev = torch.device("cuda" if device in (None, "cuda") and torch.cuda.is_available() else "cpu")
        model, _ = load_model(run_dir / "export", dev)
        _, evals = load_data(DataSpec.of(spec.config), cache_dir=out_dir / "data")
        data = {name: to_tensors(evals[name], dev) for name in ("test_id", "heldout")}
        per_k, calibration = measure_by_k(model, data, cfg.eval_halt_mode)
        selected = None
        if (run_dir / "best").exists():  # the weights chosen on the selection split (select_k)
            best, meta = load_model(run_dir / "best", dev)
            selected = {"step": meta["step"], "select_k": meta["select_k"], "select_exact": meta["select_exact"],
                        "per_k": per_k if meta["step"] == final["steps"] else measure_by_k(best, data, cfg.eval_halt_mode)[0]}
        result = {"run_id": spec.run_id, "arm": spec.arm, "seed": spec.seed, "config": spec.config,
                  "n_params": n_params(model), "blocks_per_segment": model.config.blocks_per_segment(),
                  "steps": final["steps"],
                  "examples_seen": final["examples_seen"], "train_s": final["train_s"],
                  "device": str(dev), "per_k": per_k,
                  "calibration": calibration, "selected": selected,
                  "wall_s": time.perf_counter() - t0}
        write_json(run_dir / "result.json", result)
        shutil.rmtree(run_dir / "checkpoint", ignore_errors=True)  # optimiser state: not needed any more
        return {"run_id": spec.run_id, "status": "done", "wall_s": result["wall_s"],
                "id_exact": np.mean([per_k[str(k)]["exact"] for k in spec.config["train_ks"]])}
    except Exception as e:  # noqa: BLE001 - recorded, the plan goes on
        write_json(run_dir / "error.json", {"run_id": spec.run_id, "error": f"{type(e).__name__}: {e}"})
        return {"run_id": spec.run_id, "status": "error", "error": f"{type(e).__name__}: {e}",
                "wall_s": time.perf_counter() - t0}


def run_plan(base: dict[str, Any], runs: Sequence[RunSpec], out_dir: str | Path, *, device: str | None = None,
             parallel: int = 1, deadline_s: float | None = None, log: Callable[[str], None] = print) -> dict[str, str]:
    """Run what is not finished yet; returns ``{run_id: done|error|skipped|not started}``.

    Data is generated once (``<out>/data``) before any run starts. ``parallel`` > 1 runs that many
    training processes at once (spawned; one torch thread each). No run starts after ``deadline_s``
    seconds; those are reported ``not started`` and a later call resumes them.
    """
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    status = {r.run_id: "skipped" for r in runs if run_status(r, out_dir) == "done"}
    todo = [r for r in runs if r.run_id not in status]
    log(f"exp4: {len(runs)} runs, {len(status)} already finished, {len(todo)} to train "
        f"({sum(r.cost for r in todo) / step_cost(PLANS['full']['model']):.0f} base-arm steps of work)")
    if not todo:
        return status
    t = time.perf_counter()
    load_data(DataSpec.of(base), workers=base["data_workers"], cache_dir=out_dir / "data")
    log(f"exp4: data ready in {time.perf_counter() - t:.1f} s")

    def late() -> bool:
        return deadline_s is not None and time.perf_counter() - t0 > deadline_s

    def record(res: dict[str, Any]) -> None:
        status[res["run_id"]] = res["status"]
        extra = f"id exact {res['id_exact']:.3f}" if res["status"] == "done" else res.get("error", "")
        log(f"exp4: {res['run_id']} {res['status']} in {res['wall_s']:.0f} s ({extra}); "
            f"{time.perf_counter() - t0:.0f} s elapsed")

    if parallel <= 1:
        for r in todo:
            if late():
                break
            record(run_one(r, out_dir, device))
    else:
        pending = list(todo)
        with ProcessPoolExecutor(parallel, mp_context=get_context("spawn")) as pool:
            running: dict[Future, RunSpec] = {}
            while pending or running:
                while pending and len(running) < parallel and not late():
                    r = pending.pop(0)
                    running[pool.submit(run_one, r, out_dir, device, 1)] = r
                if not running:
                    break
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for f in finished:
                    r = running.pop(f)
                    try:
                        record(f.result())
                    except Exception as e:  # noqa: BLE001 - a worker died (e.g. killed): record and go on
                        record({"run_id": r.run_id, "status": "error", "error": f"worker died: {e}", "wall_s": 0.0})
    for r in todo:
        status.setdefault(r.run_id, "not started")
    return status
