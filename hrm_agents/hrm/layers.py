"""Transformer building blocks of the HRM: RMSNorm (post-norm), SwiGLU, rotary positions and
PyTorch SDPA attention (runs on CPU and GPU, no FlashAttention dependency): non-causal with a
key-padding mask for the puzzle HRM, causal (optionally with a :class:`KVCache`) for the language models."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

Rope = tuple[torch.Tensor, torch.Tensor]


def rms_norm(x: torch.Tensor, eps: float) -> torch.Tensor:
    """Parameter-free RMSNorm computed in float32 (as in the reference HRM)."""
    dtype = x.dtype
    x = x.float()
    return (x * torch.rsqrt(x.square().mean(-1, keepdim=True) + eps)).to(dtype)


def lecun_normal_(weight: torch.Tensor) -> torch.Tensor:
    """Truncated LeCun-normal init (std = 1/sqrt(fan_in), cut at 2 std)."""
    std = 1.0 / math.sqrt(weight.shape[-1])
    return nn.init.trunc_normal_(weight, std=std, a=-2 * std, b=2 * std)


class Rotary(nn.Module):
    """Rotary position tables; grows on demand for sequences longer than ``max_len``."""

    def __init__(self, head_dim: int, max_len: int, theta: float):
        super().__init__()
        self.theta = theta
        self.register_buffer("inv_freq", 1.0 / theta ** (torch.arange(0, head_dim, 2).float() / head_dim),
                             persistent=False)
        self._tables(max_len)

    def _tables(self, length: int) -> None:
        freqs = torch.outer(torch.arange(length, device=self.inv_freq.device).float(), self.inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        self.register_buffer("cos", emb.cos(), persistent=False)
        self.register_buffer("sin", emb.sin(), persistent=False)

    def forward(self, length: int) -> Rope:
        if length > self.cos.shape[0]:
            self._tables(length)
        return self.cos[:length], self.sin[:length]


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    xf = x.float()
    rotated = torch.cat((-xf[..., half:], xf[..., :half]), dim=-1)
    return (xf * cos + rotated * sin).to(x.dtype)


class KVCache:
    """Keys and values of every attention call of a causal model, for incremental decoding.

    The attention calls of one forward pass happen in a fixed order (levels, cycles, layers), so
    call ``i`` of every step appends to slot ``i``; :meth:`begin` starts a new step. Exact for any
    causal stack, however often a layer is re-applied. Buffers are allocated for ``capacity``
    positions (and grow by doubling past it), so no token copies the cache.
    """

    def __init__(self, capacity: int = 0) -> None:
        self.capacity = capacity  # positions to allocate at once (e.g. prompt + new tokens)
        self.slots: list[list[torch.Tensor]] = []  # [keys buffer, values buffer] per call
        self.length = 0  # positions cached (after the last complete step)
        self._i = 0
        self._new = 0

    def begin(self) -> None:
        """Start the next forward pass (its calls fill slots from 0 again)."""
        self.length += self._new
        self._i, self._new = 0, 0

    def update(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Append this call's new ``k, v`` ``[B, H, S, D]`` to its slot; returns all keys and values so far."""
        n, end = k.shape[2], self.length + k.shape[2]
        if self._i == len(self.slots):
            self.slots.append([k.new_empty(*k.shape[:2], 0, k.shape[3]), v.new_empty(*v.shape[:2], 0, v.shape[3])])
        slot = self.slots[self._i]
        if slot[0].shape[2] < end:  # grow to the capacity, or to twice what is needed beyond it
            size = self.capacity if end <= self.capacity else 2 * end
            grow = lambda t: torch.cat((t, t.new_empty(*t.shape[:2], size - t.shape[2], t.shape[3])), 2)  # noqa: E731
            slot[0], slot[1] = grow(slot[0]), grow(slot[1])
        slot[0][:, :, self.length:end] = k
        slot[1][:, :, self.length:end] = v
        self._i += 1
        self._new = n
        return slot[0][:, :, :end], slot[1][:, :, :end]


class Attention(nn.Module):
    """Multi-head self-attention with rotary positions.

    ``mask``: a boolean mask broadcastable to ``[B, heads, S_q, S_k]`` (True = may attend), or
    ``None`` with ``causal=True`` for plain causal attention. ``cache`` appends this call's keys and
    values (see :class:`KVCache`); the rotary tables must then cover the new positions only.
    """

    def __init__(self, hidden: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(hidden, 3 * hidden, bias=False)
        self.out = nn.Linear(hidden, hidden, bias=False)

    def forward(self, x: torch.Tensor, rope: Rope, mask: torch.Tensor | None, causal: bool = False,
                cache: KVCache | None = None) -> torch.Tensor:
        b, s, d = x.shape
        q, k, v = self.qkv(x).view(b, s, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        q, k = _rotate(q, *rope), _rotate(k, *rope)
        if cache is not None:
            k, v = cache.update(k, v)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal and mask is None)
        return self.out(y.transpose(1, 2).reshape(b, s, d))


class SwiGLU(nn.Module):
    """SwiGLU MLP; inner width ``expansion * 2/3 * hidden`` rounded up to a multiple of 64."""

    def __init__(self, hidden: int, expansion: float):
        super().__init__()
        inner = 64 * math.ceil(round(expansion * hidden * 2 / 3) / 64)
        self.gate_up = nn.Linear(hidden, 2 * inner, bias=False)
        self.down = nn.Linear(inner, hidden, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.gate_up(x).chunk(2, dim=-1)
        return self.down(F.silu(gate) * up)


class Block(nn.Module):
    """Post-norm transformer block: x = norm(x + attn(x)); x = norm(x + mlp(x))."""

    def __init__(self, hidden: int, heads: int, expansion: float, eps: float):
        super().__init__()
        self.attn = Attention(hidden, heads)
        self.mlp = SwiGLU(hidden, expansion)
        self.eps = eps

    def forward(self, x: torch.Tensor, rope: Rope, mask: torch.Tensor | None, causal: bool = False,
                cache: KVCache | None = None) -> torch.Tensor:
        x = rms_norm(x + self.attn(x, rope, mask, causal, cache), self.eps)
        return rms_norm(x + self.mlp(x), self.eps)


class Stack(nn.Module):
    """A stack of blocks that first adds its input injection: ``layers(z + injection)``."""

    def __init__(self, n_layers: int, hidden: int, heads: int, expansion: float, eps: float):
        super().__init__()
        self.layers = nn.ModuleList(Block(hidden, heads, expansion, eps) for _ in range(n_layers))

    def forward(self, z: torch.Tensor, injection: torch.Tensor, rope: Rope, mask: torch.Tensor | None,
                causal: bool = False, cache: KVCache | None = None) -> torch.Tensor:
        z = z + injection
        for layer in self.layers:
            z = layer(z, rope, mask, causal, cache)
        return z
