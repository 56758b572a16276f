"""`shapes`: a synthetic, offline hallucination benchmark in MME and POPE form (nothing but code stored).

Procedurally drawn scenes (see `shapes_scene.py`) with two task sets, both balanced yes/no:
- MME-style (task "mme", category = subtask, group = image): `existence`, `color`, `count`,
  `position`, one yes and one no question per image and subtask, so acc+ applies.
- describe (task "describe", opt-in: `dataset.tasks=[mme,pope,describe]` or `[describe]`): one open-ended
  caption per image, item id `describe-<image>`, scored with CHAIR through a shapes synonym table
  (`shapes_describe`); its answer is the scene's classes. Off by default so the default set (and its
  headline numbers) stays the 480 yes/no items; adding it changes none of their ids or questions.
- multiple choice (task "choice", opt-in, `shapes_choice`): colour / shape / count questions with four
  lettered options, the right letter balanced over A-D; 72 items on the default 24 images.
- short answers (task "short", opt-in, `shapes_short`): the same kinds of questions answered with a
  word ("What colour is the triangle?"), `meta["answers"]` the acceptable answers ("2" / "two");
  LLaVA's short-answer suffix; 72 items on the default 24 images.
- POPE-style object probes (task "pope", category = split): "Is there a <colour> <shape> in the
  image?" for up to 3 present objects and as many absent ones per image, the absent ones sampled
  as POPE does: `random`, `popular` (most frequent objects of the set) and `adversarial` (absent
  objects that share a shape or colour with a present one, most co-occurring first). Item ids
  are `pope-<split>-<image>-<k>`, unique across splits.

The evaluation set is fixed by (`version`, `split`, `seed`, `n_images`); the train split draws from
a disjoint seed space (the split is part of every image's seed string). `train_examples` feeds the
training script of the shipped tiny checkpoints. Item.meta holds the scene and whether the object
a question is about is small, and for POPE probes `probe` (`small`, `large` or `absent`).
"""

from __future__ import annotations

import itertools
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterator, List, NamedTuple, Sequence

from PIL import Image

from datasets_adapters.shapes_scene import (
    CLASSES,
    COLORS,
    DESCRIBE_PROMPT,
    MME_CATEGORIES,
    NUMBERS,
    QA,
    SHAPES,
    SIDES,
    VERSION,
    VERSIONS,
    Scene,
    article,
    count_question,
    draw,
    mme_pair,
    pope_question,
    sample_scene,
)
from datasets_adapters.mme import MME
from datasets_adapters import LLAVA_SHORT_ANSWER
from datasets_adapters.shapes_choice import N_OPTIONS, choice_questions, lettered
from datasets_adapters.shapes_short import SHORT, all_short_questions, short_questions
from datasets_adapters.shapes_describe import DESCRIBE
from datasets_adapters.pope import POPE, SPLITS as POPE_SPLITS
from evalkit.benchmark import Benchmark
from evalkit.config import DatasetConfig
from evalkit.errors import ConfigError, DatasetError, check_choice
from evalkit.tasks.caption import objects_answer
from evalkit.tasks.choice import ChoiceTask, choice_prompt
from evalkit.types import Item

# The multiple-choice questions' accuracy is `choice_accuracy`: the yes/no tasks' pooled `accuracy`
# is a headline of the same run.
CHOICE = ChoiceTask(headline="choice_accuracy")

SPLITS = ("eval", "train")
TASKS = (MME.name, POPE.name, DESCRIBE.name, CHOICE.name, SHORT.name)
POPE_PER_IMAGE = 3  # yes probes per image and split (as POPE); as many no probes


