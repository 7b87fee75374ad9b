"""Generation engines in this process: vLLM on a GPU (throughput), transformers anywhere else.
(A served model's engine is server.py's; backends.py picks the engine for a `backend`.)

Both are an `Engine`: they take the same prompts and SamplingConfig and return, per prompt, its
`n` sampled texts. Everything around them (prompts, passages, filters, resume) is shared and
engine-agnostic.
"""

from __future__ import annotations

import hashlib
from types import SimpleNamespace
from typing import Any, Callable, ClassVar, Protocol, runtime_checkable

from bonito_hub.console import get_logger
from bonito_hub.errors import ConfigError, ModelLoadError, cause
from bonito_hub.generate.engine_options import BATCHING
from bonito_hub.generate.config import SamplingConfig

log = get_logger(__name__)


@runtime_checkable
class Engine(Protocol):
    """What a generation run needs from an engine.

    Attributes:
        name: the engine's name in records and messages ("transformers", "vllm").
        model_name: the model it loaded (a folder or a Hub id), for the run record.
        tokenizer: the model's tokenizer; passages are cut to fit with it.
        max_context: the most tokens a prompt and its generation may hold together.
    """

    name: ClassVar[str]
    model_name: str
    tokenizer: Any

    @property
    def max_context(self) -> int: ...

    def generate(self, prompts: list[str], sampling: SamplingConfig, seed: int,
                 progress: Callable[[int], object] | None = None) -> list[list[str]]:
        """Per prompt, its `sampling.n` sampled texts; the same `seed` and prompts give the same
        texts. `progress(n)`, when given, is called as n more prompts are done."""
        ...


def derive_seed(*parts) -> int:
    """A 31-bit seed from any parts, the same in every process."""
    return int.from_bytes(hashlib.sha256("/".join(map(str, parts)).encode()).digest()[:4], "big") >> 1


def context_length(model_config, tokenizer) -> int | None:
    """The most tokens a prompt and its generation may hold: the model's positions, or fewer where
    the tokenizer says so (a tokenizer without a limit says 1e30); None when neither says."""
    n = getattr(model_config, "max_position_embeddings", None) if model_config is not None else None
    tok_max = getattr(tokenizer, "model_max_length", None)
    if tok_max and tok_max < 1_000_000:
        n = min(n, tok_max) if n else tok_max
    return int(n) if n else None


def _dtype(torch, value, device: str):
    if value is None:
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    if isinstance(value, str) and value != "auto":
        resolved = getattr(torch, value, None)
        if not isinstance(resolved, torch.dtype):
            raise ConfigError(f"unknown dtype {value!r}; use auto, float32, bfloat16 or float16")
        return resolved
    return value



# What `batching="auto"` runs on each device: the way measured fastest there (benchmarks/README.md,
# "Which default each figure supports"). CUDA stays padded until a GPU figure says otherwise.
AUTO_BATCHING = {"cpu": "padded", "cuda": "padded"}


