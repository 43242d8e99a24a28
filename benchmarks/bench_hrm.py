"""Speed of the shipped HRM checkpoint, with the project's goals side by side.

CPU inference (this machine): single-task latency through ``HRMBackend.complete`` (chat message in,
answer out, parse included) and batched throughput through ``HRMBackend.solve``, for torch thread
counts and halting settings (the checkpoint's ACT, and a fixed 2 segments). Tasks are drawn from the
held-out ``test_id``/``heldout`` splits (k = 2..6, mixed). One untimed warm-up call per setting.
GPU training figures are read from the checkpoint's training log (``metrics.jsonl``): median
throughput and the time until the periodic evaluation first reached 99% exact on k = 2, 3 and 4.
``--gpu-train-seconds N`` (on a GPU machine) instead trains the checkpoint's config alone on the GPU
for N seconds (smaller data pool, no evaluations) and prints its training throughput.

``--cpu_paths`` (issue 13, item 5) measures the paths toward the CPU goal (>= 1,000 tasks/s batched on
2 cores at >= 99% exact on k = 2-4) on ``test_id`` tasks (k = 2-4) with a fixed number of segments:
torch fp32, torch int8 dynamic quantisation (``torch.ao.quantization.quantize_dynamic`` on the
linear layers), ONNX Runtime fp32 (the model exported with its segments unrolled) and ONNX Runtime
int8 (``onnxruntime.quantization.quantize_dynamic``). Batches are trimmed to their used width, as
``HRM.predict`` does. The paths are measured interleaved in one process, so machine load hits all alike.

    python benchmarks/bench_hrm.py [--checkpoint DIR] [--tasks 512] [--single 50] [--threads 1 2]
    python benchmarks/bench_hrm.py --gpu-train-seconds 120 --out runs/bench_hrm_gpu
    python benchmarks/bench_hrm.py --cpu_paths --checkpoint hrm_agents/hrm/checkpoints/fast --segments 4 2 --threads 2
"""

from __future__ import annotations

import json
import os
import random
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from hrm_agents.curriculum.arrays import PAD, decode_answer, encode_canonical
from hrm_agents.curriculum.generator import make_splits
from hrm_agents.hrm.backend import DEFAULT_CHECKPOINT, HRMBackend
from hrm_agents.hrm.config import train_config_from_dict
from hrm_agents.hrm.report import read_metrics, throughput, time_to_accuracy
from hrm_agents.utils.flags import FlagParser

GOAL_TASKS_PER_S = 1000.0
SETTINGS = {"checkpoint default": {}, "fixed 2 segments": {"halt_mode": "fixed", "max_steps": 2}}


def tasks(checkpoint: Path, n: int) -> list:
    meta = json.loads((checkpoint / "config.json").read_text())["meta"]["train_config"]
    splits = make_splits(meta["data_seed"], n_train_per_k=0, n_test_per_k=meta["n_test_per_k"],
                         families=meta["families"], train_ks=meta["train_ks"], heldout_ks=meta["heldout_ks"])
    return random.Random(0).sample(splits["test_id"] + splits["heldout"], n)


def cpu_rows(checkpoint: Path, sample: list, n_single: int, threads: list[int], batch: int) -> list[list[str]]:
    rows = []
    for th in threads:
        for name, setting in SETTINGS.items():
            backend = HRMBackend(str(checkpoint), threads=th, **setting)
            msgs = [[{"role": "user", "content": t.question}] for t in sample[:n_single]]
            backend.complete(msgs[0])  # warm-up
            lat = [backend.complete(m).latency_s for m in msgs]
            canon = [t.canonical for t in sample]
            backend.solve(canon[:batch])  # warm-up
            t0 = time.perf_counter()
            out = [a for i in range(0, len(canon), batch) for a in backend.solve(canon[i:i + batch])]
            rate = len(canon) / (time.perf_counter() - t0)
            acc = sum(a["answer"] == str(t.answer) for a, t in zip(out, sample)) / len(sample)
            steps = statistics.fmean(a["act_steps"] for a in out)
            rows.append([str(th), name, f"{1000 * statistics.median(lat):.1f}",
                         f"{1000 * sorted(lat)[int(0.95 * (len(lat) - 1))]:.1f}", f"{rate:,.0f}",
                         f"{GOAL_TASKS_PER_S:,.0f}", f"{rate / GOAL_TASKS_PER_S:.2f}x", f"{steps:.2f}", f"{acc:.3f}"])
    return rows