@dataclass
class ShapesDatasetConfig(DatasetConfig):
    _target_: str = "datasets_adapters.shapes.ShapesDataset"
    name: str = "shapes"
    version: int = 2  # the generator's version (VERSIONS; a new one means new scenes / questions)
    split: str = "eval"  # eval | train: disjoint seed spaces
    n_images: int = 24  # 192 MME + 288 POPE = 480 items
    seed: int = 1_000_003
    # + "describe": captions, "choice": lettered multiple choice, "short": short answers (opt-in)
    tasks: List[str] = field(default_factory=lambda: [MME.name, POPE.name])
    pope_splits: List[str] = field(default_factory=lambda: list(POPE_SPLITS))
    mme_categories: List[str] = field(default_factory=lambda: list(MME_CATEGORIES))

    def __post_init__(self):
        if self.version not in VERSIONS:
            raise ConfigError(f"dataset.version={self.version!r}: unknown version; this evalkit generates {VERSIONS}")
        check_choice("dataset.split", self.split, SPLITS)
        if self.n_images < 1:
            raise ConfigError(f"dataset.n_images={self.n_images}: must be >= 1")
        self.tasks = check_choice("dataset.tasks", self.tasks, TASKS, many=True)
        self.pope_splits = check_choice("dataset.pope_splits", self.pope_splits, POPE_SPLITS, many=True)
        self.mme_categories = check_choice("dataset.mme_categories", self.mme_categories, MME_CATEGORIES, many=True)


def scene_key(version: int, split: str, seed: int, index: int) -> str:
    """The seed string of one image: split and seed are part of it, so splits never share images."""
    return f"shapes/v{version}/{split}/{seed}/{index}"


def image_id(split: str, index: int) -> str:
    return f"{split}{index:04d}"


class ShapesDataset(Benchmark):
    # MME-style pairs and POPE-style probes, scored as MME and POPE score theirs; a leaderboard of
    # shapes runs sorts by POPE's mean F1 (the hallucination number), else MME's perception score, else
    # the accuracy of the answer type the run asked (yes/no, multiple choice, short answer).
    schema = ShapesDatasetConfig  # its settings: ShapesDataset(n_images=..., tasks=[...]) or the yaml's keys
    tasks = (MME, POPE, DESCRIBE, CHOICE, SHORT)
    primary_metrics = ("pope_mean_f1", "mme_perception", "accuracy", "choice_accuracy", "short_accuracy")

    def scenes(self) -> list[Scene]:
        return [sample_scene(scene_key(self.version, self.split, self.seed, i)) for i in range(self.n_images)]

    def load(self) -> list[Item]:
        scenes = self.scenes()
        stats = SetStats(scenes)
        items: list[Item] = []
        n_choice = 0  # the right option's letter cycles over the set's questions
        for index, scene in enumerate(scenes):
            image = draw(scene)  # one image object shared by all its items
            img = image_id(self.split, index)
            base = {"image_id": img, "scene": scene.describe(), "n_objects": len(scene.objects),
                    "aspect": scene.aspect, "version": self.version}
            if "mme" in self.settings.tasks:
                for category in self.mme_categories:
                    yes, no = mme_pair(scene, category, random.Random(f"{scene.key}/mme/{category}"))
                    for qa in (yes, no):
                        items.append(self._item(f"mme-{category}-{img}-{qa.answer}", image, qa, category, img, "mme", base))
            if "pope" in self.settings.tasks:
                for split in self.pope_splits:
                    for k, qa in enumerate(pope_probes(scene, split, stats)):
                        probe = {"probe": probe_kind(qa)}
                        items.append(self._item(f"pope-{split}-{img}-{k}", image, qa, split, img, "pope", {**base, **probe}))
            if "describe" in self.settings.tasks:
                items.append(Item(id=f"describe-{img}", image=image, question=DESCRIBE_PROMPT,
                                  answer=objects_answer(scene.classes), category="describe", group=img,
                                  task=DESCRIBE.name, prompt_question=DESCRIBE_PROMPT, meta=dict(base)))
            if "choice" in self.settings.tasks:
                for kind, question, values, right in choice_questions(scene):
                    options, letter = lettered(values, right, n_choice % len(values))
                    n_choice += 1
                    items.append(Item(id=f"choice-{kind}-{img}", image=image, question=question, answer=letter,
                                      category=kind, group=img, task=CHOICE.name,
                                      prompt_question=choice_prompt(question, options),
                                      meta={**base, "options": options}))
            if "short" in self.settings.tasks:
                for kind, question, answers in short_questions(scene):
                    items.append(Item(id=f"short-{kind}-{img}", image=image, question=question, answer=answers[0],
                                      category=kind, group=img, task=SHORT.name,
                                      prompt_question=question + LLAVA_SHORT_ANSWER,
                                      meta={**base, "answers": answers}))
        return items

    def _item(self, id_: str, image: Image.Image, qa: QA, category: str, group: str, task: str, base: dict) -> Item:
        return Item(
            id=id_, image=image, question=qa.question, answer=qa.answer, category=category, group=group,
            task=task, prompt_question=qa.question + self.question_suffix, meta={**base, **qa.meta()},
        )


