"""Reports, tagging and comparison on fake run directories written in the runner's layout."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path
from typing import Any, Sequence

import pytest
from scipy import stats as sps

from hrm_agents.backends import ScriptedBackend
from hrm_agents.cli import main
from hrm_agents.evaluation.io import load_run, write_records
from hrm_agents.evaluation.judge import agreement, cohen_kappa, parse_judge
from hrm_agents.evaluation.records import AttemptRecord, FailureTag
from hrm_agents.evaluation.report import tag_run, write_report
from hrm_agents.evaluation.taxonomy import SPEC_ERROR, WRONG_ANSWER
from hrm_agents.tasks import Suite, Task, save_suite

N_TASKS = 40
GOOD = "def f(x):\n    return x + 1\n"
BAD = "def f(x):\n    return x\n"


@pytest.fixture
def suite_path(tmp_path: Path) -> Path:
    tasks = [Task(id=f"t{i}", kind="code", entry_point="f", prompt="def f(x: int) -> int:\n    '''x + 1'''\n",
                  hidden_tests=[f"assert f({i}) == {i + 1}"], meta={"k": 1 + i % 3}) for i in range(N_TASKS)]
    return save_suite(Suite(name="fake", tasks=tasks), tmp_path / "suite.yaml")


def attempt(run: str, arm: str, i: int, passed: bool, sample: int = 0, seed: int = 0, **kw: Any) -> AttemptRecord:
    hidden = None if passed else {"exec": {"status": "ok"}, "passed": False,
                                  "results": [{"test": f"assert f({i}) == {i + 1}", "passed": False,
                                               "exc_type": "AssertionError", "message": ""}]}
    base = dict(run_id=run, experiment="exp1", arm=arm, task_id=f"t{i}", sample=sample, seed=seed + sample,
                passed=passed, final=GOOD if passed else BAD, hidden_report=hidden, model_calls=2,
                prompt_tokens=100, completion_tokens=50 if arm == "flat" else 150, call_latencies_s=[0.5, 1.5],
                wall_time_s=2.0 + i / N_TASKS, meta={"k": 1 + i % 3, "max_iters": 3})
    return AttemptRecord(**{**base, **kw})


def make_run(root: Path, name: str, passes: dict[str, Sequence[bool]], suite: Path, *, samples: int = 1,
             seed: int = 0, model: str = "m", finished: bool = True, tagged: bool = True) -> Path:
    run_dir = root / "exp1" / name
    run_dir.mkdir(parents=True)
    config = {"experiment": "exp1", "run_id": name, "suite": str(suite),
              "settings": {"arms": list(passes), "samples": samples, "seed": seed, "max_iters": 3,
                           "backend": {"backend": "scripted", "model": model}}}
    (run_dir / "config.json").write_text(json.dumps(config))
    records = [attempt(name, arm, i, ok, s, seed) for arm, oks in passes.items() for i, ok in enumerate(oks)
               for s in range(samples)]
    if tagged:
        records = [r if r.passed else r.model_copy(update={"failure_tags": [FailureTag(tag=WRONG_ANSWER)]})
                   for r in records]
    (run_dir / "results.jsonl").write_text("".join(r.model_dump_json() + "\n" for r in records))
    if finished:
        (run_dir / "run_summary.json").write_text(json.dumps({"partial": False,
                                                              "peak_rss_mb": {"self": 321.0, "children": 45.0}}))
    return run_dir


HIER = [True] * 30 + [False] * 10  # solves 12 more tasks than flat, never fewer
FLAT = [True] * 18 + [False] * 22


def test_report_two_arms(tmp_path: Path, suite_path: Path) -> None:
    run = make_run(tmp_path, "r1", {"flat": FLAT, "hier": HIER}, suite_path)
    path = write_report([run])
    assert path == run / "report.md"
    stats = json.loads((run / "stats.json").read_text())
    p1 = stats["pass_at_1"]
    assert p1["hier"] == pytest.approx(0.75) and p1["flat"] == pytest.approx(0.45)
    assert p1["delta"] == pytest.approx(0.3) and 0 < p1["ci95"][0] < 0.3 < p1["ci95"][1]
    assert p1["p_value"] < 0.01
    assert p1["mcnemar_p"] == pytest.approx(sps.binomtest(12, 12).pvalue) == pytest.approx(2 * 0.5 ** 12)
    assert stats["verdict"] == "SUCCESS" and stats["partial"] is False and stats["baseline"] == "flat"
    hier = stats["arms"]["hier"]
    assert hier["ci95"] == pytest.approx(list(sps.binomtest(30, 40).proportion_ci(method="wilson")))
    assert hier["failure_tags"] == {WRONG_ANSWER: 10} and hier["n_failed"] == 10
    assert set(hier["by_k"]) == {"1", "2", "3"} and sum(v["n"] for v in hier["by_k"].values()) == 40
    eff = hier["efficiency"]
    assert eff["tokens_per_solved"] == pytest.approx(40 * 250 / 30)
    assert eff["throughput_tok_s"] == pytest.approx(150 / 2.0)
    assert eff["latency_call_s"]["p50"] == pytest.approx(1.0) and eff["latency_call_s"]["n"] == 80
    assert stats["comparisons"]["hier_vs_flat"]["token_ratio"] == pytest.approx(250 / 150)
    assert stats["runs"][0]["peak_rss_mb"] == {"self": 321.0, "children": 45.0}

    md = path.read_text()
    assert "**Verdict hier vs flat: SUCCESS**" in md and "PARTIAL RUN" not in md
    for title in ("Accuracy (Wilson 95% CI)", "pass@k", "Paired comparison vs flat", "Failure tags", "Efficiency",
                  "Accuracy by number of steps k"):
        assert f"### {title}" in md
    assert "| hier | 40 | 40 | 30 | 0.750 |" in md
    if importlib.util.find_spec("matplotlib") is None:  # no `plots` extra: the tables, no figures
        assert not list(run.glob("*.png"))
    else:
        for png in ("pass_at_k.png", "failure_tags.png", "accuracy_vs_k.png", "latency.png"):
            assert (run / png).stat().st_size > 5000 and f"]({png})" in md


def test_verdict_thresholds_from_config_and_overrides(tmp_path: Path, suite_path: Path) -> None:
    run = make_run(tmp_path, "r1", {"flat": FLAT, "hier": HIER}, suite_path)
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "verdict": {"max_token_ratio": 1.2}}))
    write_report([run], make_plots=False)
    stats = json.loads((run / "stats.json").read_text())
    assert stats["verdict"] == "PARTIAL" and stats["verdict_rule"]["max_token_ratio"] == 1.2
    write_report([run], make_plots=False, rule={"target_delta": 0.4})  # on top of config's token ratio
    stats = json.loads((run / "stats.json").read_text())
    assert stats["verdict"] == "FAILURE" and stats["verdict_rule"]["max_token_ratio"] == 1.2
    write_report([run], make_plots=False, rule={"target_delta": 0.4, "max_token_ratio": 2.0})
    stats = json.loads((run / "stats.json").read_text())
    assert stats["verdict"] == "PARTIAL"  # cheap enough and at least as accurate, below the target


def test_three_arms_compare_against_flat(tmp_path: Path, suite_path: Path) -> None:
    run = make_run(tmp_path, "r1", {"hier": HIER, "flat": FLAT, "flat_tool": FLAT}, suite_path)
    write_report([run], make_plots=False)
    stats = json.loads((run / "stats.json").read_text())
    assert stats["baseline"] == "flat" and set(stats["comparisons"]) == {"hier_vs_flat", "flat_tool_vs_flat"}
    same = stats["comparisons"]["flat_tool_vs_flat"]
    assert same["pass_at_1"]["delta"] == 0 and same["pass_at_1"]["ci95"] == [0, 0] and same["verdict"] == "FAILURE"
    assert "verdict" not in stats and "pass_at_1" not in stats


def test_partial_run_is_reported_as_partial(tmp_path: Path, suite_path: Path) -> None:
    run = make_run(tmp_path, "r1", {"flat": FLAT[:25], "hier": HIER[:20]}, suite_path, finished=False)
    with open(run / "results.jsonl", "a") as f:
        f.write(attempt("r1", "hier", 20, True).model_dump_json()[:60])  # a line cut by a kill
    data = load_run(run)
    assert data.partial and data.bad_lines == 1 and len(data.records) == 45
    write_report([run], make_plots=False)
    stats = json.loads((run / "stats.json").read_text())
    assert stats["partial"] is True and stats["comparisons"]["hier_vs_flat"]["n_tasks"] == 20
    md = (run / "report.md").read_text()
    assert "PARTIAL RUN" in md and "45 attempts" in md and "skipped 1 unreadable line" in md
    (run / "run_summary.json").write_text(json.dumps({"partial": True}))  # interrupted: summary says so
    assert load_run(run).partial


def test_seeds_pool_over_run_dirs(tmp_path: Path, suite_path: Path) -> None:
    a = make_run(tmp_path, "seed0", {"flat": FLAT, "hier": HIER}, suite_path, samples=2, seed=0)
    b = make_run(tmp_path, "seed1", {"flat": FLAT, "hier": FLAT}, suite_path, samples=2, seed=10)
    path = write_report([a, b], make_plots=False)
    assert path == tmp_path / "exp1" / "combined-report" / "report.md"
    stats = json.loads(path.with_name("stats.json").read_text())
    c = stats["comparisons"]["hier_vs_flat"]
    assert c["n_tasks"] == 40 and c["n_pairs"] == 160
    assert stats["arms"]["hier"]["n_attempts"] == 160
    assert c["pass_at_1"]["delta"] == pytest.approx(0.15)  # (0.30 + 0) / 2
    assert stats["arms"]["hier"]["pass_at_k"]["2"]["value"] >= stats["arms"]["hier"]["pass_at_k"]["1"]["value"]


def test_untagged_failures_are_tagged_in_the_report(tmp_path: Path, suite_path: Path) -> None:
    run = make_run(tmp_path, "r1", {"flat": FLAT, "hier": HIER}, suite_path, tagged=False)
    write_report([run], make_plots=False)
    stats = json.loads((run / "stats.json").read_text())
    assert stats["arms"]["flat"]["failure_tags"] == {WRONG_ANSWER: 22}
    assert stats["warnings"] == []  # the suite in config.json loaded


def test_tag_command_rewrites_atomically_with_backup(tmp_path: Path, suite_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    run = make_run(tmp_path, "r1", {"flat": FLAT, "hier": HIER}, suite_path)
    stale = attempt("r1", "hier", 35, False, final="def g(x):\n    return x\n",
                    failure_tags=[FailureTag(tag="bogus")])
    with open(run / "results.jsonl", "a") as f:
        f.write(stale.model_dump_json() + "\n")  # a later line for the same attempt wins
    before = (run / "results.jsonl").read_bytes()
    assert main(["tag", str(run)]) == 0
    assert (run / "results.jsonl.bak").read_bytes() == before
    assert not (run / "results.jsonl.tmp").exists()
    records = {(r.arm, r.task_id): r for r in load_run(run).records}
    assert len(records) == 80
    assert [t.tag for t in records["hier", "t35"].failure_tags] == [WRONG_ANSWER, SPEC_ERROR]
    assert "no top-level function `f` (defines g)" in records["hier", "t35"].failure_tags[1].evidence
    assert records["hier", "t0"].failure_tags == []
    out = capsys.readouterr().out
    assert "wrong_answer" in out and "backup: results.jsonl.bak" in out


def test_tag_refuses_a_running_run(tmp_path: Path, suite_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = make_run(tmp_path, "r1", {"flat": FLAT}, suite_path, finished=False)
    before = (run / "results.jsonl").read_bytes()
    assert main(["tag", str(run)]) == 2
    err = capsys.readouterr().err
    assert "run not finished" in err and err.count("\n") == 1
    assert (run / "results.jsonl").read_bytes() == before
    assert main(["tag", str(run), "--force", "--no-backup"]) == 0
    assert not (run / "results.jsonl.bak").exists()


def test_judge_tags_and_agreement(tmp_path: Path, suite_path: Path) -> None:
    run = make_run(tmp_path, "r1", {"flat": FLAT, "hier": HIER}, suite_path)

    def judge(messages: Any, params: Any) -> str:  # agrees on wrong_answer, adds spec_error for t19
        spec = "f(19)" in messages[1].content
        tags = [{"tag": "wrong_answer", "evidence": "off by one"}] + ([{"tag": "spec_error"}] if spec else [])
        return "Sure! " + json.dumps({"tags": tags + [{"tag": "made_up"}]})

    backend = ScriptedBackend(judge)
    progress: list[tuple[int, int]] = []
    tagged, _ = tag_run(run, judge=backend, judge_concurrency=4, on_judged=lambda *p: progress.append(p))
    failed = [r for r in tagged.records if not r.passed]
    assert len(backend.calls) == len(failed) == 32
    assert progress == [(i, 32) for i in range(1, 33)]
    assert all(r.meta["judge_tags"][0] == {"tag": WRONG_ANSWER, "evidence": "off by one"} for r in failed)
    write_report([run], make_plots=False)
    g = json.loads((run / "stats.json").read_text())["judge_agreement"]
    assert g[WRONG_ANSWER] == {"n": 32, "rules": 32, "judge": 32, "agreement": 1.0, "kappa": None}
    assert g[SPEC_ERROR]["judge"] == 1 and g[SPEC_ERROR]["agreement"] == pytest.approx(31 / 32)  # flat t19
    assert g[SPEC_ERROR]["kappa"] == 0.0  # the rules never say spec_error here: no agreement beyond chance
    assert "### LLM judge vs rules (per tag)" in (run / "report.md").read_text()


def test_tag_with_an_unknown_judge_backend_is_one_line(tmp_path: Path, suite_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    run = make_run(tmp_path, "r1", {"flat": FLAT}, suite_path)
    before = (run / "results.jsonl").read_bytes()
    assert main(["tag", str(run), "--judge", "nope", "--judge-concurrency", "4"]) == 2
    err = capsys.readouterr().err
    assert "unknown backend 'nope'" in err and err.count("\n") == 1
    assert (run / "results.jsonl").read_bytes() == before


def test_cohen_kappa_and_parse_judge() -> None:
    # 2x2 table: both yes 20, rules only 5, judge only 10, both no 15 -> po .7, pe .5, kappa .4
    a = [True] * 25 + [False] * 25
    b = [True] * 20 + [False] * 5 + [True] * 10 + [False] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    assert cohen_kappa(a, a) == 1.0 and math.isnan(cohen_kappa([True] * 3, [True] * 3))
    assert agreement([({"timeout"}, {"timeout"}), (set(), {"timeout"})])["timeout"]["agreement"] == 0.5
    assert parse_judge("no json here") is None and parse_judge('{"tags": "x"}') is None
    assert [t.tag for t in parse_judge('```json\n{"tags": ["timeout", {"tag": "plan_drift"}]}\n```')] == \
        ["timeout", "plan_drift"]


def test_compare_two_models(tmp_path: Path, suite_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = make_run(tmp_path, "big", {"flat": HIER, "hier": HIER}, suite_path, model="big-model")
    b = make_run(tmp_path, "small", {"flat": FLAT, "hier": HIER}, suite_path, model="small-model")
    out = tmp_path / "cmp"
    assert main(["compare", str(a), str(b), "--out", str(out)]) == 0
    result = json.loads((out / "compare.json").read_text())
    assert result["arms"]["flat"]["pass_at_1"]["delta"] == pytest.approx(0.3)
    assert result["arms"]["hier"]["pass_at_1"]["delta"] == 0
    assert result["arms"]["flat"]["pass_at_1"]["big-model"] == pytest.approx(0.75)
    assert "| flat | 40 | 0.750 | 0.450 | 0.300 |" in (out / "compare.md").read_text()
    assert "big-model (A) vs small-model (B)" in capsys.readouterr().out


def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hrm-agents report: error:") and "not a run directory" in err and err.count("\n") == 1


def test_write_records_keeps_a_backup(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    path.write_text("old\n")
    bak = write_records(path, [attempt("r", "flat", 0, True)])
    assert bak is not None and bak.read_text() == "old\n"
    assert AttemptRecord.model_validate_json(path.read_text()).task_id == "t0"


def test_figures_are_skipped_with_a_note_without_matplotlib(tmp_path: Path, suite_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    run = make_run(tmp_path, "r1", {"flat": FLAT, "hier": HIER}, suite_path)
    md = write_report([run]).read_text()
    assert "figures skipped: matplotlib is not installed" in md and not list(run.glob("*.png"))
