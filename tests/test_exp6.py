"""E6 (HRM-LM vs GPT-2 arch on MBPP): the pre-registered verdict, equal-budget planning, pass@k
bookkeeping, sandbox scoring and the smoke plan end to end."""

import json
from pathlib import Path

import pytest

from experiments.exp6_hrm_codegen.verdict import FAILURE, PARTIAL, SUCCESS, StudyNumbers, study_verdict

MBPP = Path(__file__).resolve().parents[2] / "shared" / "data" / "mbpp.jsonl"
GOOD = dict(hrm_pass1=0.35, hrm_pass10=0.5, delta_pass1=0.06, ci95=(0.02, 0.10), p_value=0.01,
            latency_ratio=0.5, ram_ratio_train=0.4, ram_ratio_infer=0.45, stable=True)


def _v(**kw):
    return study_verdict(StudyNumbers(**{**GOOD, **kw}))


def test_all_targets_met_is_success():
    v = _v()
    assert v.verdict == SUCCESS and not v.inconclusive and all(v.checks.values())


@pytest.mark.parametrize("kw,verdict,inconclusive", [
    # accuracy and efficiency met, but not significant at 0.05 (still p < 0.1)
    (dict(p_value=0.07, ci95=(-0.01, 0.12)), PARTIAL, True),
    # efficiency met, accuracy missed, CI includes 0
    (dict(hrm_pass1=0.1, delta_pass1=0.01, ci95=(-0.02, 0.04), p_value=0.08), PARTIAL, True),
    # p < 0.05 but the CI includes 0 (the two disagree): accuracy met -> PARTIAL, not inconclusive
    (dict(ci95=(-0.001, 0.1), p_value=0.04), PARTIAL, False),
    # p >= 0.1 -> FAILURE whatever else holds
    (dict(p_value=0.2, ci95=(-0.03, 0.15)), FAILURE, True),
    # unstable training -> FAILURE even with every number met
    (dict(stable=False), FAILURE, False),
    # significant and accurate, but efficiency missed: no PARTIAL row covers it -> FAILURE
    (dict(latency_ratio=0.9), FAILURE, False),
    # nothing met, p between 0.05 and 0.1
    (dict(hrm_pass1=0.0, hrm_pass10=0.0, delta_pass1=0.0, ci95=(-0.01, 0.01), p_value=0.06, latency_ratio=2.0),
     FAILURE, True),
    # a missing benchmark (None ratios) fails the efficiency check
    (dict(latency_ratio=None, ram_ratio_train=None, ram_ratio_infer=None), FAILURE, False),
    # NaN p (no paired tasks) -> FAILURE, inconclusive
    (dict(p_value=float("nan"), ci95=(float("nan"), float("nan"))), FAILURE, True),
])
def test_verdict_rows(kw, verdict, inconclusive):
    v = _v(**kw)
    assert (v.verdict, v.inconclusive) == (verdict, inconclusive), v.reasons
    assert v.label == (f"{verdict} (INCONCLUSIVE)" if inconclusive else verdict)


@pytest.mark.parametrize("field,value,check", [("hrm_pass1", 0.29, "pass1"), ("hrm_pass10", 0.44, "pass10"),
                                               ("delta_pass1", 0.039, "delta"), ("ram_ratio_infer", 0.51, "ram"),
                                               ("ram_ratio_train", 0.51, "ram"), ("latency_ratio", 0.55, "latency")])
def test_each_threshold_is_the_preregistered_one(field, value, check):
    v = _v(**{field: value})
    assert not v.checks[check] and v.verdict != SUCCESS


def test_verdict_uses_the_evaluators_labels():
    from hrm_agents.evaluation.stats import INCONCLUSIVE, Verdict, VerdictRule
    from experiments.exp6_hrm_codegen.verdict import Thresholds

    v = _v(p_value=0.2, ci95=(-0.03, 0.15))
    assert isinstance(v, Verdict) and v.label == f"{FAILURE} ({INCONCLUSIVE})" and v.as_dict()["label"] == v.label
    t = Thresholds()
    assert isinstance(t, VerdictRule) and (t.target_delta, t.alpha, t.max_latency_ratio) == (0.04, 0.05, 0.54)


