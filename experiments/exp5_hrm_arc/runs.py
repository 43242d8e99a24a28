"""E5's runs: train one arm (the :mod:`hrm_agents.hrm` trainer on ARC arrays or on E4's curriculum
data), score it and write ``runs/<arm>-s<seed>/result.json``; run a plan's runs in parallel processes.

A run with a ``result.json`` of the same config is finished and skipped (resume); an unfinished run
starts over. Every result is written the moment its run ends, so a timeout keeps what finished.
"""

from __future__ import annotations

import shutil
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from hrm_agents.arc import analysis
from hrm_agents.arc.data import VOCAB, ArcSpec, load_arrays
from hrm_agents.utils.jsonio import read_json, write_json

from .plans import PlanError, RunSpec


def arc_spec(config: dict[str, Any]) -> ArcSpec:
    """The :class:`ArcSpec` of an ARC run config."""
    return ArcSpec(**config["data"])


def run_status(spec: RunSpec, out_dir: Path) -> str:
    """``done`` (a result.json of this very config) or ``todo``; a result of another config is an error."""
    path = out_dir / "runs" / spec.run_id / "result.json"
    if not path.exists():
        return "todo"
    if read_json(path).get("config") != spec.config:
        raise PlanError(f"{path} was made with another config; use another --out")
    return "done"


def _device(device: str | None) -> Any:
    import torch

    return torch.device("cuda" if device in (None, "cuda") and torch.cuda.is_available() else "cpu")


REFINE_KEYS = ("puzzle_pass@1", "puzzle_pass@2", "puzzle_pass@10", "example_orig_exact", "example_aug_exact",
               "puzzle_orig_cell")


def refinement(model: Any, test: dict[str, np.ndarray], held: Sequence[Any], augs: Sequence[Any], size: int,
               segments: Sequence[int], device: Any) -> list[dict[str, Any]]:
    """The refinement-loop question (ARC Prize analysis: more ACT segments drive the score): the trained
    model scored with ``m`` segments at most for each ``m`` in ``segments``, under its own ACT halting
    (``act``: stops when the Q-head says so, or at ``m``) and always running ``m`` (``fixed``)."""
    from hrm_agents.arc.scoring import predict, score

    rows = []
    for mode in ("act", "fixed"):
        for m in segments:
            pred = predict(model, test, device=device, halt_mode=mode, max_steps=m)
            s = score(pred, test, held, augs, size)["summary"]
            rows.append({"halt_mode": mode, "max_steps": m, "mean_steps": float(pred["steps"].mean()),
                         **{k: s[k] for k in REFINE_KEYS}})
    return rows


def _run_arc(spec: RunSpec, run_dir: Path, cache: Path, device: str | None, budget_s: float | None) -> dict[str, Any]:
    from hrm_agents.arc.scoring import demo_accuracy, predict, score
    from hrm_agents.hrm.ablations import measure_by_k
    from hrm_agents.hrm.config import train_config_from_dict
    from hrm_agents.hrm.evaluate import to_tensors
    from hrm_agents.hrm.model import load_model, n_params
    from hrm_agents.hrm.train import train

    cfg, data = spec.config, arc_spec(spec.config)
    arrays, held, augs, n_ids = load_arrays(data, cache_dir=cache)
    model_cfg = {**cfg["model"], "vocab_size": len(VOCAB), "seq_len": data.size ** 2 + 1, "pad_id": -1,
                 "num_puzzle_ids": n_ids if cfg["model"].get("puzzle_emb_dim") else 0}
    tc = train_config_from_dict({**cfg["train"], "model": model_cfg, "train_ks": [0], "heldout_ks": [],
                                 "final_eval": []})
    test = arrays["test"]
    originals = {k: v[test["copy"] == 0] for k, v in test.items()}
    final = train(tc, run_dir, progress=False, device=device, time_budget_s=budget_s,
                  data=(arrays["train"], {"heldout_test": originals}), vocab=VOCAB)
    dev = _device(device)
    model, _ = load_model(run_dir / "export", dev)
    t = time.perf_counter()
    pred = predict(model, test, device=dev)
    infer_s = time.perf_counter() - t
    scores = score(pred, test, held, augs, data.size)
    scores["summary"].update(demo_accuracy(predict(model, arrays["demos"], device=dev), arrays["demos"]))
    feats = {p.id: analysis.features(p) for p in held}
    for p in scores["puzzles"]:
        p.update(feats[p["puzzle"]])
    cost = measure_by_k(model, {"originals": to_tensors(originals, dev)})[0]["0"]  # FLOPs/task as in E4
    segments = cfg.get("eval", {}).get("segments", []) if model.config.arch != "transformer" else []
    return {"refinement": refinement(model, test, held, augs, data.size, segments, dev),"n_params": n_params(model), "steps": final["steps"], "train_s": final["train_s"],
            "examples_seen": final["examples_seen"], "n_train_rows": int(len(arrays["train"]["inputs"])),
            "n_puzzle_ids": n_ids, "summary": scores["summary"], "puzzles": scores["puzzles"],
            "examples": scores["examples"], "infer_s_per_prediction": infer_s / len(test["inputs"]),
            "flops_per_task": cost["flops_per_task"], "wall_s_per_task": cost["wall_s_per_task"]}


