"""Export curriculum tasks as suite tasks (JSONL / YAML) and training arrays (``.npz``)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from ..tasks.schema import Suite, Task
from .arrays import encode_tasks, save_npz
from .programs import CurriculumTask, from_canonical

YAML_SPLITS: tuple[str, ...] = ("val", "test_id", "heldout")


def to_task(t: CurriculumTask) -> Task:
    """A math :class:`Task`: prompt = question, answer = str(answer), meta = {k, seed} and the
    evaluator-only ``reference`` = {canonical, steps} (per-step results; arms never see it)."""
    steps = [list(s) if isinstance(s, tuple) else s for s in t.steps]
    return Task(id=t.id, kind="math", prompt=t.question, answer=str(t.answer), family=t.family,
                meta={"k": t.k, "seed": t.seed}, reference={"canonical": t.canonical, "steps": steps})


def from_task(task: Task) -> CurriculumTask:
    """Rebuild a curriculum task from its exported :class:`Task` (ValueError if it does not check out)."""
    if "canonical" not in task.reference:
        raise ValueError(f"task {task.id!r} has no reference.canonical; not a curriculum task")
    t = from_canonical(task.reference["canonical"], seed=task.meta.get("seed"))
    if str(t.answer) != task.answer:
        raise ValueError(f"task {task.id!r}: stored answer {task.answer!r} != recomputed {t.answer}")
    return t


def to_suite(name: str, tasks: Sequence[CurriculumTask], description: str = "") -> Suite:
    """A :class:`Suite` of math tasks."""
    return Suite(name=name, description=description, tasks=[to_task(t) for t in tasks])


def write_jsonl(path: str | Path, tasks: Sequence[CurriculumTask]) -> None:
    """One exported :class:`Task` as JSON per line."""
    with open(path, "w", encoding="utf-8") as f:
        for t in tasks:
            f.write(to_task(t).model_dump_json() + "\n")


def read_jsonl(path: str | Path) -> list[CurriculumTask]:
    """Read tasks written by :func:`write_jsonl` (each re-checked by :func:`from_task`)."""
    with open(path, encoding="utf-8") as f:
        return [from_task(Task.model_validate_json(line)) for line in f if line.strip()]


def write_suite_yaml(path: str | Path, suite: Suite) -> None:
    """Write a suite YAML file (the format of ``eval/suites/*.yaml``)."""
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    with open(path, "w", encoding="utf-8") as f:
        yaml.dump(suite.model_dump(exclude_defaults=True), f, Dumper=dumper, sort_keys=False,
                  allow_unicode=True, width=1000)


def write_splits(out_dir: str | Path, splits: Mapping[str, Sequence[CurriculumTask]], *,
                 yaml_splits: Sequence[str] = YAML_SPLITS, manifest: Mapping[str, Any] | None = None,
                 name: str = "curriculum") -> list[Path]:
    """Write ``<split>.jsonl`` and ``<split>.npz`` for every split, ``<split>.yaml`` for ``yaml_splits``
    (by default only the evaluation splits: train is large) and ``manifest.json`` (``manifest`` plus
    counts per split, family and k) into ``out_dir``; return the paths written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    counts: dict[str, dict[str, int]] = {}
    for split, tasks in splits.items():
        write_jsonl(out / f"{split}.jsonl", tasks)
        save_npz(out / f"{split}.npz", encode_tasks(tasks))
        written += [out / f"{split}.jsonl", out / f"{split}.npz"]
        if split in yaml_splits:
            write_suite_yaml(out / f"{split}.yaml", to_suite(f"{name}-{split}", tasks,
                                                             f"Generated curriculum tasks, split {split}"))
            written.append(out / f"{split}.yaml")
        counts[split] = dict(Counter(f"{t.family}/k{t.k}" for t in tasks))
    (out / "manifest.json").write_text(json.dumps({**(manifest or {}), "counts": counts}, indent=2) + "\n")
    return written + [out / "manifest.json"]
