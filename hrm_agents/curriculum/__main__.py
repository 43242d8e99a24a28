"""CLI: ``python -m hrm_agents.curriculum --out DIR --seed 0`` writes the splits (JSONL, suite YAML, npz)."""

from __future__ import annotations

import time

from ..utils.flags import FlagParser
from .export import YAML_SPLITS, write_splits
from .generator import make_splits
from .programs import FAMILIES


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x)


def main(argv: list[str] | None = None) -> None:
    """Generate the curriculum splits and write them to ``--out``."""
    p = FlagParser(prog="python -m hrm_agents.curriculum", description=__doc__)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-train-per-k", type=int, default=10000, help="train tasks per family and k")
    p.add_argument("--n-val-per-k", type=int, default=None, help="val tasks per family and k (default: n-test)")
    p.add_argument("--n-test-per-k", type=int, default=500, help="test_id / heldout tasks per family and k")
    p.add_argument("--families", default=",".join(FAMILIES), help=f"comma-separated subset of {FAMILIES}")
    p.add_argument("--train-ks", type=_ints, default=(2, 3, 4), help="step counts of train/val/test_id")
    p.add_argument("--heldout-ks", type=_ints, default=(5, 6), help="step counts of the heldout split")
    p.add_argument("--yaml-splits", default=",".join(YAML_SPLITS),
                   help="splits also written as suite YAML (comma-separated; '' for none)")
    a = p.parse_args(argv)
    families = [f for f in a.families.split(",") if f]
    t0 = time.perf_counter()
    try:
        splits = make_splits(a.seed, a.n_train_per_k, a.n_test_per_k, families, a.train_ks, a.heldout_ks,
                             n_val_per_k=a.n_val_per_k)
    except ValueError as e:
        p.error(str(e))
    t1 = time.perf_counter()
    manifest = {"seed": a.seed, "families": families, "train_ks": list(a.train_ks),
                "heldout_ks": list(a.heldout_ks), "n_train_per_k": a.n_train_per_k,
                "n_val_per_k": a.n_val_per_k, "n_test_per_k": a.n_test_per_k}
    paths = write_splits(a.out, splits, yaml_splits=[s for s in a.yaml_splits.split(",") if s], manifest=manifest)
    for name, tasks in splits.items():
        print(f"{name:8s} {len(tasks):7d} tasks")
    print(f"generated in {t1 - t0:.2f}s, wrote {len(paths)} files to {a.out} in {time.perf_counter() - t1:.2f}s")


if __name__ == "__main__":
    main()
