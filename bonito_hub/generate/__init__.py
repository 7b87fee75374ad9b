"""Task generation: passages in, synthetic instruction-tuning data out."""

from bonito_hub.generate.api import Bonito
from bonito_hub.generate.engines import Engine, SamplingConfig, make_engine
from bonito_hub.generate.run import GenerationRun, RunConfig

__all__ = ["Bonito", "Engine", "GenerationRun", "RunConfig", "SamplingConfig", "make_engine"]
