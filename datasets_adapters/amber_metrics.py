"""AMBER's official scoring, ported from the repository's `inference.py` (junyangwang0410/AMBER, commit
534babf6, Apache-2.0; see datasets_adapters/amber_data/NOTICE): the same counters, the same order of
operations, the same rounding, its quirks kept.

Discriminative items: the response must be exactly `Yes` or `No` (no stripping, no case folding:
anything else is wrong). Precision / recall / F1 take "No" as the positive class; counters start at
metrics.txt's values (every denominator at 0.001, so no division by zero and 1 of 1 reads 99.9);
each rate is `round(x * 100, 1)`; F1 is computed from the *rounded* precision and recall with
`+ 0.0001` in the denominator (`+ 0.001` for existence). Types: `discriminative-hallucination` is
existence, `discriminative-attribute-{state,number,action}` attribute, every other type
(`discriminative-relation`, and the 689 rows typed plain `relation`) relation: the official `else`.

Generative items (captions): nouns by NLTK (`word_tokenize` of the response as is, `pos_tag`, tags
starting NN, `WordNetLemmatizer().lemmatize`), kept when in the word-association vocabulary
(relation.json: keys and their associated words); global safe words skipped; an exact match with a
truth object (or its associates) covers it; otherwise an exact match with a hallucination target is
marked without ending the noun's checks (quirk), then the first hallucination target whose spaCy
similarity is > `similarity_score` is marked, then a similar truth word clears the noun, else it is
hallucinated. CHAIR = hallucinated / kept nouns, Cover = covered truth objects, Hal = share of
captions with a hallucinated noun, Cog = hallucination targets mentioned. Quirk kept: with an empty
truth (or hallu) list, `list[-0:]` is the whole list.

Everything here is pure given the callables it is handed (`nouns_of`, `similar`); `nlp_tools` builds
the official ones (NLTK, spaCy) and checks their data is there.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

from evalkit.errors import ConfigError

# Type -> counter prefix, as inference.py's if/elif chain; anything else is relation ("asso").
PREFIX = {"discriminative-attribute-state": "as", "discriminative-attribute-number": "an",
          "discriminative-attribute-action": "aa", "discriminative-hallucination": "ha"}
RELATION = "asso"
DIMENSION = {"ha": "existence", "as": "state", "an": "number", "aa": "action", RELATION: "relation"}
GENERATIVE = "generative"
# Display rows: (category, the counter prefixes pooled, the F1 denominator epsilon of its line).
DISCRIMINATIVE_ROWS = (("discriminative", ("",), 0.0001), ("existence", ("ha_",), 0.001),
                       ("attribute", ("as_", "an_", "aa_"), 0.0001), ("state", ("as_",), 0.0001),
                       ("number", ("an_",), 0.0001), ("action", ("aa_",), 0.0001),
                       ("relation", ("asso_",), 0.0001))
CAPTION_COUNTS = ("chair_score", "chair_num", "safe_cover_score", "safe_cover_num", "hallu_cover_score",
                  "hallu_cover_num", "non_hallu_score")
NLTK_FIX = "python -m nltk.downloader punkt_tab averaged_perceptron_tagger_eng wordnet"


def prefix_of(kind: str) -> str:
    return PREFIX.get(kind, RELATION)


def initial_counters() -> dict[str, float]:
    """metrics.txt of the official repository: every *_score 0, every *_num 0.001."""
    counters: dict[str, float] = {}
    for name in ("chair", "safe_cover", "hallu_cover", "non_hallu"):
        counters.update({f"{name}_score": 0, f"{name}_num": 0.001})
    for prefix in ("", "as_", "an_", "aa_", "asso_", "ha_"):
        for name in ("qa_correct", "qa_no", "qa_ans_no"):
            counters.update({f"{prefix}{name}_score": 0, f"{prefix}{name}_num": 0.001})
    return counters


# --------------------------------------------------------------------------------- discriminative

def tally_answer(counters: dict[str, float], kind: str, truth: str, response: str) -> None:
    """One discriminative item into the counters, as inference.py's else-branch does it."""
    p = prefix_of(kind) + "_"
    counters["qa_correct_num"] += 1
    counters[p + "qa_correct_num"] += 1
    if truth == "yes":
        if response == "Yes":
            counters["qa_correct_score"] += 1
            counters[p + "qa_correct_score"] += 1
    else:
        counters["qa_no_num"] += 1
        counters[p + "qa_no_num"] += 1
        if response == "No":
            for name in ("qa_correct_score", "qa_no_score"):
                counters[name] += 1
                counters[p + name] += 1
    if response == "No":
        counters["qa_ans_no_num"] += 1
        counters[p + "qa_ans_no_num"] += 1
        if truth == "no":
            counters["qa_ans_no_score"] += 1
            counters[p + "qa_ans_no_score"] += 1


