"""CTGA: meta-templates from promptsource, the source registry, and the build.

`build(CtgaConfig(...), output)` is the entry point (`bonito ctga build`); `Ctga` is the
`datasets` builder it runs.
"""

from bonito_hub.ctga.build import build
from bonito_hub.ctga.builder import Ctga, CtgaConfig

__all__ = ["Ctga", "CtgaConfig", "build"]
