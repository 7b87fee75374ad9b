"""Importing the `datasets` builder that lives in dataset_builders/ctga/ctga.py."""

from __future__ import annotations

import importlib.util
import sys

from bonito_hub.paths import ctga_file

MODULE_NAME = "bonito_hub_ctga_builder"


def load_builder_class():
    module = sys.modules.get(MODULE_NAME)
    if module is None:
        spec = importlib.util.spec_from_file_location(MODULE_NAME, ctga_file("ctga.py"))
        module = importlib.util.module_from_spec(spec)
        # Registered before exec so worker processes can pickle the builder by reference.
        sys.modules[MODULE_NAME] = module
        spec.loader.exec_module(module)
    return module.Ctga
