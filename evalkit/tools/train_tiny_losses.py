"""What the tiny-checkpoint training (`train_tiny`) feeds the model and the losses it takes: images
and prompts prepared as evaluation prepares them, the scene-token targets, the shared-prefix
question/caption loss and the patch-embedding pretraining stage.

Each image's questions (yes/no, answered "Yes"/"No" + EOS; multiple choice, answered with the
option letter + EOS; short answers, answered with one word + EOS) and, with `describe`, its caption
(the describe task's prompt, answered with `shapes_scene.caption` + EOS) share the prompt up to the
last image token: that prefix runs once and its KV cache is repeated for every row."""

from __future__ import annotations

import itertools
import logging
import random
from typing import NamedTuple, Optional, Sequence

import numpy as np
import torch
from PIL import Image

from datasets_adapters import LLAVA_SHORT_ANSWER
from datasets_adapters.shapes import TrainExample, TrainRow, train_examples
from datasets_adapters.shapes_scene import COLORS, DESCRIBE_PROMPT, SHAPES, SIDES, caption, draw
from evalkit.images import expand_to_square
from evalkit.models.prefix import cache_keyword, output_cache
from evalkit.models.prompts import render_prompt

log = logging.getLogger("evalkit.tools.train_tiny")
PROMPT = "llava_eval"


class Losses(NamedTuple):
    """Summed losses of one image: the answers (yes/no, then the worded rows; answer + EOS tokens),
    whether each answer's first token was right, and the caption (0 / 0 tokens without `describe`)."""
    answer: torch.Tensor
    answer_tokens: int
    correct: list
    caption: torch.Tensor
    caption_tokens: int


class Encoder:
    """Images and prompts as evaluation prepares them, split into the shared prefix (up to the
    last image token) and each question's suffix."""

    def __init__(self, processor, family: str):
        self.processor, self.family = processor, family
        self.tokenizer = processor.tokenizer
        self.image_id = self.tokenizer.convert_tokens_to_ids(processor.image_token)
        probe = self.prompt("Is there a red circle in the image?")
        base = self.tokenizer(probe)["input_ids"]
        self.answer_ids = {}
        for answer in ("yes", "no"):  # the answer as a continuation of the prompt, then EOS
            ids = self.tokenizer(probe + " " + answer.capitalize())["input_ids"]
            assert ids[: len(base)] == base, "answer tokens must extend the prompt tokens"
            self.answer_ids[answer] = ids[len(base):] + [self.tokenizer.eos_token_id]
        self._probe, self._probe_ids = probe, base

    def target_ids(self, answer: str) -> list[int]:
        """A worded answer (option letter, short answer) as a continuation of a prompt, then EOS.
        Every prompt ends with the template's assistant tag, so this does not depend on the prompt."""
        if answer not in self.answer_ids:
            ids = self.tokenizer(self._probe + " " + answer)["input_ids"]
            assert ids[: len(self._probe_ids)] == self._probe_ids, "answer tokens must extend the prompt tokens"
            self.answer_ids[answer] = ids[len(self._probe_ids):] + [self.tokenizer.eos_token_id]
        return self.answer_ids[answer]

    def prompt(self, question: str) -> str:
        return render_prompt(PROMPT, question + LLAVA_SHORT_ANSWER, self.processor)

    def row_prompt(self, row: TrainRow) -> str:
        """A worded row's prompt: its prompt question already carries its instruction or suffix."""
        return render_prompt(PROMPT, row.prompt_question, self.processor)

    def describe_prompt(self) -> str:
        """The describe task's prompt: no short-answer suffix (the evaluation asks it the same way)."""
        return render_prompt(PROMPT, DESCRIBE_PROMPT, self.processor)

    def caption_ids(self, text: str) -> list[int]:
        """The caption as a continuation of the describe prompt, then EOS."""
        probe = self.describe_prompt()
        base = self.tokenizer(probe)["input_ids"]
        ids = self.tokenizer(probe + " " + text)["input_ids"]
        assert ids[: len(base)] == base, "caption tokens must extend the prompt tokens"
        return ids[len(base):] + [self.tokenizer.eos_token_id]

    def image(self, image: Image.Image) -> Image.Image:
        if self.family == "llava15":
            return expand_to_square(image, self.processor.image_processor.image_mean)
        return image

    def encode(self, image: Image.Image, questions: Sequence[str], describe: bool = False,
               rows: Sequence[TrainRow] = ()) -> tuple[dict, list[list[int]]]:
        """(pixel inputs for one image, the full prompt ids of each question, then of each worded
        row, then with `describe` those of the describe prompt)."""
        out = self.processor(images=[self.image(image)], text=[self.prompt(questions[0])], return_tensors="pt")
        n_image = int((out["input_ids"][0] == self.image_id).sum())
        pixels = {k: out[k] for k in ("pixel_values", "image_sizes") if k in out}
        token = self.processor.image_token
        prompts = self.prompts(questions, rows, describe)
        texts = [p.replace(token, token * n_image) for p in prompts]
        ids = [self.tokenizer(t)["input_ids"] for t in texts]
        assert ids[0] == out["input_ids"][0].tolist(), "prompt ids must equal the processor's"
        return pixels, ids

    def prompts(self, questions: Sequence[str], rows: Sequence[TrainRow], describe: bool) -> list[str]:
        return ([self.prompt(q) for q in questions] + [self.row_prompt(r) for r in rows]
                + ([self.describe_prompt()] if describe else []))


