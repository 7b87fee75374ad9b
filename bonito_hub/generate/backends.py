"""Which engine runs a generation: `make_engine(model, backend, **options)`.

    auto          vLLM where it is installed and a GPU is visible, else transformers
    transformers  engines.TransformersEngine, in this process, anywhere
    vllm          engines.VllmEngine, in this process, on a GPU
    openai        server.OpenAIEngine, a model any OpenAI-compatible server serves
"""

from __future__ import annotations

from dataclasses import fields

from bonito_hub.errors import ConfigError
from bonito_hub.generate.engine_options import ENGINES, EngineOptions  # noqa: F401
from bonito_hub.models import BACKENDS, GENERATION_BACKENDS, check_model_source, resolve_backend  # noqa: F401

def make_engine(model, backend: str = "auto", options=None, **more):
    """The engine for `backend` ("auto": vLLM where it is installed and a GPU is visible, else
    transformers; "openai": a server, see server.py), given only options it takes. An option meant
    for another engine is an error that names it: silently dropping a setting the user chose would
    hide a mistake. `options` may be an EngineOptions (or an engine's own options object) instead
    of names."""
    if options is not None and not isinstance(options, dict):
        more = {**{f.name: getattr(options, f.name) for f in fields(options) if f.name != "backend"}, **more}
    options = {**(options if isinstance(options, dict) else {}), **more}
    if backend not in GENERATION_BACKENDS:
        raise ConfigError(f"`backend` must be one of {', '.join(GENERATION_BACKENDS)}, got {backend!r}",
                          field="backend")
    unknown = sorted(set(options) - {f.name for f in fields(EngineOptions)} - {"backend"})
    if unknown:
        raise ConfigError(f"`{unknown[0]}` is not an option of any engine", field=unknown[0])
    chosen = "openai" if backend == "openai" else resolve_backend(backend)
    typed = EngineOptions(backend=backend, **options).for_engine(chosen, asked=backend)
    given = {f.name: getattr(typed, f.name) for f in fields(typed) if getattr(typed, f.name) is not None}
    if chosen == "openai":
        from bonito_hub.generate.server import OpenAIEngine

        return OpenAIEngine(model, **given)
    from bonito_hub.generate.engines import TransformersEngine, VllmEngine

    check_model_source(model)
    if chosen == "vllm":
        return VllmEngine(model, **given)
    return TransformersEngine(model, **given)
