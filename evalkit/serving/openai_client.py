"""A small client of any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM's and SGLang's
servers, lmdeploy, `transformers serve`), through the `openai` package.

Nothing here knows what the requests are for: a `ChatRequest` is the exact body sent, a `ChatReply`
what came back (text, the model id as the server reports it, token counts). `check` fails with one
line naming the URL and the model when the server cannot be reached or does not serve the model;
`complete_many` sends requests concurrently and hands each reply back as it arrives (so a caller
can store it before the next one comes). Retries with backoff on 429 / 5xx / connection errors are
the `openai` client's own (`max_retries`). The API key is read from an environment variable whose
*name* is configured; the key itself is never stored.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Optional
from urllib.parse import urlparse

from evalkit.errors import EvalkitError

# httpx logs every request at INFO; a judge run sends thousands.
logging.getLogger("httpx").setLevel(logging.WARNING)

NO_KEY = "EMPTY"  # what a local server gets when no key is set (the openai client insists on one)


class EndpointError(EvalkitError):
    """The endpoint cannot serve: unreachable, unknown model, or a request failed after retries.
    `status`: the HTTP status of a refused request; None when the server could not be reached."""

    def __init__(self, message: str, status: Optional[int] = None):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ChatRequest:
    """One chat-completions request, exactly as sent. Unset optional fields are left out of the
    body (the server's defaults apply), as an official script that does not pass them does."""

    model: str
    messages: tuple[dict, ...]
    temperature: Optional[float] = None
    max_tokens: Optional[int] = None
    seed: Optional[int] = None
    top_p: Optional[float] = None
    top_logprobs: Optional[int] = None  # set: the reply carries the first answer token's top log-probs
    # Server-specific body keys beside the OpenAI ones (vLLM: add_special_tokens, return_token_ids,
    # return_tokens_as_token_ids), sent as they are; a sorted tuple of pairs keeps the request hashable.
    extra: tuple[tuple[str, Any], ...] = ()

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "messages": [dict(m) for m in self.messages]}
        for key in ("max_tokens", "temperature", "seed", "top_p"):
            value = getattr(self, key)
            if value is not None:
                body[key] = value
        if self.top_logprobs is not None:
            body.update(logprobs=True, top_logprobs=self.top_logprobs)
        body.update(dict(self.extra))
        return body


@dataclass(frozen=True)
class ChatReply:
    text: str
    model: str  # the model id the server reports in its reply
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: Optional[str] = None
    extra: dict = field(default_factory=dict)
    # With ChatRequest.top_logprobs: the first answer token's [(token, logprob)], best first (a
    # server asked for return_tokens_as_token_ids names tokens "token_id:<id>").
    first_top_logprobs: Optional[tuple[tuple[str, float], ...]] = None
    prompt_token_ids: Optional[tuple[int, ...]] = None  # where the server reports them (vLLM: return_token_ids)
    token_ids: Optional[tuple[int, ...]] = None  # the answer's token ids, where the server reports them


def host_of(base_url: str) -> str:
    """The host (and port) of a base URL: what a summary records (never a path with a key in it)."""
    parsed = urlparse(base_url)
    if not parsed.hostname:
        return base_url
    return f"{parsed.hostname}:{parsed.port}" if parsed.port else parsed.hostname  # user:password@ left out


