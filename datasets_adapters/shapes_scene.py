"""Scenes of the synthetic `shapes` benchmark: sampling, drawing and the MME-style question pairs.

A scene is 1-6 objects (shape x colour x size at a position) on a plain background, at one of
seven aspect ratios (square, 4:3, 2:1, 3:1 and their tall versions) with a long side of 700-1008 px.
About a quarter of the objects are *small* (2-3.5 % of the long side): a few pixels once LLaVA-1.5
pads the image to a square and resizes it to 336 px, but 1-2 patches in LLaVA-NeXT's anyres tiles.
Objects are drawn from themes (classes that tend to appear together) and a skewed global
popularity, which gives POPE's `popular` and `adversarial` negatives something to find.

From version 2 each shape kind also has its own fill pattern (circle solid, square horizontal
stripes, triangle vertical stripes, star diagonal stripes, cross checkerboard; the dark parts a
darker shade of the object's colour, period ~1/84 of the long side, i.e. 4 px once LLaVA-1.5
scales the padded image to 336). A tiny vision tower trained from scratch for minutes cannot learn
outline shapes that span several 14-px patches (LLaVA's CLIP was pretrained on 400M images), but
it can read a pattern from any patch; the pattern of a small object is only a few pixels in the
336-px view and clearer in anyres tiles. Version 1 (plain fills) stays reproducible.

Everything is a pure function of a string seed (`random.Random(str)` is stable across runs and
platforms), so the same seed gives the same scene, the same pixels and the same questions.
Changing anything here that alters scenes or questions requires a new `VERSION`.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Optional

from PIL import Image, ImageDraw

VERSION = 2
VERSIONS = (1, 2)  # generated exactly as released; 2 adds the fill patterns
SHAPES = ("circle", "square", "triangle", "star", "cross")
PLURALS = {"circle": "circles", "square": "squares", "triangle": "triangles", "star": "stars", "cross": "crosses"}
COLORS = {
    "red": (220, 45, 45),
    "green": (50, 170, 70),
    "blue": (50, 90, 225),
    "yellow": (235, 210, 45),
    "purple": (150, 70, 190),
    "orange": (245, 140, 35),
}
CLASSES = tuple(f"{color} {shape}" for color in COLORS for shape in SHAPES)  # POPE's "objects"
NUMBERS = ("zero", "one", "two", "three", "four", "five", "six", "seven")
ASPECTS = ((1, 1), (4, 3), (3, 4), (2, 1), (1, 2), (3, 1), (1, 3))  # width : height
MME_CATEGORIES = ("existence", "color", "count", "position")
SIDES = {"left": "right", "right": "left", "top": "bottom", "bottom": "top"}


def _world(seed: str = "shapes-world-v1") -> tuple[tuple[tuple[str, ...], ...], tuple[float, ...]]:
    """Six themes of four classes each, and a Zipf-like popularity over all classes (fixed)."""
    rng = random.Random(seed)
    order = list(CLASSES)
    rng.shuffle(order)
    popularity = [0.0] * len(CLASSES)
    for rank, name in enumerate(order):
        popularity[CLASSES.index(name)] = 1.0 / (rank + 2)
    themes = tuple(tuple(rng.sample(CLASSES, 4)) for _ in range(6))
    return themes, tuple(popularity)


THEMES, POPULARITY = _world()


@dataclass(frozen=True)
class Obj:
    shape: str
    color: str
    x: int  # centre, pixels
    y: int
    size: int  # side of the bounding box, pixels
    small: bool
    rgb: tuple[int, int, int]

    @property
    def name(self) -> str:
        return f"{self.color} {self.shape}"

    def sides(self, width: int, height: int) -> list[str]:
        """The sides of the image this object is clearly on (its centre outside the middle 20 %)."""
        out = []
        if self.x < 0.4 * width:
            out.append("left")
        if self.x > 0.6 * width:
            out.append("right")
        if self.y < 0.4 * height:
            out.append("top")
        if self.y > 0.6 * height:
            out.append("bottom")
        return out


@dataclass(frozen=True)
class Scene:
    key: str  # the seed string it was sampled from
    width: int
    height: int
    background: tuple[int, int, int]
    objects: tuple[Obj, ...]

    @property
    def classes(self) -> set[str]:
        return {o.name for o in self.objects}

    @property
    def aspect(self) -> str:
        return "square" if self.width == self.height else ("wide" if self.width > self.height else "tall")

    def count(self, shape: str) -> int:
        return sum(o.shape == shape for o in self.objects)

    def describe(self) -> str:
        """Compact text of the scene, e.g. '1008x336 wide: red circle@(0.21,0.40)s; ...' (s = small)."""
        parts = [f"{o.name}@({o.x / self.width:.2f},{o.y / self.height:.2f}){'s' if o.small else ''}"
                 for o in self.objects]
        return f"{self.width}x{self.height} {self.aspect}: " + "; ".join(parts)


def sample_scene(key: str, max_objects: int = 6, scale: float = 1.0, p_small: float = 0.25) -> Scene:
    """The scene of one seed string; resampled (same stream) until every MME category can be asked.
    `max_objects`, `scale` (of normal objects) and `p_small` let training start with easier scenes."""
    rng = random.Random(key)
    while True:
        scene = _sample_once(rng, key, max_objects, scale, p_small)
        if all(_candidates(scene, c) for c in MME_CATEGORIES):
            return scene


def _sample_once(rng: random.Random, key: str, max_objects: int, scale: float, p_small: float) -> Scene:
    aw, ah = rng.choice(ASPECTS)
    long_side = rng.randint(700, 1008)
    width, height = (long_side, round(long_side * ah / aw)) if aw >= ah else (round(long_side * aw / ah), long_side)
    level = rng.choice((rng.randint(45, 80), rng.randint(170, 205)))
    background = tuple(max(0, min(255, level + rng.randint(-8, 8))) for _ in range(3))
    theme = rng.choice(THEMES)
    objects: list[Obj] = []
    for _ in range(rng.randint(1, max_objects)):
        name = rng.choice(theme) if rng.random() < 0.6 else rng.choices(CLASSES, weights=POPULARITY)[0]
        color, shape = name.split(" ")
        small = rng.random() < p_small
        if small:
            size = max(14, round(rng.uniform(0.02, 0.035) * max(width, height)))
        else:
            size = round(scale * rng.uniform(0.14, 0.26) * math.sqrt(width * height))
            size = min(size, round(0.7 * min(width, height)))
        rgb = tuple(max(0, min(255, c + rng.randint(-12, 12))) for c in COLORS[color])
        for _ in range(40):  # place without overlap (a gap of 8 px)
            half = size / 2
            x = rng.randint(math.ceil(half) + 4, width - math.ceil(half) - 4)
            y = rng.randint(math.ceil(half) + 4, height - math.ceil(half) - 4)
            if all(abs(x - o.x) > half + o.size / 2 + 8 or abs(y - o.y) > half + o.size / 2 + 8 for o in objects):
                objects.append(Obj(shape, color, x, y, size, small, rgb))
                break
    return Scene(key, width, height, background, tuple(objects))


PATTERNS = {"circle": "solid", "square": "hstripes", "triangle": "vstripes", "star": "diagonal", "cross": "checker"}


def scene_version(scene: Scene) -> int:
    """The generator version in the scene's seed string ("shapes/v<version>/..."; 1 if absent)."""
    head = scene.key.split("/")
    return int(head[1][1:]) if len(head) > 1 and head[0] == "shapes" and head[1][:1] == "v" else 1


