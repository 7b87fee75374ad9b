"""Which engine runs a generation: `make_engine(model, backend, **options)`.

    auto          vLLM where it is installed and a GPU is visible, else transformers
    transformers  engines.TransformersEngine, in this process, anywhere
    vllm          engines.VllmEngine, in this process, on a GPU
    openai        server.OpenAIEngine, a model any OpenAI-compatible server serves
"""

from __future__ import annotations

from bonito_hub.errors import ConfigError
from bonito_hub.models import BACKENDS, GENERATION_BACKENDS, check_model_source, resolve_backend  # noqa: F401

# The options each engine takes. vLLM passes `engine_args` to `vllm.LLM`, transformers to
# `AutoModelForCausalLM.from_pretrained`; the openai engine loads no weights and takes neither.
ENGINE_TAKES = {
    "transformers": ("batch_size", "batch_tokens", "cache_implementation", "device", "tokenizer", "dtype",
                     "engine_args", "batching"),
    "vllm": ("tensor_parallel_size", "gpu_memory_utilization", "max_model_len", "llm", "params_cls", "dtype",
             "engine_args"),
    "openai": ("base_url", "api_key_env", "concurrency", "tokenizer", "max_model_len", "request_timeout"),
}


def check_engine_options(chosen: str, options: dict, asked: str | None = None) -> None:
    """A ConfigError naming any option (not None) that the `chosen` engine does not take."""
    foreign = [name for name, value in options.items() if value is not None and name not in ENGINE_TAKES[chosen]]
    if foreign:
        why = " (`backend` auto found vLLM and a GPU)" if asked == "auto" and chosen == "vllm" else \
            " (vLLM is not installed or no GPU is visible)" if asked == "auto" else ""
        takers = [engine for engine, takes in ENGINE_TAKES.items() if foreign[0] in takes]
        if not takers:
            raise ConfigError(f"`{foreign[0]}` is not an option of any engine", field=foreign[0])
        names = ", ".join(f"`{name}`" for name in foreign)
        raise ConfigError(f"{names} {'apply' if len(foreign) > 1 else 'applies'} to the {' and '.join(takers)} "
                          f"engine{'s' if len(takers) > 1 else ''}, but the {chosen} engine runs{why}",
                          field=foreign[0])


def make_engine(model, backend: str = "auto", **options):
    """The engine for `backend` ("auto": vLLM where it is installed and a GPU is visible, else
    transformers; "openai": a server, see server.py), given only options it takes. An option meant
    for another engine is an error that names it: silently dropping a setting the user chose would
    hide a mistake."""
    if backend not in GENERATION_BACKENDS:
        raise ConfigError(f"`backend` must be one of {', '.join(GENERATION_BACKENDS)}, got {backend!r}",
                          field="backend")
    chosen = "openai" if backend == "openai" else resolve_backend(backend)
    check_engine_options(chosen, options, backend)
    options = {k: v for k, v in options.items() if v is not None}
    if chosen == "openai":
        from bonito_hub.generate.server import OpenAIEngine

        return OpenAIEngine(model, **options)
    from bonito_hub.generate.engines import TransformersEngine, VllmEngine

    check_model_source(model)
    if chosen == "vllm":
        return VllmEngine(model, **options)
    return TransformersEngine(model, **options)
