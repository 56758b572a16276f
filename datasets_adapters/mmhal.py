"""MMHal-Bench (Sun et al., LLaVA-RLHF 2023): 96 questions over 8 question types (attribute,
adversarial, comparison, counting, relation, environment, holistic, other), rated 0-6 by an LLM that
sees the image's contents, the question, a human answer and the model's answer.

Source: the official `response_template.json` (question_type, question_topic, image_id, image_src,
image_content, question, gt_answer) and the images (`image_path` of a record, else the file name of
its `image_src` under `dataset.image_dir`, default `images/` beside the json). The model is asked the
question as released (LLaVA-RLHF's model_vqa_mmhal.py with --test-prompt '', up to 1024 tokens).

Judge: `Eval/eval_gpt_mmhal.py` of llava-rlhf/LLaVA-RLHF exactly: its template, one user message,
temperature 0.0, no max_tokens; the rating is the one s in 0..6 with "rating: s" in the lower-cased
reply; zero or several found is rating 0 (its fallback, counted as a parse failure). Summary as
there and in `summarize_gpt_mmhal.py`: average rating, hallucination rate (rating < 3) and the
average per question type (the official script takes the type as index mod 8 of the released
order; evalkit reads each record's question_type, the same for the released file).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import pandas as pd

from evalkit.benchmark import OVERALL, Benchmark, Headline, ImportRules, TaskResult
from evalkit.config import DatasetConfig
from evalkit.errors import DatasetError
from evalkit.tasks.judged import UNJUDGED_NOTE, Ask, JudgedTask, Rating, imported_rows, judged_counts
from evalkit.types import Item

RECORD_KEYS = ("question_type", "image_content", "question", "gt_answer")
# eval_gpt_mmhal.py's `template`, verbatim (filled with str.format as there). Licence: that script is
# GPL-3.0 (LLaVA-RLHF); this string is the benchmark's judge prompt, carried as data so requests equal
# the official ones. The benchmark's Apache-2.0 dataset repository (Shengcao1006/MMHal-Bench,
# eval_gpt4.py) has a multi-round variant of it, not the same text. The scripts themselves are used
# only as test fixtures (tests/support/mmhal), never shipped in the package.
TEMPLATE = '''Please act as an impartial and objective judge and evaluate the quality of the response provided by a Large Multimodal Model (LMM) to the user question. Your evaluation should be mainly based on whether the response is informative, and whether the response contains any hallucination. Hallucination, in this context, refers to a situation where the LMM generates a response that includes information not present or implied in the image or previous conversation. A hallucination could be a false claim about an object, action, emotion, or any other detail that is not grounded in the image.

For clarity, consider these examples:

### Example 1:
- Image Contents: Lynx, Cat
- Question: How many cats can you see in this image?
- Standard Human-Generated Answer: There are two cats visible in the image.
- LMM Response to Evaluate: There is one cat in the image.
- Analysis: The LMM's response is false because it claims there is only one cat in the image, when in fact there are two.
- Hallucination: Yes.

### Example 2:
- Image Contents: Tree, Plant, Panda, Animal
- Question: What can you see from this photo?
- Standard Human-Generated Answer: In this photo we can see branches. We can see a panda on a branch. The background is blurry.
- LMM Response to Evaluate: In the photo, I can see a large black and white panda sitting on a tree branch. The image captures the panda's unique appearance and its natural habitat, showcasing the beauty and rarity of these animals.
- Analysis: The LMM's response is not false because it does not make any false claims about the image contents. For example, it does not claim that the panda is eating bamboo.
- Hallucination: No.

### Example 3:
- Image Contents: Fashion accessory, Mammal, Dog, Umbrella
- Question: Describe this image in details.
- Standard Human-Generated Answer: In this picture I can see a dog laying under a yellow umbrella on a beach, and there is a rope on the right side. In the background I can see few persons talking or lying. At the top of the image, I can see the blue and clear sky.
- LMM Response to Evaluate: The image features a brown dog laying on the sand at the beach, underneath a yellow umbrella. The dog is positioned near the water, and there are people in the background. The beach is sandy, and the sun is shining, creating a pleasant atmosphere. The dog is enjoying the shade provided by the umbrella, which is a common way to protect pets from the sun's harmful rays. The presence of people in the background suggests that the beach is a popular spot for leisure activities, such as sunbathing, swimming, and relaxing.
- Analysis: The LMM's response is false because it claims that the dog is positioned near the water, but there is no water in the image.
- Hallucination: Yes.

### Example 4:
- Image Contents: Clothing, Luggage and bags, Man, Building, Woman, Person
- Question: Where is this photo taken?
- Standard Human-Generated Answer: From the slogan "Welcome to Houston, Texas", we can infer that this photo is taken at an airport in Houston, Texas.
- LMM Response to Evaluate: This photo is taken at an airport, specifically at the entrance of a terminal. However, the specific location of this airport cannot be determined from the image.
- Analysis: Although the LMM's response does not explicitly mention the location "Houston, Texas" and does not perfectly answer the question, it makes no false claims about the image contents. Therefore, this response is not considered hallucination. It is OK if the LMM fails to directly answer the question, expresses uncertainty, or cannot include all the objects or details in the human-generated answer.
- Hallucination: No.

### Example 5:
- Image Contents: Tree, Tower
- Question: What environmental concerns are involved in this photo?
- Standard Human-Generated Answer: This photo shows a smokestack emitting smoke. It may cause severe air pollution which threatens human health.
- LMM Response to Evaluate: In the photo, there are several environmental concerns related to the smokestack emitting smoke. The smoke from the smokestack is a byproduct of industrial processes, which can contribute to air pollution, climate change, and negative impacts on human health. The smoke contains harmful pollutants, such as particulate matter, sulfur dioxide, nitrogen oxides, and carbon monoxide, which can lead to respiratory problems, heart disease, and other health issues. Additionally, the smoke contributes to the greenhouse effect, which can lead to global warming and climate change. The smokestack's emissions also affect the environment, as they can harm wildlife, vegetation, and ecosystems. Therefore, it is essential to address these environmental concerns by implementing measures to reduce emissions and promote sustainable practices in industrial processes.
- Analysis: Although the LMM's response is significantly longer than the standard human-generated answer, it does not contain any false claims about the image contents. Instead, it provides additional general information about the environmental concerns, which can be inferred from the smoke emission. Such detailed analysis or reasoning should be considered as a positive aspect, as long as it contains no false claims.
- Hallucination: No.

With these examples in mind, please help me evaluate whether the response by the LMM is informative, and whether hallucination exists in it, based on the comparison between the LMM's response and the factual information provided in the image contents, question, and the standard human-generated answer below.

Please note that the standard human-generated answer may only contain factual information but may not give a detailed analysis. Also, the standard human-generated answer may not be completely comprehensive in describing all the objects and their attributes, so please be a bit more cautious during evalutation. LMM's detailed analysis or reasoning should be encouraged.

To evaluate the LMM responses, first, begin your evaluation by providing a short explanation. Second, after providing your explanation, you must rate the response by choosing from the following options:
- Rating: 6, very informative with good analysis or reasoning, no hallucination
- Rating: 5, very informative, no hallucination
- Rating: 4, somewhat informative, no hallucination
- Rating: 3, not informative, no hallucination
- Rating: 2, very informative, with hallucination
- Rating: 1, somewhat informative, with hallucination
- Rating: 0, not informative, with hallucination

### Image Contents
{}

### Question
{}

### Standard Human-Generated Answer
{}

### LMM Response to Evaluate
{}
'''


def rating_of(review: str) -> Optional[int]:
    """The official rating: the single s in 0..6 with 'rating: s' in the lower-cased review; None
    when zero or several are found (the official script then counts 0)."""
    found = [s for s in range(7) if f'rating: {s}' in review.lower()]
    return found[0] if len(found) == 1 else None


def response_rows(records: Sequence[dict], questions: Sequence[Any], path: Any) -> Optional[list[dict]]:
    """The official response file (response_template.json's records with model_answer, as
    model_vqa_mmhal.py writes it) as rows; None for another format."""
    if not records or not all("model_answer" in r and "image_content" in r for r in records):
        return None
    items = [item_of(n, r, Path(path).parent / "images", "") for n, r in enumerate(records)]
    return imported_rows(items, {str(n): r["model_answer"] for n, r in enumerate(records)}, path)


class MMHalTask(JudgedTask):
    name = "mmhal"
    rules = {"judge": lambda text, *_: text}
    official_rule = "judge"
    judge_temperature = 0.0
    judge_max_tokens = None  # the official request sets none
    judge_template = TEMPLATE
    max_new_tokens = 1024
    headline = (Headline("mmhal_score", format="points"),
                Headline("mmhal_hallucination_rate", direction="lower", format="percent"))
    columns = ("n", "score", "hallucination_rate", "n_unjudged", "n_parse_failures", "n_error")
    formats = {"score": "points", "hallucination_rate": "percent", "n": "count", "n_unjudged": "count",
               "n_parse_failures": "count", "n_error": "count"}
    category_values = ("score", "hallucination_rate")
    imports = ImportRules(own_format="mmhal_responses", own_rows=response_rows)
    note = ("MMHal-Bench: average rating 0-6 and hallucination rate (rating < 3) as eval_gpt_mmhal.py; a review "
            "with zero or several ratings is 0 as there (n_parse_failures); " + UNJUDGED_NOTE)

    def next_ask(self, row: Mapping[str, Any], replies: Sequence[str], base_temperature: Optional[float]
                 ) -> Optional[Ask]:
        if replies:
            return None
        meta = row["meta"]
        text = TEMPLATE.format(", ".join(meta["image_content"]), meta["question"], meta["gt_answer"], row["text"])
        return Ask(messages=({"role": "user", "content": text},), temperature=base_temperature,
                   max_tokens=self.judge_max_tokens)

    def rate(self, row: Mapping[str, Any], replies: Sequence[str]) -> Rating:
        rating = rating_of(replies[0])
        return Rating(value=float(0 if rating is None else rating), parsed=rating is not None)

    def is_good(self, score: float) -> bool:
        return bool(score == score and score >= 3)  # no hallucination

    def metrics(self, rows: pd.DataFrame) -> TaskResult:
        table = []
        for category in [*dict.fromkeys(rows["category"]), OVERALL]:
            part = rows if category == OVERALL else rows[rows["category"] == category]
            counts = judged_counts(part)
            complete = counts["n_unjudged"] == 0 and len(part) > 0
            # Per grading run, then the mean over runs (one run: the official numbers).
            ratings = [list(r) for r in part["judge_ratings"]]
            score = rate = None
            if complete:
                runs = range(len(ratings[0]))
                score = sum(sum(r[k] for r in ratings) / len(ratings) for k in runs) / len(runs)
                rate = sum(sum(1 for r in ratings if r[k] < 3) / len(ratings) for k in runs) / len(runs)
            table.append({"category": category, "n": counts["n"], "score": score, "hallucination_rate": rate,
                          "n_unjudged": counts["n_unjudged"], "n_parse_failures": counts["n_parse_failures"],
                          "n_error": counts["n_error"]})
        overall = table[-1]
        return TaskResult(pd.DataFrame(table), {"mmhal_score": overall["score"],
                                                "mmhal_hallucination_rate": overall["hallucination_rate"],
                                                "mmhal_parse_failures": overall["n_parse_failures"],
                                                "n_unjudged": overall["n_unjudged"]})


@dataclass
class MMHalConfig(DatasetConfig):
    _target_: str = "datasets_adapters.mmhal.MMHalDataset"
    name: str = "mmhal"
    path: str = "MMHal-Bench/response_template.json"  # the official question file
    image_dir: Optional[str] = None  # where the images are (default: images/ beside the json)
    question_suffix: str = ""  # model_vqa_mmhal.py is run with --test-prompt ''


class MMHalDataset(Benchmark):
    tasks = (MMHalTask(),)
    schema = MMHalConfig

    def load(self) -> list[Item]:
        path = Path(self.settings.path)
        image_dir = Path(self.settings.image_dir) if self.settings.image_dir else path.parent / "images"
        if not path.is_file():
            raise DatasetError(f"mmhal: {path} not found (dataset.path: the official response_template.json)")
        try:
            records = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise DatasetError(f"mmhal: {path}: not valid JSON ({exc})") from None
        return [item_of(n, record, image_dir, self.settings.question_suffix, path) for n, record in enumerate(records)]


def item_of(n: int, record: dict, image_dir: Path, question_suffix: str, source: Any = "") -> Item:
    missing = [k for k in RECORD_KEYS if k not in record]
    if missing:
        raise DatasetError(f"mmhal: {source}: record {n} lacks {missing}")
    image = record.get("image_path") or str(image_dir / str(record.get("image_src", "")).split("/")[-1])
    return Item(id=str(n), image=image, question=record["question"], answer=record["gt_answer"],
                category=record["question_type"], task=MMHalTask.name,
                prompt_question=record["question"] + question_suffix,
                meta={"image_content": list(record["image_content"]), "question": record["question"],
                      "gt_answer": record["gt_answer"], "question_topic": record.get("question_topic")})