def draw(scene: Scene, labels: bool = False) -> Image.Image:
    """The RGB image, or with `labels` an "L" image whose pixels are 1 + the index of the object
    drawn there (0 = background): dense targets for training. Scenes of version >= 2 get the
    fill patterns."""
    if not labels and scene_version(scene) >= 2:
        return _draw_patterned(scene)
    if labels:
        image = Image.new("L", (scene.width, scene.height), 0)
    else:
        image = Image.new("RGB", (scene.width, scene.height), scene.background)
    pen = ImageDraw.Draw(image)
    for index, o in enumerate(scene.objects):
        fill = index + 1 if labels else o.rgb
        r = o.size / 2
        x, y = o.x, o.y
        if o.shape == "circle":
            pen.ellipse((x - r, y - r, x + r, y + r), fill=fill)
        elif o.shape == "square":
            q = 0.85 * r
            pen.rectangle((x - q, y - q, x + q, y + q), fill=fill)
        elif o.shape == "triangle":
            pen.polygon([(x, y - r), (x - r, y + 0.8 * r), (x + r, y + 0.8 * r)], fill=fill)
        elif o.shape == "star":
            points = []
            for i in range(10):
                radius = r if i % 2 == 0 else 0.42 * r
                angle = -math.pi / 2 + i * math.pi / 5
                points.append((x + radius * math.cos(angle), y + radius * math.sin(angle)))
            pen.polygon(points, fill=fill)
        elif o.shape == "cross":
            t = 0.2 * o.size
            pen.rectangle((x - r, y - t, x + r, y + t), fill=fill)
            pen.rectangle((x - t, y - r, x + t, y + r), fill=fill)
    return image


