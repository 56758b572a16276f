"""Where judgments come from: an OpenAI-compatible endpoint (`judge=openai`) or a local transformers
causal LM loaded in-process (`judge=hf`, batched, greedy). Both take the same `ChatRequest`s and
give `ChatReply`s, so caching, resume and scoring never know which judge answered."""

from __future__ import annotations

import datetime as dt
from typing import Iterator

from evalkit.errors import EvalkitError
from evalkit.judge.config import HFJudgeConfig, JudgeConfig, OpenAIJudgeConfig, judge_name
from evalkit.serving.openai_client import ChatReply, ChatRequest, OpenAIChatClient, host_of


def judge_header(cfg: JudgeConfig, prompt_versions: dict[str, str]) -> dict:
    """What judgments-<name>.jsonl and summary.json record of the judge (never a key)."""
    header = {"name": judge_name(cfg), "kind": cfg.kind, "model": cfg.model, "temperature": cfg.temperature,
              "max_tokens": cfg.max_tokens, "seed": cfg.seed, "runs": cfg.runs, "prompt_versions": prompt_versions,
              "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    if isinstance(cfg, OpenAIJudgeConfig):
        header["base_url_host"] = host_of(cfg.base_url or "https://api.openai.com/v1")
    if isinstance(cfg, HFJudgeConfig):
        header.update(path=cfg.path, decoding="greedy (temperature not applied)")
    return header


class OpenAIJudge:
    def __init__(self, cfg: OpenAIJudgeConfig):
        self.cfg = cfg
        self.client = OpenAIChatClient(cfg.base_url, cfg.api_key_env, cfg.timeout_s, cfg.max_retries)

    def check(self) -> None:
        self.client.check(str(self.cfg.model))

    def complete_many(self, requests: list[ChatRequest]) -> Iterator[tuple[int, ChatReply]]:
        return self.client.complete_many(requests, self.cfg.concurrency)


class HFJudge:
    """A local causal LM with a chat template; requests are batched (judge.concurrency prompts per
    batch, left-padded) and decoded greedily: sampling temperatures are not applied."""

    def __init__(self, cfg: HFJudgeConfig):
        self.cfg = cfg
        self._model = None
        self._tokenizer = None

    def check(self) -> None:
        """The tokenizer and config load and a chat template exists (the weights load when judging)."""
        from transformers import AutoConfig, AutoTokenizer

        try:
            AutoConfig.from_pretrained(self.cfg.path)
            tokenizer = AutoTokenizer.from_pretrained(self.cfg.path)
        except (OSError, ValueError) as exc:
            raise EvalkitError(f"judge=hf: cannot load judge.path={self.cfg.path}: {str(exc).splitlines()[0]}") from None
        if tokenizer.chat_template is None:
            raise EvalkitError(f"judge=hf: {self.cfg.path} has no chat template; a judge needs one")

    def _load(self):
        if self._model is not None:
            return
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        try:
            tokenizer = AutoTokenizer.from_pretrained(self.cfg.path)
            model = AutoModelForCausalLM.from_pretrained(self.cfg.path, dtype=getattr(torch, self.cfg.dtype))
        except (OSError, ValueError) as exc:
            raise EvalkitError(f"judge=hf: cannot load judge.path={self.cfg.path}: {str(exc).splitlines()[0]}") from None
        if tokenizer.chat_template is None:
            raise EvalkitError(f"judge=hf: {self.cfg.path} has no chat template; a judge needs one")
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        self._model, self._tokenizer = model.to(self.cfg.device).eval(), tokenizer

    def complete_many(self, requests: list[ChatRequest]) -> Iterator[tuple[int, ChatReply]]:
        import torch

        self._load()
        tok, model = self._tokenizer, self._model
        order = sorted(range(len(requests)), key=lambda i: (self._max_tokens(requests[i]), i))
        size = self.cfg.concurrency
        for start in range(0, len(order), size):
            batch = order[start:start + size]
            prompts = [tok.apply_chat_template(list(requests[i].messages), tokenize=False, add_generation_prompt=True)
                       for i in batch]
            enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.cfg.device)
            with torch.no_grad():
                out = model.generate(**enc, do_sample=False, max_new_tokens=max(self._max_tokens(requests[i]) for i in batch),
                                     pad_token_id=tok.pad_token_id)
            new = out[:, enc["input_ids"].shape[1]:]
            for row, i in enumerate(batch):
                ids = new[row][: self._max_tokens(requests[i])]
                keep = ids[ids != tok.pad_token_id]
                text = tok.decode(keep, skip_special_tokens=True)
                yield i, ChatReply(text=text, model=str(self.cfg.model),
                                   prompt_tokens=int(enc["attention_mask"][row].sum()), completion_tokens=int(len(keep)))

    def _max_tokens(self, request: ChatRequest) -> int:
        return request.max_tokens or self.cfg.default_max_tokens


def make_backend(cfg: JudgeConfig):
    return OpenAIJudge(cfg) if isinstance(cfg, OpenAIJudgeConfig) else HFJudge(cfg)  # type: ignore[arg-type]
