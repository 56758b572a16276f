"""A served engine: the model behind an OpenAI-compatible server (vLLM's, started by evalkit, or
one the user runs), used where the transformers model is (the runner plans, prepares and batches
exactly as for `engine=hf`; the decoding method calls `generate` / `choice_probs` / `sample`).

What makes its answers comparable with transformers' (docs/engines.md):
- evalkit prepares the image as its transformers path does before sending it (LLaVA-1.5's
  expand-to-square padding), losslessly (PNG data URL), and renders its own prompt; the request
  carries the prompt template's system text as a system message and the question after the image,
  so the checkpoint's chat template renders evalkit's exact prompt string, and asks the server to
  add the BOS token (`add_special_tokens`) as the transformers tokenizer does;
- the first request of a run asks for the prompt's token ids (vLLM: `return_token_ids`) and the run
  is refused, with the first difference, unless they equal evalkit's (image tokens counted as a run);
- greedy is temperature 0; P(yes) and option scores come from the first answer token's top
  log-probs (`engine.top_logprobs`; tokens outside the top-k count as probability 0);
- sampling sends each item's seed (evalkit.decoding.steploop.item_seed) as the request seed, so an
  item's sampled answer is reproducible whatever its batch (it is not transformers' sample: the
  random streams differ).
Requests of a batch are in flight together, at most `engine.concurrency`; replies are put back in
row order. A server that stops answering raises EngineUnavailable: the run stops, resume goes on.
"""

from __future__ import annotations

import base64
import io
import logging
import math
import threading
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import torch

from evalkit.errors import ConfigError, EngineUnavailable
from evalkit.images import expand_to_square
from evalkit.models.choices import option_probs, option_scores, option_token_ids
from evalkit.models.prompts import SYSTEMS, render_prompt
from evalkit.models.yesno import NO, YES, decision
from evalkit.serving.openai_client import ChatRequest, EndpointError, OpenAIChatClient, host_of, run_concurrently

log = logging.getLogger(__name__)

TOKEN_ID_PREFIX = "token_id:"  # how vLLM names logprob tokens with return_tokens_as_token_ids


@dataclass(frozen=True)
class ServedImage:
    data_url: str
    n_tokens: int  # image tokens the prompt gets (for length planning and the prompt check)
    pixel_values = None  # the runner counts preprocessed images by this; a served image has none


@dataclass(frozen=True)
class ServedInput:
    prompt: str
    input_ids: torch.Tensor  # evalkit's token ids of the prompt, image tokens expanded
    image: ServedImage
    question: str