def _pattern(kind: str, box: tuple[int, int, int, int], period: int, rgb, dark) -> Image.Image:
    """The fill of one object's bounding box; the pattern's phase follows image coordinates."""
    x0, y0, x1, y1 = box
    tile = Image.new("RGB", (x1 - x0, y1 - y0), rgb)
    pen = ImageDraw.Draw(tile)
    half = period // 2
    if kind == "hstripes":
        for y in range(y0 - y0 % period, y1, period):
            pen.rectangle((0, y - y0, x1 - x0, y - y0 + half - 1), fill=dark)
    elif kind == "vstripes":
        for x in range(x0 - x0 % period, x1, period):
            pen.rectangle((x - x0, 0, x - x0 + half - 1, y1 - y0), fill=dark)
    elif kind == "diagonal":  # stripes along x + y = const
        h = y1 - y0
        for d in range((x0 + y0) - (x0 + y0) % period - period, x1 + y1 + period, period):
            a = d - x0 - y0  # the stripe's start on the tile's top row
            pen.polygon([(a, 0), (a + half, 0), (a + half - h, h), (a - h, h)], fill=dark)
    elif kind == "checker":
        for y in range(y0 - y0 % period, y1, half):
            for x in range(x0 - x0 % period, x1, half):
                if ((x // half) + (y // half)) % 2:
                    pen.rectangle((x - x0, y - y0, x - x0 + half - 1, y - y0 + half - 1), fill=dark)
    return tile


def _draw_patterned(scene: Scene) -> Image.Image:
    image = Image.new("RGB", (scene.width, scene.height), scene.background)
    mask = draw(scene, labels=True)
    period = max(6, round(max(scene.width, scene.height) / 84))
    for index, o in enumerate(scene.objects):
        r = math.ceil(o.size / 2) + 1
        box = (max(0, o.x - r), max(0, o.y - r), min(scene.width, o.x + r + 1), min(scene.height, o.y + r + 1))
        dark = tuple(round(0.45 * c) for c in o.rgb)
        fill = _pattern(PATTERNS[o.shape], box, period, o.rgb, dark)
        image.paste(fill, box[:2], mask.crop(box).point(lambda v, k=index + 1: 255 if v == k else 0))
    return image


# -- MME-style question pairs (one yes, one no per image and category) --------------------------
@dataclass(frozen=True)
class QA:
    question: str
    answer: str  # "yes" | "no"
    target: Optional[Obj]  # the object the question is about, None when it is absent

    def meta(self) -> dict:
        return {"target": self.target.name if self.target else None, "small": bool(self.target and self.target.small)}


def _candidates(scene: Scene, category: str) -> list:
    objs = scene.objects
    if category == "existence":
        return sorted(scene.classes) if len({o.shape for o in objs}) < len(SHAPES) else []
    if category == "color":
        return [o for o in objs if scene.count(o.shape) == 1]
    if category == "count":
        return sorted({o.shape for o in objs})
    if category == "position":
        unique = [o for o in objs if sum(p.name == o.name for p in objs) == 1]
        return [o for o in unique if o.sides(scene.width, scene.height)]
    raise ValueError(category)


def count_question(n: int, shape: str) -> str:
    if n == 1:
        return f"Is there exactly one {shape} in the image?"
    return f"Are there exactly {NUMBERS[n]} {PLURALS[shape]} in the image?"


def mme_pair(scene: Scene, category: str, rng: random.Random) -> tuple[QA, QA]:
    """(yes question, no question) of one MME category about the scene."""
    candidates = _candidates(scene, category)
    if category == "existence":
        present = sorted({o.shape for o in scene.objects})
        # From v2, as in MME, ask about a clearly visible object when there is one; small objects
        # are probed by POPE and the other categories (and sliced by `small`).
        visible = [o for o in scene.objects if not o.small] if scene_version(scene) >= 2 else []
        shape = rng.choice(sorted({o.shape for o in visible}) or present)
        absent = rng.choice([s for s in SHAPES if s not in present])
        same = [o for o in scene.objects if o.shape == shape]
        target = rng.choice([o for o in visible if o.shape == shape] or same)
        return (QA(f"Is there {article(shape)} {shape} in the image?", "yes", target),
                QA(f"Is there {article(absent)} {absent} in the image?", "no", None))
    if category == "color":
        target = rng.choice(candidates)
        other = rng.choice([c for c in COLORS if c != target.color])
        return QA(f"Is the {target.shape} {target.color}?", "yes", target), QA(f"Is the {target.shape} {other}?", "no", target)
    if category == "count":
        shape = rng.choice(candidates)
        n = scene.count(shape)
        wrong = n + 1 if n == 1 else n + rng.choice((-1, 1))
        target = rng.choice([o for o in scene.objects if o.shape == shape])
        return QA(count_question(n, shape), "yes", target), QA(count_question(wrong, shape), "no", target)
    if category == "position":
        target = rng.choice(candidates)
        side = rng.choice(target.sides(scene.width, scene.height))
        template = "Is the {} on the {} of the image?"
        return (QA(template.format(target.name, side), "yes", target),
                QA(template.format(target.name, SIDES[side]), "no", target))
    raise ValueError(f"unknown MME category {category!r}; choose from {', '.join(MME_CATEGORIES)}")


def article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def pope_question(name: str) -> str:
    return f"Is there {article(name)} {name} in the image?"


# -- the describe task: one caption per image ---------------------------------------------------
DESCRIBE_PROMPT = "Please describe this image in detail."  # the CHAIR prompt (OPERA, LLaVA papers)


def caption(scene: Scene) -> str:
    """The reference caption: each class present once, in `CLASSES` order, e.g. "The image shows a
    red circle, a blue square, a green star." Why this form: every next word is a decision about
    the set of classes in the image (is there a class after the last one named?), which a 2-layer
    LM can make from image tokens in any arrangement, while a list in reading order (or "and"
    before the last item) asks it to track positions and count what is left, and tiny models
    trained on that repeat one object. CHAIR counts mentions, recall counts classes; the caption
    names exactly `scene.classes`."""
    names = [f"{article(c)} {c}" for c in CLASSES if c in scene.classes]
    return f"The image shows {', '.join(names)}."
