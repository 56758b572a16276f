"""Object HalBench's GPT path (`dataset=object_halbench judge=...`): RLHF-V's `--use_gpt`
evaluation (RLHF-V/RLHF-V at 8daac8a, eval/eval_gpt_obj_halbench.py, Apache-2.0), the path its
script/eval_muffin_objhal.sh runs and the RLHF-V / RLAIF-V papers report.

Per answer (cleaned as the keyword path cleans it: "Assistant:" removed, stripped):
- `get_gpt_resp`: an answer of at most 3 words (`answer.strip().split()`) is not sent and has no
  objects. Otherwise one system message, `prompt_template` with "{question}" then "{answer}"
  replaced (str.replace, in that order), sent as RLHF-V's gpt4_grpc.Chat sends it (model
  gpt-3.5-turbo-0613 there; here judge.model): temperature 0.2, top_p 1, max_tokens 512,
  presence_penalty 0, frequency_penalty 0. The reply is read with `parse_object_list` (json.loads,
  or the last line when '["' is in the reply); an unreadable reply is asked again with the same
  message, up to the official fail_limit of 100 requests (`dataset.judge_fail_limit`). The official
  then writes '-1\\n<no_response>', which fails an assert and stops the script: evalkit counts such
  answers (`objhal_extraction_failures`) and leaves every number out.
- `get_pred_objs_match`: each extracted entry `text` -> spaCy `nlp(f"a {text}")`; its lemmas'
  two-word phrases from the double-word table (get_double_words_only) when there are any, else
  the runs of NN/NNS/NNP/NNPS lemmas (postagging); the entries' objects de-duplicated in order.
  The pipeline is `dataset.spacy_model` (RLHF-V: en_core_web_trf); lemmas and tags are the
  pipeline's, so its version is recorded with the numbers.
- `compute_chair(gpt_process=True)`: caption_objects_to_coco_objects on those objects ("seat"
  dropped when "toilet" is there, entries outside the synonym table dropped), then the keyword
  path's totals (object_halbench_task).
RLHF-V extracts once: with judge.runs above 1 the first grading run decides (object_halbench_task).
A reply the official parser reads but whose value cannot be iterated (a number, null) stops the
official script with a TypeError: evalkit counts it as an extraction failure too.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from evalkit.errors import ConfigError
from evalkit.scoring.chair import CaptionScore, ChairVocabulary
from evalkit.tasks.judged import Ask, Rating

MODEL = "gpt-3.5-turbo-0613"  # the official CHAIR's Chat model (retired by OpenAI; judge.model chooses)
TEMPERATURE = 0.2  # gpt4_grpc.Chat.chat_completion's defaults, which get_gpt_resp does not change
TOP_P = 1
MAX_TOKENS = 512
PENALTIES = (("frequency_penalty", 0), ("presence_penalty", 0))
FAIL_LIMIT = 100  # CHAIR.fail_limit: unreadable replies before the official gives up on an answer
SHORT_ANSWER_WORDS = 3  # answers of at most this many words are not sent
SPACY_MODEL = "en_core_web_trf"
NOUN_TAGS = ("NNP", "NNPS", "NN", "NNS")

PROMPT_TEMPLATE = """You are an expert in image objects extraction according to a question answer pair. We asked an examiner to answer a question about a picture.

[Start of Question]

<image> {question}

[End of Question]

