"""The `shapes` describe task: one open-ended caption per image ("Please describe this image in
detail."), scored with the same CHAIR engine as `chair_coco` (evalkit/scoring/chair.py) through a
shapes synonym table. The objects are the benchmark's 30 classes ("red circle", ..., the POPE
probes' objects); a caption names one as a colour word followed by a shape word, each with its
synonyms ("violet" purple, "disc"/"disk"/"ring" circle, "plus" cross, "box"/"rectangle" square),
singular or plural (NLTK's lemmatizer, as for COCO). A shape named without its colour is no
mention, as a COCO caption's "object" is none: the task asks which coloured objects are there.
Ground truth: the scene's classes, known exactly.
"""

from __future__ import annotations

from datasets_adapters.shapes_scene import CLASSES, COLORS, SHAPES
from evalkit.scoring.chair import ChairVocabulary
from evalkit.tasks.caption import ChairTask

COLOR_SYNONYMS = {"purple": ("purple", "violet")}
SHAPE_SYNONYMS = {"circle": ("circle", "disc", "disk", "ring"), "square": ("square", "box", "rectangle"),
                  "triangle": ("triangle",), "star": ("star",), "cross": ("cross", "plus")}


def _vocabulary() -> ChairVocabulary:
    double = {}
    for color in COLORS:
        for shape in SHAPES:
            for c in COLOR_SYNONYMS.get(color, (color,)):
                for s in SHAPE_SYNONYMS[shape]:
                    double[f"{c} {s}"] = f"{color} {shape}"
    # One line per class, its node word only: the two-word phrases above already map to it.
    return ChairVocabulary("\n".join(CLASSES), double)


SHAPES_VOCABULARY = _vocabulary()
DESCRIBE = ChairTask("describe", SHAPES_VOCABULARY, prefix="describe_chair",
                     note="describe: CHAIR over the shapes classes (OPERA's chair.py logic with a shapes synonym "
                          "table); CHAIR_s / CHAIR_i lower is better; Len = mean words per caption")
