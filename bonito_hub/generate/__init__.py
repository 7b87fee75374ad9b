"""Task generation: passages in, synthetic instruction-tuning data out.

`generate(GenerateConfig(...))` is the entry point every caller uses (the `bonito generate`
command, `bonito adapt`, and `Bonito.generate_tasks`, the released bonito-llm package's API).
"""

from bonito_hub.generate.api import Bonito
from bonito_hub.generate.config import CHUNK_TOKENS, FORMAT_ALIASES, FORMATS, GenerateConfig, RunConfig, SamplingConfig
from bonito_hub.generate.backends import BACKENDS, GENERATION_BACKENDS, make_engine
from bonito_hub.generate.engines import Engine
from bonito_hub.generate.filters import FILTERS
from bonito_hub.generate.generation import GenerateResult, generate
from bonito_hub.generate.presets import presets as generation_presets
from bonito_hub.generate.run import GenerationRun

__all__ = ["BACKENDS", "Bonito", "CHUNK_TOKENS", "Engine", "FILTERS", "FORMATS", "FORMAT_ALIASES", "GENERATION_BACKENDS",
           "GenerateConfig",
           "GenerateResult", "GenerationRun", "RunConfig", "SamplingConfig", "generate", "generation_presets", "make_engine"]
