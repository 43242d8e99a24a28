"""Tests of the curriculum generator, exports, arrays and schedules (issue 7)."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
import yaml

from hrm_agents.curriculum import (ANSWER_LEN, ARITH, FAMILIES, IGNORE_LABEL, LIST, SEQ_LEN, VOCAB,
                                   ArithConfig, ListConfig, ThresholdCurriculum, decode_answer,
                                   encode_canonical, encode_tasks, from_canonical, generate,
                                   generate_task, load_npz, make_splits, math_items, parse_question,
                                   read_jsonl, save_npz, schedule_streams, to_suite, to_task, write_jsonl)
from hrm_agents.curriculum.__main__ import main as cli_main
from hrm_agents.curriculum.export import from_task, write_suite_yaml
from hrm_agents.tasks.schema import Suite


def reference_eval(canonical: str) -> list:
    """Independent interpreter of the canonical form: the result after each step."""
    head, *tokens = canonical.split(" ")
    results: list = []
    if head.startswith("["):
        xs = [int(x) for x in head[1:-1].split(",") if x]
        for tok in tokens:
            if tok == "rev":
                xs = list(reversed(xs))
            elif tok == "sort":
                xs = sorted(xs)
            elif tok == "pop":
                xs = xs[: len(xs) - 1]
            elif tok == "rot":
                xs = xs[1:] + xs[:1]
            elif tok.startswith("app"):
                xs = xs + [int(tok[3:])]
            else:
                value = {"sum": lambda: sum(xs), "max": lambda: max(xs), "min": lambda: min(xs)}.get(
                    tok, lambda: xs[int(tok[3:])])()
                results.append(value)
                continue
            results.append(list(xs))
        return results
    v = int(head)
    for tok in tokens:
        n = int(tok[1:])
        if tok[0] == "+":
            v += n
        elif tok[0] == "-":
            v -= n
        elif tok[0] == "*":
            v *= n
        elif tok[0] == "%":
            v -= n * (v // n)
        else:
            assert tok[0] == "/"
            v = int(v / n)  # values are non-negative, so truncation == floor
        results.append(v)
    return results


def as_plain(steps) -> list:
    return [list(s) if isinstance(s, tuple) else s for s in steps]


@pytest.fixture(scope="module")
def splits():
    return make_splits(seed=3, n_train_per_k=400, n_test_per_k=60)


# --- generator -----------------------------------------------------------------------------------

def test_generator_is_deterministic_in_seed():
    assert generate_task(ARITH, 4, 123) == generate_task(ARITH, 4, 123)
    assert generate_task(LIST, 4, 123) == generate_task(LIST, 4, 123)
    assert generate(ARITH, 3, 50, seed=1) == generate(ARITH, 3, 50, seed=1)
    assert generate(ARITH, 3, 50, seed=1) != generate(ARITH, 3, 50, seed=2)
    a, b = make_splits(seed=5, n_train_per_k=50, n_test_per_k=10), make_splits(seed=5, n_train_per_k=50,
                                                                                 n_test_per_k=10)
    assert a == b
    for t in a["train"][:40] + a["heldout"][:40]:  # each task is reproducible from its own seed
        assert generate_task(t.family, t.k, t.seed) == t


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 6, 8])
def test_answers_and_steps_match_independent_interpreter(family, k):
    tasks = generate(family, k, 300, seed=k)
    for t in tasks:
        ref = reference_eval(t.canonical)
        assert len(ref) == t.k == k == len(t.canonical.split(" ")) - 1
        assert as_plain(t.steps) == ref
        assert t.answer == ref[-1] and isinstance(t.answer, int)


def test_default_knobs_bound_values_and_every_step_changes_the_state():
    for t in generate(ARITH, 6, 500, seed=0):
        values = [int(t.canonical.split(" ")[0])] + reference_eval(t.canonical)
        assert all(0 <= v <= 99 for v in values)
        assert all(a != b for a, b in zip(values, values[1:]))
        assert all(1 <= int(tok[1:]) <= 9 for tok in t.canonical.split(" ")[1:])
    for t in generate(LIST, 6, 500, seed=0):
        start = [int(x) for x in t.canonical.split(" ")[0][1:-1].split(",")]
        states = [start] + reference_eval(t.canonical)[:-1]
        assert 3 <= len(start) <= 5
        assert all(2 <= len(s) <= 8 and all(0 <= x <= 9 for x in s) for s in states)
        assert all(a != b for a, b in zip(states, states[1:]))
        assert t.canonical.split(" ")[-1].rstrip("0123456789") in {"get", "sum", "max", "min"}


def test_knobs_restrict_operations_and_ranges():
    cfg = ArithConfig(ops=("+", "*"), add_max=3, value_max=50, start_max=10)
    for t in generate(ARITH, 4, 200, seed=0, config=cfg):
        tokens = t.canonical.split(" ")
        assert int(tokens[0]) <= 10 and {tok[0] for tok in tokens[1:]} <= {"+", "*"}
        assert all(int(tok[1:]) <= 3 for tok in tokens[1:] if tok[0] == "+")
        assert all(0 <= v <= 50 for v in reference_eval(t.canonical))
    lcfg = ListConfig(ops=("rev", "app"), reducers=("sum",), max_len=6)
    for t in generate(LIST, 4, 200, seed=0, config=lcfg):
        assert {tok.rstrip("0123456789") for tok in t.canonical.split(" ")[1:]} <= {"rev", "app", "sum"}
    with pytest.raises(ValueError, match="cannot produce"):
        generate_task(LIST, 3, 0, ListConfig(ops=("sort",)))  # sort twice in a row would be a no-op
    with pytest.raises(ValueError, match="invalid ops"):
        ArithConfig(ops=("+", "rev"))
    with pytest.raises(ValueError, match="config ListConfig is not for family"):
        generate_task(ARITH, 2, 0, ListConfig())
    with pytest.raises(ValueError, match="only found"):
        generate(ARITH, 1, 5000, seed=0, config=ArithConfig(start_max=5, value_max=9))


# --- splits --------------------------------------------------------------------------------------

def test_splits_are_disjoint_and_heldout_ks_never_in_training_splits(splits):
    assert set(splits) == {"train", "val", "test_id", "heldout"}
    canon = {name: [t.canonical for t in ts] for name, ts in splits.items()}
    for name, forms in canon.items():
        assert len(forms) == len(set(forms)), f"duplicates inside {name}"
    names = list(canon)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert not set(canon[a]) & set(canon[b]), f"{a} and {b} share tasks"
    for name in ("train", "val", "test_id"):
        assert {t.k for t in splits[name]} == {2, 3, 4}
    assert {t.k for t in splits["heldout"]} == {5, 6}
    counts = Counter((t.family, t.k) for t in splits["train"])
    assert counts == {(f, k): 400 for f in FAMILIES for k in (2, 3, 4)}
    assert Counter((t.family, t.k) for t in splits["heldout"]) == {(f, k): 60 for f in FAMILIES for k in (5, 6)}
    assert len(splits["val"]) == len(splits["test_id"]) == 6 * 60
    with pytest.raises(ValueError, match="overlap"):
        make_splits(0, 10, 5, train_ks=(2, 3, 5), heldout_ks=(5, 6))


def test_math_items_are_two_and_three_step_math_tasks():
    items = math_items(seed=0, n=22)
    assert len(items) == 22 and len({t.id for t in items}) == 22
    assert Counter((t.family, t.meta["k"]) for t in items) == {(ARITH, 2): 6, (LIST, 2): 6, (ARITH, 3): 5, (LIST, 3): 5}
    for t in items:
        assert t.kind == "math" and t.answer == str(reference_eval(t.reference["canonical"])[-1])
    first = items[0].reference["canonical"]
    assert first not in {t.reference["canonical"] for t in math_items(seed=0, n=22, exclude={first})}


# --- questions -----------------------------------------------------------------------------------

def test_question_round_trips_through_parse_question_inside_chat_text():
    tasks = generate(ARITH, 3, 200, seed=9) + generate(LIST, 4, 200, seed=9) + generate(LIST, 1, 20, seed=9)
    for i, t in enumerate(tasks):
        question = t.question.lower() if i % 2 else t.question
        text = f"You are a careful solver.\nSolve: {question}\nGive only the final number."
        parsed = parse_question(text)
        assert parsed is not None, text
        assert parsed.canonical == t.canonical and parsed.answer == t.answer and parsed.seed is None
    parsed = parse_question("Solve: start with 7, multiply by 3, subtract 4, take the remainder mod 10 and stop")
    assert parsed.canonical == "7 *3 -4 %10" and parsed.answer == 7


def test_parse_question_rejects_other_text_and_unexecutable_programs():
    assert parse_question("What is 7 times 3?") is None
    assert parse_question("Start with the basics, then add tests.") is None
    assert parse_question("Start with the list [1, 2], then return the 5th element.") is None
    assert parse_question("Start with 9, take the remainder mod 0.") is None


def test_from_canonical_validates():
    assert from_canonical("[3,1,2] rev app5 sort get1").answer == 2
    for bad in ("x +3", "5 +", "5 rev", "[1,2] +3", "[1,2] sum rev", "[1,2] rev", "[1,2] get"):
        with pytest.raises(ValueError):
            from_canonical(bad)


# --- arrays --------------------------------------------------------------------------------------

def test_encode_tasks_layout_and_decode(splits):
    tasks = splits["train"][::8] + splits["heldout"]  # both families, k = 2..6
    arr = encode_tasks(tasks)
    assert arr["inputs"].shape == arr["labels"].shape == (len(tasks), SEQ_LEN)
    assert arr["inputs"].dtype == arr["labels"].dtype == np.int32
    assert arr["k"].dtype == arr["family"].dtype == np.int8
    assert list(arr["k"]) == [t.k for t in tasks]
    assert [FAMILIES[i] for i in arr["family"]] == [t.family for t in tasks]
    for t, inp, lab in zip(tasks, arr["inputs"], arr["labels"]):
        n = len(t.canonical)
        assert "".join(VOCAB[i] for i in inp[:n]) == t.canonical
        assert VOCAB[inp[n]] == "=" and all(VOCAB[i] == "?" for i in inp[n + 1:n + 1 + ANSWER_LEN])
        assert (inp[n + 1 + ANSWER_LEN:] == 0).all()
        assert (lab[:n + 1] == IGNORE_LABEL).all() and (lab[n + 1 + ANSWER_LEN:] == IGNORE_LABEL).all()
        assert decode_answer(lab) == str(t.answer)
        assert decode_answer(lab, inp) == str(t.answer)
        assert (encode_canonical(t.canonical) == inp).all()
    pred = arr["labels"][0].copy()
    n = len(tasks[0].canonical) + 1
    pred[n:n + ANSWER_LEN] = [VOCAB.index("4"), 0, VOCAB.index("2"), 0]
    assert decode_answer(pred, arr["inputs"][0]) == "4_2"


def test_longest_tasks_fit_and_bad_input_is_rejected(tmp_path):
    for family in FAMILIES:
        arr = encode_tasks(generate(family, 8, 500, seed=0))
        assert [decode_answer(r) for r in arr["labels"]] == [str(t.answer) for t in generate(family, 8, 500, seed=0)]
    with pytest.raises(ValueError, match="too long"):
        encode_canonical("1" + " +1" * 30)
    with pytest.raises(ValueError, match="not in the curriculum vocabulary"):
        encode_canonical("7 &3")
    path = tmp_path / "a.npz"
    arr = encode_tasks(generate(ARITH, 2, 10, seed=0))
    save_npz(path, arr)
    loaded = load_npz(path)
    assert set(loaded) == set(arr) and all((loaded[k] == arr[k]).all() for k in arr)
    np.savez(tmp_path / "b.npz", vocab=np.array(["<pad>", "x"]), **arr)
    with pytest.raises(ValueError, match="different curriculum vocabulary"):
        load_npz(tmp_path / "b.npz")


# --- export --------------------------------------------------------------------------------------

def test_export_to_task_suite_yaml_and_jsonl(tmp_path, splits):
    tasks = splits["test_id"][:20] + splits["heldout"][:20]
    task = to_task(tasks[0])
    assert task.kind == "math" and task.prompt == tasks[0].question and task.answer == str(tasks[0].answer)
    assert task.family == tasks[0].family
    assert task.meta == {"k": tasks[0].k, "seed": tasks[0].seed}  # what an arm may see
    assert task.reference == {"canonical": tasks[0].canonical, "steps": reference_eval(tasks[0].canonical)}
    write_suite_yaml(tmp_path / "s.yaml", to_suite("demo", tasks))
    suite = Suite.model_validate(yaml.safe_load((tmp_path / "s.yaml").read_text()))
    assert [from_task(t) for t in suite.tasks] == tasks
    write_jsonl(tmp_path / "s.jsonl", tasks)
    assert read_jsonl(tmp_path / "s.jsonl") == tasks
    with pytest.raises(ValueError, match="recomputed"):
        from_task(task.model_copy(update={"answer": "999"}))


def test_cli_writes_splits(tmp_path, capsys):
    cli_main(["--out", str(tmp_path), "--seed", "1", "--n-train-per-k", "30", "--n-test-per-k", "5",
              "--families", "arith_chain"])
    assert "train" in capsys.readouterr().out
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["counts"]["heldout"] == {"arith_chain/k5": 5, "arith_chain/k6": 5}
    assert not (tmp_path / "train.yaml").exists() and (tmp_path / "heldout.yaml").exists()
    train = read_jsonl(tmp_path / "train.jsonl")
    assert len(train) == 90 and train == make_splits(1, 30, 5, [ARITH])["train"]
    arr = load_npz(tmp_path / "train.npz")
    assert [decode_answer(r) for r in arr["labels"]] == [str(t.answer) for t in train]
    with pytest.raises(SystemExit):
        cli_main(["--out", str(tmp_path), "--families", "nope"])


# --- schedules -----------------------------------------------------------------------------------

@pytest.mark.parametrize("budget", [0, 7, 300, 5000])
def test_schedules_have_equal_budgets_and_the_same_examples(budget):
    ks = np.array([2, 3, 4] * 100 + [5] * 10)
    streams = schedule_streams(ks, budget, seed=4)
    cur, mixed = streams["curriculum"], streams["mixed"]
    assert len(cur) == len(mixed) == budget
    assert sorted(cur) == sorted(mixed)
    stage_ks = ks[cur]
    assert (np.diff(stage_ks) >= 0).all()  # 2 -> 3 -> 4, never back
    assert Counter(stage_ks.tolist()) == {k: n for k, n in zip((2, 3, 4), [budget // 3 + (i < budget % 3)
                                                                           for i in range(3)]) if n}
    if budget >= 300:
        assert not (np.diff(ks[mixed]) >= 0).all()
        per_example = Counter(cur.tolist())  # a budget beyond the pool repeats examples evenly
        assert max(per_example.values()) - min(per_example.values()) <= 1
    assert (schedule_streams(ks, budget, seed=4)["mixed"] == mixed).all()


def test_schedule_fixed_counts_and_errors():
    ks = np.array([2] * 10 + [3] * 10 + [4] * 10)
    cur = schedule_streams(ks, 12, counts=[2, 0, 10])["curriculum"]
    assert ks[cur].tolist() == [2, 2] + [4] * 10
    with pytest.raises(ValueError, match="summing to"):
        schedule_streams(ks, 12, counts=[2, 2, 2])
    with pytest.raises(ValueError, match="no examples with k=4"):
        schedule_streams(ks[:20], 12)


def test_threshold_curriculum_promotes_on_reported_accuracy():
    ks = np.array([2, 3, 4] * 50)
    sched = ThresholdCurriculum(ks, budget=100, threshold=0.9, seed=0)
    batches = []
    for acc in [0.5, 0.95, {3: 0.2, 2: 1.0}, {3: 0.91}, 1.0, 1.0, 1.0]:
        batches.append(sched.next_batch(16))
        sched.report_accuracy(acc)
    assert [set(ks[b].tolist()) for b in batches[:5]] == [{2}, {2}, {3}, {3}, {4}]
    assert [(h["from_k"], h["to_k"], h["consumed"]) for h in sched.history] == [(2, 3, 32), (3, 4, 64)]
    assert sched.stage == 4 and not sched.report_accuracy(1.0)  # the last stage never promotes
    while not sched.done:
        sched.next_batch(16)
    assert len(sched.next_batch(16)) == 0
    served = sched.served()
    assert len(served) == sched.consumed == 100
    assert sorted(sched.mixed_stream()) == sorted(served)


def test_threshold_curriculum_max_per_stage():
    ks = np.array([2, 3, 4] * 50)
    sched = ThresholdCurriculum(ks, budget=60, threshold=1.0, max_per_stage=20, seed=0)
    sizes = [len(sched.next_batch(15)) for _ in range(6)]
    assert sizes == [15, 5, 15, 5, 15, 5] and sched.done
    assert ks[sched.served()].tolist() == [2] * 20 + [3] * 20 + [4] * 20
    assert [h["reason"] for h in sched.history] == ["max_per_stage", "max_per_stage"]
