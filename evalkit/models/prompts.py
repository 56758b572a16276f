"""Named prompt templates. The model config picks one (`model.prompt`); generic code never looks at
model names. `{image}` is replaced by the processor's image token."""

from __future__ import annotations

# LLaVA's official evaluation prompt (conversation template "vicuna_v1"), used for its published
# MME/POPE numbers: system text, then "USER: <image>\n{question} ASSISTANT:" joined by spaces.
LLAVA_SYSTEM = (
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions."
)

TEMPLATES = {
    "llava_eval": "{system} USER: {image}\n{question} ASSISTANT:",
    # LLaVA's "mistral_instruct" conversation, as llava-v1.6-mistral-7b is evaluated.
    "mistral_inst": "[INST] {image}\n{question} [/INST]",
}


# The checkpoint's own chat template (processor.apply_chat_template) instead of a string of ours.
HF_CHAT = "hf_chat"
# Every name `model.prompt` accepts (the model schema checks it against these).
PROMPTS = (*TEMPLATES, HF_CHAT)

# The system text of the templates that have one (`system=` of render_prompt replaces it).
SYSTEMS = {"llava_eval": LLAVA_SYSTEM}


def render_prompt(name: str, question: str, processor, system: str | None = None) -> str:
    """`system`: another system text (ICD's disturbance instruction); a template without one gets
    it in front of the question (evalkit's choice; ICD's LLaVA script replaces the system text)."""
    image_token = getattr(processor, "image_token", None) or "<image>"
    if system is not None and name not in SYSTEMS:
        question = f"{system} {question}"
    if name == HF_CHAT:
        # The checkpoint's own chat template (llava-hf: "USER: <image>\n{q} ASSISTANT:", no system).
        conversation = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
        return processor.apply_chat_template(conversation, add_generation_prompt=True)
    try:
        template = TEMPLATES[name]
    except KeyError:
        raise ValueError(f"unknown prompt template {name!r}; choose one of {', '.join(PROMPTS)}")
    return template.format(image=image_token, question=question,
                           system=SYSTEMS.get(name, "") if system is None else system)
