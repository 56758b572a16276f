"""The synthetic `shapes` benchmark: deterministic pixels and questions, balanced yes/no, MME pairs,
POPE negative sampling, disjoint train/eval seed spaces, errors that name what exists."""

from __future__ import annotations

import hashlib
import itertools
from collections import Counter, defaultdict

import pytest
from hydra import compose, initialize_config_dir

from datasets_adapters import LLAVA_SHORT_ANSWER
from datasets_adapters.shapes import ShapesDataset, SetStats, train_examples
from datasets_adapters.shapes_scene import CLASSES, SHAPES
from evalkit.config import conf_dir
from evalkit.registry import register_configs
from evalkit.items import load_items
from evalkit.errors import ConfigError


def digest(image) -> str:
    return hashlib.sha256(image.tobytes() + repr(image.size).encode()).hexdigest()


@pytest.fixture(scope="module")
def items():
    return ShapesDataset(n_images=16).load()


def test_same_seed_same_images_and_questions(items):
    again = ShapesDataset(n_images=16).load()
    assert [(i.id, i.question, i.answer, i.category, i.group, dict(i.meta)) for i in items] == [
        (i.id, i.question, i.answer, i.category, i.group, dict(i.meta)) for i in again]
    assert [digest(i.image) for i in items] == [digest(i.image) for i in again]
    other = ShapesDataset(n_images=16, seed=7).load()
    assert {digest(i.image) for i in other}.isdisjoint({digest(i.image) for i in items})


def test_a_prefix_of_a_larger_set_keeps_its_images_and_mme_questions(items):
    larger = ShapesDataset(n_images=20).load()
    mme = [(i.id, i.question, digest(i.image)) for i in items if i.task == "mme"]
    assert mme == [(i.id, i.question, digest(i.image)) for i in larger if i.task == "mme"][: len(mme)]


def test_ids_unique_and_prompt_suffix(items):
    assert len({i.id for i in items}) == len(items)
    assert all(i.prompt_question == i.question + LLAVA_SHORT_ANSWER for i in items)
    assert all(i.id.startswith(f"{i.task}-{i.category}-{i.group}-") for i in items)
    assert ShapesDataset(n_images=2, question_suffix="").load()[0].prompt_question == items[0].question


def test_mme_one_yes_one_no_per_image_and_category(items):
    pairs = defaultdict(list)
    for item in items:
        if item.task == "mme":
            pairs[(item.category, item.group)].append(item.answer)
    assert len(pairs) == 4 * 16
    assert all(sorted(answers) == ["no", "yes"] for answers in pairs.values())


def test_pope_balanced_per_split_and_image(items):
    per = defaultdict(Counter)
    for item in items:
        if item.task == "pope":
            per[(item.category, item.group)][item.answer] += 1
    assert {split for split, _ in per} == {"random", "popular", "adversarial"}
    assert all(c["yes"] == c["no"] >= 1 for c in per.values())


def test_pope_negatives_follow_the_split_rule():
    dataset = ShapesDataset(n_images=30, tasks=["pope"])
    scenes = dataset.scenes()
    stats = SetStats(scenes)
    by_image = defaultdict(lambda: defaultdict(list))
    for item in dataset.load():
        by_image[item.group][item.category].append(item)
    for index, scene in enumerate(scenes):
        probes = by_image[f"eval{index:04d}"]
        for split, group in probes.items():
            named = [i.question.split(" ", 3)[3].removesuffix(" in the image?") for i in group]
            assert all((n in scene.classes) == (i.answer == "yes") for n, i in zip(named, group))
            negatives = [n for n, i in zip(named, group) if i.answer == "no"]
            absent = [c for c in CLASSES if c not in scene.classes]
            if split == "popular":
                top = sorted(stats.frequency[c] for c in absent)[-len(negatives):]
                assert sorted(stats.frequency[n] for n in negatives) == top
            if split == "adversarial":
                colors = {o.color for o in scene.objects}
                shapes = {o.shape for o in scene.objects}
                assert all(n.split()[0] in colors or n.split()[1] in shapes for n in negatives)


def test_scenes_vary_aspect_and_have_small_objects(items):
    aspects = {i.meta["aspect"] for i in ShapesDataset(n_images=40).load()}
    assert aspects == {"wide", "tall", "square"}
    assert any(i.meta["small"] for i in items) and not all(i.meta["small"] for i in items)
    assert all(1 <= i.meta["n_objects"] <= 6 for i in items)
    assert {i.question.split()[3] for i in items if i.category == "existence"} <= set(SHAPES)


