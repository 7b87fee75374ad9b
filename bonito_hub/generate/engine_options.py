"""The options of each generation engine, a dataclass an engine (its constructor takes the same
names), and EngineOptions, their union with the backend: the part of a generation config the command
line fills (bonito_hub.generate.config), from which `for_engine` keeps what the chosen engine takes.
An option two engines take is declared once, in a class both inherit."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from bonito_hub.errors import ConfigError
from bonito_hub.models import GENERATION_BACKENDS
from bonito_hub.options import key_value_map, option

BATCHING = ("auto", "continuous", "padded")


@dataclass(kw_only=True)
class _Backend:
    backend: str = option("auto", choices=GENERATION_BACKENDS, help="auto: vLLM when it is installed and a GPU is "
                          "visible, else transformers; openai: a model an OpenAI-compatible server serves at "
                          "--base-url (vLLM serve, SGLang, TGI, llama.cpp, Ollama, transformers serve or a hosted "
                          "endpoint; pip install 'bonito-hub[openai]')")


@dataclass(kw_only=True)
class _Weights:
    dtype: str | None = option(None, help="transformers, vLLM: weights' dtype (auto, bfloat16, float16, float32)")
    engine_args: dict | None = option(None, flag="--engine-arg", repeat=True, metavar="KEY=VALUE",
                                      help="transformers, vLLM, repeatable: passed to vllm.LLM(...) or "
                                           "AutoModelForCausalLM.from_pretrained(...); VALUE is read as YAML (8, 0.5, "
                                           "true, {a: 1})")


@dataclass(kw_only=True)
class _Tokenizer:
    tokenizer: str | None = option(None, help="openai, transformers: the model's tokenizer, a folder or Hub id, which cuts "
                            "passages to fit (default: --model)")


@dataclass(kw_only=True)
class _ContextLength:
    max_model_len: int | None = option(None, help="vLLM: context length (smaller saves KV-cache memory); openai: "
                                       "the server's context length when its /models does not say it")


@dataclass(kw_only=True)
class TransformersOptions(_Weights, _Tokenizer):
    """engines.TransformersEngine's options."""

    batch_size: int | None = option(None, help="transformers: most prompts a batch (default: 48 on a CPU, on a GPU "
                                    "as many as 40% of free memory holds, at most 512)")
    batching: str | None = option(None, choices=BATCHING, help="transformers: continuous (transformers' "
                                  "generate_batch, paged KV cache) or padded batches sorted by length (default auto: the "
                                  "one measured faster on the device: padded on a CPU, and on a GPU until a GPU "
                                  "figure says otherwise)")
    batch_tokens: int | None = option(None, cli=False, help="tokens a padded batch holds at most")
    cache_implementation: str | None = option(None, cli=False, help="transformers' KV cache")
    device: str | None = option(None, cli=False, help="where the model runs (default: cuda when visible)")


@dataclass(kw_only=True)
class VllmOptions(_Weights, _ContextLength):
    """engines.VllmEngine's options."""

    tensor_parallel_size: int | None = option(None, help="vLLM: GPUs per model")
    gpu_memory_utilization: float | None = option(None, help="vLLM: share of GPU memory it may take")
    llm: Any = option(None, cli=False, help="a vllm.LLM already made")
    params_cls: Any = option(None, cli=False, help="the SamplingParams class")


@dataclass(kw_only=True)
class OpenAIOptions(_Tokenizer, _ContextLength):
    """server.OpenAIEngine's options."""

    base_url: str | None = option(None, metavar="URL", help="openai: the server's API root, e.g. "
                                  "http://127.0.0.1:8000/v1 (--model is the model's name there)")
    api_key_env: str | None = option(None, metavar="NAME", help="openai: environment variable holding the API key "
                                     "(the key is never a flag, never printed or written; default: no key)")
    concurrency: int | None = option(None, help="openai: requests in flight (default: 32)")
    request_timeout: float | None = option(None, metavar="SECONDS", help="openai: seconds a request may take, the "
                                           "client's retries of it included, before it is tried again (default: 300)")

    def __post_init__(self):
        if self.concurrency is not None and self.concurrency < 1:
            raise ConfigError(f"`concurrency` must be at least 1, got {self.concurrency}", field="concurrency")
        if self.request_timeout is not None and self.request_timeout <= 0:
            raise ConfigError(f"`request_timeout` must be more than 0, got {self.request_timeout}",
                              field="request_timeout")


ENGINES = {"transformers": TransformersOptions, "vllm": VllmOptions, "openai": OpenAIOptions}


@dataclass(kw_only=True)
class EngineOptions(OpenAIOptions, VllmOptions, TransformersOptions, _Backend):
    """The backend and every engine's options (None: not set); `for_engine` keeps the chosen
    engine's, and refuses one set for another engine."""

    _argument_group_name = ("engine (each option applies to the engines its help names; giving one to another engine "
                            "is an error)")

    def __post_init__(self):
        if self.backend not in GENERATION_BACKENDS:
            raise ConfigError(f"`backend` must be one of {', '.join(GENERATION_BACKENDS)}, got {self.backend!r}",
                              field="backend")
        if isinstance(self.engine_args, (list, tuple)):  # KEY=VALUE words from the command line
            self.engine_args = yaml_values(self.engine_args, "engine_args") or None
        OpenAIOptions.__post_init__(self)

    def given(self) -> dict:
        """The engine options that were set, by name."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if f.name != "backend" and getattr(self, f.name) is not None}

    def for_engine(self, chosen: str, asked: str | None = None):
        """The options object of the `chosen` engine (its ENGINES class); an option set that it does
        not take is a ConfigError naming it and the engines that take it."""
        cls = ENGINES[chosen]
        takes = {f.name for f in fields(cls)}
        given = self.given()
        foreign = [name for name in given if name not in takes]
        if foreign:
            why = " (`backend` auto found vLLM and a GPU)" if asked == "auto" and chosen == "vllm" else \
                " (vLLM is not installed or no GPU is visible)" if asked == "auto" else ""
            takers = [engine for engine, other in ENGINES.items() if foreign[0] in {f.name for f in fields(other)}]
            names = ", ".join(f"`{name}`" for name in foreign)
            raise ConfigError(f"{names} {'apply' if len(foreign) > 1 else 'applies'} to the {' and '.join(takers)} "
                              f"engine{'s' if len(takers) > 1 else ''}, but the {chosen} engine runs{why}",
                              field=foreign[0])
        return cls(**given)


def yaml_values(words, field: str) -> dict:
    """{key: value} from KEY=VALUE words, each value read as YAML (8, 0.5, true, {a: 1}), and from
    mappings among them (a --config file's); dashes in a key become underscores (a word without `=`
    or key is a ConfigError naming `field`)."""
    import yaml

    return key_value_map(words, field, parse=lambda v: yaml.safe_load(v) if v else "")
