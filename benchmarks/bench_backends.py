"""Embedded llama.cpp backend vs the openai backend on a llama_cpp.server, same GGUF.

Sends the same fixed prompts (greedy, seed 0, repeat penalty 1.0 on both sides) through both,
one request at a time and alternating between the two (so both see the same machine load), after
one untimed warm-up request each, and prints one table side by side: latency mean/p50/p95, time
to first token and completion tokens per second.

    python benchmarks/bench_backends.py [--model NAME|PATH.gguf] [--requests 10] [--max-tokens 64]

``--variants`` instead measures the embedded path alone on E1's own coder prompts (a first call,
then a revision call that carries the first call's code back, for each of the first ``--tasks``
coding-suite tasks), under settings that should not change greedy outputs: 1 vs 2 threads, an
in-memory prompt-state cache, and prompt-lookup decoding. Requests alternate between the
variants, so all see the same machine load; "same text" compares each with the first variant.

    python benchmarks/bench_backends.py --variants [--model qwen2.5-coder-1.5b] [--tasks 6]

``--batched URL`` measures what parallel attempts gain on a server that batches requests (llama.cpp's
own ``llama-server -np N``, serving the same GGUF at URL): E1's first coder call for each of the
first ``--tasks`` coding-suite tasks through the embedded backend, then through the server one
request at a time, then through the server ``--concurrency`` requests at a time; throughput is all
completion tokens over the wall time of each pass.

    python benchmarks/bench_backends.py --batched http://127.0.0.1:8080/v1 [--tasks 8] [--concurrency 4]

ttft: embedded = llama.cpp's prompt-processing time (in-process, from its perf counters);
openai = first streamed chunk seen by the client (HTTP + server included). llama-cpp-python's
server sends no token usage when streaming, so its completion tokens are the streamed chunks
(one token each); the "same text" row checks both sides generated the same answers.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from rich.console import Console
from rich.table import Table

from hrm_agents.backends import Backend, Completion, GenParams, Message
from hrm_agents.backends.llamacpp_backend import LlamaCppBackend, default_threads, llama_server
from hrm_agents.backends.openai_backend import OpenAIBackend
from hrm_agents.graphs.prompts import CODER, PLAN_SECTION, REVISION_SECTION
from hrm_agents.tasks import load_suite
from hrm_agents.utils.flags import FlagParser

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


VARIANTS = {  # name -> LlamaCppBackend options
    "2 threads": {"n_threads": 2},
    "1 thread": {"n_threads": 1},
    "2 threads + prompt cache": {"n_threads": 2, "cache_mb": 2048},
    "2 threads + prompt lookup": {"n_threads": 2, "prompt_lookup": 10},
}


def coder_calls(backend: Backend, task, params: GenParams, revise: bool = True) -> tuple[Completion, ...]:
    """E1's coder prompt for ``task``, then (``revise``) its revision prompt carrying the first
    reply's code."""
    def call(revision: str) -> Completion:
        msgs = CODER.format_messages(entry_point=task.entry_point, prompt=task.prompt,
                                     plan_section=PLAN_SECTION.format(plan="1. Implement it directly."),
                                     revision_section=revision)
        return backend.complete([Message(role="system" if m.type == "system" else "user", content=m.content)
                                 for m in msgs], params)

    first = call("")
    if not revise:
        return (first,)
    code = first.text.split("```python")[-1].split("```")[0].strip() or first.text
    feedback = f"This test failed:\n{task.visible_tests[0]}\nAssertionError"
    return first, call(REVISION_SECTION.format(code=code, feedback=feedback))


