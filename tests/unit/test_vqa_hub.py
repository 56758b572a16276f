"""The lmms-lab copies (lmms-lab/VQAv2, lmms-lab/textvqa, lmms-lab/VizWiz-VQA) read through `datasets`'
local-copy path: a parquet file with their columns and encoded images gives the same items, prompts
and human answers as the official files."""

from __future__ import annotations

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from datasets_adapters.textvqa import TextVQADataset
from datasets_adapters.vizwiz import VizWizDataset
from datasets_adapters.vqav2 import VQAv2Dataset
from support.vqa_fixture import TEXTVQA, VIZWIZ, VQA_QUESTIONS, write_textvqa, write_vizwiz, write_vqav2


def png() -> dict:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, format="PNG")
    return {"bytes": buffer.getvalue(), "path": "x.png"}


def parquet(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def test_vqav2_hub_copy_equals_the_official_files(tmp_path):
    files = write_vqav2(tmp_path / "vqav2")
    questions = json.loads(files["questions"].read_text())["questions"]
    annotations = json.loads(files["annotations"].read_text())["annotations"]
    parquet(tmp_path / "hub" / "validation-00000.parquet", [{**a, **q, "image": png()} for q, a in
                                                            zip(questions, annotations)])
    hub = VQAv2Dataset(path=str(tmp_path / "hub"), split="validation").load()
    files_items = VQAv2Dataset(path=str(tmp_path / "vqav2"), split="val2014", questions=str(files["questions"])).load()
    assert [(i.id, i.prompt_question, i.meta["answers"], i.category, i.answer) for i in hub] == \
        [(i.id, i.prompt_question, i.meta["answers"], i.category, i.answer) for i in files_items]
    assert isinstance(hub[0].image, bytes) and len(hub) == len(VQA_QUESTIONS)


def test_textvqa_and_vizwiz_hub_copies(tmp_path):
    files = write_textvqa(tmp_path / "textvqa")
    data = json.loads(files["annotations"].read_text())["data"]
    parquet(tmp_path / "tv" / "data" / "validation.parquet", [{**r, "image": png()} for r in data])
    hub = TextVQADataset(path=str(tmp_path / "tv")).load()
    assert [i.prompt_question for i in hub] == [json.loads(line)["text"] for line in
                                                files["llava"].read_text().splitlines()]
    assert [i.meta["answers"] for i in hub] == [a for _, _, a in TEXTVQA]
    val = json.loads(write_vizwiz(tmp_path / "vizwiz")["annotations"].read_text())
    parquet(tmp_path / "vw" / "val.parquet", [{"question_id": r["image"][:-4], "question": r["question"],
                                                "answers": [a["answer"] for a in r["answers"]],
                                                "answer_type": r["answer_type"], "image": png()} for r in val])
    items = VizWizDataset(path=str(tmp_path / "vw")).load()
    files_items = VizWizDataset(path=str(tmp_path / "vizwiz")).load()
    assert [(i.id, i.prompt_question, i.meta["answers"], i.category) for i in items] == \
        [(i.id, i.prompt_question, i.meta["answers"], i.category) for i in files_items]
    assert len(items) == len(VIZWIZ)


def test_gqa_hub_copy_joins_images_by_image_id(tmp_path):
    from datasets_adapters.gqa import GQADataset
    from support.vqa_fixture import GQA, write_gqa

    files = write_gqa(tmp_path / "gqa")
    questions = json.loads(files["questions"].read_text())
    parquet(tmp_path / "hub" / "testdev_balanced_instructions" / "testdev-0.parquet",
            [{**{k: q[k] for k in ("question", "answer", "imageId", "isBalanced", "types")}, "id": qid}
             for qid, q in questions.items()])
    parquet(tmp_path / "hub" / "testdev_balanced_images" / "testdev-0.parquet",
            [{"id": image, "image": png()} for image in sorted({q["imageId"] for q in questions.values()})])
    hub = GQADataset(path=str(tmp_path / "hub")).load()
    from_files = GQADataset(path=str(tmp_path / "gqa"), prompts=None).load()
    assert [(i.id, i.prompt_question, i.answer, i.category, i.meta["semantic"]) for i in hub] == \
        [(i.id, i.prompt_question, i.answer, i.category, i.meta["semantic"]) for i in from_files]
    assert len(hub) == len(GQA) and isinstance(hub[0].image, bytes)