class SetStats:
    """Object frequencies and co-occurrences over a set of scenes (POPE's popular/adversarial)."""

    def __init__(self, scenes: Sequence[Scene]):
        self.frequency: Counter = Counter()
        self.cooccur: Counter = Counter()
        for scene in scenes:
            present = sorted(scene.classes)
            self.frequency.update(present)
            self.cooccur.update(itertools.permutations(present, 2))


def pope_probes(scene: Scene, split: str, stats: SetStats) -> list[QA]:
    """Up to 3 present objects (the same for every split) then as many absent ones of the split."""
    present = sorted(scene.classes)
    k = min(POPE_PER_IMAGE, len(present))
    yes_names = random.Random(f"{scene.key}/pope/yes").sample(present, k)
    absent = [c for c in CLASSES if c not in scene.classes]
    rng = random.Random(f"{scene.key}/pope/{split}")
    if split == "random":
        no_names = rng.sample(absent, k)
    elif split == "popular":
        no_names = sorted(absent, key=lambda c: (-stats.frequency[c], CLASSES.index(c)))[:k]
    elif split == "adversarial":
        rng.shuffle(absent)  # ties broken by the image's own stream

        def score(c: str) -> tuple:
            color, shape = c.split(" ")
            shares = any(o.color == color or o.shape == shape for o in scene.objects)
            return (-int(shares), -sum(stats.cooccur[(p, c)] for p in present))

        no_names = sorted(absent, key=score)[:k]
    else:
        raise DatasetError(f"unknown POPE split {split!r}; choose from {', '.join(POPE_SPLITS)}")
    by_name = {o.name: o for o in sorted(scene.objects, key=lambda o: o.small)}  # a large instance if any
    return [QA(pope_question(n), "yes", by_name[n]) for n in yes_names] + [QA(pope_question(n), "no", None) for n in no_names]


def probe_kind(qa: QA) -> str:
    """`small` / `large` (a present object of that size) or `absent`: `report --by probe` then gives
    recall per object size next to the false-positive rate, so a model that sees small objects can
    be told apart from one that just says "yes" more often."""
    return "absent" if qa.answer == "no" else ("small" if qa.target.small else "large")


# -- training data ---------------------------------------------------------------------------------
class TrainRow(NamedTuple):
    """A question with a worded answer, as the model sees it: the prompt question as evaluation
    renders it (options and instruction, or the short-answer suffix) and the answer text trained
    (an option letter or one acceptable word), `kind` for the training log."""
    prompt_question: str
    answer: str
    kind: str


@dataclass(frozen=True)
class TrainExample:
    image: Image.Image
    scene: Scene
    qas: tuple[QA, ...]  # yes/no questions about this image (MME pairs + POPE probes with random negatives)
    rows: tuple[TrainRow, ...] = ()  # multiple-choice and short-answer questions (dense only)


