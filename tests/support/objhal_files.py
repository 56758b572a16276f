"""Files shaped like Object HalBench's for tests: tiny COCO annotations (support.coco_files), a
question file in obj_halbench_300_with_image.jsonl's layout (image_id, question, base64 JPEG) and an
answer file as RLHF-V's muffin_vqa writes it (question_id, prompt, text; no image_id)."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

from PIL import Image

from support.coco_files import write_coco

# image id -> (instance category ids of support.coco_files.CATEGORIES, reference captions)
TRUTH = {
    1: ([18, 1], ["A man walks two dogs along the street.", "Dogs and their owner."]),
    2: ([16, 22], ["A baby bird sits on an elephant.", "An adult elephant."]),
    3: ([5, 4], ["Two passenger jets fly over a motor bike."]),
    4: ([70], ["The seat of the toilet is up.", "A white toilet seat."]),
    5: ([32, 1, 46], ["A man wearing a bow tie with a wine glass."]),
    6: ([67], ["A coffee table in a living room."]),
    7: ([], ["An empty street at night."]),
    8: ([7, 6], ["A passenger train next to the buses."]),
    9: ([88, 72], ["A teddy bear in front of a television."]),
}
# (image id, prompt, answer text) in RLHF-V's answer-file order
ANSWERS = [
    (1, "Describe this image in detail.", "Assistant: A man and a woman walking their dogs past a parked bicycle and a cat."),
    (2, "What is in the image?", "A baby elephant next to an adult elephant, and a baby bird; the birds are flying."),
    (3, "Describe the image.", "Passenger jets and a passenger train; the airplanes are parked near motor bikes."),
    (4, "Describe the image.", "The toilet seat is up and a chair stands near the toilet; there is a seat in the corner."),
    (5, "Describe it.", "A gentleman in a bow tie holds a wine glas, with his brother drinking from wine glasses."),
    (6, "Describe it.", "A coffee table with a remote control, a remote and a laptop computer on it."),
    (7, "What do you see?", "An empty street at night with no one around."),
    (8, "Describe the scene.", "Two buses, three trains and a truck on the train track near the home plate."),
    (9, "Describe the scene.", "Un café où un ours en peluche — a teddy bear 🧸 — sits beside a TV… Ünïcode dogs."),
    (1, "Is there anything else?", "Assistant:"),
    (2, "Describe.", "Elephants: an elephant Assistant: with birds, giraffes and zebras, and one cow."),
]


def jpeg_base64(color) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buffer, format="JPEG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def write_files(tmp_path: Path) -> tuple[Path, Path, Path]:
    """COCO annotations, the question file (obj_halbench_300_with_image.jsonl's layout) and an answer
    file as RLHF-V's muffin_vqa writes it (question_id, prompt, text; no image_id)."""
    coco = write_coco(tmp_path / "coco", TRUTH)
    questions = tmp_path / "obj_halbench_300_with_image.jsonl"
    questions.write_text("".join(json.dumps({"image_id": i, "question": q, "image": jpeg_base64((20 * k, 0, 0))}) + "\n"
                                 for k, (i, q, _) in enumerate(ANSWERS)))
    # <model>/<x>/<step>/file: the folder depth summarize_gpt_obj_halbench_review.py unpacks its path into
    answers = tmp_path / "model" / "x" / "step-1" / "obj_halbench_answer.jsonl"
    answers.parent.mkdir(parents=True)
    answers.write_text("".join(json.dumps({"question_id": k, "prompt": q, "text": t, "model_id": "m"}) + "\n"
                               for k, (_, q, t) in enumerate(ANSWERS)))
    return coco, questions, answers
