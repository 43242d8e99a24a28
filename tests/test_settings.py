"""One source per setting: run settings and defaults, typed arm options, one flag style, graphs
compiled once per run."""

from __future__ import annotations

import pytest

import hrm_agents.cli_common as cli_common
from hrm_agents.backends import ScriptedBackend
from hrm_agents.graphs import coding, math
from hrm_agents.runner import ArmConfig, RunAborted, RunSettings, run_experiment
from hrm_agents.runner.arm import check_options
from hrm_agents.tasks.schema import Task

RIGHT = "```python\ndef add(a, b):\n    return a + b\n```"


def _tasks(n: int) -> list[Task]:
    return [Task(id=f"t{i}", kind="code", prompt="def add(a, b):\n    '''Return a + b.'''\n", entry_point="add",
                 visible_tests=["assert add(1, 2) == 3"], hidden_tests=["assert add(2, 3) == 5"]) for i in range(n)]


def test_run_defaults_have_one_source():
    parser = cli_common.build_parser(None, arms=["flat"], default_arms="flat")
    args = parser.parse_args([])
    defaults, arm = RunSettings(), ArmConfig()
    assert (args.max_iters, args.max_tokens, args.temperature) == (arm.max_iters, arm.max_tokens, arm.temperature)
    assert (defaults.max_iters, defaults.max_tokens, defaults.temperature) == (arm.max_iters, arm.max_tokens,
                                                                               arm.temperature)
    assert cli_common.run_settings(args).model_dump(exclude={"extra_config"}) == \
        RunSettings(out_root=args.out_root).model_dump(exclude={"extra_config"})


def test_flags_take_both_spellings():
    parser = cli_common.build_parser(None, arms=["flat"], default_arms="flat")
    a = parser.parse_args(["--no-progress", "--max-iters", "2", "--out-root", "x"])
    b = parser.parse_args(["--no_progress", "--max_iters", "2", "--out_root", "x"])
    assert vars(a) == vars(b) and a.no_progress and a.max_iters == 2 and a.out_root == "x"


def test_unknown_option_is_one_line_naming_the_valid_ones(tmp_path):
    with pytest.raises(RunAborted) as e:
        run_experiment("exp_test", _tasks(1), {"flat": coding.flat_arm, "hier": coding.hier_arm},
                       ScriptedBackend([]), out_root=tmp_path, progress=False, options={"replan_afterr": 1})
    msg = str(e.value)
    assert "\n" not in msg and "replan_afterr" in msg and "replan_after" in msg and "planner_tests" in msg
    assert not (tmp_path / "exp_test").exists()  # nothing started


def test_bad_option_value_is_refused_before_the_run(tmp_path):
    with pytest.raises(ValueError, match="max_subgoals=0"):
        check_options({"hier": math.hier_arm}, {"max_subgoals": 0})
    check_options({"flat": math.flat_arm, "hier": math.hier_arm}, {"max_subgoals": 2})  # read by hier only
    with pytest.raises(ValueError, match="unknown arm option.*none for these arms"):
        check_options({"flat": math.flat_arm}, {"max_subgoals": 2})


def test_graph_is_compiled_once_per_run_not_per_attempt(tmp_path, monkeypatch):
    builds = []
    real = coding.build_flat_graph

    def counting(backend, cfg, **kw):
        builds.append(cfg.sample)
        return real(backend, cfg, **kw)

    monkeypatch.setattr(coding, "build_flat_graph", counting)
    run_dir = run_experiment("exp_test", _tasks(4), {"flat": coding.flat_arm}, ScriptedBackend(lambda m, p: RIGHT),
                             RunSettings(out_root=tmp_path, progress=False, samples=2))
    assert sorted(builds) == [0, 1]  # one graph per sample (its seed), shared by the 4 tasks
    assert len((run_dir / "results.jsonl").read_text().splitlines()) == 8


def test_recipes_are_named_overrides_of_a_base(tmp_path):
    from hrm_agents.hrm.config import ConfigError, load_json

    default = load_json("default")
    assert load_json("sweep/a_step_mixed") == default  # the shipped recipe, by either name
    one_layer = load_json("sweep/d_step_mixed_1layer")
    assert one_layer["model"] == {**default["model"], "H_layers": 1, "L_layers": 1}
    assert {k: v for k, v in one_layer.items() if k != "model"} == {k: v for k, v in default.items() if k != "model"}
    smoke = load_json("e4_smoke")
    assert smoke["model"]["hidden_size"] == 32 and smoke["schedule"] == load_json("e4_full")["schedule"]
    (tmp_path / "a.json").write_text('{"base": "%s", "steps": 3}' % (tmp_path / "b.json"))
    (tmp_path / "b.json").write_text('{"base": "%s"}' % (tmp_path / "a.json"))
    with pytest.raises(ConfigError, match="loop"):
        load_json(tmp_path / "a.json")
    with pytest.raises(ConfigError, match="cannot read config no_such_recipe"):
        load_json("no_such_recipe")