class FixedSegments(torch.nn.Module):
    """``model`` run for exactly ``segments`` segments from a fresh state, returning the argmax tokens:
    the fixed-halting path of ``HRM.predict`` as one traceable graph (for ONNX export)."""

    def __init__(self, model: torch.nn.Module, segments: int):
        super().__init__()
        self.model, self.segments = model, segments

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        x, rope, mask = self.model.encode(inputs)
        h0, l0 = self.model.core.initial_state()
        z_H, z_L = h0.expand(*inputs.shape, -1), l0.expand(*inputs.shape, -1)
        for _ in range(self.segments):
            z_H, z_L = self.model.core(z_H, z_L, x, rope, mask)
        return self.model.heads(z_H, mask)[0].argmax(-1)


def _onnx_session(module: torch.nn.Module, example: torch.Tensor, path: Path, threads: int, int8: bool):
    import onnxruntime as ort

    if not path.exists():
        torch.onnx.export(module, (example,), str(path), input_names=["inputs"], output_names=["tokens"],
                          dynamic_axes={"inputs": {0: "batch", 1: "width"}, "tokens": {0: "batch", 1: "width"}},
                          dynamo=False, opset_version=17)
    if int8:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        q = path.with_suffix(".int8.onnx")
        if not q.exists():
            quantize_dynamic(str(path), str(q), weight_type=QuantType.QInt8)
        path = q
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    return lambda batch: torch.from_numpy(sess.run(None, {"inputs": batch.numpy()})[0])


def cpu_paths(checkpoint: Path, n_tasks: int, segments: list[int], threads: list[int], batch: int,
              work: Path) -> list[list[str]]:
    """Rows (path, threads, segments, tasks/s, vs goal, exact on k = 2-4) for every speed path."""
    from hrm_agents.hrm.model import load_model

    model, meta = load_model(checkpoint)
    tc = meta["train_config"]
    splits = make_splits(tc["data_seed"], n_train_per_k=0, n_test_per_k=tc["n_test_per_k"], families=tc["families"],
                         train_ks=tc["train_ks"], heldout_ks=tc["heldout_ks"])
    sample = random.Random(0).sample(splits["test_id"], min(n_tasks, len(splits["test_id"])))
    rows_np = [encode_canonical(t.canonical) for t in sample]
    batches = []
    for i in range(0, len(rows_np), batch):
        block = torch.as_tensor(np.stack(rows_np[i:i + batch]), dtype=torch.long)
        used = (block != PAD).any(0).nonzero()
        batches.append((i, block[:, int(used.min()):int(used.max()) + 1], int(used.min())))
    work.mkdir(parents=True, exist_ok=True)
    out = []
    for seg in segments:
        fixed = FixedSegments(model, seg).eval()
        int8 = torch.ao.quantization.quantize_dynamic(FixedSegments(model, seg), {torch.nn.Linear}, dtype=torch.qint8)
        for th in threads:
            torch.set_num_threads(th)
            paths = {"torch fp32": fixed, "torch int8 dynamic": int8}
            try:
                onnx = work / f"{checkpoint.name}-seg{seg}.onnx"
                paths["onnxruntime fp32"] = _onnx_session(fixed, batches[0][1], onnx, th, int8=False)
                paths["onnxruntime int8 dynamic"] = _onnx_session(fixed, batches[0][1], onnx, th, int8=True)
            except ImportError:
                print("onnxruntime paths skipped: pip install onnx onnxruntime")
            for name, run in paths.items():
                with torch.no_grad():
                    run(batches[0][1])  # warm-up
                    t0 = time.perf_counter()
                    preds = [(i, run(b), lo) for i, b, lo in batches]
                    rate = len(sample) / (time.perf_counter() - t0)
                hits = 0
                for i, tokens, lo in preds:
                    for j, row in enumerate(tokens.numpy()):
                        full = np.full_like(rows_np[i + j], PAD)
                        full[lo:lo + len(row)] = row
                        hits += decode_answer(full, rows_np[i + j]) == str(sample[i + j].answer)
                out.append([name, str(th), str(seg), f"{rate:,.0f}", f"{rate / GOAL_TASKS_PER_S:.2f}x",
                            f"{hits / len(sample):.3f}"])
    return out


