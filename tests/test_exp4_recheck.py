"""Issue 18's re-check (experiments/exp4_hrm_ablations/recheck.py): its runs pool with the committed
ones only if their configs are the same, the curve readers find the right steps, and the summary
pools, ranks and compares as claimed. No training here (the scheduler ran on CPU and on the GPU)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")

from experiments.exp4_hrm_ablations import recheck, recheck_report  # noqa: E402
from experiments.exp4_hrm_ablations.plan import make_plan  # noqa: E402
from hrm_agents.evaluation.stats import welch_interval  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "hrm_agents" / "hrm" / "checkpoints" / "default" / "config.json"


def test_recipe_jobs_are_the_shipped_recipe_and_e4_jobs_are_e4s_configs():
    shipped = json.loads(SHIPPED.read_text())["meta"]["train_config"]
    groups = recheck.build_jobs("full")
    jobs = [j for g in groups for j in g]
    recipe = [j for j in jobs if j.folder == "recipe"]
    assert [j.seed for j in recipe] == [1, 2, 3, 4]
    for j in recipe:  # only the step count, the seed, the trainer's own final eval and data workers differ
        diff = {k for k in shipped if shipped[k] != j.config[k]}
        assert diff <= {"steps", "seed", "final_eval", "data_workers"}, diff
        assert j.config["steps"] == json.loads(SHIPPED.read_text())["meta"]["steps"] == 4841
    for j in jobs:
        if j.folder.startswith("e4_"):
            steps = int(j.folder.removeprefix("e4_"))
            _, runs = make_plan("full", [j.seed], None, steps)
            assert j.config == next(r.config for r in runs if r.arm == j.arm), j.name
    assert groups[0][0].folder == "recipe" and not groups[0][0].droppable
    assert any(j.launcher and "--nproc_per_node" in j.launcher for j in groups[0])


def test_groups_option_selects_and_starts_the_named_groups_together():
    groups = recheck.build_jobs("full", ["e4_halting", "e4_cycles"])
    assert len(groups) == 1
    assert {j.arm for j in groups[0]} == {"base", "halt_random", "cycles_4x1"}
    with pytest.raises(SystemExit, match="unknown group"):
        recheck.build_jobs("full", ["nope"])


def _events(evals):
    return [{"event": "eval", "step": s, "elapsed_s": s / 10,
             "val": {"2": {"exact": a}, "3": {"exact": a}, "4": {"exact": b}},
             "heldout": {"5": {"exact": k5}, "6": {"exact": k6}}} for s, a, b, k5, k6 in evals]


def test_time_to_99_needs_every_training_k_and_k5_selection_ignores_k6():
    curve = recheck_report.eval_curve(_events([(500, 0.995, 0.98, 0.5, 0.9), (1000, 0.999, 0.991, 0.9, 0.6),
                                               (1500, 1.0, 1.0, 0.9, 0.7), (2000, 1.0, 1.0, 0.8, 0.95)]))
    assert recheck_report.time_to(curve) == {"step": 1000, "elapsed_s": 100.0}
    sel = recheck_report.select_on_k5(curve)
    assert (sel["step"], sel["k6"], sel["final_k6"]) == (1500, 0.7, 0.95)  # latest of the tied best k = 5


def test_summary_ranks_the_shipped_file_and_pools_with_welch(tmp_path):
    prior = {"recipe": [{"run_id": "other", "seed": 9, "source": "test", "steps": 4841,
                         "exact_by_k": {"2": 1.0, "3": 1.0, "4": 1.0, "5": 0.99, "6": 0.99}}],
             "e4": [{"steps": 1800, "arm": a, "seed": 9, "id_exact": 0.5, "heldout_exact": 0.5, "source": "test"}
                    for a in ("base", "transformer", "transformer_deep")]}
    rc = recheck_report.recipe_section(tmp_path, prior)
    assert rc["shipped_rank_k6"] == [2, 2] and rc["new"] is None
    e4 = recheck_report.e4_section(tmp_path, prior)
    deep = e4["transformer_deep_vs_base_1800"]
    committed = json.loads(recheck_report.E4_RESULTS[1800].read_text())["runs"]
    a = [r["heldout_exact"] for r in committed if r["arm"] == "transformer_deep"] + [0.5]
    b = [r["heldout_exact"] for r in committed if r["arm"] == "base"] + [0.5]
    assert deep["transformer_deep"]["seeds"] == [0, 1, 2, 9]
    assert deep["diff_heldout_exact"]["diff"] == pytest.approx(welch_interval(a, b)[0])
    assert deep["diff_heldout_exact"]["ci95"] == pytest.approx(list(welch_interval(a, b)[1:]))


def test_jobs_option_keeps_the_given_priority_order_and_rejects_unknown_names():
    names = ["recipe/recipe-s3", "e4_1800/base-s3", "e4_1800/transformer-s3", "e4_700/cycles_4x1-s5"]
    jobs = recheck.select_jobs("full", names + ["e4_1800/base-s3"])  # a repeat is dropped
    assert [j.name for j in jobs] == names
    assert jobs[0].config == recheck.recipe_config("full", seed=3)
    with pytest.raises(SystemExit, match="unknown job"):
        recheck.select_jobs("full", ["e4_1800/base-s9"])


def test_a_finished_run_of_the_same_config_is_kept_and_another_config_stops_the_run(tmp_path):
    job = recheck.select_jobs("smoke", ["e4_20/base-s3"])[0]
    assert not recheck.finished_earlier(job, tmp_path)
    job.run_dir(tmp_path).mkdir(parents=True)
    (job.run_dir(tmp_path) / "result.json").write_text(json.dumps({"config": job.config}))
    assert recheck.finished_earlier(job, tmp_path)
    (job.run_dir(tmp_path) / "result.json").write_text(json.dumps({"config": {**job.config, "steps": 1}}))
    with pytest.raises(SystemExit, match="another config"):
        recheck.finished_earlier(job, tmp_path)


class _FakeProc:
    """Stands in for a training process: it ends after ``polls`` calls of poll(), writing result.json."""

    def __init__(self, run_dir: Path, polls: int):
        self.run_dir, self.left, self.pid = run_dir, polls, 0

    def poll(self):
        self.left -= 1
        if self.left > 0:
            return None
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "result.json").write_text("{}")
        return 0


def test_slots_cap_the_runs_at_once_and_start_them_in_priority_order(tmp_path, monkeypatch):
    monkeypatch.setitem(recheck.SETTINGS, "smoke", {**recheck.SETTINGS["smoke"], "poll_s": 0.001})
    sched = recheck.Scheduler(tmp_path, "smoke", "cpu", 30.0, lambda msg: None)
    started, peak = [], []

    def start(job):
        job.proc, job.state = _FakeProc(job.run_dir(tmp_path), 3 + 2 * len(started)), "running"
        sched.jobs.append(job)
        started.append(job.name)
        peak.append(len(sched.running()))

    monkeypatch.setattr(sched, "start", start)
    names = ["recipe/recipe-s1", "e4_20/base-s3", "e4_20/transformer_deep-s3", "e4_20/transformer-s3"]
    sched.run_groups([[j] for j in recheck.select_jobs("smoke", names)], slots=2)
    assert started == names
    assert max(peak) == 2
    assert all(j.state == "done" for j in sched.jobs)


def test_variant_section_compares_each_variant_with_the_recipe_and_scores_the_selected_weights(tmp_path, monkeypatch):
    def run(arm, seed, k6, sel_k6=None, id_acc=1.0):
        r = {"arm": arm, "seed": seed, "run_id": f"{arm}-s{seed}", "steps": 4841, "train_s": 200.0 + seed,
             "exact_by_k": {"2": id_acc, "3": 1.0, "4": 1.0, "5": 0.95, "6": k6}}
        if sel_k6 is not None:  # result.json as run_one writes it
            per_k = {k: {"exact": v} for k, v in {**r["exact_by_k"], "6": sel_k6}.items()}
            path = tmp_path / "variant" / "runs" / r["run_id"] / "result.json"
            path.parent.mkdir(parents=True)
            path.write_text(json.dumps({"config": {"eval_halt_mode": None}, "selected": {
                "step": 3000, "select_exact": 0.97, "per_k": per_k}}))
        return r

    variants = [run("recipe_4x1", 2, 0.9, 0.93), run("recipe_4x1", 1, 0.92, 0.95),
                run("recipe_random", 1, 0.95, 0.96, id_acc=0.98), run("recipe_random", 2, 0.95, 0.96, id_acc=0.98)]
    monkeypatch.setattr(recheck_report, "_folder_runs", lambda folder: variants)
    recipe = [run("recipe", 1, 0.62), run("recipe", 2, 0.88), run("recipe", 3, 0.85)]
    out = recheck_report.variant_section(tmp_path, recipe)
    assert set(out) == {"recipe_4x1", "recipe_random"}
    v = out["recipe_4x1"]
    assert v["seeds"] == [1, 2] and v["recipe_seeds"] == [1, 2, 3] and v["steps"] == [4841]
    assert v["last"]["k6"]["mean"] == pytest.approx(0.91) and v["selected"]["k6"]["mean"] == pytest.approx(0.94)
    assert v["last"]["goal_met"] and v["selected"]["goal_met"] and v["selected"]["steps"] == [3000, 3000]
    d, lo, hi = welch_interval([0.92, 0.9], [0.62, 0.88, 0.85])
    assert v["diff_k6_vs_recipe"]["diff"] == pytest.approx(d) and v["diff_k6_vs_recipe"]["ci95"] == pytest.approx([lo, hi])
    # k = 6 above the bar but k = 2 below 99%: the goal is not met
    assert not out["recipe_random"]["last"]["goal_met"] and not out["recipe_random"]["selected"]["goal_met"]