def _run_arith(spec: RunSpec, run_dir: Path, cache: Path, device: str | None, budget_s: float | None) -> dict[str, Any]:
    from hrm_agents.hrm.ablations import measure_by_k
    from hrm_agents.hrm.config import train_config_from_dict
    from hrm_agents.hrm.data import DataSpec, load_data
    from hrm_agents.hrm.evaluate import to_tensors
    from hrm_agents.hrm.model import load_model, n_params
    from hrm_agents.hrm.train import train

    tc = train_config_from_dict(spec.config["train"])
    final = train(tc, run_dir, progress=False, device=device, time_budget_s=budget_s, data_cache=cache)
    dev = _device(device)
    model, _ = load_model(run_dir / "export", dev)
    _, evals = load_data(DataSpec(tuple(tc.families), tc.data_seed, tuple(tc.train_ks), tuple(tc.heldout_ks),
                                  tc.n_train_per_k, tc.n_test_per_k), cache_dir=cache)
    per_k, _ = measure_by_k(model, {s: to_tensors(evals[s], dev) for s in ("test_id", "heldout")})
    return {"n_params": n_params(model), "steps": final["steps"], "train_s": final["train_s"],
            "examples_seen": final["examples_seen"], "per_k": per_k,
            "summary": {"id_exact": float(np.mean([per_k[str(k)]["exact"] for k in tc.train_ks])),
                        "heldout_exact": float(np.mean([per_k[str(k)]["exact"] for k in tc.heldout_ks])),
                        "flops_per_task": float(np.mean([v["flops_per_task"] for v in per_k.values()]))}}


def run_one(spec: RunSpec, out_dir: str | Path, device: str | None = None, threads: int | None = None,
            budget_s: float | None = None) -> dict[str, Any]:
    """Train and score one run into ``<out>/runs/<run_id>/`` (``result.json`` or ``error.json``); never
    raises for a failed run. ``budget_s`` caps its training wall time (the trainer lowers the steps to
    fit and the result records the steps done)."""
    import torch

    out_dir = Path(out_dir)
    run_dir = out_dir / "runs" / spec.run_id
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    if threads:
        torch.set_num_threads(threads)
    t0 = time.perf_counter()
    try:
        runner = _run_arc if spec.config["kind"] == "arc" else _run_arith
        result = runner(spec, run_dir, out_dir / "data", device, budget_s)
        result = {"run_id": spec.run_id, "arm": spec.arm, "seed": spec.seed, "config": spec.config,
                  "device": str(_device(device)), **result, "wall_s": time.perf_counter() - t0}
        write_json(run_dir / "result.json", result)
        shutil.rmtree(run_dir / "checkpoint", ignore_errors=True)  # export/ stays: the weights for later evaluations
        return {"run_id": spec.run_id, "status": "done", "wall_s": result["wall_s"], "summary": result["summary"]}
    except Exception as e:  # noqa: BLE001 - recorded, the plan goes on
        write_json(run_dir / "error.json", {"run_id": spec.run_id, "error": f"{type(e).__name__}: {e}"})
        return {"run_id": spec.run_id, "status": "error", "error": f"{type(e).__name__}: {e}",
                "wall_s": time.perf_counter() - t0}