def gpu_training(checkpoint: Path, seconds: float, out: Path) -> Table:
    """Train the checkpoint's config on the GPU for ``seconds``; a table of its median throughput."""
    from hrm_agents.hrm.train import train

    tc = json.loads((checkpoint / "config.json").read_text())["meta"]["train_config"]
    cfg = train_config_from_dict({**tc, "n_train_per_k": 100_000, "data_workers": 8, "steps": 10**6,
                                  "eval_every": 10**9, "ckpt_every": 10**9, "log_every": 100, "final_eval": []})
    train(cfg, out, progress=False, device="cuda", time_budget_s=seconds)
    metrics = read_metrics(out)
    start, tp = metrics[0], throughput(metrics)
    steps = [m for m in metrics if m["event"] == "train"]
    table = Table(title=f"GPU training alone ({start['device_name']}, batch {cfg.batch_size}, width "
                        f"{start['train_width']}, {seconds:.0f} s budget)")
    for col in ("metric", "value"):
        table.add_column(col)
    table.add_row("optimiser steps", str(steps[-1]["step"]))
    table.add_row("positions/s (median window; one ACT segment each)", f"{tp['tokens_per_s']:,.0f}")
    table.add_row("samples completed/s (median window)", f"{tp['samples_per_s']:,.0f}")
    return table


def main() -> None:
    p = FlagParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    p.add_argument("--tasks", type=int, default=512, help="tasks in the batched measurement")
    p.add_argument("--single", type=int, default=50, help="tasks in the single-task latency measurement")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--gpu-train-seconds", type=float, help="measure GPU training throughput instead")
    p.add_argument("--out", type=Path, default=Path("runs/bench_hrm_gpu"), help="run folder of --gpu-train-seconds")
    p.add_argument("--cpu_paths", action="store_true", help="measure torch/int8/ONNX Runtime paths on k = 2-4")
    p.add_argument("--segments", type=int, nargs="+", default=[4, 2], help="fixed segments for --cpu_paths")
    args = p.parse_args()
    console = Console(width=150)
    if args.cpu_paths:
        table = Table(title=f"CPU speed paths, k = 2-4 ({os.cpu_count()} cores, load avg {os.getloadavg()[0]:.1f} at "
                            f"start, torch {torch.__version__}, batch {args.batch}, {args.checkpoint.name})")
        for col in ("path", "threads", "segments", "batched tasks/s", "vs goal 1,000", "exact k=2-4 (goal 0.99)"):
            table.add_column(col, justify="right")
        for row in cpu_paths(args.checkpoint, args.tasks, args.segments, args.threads, args.batch, Path("runs/bench_onnx")):
            table.add_row(*row)
        console.print(table)
        return
    if args.gpu_train_seconds:
        console.print(gpu_training(args.checkpoint, args.gpu_train_seconds, args.out))
        return
    sample = tasks(args.checkpoint, args.tasks)
    load = os.getloadavg()[0]

    table = Table(title=f"HRM CPU inference ({os.cpu_count()} cores, load avg {load:.1f} at start, "
                        f"torch {torch.__version__}, batch {args.batch})")
    for col in ("threads", "halting", "latency p50 (ms)", "latency p95 (ms)", "batched tasks/s",
                "goal tasks/s", "vs goal", "avg segments", "exact"):
        table.add_column(col, justify="right")
    for row in cpu_rows(args.checkpoint, sample, args.single, args.threads, args.batch):
        table.add_row(*row)
    console.print(table)

    metrics_path = args.checkpoint / "metrics.jsonl"
    if metrics_path.exists():
        metrics = read_metrics(args.checkpoint)
        start = next(m for m in metrics if m["event"] == "start")
        tp, hit = throughput(metrics), time_to_accuracy(metrics)
        gpu = Table(title=f"GPU training (from {metrics_path.name}: {start['device_name']}, "
                          f"{start['n_params']:,} parameters)")
        for col in ("metric", "value"):
            gpu.add_column(col)
        gpu.add_row("training positions/s (median window)", f"{tp['tokens_per_s']:,.0f}")
        gpu.add_row("training samples completed/s (median window)", f"{tp['samples_per_s']:,.0f}")
        gpu.add_row("time to 99% exact on k=2,3,4 (val, incl. data generation)",
                    f"{hit['elapsed_s']:.0f} s (step {hit['step']})" if hit else "not reached")
        console.print(gpu)


if __name__ == "__main__":
    main()
