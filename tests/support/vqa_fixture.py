"""Short-answer benchmark files in the official formats, written by the tests, with tricky answers:
numbers as words and digits with periods, articles, plurals, contractions, punctuation, empty answers,
"unanswerable", OCR strings with punctuation and case. Each file is what the official evaluators read
(VQA questions / annotations json, TextVQA_0.5.1_val.json, GQA questions json, VizWiz val.json) plus
LLaVA's question and answer JSONL files."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

# (question, question_type, answer_type, ten human answers)
VQA_QUESTIONS = [
    ("How many dogs are there?", "how many", "number", ["2"] * 10),
    ("How many cats are there?", "how many", "number", ["2"] * 8 + ["two", "3"]),
    ("Is the dog sleeping?", "is the", "yes/no", ["yes"] * 7 + ["no"] * 3),
    ("What animal is this?", "what animal is", "other", ["dog"] * 4 + ["a dog"] * 3 + ["dogs"] * 3),
    ("What is on the sign?", "what is on the", "other", ["don't walk"] * 5 + ["dont walk"] * 3 + ["walk"] * 2),
    ("Is it raining?", "is it", "yes/no", ["no"] * 10),
    ("What color is the car?", "what color is the", "other", ["red"] * 2 + ["Red."] * 2 + ["dark red"] * 6),
    ("What brand is it?", "what brand", "other", ["coca-cola"] * 3 + ["coca cola"] * 3 + ["coke"] * 4),
    ("How many people?", "how many", "number", ["1,000"] * 4 + ["1000"] * 3 + ["many"] * 3),
    ("What time is it?", "what time", "other", ["10:30"] * 5 + ["10:30 am"] * 5),
    ("Is this a man's hat?", "is this a", "yes/no", ["yes"] * 10),
    ("What is he holding?", "what is he", "other", ["the man's hat"] * 3 + ["hat"] * 7),
]
# A prediction per question and model "run": hits, near misses, normalisation traps.
PREDICTIONS = [
    ["Two.", "Two.", "Yes!", "a dog", "Don't walk", "no", "red", "Coca-Cola", "1,000", "10:30", "Yes", "Hat."],
    ["2", "two", "yes", "dogs", "dont walk", "No.", "Dark red!", "coke", "1000", "10:30 AM", "yes", "the man's hat"],
    ["", "3", "unanswerable", "Dog.", "walk", "no\n", "RED", "coca cola", "many", "ten thirty", "no", "a hat"],
]

TEXTVQA = [  # (question, ocr tokens, ten answers)
    ("what brand is this camera?", ["DAKOTA", "digital", "single-use"], ["dakota"] * 6 + ["Dakota Digital"] * 4),
    ("what does the sign say?", ["STOP", "ALL-WAY"], ["stop"] * 9 + ["STOP!"]),
    ("what is the price?", ["$5.00", "SALE"], ["$5.00"] * 3 + ["5.00"] * 3 + ["5"] * 4),
    ("what is the website?", ["www.example.com"], ["www.example.com"] * 7 + ["example.com"] * 3),
    ("what number is on the jersey?", [], ["23"] * 8 + ["twenty three"] * 2),
    ("who wrote this book?", ["J.K.", "Rowling"], ["j.k. rowling"] * 5 + ["jk rowling"] * 3 + ["rowling"] * 2),
]
TEXTVQA_PREDICTIONS = ["Dakota", "STOP.", "$5.00", "www.example.com", "twenty three", "J.K. Rowling"]

GQA = [  # (question, answer, structural, semantic)
    ("Is it overcast?", "no", "verify", "global"),
    ("Which color is the car?", "red", "query", "attr"),
    ("Are there both cars and trucks?", "yes", "logical", "obj"),
    ("What is the man holding?", "umbrella", "query", "rel"),
    ("Is the cup to the left or right of the plate?", "left", "choose", "rel"),
    ("Which is bigger, the dog or the cat?", "dog", "compare", "obj"),
    ("What kind of animal is it?", "giraffe", "query", "cat"),
]
GQA_PREDICTIONS = ["No.", "Red", "yes", "an umbrella", "Left.", "The dog", "giraffe"]


def write_images(folder: Path, names) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        Image.new("RGB", (32 + 8 * (i % 3), 32), (20 * i % 255, 90, 160)).save(folder / name)


def jsonl(path: Path, rows) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def write_vqav2(root: Path, subtype: str = "val2014") -> dict:
    """Official questions + annotations json, LLaVA's question jsonl, the images; question ids as VQA's."""
    questions, annotations, llava = [], [], []
    for n, (question, qtype, atype, answers) in enumerate(VQA_QUESTIONS):
        image_id, qid = 100 + n // 3, (100 + n // 3) * 1000 + n % 3
        questions.append({"image_id": image_id, "question": question, "question_id": qid})
        annotations.append({"question_type": qtype, "multiple_choice_answer": answers[0], "image_id": image_id,
                            "answer_type": atype, "question_id": qid,
                            "answers": [{"answer": a, "answer_confidence": "yes", "answer_id": i + 1}
                                        for i, a in enumerate(answers)]})
        llava.append({"question_id": qid, "image": f"COCO_{subtype}_{image_id:012d}.jpg",
                      "text": question + "\nAnswer the question using a single word or phrase.", "category": "default"})
    head = {"info": {"description": "test"}, "license": {"name": "test"}, "data_subtype": subtype,
            "task_type": "Open-Ended", "data_type": "mscoco"}
    files = {
        "questions": root / f"v2_OpenEnded_mscoco_{subtype}_questions.json",
        "annotations": root / f"v2_mscoco_{subtype}_annotations.json",
        "llava": root / f"llava_vqav2_mscoco_{subtype}.jsonl",
    }
    root.mkdir(parents=True, exist_ok=True)
    files["questions"].write_text(json.dumps({**head, "questions": questions}))
    files["annotations"].write_text(json.dumps({**head, "annotations": annotations}))
    jsonl(files["llava"], llava)
    write_images(root / subtype, sorted({r["image"] for r in llava}))
    return files


def llava_answers(path: Path, question_file: Path, predictions, prompt_key: str = "text") -> Path:
    """LLaVA's model_vqa_loader output for the questions of a LLaVA question file."""
    rows = [json.loads(line) for line in question_file.read_text().splitlines()]
    return jsonl(path, [{"question_id": r["question_id"], "prompt": r[prompt_key], "text": p, "answer_id": f"a{i}",
                         "model_id": "test", "metadata": {}} for i, (r, p) in enumerate(zip(rows, predictions))])


