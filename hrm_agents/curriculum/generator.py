"""Seeded generation of curriculum tasks, train/val/test/held-out splits and E2 math items.

Difficulty knobs are the step count ``k`` plus the per-family configs below (operand ranges and
operation sets). Every sampled step changes the state (no no-op steps), so ``k`` is an exact count of
real steps. A task is fully determined by ``(family, k, seed, config)``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, ClassVar, Collection, Mapping, Sequence, Union

from ..tasks.schema import Task
from .export import to_task
from .programs import ARITH, FAMILIES, LIST, OPS, CurriculumTask, State, Step, apply_op, build_task


def _check_ops(names: tuple[str, ...], family: str, *, reducers: bool) -> None:
    bad = [n for n in names if n not in OPS or OPS[n].family != family or OPS[n].reducer != reducers]
    if bad or not names:
        raise ValueError(f"invalid {'reducers' if reducers else 'ops'} for {family}: {list(names)}")


def _walk(valid: Callable[[Any], Sequence[tuple[str, Sequence[Any]]]], rng: random.Random, state: State,
          n: int) -> tuple[tuple[Step, ...], State] | None:
    """``n`` random steps, each a uniform op among ``valid(state)`` then a uniform argument of it;
    returns the steps and the final state, or ``None`` when some state has no valid step."""
    steps = []
    for _ in range(n):
        options = valid(state)
        if not options:
            return None
        name, args = rng.choice(options)
        step = (name, rng.choice(args))
        state = apply_op(state, step)
        steps.append(step)
    return tuple(steps), state


@dataclass(frozen=True)
class ArithConfig:
    """Knobs of ``arith_chain`` (defaults keep every value in 0..99 with single-digit operands).

    start in ``0..start_max``; every intermediate value stays in ``0..value_max``;
    ``+a``/``-a`` with ``a`` in ``1..add_max``; ``*a`` with ``a`` in ``2..mul_max`` (only when the
    product fits and the value is not 0); ``%a`` with ``a`` in ``2..mod_max`` (only when value >= a);
    ``/a`` floor division with ``a`` in ``2..div_max`` (only when value >= a, so the result is >= 1).
    """

    family: ClassVar[str] = ARITH
    start_max: int = 99
    value_max: int = 99
    add_max: int = 9
    mul_max: int = 9
    mod_max: int = 9
    div_max: int = 9
    ops: tuple[str, ...] = ("+", "-", "*", "%", "/")

    def __post_init__(self) -> None:
        _check_ops(self.ops, ARITH, reducers=False)
        if not 0 <= self.start_max <= self.value_max or self.value_max < 1 or self.add_max < 1:
            raise ValueError("ArithConfig needs 0 <= start_max <= value_max, value_max >= 1, add_max >= 1")

    def sample(self, rng: random.Random, k: int) -> tuple[State, tuple[Step, ...]] | None:
        """Draw a start value and ``k`` steps (``None`` if the draw reaches a value with no valid step)."""
        start = rng.randint(0, self.start_max)
        walked = _walk(_arith_table(self).__getitem__, rng, start, k)
        return None if walked is None else (start, walked[0])


@lru_cache(maxsize=None)
def _arith_table(cfg: ArithConfig) -> list[list[tuple[str, tuple[int, ...]]]]:
    """For each value 0..value_max: the ops that keep it in range and change it, with their valid args."""
    table = []
    for v in range(cfg.value_max + 1):
        valid = {
            "+": [a for a in range(1, cfg.add_max + 1) if v + a <= cfg.value_max],
            "-": [a for a in range(1, cfg.add_max + 1) if v - a >= 0],
            "*": [a for a in range(2, cfg.mul_max + 1) if 0 < v * a <= cfg.value_max],
            "%": [a for a in range(2, cfg.mod_max + 1) if v >= a],
            "/": [a for a in range(2, cfg.div_max + 1) if v >= a],
        }
        table.append([(name, tuple(valid[name])) for name in cfg.ops if valid[name]])
    return table


@dataclass(frozen=True)
class ListConfig:
    """Knobs of ``list_program``.

    Start lists have ``start_len[0]..start_len[1]`` elements, all elements and appended values are in
    ``0..digit_max``, lengths stay in ``min_len..max_len``. Transforms (``ops``) are only chosen when
    they change the list (no reversing a palindrome, sorting a sorted list, rotating a constant list);
    the last step is one of ``reducers``.
    """

    family: ClassVar[str] = LIST
    digit_max: int = 9
    start_len: tuple[int, int] = (3, 5)
    min_len: int = 2
    max_len: int = 8
    ops: tuple[str, ...] = ("rev", "sort", "app", "pop", "rot")
    reducers: tuple[str, ...] = ("get", "sum", "max", "min")

    def __post_init__(self) -> None:
        _check_ops(self.ops, LIST, reducers=False)
        _check_ops(self.reducers, LIST, reducers=True)
        if not 1 <= self.min_len <= self.start_len[0] <= self.start_len[1] <= self.max_len:
            raise ValueError("ListConfig needs 1 <= min_len <= start_len[0] <= start_len[1] <= max_len")

    def _valid(self, s: tuple[int, ...]) -> list[tuple[str, tuple[int | None, ...]]]:
        valid: dict[str, tuple[int | None, ...]] = {
            "rev": (None,) if s != s[::-1] else (),
            "sort": (None,) if any(a > b for a, b in zip(s, s[1:])) else (),
            "app": tuple(range(self.digit_max + 1)) if len(s) < self.max_len else (),
            "pop": (None,) if len(s) > self.min_len else (),
            "rot": (None,) if len(set(s)) > 1 else (),
        }
        return [(name, valid[name]) for name in self.ops if valid[name]]

    def sample(self, rng: random.Random, k: int) -> tuple[State, tuple[Step, ...]] | None:
        """Draw a start list, ``k - 1`` transforms and one reducer (``None`` if no transform applies)."""
        start = tuple(rng.randint(0, self.digit_max) for _ in range(rng.randint(*self.start_len)))
        walked = _walk(self._valid, rng, start, k - 1)
        if walked is None:
            return None
        steps, state = walked
        name = rng.choice(self.reducers)
        return start, steps + ((name, rng.randrange(len(state)) if name == "get" else None),)


Config = Union[ArithConfig, ListConfig]
DEFAULT_CONFIGS: dict[str, Config] = {ARITH: ArithConfig(), LIST: ListConfig()}


def _config(family: str, config: Config | None) -> Config:
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; expected one of {FAMILIES}")
    cfg = config or DEFAULT_CONFIGS[family]
    if cfg.family != family:
        raise ValueError(f"config {type(cfg).__name__} is not for family {family!r}")
    return cfg


def generate_task(family: str, k: int, seed: int, config: Config | None = None) -> CurriculumTask:
    """The task of ``family`` with exactly ``k`` steps determined by ``seed`` (and ``config``)."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    cfg, rng = _config(family, config), random.Random(seed)
    for _ in range(100):  # redraw when a draw gets stuck (only with restricted op sets)
        drawn = cfg.sample(rng, k)
        if drawn is not None:
            return build_task(family, *drawn, seed)
    raise ValueError(f"{cfg} cannot produce {family} tasks with k={k}")