class OpenAIChatClient:
    def __init__(self, base_url: Optional[str], api_key_env: str = "OPENAI_API_KEY", timeout_s: float = 60.0,
                 max_retries: int = 5):
        try:
            import openai
        except ImportError:
            raise EndpointError("the `openai` package is needed for OpenAI-compatible endpoints: "
                                "pip install 'evalkit[judge]'") from None
        self.base_url = base_url or "https://api.openai.com/v1"
        self.api_key_env = api_key_env
        self._openai = openai
        self._client = openai.OpenAI(base_url=self.base_url, api_key=os.environ.get(api_key_env) or NO_KEY,
                                     timeout=timeout_s, max_retries=max_retries)

    def served_models(self) -> list[str]:
        return [m.id for m in self._client.models.list()]

    def check(self, model: str, role: str = "judge") -> None:
        """One line naming the URL and the model when the endpoint cannot serve `model`
        (`role`: what the endpoint is for, named in the message: judge, engine)."""
        openai = self._openai
        try:
            served = self.served_models()
        except openai.AuthenticationError as exc:
            raise EndpointError(f"{role} endpoint {self.base_url} (model {model}) rejected the API key (read from "
                                f"${self.api_key_env}): {_first_line(exc)}") from None
        except openai.NotFoundError:  # a server without /models: one 1-token request instead
            served = None
        except openai.APIError as exc:
            raise EndpointError(f"{role} endpoint {self.base_url} (model {model}) is unreachable: "
                                f"{type(exc).__name__}: {_first_line(exc)}") from None
        if served is None:
            try:
                self._client.chat.completions.create(model=model, max_tokens=1,
                                                     messages=[{"role": "user", "content": "ping"}])
            except openai.APIError as exc:
                raise EndpointError(f"{role} endpoint {self.base_url} cannot serve model {model!r}: "
                                    f"{type(exc).__name__}: {_first_line(exc)}") from None
            return
        if model not in served:
            shown = ", ".join(served[:8]) + (", ..." if len(served) > 8 else "")
            raise EndpointError(f"{role} endpoint {self.base_url} does not serve model {model!r}; it serves: {shown}")

    def complete(self, request: ChatRequest) -> ChatReply:
        body = request.body()
        extra_body = {k: body.pop(k) for k in dict(request.extra)}  # keys the openai package does not know
        try:
            response = self._client.chat.completions.create(**body, **({"extra_body": extra_body} if extra_body else {}))
        except self._openai.APIError as exc:
            raise EndpointError(f"{self.base_url} (model {request.model}): {type(exc).__name__}: "
                                f"{_first_line(exc)}", status=getattr(exc, "status_code", None)) from None
        choice = response.choices[0]
        usage = response.usage
        prompt_ids = getattr(response, "prompt_token_ids", None) or getattr(choice, "prompt_token_ids", None)
        return ChatReply(text=choice.message.content or "", model=response.model or request.model,
                         prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
                         completion_tokens=getattr(usage, "completion_tokens", 0) or 0,
                         finish_reason=choice.finish_reason,
                         first_top_logprobs=_first_top_logprobs(choice) if request.top_logprobs is not None else None,
                         prompt_token_ids=tuple(int(t) for t in prompt_ids) if prompt_ids else None,
                         token_ids=_ids(getattr(choice, "token_ids", None)))

    def complete_many(self, requests: Iterable[ChatRequest], concurrency: int = 4
                      ) -> Iterator[tuple[int, ChatReply]]:
        """(index, reply) for each request, in the order replies arrive, at most `concurrency` in
        flight. A request that fails after the retries raises EndpointError once the replies
        already received have been handed back."""
        yield from run_concurrently(self.complete, list(requests), concurrency)


def run_concurrently(call: Callable[[Any], Any], inputs: list, concurrency: int) -> Iterator[tuple[int, Any]]:
    """(index, call(input)) as results arrive, at most `concurrency` calls in flight. After a failure
    nothing new is started; the calls in flight finish and are yielded, then the failure is raised
    (nothing answered is lost, nothing is sent after the endpoint failed)."""
    failure: Optional[BaseException] = None
    queue = iter(enumerate(inputs))
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        pending: dict = {}

        def fill() -> None:
            while failure is None and len(pending) < max(1, concurrency):
                nxt = next(queue, None)
                if nxt is None:
                    return
                pending[pool.submit(call, nxt[1])] = nxt[0]

        fill()
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                index = pending.pop(future)
                if future.exception() is not None:
                    failure = failure or future.exception()
                else:
                    yield index, future.result()
            fill()
    if failure is not None:
        raise failure


def _ids(values) -> Optional[tuple[int, ...]]:
    return None if values is None else tuple(int(v) for v in values)


def _first_top_logprobs(choice) -> Optional[tuple[tuple[str, float], ...]]:
    """The first generated token's top log-probs, [(token, logprob)] best first; None when the
    server sent none (it ignored `logprobs`, or generated nothing)."""
    content = getattr(getattr(choice, "logprobs", None), "content", None)
    if not content:
        return None
    return tuple((t.token, float(t.logprob)) for t in (content[0].top_logprobs or ()))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
