"""Configuration of the native HRM (model + trainer), as plain JSON-serialisable dataclasses.

No torch import here, so configs can be read and validated without the ``hrm`` extra.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, get_args

Arch = Literal["hrm", "transformer", "trm", "hrm_lm", "lm"]
HaltMode = Literal["act", "fixed", "equilibrium", "random"]
HALT_MODES = get_args(HaltMode)
LossType = Literal["softmax", "stablemax"]
Schedule = Literal["curriculum", "mixed"]


class ConfigError(ValueError):
    """A config file or override is invalid (one-line message)."""


@dataclass
class ModelConfig:
    """Architecture and halting switches.

    ``arch="hrm"``: two recurrent levels (L fast, H slow) run ``H_cycles x L_cycles`` per ACT segment
    with the one-step gradient. ``arch="transformer"``: a plain non-recurrent stack of
    ``transformer_layers`` blocks (0 = ``H_layers + L_layers``, the matched-parameter baseline; use
    :meth:`deep_transformer_layers` for the matched-compute "deeper" baseline). ``arch="trm"`` (Tiny
    Recursive Model, Jolicoeur-Martineau 2025): ONE stack of ``L_layers`` blocks applied recursively,
    ``H_cycles`` recursions of (``L_cycles`` latent updates, one answer update) per segment, full
    backpropagation through the last recursion, and a simple halt head (halt when P(correct) > 0.5,
    no Q-continue target); ``H_layers`` is unused.

    ``puzzle_emb_dim`` > 0 adds a learnt per-puzzle-ID embedding (``num_puzzle_ids`` rows, zero-initialised,
    projected to ``hidden_size``) as one prefix position, as the HRM does on ARC. ``pad_id`` < 0: no
    padding mask (every position attends and is predicted, as for 30x30 ARC grids, where "outside the
    grid" is a real token the model must output).
    ``arch="hrm_lm"`` / ``"lm"``: the same two cores with causal attention as autoregressive language
    models (:mod:`hrm_agents.hrm.lm`); ``halt_max_steps`` is then the fixed number of deep-supervision
    segments (``halt_mode="fixed"``; ACT is not used).

    Halting modes: ``act`` (Q-head, Q-learning, halts when q_halt > q_continue),
    ``fixed`` (always ``halt_max_steps`` segments), ``equilibrium`` (halts when the relative change of
    z_H over a segment drops below ``equilibrium_tol``), ``random`` (a uniform random number of
    segments in 1..``halt_max_steps``). ``halt_max_steps=1`` turns ACT off.
    """

    vocab_size: int
    seq_len: int
    arch: Arch = "hrm"
    hidden_size: int = 256
    num_heads: int = 4
    expansion: float = 4.0
    H_layers: int = 2
    L_layers: int = 2
    H_cycles: int = 2
    L_cycles: int = 2
    transformer_layers: int = 0
    halt_mode: HaltMode = "act"
    halt_max_steps: int = 8
    halt_exploration_prob: float = 0.1
    equilibrium_tol: float = 1e-2
    rope_theta: float = 10000.0
    rms_norm_eps: float = 1e-5
    loss: LossType = "softmax"
    pad_id: int = 0
    puzzle_emb_dim: int = 0
    num_puzzle_ids: int = 0

    def __post_init__(self) -> None:
        if self.hidden_size % self.num_heads or (self.hidden_size // self.num_heads) % 2:
            raise ConfigError(f"hidden_size {self.hidden_size} must split into {self.num_heads} heads of even size")
        if min(self.H_layers, self.L_layers, self.H_cycles, self.L_cycles, self.halt_max_steps) < 1:
            raise ConfigError("H/L layers, H/L cycles and halt_max_steps must all be >= 1")
        if self.arch in ("transformer", "lm") and self.halt_max_steps != 1:
            raise ConfigError("a plain transformer has no recurrent state: use halt_max_steps=1")
        if self.puzzle_emb_dim < 0 or (self.puzzle_emb_dim > 0 and self.num_puzzle_ids < 1):
            raise ConfigError("puzzle_emb_dim > 0 needs num_puzzle_ids >= 1")
        if self.arch not in ("hrm", "transformer", "trm", "hrm_lm", "lm"):
            raise ConfigError(f"unknown arch {self.arch!r}")
        if self.arch in ("hrm_lm", "lm") and self.halt_mode != "fixed":
            raise ConfigError("the causal language models run a fixed number of segments: use halt_mode='fixed'")
        if self.halt_mode not in HALT_MODES:
            raise ConfigError(f"unknown halt_mode {self.halt_mode!r}")
        if self.loss not in ("softmax", "stablemax"):
            raise ConfigError(f"unknown loss {self.loss!r}")

    @property
    def n_transformer_layers(self) -> int:
        """Depth of the plain-transformer baseline."""
        return self.transformer_layers or self.H_layers + self.L_layers

    def blocks_per_segment(self) -> int:
        """Block applications in one forward segment."""
        if self.arch in ("transformer", "lm"):
            return self.n_transformer_layers
        if self.arch == "trm":
            return self.H_cycles * (self.L_cycles + 1) * self.L_layers
        return self.H_cycles * (self.L_cycles * self.L_layers + self.H_layers)

    def n_blocks(self) -> int:
        """Distinct blocks (parameter sets) in the core."""
        return {"transformer": self.n_transformer_layers, "trm": self.L_layers}.get(self.arch, self.H_layers + self.L_layers)

    def deep_transformer_layers(self) -> int:
        """Layers a plain transformer needs to match one HRM segment's depth (depth x cycles)."""
        return self.H_cycles * (self.L_cycles * self.L_layers + self.H_layers)


def warmup_cosine(step: int, total: int, warmup: int, min_ratio: float) -> float:
    """Learning-rate factor at ``step`` of ``total``: linear warm-up over ``warmup`` steps, then cosine
    decay to ``min_ratio``."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


@dataclass
class OptimConfig:
    """AdamW and learning-rate settings shared by the HRM trainer (:class:`TrainConfig`) and the
    language-model trainer (:class:`hrm_agents.hrm.lm_train.LMTrainConfig`)."""

    lr: float = 1e-3
    min_lr_ratio: float = 0.1
    warmup_steps: int = 100
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.95)
    grad_clip: float = 1.0

    def __post_init__(self) -> None:
        self.betas = tuple(self.betas)  # type: ignore[assignment]

    def lr_factor(self, step: int, total: int) -> float:
        """:func:`warmup_cosine` with this config's warm-up and floor."""
        return warmup_cosine(step, total, self.warmup_steps, self.min_lr_ratio)


@dataclass
class TrainConfig(OptimConfig):
    """Trainer settings; ``model`` holds the architecture (vocab/seq_len are filled from the data).

    Data: ``n_train_per_k`` fresh training tasks per family and training k (none of them in the
    evaluation splits), ``n_test_per_k`` per k in each evaluation split, ``n_eval_per_k`` of them
    scored at every ``eval_every`` steps. ``step_weight`` > 0 adds the auxiliary step-label loss
    (see :mod:`hrm_agents.hrm.data`). ``schedule``: ``mixed`` (all training k shuffled) or
    ``curriculum`` (k = 2 -> 3 -> 4, promoted when the stage's training exact accuracy over one log
    window reaches ``promote_at`` on at least ``promote_min_count`` samples, or, when
    ``max_per_stage`` is set, once the stage has loaded that many examples); both run ``steps``
    optimiser steps of ``batch_size`` rows (equal budgets). ``puzzle_emb_lr``: the puzzle-ID embeddings'
    own peak learning rate (the reference trains them 100x faster than the rest; None = ``lr``).
    ``final_eval``: halting settings
    (``{"halt_mode": .., "max_steps": ..}``, ``{}`` = the model's own) scored on the full test splits.
    ``replay`` (curriculum only): after the first stage, this fraction of every batch is drawn from
    the earlier stages' k (e.g. k = 2 while training on k = 3 and 4).
    ``select_k``: model selection on a held-out k, never on another one: at every periodic evaluation
    the model is scored on a *selection split* of ``n_eval_per_k`` fresh tasks of that k (none of them
    in any evaluation split), and the weights with the best exact accuracy so far (the later one on
    ties) are written to ``best/``. ``eval_halt_mode``: the halting rule used when scoring (periodic
    evaluation, selection, the experiments' per-k scoring); None = the model's own (e.g. ``fixed``
    for a model trained with ``random`` halting, which would otherwise stop at a random segment).
    """

    model: dict[str, Any] = field(default_factory=dict)
    families: list[str] = field(default_factory=lambda: ["arith_chain"])
    data_seed: int = 0
    train_ks: list[int] = field(default_factory=lambda: [2, 3, 4])
    heldout_ks: list[int] = field(default_factory=lambda: [5, 6])
    n_train_per_k: int = 20000
    n_test_per_k: int = 1000
    n_eval_per_k: int = 256
    data_workers: int = 1
    step_weight: float = 0.0
    schedule: Schedule = "mixed"
    promote_at: float = 0.9
    promote_min_count: int = 256
    max_per_stage: int | None = None
    seed: int = 0
    batch_size: int = 256
    steps: int = 2000
    puzzle_emb_lr: float | None = None
    log_every: int = 50
    eval_every: int = 500
    ckpt_every: int = 500
    export_dtype: Literal["float32", "bfloat16", "float16"] = "bfloat16"
    final_eval: list[dict[str, Any]] = field(default_factory=lambda: [{}])
    replay: float = 0.0
    select_k: int | None = None
    eval_halt_mode: HaltMode | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.schedule not in ("curriculum", "mixed"):
            raise ConfigError(f"unknown schedule {self.schedule!r}; use curriculum or mixed")
        if self.batch_size < 1 or self.steps < 1:
            raise ConfigError("batch_size and steps must be >= 1")
        if self.puzzle_emb_lr is not None and self.puzzle_emb_lr <= 0:
            raise ConfigError("puzzle_emb_lr must be > 0 (or null for the model's lr)")
        if self.max_per_stage is not None and self.max_per_stage < 1:
            raise ConfigError("max_per_stage must be >= 1 (or null for no cap)")
        if not 0.0 <= self.replay < 1.0:
            raise ConfigError("replay must be in [0, 1)")
        if self.replay and self.schedule != "curriculum":
            raise ConfigError("replay needs schedule 'curriculum' (mixed training already draws every k)")
        if self.select_k is not None and self.select_k in self.train_ks:
            raise ConfigError(f"select_k {self.select_k} is a training k; select on a held-out k")
        if self.eval_halt_mode not in (None, *HALT_MODES):
            raise ConfigError(f"unknown eval_halt_mode {self.eval_halt_mode!r}")


def _build(cls: type, data: dict[str, Any], what: str) -> Any:
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"unknown {what} key(s): {', '.join(unknown)}")
    try:
        return cls(**data)
    except TypeError as e:
        raise ConfigError(f"bad {what}: {e}") from None