def generate(family: str, k: int, n: int, *, seed: int | str = 0, config: Config | None = None,
             exclude: Collection[str] = ()) -> list[CurriculumTask]:
    """``n`` tasks with distinct canonical forms (none in ``exclude``), deterministic in ``seed``.

    Task seeds are drawn from a stream keyed by ``(seed, family, k)``. Raises ValueError when the task
    space is too small to find ``n`` new tasks.
    """
    cfg = _config(family, config)
    stream = random.Random(f"{seed}:{family}:{k}")
    seen, out = set(exclude), []
    for _ in range(20 * n + 1000):
        if len(out) == n:
            break
        task = generate_task(family, k, stream.getrandbits(48), cfg)
        if task.canonical not in seen:
            seen.add(task.canonical)
            out.append(task)
    if len(out) < n:
        raise ValueError(f"only found {len(out)} distinct {family} tasks with k={k} (asked for {n}); "
                         "widen the config or ask for fewer")
    return out


SPLITS: tuple[str, ...] = ("train", "val", "test_id", "heldout")


def make_splits(seed: int = 0, n_train_per_k: int = 10000, n_test_per_k: int = 500,
                families: Collection[str] = FAMILIES, train_ks: Collection[int] = (2, 3, 4),
                heldout_ks: Collection[int] = (5, 6), *, n_val_per_k: int | None = None,
                configs: Mapping[str, Config] | None = None) -> dict[str, list[CurriculumTask]]:
    """Splits ``train``/``val``/``test_id`` (k in ``train_ks``) and ``heldout`` (k in ``heldout_ks``).

    Per family and k, canonical forms are distinct across all splits; held-out step counts never
    appear in train/val/test_id. ``n_val_per_k`` defaults to ``n_test_per_k``.
    """
    if set(train_ks) & set(heldout_ks):
        raise ValueError(f"train_ks {sorted(train_ks)} and heldout_ks {sorted(heldout_ks)} overlap")
    n_val = n_test_per_k if n_val_per_k is None else n_val_per_k
    splits: dict[str, list[CurriculumTask]] = {name: [] for name in SPLITS}
    for family in families:
        cfg = (configs or {}).get(family)
        for k in sorted(train_ks):
            tasks = generate(family, k, n_train_per_k + n_val + n_test_per_k, seed=seed, config=cfg)
            splits["train"] += tasks[:n_train_per_k]
            splits["val"] += tasks[n_train_per_k:n_train_per_k + n_val]
            splits["test_id"] += tasks[n_train_per_k + n_val:]
        for k in sorted(heldout_ks):
            splits["heldout"] += generate(family, k, n_test_per_k, seed=seed, config=cfg)
    return splits


def math_items(seed: int = 0, n: int = 40, *, exclude: Collection[str] = ()) -> list[Task]:
    """``n`` two- and three-step items (both families, round-robin) as math :class:`Task` objects for E2.

    Drawn from their own seed stream; pass ``exclude`` (canonical forms, e.g. an HRM training split) to
    keep them out of a training set.
    """
    combos = [(f, k) for k in (2, 3) for f in FAMILIES]
    out = []
    for i, (family, k) in enumerate(combos):
        count = n // len(combos) + (i < n % len(combos))
        out += generate(family, k, count, seed=f"math-{seed}", exclude=exclude)
    return [to_task(t) for t in out]
