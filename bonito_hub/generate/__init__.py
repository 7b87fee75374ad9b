"""Task generation: passages in, synthetic instruction-tuning data out."""

from bonito_hub.generate.api import Bonito
from bonito_hub.generate.engines import SamplingConfig

__all__ = ["Bonito", "SamplingConfig"]
