"""A minimal NLTK data directory for tests, built offline (nltk.downloader cannot reach its server here).

- `tokenizers/punkt_tab/english/`: the four parameter files of an untrained Punkt model, empty. Punkt only
  splits sentences; `word_tokenize`'s Treebank rules, which CHAIR depends on, need no data.
- `taggers/averaged_perceptron_tagger_eng/`: a perceptron whose only class is `NN`, so `pos_tag` tags
  every word `NN`. Real NLTK tags differ; tests that compare evalkit with an official script run both on
  this same data, so they agree tag for tag.
- `corpora/wordnet/`: WordNet 3.0, the files NLTK's reader opens, copied from Debian's `wordnet-base` and
  `wordnet-sense-index` packages (`apt-get install wordnet-base wordnet-sense-index`), plus `lexnames`,
  which Debian does not ship: written from the table in `man 5 lexnames` (WordNet 3.0, Princeton licence).

`build(root)` returns root, or raises FileNotFoundError naming the apt packages when WordNet is absent.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

WORDNET_DIR = Path("/usr/share/wordnet")
WORDNET_FILES = ("adj.exc", "adv.exc", "noun.exc", "verb.exc", "cntlist.rev", "index.sense",
                 *(f"{kind}.{pos}" for kind in ("data", "index") for pos in ("adj", "adv", "noun", "verb")))

# `man 5 lexnames` (WordNet 3.0): file number, lexicographer file, syntactic category (1 noun .. 4 adverb).
LEXNAMES = """adj.all 3
adj.pert 3
adv.all 4
noun.Tops 1
noun.act 1
noun.animal 1
noun.artifact 1
noun.attribute 1
noun.body 1
noun.cognition 1
noun.communication 1
noun.event 1
noun.feeling 1
noun.food 1
noun.group 1
noun.location 1
noun.motive 1
noun.object 1
noun.person 1
noun.phenomenon 1
noun.plant 1
noun.possession 1
noun.process 1
noun.quantity 1
noun.relation 1
noun.shape 1
noun.state 1
noun.substance 1
noun.time 1
verb.body 2
verb.change 2
verb.cognition 2
verb.communication 2
verb.competition 2
verb.consumption 2
verb.contact 2
verb.creation 2
verb.emotion 2
verb.motion 2
verb.perception 2
verb.possession 2
verb.social 2
verb.stative 2
verb.weather 2
adj.ppl 3"""


def lexnames_text() -> str:
    return "".join(f"{i:02d}\t{name}\t{cat}\n" for i, (name, cat) in
                   enumerate(line.split() for line in LEXNAMES.splitlines()))


def build(root: Path, wordnet_dir: Path = WORDNET_DIR) -> Path:
    root = Path(root)
    missing = [f for f in WORDNET_FILES if not (wordnet_dir / f).is_file()]
    if missing:
        raise FileNotFoundError(f"WordNet 3.0 files missing in {wordnet_dir} ({', '.join(missing[:3])}...): "
                                "apt-get install wordnet-base wordnet-sense-index")
    punkt = root / "tokenizers" / "punkt_tab" / "english"
    punkt.mkdir(parents=True, exist_ok=True)
    for name in ("collocations.tab", "sent_starters.txt", "abbrev_types.txt", "ortho_context.tab"):
        (punkt / name).write_text("")

    tagger = root / "taggers" / "averaged_perceptron_tagger_eng"
    tagger.mkdir(parents=True, exist_ok=True)
    stem = "averaged_perceptron_tagger_eng"
    (tagger / f"{stem}.weights.json").write_text(json.dumps({}))
    (tagger / f"{stem}.tagdict.json").write_text(json.dumps({}))
    (tagger / f"{stem}.classes.json").write_text(json.dumps(["NN"]))

    wordnet = root / "corpora" / "wordnet"
    wordnet.mkdir(parents=True, exist_ok=True)
    for name in WORDNET_FILES:
        shutil.copyfile(wordnet_dir / name, wordnet / name)
    (wordnet / "lexnames").write_text(lexnames_text())
    return root
