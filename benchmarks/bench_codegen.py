"""CPU cost of the E6 arms side by side: HRM-LM 27M vs the GPT-2-117M architecture (and the matched
27M transformer), as the validation study pre-registered them.

For every arm, two fresh child processes (so each peak RSS is that task's alone):

* inference: greedy decoding of ``--tokens`` (512) new tokens after a ``--prompt`` (32) token prompt,
  batch 1, KV cache, float32, ``--threads`` torch threads (EOS never stops it); latency = wall time of
  the whole generation (prefill included) after a short warm-up; CPU throughput = tokens / latency;
* training: one optimiser step (AdamW, for HRM-LM one step per deep-supervision segment) on a
  ``--train_batch`` x 512 batch; wall time of that step;
* peak RSS (``ru_maxrss``) of the child at the end, i.e. the whole process: interpreter, torch,
  weights (and gradients + optimiser state in training).

Weights are freshly initialised from the arm configs (vocabulary 8192, the size of the trained
tokenizer): cost does not depend on the weights' values. Writes the JSON that
``experiments/exp6_hrm_codegen/run.py --plan eval --bench`` reads.

    python benchmarks/bench_codegen.py --out experiments/exp6_hrm_codegen/results/bench_codegen.json
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ARMS = ("hrm_lm", "gpt2", "lm27")
VOCAB = 8192


def _child(arm: str, mode: str, args: dict) -> dict:
    import resource

    import torch

    from experiments.exp6_hrm_codegen.pipeline import PLANS, arm_model_config
    from hrm_agents.hrm.config import model_config_from_dict
    from hrm_agents.hrm.lm import CausalLM
    from hrm_agents.hrm.lm_train import _optimizer, _train_batch
    from hrm_agents.hrm.model import n_params

    torch.set_num_threads(args["threads"])
    torch.manual_seed(0)
    model = CausalLM(model_config_from_dict(arm_model_config(arm, PLANS["full"], VOCAB)))
    out = {"arm": arm, "mode": mode, "n_params": n_params(model), "threads": args["threads"]}
    if mode == "infer":
        model.eval()
        prompt = torch.randint(2, VOCAB, (args["prompt"],)).tolist()
        model.generate([prompt], 8, eos_id=-1)  # warm-up
        t0 = time.perf_counter()
        new = model.generate([prompt], args["tokens"], eos_id=-1)[0]
        out["latency_s"] = time.perf_counter() - t0
        out["tokens"] = len(new)
    else:
        cfg = PLANS["full"].train
        opt = _optimizer(model, cfg.lr, cfg, torch.device("cpu"))
        batch = torch.randint(2, VOCAB, (args["train_batch"], cfg.seq_len + 1))
        t0 = time.perf_counter()
        _train_batch(model, opt, batch[:, :-1], batch[:, 1:], cfg.lr, cfg.grad_clip)
        out["train_step_s"] = time.perf_counter() - t0
        out["train_tokens"] = args["train_batch"] * cfg.seq_len
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def main(argv: list[str] | None = None) -> int:
    from hrm_agents.utils.flags import FlagParser

    p = FlagParser(prog="bench_codegen.py", description=__doc__)
    p.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    p.add_argument("--tokens", type=int, default=512)
    p.add_argument("--prompt", type=int, default=32)
    p.add_argument("--train_batch", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path)
    p.add_argument("--child", nargs=2, metavar=("ARM", "MODE"), help=argparse_hidden())
    a = p.parse_args(argv)
    args = {"tokens": a.tokens, "prompt": a.prompt, "train_batch": a.train_batch, "threads": a.threads}
    if a.child:
        print(json.dumps(_child(a.child[0], a.child[1], args)))
        return 0
    t0 = time.time()
    rows: dict[str, dict] = {}
    load = os.getloadavg()
    for arm in a.arms:
        rows[arm] = {}
        for mode in ("infer", "train"):
            cmd = [sys.executable, __file__, "--child", arm, mode, "--tokens", str(a.tokens), "--prompt", str(a.prompt),
                   "--train_batch", str(a.train_batch), "--threads", str(a.threads)]
            res = subprocess.run(cmd, capture_output=True, text=True)
            if res.returncode:
                print(f"error: {arm} {mode} failed: {res.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
                return 1
            r = json.loads(res.stdout.strip().splitlines()[-1])
            print(f"  {arm:7s} {mode:5s} {json.dumps(r)}", flush=True)
            rows[arm]["n_params"] = r["n_params"]
            if mode == "infer":
                rows[arm].update(latency_512_s=r["latency_s"], tokens_per_s=r["tokens"] / r["latency_s"],
                                 peak_rss_infer_mb=r["peak_rss_mb"])
            else:
                rows[arm].update(train_step_s=r["train_step_s"], train_tokens_per_s=r["train_tokens"] / r["train_step_s"],
                                 peak_rss_train_mb=r["peak_rss_mb"])
    result = {"arms": rows, "settings": args, "cpu_count": os.cpu_count(), "loadavg_before": load,
              "loadavg_after": os.getloadavg(), "wall_s": round(time.time() - t0, 1)}
    print(f"\n{'arm':8s} {'params':>11s} {'latency 512 (s)':>16s} {'tok/s':>7s} {'RSS infer MB':>13s} "
          f"{'RSS train MB':>13s} {'train step (s)':>15s}")
    for arm, r in rows.items():
        print(f"{arm:8s} {r['n_params']:11,d} {r['latency_512_s']:16.2f} {r['tokens_per_s']:7.1f} "
              f"{r['peak_rss_infer_mb']:13.0f} {r['peak_rss_train_mb']:13.0f} {r['train_step_s']:15.2f}")
    if "hrm_lm" in rows and "gpt2" in rows:
        h, g = rows["hrm_lm"], rows["gpt2"]
        print(f"HRM / GPT-2: latency {h['latency_512_s'] / g['latency_512_s']:.2f}x (target <= 0.54), peak RAM train "
              f"{h['peak_rss_train_mb'] / g['peak_rss_train_mb']:.2f}x, inference "
              f"{h['peak_rss_infer_mb'] / g['peak_rss_infer_mb']:.2f}x (target <= 0.50)")
    print(f"load average before {load[0]:.2f}, after {result['loadavg_after'][0]:.2f} ({os.cpu_count()} CPUs); "
          f"{result['wall_s']} s")
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


def argparse_hidden() -> str:
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    sys.exit(main())