[Start of Examiner's Answer]

{answer}

[End of Examiner's Answer]


Assume that the answer is correct, please identify all visible objects that are directly shown in the image. Please following the instructions in below:

1. You should only mention objects that are explicitly mentioned in the examiner's answer.
2. You should only extract the object names without the attributes of the objects.
3. You should not include the properties of the object, like the color, material, etc. as part of the object name in your result.
4. Make your answer precise. Present the results in a JSON list format: [\"object_1\", ..., \"object_n\"].
5. You should return an empty JSON list () if no visible objects can be found.
"""


# ------------------------------------------------------------------------------- the conversation

def parse_object_list(content: str) -> Any:
    """The official parse_object_list: the reply as JSON, else its last line when '["' is in it;
    ValueError when neither reads."""
    try:
        return json.loads(content)
    except ValueError:
        if '["' in content:
            try:
                return json.loads(content.strip().split('\n')[-1])
            except ValueError:
                pass
        raise ValueError('Content is not json interpretable') from None


def _parsed(reply: str) -> tuple[bool, Any]:
    try:
        return True, parse_object_list(reply)
    except ValueError:
        return False, None


def is_short(answer: str) -> bool:
    """get_gpt_resp's short answer: no request, no objects."""
    return len(answer.strip().split()) <= SHORT_ANSWER_WORDS


def extraction_prompt(question: str, answer: str) -> str:
    """get_gpt_resp's system message (str.replace: a "{answer}" inside the question is replaced too)."""
    return PROMPT_TEMPLATE.replace("{question}", question).replace("{answer}", answer)


def fail_limit(row: Mapping[str, Any]) -> int:
    return int((row.get("meta") or {}).get("judge_fail_limit", FAIL_LIMIT))


def next_ask(row: Mapping[str, Any], answer: str, replies: Sequence[str], temperature: Optional[float]
             ) -> Optional[Ask]:
    """The next extraction request for `answer` (the cleaned answer): none for a short answer,
    after a readable reply, or after fail_limit unreadable ones; else the same system message again."""
    if is_short(answer) or len(replies) >= fail_limit(row) or any(_parsed(r)[0] for r in replies):
        return None
    return Ask(messages=({"role": "system", "content": extraction_prompt(str(row["question"]), answer)},),
               temperature=temperature, max_tokens=MAX_TOKENS, top_p=TOP_P, extra=PENALTIES)


def rate(row: Mapping[str, Any], answer: str, replies: Sequence[str]) -> Rating:
    """The extracted entries (extra["objects"]: the parsed JSON value; [] for a short answer; None
    when no reply read or the value is not iterable, with extra["failure"] saying why). The rating's
    value is the number of entries; `parsed` False marks a failure."""
    if not replies:
        if not is_short(answer):
            raise ValueError(f"item {row.get('id')!r}: rated before its first judge reply")
        return Rating(value=0.0, extra={"objects": [], "requests": 0})
    ok, value = _parsed(replies[-1])
    if not ok:
        return Rating(value=0.0, parsed=False, extra={"objects": None, "requests": len(replies),
                                                      "failure": f"no readable reply in {len(replies)} request(s)"})
    if not isinstance(value, (list, dict, str)):  # the official `for text in caps_gpt_objs` raises TypeError
        return Rating(value=0.0, parsed=False, extra={"objects": None, "requests": len(replies),
                                                      "failure": f"the reply's JSON is a {type(value).__name__}, "
                                                                 f"not a list"})
    return Rating(value=float(len(value)), extra={"objects": value, "requests": len(replies)})


# ------------------------------------------------------------------------------------ spaCy step

def check_spacy(name: str) -> None:
    """spaCy and the pipeline (an installed package or a folder), or a ConfigError naming the fix."""
    fix = f"pip install spacy && python -m spacy download {name}"
    try:
        import spacy.util
    except ImportError:
        raise ConfigError(f"object_halbench judged (RLHF-V's --use_gpt path) needs spaCy and its {name} "
                          f"pipeline: {fix}") from None
    if not (spacy.util.is_package(name) or Path(name).expanduser().is_dir()):
        raise ConfigError(f"dataset.spacy_model={name!r}: no installed spaCy pipeline of that name and no such "
                          f"folder; object_halbench judged (RLHF-V's --use_gpt path) lemmatises the extracted "
                          f"objects with it: {fix} (or give a pipeline's folder)")


@functools.lru_cache(maxsize=2)
def pipeline(name: str):
    import spacy

    check_spacy(name)
    path = Path(name).expanduser()
    return spacy.load(str(path) if path.is_dir() else name)


def pipeline_label(name: str) -> str:
    meta = pipeline(name).meta
    return f"{meta.get('lang', '')}_{meta.get('name', '')} {meta.get('version', '')} ({name})"


def double_words_only(vocabulary: ChairVocabulary, words: Sequence[str]) -> list[str]:
    """get_double_words_only: the double-word table's values of the two-word phrases, left to right."""
    out, i = [], 0
    while i < len(words):
        pair = " ".join(words[i:i + 2])
        if pair in vocabulary.double_words:
            out.append(vocabulary.double_words[pair])
            i += 2
        else:
            i += 1
    return out


def noun_runs(doc) -> list[str]:
    """postagging: runs of NN/NNS/NNP/NNPS tokens, their lemmas joined by spaces."""
    runs, current = [], ""
    for token in doc:
        if token.tag_ in NOUN_TAGS:
            current += f" {token.lemma_}"
        elif current != "":
            runs.append(current.strip())
            current = ""
    if current != "":
        runs.append(current.strip())
    return runs


def refined_objects(objects: Any, nlp, vocabulary: ChairVocabulary) -> list[str]:
    """get_pred_objs_match for one answer: its objects, unique, in order."""
    refined: list[str] = []
    for text in objects:
        doc = nlp(f"a {text}")
        doubles = double_words_only(vocabulary, [token.lemma_ for token in doc])
        refined += doubles if doubles else noun_runs(doc)
    return list(dict.fromkeys(refined))


def objects_score(vocabulary: ChairVocabulary, objects: Sequence[str], ground_truth: Sequence[str]) -> CaptionScore:
    """caption_objects_to_coco_objects + compute_chair's per-answer facts (n_words: the objects)."""
    words = list(objects)
    for present, dropped in vocabulary.drop_when:
        if present in words and dropped in words:
            words = [w for w in words if w != dropped]
    words = [w for w in words if w in vocabulary.objects]
    nodes = [vocabulary.inverse[w] for w in words]
    gt = set(ground_truth)
    hallucinated = tuple((w, n) for w, n in zip(words, nodes) if n not in gt)
    return CaptionScore(tuple(nodes), hallucinated, tuple(sorted(gt)), tuple(sorted({n for n in nodes if n in gt})),
                        len(objects))


def extraction(extra: Mapping[str, Any]) -> Optional[Any]:
    """A rating's extracted entries (see `rate`), None for a failure."""
    return extra.get("objects") if isinstance(extra, Mapping) else None
