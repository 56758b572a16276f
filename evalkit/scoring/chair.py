"""CHAIR (Rohrbach et al. 2018) as OPERA's `chair.py` computes it (shikiw/OPERA, MIT; itself from
LisaAnne/Hallucination), parameterised by the object vocabulary so every caption benchmark shares
one engine: COCO's 80 categories with their synonyms and special rules (`chair_coco`), the
`shapes` describe task with a synonym table of its own.

The text pipeline is OPERA's, step for step (`caption_words`):
1. `nltk.word_tokenize(caption.lower())`, `nltk.pos_tag`, then `WordNetLemmatizer().lemmatize`
   with the tag mapped J/V/N/R -> adj/verb/noun/adv (anything else: noun);
2. two-word phrases merged left to right where the pair is in `double_words` (the pair's value
   replaces both words: "baby bird" -> "bird", "toilet seat" -> "toilet");
3. `drop_when`: a word removed when another word is present ("seat" when "toilet" is there);
4. words in the synonym table kept, each mapped to its node word (the line's first entry).
The synonym lines are parsed exactly as OPERA parses its text (`line.strip().split(', ')`), which
keeps its quirks: the leading empty line adds an empty-string object, and an entry written after a
double space (" motor bike", " cheesecake") never matches a word.

RLHF-V's Object HalBench keyword path (RLHF-V/RLHF-V eval/eval_gpt_obj_halbench.py) runs the same
pipeline with two switches of the vocabulary: `pos_tagged=False` lemmatises every word as a noun
(`lemmatize(w)`, no `pos_tag`), and `strip_entries=True` strips each synonym entry (so an entry
written after a double space matches).

Metrics (`chair_totals`), as OPERA's compute_chair: CHAIR_s = captions with a hallucinated mention
/ captions; CHAIR_i = hallucinated mentions / all mentions (repeats counted); Recall = ground-truth
objects mentioned / ground-truth objects, summed over captions; Len = OPERA's 0.01 x words per
caption, reported x100 as OPERA prints it (mean tokens per caption, after step 2).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

from evalkit.errors import EvalkitError

NLTK_PACKAGES = {  # what the pipeline reads -> the nltk.downloader package that provides it
    "tokenizers/punkt_tab/english/": "punkt_tab",
    "taggers/averaged_perceptron_tagger_eng/": "averaged_perceptron_tagger_eng",
    "corpora/wordnet": "wordnet",
}


class NltkDataError(EvalkitError):
    pass


def check_nltk(tagger: bool = True) -> None:
    """Fail naming the exact download command when nltk or its data is missing (NLTK finds data
    the usual way: NLTK_DATA, then its default folders). `tagger=False`: the POS tagger's data is
    not needed (a vocabulary with pos_tagged=False)."""
    try:
        import nltk
    except ImportError:
        raise NltkDataError("CHAIR scoring needs nltk: pip install 'evalkit[captions]' (or pip install nltk)") from None
    missing = []
    for resource, package in NLTK_PACKAGES.items():
        if not tagger and package.startswith("averaged_perceptron_tagger"):
            continue
        try:
            nltk.data.find(resource)
        except LookupError:
            missing.append(package)
    if missing:
        raise NltkDataError(f"CHAIR scoring needs NLTK data that is not installed ({', '.join(missing)}): run "
                            f"`python -m nltk.downloader {' '.join(missing)}` (or point NLTK_DATA at a folder "
                            f"holding them)")


@functools.lru_cache(maxsize=1)
def _nltk():
    import nltk
    from nltk.corpus import wordnet
    from nltk.stem import WordNetLemmatizer

    return nltk, wordnet, WordNetLemmatizer()


def wordnet_pos(tag: str, wordnet) -> str | None:
    """OPERA's get_wordnet_pos."""
    if tag.startswith("J"):
        return wordnet.ADJ
    if tag.startswith("V"):
        return wordnet.VERB
    if tag.startswith("N"):
        return wordnet.NOUN
    if tag.startswith("R"):
        return wordnet.ADV
    return None


@dataclass(frozen=True)
class CaptionWords:
    """OPERA's caption_to_words return values: the object words as written (after lemmatising and
    merging), their node words, their positions in `raw`, and every word after merging."""

    words: tuple[str, ...]
    nodes: tuple[str, ...]
    idxs: tuple[int, ...]
    raw: tuple[str, ...]


