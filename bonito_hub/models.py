"""Where a model comes from: a local folder or a Hub id, told apart before anything loads."""

from __future__ import annotations

import os
from pathlib import Path

from bonito_hub import hub
from bonito_hub.errors import ModelLoadError


def check_model_source(model, flag: str = "`model`") -> None:
    """A model named by a path must be a model folder; anything else is taken as a Hub id. Told
    apart before loading, so a mistyped path is not reported as a bad repository id."""
    if not isinstance(model, (str, os.PathLike)):
        return
    text = os.fspath(model)
    path = Path(text).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelLoadError(f"{flag} {text} is a folder but not a model folder (no config.json in it)")
    elif path.exists():
        raise ModelLoadError(f"{flag} {text} is a file; give the model's folder")
    elif hub.is_local(text):
        raise ModelLoadError(f"{flag} {text}: no such folder")


def check_model_available(model, flag: str = "`model`") -> None:
    """`check_model_source`, then, for a Hub id, whether the Hub answers (hub.check_reachable)."""
    check_model_source(model, flag)
    if not hub.is_local(os.fspath(model)):
        hub.check_reachable(f"{flag} {model}")


def same_model(a: str, b: str) -> bool:
    """Two names of one model (or adapter): the same string, the same folder, or a folder named as
    the other's last part (a local copy of ORG/NAME in a folder NAME)."""
    if a == b:
        return True
    pa, pb = Path(a).expanduser(), Path(b).expanduser()
    if pa.exists() and pb.exists():
        return pa.resolve() == pb.resolve()
    return pa.name == pb.name


# a weight file is fingerprinted by its size, its header and this many blocks spread over it: a
# retrained or replaced checkpoint changes nearly every block, and reading 16 x 64 kB costs nothing
SAMPLED_BLOCKS, BLOCK = 16, 1 << 16
WEIGHTS = ("*.safetensors", "*.bin", "*.pt", "*.gguf", "*.json", "*.model", "*.txt", "*.jinja")


def model_fingerprint(model: str) -> str | None:
    """What identifies a model's content, for a run's identity: for a local folder, a digest of its
    config, tokenizer and weight files (each by size, first 64 kB and 16 blocks spread over it), so
    new weights saved under the same name make another run; for a Hub id, the commit of the copy in
    the local cache (None when it is not cached: the name then identifies it, as on the Hub)."""
    import hashlib

    path = Path(model).expanduser()
    if path.is_dir():
        digest = hashlib.sha256()
        files = sorted({p for pattern in WEIGHTS for p in path.glob(pattern) if p.is_file()})
        for file in files:
            size = file.stat().st_size
            digest.update(f"{file.name}\0{size}\0".encode())
            with open(file, "rb") as f:
                digest.update(f.read(BLOCK))
                for i in range(1, SAMPLED_BLOCKS + 1):
                    f.seek(size * i // (SAMPLED_BLOCKS + 1))
                    digest.update(f.read(BLOCK))
        return "sha256:" + digest.hexdigest()[:32]
    if hub.is_local(str(model)):
        return None
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(str(model), "config.json")
    except Exception:  # not a repo id huggingface_hub takes: the name is all there is
        return None
    if isinstance(cached, str) and "/snapshots/" in cached:
        return "revision:" + cached.split("/snapshots/")[1].split("/")[0]
    return None


BACKENDS = ("auto", "transformers", "vllm")  # the engines a model can run on, here and in lm-eval
GENERATION_BACKENDS = (*BACKENDS, "openai")  # generation also takes a model someone serves


def vllm_available() -> bool:
    """vLLM is importable and torch sees a CUDA GPU."""
    import importlib.util

    if importlib.util.find_spec("vllm") is None:  # said without importing torch (seconds)
        return False
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:
        return False


def resolve_backend(backend: str = "auto") -> str:
    """`auto`: vLLM where it is installed and a GPU is visible, else transformers."""
    from bonito_hub.errors import ConfigError

    if backend not in BACKENDS:
        raise ConfigError(f"`backend` must be one of {', '.join(BACKENDS)}, got {backend!r}", field="backend")
    if backend == "auto":
        return "vllm" if vllm_available() else "transformers"
    return backend
