"""Causal language models on the HRM's blocks: the HRM-LM (``arch="hrm_lm"``) and a plain causal
transformer (``arch="lm"``, e.g. the GPT-2-117M shape: 12 layers, d 768, 12 heads).

HRM-LM design (what carries over from the puzzle HRM, :mod:`hrm_agents.hrm.model`):

* the two recurrent levels, ``z_L <- L(z_L, z_H + x)`` run ``L_cycles`` times per high-level update
  ``z_H <- H(z_H, z_L)``, ``H_cycles`` times per segment, with the input injection ``x`` (token
  embeddings) into every low-level update; the LM head reads ``z_H``;
* every attention is **causal** over the token sequence, so position ``t`` of every level at every
  cycle depends on tokens ``<= t`` only: the whole recurrence is a causal function of the prefix;
* the one-step gradient: every update but the last L and H ones runs under ``no_grad``;
* deep supervision: ``halt_max_steps`` segments per batch, the carry ``(z_H, z_L)`` detached between
  them, a next-token loss (and, in :mod:`~hrm_agents.hrm.lm_train`, an optimiser step) after each.

What was dropped: ACT. Halting is per sequence in the puzzle HRM (one Q-head on pooled ``z_H``), but
a language model emits one token per position, and a per-sequence halt would let future tokens
decide how much compute earlier positions get (breaking causality and the KV cache). The LM runs a
fixed number of segments at training and inference (``halt_mode="fixed"``). No puzzle embedding,
no stablemax (softmax cross-entropy).

Decoding uses a :class:`~hrm_agents.hrm.layers.KVCache`: since every attention call is causal, each
call (segment x cycle x level x layer) keeps its own keys/values and a new token only runs the
recurrence at its own position, which is exactly what a full forward pass computes (tested).
Batches of prompts are left-padded; pad keys are masked (a pad query attends to itself only), and
rotary positions are relative, so padding does not change any real token's output.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig
from ..utils.constants import IGNORE_LABEL
from .layers import KVCache
from .model import TokenModel


class CausalLM(TokenModel):
    """Token embedding -> causal core (HRM levels or a plain stack) -> LM head."""

    def __init__(self, cfg: ModelConfig):
        if cfg.arch not in ("hrm_lm", "lm"):
            raise ValueError(f"CausalLM needs arch 'hrm_lm' or 'lm', not {cfg.arch!r}")
        super().__init__(cfg)
        self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        self.init_weights()

    @property
    def segments(self) -> int:
        """Segments per forward pass (deep-supervision steps in training; all run at inference)."""
        return self.config.halt_max_steps

    def kv_bytes_per_position(self, element_size: int) -> int:
        """Bytes the :class:`~hrm_agents.hrm.layers.KVCache` holds per sequence position of one row
        (keys and values of every attention call of all segments)."""
        return self.segments * self.config.blocks_per_segment() * 2 * self.config.hidden_size * element_size

    def _state(self, b: int, s: int) -> tuple[torch.Tensor, torch.Tensor]:
        h, l = self.core.initial_state()
        return h.expand(b, s, -1), l.expand(b, s, -1)

    def forward(self, inputs: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """One segment over full sequences ``[B, S]`` (causal): logits ``[B, S, V]`` and the detached
        carry for the next segment (``state=None`` starts from the initial state)."""
        x = self.embed(inputs.long()) * self.embed_scale
        z_H, z_L = state if state is not None else self._state(*inputs.shape)
        z_H, z_L = self.core(z_H, z_L, x, self.rotary(inputs.shape[1]), None, causal=True)
        return self.lm_head(z_H), (z_H.detach(), z_L.detach())

    def logits(self, inputs: torch.Tensor) -> torch.Tensor:
        """Logits of the last segment after running all :attr:`segments` (no cache)."""
        state = None
        for _ in range(self.segments):
            out, state = self(inputs, state)
        return out

    def _step(self, tokens: torch.Tensor, start: int, mask: torch.Tensor, cache: KVCache) -> torch.Tensor:
        """All segments for new ``tokens`` at positions ``start..``; last position's logits."""
        cos, sin = self.rotary(start + tokens.shape[1])
        rope = (cos[start:], sin[start:])
        x = self.embed(tokens.long()) * self.embed_scale
        z_H, z_L = self._state(*tokens.shape)
        cache.begin()
        for _ in range(self.segments):
            z_H, z_L = self.core(z_H, z_L, x, rope, mask, cache=cache)
        return self.lm_head(z_H[:, -1]).float()

    @torch.no_grad()
    def generate(self, prompts: list[list[int]], max_new_tokens: int, *, eos_id: int,
                 temperature: float = 0.0, top_p: float = 1.0, generator: torch.Generator | None = None
                 ) -> list[list[int]]:
        """Continue each prompt (token ids) with a KV cache; ``temperature=0`` is greedy decoding.

        Rows stop at ``eos_id`` (not returned) or after ``max_new_tokens``; returns the new ids per row.
        """
        if not prompts or any(not p for p in prompts):
            raise ValueError("generate needs non-empty prompts")
        dev = self.embed.weight.device
        pad = self.config.pad_id
        width = max(map(len, prompts))
        rows = torch.tensor([[pad] * (width - len(p)) + list(p) for p in prompts], device=dev)
        valid = torch.tensor([[False] * (width - len(p)) + [True] * len(p) for p in prompts], device=dev)
        causal = torch.ones(width, width, dtype=torch.bool, device=dev).tril()
        eye = torch.eye(width, dtype=torch.bool, device=dev)
        mask = causal & (valid[:, None, None, :] | eye)  # a pad query sees itself only
        cache = KVCache(width + max_new_tokens)
        self.rotary(width + max_new_tokens)  # grow the rotary tables once, not at every new position
        logits = self._step(rows, 0, mask, cache)
        out = torch.empty(len(prompts), 0, dtype=torch.long, device=dev)
        done = torch.zeros(len(prompts), dtype=torch.bool, device=dev)
        for t in range(max_new_tokens):
            nxt = sample(logits, temperature, top_p, generator)
            nxt = torch.where(done, eos_id, nxt)
            out = torch.cat((out, nxt[:, None]), 1)
            done |= nxt == eos_id
            if t == max_new_tokens - 1 or (t % 16 == 15 and bool(done.all())):  # a host sync every 16 tokens only
                break
            valid = torch.cat((valid, torch.ones_like(done[:, None])), 1)
            logits = self._step(nxt[:, None], width + t, valid[:, None, None, :], cache)
        result = []
        for row in out.tolist():
            result.append(row[:row.index(eos_id)] if eos_id in row else row)
        return result


def sample(logits: torch.Tensor, temperature: float, top_p: float,
           generator: torch.Generator | None = None) -> torch.Tensor:
    """Next token per row from ``[B, V]`` logits: argmax at ``temperature <= 0``, else nucleus
    sampling (the smallest set of tokens whose probability reaches ``top_p``) at ``temperature``."""
    if temperature <= 0:
        return logits.argmax(-1)
    probs = torch.softmax(logits.float() / temperature, -1)
    if top_p < 1.0:
        sorted_p, order = probs.sort(-1, descending=True)
        drop = sorted_p.cumsum(-1) - sorted_p >= top_p  # tokens after the nucleus is full
        sorted_p = sorted_p.masked_fill(drop, 0.0)
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_p)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def lm_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy; ``labels`` are already shifted (``IGNORE_LABEL`` = no loss)."""
    return F.cross_entropy(logits.float().flatten(0, 1), labels.flatten().long(), ignore_index=IGNORE_LABEL)
