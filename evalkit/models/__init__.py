"""The model wrapper (evalkit/models/llava.py) and what it is built from: prompts, pixels, the
feature cache and shared prefix, option scoring, original-format conversion. Nothing outside this
package knows a model family."""