def model_config_from_dict(data: dict[str, Any]) -> ModelConfig:
    """Validate a model config dict (one-line :class:`ConfigError` on bad keys/values)."""
    return _build(ModelConfig, data, "model config")


def train_config_from_dict(data: dict[str, Any]) -> TrainConfig:
    """Validate a trainer config dict."""
    return _build(TrainConfig, data, "train config")


CONFIG_DIR = Path(__file__).parent / "configs"
"""The one folder of named HRM recipes (``default``, ``fast``, ``tiny``, ``e3_tiny``, ``e4_full``, ...)."""


def load_json(path: str | Path, _seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """A recipe (train config dict) from a JSON file, or by name from :data:`CONFIG_DIR` (``"default"``,
    ``"sweep/b_answer_only_mixed"``); one-line :class:`ConfigError` on problems.

    A ``"base"`` key names the recipe this one overrides: its keys replace the base's, except
    ``model``, whose keys replace the base's model keys one by one.
    """
    file = Path(path) if Path(path).suffix == ".json" or Path(path).is_file() else CONFIG_DIR / f"{path}.json"
    try:
        data = json.loads(file.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ConfigError(f"cannot read config {path}: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config {path} must hold a JSON object")
    if (base := data.pop("base", None)) is None:
        return data
    if base in _seen or len(_seen) > 8:
        raise ConfigError(f"config {path}: base recipes form a loop ({' -> '.join((*_seen, base))})")
    merged = load_json(base, (*_seen, str(base)))
    return {**merged, **data, "model": {**merged.get("model", {}), **data.get("model", {})}}


def to_dict(cfg: ModelConfig | TrainConfig) -> dict[str, Any]:
    """JSON-ready dict of a config."""
    d = asdict(cfg)
    if "betas" in d:
        d["betas"] = list(d["betas"])
    return d
