"""The dashboard in a real headless Chromium: a finished experiment run and a training run still
writing; the page shows the evaluator's verdict (with INCONCLUSIVE), the alerts, the training curves,
follows new lines of the live run, selects runs by URL, and loads nothing from outside loopback.
Plus the INCONCLUSIVE label and the alert rules themselves (no browser)."""

from __future__ import annotations

import json
import shutil
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from hrm_agents.backends import GenParams, Message, ScriptedBackend
from hrm_agents.evaluation.alerts import experiment_alerts, training_alerts
from hrm_agents.evaluation.io import load_run
from hrm_agents.evaluation.records import FailureTag
from hrm_agents.evaluation.report import analyze
from hrm_agents.evaluation.stats import Comparison, VerdictRule, verdict
from hrm_agents.runner import ArmConfig, ArmOutcome, run_experiment
from hrm_agents.tasks.schema import Task
from hrm_agents.utils import fmt

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")


def _cmp(delta: float, p: float) -> Comparison:
    return Comparison("hier", "flat", 10, 10, 0.5 + delta, 0.5, delta, (delta - 0.1, delta + 0.1), p, p)


def test_inconclusive_label_where_p_not_below_alpha():
    rule = VerdictRule(target_delta=0.05, alpha=0.05)
    assert verdict(_cmp(0.2, 0.01), rule).label == "SUCCESS"
    partial = verdict(_cmp(0.2, 0.2), rule)
    assert partial.verdict == "PARTIAL" and partial.inconclusive and partial.label == "PARTIAL (INCONCLUSIVE)"
    assert verdict(_cmp(-0.2, 0.05), rule).label == "FAILURE (INCONCLUSIVE)"  # p == alpha is not significant
    assert verdict(_cmp(0.02, 0.001), rule).label == "FAILURE"  # significant, below target
    assert verdict(_cmp(float("nan"), float("nan")), rule).inconclusive


def test_training_alerts_nan_recovery_stale_heartbeat_and_ram():
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    events = [{"event": "nan", "step": 7, "loss": float("inf"), "reason": "loss above 1e+06"},
              {"event": "recover", "step": 7, "restored_step": 5, "lr_scale": 0.5, "recovery": 1},
              {"event": "health", "step": 8, "ram_percent": 95.0}, {"event": "health", "step": 9, "ram_percent": 50.0},
              {"event": "checkpoint_skipped", "step": 10, "recent_loss": 500.0, "best_loss": 3.0}]
    beat = {"time": "2026-01-01T11:50:00+00:00", "step": 9, "status": "training"}
    alerts = training_alerts("r", events, beat, now=now)
    assert [a.level for a in alerts] == ["error", "warning", "warning", "warning", "error"]
    assert "loss above" in alerts[0].message and "checkpoint step 5" in alerts[1].message
    assert "step 10: checkpoint skipped" in alerts[2].message
    assert "RAM 95%" in alerts[3].message and "no heartbeat for 600 s" in alerts[4].message
    fresh = {**beat, "time": "2026-01-01T11:59:30+00:00"}
    assert training_alerts("r", [], fresh, now=now) == []
    assert training_alerts("r", [], {**fresh, "status": "stopped"}, now=now)[0].level == "error"


def echo_arm(task, backend, cfg: ArmConfig) -> ArmOutcome:
    c = backend.complete([Message(role="user", content=task.id)], GenParams(seed=cfg.seed))
    return ArmOutcome(final=c.text, model_calls=1, iterations=1, completion_tokens=c.completion_tokens,
                      call_latencies_s=[0.01 * (1 + cfg.seed)])


def finished_run(root: Path) -> Path:
    """flat solves t0-t2 of 6, hier t0-t3: Δ = 1/6, far from significant."""
    tasks = [Task(id=f"t{i}", kind="math", prompt="1+1?", answer="2") for i in range(6)]

    def hier(task, backend, cfg):
        return echo_arm(task, backend, cfg.model_copy(update={"seed": 1}))
    backend = ScriptedBackend(lambda m, p: "2" if int(m[-1].content[1:]) < 3 + (p.seed or 0) else "0")
    return run_experiment("exp_demo", tasks, {"flat": echo_arm, "hier": hier}, backend, out_root=root,
                          progress=False)


def test_experiment_alerts_from_the_evaluators_stats(tmp_path):
    run = load_run(finished_run(tmp_path))
    lenient = experiment_alerts("r", analyze([run], n_resamples=500))
    assert [(a.level, a.message.split(":")[0]) for a in lenient] == [("info", "hier_vs_flat")]
    assert "INCONCLUSIVE, p " in lenient[0].message
    strict = experiment_alerts("r", analyze([run], rule={"target_delta": 0.5, "max_token_ratio": 0.1}, n_resamples=500))
    assert {a.message.split(": ", 1)[1].split(" ")[0] for a in strict if a.level == "warning"} == {"Δpass@1", "token"}
    run.records[0] = run.records[0].model_copy(update={"passed": False, "failure_tags": [
        FailureTag(tag="backend_error", evidence="down")]})
    errored = experiment_alerts("r", analyze([run], n_resamples=500))
    assert any(a.level == "error" and "1 of 6 attempts errored" in a.message for a in errored)


def append(path: Path, *events: dict) -> None:
    with path.open("a") as f:
        f.writelines(json.dumps(e) + "\n" for e in events)


