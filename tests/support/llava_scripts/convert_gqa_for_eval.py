# LLaVA's scripts/convert_gqa_for_eval.py (https://github.com/haotian-liu/LLaVA, commit c121f04), copied verbatim for
# parity tests; Apache License 2.0 (text: tests/support/llava/LICENSE). The only edit: this header.
import os
import json
import argparse

parser = argparse.ArgumentParser()
parser.add_argument("--src", type=str)
parser.add_argument("--dst", type=str)
args = parser.parse_args()

all_answers = []
for line_idx, line in enumerate(open(args.src)):
    res = json.loads(line)
    question_id = res['question_id']
    text = res['text'].rstrip('.').lower()
    all_answers.append({"questionId": question_id, "prediction": text})

with open(args.dst, 'w') as f:
    json.dump(all_answers, f)
