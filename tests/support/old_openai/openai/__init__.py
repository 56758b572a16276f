"""The slice of the pre-1.0 `openai` package that LLaVA's and LLaVA-RLHF's review scripts call
(`openai.ChatCompletion.create`, `openai.error.RateLimitError`, `openai.api_key`), posting the
request as JSON to $OPENAI_BASE_URL/chat/completions, so the official scripts run unchanged against
the tests' scripted server. With OPENAI_SHIM_NO_SLEEP=1, time.sleep is skipped (LLaVA-RLHF's script
pauses a second after every request)."""

import json
import os
import time
import urllib.request

from . import error  # noqa: F401

api_key = None

if os.environ.get("OPENAI_SHIM_NO_SLEEP") == "1":
    time.sleep = lambda seconds: None


class ChatCompletion:
    @staticmethod
    def create(**kwargs):
        request = urllib.request.Request(os.environ["OPENAI_BASE_URL"].rstrip("/") + "/chat/completions",
                                         data=json.dumps(kwargs).encode(), headers={"content-type": "application/json"})
        with urllib.request.urlopen(request) as response:
            return json.loads(response.read())
