"""CTGA: meta-templates from promptsource, the source registry, and the build."""
