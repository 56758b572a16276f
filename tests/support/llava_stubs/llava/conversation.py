"""A conversation whose prompt is the user's message itself (the template is the model's business)."""


class SeparatorStyle:
    pass


class _Conversation:
    roles = ("USER", "ASSISTANT")

    def __init__(self):
        self.messages = []

    def copy(self):
        return _Conversation()

    def append_message(self, role, message):
        self.messages.append((role, message))

    def get_prompt(self):
        return self.messages[0][1]


class _Templates(dict):
    def __missing__(self, key):
        return _Conversation()


conv_templates = _Templates()
