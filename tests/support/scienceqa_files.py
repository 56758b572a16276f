"""ScienceQA files in the official formats, made up for the parity tests: problems.json (4241 test
problems, as evaluate_acc.py asserts, plus two train ones), pid_splits.json, LLaVA's
llava_test_CQM-A.json for the image questions and an answer JSONL as model_vqa_science.py writes
it, with the tricky answers of the issue cycling over the problems."""

from __future__ import annotations

import json
from pathlib import Path

N_TEST = 4241
# Answer texts, tried against every kind of question; {o0}/{o1} are the question's first options.
TRICKY = ["A", "B", "A. cat", "B. {o1}", "(A)", "The answer is B.", "The answer is A", "b", "", "{o0}",
          "答案是A", "A.", "E", "The answer is F.", "The answer is A. The answer is B.", "C", "B) x",
          "The answer is C!", "D. dog", "  ", "A.B. ", "The answer is (B)."]
SUBJECTS = ["natural science", "social science", "language science"]
GRADES = [f"grade{g}" for g in range(1, 13)]
TOPICS = ["physics", "verbs", "geography", "biology"]


def problem(i: int) -> dict:
    n_choices = 2 + i % 4  # 2 to 5 options
    return {"question": f"Question {i}: which one?", "choices": [f"option {i}-{k}" for k in range(n_choices)],
            "answer": (i * 7) % n_choices, "hint": "" if i % 3 == 0 else f"Hint {i}.",
            "image": "image.png" if i % 5 < 3 else None, "task": "closed choice", "grade": GRADES[i % 12],
            "subject": SUBJECTS[i % 3], "topic": TOPICS[i % 4], "category": "c", "skill": "s",
            "lecture": "", "solution": "", "split": "test"}


def cqm_prompt(p: dict) -> str:
    """A CQM-A question as LLaVA's released llava_test_CQM-A.json holds it (context line when a
    hint exists, the question, `X. option` lines, then the image token)."""
    context = f"Context: {p['hint']}\n" if p["hint"] else ""
    options = "\n".join(f"{chr(65 + k)}. {c}" for k, c in enumerate(p["choices"]))
    return f"{context}{p['question']}\n{options}"


def write_scienceqa(root: Path, skip_answers: tuple[str, ...] = ("7",)) -> dict[str, Path]:
    root.mkdir(parents=True, exist_ok=True)
    problems = {str(i): problem(i) for i in range(1, N_TEST + 1)}
    problems["90001"] = dict(problem(1), split="train")
    problems["90002"] = dict(problem(2), split="train")
    (root / "problems.json").write_text(json.dumps(problems))
    test_ids = [str(i) for i in range(1, N_TEST + 1)]
    (root / "pid_splits.json").write_text(json.dumps({"test": test_ids, "train": ["90001", "90002"]}))
    llava, answers = [], []
    for n, pid in enumerate(test_ids):
        p = problems[pid]
        prompt = cqm_prompt(p)
        entry = {"id": pid, "conversations": [{"from": "human", "value": prompt}, {"from": "gpt", "value": "A"}]}
        if p["image"]:
            entry["image"] = f"{pid}/image.png"
            entry["conversations"][0]["value"] = "<image>\n" + prompt
        llava.append(entry)
        if pid in skip_answers:
            continue
        text = TRICKY[n % len(TRICKY)].format(o0=p["choices"][0], o1=p["choices"][1]).strip()
        shown = ("<image>\n" if p["image"] else "") + prompt + "\nAnswer with the option's letter from the given choices directly."
        answers.append({"question_id": pid, "prompt": shown, "text": text, "answer_id": f"a{pid}",
                        "model_id": "made-up", "metadata": {}})
    (root / "llava_test_CQM-A.json").write_text(json.dumps(llava))
    answer_file = root / "answers.jsonl"
    answer_file.write_text("".join(json.dumps(a, ensure_ascii=False) + "\n" for a in answers))
    return {"root": root, "answers": answer_file}
