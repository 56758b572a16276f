"""`python -m evalkit.tools.bench --short-answer`: short-answer VQA rows of the throughput table.

Short answers are prefill-bound like yes/no: VQAv2 and GQA ask 5+ questions per image, so the
feature cache (one vision encode per image) and the shared prefix (the prompt up to and including
the image run once per image) should carry over. The set: `shapes` scenes with VQA-style questions
(how many, what colour, which shape, where), answers scored as `dataset=vqa` scores them, at 1 and
6 questions per image; each model runs it at batch size 1 without cache, batched, and batched with
the feature cache and shared prefix. Columns as the main table: items/s and its ratio to bs=1,
vision encodes per item, padding, and whether the answers equal bs=1's.
"""

from __future__ import annotations

from pathlib import Path

from datasets_adapters import LLAVA_SHORT_ANSWER
from evalkit.types import Item

QUESTIONS = (
    ("How many shapes are there?", lambda s: str(len(s.objects))),
    ("What colour is the {shape}?", lambda s: s.objects[0].color),
    ("What shape is {color}?", lambda s: s.objects[0].shape),
    ("Where is the {name}?", lambda s: (s.objects[0].sides(s.width, s.height) or ["middle"])[0]),
    ("How many {shape}s are there?", lambda s: str(s.count(s.objects[0].shape))),
    ("What is the colour of the largest shape?", lambda s: max(s.objects, key=lambda o: o.size).color),
)


def short_answer_items(n: int, questions_per_image: int) -> list[Item]:
    """n items over n // questions_per_image scenes, questions about one image spread over the list."""
    from datasets_adapters.shapes_scene import draw, sample_scene

    n_images = max(1, n // questions_per_image)
    per_image = []
    for i in range(n_images):
        scene = sample_scene(f"bench-short-{i}")
        image, first = draw(scene), scene.objects[0]
        rows = []
        for q, (template, answer) in enumerate(QUESTIONS[:questions_per_image]):
            question = template.format(shape=first.shape, color=first.color, name=first.name)
            rows.append(Item(id=f"short-{i}-{q}", image=image, question=question, answer=answer(scene),
                             group=f"short-{i}", task="vqa", prompt_question=question + LLAVA_SHORT_ANSWER,
                             meta={"answers": [answer(scene)]}))
        per_image.append(rows)
    return [rows[q] for q in range(questions_per_image) for rows in per_image][:n]


def short_answer_rows(models: list[str], n_items: int, batch_size: int, max_new_tokens: int, repeats: int,
                      scratch: Path) -> list[str]:
    from evalkit.decoding.greedy import Greedy
    from evalkit.models.llava import LlavaModel
    from evalkit.tools.bench_setup import MODELS, checkpoint, measure

    greedy = Greedy(max_new_tokens=max_new_tokens)
    lines = [f"short answers: {n_items} shapes VQA items, greedy max_new_tokens={max_new_tokens}",
             f"{'model':<13}{'q/img':>6}{'bs':>3}{'cache':>9}{'items/s':>9}{'vs bs=1':>8}{'enc/item':>9}"
             f"{'padding':>8}  same as bs=1"]
    for name in [m for m in models if not MODELS[m][1]]:  # the shipped geometries, not the vision-heavy toy
        family = MODELS[name][0]
        model = LlavaModel(name=name, path=str(checkpoint(family, scratch)), family=family, device="cpu")
        for per_image in (1, 6):
            items = short_answer_items(n_items, per_image)
            measure(model, items[:4], 2, greedy, cache="feat+pfx")  # warm-up
            base = None
            for bs, cache in ((1, "-"), (batch_size, "-"), (batch_size, "feat+pfx")):
                result = max((measure(model, items, bs, greedy, cache) for _ in range(repeats)),
                             key=lambda r: r["items_per_s"])
                base = base or result
                lines.append(f"{name:<13}{per_image:>6}{bs:>3}{cache:>9}{result['items_per_s']:>9.1f}"
                             f"{result['items_per_s'] / base['items_per_s']:>7.2f}x{result['encodes']:>9.2f}"
                             f"{result['padding']:>8.1%}  {result['answers'] == base['answers']}")
    return lines
