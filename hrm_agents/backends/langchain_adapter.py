"""Any :class:`Backend` as a langchain-core chat model, for LangGraph graphs and LCEL chains."""

from __future__ import annotations

import json
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import ConfigDict

from .base import Backend, GenParams, Message

_ROLES = {"system": "system", "human": "user", "ai": "assistant", "tool": "tool"}
_PARAM_KWARGS = {"temperature", "max_tokens", "seed", "n"}


def to_message(message: BaseMessage) -> Message:
    """Convert a langchain message (System/Human/AI/Tool/Chat) to a backend :class:`Message`.

    Tool calls of an AI message are appended to its text as JSON lines, so they are not lost.
    """
    role = message.role if message.type == "chat" else _ROLES.get(message.type)  # type: ignore[attr-defined]
    if role is None:
        raise ValueError(f"unsupported langchain message type {message.type!r}")
    content = message.text
    for call in getattr(message, "tool_calls", None) or []:
        content += "\n" + json.dumps({"tool_call": call["name"], "args": call["args"]})
    return Message(role=role, content=content)


class BackendChatModel(BaseChatModel):
    """A langchain chat model answering with ``backend``.

    ``params`` are the default :class:`GenParams`; call-time ``stop``, ``temperature``,
    ``max_tokens``, ``seed`` and ``n`` (e.g. via ``.bind(...)``) override them. Token usage goes to
    the message's ``usage_metadata``; backend, model, finish reason, latency, ttft and
    ``cached`` go to its ``response_metadata``.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    backend: Backend
    params: GenParams = GenParams()

    @property
    def _llm_type(self) -> str:
        return "hrm-agents-backend"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return self.backend.describe()

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None,
                  **kwargs: Any) -> ChatResult:
        unknown = set(kwargs) - _PARAM_KWARGS
        if unknown:
            raise ValueError(f"unsupported generation options: {', '.join(sorted(unknown))}")
        overrides = {**kwargs, **({"stop": tuple(stop)} if stop is not None else {})}
        params = GenParams(**{**self.params.model_dump(), **overrides})
        completion = self.backend.complete([to_message(m) for m in messages], params)
        usage = {"input_tokens": completion.prompt_tokens,
                 "output_tokens": completion.completion_tokens,
                 "total_tokens": completion.prompt_tokens + completion.completion_tokens}
        metadata = {"model_name": completion.model, "backend": completion.backend,
                    "finish_reason": completion.finish_reason, "latency_s": completion.latency_s,
                    "ttft_s": completion.ttft_s, "cached": completion.cached}
        generations = [
            ChatGeneration(message=AIMessage(content=text, response_metadata=metadata,
                                             usage_metadata=usage if i == 0 else None))
            for i, text in enumerate(completion.texts)
        ]
        return ChatResult(generations=generations,
                          llm_output={"token_usage": usage, "model_name": completion.model})
