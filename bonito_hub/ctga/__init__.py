"""CTGA: meta-templates from promptsource, the source registry, and the build.

`build_ctga(CtgaConfig(...), output)` is the entry point (`bonito ctga build`); `Ctga` is the
`datasets` builder it runs.
"""

from bonito_hub.ctga.build import BuildArgs
from bonito_hub.ctga.build import build as build_ctga
from bonito_hub.ctga.builder import Ctga, CtgaConfig
from bonito_hub.ctga.publish import push_ctga

__all__ = ["BuildArgs", "Ctga", "CtgaConfig", "build_ctga", "push_ctga"]
