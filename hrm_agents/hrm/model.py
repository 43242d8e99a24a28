"""Hierarchical Reasoning Model with adaptive computation time (Wang et al. 2025, arXiv 2506.21734).

Our own implementation after the paper and the reference code (sapientinc/HRM,
``models/hrm/hrm_act_v1.py``). One ACT *segment* runs ``H_cycles x L_cycles`` low-level updates
``z_L <- L(z_L, z_H + x)`` and ``H_cycles`` high-level updates ``z_H <- H(z_H, z_L)``; every update but
the last L and H ones runs under ``no_grad`` (one-step gradient approximation). The carry
``(z_H, z_L)`` is detached between segments (deep supervision: a loss after every segment).
A Q-head on pooled ``z_H`` predicts halt/continue values, trained by Q-learning as in the paper.

Deviations from the reference, all deliberate: the Q-head reads the masked mean of ``z_H`` (we
have no puzzle-embedding slot at position 0); pad tokens are masked out of attention, so
trailing/leading pad columns can be trimmed at inference without changing any output; at
inference ACT halts per sample when ``q_halt > q_continue`` (the reference always runs
``halt_max_steps`` at evaluation).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..utils.constants import IGNORE_LABEL
from .config import HaltMode, ModelConfig, model_config_from_dict, to_dict
from .layers import KVCache, Rope, Rotary, Stack, lecun_normal_


class HRMCore(nn.Module):
    """The two recurrent levels; one call = one ACT segment with the one-step gradient."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        args = (cfg.hidden_size, cfg.num_heads, cfg.expansion, cfg.rms_norm_eps)
        self.H_level = Stack(cfg.H_layers, *args)
        self.L_level = Stack(cfg.L_layers, *args)
        self.register_buffer("H_init", nn.init.trunc_normal_(torch.empty(cfg.hidden_size), std=1, a=-2, b=2))
        self.register_buffer("L_init", nn.init.trunc_normal_(torch.empty(cfg.hidden_size), std=1, a=-2, b=2))

    def initial_state(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.H_init, self.L_init

    def forward(self, z_H: torch.Tensor, z_L: torch.Tensor, x: torch.Tensor, rope: Rope,
                mask: torch.Tensor | None, causal: bool = False, cache: KVCache | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        n_h, n_l = self.cfg.H_cycles, self.cfg.L_cycles
        attn = (rope, mask, causal, cache)
        with torch.no_grad():
            for h in range(n_h):
                for l in range(n_l):
                    if not (h == n_h - 1 and l == n_l - 1):
                        z_L = self.L_level(z_L, z_H + x, *attn)
                if h < n_h - 1:
                    z_H = self.H_level(z_H, z_L, *attn)
        z_L = self.L_level(z_L, z_H + x, *attn)
        z_H = self.H_level(z_H, z_L, *attn)
        return z_H, z_L


class TransformerCore(nn.Module):
    """Plain (non-recurrent, fully backpropagated) transformer baseline with the same interface."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.stack = Stack(cfg.n_transformer_layers, cfg.hidden_size, cfg.num_heads, cfg.expansion,
                           cfg.rms_norm_eps)
        self.register_buffer("zero", torch.zeros(cfg.hidden_size), persistent=False)

    def initial_state(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.zero, self.zero

    def forward(self, z_H: torch.Tensor, z_L: torch.Tensor, x: torch.Tensor, rope: Rope,
                mask: torch.Tensor | None, causal: bool = False, cache: KVCache | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.stack(torch.zeros_like(x), x, rope, mask, causal, cache)
        return z, z


class TRMCore(nn.Module):
    """Tiny Recursive Model core (Jolicoeur-Martineau 2025): one stack ``net`` applied recursively.

    ``z_H`` holds the answer state y and ``z_L`` the latent z. One recursion runs ``L_cycles`` latent
    updates ``z <- net(z + y + x)`` and one answer update ``y <- net(y + z)``; a segment runs
    ``H_cycles`` recursions, all but the last under ``no_grad``, the last one fully backpropagated
    (not the HRM's one-step gradient).
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.net = Stack(cfg.L_layers, cfg.hidden_size, cfg.num_heads, cfg.expansion, cfg.rms_norm_eps)
        self.register_buffer("y_init", nn.init.trunc_normal_(torch.empty(cfg.hidden_size), std=1, a=-2, b=2))
        self.register_buffer("z_init", nn.init.trunc_normal_(torch.empty(cfg.hidden_size), std=1, a=-2, b=2))

    def initial_state(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.y_init, self.z_init

    def _recursion(self, y: torch.Tensor, z: torch.Tensor, x: torch.Tensor, rope: Rope,
                   mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for _ in range(self.cfg.L_cycles):
            z = self.net(z, y + x, rope, mask)
        return self.net(y, z, rope, mask), z

    def forward(self, z_H: torch.Tensor, z_L: torch.Tensor, x: torch.Tensor, rope: Rope,
                mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            for _ in range(self.cfg.H_cycles - 1):
                z_H, z_L = self._recursion(z_H, z_L, x, rope, mask)
        return self._recursion(z_H, z_L, x, rope, mask)


def make_core(cfg: ModelConfig) -> nn.Module:
    """The recurrent HRM core for ``hrm``/``hrm_lm``, the plain stack for ``transformer``/``lm``, the
    single recursive stack for ``trm``."""
    if cfg.arch == "trm":
        return TRMCore(cfg)
    return HRMCore(cfg) if cfg.arch in ("hrm", "hrm_lm") else TransformerCore(cfg)


@dataclass
class Carry:
    """ACT state across training steps: recurrent state, step counters and the samples in flight."""

    z_H: torch.Tensor
    z_L: torch.Tensor
    steps: torch.Tensor
    limit: torch.Tensor
    halted: torch.Tensor
    data: dict[str, torch.Tensor]


@dataclass
class Prediction:
    """Inference result per sample: predicted tokens, segments used and P(correct) from the Q-head."""

    tokens: torch.Tensor
    steps: torch.Tensor
    q_halt_prob: torch.Tensor


class TokenModel(nn.Module):
    """The parts every model here starts with: its config, the scaled token embedding, the rotary
    tables and the core (:func:`make_core`); subclasses add their heads, then call :meth:`init_weights`."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.config = cfg
        d = cfg.hidden_size
        self.embed_scale = math.sqrt(d)
        self.embed = nn.Embedding(cfg.vocab_size, d)
        self.rotary = Rotary(d // cfg.num_heads, cfg.seq_len, cfg.rope_theta)
        self.core = make_core(cfg)

    def init_weights(self) -> None:
        """LeCun-normal linear layers and a truncated-normal embedding of std 1/sqrt(d)."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                lecun_normal_(m.weight)
        nn.init.trunc_normal_(self.embed.weight, std=1 / self.embed_scale, a=-2 / self.embed_scale,
                              b=2 / self.embed_scale)


class HRM(TokenModel):
    """Token embedding (+ optional puzzle-ID prefix) -> core (HRM, transformer or TRM) -> LM head, plus
    the ACT Q-head."""

    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        d = cfg.hidden_size
        self.prefix_len = 1 if cfg.puzzle_emb_dim else 0
        if cfg.puzzle_emb_dim:
            self.puzzle_emb = nn.Embedding(cfg.num_puzzle_ids, cfg.puzzle_emb_dim)
            self.puzzle_proj = nn.Linear(cfg.puzzle_emb_dim, d, bias=False)
        self.lm_head = nn.Linear(d, cfg.vocab_size, bias=False)
        self.q_head = nn.Linear(d, 2)
        self.init_weights()
        with torch.no_grad():  # Q starts near "continue" (as in the reference): halting is learnt
            self.q_head.weight.zero_()
            self.q_head.bias.fill_(-5)
            if cfg.puzzle_emb_dim:  # zero-initialised puzzle embeddings, as in the reference
                self.puzzle_emb.weight.zero_()

    # -- pieces shared by training and inference ----------------------------------------------
    def encode(self, inputs: torch.Tensor, puzzle_ids: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, Rope, torch.Tensor]:
        """Scaled token embeddings (after the puzzle-ID prefix, if any), rotary tables and the
        key-padding mask ``[B, 1, 1, prefix + S]``."""
        x = self.embed(inputs.long()) * self.embed_scale
        mask = inputs != self.config.pad_id
        if self.prefix_len:
            if puzzle_ids is None:
                raise ValueError("this model has puzzle-ID embeddings: pass puzzle_ids")
            x = torch.cat([self.puzzle_proj(self.puzzle_emb(puzzle_ids.long()))[:, None].to(x.dtype), x], 1)
            mask = torch.cat([torch.ones_like(mask[:, :1]), mask], 1)
        return x, self.rotary(x.shape[1]), mask[:, None, None, :]

    def heads(self, z_H: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """LM logits per position and (q_halt, q_continue) logits from the masked mean of z_H."""
        keep = mask[:, 0, 0, :, None].to(z_H.dtype)
        pooled = (z_H * keep).sum(1) / keep.sum(1).clamp_min(1)
        q = self.q_head(pooled).float()
        return self.lm_head(z_H[:, self.prefix_len:]), q[:, 0], q[:, 1]

    def _fresh_state(self, n: int, s: int) -> tuple[torch.Tensor, torch.Tensor]:
        h, l = self.core.initial_state()
        return h.expand(n, s, -1), l.expand(n, s, -1)

    def _draw_limit(self, n: int, mode: HaltMode, device: torch.device, m: int) -> torch.Tensor:
        if mode == "random":
            return torch.randint(1, m + 1, (n,), device=device, dtype=torch.int32)
        return torch.full((n,), m, device=device, dtype=torch.int32)

    def _halt(self, mode: HaltMode, steps: torch.Tensor, limit: torch.Tensor, q_halt: torch.Tensor,
              q_cont: torch.Tensor, prev_H: torch.Tensor, new_H: torch.Tensor, explore: bool) -> torch.Tensor:
        """Which samples stop after this segment, under halting ``mode``."""
        halted = steps >= limit
        if mode == "act":
            halt = q_halt > 0 if self.config.arch == "trm" else q_halt > q_cont
            m = self.config.halt_max_steps
            if explore and m > 1:  # with prob p, force at least U{2..max} segments (paper's exploration)
                forced = torch.rand_like(q_halt) < self.config.halt_exploration_prob
                halt = halt & (steps >= forced * torch.randint_like(steps, 2, m + 1))
            halted = halted | halt
        elif mode == "equilibrium":
            residual = (new_H - prev_H).float().flatten(1).norm(dim=1) / prev_H.float().flatten(1).norm(dim=1)
            halted = halted | ((steps > 1) & (residual < self.config.equilibrium_tol))
        return halted

    # -- training ------------------------------------------------------------------------------
    def initial_carry(self, batch: dict[str, torch.Tensor]) -> Carry:
        """A carry in which every sample counts as halted, so the first step loads ``batch``."""
        b, s = batch["inputs"].shape
        dev = batch["inputs"].device
        z = torch.zeros(b, s + self.prefix_len, self.config.hidden_size, device=dev)
        ones = torch.ones(b, dtype=torch.int32, device=dev)
        return Carry(z, z, ones, ones, torch.ones(b, dtype=torch.bool, device=dev),
                     {k: torch.zeros_like(v) for k, v in batch.items()})

    def forward(self, carry: Carry, batch: dict[str, torch.Tensor]) -> tuple[Carry, dict[str, torch.Tensor]]:
        """One ACT segment for every sample; halted samples are first replaced by ``batch`` rows.

        Returns the new carry and ``logits``, ``q_halt_logits``, ``q_continue_logits`` (plus
        ``target_q_continue`` when training with ACT).
        """
        cfg = self.config
        reset = carry.halted
        data = {k: torch.where(reset.view(-1, *[1] * (v.ndim - 1)), v, carry.data[k]) for k, v in batch.items()}
        h0, l0 = self.core.initial_state()
        z_H = torch.where(reset[:, None, None], h0.to(carry.z_H.dtype), carry.z_H)
        z_L = torch.where(reset[:, None, None], l0.to(carry.z_L.dtype), carry.z_L)
        steps = torch.where(reset, 0, carry.steps) + 1
        limit = torch.where(reset, self._draw_limit(len(reset), cfg.halt_mode, reset.device, cfg.halt_max_steps), carry.limit)

        x, rope, mask = self.encode(data["inputs"], data.get("puzzle_ids"))
        new_H, new_L = self.core(z_H, z_L, x, rope, mask)
        logits, q_halt, q_cont = self.heads(new_H, mask)
        out = {"logits": logits, "q_halt_logits": q_halt, "q_continue_logits": q_cont}
        with torch.no_grad():
            halted = self._halt(cfg.halt_mode, steps, limit, q_halt, q_cont, z_H, new_H, explore=self.training)
            if self.training and cfg.halt_mode == "act" and cfg.halt_max_steps > 1 and cfg.arch != "trm":
                # Q-learning target without replay buffer / target network (as in the reference)
                next_H, _ = self.core(new_H, new_L, x, rope, mask)
                _, next_halt, next_cont = self.heads(next_H, mask)
                last = steps >= cfg.halt_max_steps
                out["target_q_continue"] = torch.sigmoid(torch.where(last, next_halt, torch.maximum(next_halt, next_cont)))
        return Carry(new_H.detach(), new_L.detach(), steps, limit, halted, data), out

    # -- inference -----------------------------------------------------------------------------
    @torch.no_grad()
    def predict(self, inputs: torch.Tensor, *, halt_mode: HaltMode | None = None,
                max_steps: int | None = None, puzzle_ids: torch.Tensor | None = None) -> Prediction:
        """Run each sample until it halts (per ``halt_mode``, default the config's) or ``max_steps``.

        Halted samples leave the batch, and all-pad leading/trailing columns are trimmed first
        (exact, since pads are masked out of attention and positions are relative).
        """
        mode = halt_mode or self.config.halt_mode
        max_steps = max_steps or self.config.halt_max_steps
        n = inputs.shape[0]
        tokens = torch.full_like(inputs, self.config.pad_id, dtype=torch.long)
        steps = torch.zeros(n, dtype=torch.int32, device=inputs.device)
        q_prob = torch.zeros(n, device=inputs.device)
        used = (inputs != self.config.pad_id).any(0).nonzero()
        lo, hi = int(used.min()), int(used.max()) + 1
        x, rope, mask = self.encode(inputs[:, lo:hi], puzzle_ids)
        z_H, z_L = self._fresh_state(n, x.shape[1])
        limit = self._draw_limit(n, mode, inputs.device, max_steps)
        active = torch.arange(n, device=inputs.device)
        for step in range(1, max_steps + 1):
            new_H, new_L = self.core(z_H, z_L, x, rope, mask)
            logits, q_halt, q_cont = self.heads(new_H, mask)
            step_t = torch.full_like(limit, step)
            halt = self._halt(mode, step_t, limit, q_halt, q_cont, z_H, new_H, explore=False)
            done = active[halt]
            tokens[done, lo:hi] = logits[halt].argmax(-1)
            steps[done] = step
            q_prob[done] = torch.sigmoid(q_halt[halt])
            keep = ~halt
            if not keep.any():
                break
            active, z_H, z_L, x, mask, limit = (t[keep] for t in (active, new_H, new_L, x, mask, limit))
        return Prediction(tokens, steps, q_prob)


def log_stablemax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """log of the stablemax of the paper: s(x) = x + 1 (x >= 0), 1 / (1 - x) (x < 0)."""
    s = torch.where(x < 0, 1 / (1 - x), x + 1)
    return torch.log(s / s.sum(dim=dim, keepdim=True))


def _token_logprobs(logits: torch.Tensor, labels: torch.Tensor, loss_type: str) -> torch.Tensor:
    logp = log_stablemax(logits.double()) if loss_type == "stablemax" else F.log_softmax(logits.float(), -1)
    return logp.gather(-1, labels.clamp_min(0).long()[..., None]).squeeze(-1).float()


def _masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (x * mask).sum(-1) / mask.sum(-1).clamp_min(1)


def act_loss(out: dict[str, torch.Tensor], labels: torch.Tensor, *, loss_type: str = "softmax",
             step_labels: torch.Tensor | None = None, step_weight: float = 0.0
             ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Deep-supervision loss of one segment.

    ``answer CE + step_weight * step-label CE + 0.5 * (q_halt BCE + q_continue BCE)``, where the
    halt target is "all answer tokens right" and the continue target is the bootstrapped
    ``target_q_continue`` (ACT only). Returns the scalar loss and per-sample detached stats:
    ``lm_loss``, ``token_acc``, ``exact`` and ``q_halt_ok`` (the Q-head's sign predicts ``exact``).
    """
    logits = out["logits"]
    mask = labels != IGNORE_LABEL
    lm = -_masked_mean(_token_logprobs(logits, labels, loss_type), mask)
    with torch.no_grad():
        correct = mask & (logits.argmax(-1) == labels)
        exact = correct.sum(-1) == mask.sum(-1)
    q = F.binary_cross_entropy_with_logits(out["q_halt_logits"], exact.float(), reduction="none")
    if "target_q_continue" in out:
        q = q + F.binary_cross_entropy_with_logits(out["q_continue_logits"], out["target_q_continue"], reduction="none")
    per_sample = lm + 0.5 * q
    if step_labels is not None and step_weight > 0:
        step_mask = step_labels != IGNORE_LABEL
        per_sample = per_sample - step_weight * _masked_mean(_token_logprobs(logits, step_labels, loss_type), step_mask)
    stats = {"lm_loss": lm.detach(), "token_acc": _masked_mean(correct.float(), mask), "exact": exact,
             "q_halt_ok": (out["q_halt_logits"].detach() >= 0) == exact}
    return per_sample.mean(), stats


def n_params(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def save_model(model: nn.Module, directory: str | Path, dtype: torch.dtype = torch.float32,
               meta: dict[str, Any] | None = None) -> Path:
    """Write ``model.safetensors`` (weights in ``dtype``) and ``config.json`` (model config + ``meta``)."""
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu", dtype).contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(directory / "model.safetensors"))
    config = {"model": to_dict(model.config), "meta": meta or {}}
    (directory / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    return directory


def load_model(directory: str | Path, device: str | torch.device = "cpu") -> tuple[Any, dict[str, Any]]:
    """Load a model saved by :func:`save_model` (weights upcast to float32); returns (model, meta).

    The model is an :class:`HRM`, or a :class:`~hrm_agents.hrm.lm.CausalLM` for ``hrm_lm``/``lm`` configs."""
    from safetensors.torch import load_file

    directory = Path(directory)
    config = json.loads((directory / "config.json").read_text())
    cfg = model_config_from_dict(config["model"])
    if cfg.arch in ("hrm_lm", "lm"):
        from .lm import CausalLM

        model: nn.Module = CausalLM(cfg)
    else:
        model = HRM(cfg)
    state = load_file(str(directory / "model.safetensors"))
    model.load_state_dict({k: v.float() for k, v in state.items()})
    return model.to(device).eval(), config.get("meta", {})