def _pooled(counters: Mapping[str, float], prefixes: Sequence[str], name: str) -> float:
    value = counters[prefixes[0] + name]
    for prefix in prefixes[1:]:  # left to right, as the official sums
        value = value + counters[prefix + name]
    return value


def answer_scores(counters: Mapping[str, float], prefixes: Sequence[str], epsilon: float) -> dict[str, float]:
    """Accuracy, precision, recall, F1 (points, one decimal) of the pooled prefixes, official formulas."""
    def rate(name: str) -> float:
        return round(_pooled(counters, prefixes, f"{name}_score") / _pooled(counters, prefixes, f"{name}_num") * 100, 1)

    accuracy, precision, recall = rate("qa_correct"), rate("qa_ans_no"), rate("qa_no")
    f1 = round(2 * (precision / 100) * (recall / 100) / ((precision / 100) + (recall / 100) + epsilon) * 100, 1)
    return {"accuracy": accuracy, "precision": precision, "recall": recall, "f1": f1}


# ------------------------------------------------------------------------------------- generative

@dataclass(frozen=True)
class Vocabulary:
    """relation.json and safe_words.txt, read as inference.py reads them."""

    association: Mapping[str, Sequence[str]]
    hallucination_words: frozenset  # the keys and every associated word (a set: same membership)
    safe_words: tuple[str, ...]

    @classmethod
    def read(cls, relation: Path | str, safe_words: Path | str) -> "Vocabulary":
        import json

        try:
            association = json.loads(Path(relation).read_text(encoding="utf-8"))
            with open(safe_words, "r", encoding="utf-8") as handle:
                safe = tuple(line.split("\n")[0] for line in handle)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"AMBER vocabulary: cannot read {relation} / {safe_words} ({exc})") from None
        words = {w for key, values in association.items() for w in (key, *values)}
        return cls(association, frozenset(words), safe)


def caption_counts(nouns: Sequence[str], truth: Sequence[str], hallu: Sequence[str], vocab: Vocabulary,
                   similar: Callable[[str, str], bool]) -> dict[str, Any]:
    """One caption's counters (CAPTION_COUNTS) and its kept / hallucinated nouns, as inference.py's
    generative branch computes them, line for line."""
    association = vocab.association
    after_process_nouns = [noun for noun in nouns if noun in vocab.hallucination_words]
    safe_words: list[str] = []
    safe_list: list[int] = []
    for idx, word in enumerate(truth):
        safe_words += _associated(association, word)
        safe_list += [idx] * len(association[word])
    ha_words: list[str] = []
    ha_list: list[int] = []
    for idx, word in enumerate(hallu):
        ha_words += _associated(association, word)
        ha_list += [idx] * len(association[word])
    safe_words += truth
    safe_len = len(truth)
    safe_list += [0] * safe_len
    safe_flag_list = [0] * len(after_process_nouns)
    ha_words += hallu
    ha_len = len(hallu)
    ha_list += [0] * ha_len

    def mark(marks: list[int], tail: int, j: int) -> None:  # an associate marks the object it belongs to
        if j < (len(marks) - tail):
            marks[marks[j] + len(marks) - tail] = 1
        else:
            marks[j] = 1

    for idx, noun in enumerate(after_process_nouns):
        if noun in vocab.safe_words:
            continue
        if noun in safe_words:
            mark(safe_list, safe_len, safe_words.index(noun))
            continue
        if noun in ha_words:
            mark(ha_list, ha_len, ha_words.index(noun))  # no `continue` here in the official code
        for j, check_word in enumerate(ha_words):
            if similar(noun, check_word):
                mark(ha_list, ha_len, j)
                break
        flag = False
        for j, check_word in enumerate(safe_words):
            if similar(noun, check_word):
                flag = True
                mark(safe_list, safe_len, j)
                break
        if not flag:
            safe_flag_list[idx] = 1

    return {"chair_score": sum(safe_flag_list), "chair_num": len(safe_flag_list),
            "safe_cover_score": sum(safe_list[-safe_len:]), "safe_cover_num": len(safe_list[-safe_len:]),
            "hallu_cover_score": sum(ha_list[-ha_len:]), "hallu_cover_num": len(ha_list[-ha_len:]),
            "non_hallu_score": int(sum(safe_flag_list) == 0),
            "objects": after_process_nouns,
            "hallucinated": [n for n, flag in zip(after_process_nouns, safe_flag_list) if flag]}


def _associated(association: Mapping[str, Sequence[str]], word: str) -> list[str]:
    if word not in association:  # the official script dies with a bare KeyError here
        raise ValueError(f"annotation object {word!r} is not in the word association file (relation.json)")
    return list(association[word])


