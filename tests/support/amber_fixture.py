"""Files shaped like AMBER's for tests: annotations.json (ids 1..N, as the official script indexes
row id-1), a query file, responses in AMBER's inference format, small images named like the real
ones (AMBER_<n>.jpg; the real images are not in ../shared), and a tiny spaCy pipeline whose word
vectors make a few chosen pairs similar (en_core_web_lg is not on the registry).

The cases cover every branch of the official scorer: truth objects and their associates, an exact
hallucination target that a similar truth word then clears (no `continue` after the exact match),
a noun only similar to a target, safe words, plurals, an uppercase noun the official script does not
lower-case, an empty caption; Yes/No answers of every type, the plain `relation` type, and responses
the exact rule rejects (" Yes", "yes", "No.", "Yes, ...").
"""

from __future__ import annotations

import json
from pathlib import Path

# (type, truth, hallu, response): AMBER id = position + 1
CASES = [
    ("generative", ["car", "tree", "grass"], ["dog", "cat", "person"], "A car with a door parked near trees and a dog."),
    ("generative", ["person", "table"], ["cat", "chair"], "The woman sits on a bench next to a kitten under a light."),
    ("generative", ["dog"], ["cat"], "A cat and two dogs."),
    ("generative", ["tree", "grass"], ["horse", "cow"], "A cow near a tree, a forest behind."),
    ("generative", ["sky"], ["cloud"], ""),
    ("generative", ["car", "road"], ["dog", "bus"], "Car, light and sign by the window of a truck."),
    ("discriminative-hallucination", "no", None, "No"),
    ("discriminative-hallucination", "no", None, "No."),
    ("discriminative-hallucination", "no", None, "Yes"),
    ("discriminative-attribute-state", "yes", None, "Yes"),
    ("discriminative-attribute-state", "no", None, "No"),
    ("discriminative-attribute-state", "yes", None, " Yes"),
    ("discriminative-attribute-number", "yes", None, "yes"),
    ("discriminative-attribute-number", "no", None, "No"),
    ("discriminative-attribute-number", "no", None, "Yes"),
    ("discriminative-attribute-action", "yes", None, "Yes, the man is running."),
    ("discriminative-attribute-action", "no", None, "No"),
    ("discriminative-relation", "yes", None, "Yes"),
    ("relation", "no", None, "No"),
    ("discriminative-relation", "yes", None, "No"),
    ("relation", "no", None, "Yes"),
]

# Word vectors of the tiny pipeline: cat ~ dog, cow ~ horse (cosine > 0.8); the rest are apart.
VECTORS = {"cat": [1.0, 0.0, 0.0, 0.0], "dog": [0.95, 0.3, 0.0, 0.0], "cow": [0.0, 0.0, 1.0, 0.0],
           "horse": [0.0, 0.0, 0.9, 0.4], "tree": [0.0, 1.0, 0.0, 0.0], "car": [0.0, 0.0, 0.0, 1.0],
           "truck": [0.3, 0.0, 0.0, 0.6], "bus": [0.2, 0.0, 0.1, 0.9]}


def annotations(cases=CASES) -> list[dict]:
    rows = []
    for i, (kind, truth, hallu, _) in enumerate(cases):
        row = {"id": i + 1, "type": kind, "truth": truth}
        if kind == "generative":
            row["hallu"] = hallu
        rows.append(row)
    return rows


def responses(cases=CASES) -> list[dict]:
    return [{"id": i + 1, "response": case[3]} for i, case in enumerate(cases)]


def queries(cases=CASES) -> list[dict]:
    out = []
    for i, (kind, *_rest) in enumerate(cases):
        query = "Describe this image." if kind == "generative" else f"Is there a thing {i} in this image?"
        out.append({"id": i + 1, "image": f"AMBER_{i % 4 + 1}.jpg", "query": query})
    return out


def write(root: Path, cases=CASES) -> dict[str, Path]:
    """annotations.json, query_all.json, responses.json and image/AMBER_<n>.jpg under root."""
    from PIL import Image

    root.mkdir(parents=True, exist_ok=True)
    paths = {"annotations": root / "annotations.json", "query": root / "query_all.json",
             "responses": root / "responses.json", "images": root / "image"}
    paths["annotations"].write_text(json.dumps(annotations(cases)), encoding="utf-8")
    paths["query"].write_text(json.dumps(queries(cases)), encoding="utf-8")
    paths["responses"].write_text(json.dumps(responses(cases)), encoding="utf-8")
    paths["images"].mkdir(exist_ok=True)
    for n in range(1, 5):
        Image.new("RGB", (48, 36), (40 * n, 90, 200 - 30 * n)).save(paths["images"] / f"AMBER_{n}.jpg")
    return paths


def spacy_pipeline(root: Path) -> Path:
    """A blank English pipeline with VECTORS, saved to root (loaded by path, like a package)."""
    import numpy as np
    import spacy

    nlp = spacy.blank("en")
    for word, vector in VECTORS.items():
        nlp.vocab.set_vector(word, np.asarray(vector, dtype="float32"))
    nlp.to_disk(root)
    return root
