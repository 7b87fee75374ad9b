"""A finished generation on the Hub: its data files, run record, funnel and a card that
`load_dataset` reads; the upload itself is bonito_hub.push's."""

from __future__ import annotations

from pathlib import Path

from bonito_hub import hub
from bonito_hub.cards import license_fields
from bonito_hub.errors import PushError
from bonito_hub.generate.card import write_generation_card
from bonito_hub.generate.folder import FUNNEL_FILE, RUN_FILE, data_files, finished_chunks, written_format
from bonito_hub.generate.funnel import Funnel
from bonito_hub.push import Upload, check_languages, link_or_copy, required_record, upload


def prepare_upload(source: Path, dest: Path, include_examples: bool = False, generator: str | None = None,
                   language: list[str] | None = None, repo_id: str | None = None, license: dict | None = None) -> None:
    """Write into `dest` what a push of the generation folder `source` uploads."""
    record = required_record(source, RUN_FILE, "a `bonito generate` folder")
    funnel = Funnel.read(source)
    if funnel is None:
        raise PushError(f"{source} holds an unfinished generation run; finish it (run the same `bonito generate` "
                        "command again) before pushing")
    files = data_files(finished_chunks(source))
    if not files:
        raise PushError(f"{source}: the run kept no rows, so there is nothing to push")
    for name in (RUN_FILE, FUNNEL_FILE, *files):
        link_or_copy(source / name, dest / name)
    examples = None
    if include_examples:
        import pyarrow.parquet as pq

        examples = pq.read_table(source / files[0], columns=["input", "output"]).slice(0, 3).to_pylist()
    # A generator loaded from a folder is named by the folder's name only: its full path can say
    # more about the user's machine than they mean to publish.
    model = generator or (Path(record["model"]).name if hub.is_local(record["model"]) else record["model"])
    write_generation_card(dest, {**record, "model": model}, funnel, files, examples=examples, language=language,
                          where=repo_id, license=license, fmt=written_format(record, source, files))


def push_dataset(folder, repo_id: str, *, public: bool = False, dry_run: bool = False, keep=None,
                 include_examples: bool = False, generator: str | None = None,
                 language: list[str] | None = None, license: str | None = None, license_name: str | None = None,
                 license_link: str | None = None) -> Upload:
    """Push a `bonito generate` folder to the data set repo `repo_id` with its card, private unless
    `public` (bonito_hub.push.upload says what `dry_run` and `keep` do). The card quotes no row
    unless `include_examples`; `generator` names the model on the card (a folder is otherwise named
    by its last part). `license` (a Hub licence id; `other` with `license_name` and `license_link`)
    is the set's licence on its card: required when `public`, `unknown` otherwise when not given.

    Example:
        >>> push_dataset("generated/", "me/my-synthetic-set", dry_run=True).files
        ['README.md', 'data/chunk-000000-....parquet', 'funnel.json', 'run.json']
    """
    if language:
        check_languages(language)
    card_license = license_fields(license, license_name, license_link, public=public)
    from bonito_hub.generate.review import apply_if_decided

    if not dry_run:  # the reviewed rows are the ones pushed (a dry run writes nothing in the folder)
        apply_if_decided(folder)
    return upload("dataset", folder, repo_id,
                  lambda source, dest: prepare_upload(source, dest, include_examples, generator, language, repo_id,
                                                     card_license),
                  repo_type="dataset", public=public, dry_run=dry_run, keep=keep)