class ServedModel:
    """The parts of evalkit.models.interface.Model that greedy, sample, yesno_logits and
    choice_logits use, answered by a server. `server`: a started VllmServer it owns (stopped by
    `close`), or None for a server the user runs."""

    feature_cache = None
    counters: dict = {}

    def __init__(self, name: str, path: str, served_model: str, base_url: str, family: Optional[str] = None,
                 prompt: str = "llava_eval", image_aspect_ratio: Optional[str] = None, revision: Optional[str] = None,
                 engine: str = "openai", concurrency: int = 8, top_logprobs: int = 20, check_prompt: bool = True,
                 api_key_env: str = "OPENAI_API_KEY", request_timeout_s: float = 600.0, server=None):
        from transformers import AutoConfig, AutoProcessor

        from evalkit.models.original import settle_family

        self.name, self.path, self.prompt_name, self.engine = name, str(path), prompt, engine
        self.served_model, self.server = served_model, server
        self.concurrency, self.top_logprobs, self.check_prompt = concurrency, top_logprobs, check_prompt
        self.config = AutoConfig.from_pretrained(self.path, revision=revision)
        self.family, self.image_aspect_ratio = settle_family(self.path, self.config, family, image_aspect_ratio, None)
        self.processor = AutoProcessor.from_pretrained(self.path, revision=revision)
        self.tokenizer = self.processor.tokenizer
        self.tokenizer.padding_side = "left"
        self.device = torch.device("cpu")
        self.image_token_id = self.tokenizer.convert_tokens_to_ids(self.processor.image_token)
        logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request otherwise (the CLI's logging setup)
        # max_retries=0: a dead server is reported at once (EngineUnavailable), not after minutes of backoff.
        self.client = OpenAIChatClient(base_url, api_key_env=api_key_env, timeout_s=request_timeout_s, max_retries=0)
        self.prompt_checked = not check_prompt
        self._lock = threading.Lock()
        self._options: dict[tuple[str, ...], dict] = {}

    # -- lifetime ----------------------------------------------------------------------------
    def close(self) -> None:
        if self.server is not None:
            self.server.stop()

    def describe(self) -> dict:
        out = {"name": self.name, "path": self.path, "family": self.family, "prompt": self.prompt_name,
               "engine": self.engine, "served_model": self.served_model, "server": host_of(self.client.base_url),
               "top_logprobs": self.top_logprobs, "prompt_checked": self.check_prompt}
        if self.family == "llava15":
            out["image_aspect_ratio"] = self.image_aspect_ratio
        return out

    # -- per item ----------------------------------------------------------------------------
    def render_prompt(self, question: str) -> str:
        return render_prompt(self.prompt_name, question, self.processor)

    def num_image_tokens(self, image_hw: Optional[tuple[int, int]]) -> int:
        from evalkit.models.llava import LlavaModel

        return LlavaModel.num_image_tokens(self, image_hw)  # the same count, from the same processor

    def prepare_image(self, image) -> ServedImage:
        if self.family == "llava15" and self.image_aspect_ratio == "pad":
            image = expand_to_square(image, self.processor.image_processor.image_mean)
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format="PNG")  # lossless: the server sees evalkit's pixels
        url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
        return ServedImage(url, self.num_image_tokens((image.height, image.width)))

    def prepare_text(self, image: ServedImage, question: str) -> ServedInput:
        prompt = self.render_prompt(question)
        if prompt.count(self.processor.image_token) != 1:
            raise ValueError(f"prompt template {self.prompt_name!r} must contain one {self.processor.image_token}")
        expanded = prompt.replace(self.processor.image_token, self.processor.image_token * image.n_tokens)
        ids = torch.tensor(self.tokenizer(expanded)["input_ids"], dtype=torch.long)
        return ServedInput(prompt=prompt, input_ids=ids, image=image, question=question)

    def prepare(self, image, question: str) -> ServedInput:
        return self.prepare_text(self.prepare_image(image), question)

    def messages(self, x: ServedInput) -> tuple[dict, ...]:
        """The chat messages whose rendering by the checkpoint's template is evalkit's prompt."""
        user = {"role": "user", "content": [{"type": "image_url", "image_url": {"url": x.image.data_url}},
                                            {"type": "text", "text": x.question}]}
        system = SYSTEMS.get(self.prompt_name)
        return (({"role": "system", "content": system},) if system else ()) + (user,)

    def collate(self, inputs: Sequence[ServedInput]) -> dict:
        length = max(x.input_ids.shape[0] for x in inputs)
        mask = torch.zeros((len(inputs), length), dtype=torch.long)
        for row, x in enumerate(inputs):
            mask[row, length - x.input_ids.shape[0]:] = 1
        return {"attention_mask": mask, "prepared": tuple(inputs)}

    # -- requests ----------------------------------------------------------------------------
    def _request(self, x: ServedInput, max_tokens: int, temperature: float, top_p: Optional[float] = None,
                 seed: Optional[int] = None, logprobs: bool = False) -> ChatRequest:
        # add_special_tokens: the BOS token transformers' tokenizer adds; return_token_ids: the answer's
        # tokens, decoded here as the transformers path decodes them (a server's incremental
        # detokenizer keeps the leading space of the first word: " Yes" where transformers has "Yes").
        extra: dict[str, Any] = {"add_special_tokens": True, "return_token_ids": True}
        if logprobs:
            extra["return_tokens_as_token_ids"] = True
        return ChatRequest(model=self.served_model, messages=self.messages(x), temperature=temperature,
                           max_tokens=max_tokens, seed=seed, top_p=top_p,
                           top_logprobs=self.top_logprobs if logprobs else None, extra=tuple(sorted(extra.items())))

    def _send(self, inputs: Sequence[ServedInput], requests: list[ChatRequest]):
        """Replies in row order. The run's first request also asks for the prompt's token ids."""
        with self._lock:
            first = not self.prompt_checked
            if first:
                reply = self._complete(requests[0])
                self._check_prompt(inputs[0], reply.prompt_token_ids)
                self.prompt_checked = True
        replies: list = [None] * len(requests)
        if first:
            replies[0] = reply
        todo = [i for i in range(len(requests)) if replies[i] is None]
        try:
            for k, got in run_concurrently(self._complete, [requests[i] for i in todo], self.concurrency):
                replies[todo[k]] = got
        except EndpointError as exc:
            raise self._unavailable_or(exc)
        return replies

    def _complete(self, request: ChatRequest):
        try:
            return self.client.complete(request)
        except EndpointError as exc:
            raise self._unavailable_or(exc) from None

    def _unavailable_or(self, exc: EndpointError) -> Exception:
        """A server that is gone or failing (no reply, 5xx, our server's process ended) stops the
        run; a refused request (4xx: e.g. a prompt over the context) is that item's error."""
        dead = self.server is not None and not self.server.alive()
        if isinstance(exc, EngineUnavailable):
            return exc
        if dead or exc.status is None or exc.status >= 500:
            # The CLI prints an error's first line: everything a user needs is on it.
            log_note = f"; its log: {self.server.log_file}" if self.server is not None else ""
            return EngineUnavailable(f"engine={self.engine} stopped answering ({'its server exited' if dead else exc})"
                                     f"; the answers so far are kept: rerun the same command to resume{log_note}")
        return exc

    def _check_prompt(self, x: ServedInput, server_ids: Optional[Sequence[int]]) -> None:
        if server_ids is None:
            raise ConfigError(f"engine={self.engine}: the server at {self.client.base_url} did not report the prompt's "
                              "token ids (vLLM's return_token_ids), so evalkit cannot check that it renders evalkit's "
                              "prompt; use a server that does, or engine.check_prompt=false (unchecked answers)")
        full = x.input_ids.tolist()
        if list(server_ids) == full:
            log.info("engine=%s: the server's prompt tokens equal evalkit's (%d tokens)", self.engine, len(full))
            return
        # A server may report the placeholder unexpanded (one image token): then the rest must match.
        ours, theirs = _collapse(full, self.image_token_id), _collapse(server_ids, self.image_token_id)
        if ours == theirs and list(server_ids).count(self.image_token_id) == 1:
            log.info("engine=%s: the server's prompt tokens equal evalkit's (image placeholder unexpanded)", self.engine)
            return
        at = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b), min(len(ours), len(theirs)))
        show = lambda ids: repr(self.tokenizer.decode(ids[max(0, at - 8): at + 8]))  # noqa: E731
        raise ConfigError(f"engine={self.engine}: the server renders another prompt than evalkit's (model.prompt="
                          f"{self.prompt_name}); first difference at token {at}: evalkit {ours[at:at + 8]} "
                          f"{show(ours)}, server {theirs[at:at + 8]} {show(theirs)} ({len(ours)} vs {len(theirs)} "
                          "tokens, image tokens counted once). Answers would not be comparable with engine=hf.")

    # -- decoding ----------------------------------------------------------------------------
    def generate(self, batch: dict, max_new_tokens: int, do_sample: bool = False, temperature: float = 1.0,
                 top_p: float = 1.0, num_beams: int = 1, with_p_yes: bool = False):
        if num_beams != 1 or do_sample:
            raise ConfigError(f"engine={self.engine}: generate serves greedy decoding only (decoding=sample has its "
                              "own path; beam search is not offered)")
        inputs = batch["prepared"]
        replies = self._send(inputs, [self._request(x, max_new_tokens, 0.0, logprobs=with_p_yes) for x in inputs])
        texts = [self._text(r) for r in replies]
        if not with_p_yes:
            return texts
        p_yes: list = []
        for r in replies:
            try:
                p_yes.append(self._probs(r.first_top_logprobs, (YES, NO))[0])
            except ValueError:
                p_yes.append(None)  # neither yes nor no among the top tokens: no p_yes, as for a babbling answer
        return texts, p_yes

    def sample(self, batch: dict, seeds: Sequence[int], max_new_tokens: int, temperature: float, top_p: float):
        inputs = batch["prepared"]
        return [self._text(r) for r in self._send(inputs, [self._request(x, max_new_tokens, temperature, top_p, seed)
                                                    for x, seed in zip(inputs, seeds)])]

    def _text(self, reply) -> str:
        if reply.token_ids is None:  # a server that does not report them: its own text
            return reply.text
        return self.tokenizer.decode(list(reply.token_ids), skip_special_tokens=True,
                                     clean_up_tokenization_spaces=False)

    def choice_probs(self, batch: dict, options: Sequence[Sequence[str]]) -> list[list[float]]:
        inputs = batch["prepared"]
        replies = self._send(inputs, [self._request(x, 1, 0.0, logprobs=True) for x in inputs])
        return [self._probs(r.first_top_logprobs, tuple(labels)) for r, labels in zip(replies, options)]

    def _probs(self, top: Optional[Sequence[tuple[str, float]]], labels: tuple[str, ...]) -> list[float]:
        """P(option | the options) from the top log-probs, by the formula of the transformers path
        (evalkit.models.choices) over a vocabulary where tokens outside the top-k have -inf."""
        ids = self.option_tokens(labels)
        logits = torch.full((1, len(self.tokenizer)), -math.inf)
        for token, logprob in top or ():
            if token.startswith(TOKEN_ID_PREFIX):
                logits[0, int(token[len(TOKEN_ID_PREFIX):])] = logprob
            else:
                raise ValueError(f"the server named a top token {token!r}, not its id (return_tokens_as_token_ids)")
        scores = option_scores(logits, [sorted(ids[label]) for label in labels])
        if torch.isinf(scores).all():
            raise ValueError(f"none of the options {labels} is among the top {self.top_logprobs} tokens "
                             "(engine.top_logprobs)")
        return option_probs(scores)[0].tolist()

    def option_tokens(self, labels: tuple[str, ...]) -> dict[str, dict[int, str]]:
        if labels not in self._options:
            self._options[labels] = option_token_ids(self.tokenizer, labels)
        return self._options[labels]

    def yes_no_tokens(self) -> dict[str, dict[int, str]]:
        return self.option_tokens((YES, NO))

    def eos_token_ids(self) -> list[int]:
        return [int(self.tokenizer.eos_token_id)]


def _collapse(ids: Sequence[int], image_token_id: int) -> list[int]:
    """Token ids with each run of image tokens as one (a server may report the placeholder
    expanded to the image's tokens or not)."""
    out: list[int] = []
    for t in ids:
        if not (t == image_token_id and out and out[-1] == image_token_id):
            out.append(int(t))
    return out


__all__ = ["ServedModel", "ServedInput", "ServedImage", "decision"]