def variants(args: argparse.Namespace) -> None:
    tasks = load_suite("eval/suites/coding_suite.yaml", limit=args.tasks).tasks
    params = GenParams(temperature=0.0, max_tokens=512, seed=0)
    backends = {name: LlamaCppBackend(args.model, **opts) for name, opts in VARIANTS.items()}
    load_before = os.getloadavg()[0]
    runs: dict[str, list[tuple[Completion, Completion]]] = {name: [] for name in VARIANTS}
    for task in tasks:
        for name, backend in backends.items():
            runs[name].append(coder_calls(backend, task, params))
    base = runs[next(iter(VARIANTS))]
    table = Table(title=f"{next(iter(backends.values())).model}: E1 coder + revision calls on {len(tasks)} "
                        "coding-suite tasks, temperature 0")
    for col in ("variant", "wall (s)", "first call mean (s)", "revision mean (s)", "completion tok/s",
                "same text"):
        table.add_column(col, justify="left" if col == "variant" else "right")
    for name, pairs in runs.items():
        calls = [c for pair in pairs for c in pair]
        wall = sum(c.latency_s for c in calls)
        same = sum(a.text == b.text for p, q in zip(pairs, base) for a, b in zip(p, q))
        table.add_row(name, f"{wall:.1f}", f"{statistics.fmean(p[0].latency_s for p in pairs):.2f}",
                      f"{statistics.fmean(p[1].latency_s for p in pairs):.2f}",
                      f"{sum(c.completion_tokens for c in calls) / wall:.1f}", f"{same}/{len(calls)}")
    console = Console()
    console.print(table)
    console.print(f"1-min load average: {load_before:.2f} before, {os.getloadavg()[0]:.2f} after "
                  f"({os.cpu_count()} logical cores; other load on the machine adds noise)")


def batched(args: argparse.Namespace) -> None:
    tasks = load_suite("eval/suites/coding_suite.yaml", limit=args.tasks).tasks
    params = GenParams(temperature=0.0, max_tokens=512, seed=0)
    server = OpenAIBackend(base_url=args.batched, stream=False)
    passes = {"embedded, 1 at a time": (LlamaCppBackend(args.model, n_threads=args.threads), 1),
              "server, 1 at a time": (server, 1),
              f"server, {args.concurrency} at a time": (server, args.concurrency)}
    load_before = os.getloadavg()[0]
    table = Table(title=f"E1 first coder calls on {len(tasks)} coding-suite tasks, temperature 0")
    for col in ("pass", "wall (s)", "completion tokens", "completion tok/s", "mean latency (s)", "same text"):
        table.add_column(col, justify="left" if col == "pass" else "right")
    base: list[str] | None = None
    for name, (backend, workers) in passes.items():
        start = time.perf_counter()
        with ThreadPoolExecutor(workers) as pool:
            calls = list(pool.map(lambda t: coder_calls(backend, t, params, revise=False)[0], tasks))
        wall = time.perf_counter() - start
        texts = [c.text for c in calls]
        base = base or texts
        tokens = sum(c.completion_tokens for c in calls)
        table.add_row(name, f"{wall:.1f}", str(tokens), f"{tokens / wall:.1f}",
                      f"{statistics.fmean(c.latency_s for c in calls):.2f}",
                      f"{sum(a == b for a, b in zip(texts, base))}/{len(tasks)}")
    console = Console()
    console.print(table)
    console.print(f"1-min load average: {load_before:.2f} before, {os.getloadavg()[0]:.2f} after "
                  f"({os.cpu_count()} logical cores; other load on the machine adds noise)")


def main() -> None:
    parser = FlagParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="registry name or GGUF path (default: the default model)")
    parser.add_argument("--requests", type=int, default=len(PROMPTS))
    parser.add_argument("--max_tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=default_threads())
    parser.add_argument("--variants", action="store_true", help="compare embedded settings on E1's prompts")
    parser.add_argument("--tasks", type=int, default=6, help="coding-suite tasks for --variants/--batched (default: 6)")
    parser.add_argument("--batched", metavar="URL", help="embedded vs a batching server at URL, 1 and --concurrency at a time")
    parser.add_argument("--concurrency", type=int, default=4, help="requests in flight for --batched (default: 4)")
    args = parser.parse_args()
    if args.variants:
        return variants(args)
    if args.batched:
        return batched(args)
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