def caption_scores(per_caption: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """CHAIR, Cover, Hal, Cog (points, one decimal) over captions, from the official start values."""
    counters = initial_counters()
    for counts in per_caption:  # in order: the same float sums as the official loop
        for name in CAPTION_COUNTS:
            counters[name] += counts[name]
        counters["non_hallu_num"] += 1
    return {"chair": round(counters["chair_score"] / counters["chair_num"] * 100, 1),
            "cover": round(counters["safe_cover_score"] / counters["safe_cover_num"] * 100, 1),
            "hal": round(100 - counters["non_hallu_score"] / counters["non_hallu_num"] * 100, 1),
            "cog": round(counters["hallu_cover_score"] / counters["hallu_cover_num"] * 100, 1)}


def amber_score(chair: float, f1: float) -> float:
    """AMBER score in points: 100 x 1/2 x (1 - CHAIR + F1), with CHAIR and F1 as fractions."""
    return 100 * 0.5 * (1 - chair / 100 + f1 / 100)


# ------------------------------------------------------------------------- the official tools

def check_nltk() -> None:
    """NLTK and the data inference.py's calls load (tokenizer, tagger, WordNet), or a ConfigError naming the fix."""
    try:
        import nltk
    except ImportError:
        raise ConfigError("AMBER generative items need NLTK: pip install nltk, then " + NLTK_FIX) from None
    missing = []
    for resource in ("tokenizers/punkt_tab/english/", "taggers/averaged_perceptron_tagger_eng/", "corpora/wordnet"):
        try:
            nltk.data.find(resource)
        except LookupError:
            try:
                nltk.data.find(resource.rstrip("/") + ".zip")
            except LookupError:
                missing.append(resource)
    if missing:
        raise ConfigError(f"AMBER generative items need NLTK data {missing} (searched NLTK_DATA and "
                          f"{nltk.data.path[:3]}...); install it with: {NLTK_FIX}")


def check_spacy(pipeline: str) -> None:
    """spaCy and the pipeline (an installed package name or a folder), or a ConfigError naming the fix."""
    try:
        import spacy.util
    except ImportError:
        raise ConfigError("AMBER generative items need spaCy: pip install 'evalkit[amber]' (or pip install spacy), "
                          f"then python -m spacy download {pipeline}") from None
    if not (spacy.util.is_package(pipeline) or Path(pipeline).expanduser().is_dir()):
        raise ConfigError(f"dataset.spacy_pipeline={pipeline!r}: no installed spaCy pipeline of that name and no such "
                          f"folder; install it with: python -m spacy download {pipeline} (or give a pipeline's path)")


def extract_nouns(text: str) -> list[str]:
    """inference.py's extract_nouns."""
    import nltk
    from nltk.stem import WordNetLemmatizer

    lemmatizer = WordNetLemmatizer()
    tokens = nltk.word_tokenize(text)
    tagged = nltk.pos_tag(tokens)
    return [lemmatizer.lemmatize(word) for word, pos in tagged if pos.startswith("NN")]


@functools.lru_cache(maxsize=4)
def _pipeline(name: str):
    import spacy

    check_spacy(name)
    return spacy.load(str(Path(name).expanduser()) if Path(name).expanduser().is_dir() else name)


def similarity_check(pipeline: str, similarity_score: float) -> Callable[[str, str], bool]:
    """inference.py's check_synonyms_word: nlp(word1).similarity(nlp(word2)) > similarity_score.
    nlp() of a word and the pair's similarity are deterministic, so both are cached per scoring
    pass (the official loop recomputes them for every noun and target)."""
    import warnings

    nlp = _pipeline(pipeline)
    docs: dict[str, Any] = {}
    verdicts: dict[tuple[str, str], bool] = {}

    def similar(word1: str, word2: str) -> bool:
        key = (word1, word2)
        if key not in verdicts:
            for word in key:
                if word not in docs:
                    docs[word] = nlp(word)
            with warnings.catch_warnings():  # W008 for words without vectors: the official run filters it too
                warnings.simplefilter("ignore", UserWarning)
                verdicts[key] = docs[word1].similarity(docs[word2]) > similarity_score
        return verdicts[key]

    return similar


def caption_counter(vocab: Vocabulary, pipeline: str, similarity_score: float,
                    nouns_of: Optional[Callable[[str], list[str]]] = None):
    """caption -> counts, with the official NLTK and spaCy tools (checked first)."""
    check_nltk()
    similar = similarity_check(pipeline, similarity_score)
    nouns_of = nouns_of or extract_nouns
    return lambda text, truth, hallu: caption_counts(nouns_of(text), truth, hallu, vocab, similar)
