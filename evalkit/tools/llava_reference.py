"""The ORIGINAL LLaVA evaluation path on a list of checkpoints and questions; run by
`python -m evalkit.tools.parity_llava` with the python of an environment that has `llava-torch`
(transformers 4.37): `LLAVA_PYTHON evalkit/tools/llava_reference.py SPEC.json OUT.json`.

It imports nothing from evalkit (evalkit needs transformers 5). Each item goes through exactly what
`llava/eval/model_vqa_loader.py` does: `load_pretrained_model` (its builder: LoRA merge through
PEFT, the vision tower from `mm_vision_tower`), `DEFAULT_IMAGE_TOKEN + "\\n" + question` in the
`vicuna_v1` conversation (`--conv-mode vicuna_v1`, as LLaVA's MME / POPE scripts run it),
`process_images`, `tokenizer_image_token`, greedy
`generate` with `image_sizes`, `batch_decode(..., skip_special_tokens=True)[0].strip()`. The one
change: the builder loads fp16 and the model is then cast to fp32 (the tiny checkpoints are stored
in fp16, so nothing is lost), because evalkit runs fp32 on CPU; the rotary cos/sin tables, which
transformers 4.37 builds in the default dtype at init (fp16 inside the builder), are rebuilt in
fp32 (left in fp16 they move the logits of a 2,000-token LLaVA-1.6 prompt by ~1).
"""

import json
import sys

import torch
from PIL import Image


def main(spec_path: str, out_path: str) -> None:
    from llava.constants import DEFAULT_IMAGE_TOKEN, IMAGE_TOKEN_INDEX
    from llava.conversation import conv_templates
    from llava.mm_utils import get_model_name_from_path, process_images, tokenizer_image_token
    from llava.model.builder import load_pretrained_model

    spec = json.load(open(spec_path))
    results = {}
    for run in spec["checkpoints"]:
        name = get_model_name_from_path(run["path"])
        tokenizer, model, image_processor, _ = load_pretrained_model(
            run["path"], run.get("base"), name, device_map="cpu", device="cpu")
        model = model.float().eval()
        for module in model.modules():  # rotary tables were built under the builder's fp16 default dtype
            if hasattr(module, "_set_cos_sin_cache"):
                module._set_cos_sin_cache(module.max_seq_len_cached, module.inv_freq.device, torch.float32)
        rows = []
        for item in spec["items"]:
            conv = conv_templates["vicuna_v1"].copy()
            conv.append_message(conv.roles[0], DEFAULT_IMAGE_TOKEN + "\n" + item["question"])
            conv.append_message(conv.roles[1], None)
            prompt = conv.get_prompt()
            image = Image.open(item["image"]).convert("RGB")
            image_tensor = process_images([image], image_processor, model.config)[0]
            input_ids = tokenizer_image_token(prompt, tokenizer, IMAGE_TOKEN_INDEX, return_tensors="pt")
            with torch.inference_mode():
                out = model.generate(input_ids[None], images=image_tensor[None].float(), image_sizes=[image.size],
                                     do_sample=False, temperature=0, top_p=None, num_beams=1,
                                     max_new_tokens=spec["max_new_tokens"], use_cache=True,
                                     output_scores=True, return_dict_in_generate=True)
            text = tokenizer.batch_decode(out.sequences, skip_special_tokens=True)[0].strip()
            rows.append({"prompt": prompt, "input_ids": input_ids.tolist(), "answer": text,
                         "output_ids": out.sequences[0].tolist(), "first_logits": out.scores[0][0].tolist()})
        results[run["key"]] = rows
    json.dump(results, open(out_path, "w"))


if __name__ == "__main__":
    main(*sys.argv[1:3])