def test_generation_batches_respect_rows_and_kv_budget():
    from hrm_agents.hrm.lm_train import plan_batches

    lens = {t: 10 * t for t in range(1, 9)}  # task t has a prompt of 10 t tokens
    groups = [[(t, "sample", i) for i in range(3)] for t in sorted(lens)]
    batches = plan_batches(groups, lens, max_new_tokens=20, max_rows=7, kv_bytes_per_position=1,
                           kv_budget_bytes=400)
    assert [j for b in batches for j in b] == [j for g in groups for j in g]  # every job once, in order
    for b in batches:
        tasks = {t for t, _, _ in b}
        assert all(sum(1 for j in b if j[0] == t) == 3 for t in tasks)  # a task's samples stay together
        assert len(b) <= 7 and (len(b) == 3 or len(b) * (max(lens[t] for t in tasks) + 20) <= 400)
    assert [len(b) for b in batches] == [6, 6, 3, 3, 3, 3]  # rows cap first, then the KV budget
    assert len(plan_batches(groups[-1:], lens, max_new_tokens=20, max_rows=1, kv_bytes_per_position=1,
                            kv_budget_bytes=1)) == 1  # an over-budget group still runs, alone


def test_generation_splits_a_batch_that_runs_out_of_memory(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    pytest.importorskip("tokenizers")
    from hrm_agents.hrm.code_data import train_tokenizer
    from hrm_agents.hrm.config import ModelConfig
    from hrm_agents.hrm.lm import CausalLM
    from hrm_agents.hrm.lm_train import generate_mbpp

    tok = train_tokenizer(["def add(a, b):\n    return a + b\n"] * 20, 300)
    torch.manual_seed(0)
    model = CausalLM(ModelConfig(vocab_size=tok.get_vocab_size(), seq_len=64, arch="lm", hidden_size=32,
                                 num_heads=4, transformer_layers=1, halt_mode="fixed", halt_max_steps=1))
    real = model.generate

    def small_batches_only(prompts, *a, **kw):
        if len(prompts) > 2:
            raise torch.cuda.OutOfMemoryError("test")
        return real(prompts, *a, **kw)

    monkeypatch.setattr(model, "generate", small_batches_only)
    rows = [{"task_id": t, "text": f"task {t}", "test_list": [f"assert f({t}) == {t}"]} for t in (11, 12, 13)]
    events = []
    gen = generate_mbpp(model, tok, rows, tmp_path / "c.jsonl", n_samples=2, max_new_tokens=4, max_rows=6,
                        log=events.append)
    recs = [json.loads(line) for line in (tmp_path / "c.jsonl").read_text().splitlines()]
    assert gen["completions"] == len(recs) == 9 and {e["event"] for e in events} >= {"generate_oom_split"}
    assert sorted((r["task_id"], r["kind"], r["index"]) for r in recs) == sorted(
        [(t, "greedy", 0) for t in (11, 12, 13)] + [(t, "sample", i) for t in (11, 12, 13) for i in range(2)])


def test_pass_at_k_bookkeeping():
    from experiments.exp6_hrm_codegen.scoring import arm_metrics

    scored = [{"task_id": 1, "kind": "greedy", "passed": True, "status": "passed"},
              {"task_id": 2, "kind": "greedy", "passed": False, "status": "syntax_error"}]
    scored += [{"task_id": 1, "kind": "sample", "passed": i < 3, "status": "x"} for i in range(10)]
    scored += [{"task_id": 2, "kind": "sample", "passed": False, "status": "x"} for i in range(10)]
    scored += [{"task_id": 3, "kind": "sample", "passed": True, "status": "x"} for i in range(4)]  # unfinished task
    m = arm_metrics(scored)
    assert m["pass1"] == 0.5 and m["n_tasks_sampled"] == 2 and m["pass_k"] == 10
    assert m["pass10"] == pytest.approx(0.5)  # task 1: 3 of 10 pass -> pass@10 = 1; task 2: 0
    assert m["sample_pass1"] == pytest.approx(0.15)


@pytest.mark.skipif(not MBPP.is_file(), reason="../shared/data/mbpp.jsonl not present")
def test_completions_are_scored_in_the_sandbox():
    from experiments.exp6_hrm_codegen.scoring import score_completions
    from hrm_agents.hrm.code_data import mbpp_rows

    rows = {r["task_id"]: r for r in mbpp_rows(MBPP, [11])}
    ref = rows[11]["code"]
    recs = score_completions([{"task_id": 11, "kind": "greedy", "text": ref},
                              {"task_id": 11, "kind": "sample", "text": ref},
                              {"task_id": 11, "kind": "sample", "text": "def remove_Occ(s, ch):\n    return s\n"},
                              {"task_id": 11, "kind": "sample", "text": "def remove_Occ(s, ch:\n"},
                              {"task_id": 11, "kind": "sample", "text": "import os\nos._exit(0)\n"}],
                             rows, progress=False)
    assert [r["status"] for r in recs] == ["passed", "passed", "wrong_answer", "syntax_error", recs[4]["status"]]
    assert not recs[4]["passed"]


@pytest.mark.skipif(not MBPP.is_file(), reason="../shared/data/mbpp.jsonl not present")
def test_smoke_plan_end_to_end(tmp_path):
    pytest.importorskip("tokenizers")
    from tests.experiment_cli import experiment_main

    assert experiment_main("exp6_hrm_codegen")(["--plan", "smoke", "--out", str(tmp_path)]) == 0
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert set(stats["arms"]) == {"hrm_lm", "gpt2", "lm27"}
    assert stats["arms"]["hrm_lm"]["n_tasks_greedy"] == 3 and stats["arms"]["hrm_lm"]["n_samples"] == 2
    assert stats["verdict"]["verdict"] in ("SUCCESS", "PARTIAL", "FAILURE")
    assert stats["data"]["corpus"]["files_kept"] > 0 and stats["n_resamples"] == 10_000
    pre = {arm: stats["training"][arm]["pretrain"] for arm in stats["arms"]}  # the equal budget
    assert {(p["steps"], p["planned_steps"], p["tokens"]) for p in pre.values()} == {(4, 4, 4 * 4 * 64)}
    assert "| pass@1 (greedy, n=3) |" in (tmp_path / "report.md").read_text()


@pytest.mark.skipif(not MBPP.is_file(), reason="../shared/data/mbpp.jsonl not present")
def test_a_code_lm_checkpoint_runs_as_e1_flat_arm(tmp_path):
    """The trained-model path of E6 plugs into E1: a tiny HRM-LM checkpoint as the flat coder."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("tokenizers")
    from hrm_agents.hrm.code_data import train_tokenizer
    from hrm_agents.hrm.config import ModelConfig
    from hrm_agents.hrm.lm import CausalLM
    from hrm_agents.hrm.model import save_model
    from tests.experiment_cli import experiment_main

    tok = train_tokenizer(["def add(a, b):\n    return a + b\n"] * 20, 300)
    cfg = ModelConfig(vocab_size=tok.get_vocab_size(), seq_len=32, arch="hrm_lm", hidden_size=32, num_heads=4,
                      expansion=2.0, H_layers=1, L_layers=1, halt_mode="fixed", halt_max_steps=2)
    torch.manual_seed(0)
    save_model(CausalLM(cfg), tmp_path / "ck", meta={"kind": "code_lm"})
    tok.save(str(tmp_path / "ck" / "tokenizer.json"))
    rc = experiment_main("exp1_decomp_vs_flat")(
        ["--suite", str(MBPP), "--split", "test", "--limit", "2", "--model_backend", "hrm",
         "--model_name", str(tmp_path / "ck"), "--arms", "flat", "--out_root", str(tmp_path / "runs"),
         "--no_progress", "--max_tokens", "16"])
    assert rc == 0
    recs = [json.loads(line) for p in (tmp_path / "runs").rglob("results.jsonl") for line in p.read_text().splitlines()]
    assert [r["task_id"] for r in recs] == ["mbpp/11", "mbpp/12"] and {r["arm"] for r in recs} == {"flat"}
