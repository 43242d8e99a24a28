"""HRM training data: a thin adapter over :mod:`hrm_agents.curriculum`.

* evaluation splits come from :func:`~hrm_agents.curriculum.generator.make_splits` (``val`` and
  ``test_id`` for the training step counts, ``heldout`` for longer chains);
* the training pool is drawn with :func:`~hrm_agents.curriculum.generator.generate` excluding every
  evaluation task, in parallel chunks, so it can be much larger than the evaluation splits;
* rows are the curriculum's token arrays (:func:`~hrm_agents.curriculum.arrays.encode_tasks`) plus
  optional *step labels*: for ``arith_chain``, the value after each step written as two digits on
  the step token's first and last character (``"37 +5 *2"``: ``+`` -> ``4``, ``5`` -> ``2``). They
  are an auxiliary target only; inputs never contain them and accuracy is scored on the answer slot.
* samplers: ``curriculum`` (the curriculum's :class:`ThresholdCurriculum`, stages k = 2 -> 3 -> 4,
  optionally replaying the earlier stages' k) and ``mixed`` (every training k, shuffled);
* :func:`selection_split`: fresh tasks of one held-out k for model selection, apart from the
  evaluation split of that k.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Collection, Sequence

import numpy as np

from ..curriculum.arrays import PAD, VOCAB, encode_tasks
from ..curriculum.generator import generate, make_splits
from ..curriculum.programs import ARITH, CurriculumTask
from ..curriculum.schedules import Cycler, ThresholdCurriculum
from ..utils.arraycache import cached_groups
from ..utils.constants import IGNORE_LABEL

ARRAY_KEYS = ("inputs", "labels", "step_labels", "k", "family")
_DIGIT_IDS = np.array([VOCAB.index(str(d)) for d in range(10)], dtype=np.int8)


def step_labels(tasks: Sequence[CurriculumTask], width: int) -> np.ndarray:
    """Auxiliary per-step targets (int8[N, width], IGNORE_LABEL elsewhere); see the module doc."""
    out = np.full((len(tasks), width), IGNORE_LABEL, dtype=np.int8)
    for row, t in enumerate(tasks):
        if t.family != ARITH:
            continue
        tokens = t.canonical.split(" ")
        pos = len(tokens[0]) + 1
        for tok, value in zip(tokens[1:], t.steps):
            if 0 <= value <= 99 and pos + len(tok) <= width:
                out[row, pos] = _DIGIT_IDS[value // 10]
                out[row, pos + len(tok) - 1] = _DIGIT_IDS[value % 10]
            pos += len(tok) + 1
    return out


def encode(tasks: Sequence[CurriculumTask]) -> dict[str, np.ndarray]:
    """Curriculum arrays of ``tasks`` as int8, with ``step_labels`` added (full SEQ_LEN width)."""
    arrays = {k: v.astype(np.int8) for k, v in encode_tasks(tasks).items()}
    arrays["step_labels"] = step_labels(tasks, arrays["inputs"].shape[1])
    return arrays


def used_width(inputs: np.ndarray) -> int:
    """Columns up to the last non-pad token of any row."""
    cols = np.flatnonzero((inputs != PAD).any(0))
    return int(cols[-1]) + 1 if len(cols) else 1


def concat(parts: Sequence[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Row-wise concatenation of array dicts."""
    return {k: np.concatenate([p[k] for p in parts]) for k in ARRAY_KEYS}


@dataclass
class DataSpec:
    """What to generate: families, step counts and sizes, all from one seed."""

    families: tuple[str, ...] = (ARITH,)
    seed: int = 0
    train_ks: tuple[int, ...] = (2, 3, 4)
    heldout_ks: tuple[int, ...] = (5, 6)
    n_train_per_k: int = 20000
    n_test_per_k: int = 1000

    @classmethod
    def of(cls, cfg: Any) -> DataSpec:
        """The data settings of a train config (a :class:`~hrm_agents.hrm.config.TrainConfig` or its dict)."""
        get = cfg.get if isinstance(cfg, dict) else lambda key: getattr(cfg, key)
        return cls(tuple(get("families")), get("data_seed"), tuple(get("train_ks")), tuple(get("heldout_ks")),
                   get("n_train_per_k"), get("n_test_per_k"))


def eval_splits(spec: DataSpec) -> dict[str, list[CurriculumTask]]:
    """``val``, ``test_id`` (train ks) and ``heldout`` (heldout ks), via ``make_splits``."""
    splits = make_splits(spec.seed, n_train_per_k=0, n_test_per_k=spec.n_test_per_k, families=spec.families,
                         train_ks=spec.train_ks, heldout_ks=spec.heldout_ks)
    del splits["train"]
    return splits


def _train_chunk(args: tuple[str, int, int, str, frozenset[str]]) -> dict[str, np.ndarray]:
    family, k, n, seed, exclude = args
    return encode(generate(family, k, n, seed=seed, exclude=exclude))


