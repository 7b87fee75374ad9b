"""Generation engines: vLLM on a GPU (throughput), transformers anywhere else.

Both take the same prompts and SamplingConfig and return, per prompt, its `n` sampled texts.
Everything around them (prompts, passages, filters, resume) is shared and engine-agnostic.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields
from typing import Any, Mapping

BACKENDS = ("auto", "transformers", "vllm")


class ModelLoadError(RuntimeError):
    pass


@dataclass(frozen=True)
class SamplingConfig:
    """The sampling settings of a run; defaults are those of the released Bonito examples."""

    n: int = 1
    temperature: float = 0.5
    top_p: float = 0.95
    max_tokens: int = 256
    seed: int = 0

    @classmethod
    def from_any(cls, params: Any = None) -> "SamplingConfig":
        """From None, a mapping, or an object with the same attributes (vLLM's SamplingParams)."""
        if params is None:
            return cls()
        if isinstance(params, cls):
            return params
        if isinstance(params, Mapping):
            unknown = set(params) - {f.name for f in fields(cls)}
            if unknown:
                raise ValueError(f"unknown sampling parameters {sorted(unknown)}; known: n, temperature, top_p, max_tokens, seed")
            values = dict(params)
        else:
            values = {f.name: getattr(params, f.name) for f in fields(cls) if getattr(params, f.name, None) is not None}
        config = cls(**values)
        if config.n < 1 or config.max_tokens < 1 or not 0 < config.top_p <= 1 or config.temperature < 0:
            raise ValueError(f"invalid sampling parameters {config}")
        return config


def derive_seed(*parts) -> int:
    """A 31-bit seed from any parts, the same in every process."""
    return int.from_bytes(hashlib.sha256("/".join(map(str, parts)).encode()).digest()[:4], "big") >> 1


def vllm_available() -> bool:
    try:
        import importlib.util

        import torch

        return importlib.util.find_spec("vllm") is not None and torch.cuda.is_available()
    except Exception:
        return False


def make_engine(model, backend: str = "auto", **engine_kwargs):
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend == "auto":
        backend = "vllm" if vllm_available() else "transformers"
    if backend == "vllm":
        return VllmEngine(model, **engine_kwargs)
    return TransformersEngine(model, **engine_kwargs)


class TransformersEngine:
    """Batched sampling with transformers: left padding, batches of similar length, KV cache."""

    name = "transformers"

    def __init__(self, model, tokenizer=None, batch_size: int = 24, batch_tokens: int = 16384,
                 cache_implementation: str | None = "static", device: str | None = None, dtype=None, **model_kwargs):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if dtype is None:
            dtype = torch.bfloat16 if self.device.startswith("cuda") else torch.float32
        if isinstance(model, (str, bytes)) or hasattr(model, "__fspath__"):
            self.model_name = str(model)
            try:
                self.tokenizer = tokenizer or AutoTokenizer.from_pretrained(self.model_name)
                self.model = AutoModelForCausalLM.from_pretrained(self.model_name, dtype=dtype, **model_kwargs)
            except Exception as exc:
                raise ModelLoadError(
                    f"could not load model {self.model_name!r} (looked for a local folder of that name, then the "
                    f"Hugging Face Hub): {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                ) from None
        else:
            self.model, self.tokenizer = model, tokenizer
            self.model_name = getattr(model, "name_or_path", type(model).__name__)
            if tokenizer is None:
                raise ValueError("pass the tokenizer with a loaded model")
        self.model.to(self.device).eval()
        self.batch_size = batch_size
        self.batch_tokens = batch_tokens
        self.cache_implementation = cache_implementation
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token

    @property
    def max_context(self) -> int:
        n = getattr(self.model.config, "max_position_embeddings", None) or 4096
        tok_max = getattr(self.tokenizer, "model_max_length", None)
        if tok_max and tok_max < 1_000_000:
            n = min(n, tok_max)
        return int(n)

    def _generate_batch(self, padded, sampling: SamplingConfig, do_sample: bool, extra: dict):
        import torch

        kwargs = dict(max_new_tokens=sampling.max_tokens, do_sample=do_sample,
                      num_return_sequences=sampling.n if do_sample else 1, pad_token_id=self.tokenizer.pad_token_id,
                      use_cache=True, **extra)
        with torch.inference_mode():
            try:
                return self.model.generate(**padded, **kwargs)
            except (ValueError, NotImplementedError, TypeError):
                if "cache_implementation" not in kwargs:
                    raise
                # a model whose cache cannot be static: fall back to the dynamic cache for good
                self.cache_implementation = None
                extra.pop("cache_implementation", None)
                kwargs.pop("cache_implementation")
                return self.model.generate(**padded, **kwargs)

    def batches(self, lengths: list[int], sampling: SamplingConfig) -> list[list[int]]:
        """Prompts sorted by length, cut into batches of at most `batch_size` prompts and at most
        `batch_tokens` padded tokens (prompt and new tokens, times n): short prompts travel in large
        batches, long ones in small, and little is spent on padding."""
        order = sorted(range(len(lengths)), key=lambda i: lengths[i])
        batches, current = [], []
        for i in order:
            width = (lengths[i] + sampling.max_tokens) * sampling.n
            if current and (len(current) >= self.batch_size or (len(current) + 1) * width > self.batch_tokens):
                batches.append(current)
                current = []
            current.append(i)
        if current:
            batches.append(current)
        return batches

    def generate(self, prompts: list[str], sampling: SamplingConfig, seed: int) -> list[list[str]]:
        import torch

        torch.manual_seed(seed)
        encoded = self.tokenizer(prompts, add_special_tokens=True)["input_ids"]
        results: list[list[str]] = [[] for _ in prompts]
        do_sample = sampling.temperature > 0
        extra = {"temperature": sampling.temperature, "top_p": sampling.top_p} if do_sample else {}
        if self.cache_implementation:
            extra["cache_implementation"] = self.cache_implementation
        for batch in self.batches([len(ids) for ids in encoded], sampling):
            padded = self.tokenizer.pad({"input_ids": [encoded[i] for i in batch]}, return_tensors="pt")
            padded = {k: v.to(self.device) for k, v in padded.items()}
            out = self._generate_batch(padded, sampling, do_sample, extra)
            new = out[:, padded["input_ids"].shape[1]:]
            texts = self.tokenizer.batch_decode(new, skip_special_tokens=True)
            per = sampling.n if do_sample else 1
            for j, i in enumerate(batch):
                # greedy decoding (temperature 0) gives one text; its n copies are n identical samples
                results[i] = texts[j * per:(j + 1) * per] * (1 if do_sample else sampling.n)
        return results


class VllmEngine:
    """One `LLM.generate` over all prompts of a chunk; engine options pass through to `vllm.LLM`.

    `llm` and `params_cls` let a stand-in with vLLM's interface replace the real engine in tests.
    """

    name = "vllm"

    def __init__(self, model, llm=None, params_cls=None, **engine_kwargs):
        self.model_name = str(model)
        if llm is None:
            try:
                from vllm import LLM
            except ImportError:
                raise ModelLoadError("backend 'vllm' needs the vllm extra: pip install 'bonito-hub[vllm]'") from None
            try:
                llm = LLM(model=self.model_name, **engine_kwargs)
            except Exception as exc:
                raise ModelLoadError(f"vLLM could not load model {self.model_name!r}: {type(exc).__name__}: {exc}") from None
        if params_cls is None:
            from vllm import SamplingParams as params_cls
        self.llm, self.params_cls = llm, params_cls
        self.tokenizer = llm.get_tokenizer()

    @property
    def max_context(self) -> int:
        try:
            return int(self.llm.llm_engine.model_config.max_model_len)
        except AttributeError:
            return int(getattr(self.tokenizer, "model_max_length", 4096))

    def generate(self, prompts: list[str], sampling: SamplingConfig, seed: int) -> list[list[str]]:
        # One seed per request: each prompt's samples do not depend on what else is in the batch.
        params = [
            self.params_cls(n=sampling.n, temperature=sampling.temperature, top_p=sampling.top_p,
                            max_tokens=sampling.max_tokens, seed=derive_seed(seed, i))
            for i in range(len(prompts))
        ]
        outputs = self.llm.generate(prompts, params, use_tqdm=False)
        return [[o.text for o in out.outputs] for out in outputs]