def test_pope_probes_say_what_they_probe(items):
    pope = [i for i in items if i.task == "pope"]
    assert all(i.meta["probe"] == "absent" for i in pope if i.answer == "no")
    present = [i for i in pope if i.answer == "yes"]
    assert all(i.meta["probe"] == ("small" if i.meta["small"] else "large") for i in present)
    assert {i.meta["probe"] for i in present} == {"small", "large"}
    assert not any("probe" in i.meta for i in items if i.task == "mme")


def test_train_and_eval_are_disjoint(items):
    eval_images = {digest(i.image) for i in items}
    train = list(itertools.islice(train_examples(seed=0), 40))
    assert eval_images.isdisjoint(digest(e.image) for e in train)
    assert {i.group for i in ShapesDataset(split="train", n_images=2).load()} == {"train0000", "train0001"}
    # eval-style training questions: MME pairs and balanced POPE probes
    eval_style = itertools.islice(train_examples(seed=0, dense=False), 40)
    answers = Counter(qa.answer for e in eval_style for qa in e.qas)
    assert answers["yes"] == answers["no"]
    # the stream is addressable: image i does not depend on what came before
    assert digest(next(train_examples(seed=0, start=5)).image) == digest(train[5].image)


@pytest.mark.parametrize(
    "kwargs,needle",
    [
        ({"split": "test"}, "'test'"),
        ({"tasks": ["vqa"]}, "mme, pope"),
        ({"pope_splits": ["hard"]}, "random, popular, adversarial"),
        ({"mme_categories": ["OCR"]}, "existence, color, count, position"),
        ({"version": 9}, "9"),
        ({"n_images": 0}, "n_images"),
        ({"n_image": 3}, "did you mean dataset.n_images"),
    ],
)
def test_bad_options_raise_config_error(kwargs, needle):
    """The schema is the one check, whether the adapter is built from the yaml or directly."""
    with pytest.raises(ConfigError, match="dataset") as info:
        ShapesDataset(**kwargs)
    assert needle in str(info.value)
    if "split" in kwargs:
        assert "eval, train" in str(info.value)


def test_subsets_of_tasks_and_categories():
    items = ShapesDataset(n_images=3, tasks=["mme"], mme_categories=["count"]).load()
    assert {(i.task, i.category) for i in items} == {("mme", "count")} and len(items) == 6
    items = ShapesDataset(n_images=3, tasks="pope", pope_splits="adversarial").load()
    assert {(i.task, i.category) for i in items} == {("pope", "adversarial")}


def test_default_config_builds_the_eval_set():
    register_configs()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base=None):
        cfg = compose(config_name="config", overrides=["dataset=shapes"])
    items = load_items(cfg.dataset, limit=None)
    assert items == ShapesDataset().load()  # the yaml and the class agree on the default set
    assert 300 <= len(items) <= 600
    with initialize_config_dir(config_dir=str(conf_dir()), version_base=None):
        cfg = compose(config_name="config", overrides=["dataset=shapes", "dataset.split=dev"])
    with pytest.raises(ConfigError, match="'dev'"):
        load_items(cfg.dataset, limit=None)


def test_version_2_fills_each_shape_kind_with_its_pattern_and_version_1_stays_plain():
    from datasets_adapters.shapes_scene import PATTERNS, Obj, Scene, draw

    objects = tuple(Obj(shape, "blue", 120 + 200 * i, 150, 150, False, (50, 90, 225)) for i, shape in enumerate(SHAPES))
    for version, patterned in ((1, False), (2, True)):
        scene = Scene(f"shapes/v{version}/test/0/0", 1100, 300, (60, 60, 60), objects)
        image, labels = draw(scene), draw(scene, labels=True)
        for index, o in enumerate(objects):
            inside = [image.getpixel((x, y)) for x in range(o.x - 40, o.x + 40) for y in range(o.y - 40, o.y + 40)
                      if labels.getpixel((x, y)) == index + 1]
            colours = set(inside)
            expected_plain = not patterned or PATTERNS[o.shape] == "solid"
            assert (colours == {o.rgb}) == expected_plain, (version, o.shape, len(colours))
            if not expected_plain:  # the colour and its darker shade, in about equal parts
                assert colours == {o.rgb, tuple(round(0.45 * c) for c in o.rgb)}
                assert 0.25 < inside.count(o.rgb) / len(inside) < 0.75
