"""What a run reads before anything else: its documents (as the run reads them, with the one
warning line about their languages) and the settings that decide its rows. `generate` and the
dry run's estimate (bonito_hub.generate.forecast) both start here."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from bonito_hub import documents, hub, language
from bonito_hub.corpus import check_text_column, load_texts
from bonito_hub.documents import Limits
from bonito_hub.generate.config import GenerateConfig


def run_settings(config: GenerateConfig):
    """What decides the run's rows (config.run); with `exclude_overlap`, a copy holding the
    evaluation set's n-gram index (the config stays as it was made)."""
    settings = config.run
    if config.exclude_overlap is not None:
        from bonito_hub.overlap import NgramIndex, target_index

        index = config.exclude_overlap
        settings = replace(settings, exclude_overlap=index if isinstance(index, NgramIndex)
                                       else target_index(str(index)))
    return settings


def read_input(config: GenerateConfig, engine=None, survey: bool = True):
    """The run's documents, read as the run reads them; with `survey`, their languages against the
    generator's, one warning line, before any model loads."""
    d = config.options.documents
    texts = load_texts(config.input, split=d.split, encoding=d.encoding, exclude=[config.output, *config.exclude],
                       skip_bad_files=d.skip_bad_files, follow_links=d.follow_links,
                       limits=Limits(d.max_document_mb, d.max_document_pages), config=d.input_config,
                       clean=not d.keep_page_furniture, ocr=d.ocr == "auto" and documents.ocr_available())
    check_text_column(texts, d.text_column)
    if survey:
        model_name = engine.model_name if engine is not None else config.model
        # a local model's card, or that of a Hub id checked reachable above (not a server's model name, nor
        # the name of an engine given already loaded, which may be anything)
        card_of = model_name if hub.is_local(str(model_name)) and Path(str(model_name)).is_dir() else \
            config.model if engine is None and config.backend != "openai" else None
        generator, source = language.generator_languages(card_of, d.generator_language)
        language.survey(texts, d.text_column, generator, source, config.run.language_filter)
    return texts
