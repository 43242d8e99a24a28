"""The layers of ARCHITECTURE.md hold: no package imports one above it (imports inside functions
count too), the library never imports an experiment, and no experiment imports another."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Lower number = lower layer. A package may import packages of a lower layer, itself, and the
# same-layer packages listed in SAME_LAYER.
LAYERS = {
    "utils": 0,
    "tasks": 1, "backends": 1, "sandbox": 1, "tracking": 1,
    "evaluation": 2,
    "runner": 3,
    "curriculum": 4, "graphs": 4, "hrm": 4, "arc": 4,
    "cli": 5, "cli_common": 5, "__init__": 5, "dashboard": 5,
}
SAME_LAYER = {("hrm", "curriculum"), ("arc", "hrm"), ("cli", "dashboard"), ("cli", "cli_common")}
ONLY = {"curriculum": {"tasks", "utils"}}  # tighter than the layers: the generator stays a pure library


def _package(path: Path) -> str:
    """``hrm_agents/<package>/...`` -> package; ``hrm_agents/cli.py`` -> ``cli``."""
    part = path.relative_to(ROOT / "hrm_agents").parts[0]
    return part.removesuffix(".py")


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in the file, relative ones resolved."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    package = ".".join(parts[:-1])  # what a relative import in this file starts from
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            out += [(node.lineno, name)] if node.module else [(node.lineno, f"{name}.{a.name}") for a in node.names]
    return out


def _violations() -> list[str]:
    bad = []
    for path in sorted((ROOT / "hrm_agents").rglob("*.py")):
        src = _package(path)
        for line, name in _imports(path):
            where = f"{path.relative_to(ROOT)}:{line} imports {name}"
            if name.split(".")[0] == "experiments":
                bad.append(f"{where}: the library never imports an experiment")
                continue
            if not name.startswith("hrm_agents.") or (dst := name.split(".")[1]) == src:
                continue
            if src not in LAYERS or dst not in LAYERS:
                bad.append(f"{where}: package {src if src not in LAYERS else dst} has no layer in "
                           "tests/test_layering.py (add it, and to ARCHITECTURE.md)")
            elif src in ONLY and dst not in ONLY[src]:
                bad.append(f"{where}: {src} may import only {', '.join(sorted(ONLY[src]))}")
            elif LAYERS[dst] > LAYERS[src] or (LAYERS[dst] == LAYERS[src] and (src, dst) not in SAME_LAYER):
                bad.append(f"{where}: layer {LAYERS[src]} ({src}) may not import layer {LAYERS[dst]} ({dst})")
    for path in sorted((ROOT / "experiments").rglob("*.py")):
        own = path.relative_to(ROOT / "experiments").parts[0]
        for line, name in _imports(path):
            parts = name.split(".")
            if parts[0] == "experiments" and len(parts) > 1 and parts[1] != own:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {name}: an experiment imports no other "
                           "experiment (shared parts belong in the library)")
    return bad


def test_no_lower_layer_imports_a_higher_one():
    assert _violations() == []


def test_the_check_sees_relative_lazy_and_experiment_imports(tmp_path, monkeypatch):
    pkg = tmp_path / "hrm_agents" / "curriculum"
    pkg.mkdir(parents=True)
    (tmp_path / "hrm_agents" / "tasks").mkdir()
    (pkg / "__init__.py").write_text("from ..graphs import arms\n")
    (pkg / "gen.py").write_text("from ..tasks import schema\n\ndef f():\n    from ..runner import arm\n"
                                "    import experiments.exp1_decomp_vs_flat\n")
    (tmp_path / "experiments" / "exp9_x").mkdir(parents=True)
    (tmp_path / "experiments" / "exp9_x" / "run.py").write_text("from experiments.exp8_y import plan\n")
    monkeypatch.setattr(__import__(__name__), "ROOT", tmp_path)
    found = _violations()
    assert len(found) == 4, found
    assert "__init__.py:1 imports hrm_agents.graphs: curriculum may import only tasks, utils" in found[0]
    assert "gen.py:4 imports hrm_agents.runner: curriculum may import only tasks, utils" in found[1]
    assert "never imports an experiment" in found[2] and "no other experiment" in found[3]
