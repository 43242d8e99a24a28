"""Issue 18 item 2 on CPU: model selection on a held-out k (``select_k``), scoring under another
halting rule (``eval_halt_mode``), replay of earlier curriculum stages (``replay``) and the recipe
variants of the re-check that use them. Tiny configs only."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torch")

from experiments.exp4_hrm_ablations import recheck  # noqa: E402
from experiments.exp4_hrm_ablations.plan import RunSpec  # noqa: E402
from experiments.exp4_hrm_ablations.runs import run_one  # noqa: E402
from hrm_agents.curriculum.generator import generate  # noqa: E402
from hrm_agents.hrm import train as train_mod  # noqa: E402
from hrm_agents.hrm.ablations import arm_overrides, step_cost  # noqa: E402
from hrm_agents.hrm.config import (  # noqa: E402
    ConfigError,
    load_json,
    to_dict,
    train_config_from_dict,
)
from hrm_agents.hrm.data import CurriculumSampler, DataSpec, encode, selection_split  # noqa: E402
from hrm_agents.hrm.evaluate import evaluate, to_tensors  # noqa: E402
from hrm_agents.hrm.model import load_model  # noqa: E402


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_config_rejects_replay_without_curriculum_and_selection_on_a_training_k():
    base = load_json("e4_smoke")
    with pytest.raises(ConfigError, match="replay needs schedule"):
        train_config_from_dict({**base, "replay": 0.25})
    with pytest.raises(ConfigError, match="replay must be"):
        train_config_from_dict({**base, "schedule": "curriculum", "replay": 1.0})
    with pytest.raises(ConfigError, match="select_k 3 is a training k"):
        train_config_from_dict({**base, "select_k": 3})
    with pytest.raises(ConfigError, match="eval_halt_mode"):
        train_config_from_dict({**base, "eval_halt_mode": "sometimes"})
    assert train_config_from_dict({**base, "schedule": "curriculum", "replay": 0.25, "select_k": 5}).select_k == 5


def test_selection_split_is_k5_only_apart_from_the_heldout_tasks_and_reproducible():
    spec = DataSpec(n_test_per_k=300)
    sel = selection_split(spec, 5, 200)
    assert sel["inputs"].shape[0] == 200 and set(sel["k"].tolist()) == {5}
    heldout = encode(generate("arith_chain", 5, 300, seed=spec.seed))["inputs"]
    assert not {r.tobytes() for r in sel["inputs"]} & {r.tobytes() for r in heldout}
    assert np.array_equal(selection_split(spec, 5, 200)["inputs"], sel["inputs"])


def test_curriculum_replay_draws_earlier_stages_only_after_the_first():
    ks = np.repeat([2, 3, 4], 3000)
    plain = CurriculumSampler(ks, [2, 3, 4], 0.95, seed=0, max_per_stage=4000)
    replay = CurriculumSampler(ks, [2, 3, 4], 0.95, seed=0, max_per_stage=4000, replay=0.25)
    first = ks[replay.next(2000)]
    assert set(first.tolist()) == {2} and set(ks[plain.next(2000)].tolist()) == {2}
    for s in (plain, replay):
        s.next(2000)  # the stage cap promotes to k = 3
    assert replay.stage == plain.stage == 3
    batch = ks[replay.next(4000)]
    assert len(batch) == 4000 and set(batch.tolist()) == {2, 3}
    assert 0.2 < np.mean(batch == 2) < 0.3
    assert set(ks[plain.next(4000)].tolist()) == {3}
    replay.next(4000)  # on to k = 4: the replayed quarter splits between k = 2 and 3
    assert replay.stage == 4
    batch = ks[replay.next(8000)]
    assert 0.09 < np.mean(batch == 2) < 0.16 and 0.09 < np.mean(batch == 3) < 0.16


def _tiny(**over) -> dict:
    return {**load_json("e4_smoke"), "steps": 24, "eval_every": 6, "log_every": 6, "n_eval_per_k": 40,
            "select_k": 5, **over}


def test_training_keeps_the_best_k5_weights_and_never_scores_k6_for_it(tmp_path):
    cfg = train_config_from_dict(_tiny())
    train_mod.train(cfg, tmp_path, progress=False, data_cache=tmp_path / "data")
    evals = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    evals = [e for e in evals if e["event"] == "eval"]
    assert [e["step"] for e in evals] == [6, 12, 18, 24]
    assert all(list(e["select"]) == ["5"] and e["select"]["5"]["n"] == 40 for e in evals)
    accs = [e["select"]["5"]["exact"] for e in evals]
    best, meta = load_model(tmp_path / "best")
    assert meta["select_exact"] == max(accs) and meta["select_k"] == 5
    assert meta["step"] == max(e["step"] for e, a in zip(evals, accs) if a == max(accs))  # the later on ties
    # the kept weights are the ones that scored best (float32 export: the same numbers again)
    data = to_tensors(selection_split(DataSpec.of(cfg), 5, 40), "cpu")
    assert evaluate(best, data)[5]["exact"] == meta["select_exact"]


def test_run_one_scores_the_last_and_the_selected_weights_under_eval_halt_mode(tmp_path):
    cfg = train_config_from_dict(_tiny(model={**load_json("e4_smoke")["model"], "halt_mode": "random"},
                                       eval_halt_mode="fixed"))
    res = run_one(RunSpec("recipe_random", 1, to_dict(cfg)), tmp_path, "cpu", 1)
    assert res["status"] == "done", res
    result = json.loads((tmp_path / "runs" / "recipe_random-s1" / "result.json").read_text())
    halt_max = cfg.model["halt_max_steps"]
    # fixed halting at scoring time: every task runs all segments (random halting would stop early)
    assert all(v["avg_steps"] == halt_max for v in result["per_k"].values())
    sel = result["selected"]
    assert sel["select_k"] == 5 and sel["step"] in (6, 12, 18, 24)
    assert set(sel["per_k"]) == {"2", "3", "4", "5", "6"}
    assert all(v["avg_steps"] == halt_max for v in sel["per_k"].values())


def test_recheck_variants_change_one_thing_each_and_stay_within_the_recipe_budget():
    jobs = {j.name: j for g in recheck.build_jobs("full") for j in g}
    recipe = recheck.recipe_config("full", seed=1)
    expect = {"recipe_random": ({"halt_mode": "random"}, {"eval_halt_mode": "fixed"}),
              "recipe_random_long": ({"halt_mode": "random"},
                                     {"eval_halt_mode": "fixed", "steps": recheck.SETTINGS["full"]["long_steps"]}),
              "recipe_4x1": ({"H_cycles": 4, "L_cycles": 1}, {}),
              "recipe_replay": ({}, {**arm_overrides("curriculum", recipe)[1], "replay": recheck.REPLAY})}
    for arm, (model, train) in expect.items():
        cfg = jobs[f"variant/{arm}-s1"].config
        assert cfg["model"] == {**recipe["model"], **model}, arm
        assert {k: v for k, v in cfg.items() if k != "model"} == \
            {**{k: v for k, v in recipe.items() if k != "model"}, **train, "select_k": 5}, arm
    # "longer training at no more GPU time": more steps than the recipe, fewer block applications
    long_ = jobs["variant/recipe_random_long-s1"].config
    assert long_["steps"] > recipe["steps"]
    assert long_["steps"] * step_cost(long_["model"]) <= recipe["steps"] * step_cost(recipe["model"])