def prepare_data(runs: Sequence[RunSpec], out_dir: Path, workers: int = 1) -> None:
    """Build every distinct data set of ``runs`` once (ARC arrays, E4 curriculum data) into ``<out>/data``."""
    from hrm_agents.hrm.data import DataSpec, load_data

    done: set[str] = set()
    for r in runs:
        if r.config["kind"] == "arc":
            key = repr(arc_spec(r.config))
            if key not in done:
                load_arrays(arc_spec(r.config), cache_dir=out_dir / "data")
        else:
            t = r.config["train"]
            key = repr((t["families"], t["data_seed"], t["train_ks"], t["heldout_ks"], t["n_train_per_k"], t["n_test_per_k"]))
            if key not in done:
                load_data(DataSpec(tuple(t["families"]), t["data_seed"], tuple(t["train_ks"]), tuple(t["heldout_ks"]),
                                   t["n_train_per_k"], t["n_test_per_k"]), workers=workers, cache_dir=out_dir / "data")
        done.add(key)


def run_plan(runs: Sequence[RunSpec], out_dir: str | Path, *, device: str | None = None, parallel: int = 1,
             run_budget_s: float | None = None, data_workers: int = 1,
             log: Callable[[str], None] = print) -> dict[str, str]:
    """Run what is not finished; returns ``{run_id: done|error|skipped}``. Data is built once first;
    ``parallel`` > 1 runs that many spawned processes (one torch thread each)."""
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    status = {r.run_id: "skipped" for r in runs if run_status(r, out_dir) == "done"}
    todo = [r for r in runs if r.run_id not in status]
    log(f"exp5: {len(runs)} runs, {len(status)} already finished, {len(todo)} to train")
    if not todo:
        return status
    prepare_data(todo, out_dir, data_workers)
    log(f"exp5: data ready after {time.perf_counter() - t0:.1f} s")

    def record(res: dict[str, Any]) -> None:
        status[res["run_id"]] = res["status"]
        s = res.get("summary", {})
        extra = (f"pass@2 {s['puzzle_pass@2']:.3f}, orig cell {s['puzzle_orig_cell']:.3f}" if "puzzle_pass@2" in s
                 else f"k2-4 {s['id_exact']:.3f}, k5-6 {s['heldout_exact']:.3f}" if s else res.get("error", ""))
        log(f"exp5: {res['run_id']} {res['status']} in {res['wall_s']:.0f} s ({extra}); "
            f"{time.perf_counter() - t0:.0f} s elapsed")

    if parallel <= 1:
        for r in todo:
            record(run_one(r, out_dir, device, None, run_budget_s))
        return status
    with ProcessPoolExecutor(parallel, mp_context=get_context("spawn")) as pool:
        futures: dict[Future, RunSpec] = {pool.submit(run_one, r, out_dir, device, 1, run_budget_s): r for r in todo}
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in finished:
                try:
                    record(f.result())
                except Exception as e:  # noqa: BLE001 - a worker died: record and go on
                    record({"run_id": futures[f].run_id, "status": "error", "error": f"worker died: {e}", "wall_s": 0.0})
    return status


def write_plan(out_dir: Path, plan: str, runs: Sequence[RunSpec]) -> None:
    """``plan.json``: the plan name and every run's config (read by the report)."""
    write_json(out_dir / "plan.json", {"experiment": "exp5_hrm_arc", "plan": plan,
                                       "runs": [asdict(r) for r in runs]})