def train_line(step: int) -> dict:
    return {"event": "train", "step": step, "loss": 3.0 / step, "lr": 1e-3, "grad_norm": 1.0 + 1 / step}


def live_training(root: Path) -> Path:
    run = root / "hrm-live"
    run.mkdir()
    append(run / "metrics.jsonl", {"event": "start", "n_params": 1000}, train_line(10),
           {"event": "health", "step": 10, "cpu_percent": 50.0, "ram_percent": 40.0, "rss_mb": 300.0},
           train_line(20), {"event": "eval", "step": 20, "val": {"2": {"exact": 0.25}, "3": {"exact": 0.35}}})
    (run / "heartbeat.json").write_text(json.dumps({"time": datetime.now(timezone.utc).isoformat(), "step": 20,
                                                    "status": "training"}))
    return run


@pytest.fixture
def browser():
    if not (CHROMIUM and DRIVER):
        pytest.skip("chromium/chromedriver not installed: apt-get install -y chromium chromium-driver")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium not installed: pip install -e .[dev]")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,2000"):
        opts.add_argument(arg)
    opts.binary_location = CHROMIUM
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    yield driver
    driver.quit()


@pytest.fixture
def served(tmp_path):
    pytest.importorskip("dash", reason="dash not installed: pip install -e .[dashboard]")
    from werkzeug.serving import make_server

    from hrm_agents.dashboard.app import create_app

    root = tmp_path / "runs"
    root.mkdir()
    exp, live = finished_run(root), live_training(root)
    server = make_server("127.0.0.1", 0, create_app(root, refresh_s=0.5).server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", root, exp, live
    server.shutdown()
    thread.join(timeout=10)


def wait_for(driver, check, timeout: float = 30.0):
    """Poll ``check(driver)`` until it returns something truthy; fail with the page's status text."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if result := check(driver):
                return result
        except Exception:  # noqa: BLE001 - element not rendered yet
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out; page status: {text(driver, 'status')!r}, runs: {text(driver, 'runs')!r}, "
                         f"{text(driver, 'updated')!r}; console: {driver.get_log('browser')[-5:]}")


def text(driver, element_id: str) -> str:
    """The element's text, one line per list item / table row (DOM text: visible or scrolled away)."""
    return driver.execute_script(
        "const e = document.getElementById(arguments[0]);"
        "const rows = e.querySelectorAll('li, tr');"
        "return rows.length ? Array.from(rows).map(r => r.textContent).join('\\n') : e.textContent;", element_id)


def trace_x(driver, graph_id: str) -> list:
    return driver.execute_script(
        f"return document.querySelector('#{graph_id} .js-plotly-plot').data.map(t => t.x)")


@pytest.mark.timeout(180)
def test_dashboard_shows_runs_follows_the_live_one_and_selects(served, browser):
    url, root, exp, live = served
    exp_name, live_name = str(exp.relative_to(root)), "hrm-live"
    stats = analyze([load_run(exp)], n_resamples=2000)
    cmp = stats["comparisons"]["hier_vs_flat"]
    assert cmp["inconclusive"] and cmp["label"] == f"{cmp['verdict']} (INCONCLUSIVE)"

    browser.get(url)
    wait_for(browser, lambda d: "step 20" in text(d, "status") and "12/12 attempts, finished" in text(d, "status"))
    assert f"{live_name}: step 20 · loss 0.15 (running or interrupted)" in text(browser, "status")
    table = wait_for(browser, lambda d: "hier_vs_flat" in text(d, "stats") and text(d, "stats"))
    row = next(line for line in table.splitlines() if "hier_vs_flat" in line)
    assert fmt.num(cmp["pass_at_1"]["delta"]) in row and cmp["label"] in row  # the evaluator's numbers and verdict
    alerts = text(browser, "alerts")
    assert "hier_vs_flat: INCONCLUSIVE, p " in alerts
    assert [10, 20] in trace_x(browser, "training")
    assert any(x == [20] for x in trace_x(browser, "accuracy"))  # eval accuracy of the live run
    assert any(x and x[-1] == 12 for x in trace_x(browser, "accuracy"))  # experiment: pass@1 over 12 attempts

    # the live run writes on: new steps, a divergence and its recovery appear without a reload
    append(live / "metrics.jsonl", train_line(30),
           {"event": "nan", "step": 35, "loss": float("nan"), "reason": "non-finite loss or gradient"},
           {"event": "recover", "step": 35, "restored_step": 30, "lr_scale": 0.5, "recovery": 1}, train_line(40))
    wait_for(browser, lambda d: "step 40" in text(d, "status"), timeout=20)
    wait_for(browser, lambda d: [10, 20, 30, 40] in trace_x(d, "training"), timeout=10)
    assert "recovered from checkpoint step 30" in text(browser, "alerts")

    outside = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
        ".filter(n => !n.startsWith('http://127.0.0.1'))")
    assert outside == []  # every script and style came from the app itself (works offline)

    # selection by URL: only the finished run
    browser.get(f"{url}/?run={exp_name}")
    wait_for(browser, lambda d: "12/12" in text(d, "status"))
    time.sleep(1.5)  # a few refreshes: the selection stays
    assert live_name not in text(browser, "status") and "hrm-live" not in text(browser, "stats")