def train_pool(spec: DataSpec, exclude: Collection[str], *, workers: int = 1,
               chunk: int = 50000) -> dict[str, np.ndarray]:
    """``n_train_per_k`` tasks per family and training k, none of them in ``exclude`` (canonical forms).

    Drawn in chunks of ``chunk`` tasks (seed ``"train-<seed>-<chunk index>"``) on ``workers``
    processes and de-duplicated; a step count whose task space is small (k = 2 of ``arith_chain``
    has about 10^5 tasks) ends up with fewer rows (keep ``chunk`` below that size).
    """
    exclude = frozenset(exclude)
    jobs = []
    for family in spec.families:
        for k in spec.train_ks:
            sizes = [chunk] * (spec.n_train_per_k // chunk) + ([spec.n_train_per_k % chunk] if spec.n_train_per_k % chunk else [])
            jobs += [(family, k, n, f"train-{spec.seed}-{i}", exclude) for i, n in enumerate(sizes)]
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            parts = list(pool.map(_train_chunk, jobs, chunksize=1))
    else:
        parts = [_train_chunk(j) for j in jobs]
    arrays = concat(parts)
    _, first = np.unique(arrays["inputs"], axis=0, return_index=True)
    return {k: v[np.sort(first)] for k, v in arrays.items()}


def load_data(spec: DataSpec, *, workers: int = 1, cache_dir: str | Path | None = None
              ) -> tuple[dict[str, np.ndarray], dict[str, dict[str, np.ndarray]]]:
    """The training pool and the encoded evaluation splits of ``spec``: ``(pool, {split: arrays})``.

    With ``cache_dir`` they are read from ``<cache_dir>/data-<hash of spec>.npz`` when present, else
    generated and written there (atomically), so several runs on the same data generate it once.
    """
    def build() -> dict[str, dict[str, np.ndarray]]:
        splits = eval_splits(spec)
        exclude = {t.canonical for tasks in splits.values() for t in tasks}
        return {"pool": train_pool(spec, exclude, workers=workers),
                **{name: encode(tasks) for name, tasks in splits.items()}}

    evals = cached_groups(cache_dir, "data", spec, build)
    return evals.pop("pool"), evals


def selection_split(spec: DataSpec, k: int, n: int) -> dict[str, np.ndarray]:
    """``n`` tasks per family with ``k`` steps to select a model on: drawn from their own seed stream
    (``"select-<seed>"``) and never one of the ``n_test_per_k`` evaluation tasks of that k (redrawn here
    exactly as :func:`~hrm_agents.curriculum.generator.make_splits` draws the ``heldout`` split)."""
    tasks = []
    for family in spec.families:
        test = generate(family, k, spec.n_test_per_k, seed=spec.seed)
        tasks += generate(family, k, n, seed=f"select-{spec.seed}", exclude={t.canonical for t in test})
    return encode(tasks)


class MixedSampler:
    """All training step counts at once: each row draws k uniformly, then the next example of that k
    (so a small task space such as k = 2 is not under-sampled)."""

    stage = None

    def __init__(self, ks: np.ndarray, stages: Sequence[int], seed: int):
        self.rng = np.random.default_rng(seed)
        self.cycles = [Cycler(np.flatnonzero(ks == k), rng) for k, rng in zip(stages, self.rng.spawn(len(stages)))]
        if any(len(c.pool) == 0 for c in self.cycles):
            raise ValueError(f"the training pool lacks some of the step counts {list(stages)}")

    def next(self, n: int) -> np.ndarray:
        counts = self.rng.multinomial(n, [1 / len(self.cycles)] * len(self.cycles))
        return self.rng.permutation(np.concatenate([c.take(m) for c, m in zip(self.cycles, counts)]))

    def report(self, acc_by_k: dict[int, tuple[float, int]], min_count: int) -> dict | None:
        """Mixed training has no stages: never promotes."""
        return None


class CurriculumSampler:
    """Stages of increasing k with threshold promotion (the curriculum's ``ThresholdCurriculum``).

    :meth:`report` gets the training exact accuracy per k over the last log window and promotes when
    the current stage's accuracy reaches the threshold on at least ``min_count`` samples. With
    ``max_per_stage``, a stage also ends once it has served that many examples (inside :meth:`next`).
    With ``replay`` > 0, after the first stage each row is, with that probability, an example of an
    earlier stage (its k drawn uniformly among them) instead of the current one.
    """

    replay = 0.0  # a sampler pickled in a checkpoint before replay existed resumes without it

    def __init__(self, ks: np.ndarray, stages: Sequence[int], threshold: float, seed: int,
                 max_per_stage: int | None = None, replay: float = 0.0):
        self.tc = ThresholdCurriculum(ks, budget=2**62, stages=tuple(stages), threshold=threshold,
                                      max_per_stage=max_per_stage, seed=seed)
        self._reported = 0
        self.replay = replay
        self.rng = np.random.default_rng([seed, len(stages)])  # apart from the curriculum's own streams
        self.earlier = [Cycler(np.flatnonzero(ks == k), rng) for k, rng in zip(stages, self.rng.spawn(len(stages)))]

    @property
    def stage(self) -> int:
        return self.tc.stage

    def next(self, n: int) -> np.ndarray:
        """Exactly ``n`` indices (a batch that crosses a stage cap continues in the next stage)."""
        before = self.tc.stage_index  # the stages replayed: those before the current one
        m = int(self.rng.binomial(n, self.replay)) if self.replay and before else 0
        parts = [self.tc.next_batch(n - m)]
        while (got := sum(len(p) for p in parts)) < n - m:
            parts.append(self.tc.next_batch(n - m - got))
        if m:
            counts = self.rng.multinomial(m, [1 / before] * before)
            parts += [c.take(int(j)) for c, j in zip(self.earlier, counts)]
            return self.rng.permutation(np.concatenate(parts))
        return np.concatenate(parts)

    def report(self, acc_by_k: dict[int, tuple[float, int]], min_count: int) -> dict | None:
        """Threshold promotion; returns the latest promotion since the last call (by threshold or by
        the stage cap), or ``None``."""
        acc, count = acc_by_k.get(self.stage, (0.0, 0))
        if count >= min_count:
            self.tc.report_accuracy(acc)
        if len(self.tc.history) == self._reported:
            return None
        self._reported = len(self.tc.history)
        return self.tc.history[-1]
