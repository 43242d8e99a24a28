"""Embedded llama.cpp backend vs the openai backend on a llama_cpp.server, same GGUF.

Sends the same fixed prompts (greedy, seed 0, repeat penalty 1.0 on both sides) through both,
one request at a time and alternating between the two (so both see the same machine load), after
one untimed warm-up request each, and prints one table side by side: latency mean/p50/p95, time
to first token and completion tokens per second.

    python benchmarks/bench_backends.py [--model PATH.gguf] [--requests 10] [--max-tokens 64]

ttft: embedded = llama.cpp's prompt-processing time (in-process, from its perf counters);
openai = first streamed chunk seen by the client (HTTP + server included). llama-cpp-python's
server sends no token usage when streaming, so its completion tokens are the streamed chunks
(one token each); the "same text" row checks both sides generated the same answers.
"""

from __future__ import annotations

import argparse
import os
import statistics

import numpy as np
from rich.console import Console
from rich.table import Table

from hrm_agents.backends import Backend, Completion, GenParams, Message
from hrm_agents.backends.llamacpp_backend import LlamaCppBackend, default_threads, llama_server
from hrm_agents.backends.openai_backend import OpenAIBackend

SYSTEM = "You are a concise assistant."
PROMPTS = [
    "Explain what a hash table is.",
    "Write a Python function that reverses a string.",
    "What is 17 times 23? Show the steps.",
    "Give three tips for writing unit tests.",
    "Summarise the water cycle in two sentences.",
    "What is the difference between a list and a tuple in Python?",
    "Name the planets of the solar system in order.",
    "Write a haiku about compilers.",
    "How do you compute the mean of a list of numbers?",
    "Describe binary search in plain words.",
]


def ask(backend: Backend, prompt: str, params: GenParams) -> Completion:
    return backend.complete([Message(role="system", content=SYSTEM),
                             Message(role="user", content=prompt)], params)


def summary(completions: list[Completion]) -> dict[str, float]:
    latency = np.array([c.latency_s for c in completions])
    ttft = [c.ttft_s for c in completions if c.ttft_s is not None]
    return {
        "latency mean (s)": latency.mean(),
        "latency p50 (s)": float(np.percentile(latency, 50)),
        "latency p95 (s)": float(np.percentile(latency, 95)),
        "ttft mean (s)": statistics.fmean(ttft) if ttft else float("nan"),
        "ttft p50 (s)": float(np.percentile(ttft, 50)) if ttft else float("nan"),
        "completion tokens (total)": sum(c.completion_tokens for c in completions),
        "completion tokens/s": sum(c.completion_tokens for c in completions) / latency.sum(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="GGUF path (default: SmolLM2-135M)")
    parser.add_argument("--requests", type=int, default=len(PROMPTS))
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=default_threads())
    args = parser.parse_args()
    prompts = (PROMPTS * (args.requests // len(PROMPTS) + 1))[:args.requests]
    params = GenParams(temperature=0.0, max_tokens=args.max_tokens, seed=0)
    load_before = os.getloadavg()[0]

    embedded_backend = LlamaCppBackend(args.model, n_threads=args.threads)
    with llama_server(args.model, n_threads=args.threads) as url:
        served_backend = OpenAIBackend(base_url=url, stream=True,
                                       extra_body={"repeat_penalty": 1.0})
        pairs = [(ask(embedded_backend, p, params), ask(served_backend, p, params))
                 for p in ["Hello."] + prompts][1:]  # the first pair is the warm-up
    embedded, served = [a for a, _ in pairs], [b for _, b in pairs]

    left, right = summary(embedded), summary(served)
    table = Table(title=f"{embedded_backend.model}: {len(prompts)} requests, max_tokens "
                        f"{args.max_tokens}, temperature 0, {args.threads} thread(s)")
    table.add_column("metric")
    table.add_column("llamacpp (embedded)", justify="right")
    table.add_column("openai → llama_cpp.server", justify="right")
    for key in left:
        fmt = "{:.0f}" if "total" in key else "{:.1f}" if "/s" in key else "{:.3f}"
        table.add_row(key, fmt.format(left[key]), fmt.format(right[key]))
    same = sum(a.text == b.text for a, b in zip(embedded, served))
    table.add_row("same text", f"{same}/{len(prompts)}", f"{same}/{len(prompts)}")
    console = Console()
    console.print(table)
    console.print(f"1-min load average: {load_before:.2f} before, {os.getloadavg()[0]:.2f} after "
                  f"({os.cpu_count()} logical cores; other load on the machine adds noise)")


if __name__ == "__main__":
    main()