class SceneTokens:
    """What an image token should look like to the LM: an object patch is the sum of the input
    embeddings of <image>, its colour, its shape and its side words; a background patch is the
    <image> embedding. Stage 1 trains the LM on scenes written this way (one token per object,
    short sequences: fast), stage 2 pulls the projector's output towards them patch by patch."""

    def __init__(self, tokenizer):
        words = list(COLORS) + list(SHAPES) + list(SIDES)
        self.ids = {w: tokenizer(w, add_special_tokens=False)["input_ids"] for w in words}
        self.image_id = tokenizer.convert_tokens_to_ids("<image>")

    def vectors(self, embed: torch.Tensor, scene) -> tuple[torch.Tensor, list[torch.Tensor]]:
        background = embed[self.image_id]
        objects = []
        for o in scene.objects:
            ids = self.ids[o.color] + self.ids[o.shape] + [i for side in o.sides(scene.width, scene.height) for i in self.ids[side]]
            objects.append(background + embed[ids].sum(0))
        return background, objects

    def sequence(self, embed: torch.Tensor, scene) -> torch.Tensor:
        """Stage 1: objects in a random order, 1-3 background tokens around each. Random, not
        reading order: an image's object patches come in raster order, several per object, so
        nothing learnt here may depend on where in the sequence an object stands."""
        background, objects = self.vectors(embed, scene)
        rng = random.Random(scene.key + "/tokens")
        order = list(range(len(objects)))
        rng.shuffle(order)
        rows = [v for i in order for v in [background] * rng.randint(1, 3) + [objects[i]]]
        return torch.stack(rows + [background] * rng.randint(1, 3))

    def patch_targets(self, embed: torch.Tensor, scene, cells: torch.Tensor) -> torch.Tensor:
        """Stage 2: the target of every patch ([tiles, 576] object index or -1 -> [tiles, 576, D])."""
        background, objects = self.vectors(embed.detach(), scene)
        table = torch.stack([*objects, background])
        return table[cells]  # index -1 is the background row


