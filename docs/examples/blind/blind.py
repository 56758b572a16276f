"""A model wrapper defined outside evalkit (docs/extending.md, example 3): LLaVA answering about a
blank image of the same size (every pixel the vision tower's mean colour), so the answer comes from
the question and the language model's prior alone.

A hallucination gain has to beat this baseline: on a balanced yes/no set a model that cannot see
scores 50% and its yes-ratio is its prior. It is the real checkpoint run on a real (blank) input,
not a fake answer. The class implements evalkit's model interface (evalkit.models.interface.Model)
by deriving from the LLaVA wrapper and changing one step: the image it prepares.
"""

from __future__ import annotations

from PIL import Image

from evalkit.models.llava import LlavaModel


class BlindLlava(LlavaModel):
    def prepare_image(self, image: Image.Image):
        # LLaVA's own background colour (expand2square's): padded to a square, a blank image of any
        # size is one uniform picture. Same size, so the prompt gets the seeing model's token count.
        mean = tuple(int(x * 255) for x in self.processor.image_processor.image_mean)
        return super().prepare_image(Image.new("RGB", image.size, mean))

    def describe(self) -> dict:
        return {**super().describe(), "image": "blank (the vision tower's mean colour), same size"}
