"""Task generation: passages in, synthetic instruction-tuning data out.

`generate(GenerateConfig(...))` is the entry point every caller uses (the `bonito generate`
command, `bonito adapt`, and `Bonito.generate_tasks`, the released bonito-llm package's API);
`review` is what `bonito review` shows of a run and how a person's decisions change its rows.
"""

from bonito_hub.generate.api import Bonito
from bonito_hub.generate.config import (CHUNK_TOKENS, FORMAT_ALIASES, FORMATS, GenerateArgs, GenerateConfig,
                                       GenerationOptions, InputOptions, RunConfig, SamplingConfig)
from bonito_hub.generate.backends import BACKENDS, GENERATION_BACKENDS, make_engine
from bonito_hub.generate.engines import Engine
from bonito_hub.generate.config import EstimateOptions
from bonito_hub.generate.forecast import Estimate, check_budget, estimate
from bonito_hub.generate.layouts import TARGETS as EXPORT_TARGETS
from bonito_hub.generate.layouts import export
from bonito_hub.generate.filters import FILTERS
from bonito_hub.generate.funnel import Funnel
from bonito_hub.generate.generation import GenerateResult, generate
from bonito_hub.generate.heldout import DEFAULT_FRACTION as DEFAULT_HOLDOUT
from bonito_hub.generate.heldout import EVALUABLE, check_fraction, check_holdout
from bonito_hub.generate.presets import presets as generation_presets
from bonito_hub.generate.publish import push_dataset
from bonito_hub.generate.run import GenerationRun
from bonito_hub.generate import review  # `bonito review`: the page, the decisions and their application

__all__ = ["BACKENDS", "Bonito", "CHUNK_TOKENS", "DEFAULT_HOLDOUT", "EVALUABLE", "EXPORT_TARGETS", "Engine", "Estimate", "EstimateOptions", "FILTERS", "FORMATS", "FORMAT_ALIASES", "Funnel", "GENERATION_BACKENDS",
           "GenerateArgs", "GenerateConfig", "GenerationOptions", "InputOptions",
           "GenerateResult", "GenerationRun", "RunConfig", "SamplingConfig", "check_budget", "check_fraction", "check_holdout", "estimate", "export", "generate", "generation_presets",
           "make_engine", "push_dataset", "review"]