@dataclass(frozen=True)
class ChairVocabulary:
    synonyms: str  # one line per object: "node, synonym, synonym, ..." (OPERA's synonyms.txt layout)
    double_words: Mapping[str, str] = field(default_factory=dict)  # "w1 w2" -> the word it counts as
    drop_when: tuple[tuple[str, str], ...] = ()  # (present, dropped): drop `dropped` if `present` is there
    pos_tagged: bool = True  # OPERA: lemmas by pos_tag; False (RLHF-V): every word lemmatised as a noun
    strip_entries: bool = False  # RLHF-V strips each synonym entry; OPERA keeps " motor bike" as written

    @functools.cached_property
    def inverse(self) -> dict[str, str]:
        """Every synonym -> its node word (OPERA's inverse_synonym_dict; a later line wins)."""
        out: dict[str, str] = {}
        for line in self.synonyms.splitlines():
            entries = line.strip().split(", ")
            if self.strip_entries:
                entries = [e.strip() for e in entries]
            for entry in entries:
                out[entry] = entries[0]
        return out

    @functools.cached_property
    def objects(self) -> frozenset[str]:
        return frozenset(self.inverse)

    def node(self, name: str) -> str:
        """The node word of an object name (a COCO category); KeyError if it is not in the table."""
        return self.inverse[name]

    def caption_words(self, caption: str) -> CaptionWords:
        nltk, wordnet, lemmatizer = _nltk()
        tokens = nltk.word_tokenize(caption.lower())
        if self.pos_tagged:
            words = [lemmatizer.lemmatize(w, pos=wordnet_pos(t, wordnet) or wordnet.NOUN)
                     for w, t in nltk.pos_tag(tokens)]
        else:
            words = [lemmatizer.lemmatize(w) for w in tokens]
        merged, idxs, i = [], [], 0
        while i < len(words):
            idxs.append(i)  # OPERA's quirk kept: the index into the unmerged words
            pair = " ".join(words[i: i + 2])
            if pair in self.double_words:
                merged.append(self.double_words[pair])
                i += 2
            else:
                merged.append(words[i])
                i += 1
        # OPERA filters `words` (and then indexes `idxs` by the filtered positions): same here.
        kept = list(merged)
        for present, dropped in self.drop_when:
            if present in kept and dropped in kept:
                kept = [w for w in kept if w != dropped]
        positions = [idxs[k] for k, w in enumerate(kept) if w in self.objects]
        found = [w for w in kept if w in self.objects]
        return CaptionWords(tuple(found), tuple(self.inverse[w] for w in found), tuple(positions), tuple(merged))


@dataclass(frozen=True)
class CaptionScore:
    """One caption against its ground-truth objects (OPERA's per-sentence record)."""

    mentioned: tuple[str, ...]  # node words of every object mention, in caption order (repeats kept)
    hallucinated: tuple[tuple[str, str], ...]  # (word, node) of the mentions not in the ground truth
    ground_truth: tuple[str, ...]  # sorted
    recalled: tuple[str, ...]  # ground-truth objects mentioned, sorted
    n_words: int  # len(raw words)

    @property
    def is_hallucinated(self) -> bool:
        return bool(self.hallucinated)

    def to_json(self) -> dict:
        return {"mentioned": list(self.mentioned), "hallucinated": [list(h) for h in self.hallucinated],
                "ground_truth": list(self.ground_truth), "recalled": list(self.recalled), "n_words": self.n_words}


def score_caption(vocabulary: ChairVocabulary, caption: str, ground_truth: Iterable[str]) -> CaptionScore:
    gt = set(ground_truth)
    found = vocabulary.caption_words(caption)
    hallucinated = tuple((w, n) for w, n in zip(found.words, found.nodes) if n not in gt)
    recalled = sorted({n for n in found.nodes if n in gt})
    return CaptionScore(found.nodes, hallucinated, tuple(sorted(gt)), tuple(recalled), len(found.raw))


def chair_totals(scores: Sequence[CaptionScore]) -> dict[str, float]:
    """CHAIR_s, CHAIR_i, Recall (fractions) and Len (mean words per caption) over captions; NaN
    where OPERA would divide by zero."""
    n = len(scores)
    mentions = sum(len(s.mentioned) for s in scores)
    gt = sum(len(s.ground_truth) for s in scores)

    def ratio(a: float, b: float) -> float:
        return a / b if b else math.nan

    return {"chair_s": ratio(sum(s.is_hallucinated for s in scores), n),
            "chair_i": ratio(sum(len(s.hallucinated) for s in scores), mentions),
            "recall": ratio(sum(len(s.recalled) for s in scores), gt),
            "len": ratio(sum(s.n_words for s in scores), n)}
