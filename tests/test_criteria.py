"""E2's pre-registered criterion: tool misuse + spec errors cut by >= 20% and accuracy at equal wall-clock."""

from __future__ import annotations

import pytest

from hrm_agents.evaluation.criteria import e2_criterion, tagged_rate
from hrm_agents.evaluation.records import AttemptRecord, FailureTag, outcomes


def rec(arm: str, i: int, passed: bool, wall: float, tags: tuple[str, ...] = ()) -> AttemptRecord:
    return AttemptRecord(run_id="r", experiment="exp2_pot_supervisor", arm=arm, task_id=f"t{i}", passed=passed,
                         wall_time_s=wall, time_to_solve_s=wall if passed else None,
                         failure_tags=[FailureTag(tag=t) for t in tags])


def key(r: AttemptRecord) -> tuple:
    return (r.run_id, r.seed, r.sample)


def arms(hier_wall: float, hier_tags: tuple[str, ...] = ()) -> dict[str, list[AttemptRecord]]:
    # 40 tasks: flat_tool solves the first 20 in 2 s, misuses the tool on 10 of the rest;
    # hier solves the first 30 in hier_wall s each and carries hier_tags on its failures.
    return {"flat_tool": [rec("flat_tool", i, i < 20, 2.0, () if i < 20 else ("tool_misuse",) * (i < 30))
                          for i in range(40)],
            "hier": [rec("hier", i, i < 30, hier_wall, () if i < 30 else hier_tags) for i in range(40)]}


def test_success_needs_fewer_misuses_and_more_solved_within_the_budget():
    out = e2_criterion(arms(hier_wall=1.5), key, n_resamples=2000)
    assert out["tagged_rate"] == {"hier": 0.0, "flat_tool": 0.25} and out["relative_reduction"] == 1.0
    assert out["time_budget_s"] == pytest.approx(2.0)
    assert out["pass_at_1_budgeted"]["delta"] == pytest.approx(0.25) and out["pass_at_1_budgeted"]["ci95"][0] > 0
    assert out["label"] == "SUCCESS"


def test_a_slow_hierarchy_gains_nothing_within_the_budget():
    out = e2_criterion(arms(hier_wall=5.0), key, n_resamples=2000)
    assert out["pass_at_1_unbounded"]["delta"] == pytest.approx(0.25)  # it solves more, given time
    assert out["pass_at_1_budgeted"]["hier"] == 0.0  # but nothing within flat_tool's 2 s
    assert out["verdict"] == "PARTIAL"  # the misuse cut alone holds


def test_no_misuse_cut_and_no_gain_is_failure_and_missing_arms_give_none():
    out = e2_criterion(arms(hier_wall=5.0, hier_tags=("spec_error", "tool_misuse")), key, n_resamples=2000,
                       time_budget_s=2.0)
    assert out["tagged_rate"]["hier"] == 0.25 and out["relative_reduction"] == 0.0
    assert out["label"] == "FAILURE" and out["pass_at_1_budgeted"]["delta"] == pytest.approx(-0.5)
    assert e2_criterion({"hier": arms(1.0)["hier"]}, key) is None


def test_tagged_rate_and_outcomes_within_a_budget():
    recs = arms(hier_wall=3.0)["hier"]
    assert tagged_rate([], ["x"]) != tagged_rate([], ["x"])  # NaN for no attempts
    assert sum(v for d in outcomes(recs, key, 3.0).values() for v in d.values()) == 30
    assert sum(v for d in outcomes(recs, key, 2.9).values() for v in d.values()) == 0
