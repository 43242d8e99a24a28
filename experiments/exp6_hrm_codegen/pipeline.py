"""E6's training side (runs on the GPU machine for plan ``train``, on the CPU for ``smoke``).

``prepare`` builds the corpus from the interpreter it runs under (stdlib + permissively licensed
installed packages, deduplicated, MBPP/HumanEval-decontaminated), trains the byte-level BPE and
writes ``stream.npy``, ``tokenizer.json`` and ``data.json`` (corpus statistics, token count).
``run_arm`` pretrains one arm, fine-tunes it on MBPP prompt + validation + train, and writes its
MBPP-test completions (greedy, then ``n_samples`` at T = 0.8) and a metrics log as it goes.

Equal budget: every arm trains the same number of batches (``--steps``, default the plan's
``max_steps``) of the same shape on the same token stream: the same tokens, in the same order. Or, with
``--equal_gpu``, equal GPU time: each arm trains the batches that take as long alone on the GPU as the
HRM-LM's ``--steps`` (:func:`equal_gpu_steps`; the first batches are still the same windows). The
pretraining deadline is only a safety net; an arm it stops early shows ``steps < planned_steps``.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from hrm_agents.hrm.code_data import (MBPP_FINETUNE_IDS, MBPP_TEST_IDS, Decontaminator, benchmark_solutions,
                                      build_corpus, collect_sources, encode_docs, finetune_examples,
                                      load_tokenizer, mbpp_rows, train_tokenizer)
from hrm_agents.hrm.config import load_json, model_config_from_dict
from hrm_agents.hrm.lm_train import LMTrainConfig

CONFIGS = Path(__file__).resolve().parents[2] / "hrm_agents" / "hrm" / "configs" / "lm"
ARMS = {"hrm_lm": "hrm_lm_27m.json", "gpt2": "gpt2_117m.json", "lm27": "lm_27m.json"}
ARM_LABELS = {"hrm_lm": "HRM-LM 27M", "gpt2": "GPT-2-117M arch", "lm27": "transformer 27M (matched)"}


@dataclass(frozen=True)
class Plan:
    """Sizes of one plan."""

    corpus_bytes: int
    tokenizer_bytes: int
    vocab_size: int
    train: LMTrainConfig
    n_test_tasks: int | None  # None = all 500
    n_finetune: int | None  # None = all 474 (prompt + validation + train)
    n_samples: int
    max_new_tokens: int
    gen_max_rows: int
    kv_budget_gb: float
    model_override: dict[str, dict[str, Any]] = field(default_factory=dict)


PLANS = {
    "smoke": Plan(corpus_bytes=300_000, tokenizer_bytes=300_000, vocab_size=1024,
                  train=LMTrainConfig(batch_size=4, seq_len=64, max_steps=4, warmup_steps=2, log_every=2,
                                      ft_epochs=1, ft_batch_size=4, ft_max_len=2048),
                  n_test_tasks=3, n_finetune=8, n_samples=2, max_new_tokens=16, gen_max_rows=8,
                  kv_budget_gb=1.0,
                  model_override={"hrm_lm": {"hidden_size": 32, "num_heads": 4, "H_layers": 1, "L_layers": 1},
                                  "gpt2": {"hidden_size": 48, "num_heads": 4, "transformer_layers": 2},
                                  "lm27": {"hidden_size": 32, "num_heads": 4, "transformer_layers": 2}}),
    # 512 batches x 64 x 512 = 16.8M tokens per arm; 256 new tokens cover 99% of MBPP's reference solutions
    # (~195 tokens at the 99th percentile); 20 GB of KV cache per arm leaves room for the three processes.
    "full": Plan(corpus_bytes=80_000_000, tokenizer_bytes=15_000_000, vocab_size=8192,
                 train=LMTrainConfig(max_steps=512), n_test_tasks=None, n_finetune=None, n_samples=10,
                 max_new_tokens=256, gen_max_rows=1000, kv_budget_gb=20.0),
}


def arm_model_config(arm: str, plan: Plan, vocab_size: int) -> dict[str, Any]:
    """The arm's model config (from ``hrm_agents/hrm/configs/lm``) with the plan's overrides."""
    cfg = {**load_json(CONFIGS / ARMS[arm]), **plan.model_override.get(arm, {})}
    return {**cfg, "vocab_size": vocab_size, "seq_len": plan.train.seq_len}


def prepare(plan: Plan, data_dir: Path, mbpp: Path, humaneval: Path | None, workers: int) -> dict[str, Any]:
    """Corpus + tokenizer + token stream into ``data_dir``; returns (and writes) ``data.json``."""
    import numpy as np

    t0 = time.time()
    data_dir.mkdir(parents=True, exist_ok=True)
    sources, summary = collect_sources()
    decon = Decontaminator(benchmark_solutions(mbpp, humaneval))
    docs, stats = build_corpus(sources, decon, max_bytes=plan.corpus_bytes, workers=workers)
    t_corpus = time.time() - t0
    sample, size = [], 0
    for d in docs:
        if size >= plan.tokenizer_bytes:
            break
        sample.append(d)
        size += len(d)
    tok = train_tokenizer(sample, plan.vocab_size)
    tok.save(str(data_dir / "tokenizer.json"))
    stream = encode_docs(tok, docs)
    np.save(data_dir / "stream.npy", stream)
    info = {"corpus": stats.as_dict(), "sources": {k: v for k, v in summary.items() if k != "distributions_kept"},
            "distributions_kept": {k: v["licence"] for k, v in summary["distributions_kept"].items()},
            "candidate_files": len(sources), "humaneval_checked": humaneval is not None,
            "tokens": len(stream), "bytes_per_token": stats.bytes_kept / max(1, len(stream)),
            "vocab_size": tok.get_vocab_size(), "tokenizer_docs_bytes": size,
            "wall_s": {"corpus": round(t_corpus, 1), "total": round(time.time() - t0, 1)}}
    (data_dir / "data.json").write_text(json.dumps(info, indent=1) + "\n")
    return info


def missing_samples(completions: Path, task_ids: Sequence[int], n_samples: int) -> list[int]:
    """The ``task_ids`` with fewer than ``n_samples`` sampled completions in ``completions`` (a JSONL of
    an earlier call, e.g. one whose sampling a deadline stopped); all of them if the file is absent."""
    have: dict[int, int] = {}
    if completions.is_file():
        for line in completions.read_text().splitlines():
            rec = json.loads(line)
            if rec["kind"] == "sample":
                have[rec["task_id"]] = have.get(rec["task_id"], 0) + 1
    return [t for t in task_ids if have.get(t, 0) < n_samples]


def time_arms(plan: Plan, data_dir: Path, *, device: str, steps: int, log: Callable[[dict[str, Any]], None]
              ) -> dict[str, float]:
    """Seconds per pretraining batch of each arm, alone on ``device``: fresh weights (cost does not
    depend on them), ``steps`` batches of the plan's shape, timed over the second half (the first
    half warms up kernels and the allocator). Arms run one after another, never side by side."""
    import numpy as np
    import torch

    from hrm_agents.hrm.lm import CausalLM
    from hrm_agents.hrm.lm_train import pretrain

    stream = np.load(data_dir / "stream.npy")
    vocab = load_tokenizer(data_dir / "tokenizer.json").get_vocab_size()
    half = max(1, steps // 2)
    cfg = replace(plan.train, max_steps=2 * half, log_every=half)
    per_batch = {}
    for arm in ARMS:
        torch.manual_seed(0)
        model = CausalLM(model_config_from_dict(arm_model_config(arm, plan, vocab))).to(device)
        recs: list[dict[str, Any]] = []
        pretrain(model, stream, cfg, log=recs.append)
        marks = [r["elapsed_s"] for r in recs if r.get("event") == "pretrain"]
        per_batch[arm] = (marks[1] - marks[0]) / half
        log({"event": "gpu_time", "arm": arm, "timed_batches": half, "s_per_batch": per_batch[arm],
             "s_per_planned_budget": per_batch[arm] * plan.train.max_steps})
        del model
        if device == "cuda":
            torch.cuda.empty_cache()
    return per_batch


def equal_gpu_steps(per_batch: Mapping[str, float], steps: int, reference: str = "hrm_lm") -> dict[str, int]:
    """Pretraining batches of each arm that take, alone on the GPU, the time of ``steps`` batches of
    ``reference`` (``per_batch``: :func:`time_arms`'s seconds per batch)."""
    return {arm: max(1, round(steps * per_batch[reference] / s)) for arm, s in per_batch.items()}


def run_arm(plan: Plan, arm: str, data_dir: Path, out_dir: Path, mbpp: Path, *, device: str,
            pretrain_deadline: float, generate_deadline: float, seed: int = 0,
            sample_missing: Path | None = None) -> dict[str, Any]:
    """Pretrain, fine-tune and sample one arm; logs ``<arm>.metrics.jsonl`` and ``<arm>.completions.jsonl``
    in ``out_dir`` line by line. Returns the summary (also the log's last line). ``sample_missing``: a
    folder with an earlier call's completions; then only the tasks that lack their samples there are
    sampled (greedy is redone for every task, to compare the two calls' models)."""
    import numpy as np
    import torch

    from hrm_agents.hrm.lm import CausalLM
    from hrm_agents.hrm.lm_train import finetune, generate_mbpp, pretrain
    from hrm_agents.hrm.model import n_params, save_model

    out_dir.mkdir(parents=True, exist_ok=True)
    log_path = out_dir / f"{arm}.metrics.jsonl"

    def log(rec: dict[str, Any]) -> None:
        line = json.dumps({"arm": arm, "t": round(time.time(), 1), **rec})
        print(line, flush=True)
        with open(log_path, "a") as f:
            f.write(line + "\n")

    torch.manual_seed(seed)
    tok = load_tokenizer(data_dir / "tokenizer.json")
    stream = np.load(data_dir / "stream.npy")
    mcfg = model_config_from_dict(arm_model_config(arm, plan, tok.get_vocab_size()))
    model = CausalLM(mcfg).to(device)
    cfg = replace(plan.train, seed=seed)
    log({"event": "start", "arm": arm, "n_params": n_params(model), "model": mcfg.__dict__, "train": cfg.as_dict(),
         "device": torch.cuda.get_device_name() if device == "cuda" else "cpu"})
    pre = pretrain(model, stream, cfg, deadline=pretrain_deadline, log=log)
    log({"event": "pretrain_done", **pre})
    rows = mbpp_rows(mbpp, MBPP_FINETUNE_IDS)[:plan.n_finetune]
    examples = finetune_examples(tok, rows, cfg.ft_max_len)
    log({"event": "finetune_data", "examples": len(examples), "left_out_too_long": len(rows) - len(examples)})
    ft = finetune(model, examples, cfg, log=log)
    log({"event": "finetune_done", **ft})
    save_model(model, data_dir / f"ckpt_{arm}", meta={"kind": "code_lm", "arm": arm, "pretrain": pre, "finetune": ft})
    (data_dir / f"ckpt_{arm}" / "tokenizer.json").write_text((data_dir / "tokenizer.json").read_text())
    test = mbpp_rows(mbpp, MBPP_TEST_IDS)[:plan.n_test_tasks]
    sample_ids = None
    if sample_missing is not None:
        sample_ids = missing_samples(sample_missing / f"{arm}.completions.jsonl", [r["task_id"] for r in test],
                                     plan.n_samples)
        log({"event": "sample_missing", "from": str(sample_missing), "tasks": sample_ids})
    gen = generate_mbpp(model, tok, test, out_dir / f"{arm}.completions.jsonl", n_samples=plan.n_samples,
                        max_new_tokens=plan.max_new_tokens, max_rows=plan.gen_max_rows,
                        kv_budget_bytes=plan.kv_budget_gb * 1e9, seed=seed,
                        deadline=generate_deadline, sample_ids=sample_ids, log=log)
    summary = {"event": "summary", "n_params": n_params(model), "pretrain": pre, "finetune": ft, "generate": gen,
               "stable": bool(pre["stable"] and ft["stable"]), "pid": os.getpid()}
    log(summary)
    return summary
