"""``HRMBackend``: the native HRM behind the same :class:`~hrm_agents.backends.base.Backend` interface
as the LLMs (``make_backend("hrm", model=<checkpoint folder or "default">)``).

It reads the chat messages, finds a generated curriculum question in them
(:func:`hrm_agents.curriculum.programs.parse_question`), encodes its canonical form and answers
with one non-autoregressive forward pass per ACT segment. Anything it cannot read comes back as a
completion with ``finish_reason="unsupported"`` and empty text, never an exception.

A code-LM checkpoint (``meta.kind == "code_lm"``: a causal HRM-LM or plain LM trained by E6, with
its ``tokenizer.json``) is served as a chat model instead: the last user message goes into the
training prompt layout (:func:`hrm_agents.hrm.code_data.mbpp_prompt`) and the sampled code comes back
in a fenced ``python`` block, so it can stand in for the LLM of E1's flat arm.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Sequence

from ..backends.base import Backend, BackendError, Completion, GenParams, Message
from ..curriculum.arrays import VOCAB, decode_answer, encode_canonical
from ..curriculum.programs import parse_question

DEFAULT_CHECKPOINT = Path(__file__).parent / "checkpoints" / "default"


class HRMBackend(Backend):
    """Answers ``arith_chain`` (and any other family the checkpoint was trained on) with the HRM.

    Args:
        model: checkpoint folder (``model.safetensors`` + ``config.json``); ``None``/``"default"``
            = the shipped checkpoint.
        device: torch device for inference (default CPU).
        halt_mode / max_steps: override the checkpoint's halting (see :class:`~hrm_agents.hrm.config.ModelConfig`).
        threads: torch intra-op threads (``None`` = torch's default).
    """

    name = "hrm"

    def __init__(self, model: str | None = None, device: str = "cpu", halt_mode: str | None = None,
                 max_steps: int | None = None, threads: int | None = None):
        try:
            import torch
        except ImportError:
            raise BackendError("the hrm backend needs PyTorch: pip install 'hrm_agents[hrm]'") from None
        from .model import load_model

        path = DEFAULT_CHECKPOINT if model in (None, "default") else Path(model)
        if not (path / "model.safetensors").is_file() or not (path / "config.json").is_file():
            raise BackendError(f"no HRM checkpoint (model.safetensors + config.json) in {path}")
        if threads:
            torch.set_num_threads(threads)
        try:
            self._model, meta = load_model(path, device)
        except Exception as e:  # corrupt file, wrong keys/shapes
            raise BackendError(f"cannot load HRM checkpoint {path}: {type(e).__name__}: {e}") from None
        self._tok = None
        if meta.get("kind") == "code_lm":
            from .code_data import load_tokenizer

            if not (path / "tokenizer.json").is_file():
                raise BackendError(f"code-LM checkpoint {path} has no tokenizer.json")
            self._tok = load_tokenizer(path / "tokenizer.json")
        elif meta.get("vocab") != list(VOCAB):
            raise BackendError(f"HRM checkpoint {path} was trained with a different curriculum vocabulary")
        super().__init__(str(path))
        self._torch = torch
        self._device = device
        self.halt_mode, self.max_steps = halt_mode, max_steps
        self.task_kinds = frozenset(meta.get("train_config", {}).get("families", ["arith_chain"]))
        self.meta = meta

    def solve(self, canonicals: Sequence[str]) -> list[dict[str, Any]]:
        """Answer canonical forms in one batch: ``[{"answer", "act_steps", "q_halt_prob"}]``."""
        import numpy as np

        rows = np.stack([encode_canonical(c) for c in canonicals])
        inputs = self._torch.as_tensor(rows, dtype=self._torch.long, device=self._device)
        pred = self._model.predict(inputs, halt_mode=self.halt_mode, max_steps=self.max_steps)
        tokens, steps, q = (t.cpu().numpy() for t in (pred.tokens, pred.steps, pred.q_halt_prob))
        return [{"answer": decode_answer(tokens[i], rows[i]), "act_steps": int(steps[i]),
                 "q_halt_prob": float(q[i])} for i in range(len(rows))]

    def _complete_code(self, messages: list[Message], params: GenParams) -> Completion:
        """Sample ``params.n`` code completions of the last user message (code-LM checkpoints)."""
        from .code_data import EOS_ID, mbpp_prompt

        t0 = time.perf_counter()
        user = next((m.content for m in reversed(messages) if m.role == "user"), "")
        ids = self._tok.encode(mbpp_prompt(user)).ids
        gen = self._torch.Generator(device=self._device).manual_seed(params.seed or 0)
        outs = self._model.generate([ids] * params.n, params.max_tokens + 1, eos_id=EOS_ID,
                                    temperature=params.temperature, generator=gen)
        texts = [f"```python\n{self._tok.decode(o[:params.max_tokens])}\n```" for o in outs]
        return Completion(text=texts[0], texts=texts, prompt_tokens=len(ids),
                          completion_tokens=sum(min(len(o), params.max_tokens) for o in outs),
                          latency_s=time.perf_counter() - t0, model=self.model, backend=self.name,
                          finish_reason="length" if len(outs[0]) > params.max_tokens else "stop")

    def _complete(self, messages: list[Message], params: GenParams) -> Completion:
        if self._tok is not None:
            return self._complete_code(messages, params)
        t0 = time.perf_counter()
        task = None
        for m in reversed(messages):  # the latest message holding a question wins
            if m.role == "user" and (task := parse_question(m.content)) is not None:
                break
        base = {"model": self.model, "backend": self.name}
        reason = None
        if task is None:
            reason = "no curriculum question found in the messages"
        elif task.family not in self.task_kinds:
            reason = f"task family {task.family!r} is not one this checkpoint was trained on"
        else:
            try:
                encode_canonical(task.canonical)
            except ValueError as e:
                reason = str(e)
        if reason is not None:
            return Completion(text="", finish_reason="unsupported", latency_s=time.perf_counter() - t0,
                              extra={"unsupported": reason}, **base)
        out = self.solve([task.canonical])[0]
        return Completion(text=out["answer"], texts=[out["answer"]] * params.n,
                          prompt_tokens=len(task.canonical) + 1, completion_tokens=len(out["answer"]),
                          latency_s=time.perf_counter() - t0, finish_reason="stop",
                          extra={"act_steps": out["act_steps"], "canonical": task.canonical, "k": task.k,
                                 "q_halt_prob": out["q_halt_prob"]}, **base)

    def describe(self) -> dict[str, Any]:
        """Backend, checkpoint path, parameter count and halting used."""
        if self._tok is not None:
            return {"backend": self.name, "model": self.model, "kind": "code_lm", "arch": self._model.config.arch,
                    "segments": self._model.segments}
        return {"backend": self.name, "model": self.model, "n_params": self.meta.get("n_params"),
                "halt_mode": self.halt_mode or self._model.config.halt_mode,
                "max_steps": self.max_steps or self._model.config.halt_max_steps}
