"""Test tasks and few-shot exemplars for curriculum experiments.

* Test tasks: per family and k, ``test_id`` of :func:`~hrm_agents.curriculum.make_splits` for the
  training step counts (:data:`TRAIN_KS`) and ``heldout`` for the others (``n_train_per_k=0``, so the
  tasks are the same ones the HRM trainer evaluates on when ``seed`` equals its ``data_seed``).
* Exemplars: worked solutions (question, one line per step with its intermediate result,
  ``Answer: N``) drawn from a pool at k in :data:`TRAIN_KS`, disjoint from the test tasks, ordered by
  :func:`~hrm_agents.curriculum.schedule_streams`: ``curriculum`` = easy to hard, ``mixed`` = the
  very same exemplars shuffled. Budgets are nested (the exemplars of budget 2 are among those of 4).
"""

from __future__ import annotations

from typing import Iterable, Sequence

from .generator import generate, make_splits
from .programs import FAMILIES, CurriculumTask, format_state
from .schedules import schedule_streams

TRAIN_KS: tuple[int, ...] = (2, 3, 4)
HELDOUT_KS: tuple[int, ...] = (5, 6)
SCHEDULES: tuple[str, ...] = ("curriculum", "mixed")


def test_tasks(seed: int, n_per_k: int, families: Sequence[str] = FAMILIES,
               ks: Sequence[int] = TRAIN_KS + HELDOUT_KS) -> list[CurriculumTask]:
    """``n_per_k`` test tasks per family and k: ``test_id`` for k in :data:`TRAIN_KS`, ``heldout``
    otherwise (ordered by k, then family)."""
    ks = sorted(set(ks))
    splits = make_splits(seed, n_train_per_k=0, n_test_per_k=n_per_k, families=families,
                         train_ks=[k for k in ks if k in TRAIN_KS], heldout_ks=[k for k in ks if k not in TRAIN_KS])
    return sorted(splits["test_id"] + splits["heldout"], key=lambda t: (t.k, FAMILIES.index(t.family)))


def exemplar_pool(seed: int, n_per_k: int, families: Sequence[str], exclude: Iterable[str]) -> list[CurriculumTask]:
    """``n_per_k`` exemplar candidates per family and k in :data:`TRAIN_KS`, none of whose canonical
    forms is in ``exclude`` (pass the test tasks' canonical forms)."""
    exclude = set(exclude)
    return [t for f in families for k in TRAIN_KS
            for t in generate(f, k, n_per_k, seed=f"e3-exemplars-{seed}", exclude=exclude)]


def select_exemplars(pool: Sequence[CurriculumTask], budget: int, schedule: str,
                     seed: int = 0) -> dict[str, list[CurriculumTask]]:
    """Per family in ``pool``: ``budget`` exemplars in ``schedule`` order (see the module docstring).

    Equal counts per k (earlier k get the remainder); a budget above the pool repeats exemplars.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; use one of {SCHEDULES}")
    if budget < 0:
        raise ValueError(f"budget must be >= 0, got {budget}")
    out = {}
    for family in dict.fromkeys(t.family for t in pool):
        sub = [t for t in pool if t.family == family]
        order = schedule_streams([t.k for t in sub], budget, stages=TRAIN_KS, seed=seed)[schedule]
        out[family] = [sub[i] for i in order]
    return out


def worked_solution(t: CurriculumTask) -> str:
    """Question, one ``Step i: <state> <op> = <result>`` line per step, then ``Answer: N``."""
    head, *ops = t.canonical.split(" ")
    before = [head] + [format_state(s) for s in t.steps[:-1]]
    lines = [f"Step {i}: {b} {op} = {format_state(s)}" for i, (b, op, s) in enumerate(zip(before, ops, t.steps), 1)]
    return "\n".join([f"Problem: {t.question}", *lines, f"Answer: {t.answer}"])
