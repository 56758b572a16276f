"""Tensors stand-ins that carry the prompt text through .unsqueeze / .half / .cuda to generate."""
import base64
import io

from PIL import Image


class Carrier:
    def __init__(self, text=""):
        self.text = text
        self.shape = (1, 1)

    def unsqueeze(self, dim):
        return self

    def half(self):
        return self

    def cuda(self):
        return self


def tokenizer_image_token(prompt, tokenizer, image_token_index=None, return_tensors=None):
    return Carrier(prompt)


def process_images(images, image_processor, model_cfg):
    return [Carrier() for _ in images]


def load_image_from_base64(image):
    return Image.open(io.BytesIO(base64.b64decode(image)))


def get_model_name_from_path(model_path):
    return "stub-model"