def patch_cells(scene, family: str, processor, grid: int = 24, cover: float = 0.2) -> torch.Tensor:
    """The object under each vision patch ([tiles, 576]; -1 = background), found by sending a label
    image through the same geometry as the pixels (LLaVA's square padding or the anyres tiling)."""
    labels = draw(scene, labels=True)
    if family == "llava15":
        side = max(scene.width, scene.height)
        square = Image.new("L", (side, side), 0)
        square.paste(labels, ((side - scene.width) // 2, (side - scene.height) // 2))
        tiles = np.asarray(square.resize((grid * 14, grid * 14), Image.NEAREST))[None]
    else:
        out = processor.image_processor(images=[labels.convert("RGB")], resample=Image.NEAREST, do_rescale=False,
                                        do_normalize=False, return_tensors="np")
        tiles = out["pixel_values"][0][:, 0].astype(np.int64)
    n = tiles.shape[0]
    blocks = tiles.reshape(n, grid, 14, grid, 14).transpose(0, 1, 3, 2, 4).reshape(n, grid * grid, 196)
    cover_k = np.stack([(blocks == k + 1).mean(-1) for k in range(len(scene.objects))], -1)
    return torch.from_numpy(np.where(cover_k.max(-1) >= cover, cover_k.argmax(-1), -1))


def prefix_length(row: list[int], image_id: int) -> int:
    """Tokens up to and including the last image token: the part every question of an image shares."""
    return max(i for i, t in enumerate(row) if t == image_id) + 1


def qa_loss(model, encoder: Encoder, ids: list[list[int]], qas, prefix: dict, caption_text: Optional[str] = None,
            worded: Sequence[TrainRow] = ()) -> Losses:
    """The losses of one image's questions (`ids` rows, answered as `qas` then `worded` say) and, with
    `caption_text`, of its caption (the last row of `ids` is then the describe prompt).
    The prompt up to the last image token runs once (`prefix`: pixels or embeddings); its KV cache
    is repeated for every row, which equals running each row on its own. The worded rows (multiple
    choice prompts are about three times as long as a yes/no one) and the caption row each run as a
    batch of their own so the short questions are not padded to them."""
    from transformers import DynamicCache

    cut = prefix_length(ids[0], encoder.image_id)
    layers = [(layer.keys, layer.values) for layer in output_cache(model(**prefix, use_cache=True)).layers]
    targets = [encoder.answer_ids[qa.answer] for qa in qas] + [encoder.target_ids(r.answer) for r in worded]
    if caption_text is not None:
        targets.append(encoder.caption_ids(caption_text))
    assert len(targets) == len(ids), "one target per row"
    n_yes_no, q = len(qas), len(qas) + len(worded)
    rows = [row[cut:] + target for row, target in zip(ids, targets)]
    per_row, correct, tokens = [], [], []
    for part in (slice(0, n_yes_no), slice(n_yes_no, q), slice(q, len(rows))):
        part_rows, part_targets = rows[part], targets[part]
        n = len(part_rows)
        if n == 0:
            continue
        cache = DynamicCache(config=model.config)
        for index, (k, v) in enumerate(layers):
            cache.update(k.expand(n, *k.shape[1:]), v.expand(n, *v.shape[1:]), index)
        inputs = torch.full((n, max(map(len, part_rows))), encoder.tokenizer.pad_token_id, dtype=torch.long)
        labels = torch.full_like(inputs, -100)
        for r, (row, target) in enumerate(zip(part_rows, part_targets)):
            k = len(target)
            inputs[r, : len(row)] = torch.tensor(row)
            labels[r, len(row) - k - 1: len(row) - 1] = torch.tensor(row[-k:])
        # Right padding is harmless here: pads come after every supervised position (causal attention).
        logits = model(input_ids=inputs, use_cache=False, **{cache_keyword(model): cache}).logits
        per_token = torch.nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten(), reduction="none")
        per_row.append(per_token.view(n, -1).sum(1))
        first = (labels != -100).float().argmax(dim=1)
        rows_ = torch.arange(n)
        correct += (logits[rows_, first].argmax(-1) == labels[rows_, first]).tolist()
        tokens += (labels != -100).sum(1).tolist()
    per_row = torch.cat(per_row)
    caption_loss = per_row[q:].sum() if caption_text is not None else torch.zeros(())
    return Losses(per_row[:q].sum(), int(sum(tokens[:q])), correct[:q], caption_loss, int(sum(tokens[q:])))


def question_kind(question: str) -> str:
    """existence | color | count | position | object (POPE-style), from the templates."""
    words = question.split()
    if "exactly" in words:
        return "count"
    if " on the " in question:
        return "position"
    if words[1] == "the":
        return "color"
    return "existence" if len(words) == 7 else "object"


def image_loss(model, encoder: Encoder, example: TrainExample, describe: bool = False) -> Losses:
    pixels, ids = encoder.encode(example.image, [qa.question for qa in example.qas], describe=describe, rows=example.rows)
    cut = prefix_length(ids[0], encoder.image_id)
    return qa_loss(model, encoder, ids, example.qas, {"input_ids": torch.tensor([ids[0][:cut]]), **pixels},
                   caption(example.scene) if describe else None, worded=example.rows)


def text_loss(model, encoder: Encoder, tokens: SceneTokens, example: TrainExample, describe: bool = False) -> Losses:
    """Stage 1: the scene written as one token per object where the image goes."""
    embed = model.get_input_embeddings()
    sequence = tokens.sequence(embed.weight, example.scene)
    token = encoder.processor.image_token
    prompts = encoder.prompts([qa.question for qa in example.qas], example.rows, describe)
    ids = [encoder.tokenizer(p.replace(token, token * len(sequence)))["input_ids"] for p in prompts]
    cut = prefix_length(ids[0], encoder.image_id)
    prefix = torch.tensor([ids[0][:cut]])
    embeds = embed(prefix).clone()
    embeds[0, prefix[0] == encoder.image_id] = sequence
    return qa_loss(model, encoder, ids, example.qas, {"inputs_embeds": embeds}, caption(example.scene) if describe else None,
                   worded=example.rows)


def pretrain_patches(model, encoders: Sequence[Encoder], seed: int, steps: int, n_images: int) -> dict:
    """Stage "patches": the patch embedding (a linear map of each 14x14 patch) learns to separate
    colours and fill patterns, through a throwaway MLP head, on single patches of pooled images
    (cheap: no transformer). From scratch, the tower otherwise needs far more images than the
    budget allows before shape questions leave chance. Patches are pooled over the geometries of
    `encoders` (anyres tiles show the patterns at other scales than the padded 336-px view)."""
    conv = model.model.vision_tower.embeddings.patch_embedding
    width = conv.out_channels
    patches, labels = [], []
    for encoder in encoders:
        for example in itertools.islice(train_examples(seed=seed, start=10**7), n_images):  # a range stage 2 never reaches
            pixels, _ = encoder.encode(example.image, ["?"])
            tiles = pixels["pixel_values"].reshape(-1, 3, 336, 336)
            cells = patch_cells(example.scene, encoder.family, encoder.processor)
            shape, color = torch.full(cells.shape, len(SHAPES)), torch.full(cells.shape, len(COLORS))  # background
            for k, o in enumerate(example.scene.objects):
                shape[cells == k], color[cells == k] = SHAPES.index(o.shape), list(COLORS).index(o.color)
            patches.append(tiles.reshape(-1, 3, 24, 14, 24, 14).permute(0, 2, 4, 1, 3, 5).reshape(-1, 3 * 14 * 14))
            labels.append(torch.stack([shape.flatten(), color.flatten()], -1))
    x, y = torch.cat(patches), torch.cat(labels)
    on_object = torch.nonzero(y[:, 0] < len(SHAPES))[:, 0]
    head = torch.nn.Sequential(torch.nn.LayerNorm(width), torch.nn.Linear(width, 2 * width), torch.nn.GELU(),
                               torch.nn.Linear(2 * width, len(SHAPES) + len(COLORS) + 2))
    optimizer = torch.optim.AdamW([conv.weight, *head.parameters()], lr=2e-3)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):  # half object patches (few), half any
        rows = torch.cat([on_object[torch.randint(len(on_object), (128,), generator=generator)],
                          torch.randint(len(x), (128,), generator=generator)])
        out = head(x[rows] @ conv.weight.reshape(width, -1).T)
        loss = (torch.nn.functional.cross_entropy(out[:, : len(SHAPES) + 1], y[rows, 0])
                + torch.nn.functional.cross_entropy(out[:, len(SHAPES) + 1:], y[rows, 1]))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    with torch.no_grad():
        out = head(x[on_object] @ conv.weight.reshape(width, -1).T)
        shape_acc = (out[:, : len(SHAPES) + 1].argmax(-1) == y[on_object, 0]).float().mean().item()
    log.info("patches: %d patches of %d images x %d geometries, object-patch pattern accuracy %.3f", len(x), n_images,
             len(encoders), shape_acc)
    return {"stage": "patches", "steps": steps, "loss": loss.item(), "pattern_acc": round(shape_acc, 3)}
