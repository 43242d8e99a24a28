"""Throughput of one server vs a pool of two (``--base_url A,B``) at concurrency 2, in one run.

Starts two ``llama_cpp.server`` processes on the same GGUF (default SmolLM2-135M-Instruct), each with
``--threads`` CPU threads, warms both up, then sends the same requests (greedy, ``--max-tokens``)
with 2 client threads, first to server A alone and then to the pool A,B, ``--rounds`` times
alternating (so both settings see the same machine load), and prints one table: wall time,
requests/s, completion tokens/s, latency mean/p95, and how the pool spread the requests.

    python benchmarks/bench_pool.py [--requests 16] [--max-tokens 64] [--threads 1] [--rounds 2]

One llama_cpp.server handles one request at a time, so at concurrency 2 a single server queues the
second request; the pool runs them side by side. The gain needs a free core per server.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import numpy as np
from rich.console import Console
from rich.table import Table

from hrm_agents.backends import Backend, Completion, GenParams, Message, make_backend
from hrm_agents.backends.llamacpp_backend import llama_server
from hrm_agents.backends.pool import ServerPool
from hrm_agents.utils.flags import FlagParser

PROMPTS = ["Explain what a hash table is.", "Write a Python function that reverses a string.",
           "What is 17 times 23? Show the steps.", "Give three tips for writing unit tests.",
           "Summarise the water cycle in two sentences.", "Describe binary search in plain words.",
           "Name the planets of the solar system in order.", "Write a haiku about compilers."]


def burst(backend: Backend, n: int, params: GenParams) -> tuple[float, list[Completion]]:
    """Send ``n`` requests with 2 threads; return the wall time and the completions."""
    ask = lambda i: backend.complete([Message(role="user", content=PROMPTS[i % len(PROMPTS)])], params)  # noqa: E731
    start = time.perf_counter()
    with ThreadPoolExecutor(2) as ex:
        done = list(ex.map(ask, range(n)))
    return time.perf_counter() - start, done


def main() -> None:
    p = FlagParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="smollm2-135m", help="GGUF path or registry name (default: %(default)s)")
    p.add_argument("--requests", type=int, default=16)
    p.add_argument("--max_tokens", type=int, default=64)
    p.add_argument("--threads", type=int, default=1, help="CPU threads per server")
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args()
    params = GenParams(max_tokens=args.max_tokens, seed=0)
    with ExitStack() as stack:
        a, b = (stack.enter_context(llama_server(args.model, n_threads=args.threads)) for _ in range(2))
        single = make_backend("openai", None, base_url=a, stream=False)
        pool = make_backend("openai", None, base_url=f"{a},{b}", stream=False)
        assert isinstance(pool, ServerPool)
        for url in (a, b):  # warm-up, untimed
            make_backend("openai", None, base_url=url, stream=False).complete([Message(role="user", content="hi")], params)
        results: dict[str, list[tuple[float, list[Completion]]]] = {"1 server": [], "pool of 2": []}
        for _ in range(args.rounds):
            results["1 server"].append(burst(single, args.requests, params))
            results["pool of 2"].append(burst(pool, args.requests, params))
        spread = pool.stats()
    load = os.getloadavg()[0]
    table = Table(title=f"{args.requests} requests x {args.rounds} rounds, concurrency 2, max_tokens "
                        f"{args.max_tokens}, {args.threads} thread(s)/server, load avg {load:.1f}")
    for col in ("setting", "wall s (sum)", "requests/s", "completion tok/s", "latency mean s", "latency p95 s"):
        table.add_column(col)
    rate = {}
    for name, runs in results.items():
        wall = sum(w for w, _ in runs)
        comps = [c for _, cs in runs for c in cs]
        lat = np.array([c.latency_s for c in comps])
        rate[name] = len(comps) / wall
        table.add_row(name, f"{wall:.1f}", f"{rate[name]:.2f}",
                      f"{sum(c.completion_tokens for c in comps) / wall:.1f}", f"{lat.mean():.2f}",
                      f"{np.percentile(lat, 95):.2f}")
    console = Console()
    console.print(table)
    console.print(f"pool / single throughput: {rate['pool of 2'] / rate['1 server']:.2f}x; "
                  "pool requests answered per server: "
                  + ", ".join(f"{u}: {s['answered']}" for u, s in spread.items()))


if __name__ == "__main__":
    main()
