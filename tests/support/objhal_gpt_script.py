"""For the Object HalBench --use_gpt tests: answers, a script of judge replies per answer and a tiny
spaCy pipeline, shared by RLHF-V's own GPT path and evalkit's judge stage.

The answers and replies walk through get_gpt_resp and get_pred_objs_match: an unreadable reply then
a JSON list, the '["' last-line form, a fenced reply whose last line is not JSON (re-asked), a short
answer (no request), an empty list, a JSON object (its keys are iterated), a JSON string (its
characters are), a question holding "{answer}" (str.replace fills it too), an "Assistant:" prefix,
unicode; and the objects: two-word phrases (dining table, bow tie -> tie, wine glasses -> wine glass,
baby elephant -> elephant, teddy bear, remote control, passenger train -> train, motor bike), noun runs
after an adjective, a run outside the vocabulary ("car door"), "seat" dropped beside "toilet",
repeats de-duplicated, words the pipeline does not tag."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from support.objhal_files import jpeg_base64

# (image id, question, answer text, judge replies in the order they are asked)
CASES = [
    (1, "Describe this image in detail.", "Assistant: A man and a woman walk their dogs past a red car and a bicycle.",
     ["The objects are: man, woman, dogs.", '["man", "woman", "dogs", "red car", "bicycle", "man"]']),
    (2, "What is in the image?", "A baby elephant stands next to adult elephants while birds fly.",
     ['Here is the list:\n["baby elephant", "adult elephants", "birds"]']),
    (4, "Describe the image.", "The toilet seat is up and a chair stands near the toilet.",
     ['["toilet seat", "seat", "chair"]']),
    (5, "Describe it.", "A gentleman in a bow tie holds two wine glasses at a dining table.",
     ['["gentleman", "bow tie", "wine glasses", "dining table"]']),
    (6, "Describe it.", "A coffee table with a remote control and a laptop computer; the car door is open.",
     ['```json\n["coffee table", "remote control", "laptop computer"]\n```', "[coffee table]",
      '["coffee table", "remote control", "laptop computer", "car door"]']),
    (7, "What do you see?", "Nothing.", []),
    (7, "What do you see? Fill {answer} in.", "An empty street at night.", ["[]"]),
    (8, "Describe the scene.", "Two buses and three trains wait near the home plate.",
     ['{"objects": ["buses", "trains"]}']),
    (9, "Describe the scene.", "Un ours en peluche — a teddy bear 🧸 — sits beside a TV… Ünïcode.",
     ['["teddy bear", "TV", "ours en peluche"]']),
    (3, "Describe the image.", "Jets fly over a motor bike and a passenger train.",
     ['Objects:\n["jets", "motor bike", "passenger train"]']),
    (1, "Is there anything else?", "A dog near a man.", ['"dog"']),
]

# lower-cased token -> (tag, lemma) of the tiny pipeline; other tokens get neither
LEXICON = {
    "a": ("DT", "a"), "man": ("NN", "man"), "woman": ("NN", "woman"), "dogs": ("NNS", "dog"), "red": ("JJ", "red"),
    "car": ("NN", "car"), "bicycle": ("NN", "bicycle"), "baby": ("NN", "baby"), "elephant": ("NN", "elephant"),
    "adult": ("JJ", "adult"), "elephants": ("NNS", "elephant"), "birds": ("NNS", "bird"), "toilet": ("NN", "toilet"),
    "seat": ("NN", "seat"), "chair": ("NN", "chair"), "gentleman": ("NN", "gentleman"), "bow": ("NN", "bow"),
    "tie": ("NN", "tie"), "wine": ("NN", "wine"), "glasses": ("NNS", "glass"), "dining": ("VBG", "dining"),
    "table": ("NN", "table"), "coffee": ("NN", "coffee"), "remote": ("JJ", "remote"), "control": ("NN", "control"),
    "laptop": ("NN", "laptop"), "computer": ("NN", "computer"), "door": ("NN", "door"), "buses": ("NNS", "bus"),
    "trains": ("NNS", "train"), "teddy": ("NN", "teddy"), "bear": ("NN", "bear"), "tv": ("NNP", "tv"),
    "jets": ("NNS", "jet"), "motor": ("NN", "motor"), "bike": ("NN", "bike"), "passenger": ("NN", "passenger"),
    "train": ("NN", "train"), "objects": ("NNS", "object"), "d": ("NN", "d"),
}


def spacy_pipeline(folder: Path) -> Path:
    """spacy.blank("en") + an attribute_ruler setting tag_ and lemma_ from LEXICON, saved to `folder`
    (both sides load it by path, as spacy.load loads an installed pipeline)."""
    import spacy

    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("attribute_ruler")
    for word, (tag, lemma) in LEXICON.items():
        ruler.add(patterns=[[{"LOWER": word}]], attrs={"TAG": tag, "LEMMA": lemma})
    nlp.meta["name"] = "objhal_test"
    nlp.to_disk(folder)
    return folder


def write_cases(tmp_path: Path, cases=CASES) -> tuple[Path, Path]:
    """The question file (obj_halbench_300_with_image.jsonl's layout) and an answer file as RLHF-V's
    muffin_vqa writes it (question_id, prompt, text; no image_id)."""
    questions = tmp_path / "obj_halbench_300_with_image.jsonl"
    questions.write_text("".join(json.dumps({"image_id": i, "question": q, "image": jpeg_base64((9 * k, 0, 0))}) + "\n"
                                 for k, (i, q, _, _) in enumerate(cases)))
    answers = tmp_path / "answers" / "obj_halbench_answer.jsonl"
    answers.parent.mkdir(parents=True)
    answers.write_text("".join(json.dumps({"question_id": k, "prompt": q, "text": t}) + "\n"
                               for k, (_, q, t, _) in enumerate(cases)))
    return questions, answers


def examiner_answer(system_message: str) -> str:
    """The answer a request is about, read from the official prompt's answer block."""
    return system_message.split("[Start of Examiner's Answer]\n\n")[1].split("\n\n[End of Examiner's Answer]")[0]


class Script:
    """The replies per answer, in order, to whichever side asks (thread-safe: RLHF-V asks from 64 threads).
    `sent`: every request body, as the asker sent it."""

    def __init__(self, cases=CASES):
        self.replies = {t.replace("Assistant:", "").strip(): list(r) for _, _, t, r in cases}
        self.sent: list[dict] = []
        self._lock = threading.Lock()

    def next_reply(self, body: dict) -> str:
        with self._lock:
            self.sent.append(body)
            answer = examiner_answer(body["messages"][0]["content"])
            asked = sum(1 for b in self.sent if examiner_answer(b["messages"][0]["content"]) == answer)
            replies = self.replies[answer]
            return replies[min(asked, len(replies)) - 1]  # the last reply again once the script runs out

    def openai_create(self, **kwargs) -> dict:
        """openai.ChatCompletion.create as RLHF-V's Chat calls it (the 0.x response dict)."""
        text = self.next_reply(kwargs)
        return {"model": kwargs["model"], "usage": {"total_tokens": 3, "prompt_tokens": 2, "completion_tokens": 1},
                "choices": [{"message": {"role": "assistant", "content": text}}]}