class TransformersEngine(Engine):
    """Batched sampling with transformers, in one of two ways (`batching`):

    - "continuous": transformers' continuous batching (`model.generate_batch`, a paged KV cache):
      a finished sequence's place goes to the next prompt at once, with no padding;
    - "padded": prompts sorted by length, left padding, `model.generate` batch by batch. On a CPU
      at most `batch_size` (48) prompts and `batch_tokens` (24,576) padded tokens a batch, a static
      KV cache, and sampling.py's sampler (the same distribution as transformers' sampling, drawn in
      a twelfth of the time): measured fastest here (benchmarks/README.md); on CUDA as many prompts
      as the KV cache that fits in 40% of the free GPU memory allows (at most 512), with the dynamic
      cache (a static cache recompiles the decoding step for every batch width).
    "auto" (the default) is the one measured fastest on the device (AUTO_BATCHING): padded on a CPU,
    where continuous batching measured 0.25-0.50x of it, and padded on CUDA too until
    benchmarks/gpu.sh has measured continuous batching faster there (the last GPU figures were the
    padded engine's; benchmarks/README.md). A model or transformers version that cannot batch
    continuously falls back to padded batches, said once in the log.
    Sampling matches vLLM's: temperature and top_p only (transformers' default top_k=50 is off).
    """

    name = "transformers"
    CPU_BATCH_SIZE = 48
    CPU_BATCH_TOKENS = 24576
    GPU_MAX_BATCH = 512
    GPU_MEMORY_SHARE = 0.4

    def __init__(self, model, tokenizer=None, batch_size: int | None = None, batch_tokens: int | None = None,
                 cache_implementation: str | None = "auto", device: str | None = None, dtype=None,
                 engine_args: dict | None = None, batching: str = "auto"):
        if batching not in BATCHING:
            raise ConfigError(f"`batching` must be one of {', '.join(BATCHING)}, got {batching!r}", field="batching")
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = _dtype(torch, dtype, self.device)
        if isinstance(model, (str, bytes)) or hasattr(model, "__fspath__"):
            self.model_name = str(model)
            try:
                if tokenizer is None or isinstance(tokenizer, (str, bytes)) or hasattr(tokenizer, "__fspath__"):
                    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer or self.model_name))
                self.tokenizer = tokenizer
                self.model = AutoModelForCausalLM.from_pretrained(self.model_name, dtype=dtype, **(engine_args or {}))
            except Exception as exc:
                refused = [k for k in (engine_args or {}) if isinstance(exc, TypeError) and repr(k) in str(exc)]
                if refused:  # the model was found; it does not take this option
                    raise ConfigError(f"`engine_args` {refused[0]}: the model does not take it ({cause(exc)})",
                                      field="engine_args") from None
                raise ModelLoadError(f"could not load model {self.model_name!r} (looked for a local folder of that "
                                     f"name, then the Hugging Face Hub): {cause(exc)}") from None
        else:
            self.model, self.tokenizer = model, tokenizer
            self.model_name = getattr(model, "name_or_path", type(model).__name__)
            if tokenizer is None:
                raise ConfigError("pass the tokenizer with a loaded model")
        self.model.to(self.device).eval()
        on_gpu = self.device.startswith("cuda")
        self.batching = AUTO_BATCHING["cuda" if on_gpu else "cpu"] if batching == "auto" else batching
        if self.batching == "continuous" and not hasattr(self.model, "generate_batch"):
            self._fall_back("this transformers has no generate_batch")
        self.batch_size = batch_size  # None: per call, from the device (see batch_limits)
        self.batch_tokens = batch_tokens
        if cache_implementation == "auto":
            cache_implementation = None if on_gpu else "static"
        self.cache_implementation = cache_implementation
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token

    @property
    def max_context(self) -> int:
        positions = getattr(self.model.config, "max_position_embeddings", None) or 4096
        return context_length(SimpleNamespace(max_position_embeddings=positions), self.tokenizer)

    def kv_bytes_per_token(self) -> int:
        """Bytes of KV cache one token takes across all layers."""
        config = self.model.config.get_text_config() if hasattr(self.model.config, "get_text_config") else self.model.config
        heads = config.num_attention_heads
        kv_heads = getattr(config, "num_key_value_heads", None) or heads
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
        return 2 * config.num_hidden_layers * kv_heads * head_dim * self.model.dtype.itemsize

    def batch_limits(self, free_memory: int | None = None) -> tuple[int, int]:
        """(most prompts, most padded tokens) a batch: what the user set, else the device's tuning."""
        if not self.device.startswith("cuda"):
            return self.batch_size or self.CPU_BATCH_SIZE, self.batch_tokens or self.CPU_BATCH_TOKENS
        if free_memory is None:
            import torch

            device = torch.device(self.device)
            # what the driver has free plus what torch's allocator holds but does not use (the last
            # chunk's cache): otherwise every chunk after the first would get a smaller budget
            free_memory = torch.cuda.mem_get_info(device)[0] + \
                torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
        tokens = self.batch_tokens or max(4096, int(free_memory * self.GPU_MEMORY_SHARE) // self.kv_bytes_per_token())
        return self.batch_size or self.GPU_MAX_BATCH, tokens

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

    def batches(self, lengths: list[int], sampling: SamplingConfig, limits: tuple[int, int] | None = None) -> list[list[int]]:
        """Prompts sorted by length, cut into batches of at most `limits[0]` prompts and at most
        `limits[1]` padded tokens (prompt and new tokens, times n): short prompts travel in large
        batches, long ones in small, and little is spent on padding."""
        max_prompts, max_tokens = limits or self.batch_limits()
        order = sorted(range(len(lengths)), key=lambda i: lengths[i])
        batches, current = [], []
        for i in order:
            width = (lengths[i] + sampling.max_tokens) * sampling.n
            if current and (len(current) >= max_prompts or (len(current) + 1) * width > max_tokens):
                batches.append(current)
                current = []
            current.append(i)
        if current:
            batches.append(current)
        return batches

    def _fall_back(self, why: str) -> None:
        log.info("continuous batching is not available (%s); the transformers engine pads its batches", why)
        self.batching = "padded"

    def generate(self, prompts: list[str], sampling: SamplingConfig, seed: int,
                 progress: Callable[[int], object] | None = None) -> list[list[str]]:
        import torch

        encoded = self.tokenizer(prompts, add_special_tokens=True)["input_ids"]
        if self.batching == "continuous" and encoded:
            torch.manual_seed(seed)
            results = self._generate_continuous(encoded, sampling)
            if results is not None:
                if progress is not None:
                    progress(len(prompts))
                return results
        torch.manual_seed(seed)
        return self._generate_padded(encoded, sampling, progress)

    def _generate_continuous(self, encoded: list[list[int]], sampling: SamplingConfig) -> list[list[str]] | None:
        """All prompts through `generate_batch`; None (and padded batches from now on) when this
        model or version cannot."""
        from transformers import GenerationConfig

        do_sample = sampling.temperature > 0
        per = sampling.n if do_sample else 1
        # each sample is a request of its own (generate_batch's num_return_sequences is newer than
        # 5.17); the copies of a prompt share its cache blocks where the model allows block sharing
        requests = [ids for ids in encoded for _ in range(per)]
        config = GenerationConfig(max_new_tokens=sampling.max_tokens, do_sample=do_sample,
                                  pad_token_id=self.tokenizer.pad_token_id,
                                  eos_token_id=self.model.generation_config.eos_token_id,
                                  **({"temperature": sampling.temperature, "top_p": sampling.top_p, "top_k": 0}
                                     if do_sample else {}))
        try:
            with _quiet_continuous_batching():
                out = self.model.generate_batch(requests, generation_config=config, progress_bar=False,
                                                **self._continuous_options())
        except Exception as exc:  # a model whose attention or cache the paged path does not take
            self._fall_back(cause(exc))
            return None
        outputs = list(out.values())
        failed = [o for o in outputs if getattr(o, "error", None)]
        if len(outputs) != len(requests) or failed:
            self._fall_back(f"{len(failed) or len(requests) - len(outputs)} requests failed or went missing")
            return None
        results = []
        for i in range(len(encoded)):
            texts = self.tokenizer.batch_decode([o.generated_tokens for o in outputs[i * per:(i + 1) * per]],
                                                skip_special_tokens=True)
            results.append(texts * (1 if do_sample else sampling.n))
        return results

    def _continuous_options(self) -> dict:
        """generate_batch's options beyond transformers' defaults: none on CUDA. transformers sizes
        the paged cache from a GPU's free memory; on a CPU its guess is a cache so large that making
        it costs seconds a call, so the padded path's token budget sizes it instead."""
        if self.device.startswith("cuda"):
            return {}
        from transformers import ContinuousBatchingConfig

        tokens = self.batch_limits()[1]
        page = getattr(ContinuousBatchingConfig, "page_size", None) or ContinuousBatchingConfig.block_size  # <5.18
        # warm-up captures CUDA graphs: nothing to capture here
        return {"continuous_batching_config": ContinuousBatchingConfig(num_blocks=max(16, tokens // page),
                                                                       max_batch_tokens=min(tokens, 4096)),
                "warmup": False}

    def _generate_padded(self, encoded: list[list[int]], sampling: SamplingConfig,
                         progress: Callable[[int], object] | None = None) -> list[list[str]]:
        results: list[list[str]] = [[] for _ in encoded]
        do_sample = sampling.temperature > 0
        # top_k=0 switches off transformers' default top-k of 50: vLLM samples with temperature and top_p only
        extra = {"temperature": sampling.temperature, "top_p": sampling.top_p, "top_k": 0} if do_sample else {}
        own_sampler = do_sample and not self.device.startswith("cuda")
        if own_sampler:  # the same distribution, drawn in a twelfth of the time (sampling.py), by greedy decoding
            from transformers import LogitsProcessorList

            from bonito_hub.generate.sampling import TopPSampler

            extra = {"logits_processor": LogitsProcessorList([TopPSampler(sampling.temperature, sampling.top_p)])}
        if self.cache_implementation:
            extra["cache_implementation"] = self.cache_implementation
        for batch in self.batches([len(ids) for ids in encoded], sampling):
            rows = [encoded[i] for i in batch for _ in range(sampling.n if own_sampler else 1)]
            padded = self.tokenizer.pad({"input_ids": rows}, return_tensors="pt")
            padded = {k: v.to(self.device) for k, v in padded.items()}
            out = self._generate_batch(padded, sampling, do_sample and not own_sampler, extra)
            new = out[:, padded["input_ids"].shape[1]:]
            texts = self.tokenizer.batch_decode(new, skip_special_tokens=True)
            per = sampling.n if do_sample else 1
            for j, i in enumerate(batch):
                # greedy decoding (temperature 0) gives one text; its n copies are n identical samples
                results[i] = texts[j * per:(j + 1) * per] * (1 if do_sample else sampling.n)
            if progress is not None:
                progress(len(batch))
        return results


class VllmEngine(Engine):
    """One `LLM.generate` over all prompts of a chunk, a seed per request.

    The named options and `engine_args` become keyword arguments of `vllm.LLM` (which hands what it
    does not name itself to `EngineArgs`); vLLM rejects what it does not know. `llm` and
    `params_cls` let a stand-in with vLLM's contract replace the real engine in tests.
    """

    name = "vllm"

    def __init__(self, model, llm=None, params_cls=None, tensor_parallel_size: int | None = None,
                 gpu_memory_utilization: float | None = None, max_model_len: int | None = None, dtype=None,
                 engine_args: dict | None = None):
        self.model_name = str(model)
        named = {"tensor_parallel_size": tensor_parallel_size, "gpu_memory_utilization": gpu_memory_utilization,
                 "max_model_len": max_model_len, "dtype": dtype}
        self.engine_args = {**{k: v for k, v in named.items() if v is not None}, **(engine_args or {})}
        if llm is None:
            try:
                from vllm import LLM
            except ImportError:
                raise ModelLoadError("backend 'vllm' needs the vllm extra: pip install 'bonito-hub[vllm]'") from None
            try:
                llm = LLM(model=self.model_name, **self.engine_args)
            except Exception as exc:
                raise ModelLoadError(f"vLLM could not load model {self.model_name!r}: {cause(exc)}") from None
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

    def generate(self, prompts: list[str], sampling: SamplingConfig, seed: int,
                 progress: Callable[[int], object] | None = None) -> list[list[str]]:
        # One seed per request: each prompt's samples do not depend on what else is in the batch.
        params = [
            self.params_cls(n=sampling.n, temperature=sampling.temperature, top_p=sampling.top_p,
                            max_tokens=sampling.max_tokens, seed=derive_seed(seed, i))
            for i in range(len(prompts))
        ]
        outputs = self.llm.generate(prompts, params, use_tqdm=False)
        if progress is not None:  # one call per chunk keeps vLLM's batches full; progress comes with it
            progress(len(prompts))
        return [[o.text for o in out.outputs] for out in outputs]


class _quiet_continuous_batching:
    """transformers' continuous batching logs each request and its manager's life at INFO and
    WARNING; a run says what matters itself."""

    def __enter__(self):
        import logging

        self.logger = logging.getLogger("transformers.generation.continuous_batching")
        self.level = self.logger.level
        self.logger.setLevel(logging.ERROR)

    def __exit__(self, *exc):
        self.logger.setLevel(self.level)