def train_examples(seed: int = 0, start: int = 0, version: int = VERSION, dense: bool = True,
                   **scene_options) -> Iterator[TrainExample]:
    """Endless stream of training images from the train seed space (disjoint from every eval set).
    Image `start + i` is the same whatever the caller consumed before it. With `dense`, each image
    gets every yes/no question `dense_questions` can ask (about 30) and up to `N_WORDED` multiple-choice
    and as many short-answer questions (`worded_rows`); otherwise the eval-style questions:
    one MME pair per category and POPE probes with random negatives. `scene_options` go to
    `sample_scene` (easier scenes for a curriculum)."""
    for index in itertools.count(start):
        scene = sample_scene(scene_key(version, "train", seed, index), **scene_options)
        rng = random.Random(f"{scene.key}/train")
        rows: list[TrainRow] = []
        if dense:
            qas = dense_questions(scene, rng)
            rows = worded_rows(scene, random.Random(f"{scene.key}/train/worded"))
        else:
            qas = [qa for c in MME_CATEGORIES for qa in mme_pair(scene, c, random.Random(f"{scene.key}/mme/{c}"))]
            present = sorted(scene.classes)
            k = min(POPE_PER_IMAGE, len(present))
            by_name = {o.name: o for o in scene.objects}
            qas += [QA(pope_question(n), "yes", by_name[n]) for n in rng.sample(present, k)]
            qas += [QA(pope_question(n), "no", None) for n in rng.sample([c for c in CLASSES if c not in present], k)]
        yield TrainExample(draw(scene), scene, tuple(qas), tuple(rows))


N_WORDED = 4  # multiple-choice rows per training image, and as many short-answer rows
OPTION_VALUES = {"color": list(COLORS), "shape": list(SHAPES), "count": list(NUMBERS[1:6])}


def worded_rows(scene: Scene, rng: random.Random) -> list[TrainRow]:
    """Up to N_WORDED of the scene's unambiguous colour / shape / count questions as multiple choice
    (options drawn as the eval set draws them, the right one at a random letter, answered with the
    letter) and up to N_WORDED as short answers (answered with a word: "red", "circle", "two")."""
    every = all_short_questions(scene)
    rows = []
    for kind, question, answers in rng.sample(every, min(N_WORDED, len(every))):
        right = answers[-1]  # the word: counts are options as words ("two")
        wrong = rng.sample([v for v in OPTION_VALUES[kind] if v != right], N_OPTIONS - 1)
        options, letter = lettered([right, *wrong], right, rng.randrange(N_OPTIONS))
        rows.append(TrainRow(choice_prompt(question, options), letter, "choice_" + kind))
    for kind, question, answers in rng.sample(every, min(N_WORDED, len(every))):
        rows.append(TrainRow(question + LLAVA_SHORT_ANSWER, answers[-1], "short_" + kind))
    return rows


def dense_questions(scene: Scene, rng: random.Random) -> list[QA]:
    """Every shape's existence; colour, count and position of each object that allows it (the true
    value and one wrong one); every present object class and as many random absent ones."""
    objs, w, h = scene.objects, scene.width, scene.height
    shapes = {o.shape for o in objs}
    first = {s: next((o for o in objs if o.shape == s), None) for s in SHAPES}
    qas = [QA(f"Is there {article(s)} {s} in the image?", "yes" if s in shapes else "no", first[s]) for s in SHAPES]
    for o in objs:
        if scene.count(o.shape) == 1:
            other = rng.choice([c for c in COLORS if c != o.color])
            qas += [QA(f"Is the {o.shape} {o.color}?", "yes", o), QA(f"Is the {o.shape} {other}?", "no", o)]
    for s in sorted(shapes):
        n = scene.count(s)
        wrong = n + 1 if n == 1 else n + rng.choice((-1, 1))
        qas += [QA(count_question(n, s), "yes", first[s]), QA(count_question(wrong, s), "no", first[s])]
    for o in objs:
        sides = o.sides(w, h)
        if sides and sum(p.name == o.name for p in objs) == 1:
            side = rng.choice(sides)
            qas += [QA(f"Is the {o.name} on the {side} of the image?", "yes", o),
                    QA(f"Is the {o.name} on the {SIDES[side]} of the image?", "no", o)]
    present = sorted(scene.classes)
    by_name = {o.name: o for o in objs}
    qas += [QA(pope_question(n), "yes", by_name[n]) for n in present]
    qas += [QA(pope_question(n), "no", None) for n in rng.sample([c for c in CLASSES if c not in scene.classes], len(present))]
    return qas
