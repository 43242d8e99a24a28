"""Training schedules over a pool of examples, at equal example budgets.

* ``curriculum`` — stages of increasing step count (default k = 2 → 3 → 4). Promotion is either by
  fixed counts (:func:`schedule_streams`) or by an accuracy threshold (:class:`ThresholdCurriculum`,
  whose :meth:`~ThresholdCurriculum.report_accuracy` the trainer calls with the current stage's
  accuracy).
* ``mixed`` — the very same examples, shuffled.

Schedules work on example indices (rows of the arrays from :func:`~hrm_agents.curriculum.arrays.encode_tasks`)
and only need each example's ``k`` (``arrays["k"]``). Within a stage the pool is visited in a
seeded random order, reshuffled on every pass, so a budget larger than the pool repeats examples
evenly.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

DEFAULT_STAGES: tuple[int, ...] = (2, 3, 4)


class Cycler:
    """Endless stream over a pool of indices: a fresh seeded permutation on every pass."""

    def __init__(self, pool: np.ndarray, rng: np.random.Generator) -> None:
        self.pool, self.rng = pool, rng
        self.order, self.pos = rng.permutation(pool), 0

    def take(self, n: int) -> np.ndarray:
        out = []
        while n > 0:
            if self.pos == len(self.order):
                self.order, self.pos = self.rng.permutation(self.pool), 0
            chunk = self.order[self.pos:self.pos + n]
            self.pos += len(chunk)
            n -= len(chunk)
            out.append(chunk)
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def _cyclers(ks: Sequence[int] | np.ndarray, stages: Sequence[int], seed: int) -> list[Cycler]:
    ks = np.asarray(ks)
    rngs = np.random.default_rng(seed).spawn(len(stages))
    cyclers = []
    for k, rng in zip(stages, rngs):
        pool = np.flatnonzero(ks == k)
        if not len(pool):
            raise ValueError(f"no examples with k={k} for the curriculum stage")
        cyclers.append(Cycler(pool, rng))
    return cyclers


def equal_counts(budget: int, n_stages: int) -> list[int]:
    """Split ``budget`` into ``n_stages`` near-equal counts (earlier stages get the remainder)."""
    return [budget // n_stages + (i < budget % n_stages) for i in range(n_stages)]


def schedule_streams(ks: Sequence[int] | np.ndarray, budget: int, *, stages: Sequence[int] = DEFAULT_STAGES,
                     counts: Sequence[int] | None = None, seed: int = 0) -> dict[str, np.ndarray]:
    """Ordered example-index streams of length ``budget`` for ``curriculum`` and ``mixed``.

    ``curriculum`` takes ``counts[i]`` examples with ``k == stages[i]``, stage after stage (fixed-count
    promotion; ``counts`` defaults to :func:`equal_counts`); ``mixed`` is the same indices shuffled.
    Call once per budget to measure sample efficiency at several budgets.
    """
    counts = list(counts) if counts is not None else equal_counts(budget, len(stages))
    if len(counts) != len(stages) or sum(counts) != budget or min(counts) < 0:
        raise ValueError(f"counts {counts} must be {len(stages)} non-negative numbers summing to {budget}")
    cyclers = _cyclers(ks, stages, seed)
    curriculum = np.concatenate([c.take(n) for c, n in zip(cyclers, counts)])
    mixed = np.random.default_rng([seed, 1]).permutation(curriculum)
    return {"curriculum": curriculum, "mixed": mixed}


class ThresholdCurriculum:
    """Accuracy-threshold curriculum with a fixed total ``budget`` of examples.

    The trainer asks for batches with :meth:`next_batch` (all from the current stage) and, whenever it
    evaluates, calls :meth:`report_accuracy` with the current stage's accuracy; the stage advances when
    it reaches ``threshold`` (or, if ``max_per_stage`` is set, after that many examples of the stage).
    The last stage runs until the budget is spent. :meth:`mixed_stream` gives the matching ``mixed``
    schedule: the examples served, shuffled.
    """

    def __init__(self, ks: Sequence[int] | np.ndarray, budget: int, *, stages: Sequence[int] = DEFAULT_STAGES,
                 threshold: float = 0.95, max_per_stage: int | None = None, seed: int = 0) -> None:
        if budget < 0 or not 0.0 <= threshold <= 1.0 or (max_per_stage is not None and max_per_stage < 1):
            raise ValueError("need budget >= 0, 0 <= threshold <= 1 and max_per_stage >= 1")
        self.stages, self.budget, self.threshold = tuple(stages), budget, threshold
        self.max_per_stage, self.seed = max_per_stage, seed
        self._cyclers = _cyclers(ks, self.stages, seed)
        self.stage_index, self.consumed, self._in_stage = 0, 0, 0
        self._served: list[np.ndarray] = []
        self.history: list[dict[str, Any]] = []  # one entry per promotion

    @property
    def stage(self) -> int:
        """Step count k of the current stage."""
        return self.stages[self.stage_index]

    @property
    def done(self) -> bool:
        """True once the budget is spent."""
        return self.consumed >= self.budget

    def _promote(self, accuracy: float | None, reason: str) -> None:
        self.history.append({"consumed": self.consumed, "from_k": self.stage,
                             "to_k": self.stages[self.stage_index + 1], "accuracy": accuracy, "reason": reason})
        self.stage_index += 1
        self._in_stage = 0

    def next_batch(self, batch_size: int) -> np.ndarray:
        """Up to ``batch_size`` indices from the current stage (fewer at a stage cap or the budget's end;
        empty when the budget is spent)."""
        last = self.stage_index == len(self.stages) - 1
        n = min(batch_size, self.budget - self.consumed)
        if self.max_per_stage is not None and not last:
            n = min(n, self.max_per_stage - self._in_stage)
        batch = self._cyclers[self.stage_index].take(max(n, 0))
        self._served.append(batch)
        self.consumed += len(batch)
        self._in_stage += len(batch)
        if not last and self.max_per_stage is not None and self._in_stage >= self.max_per_stage:
            self._promote(None, "max_per_stage")
        return batch

    def report_accuracy(self, accuracy: float | Mapping[int, float]) -> bool:
        """Trainer callback: the current stage's accuracy (a float, or a mapping k -> accuracy).
        Promotes when it reaches the threshold; returns whether it promoted."""
        acc = accuracy[self.stage] if isinstance(accuracy, Mapping) else accuracy
        if self.stage_index < len(self.stages) - 1 and acc >= self.threshold:
            self._promote(float(acc), "threshold")
            return True
        return False

    def served(self) -> np.ndarray:
        """All indices served so far, in order."""
        return np.concatenate(self._served) if self._served else np.zeros(0, dtype=np.int64)

    def mixed_stream(self) -> np.ndarray:
        """The ``mixed`` counterpart: the served examples shuffled (same budget, same examples)."""
        return np.random.default_rng([self.seed, 1]).permutation(self.served())
