"""CTGA as a `datasets` builder: this folder is where the design puts it; the builder itself is
`bonito_hub.ctga.builder`, installed with the package, and this file only re-exports it.

Build and publish with `bonito ctga build --output DIR`; then `load_dataset(DIR)` or
`load_dataset(DIR, "exqa")`. The tables this builder reads are package data (links here).
"""

from bonito_hub.ctga.builder import FEATURES, Ctga, CtgaConfig

__all__ = ["Ctga", "CtgaConfig", "FEATURES"]