def write_textvqa(root: Path, with_ocr: bool = True) -> dict:
    data, llava = [], []
    for n, (question, tokens, answers) in enumerate(TEXTVQA):
        image_id = f"{n // 2:016x}"
        record = {"question": question, "image_id": image_id, "answers": answers, "question_id": 34600 + n,
                  "set_name": "val", "image_classes": ["Sign"]}
        if with_ocr:
            record["ocr_tokens"] = tokens
        data.append(record)
        ocr = f"\nReference OCR token: {', '.join(tokens)}" if tokens else ""
        llava.append({"question_id": image_id, "image": f"{image_id}.jpg",
                      "text": f"{question}{ocr}\nAnswer the question using a single word or phrase.",
                      "category": "default"})
    root.mkdir(parents=True, exist_ok=True)
    files = {"annotations": root / "TextVQA_0.5.1_val.json", "llava": root / "llava_textvqa_val_v051_ocr.jsonl"}
    files["annotations"].write_text(json.dumps({"dataset_name": "textvqa", "dataset_version": "0.5.1", "data": data}))
    jsonl(files["llava"], llava)
    write_images(root / "train_images", sorted({r["image"] for r in llava}))
    return files


def write_gqa(root: Path) -> dict:
    questions, llava = {}, []
    for n, (question, answer, structural, semantic) in enumerate(GQA):
        qid = str(20968442 + n)
        questions[qid] = {"question": question, "answer": answer, "imageId": f"n{1000 + n // 2}", "isBalanced": True,
                          "types": {"structural": structural, "semantic": semantic, "detailed": "test"},
                          "groups": {"global": structural, "local": "x"}, "semantic": [], "entailed": [],
                          "equivalent": [qid], "fullAnswer": answer, "annotations": {}}
        llava.append({"question_id": qid, "image": f"n{1000 + n // 2}.jpg",
                      "text": question + "\nAnswer the question using a single word or phrase."})
    questions["99999999"] = {**questions[str(20968442)], "isBalanced": False}  # eval.py does not score it
    files = {"questions": root / "data" / "testdev_balanced_questions.json",
             "llava": root / "llava_gqa_testdev_balanced.jsonl"}
    files["questions"].parent.mkdir(parents=True, exist_ok=True)
    files["questions"].write_text(json.dumps(questions))
    jsonl(files["llava"], llava)
    write_images(root / "data" / "images", sorted({r["image"] for r in llava}))
    return files


VIZWIZ = [  # (question, answer_type, ten answers)
    ("What is this?", "other", ["soup"] * 4 + ["can of soup"] * 3 + ["unanswerable"] * 3),
    ("What color is this shirt?", "other", ["blue"] * 6 + ["Blue."] * 2 + ["navy"] * 2),
    ("Is the light on?", "yes/no", ["yes"] * 8 + ["no"] * 2),
    ("How many pills are left?", "number", ["3"] * 5 + ["three"] * 3 + ["unanswerable"] * 2),
    ("What does this say?", "unanswerable", ["unanswerable"] * 9 + ["unsuitable"]),
    ("What is the expiration date?", "unanswerable", ["unanswerable"] * 6 + ["unsuitable image"] * 4),
    ("What kind of tea is this?", "other", ["green tea"] * 5 + ["green"] * 5),
]
VIZWIZ_PREDICTIONS = [
    ["Soup", "blue", "Yes", "3", "Unanswerable", "unanswerable.", "green tea"],
    ["a can of soup", "Navy blue", "no", "Three.", "unsuitable", "Expired", "Green."],
]
VIZWIZ_PROMPT = ("\nWhen the provided information is insufficient, respond with 'Unanswerable'."
                 "\nAnswer the question using a single word or phrase.")


def write_vizwiz(root: Path, split: str = "val") -> dict:
    """VizWiz's <split>.json (answers and answer types; test: questions only) and a LLaVA jsonl of it."""
    records, llava = [], []
    for n, (question, answer_type, answers) in enumerate(VIZWIZ):
        image = f"VizWiz_{split}_{n:08d}.jpg"
        record = {"image": image, "question": question}
        if split != "test":
            record.update(answers=[{"answer": a, "answer_confidence": "yes"} for a in answers],
                          answer_type=answer_type, answerable=int(answer_type != "unanswerable"))
        records.append(record)
        llava.append({"question_id": n, "image": image, "text": question + VIZWIZ_PROMPT})
    root.mkdir(parents=True, exist_ok=True)
    files = {"annotations": root / f"{split}.json", "llava": root / f"llava_{split}.jsonl"}
    files["annotations"].write_text(json.dumps(records))
    jsonl(files["llava"], llava)
    write_images(root / split, [r["image"] for r in records])
    return files
