"""Publishing a prepared CTGA builder: Parquet shards per task type, and a card whose YAML
`configs:` make `load_dataset(DIR)` (config "all") and `load_dataset(DIR, "exqa")` work.

Layout: data/<task type>/<split>-<build id>-NNNNN.parquet. The build id is in every file name
and every pattern of the card: datasets keys its cache on the configs, so a pattern that stayed
the same across builds would let it serve the previous build's rows.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from huggingface_hub import DatasetCard, DatasetCardData

from bonito_hub import records, resources, tasks
from bonito_hub.console import progress_bar
from bonito_hub.ctga.builder import EXAMPLE_COLUMNS, FEATURES, SPLITS
from bonito_hub.push import link_or_copy, required_record, upload

BATCH_ROWS = 10_000
PUBLISHED_FEATURES = type(FEATURES)({name: FEATURES[name] for name in EXAMPLE_COLUMNS})


def write_parquet(builder, folder: Path, build_id: str, max_rows: int) -> dict[str, dict[str, list[str]]]:
    """Stream the builder's kept rows into Parquet shards of at most `max_rows` rows; returns
    {task type: {split: [relative paths]}}."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    short_of = {tasks.full_name(s): s for s in tasks.short_names()}
    # the published schema: the example columns, with datasets' feature metadata for just those
    metadata = PUBLISHED_FEATURES.arrow_schema.metadata
    files: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for split in SPLITS:
        if split not in builder.info.splits:
            continue
        ds = builder.as_dataset(split=split)
        writers: dict[str, tuple] = {}  # short -> (writer, rows in current file, shard number)
        bar = progress_bar(total=len(ds), desc=f"writing {split} Parquet", unit="row")
        for batch in ds.with_format("arrow").iter(batch_size=BATCH_ROWS):
            bar.update(batch.num_rows)
            batch = batch.filter(pc.is_null(batch["skip_reason"])).select(list(EXAMPLE_COLUMNS))
            batch = batch.replace_schema_metadata(metadata)
            for full in pc.unique(batch["task_type"]).to_pylist():
                part = batch.filter(pc.equal(batch["task_type"], full))
                short = short_of[full]
                writer, count, shard = writers.get(short, (None, 0, -1))
                if writer is None or count >= max_rows:
                    if writer is not None:
                        writer.close()
                    shard += 1
                    rel = f"data/{short}/{split}-{build_id}-{shard:05d}.parquet"
                    (folder / rel).parent.mkdir(parents=True, exist_ok=True)
                    files[short][split].append(rel)
                    writer, count = pq.ParquetWriter(folder / rel, part.schema), 0
                writer.write_table(part)
                writers[short] = (writer, count + part.num_rows, shard)
        bar.close()
        for writer, _, _ in writers.values():
            writer.close()
        del ds
    return {k: dict(v) for k, v in files.items()}


def configs(files: dict[str, dict[str, list[str]]], build_id: str) -> list[dict]:
    """The card's `configs:`: "all" (the default) and one per task type present."""
    def split_files(shorts):
        out = []
        for split in SPLITS:
            patterns = [f"data/{s}/{split}-{build_id}-*.parquet" for s in shorts if files.get(s, {}).get(split)]
            if patterns:
                out.append({"split": split, "path": patterns if len(patterns) > 1 else patterns[0]})
        return out

    present = [s for s in tasks.short_names() if s in files]
    return [{"config_name": "all", "data_files": split_files(present), "default": True}] + \
        [{"config_name": s, "data_files": split_files([s])} for s in present]


LICENSE_FILE = "LICENSE.md"


def source_repos(record: dict) -> dict[str, str]:
    """Each source of a build -> its Hub repo: the one read, or, for a local copy (`sources_dir`),
    the one the registry names for it."""
    from bonito_hub.ctga.sources import load_registry

    registry = None
    repos = {}
    for name, info in record["sources"].items():
        repo = info.get("repo")
        if not repo:
            path = record["options"].get("registry")
            registry = registry or load_registry(path if path and Path(path).is_file() else None)
            repo = registry[name].repo if name in registry else None
        if repo:
            repos[name] = repo
    return repos


def write_card(folder: Path, record: dict, where: str | None = None) -> Path:
    """README.md from the card template and the build record, and LICENSE.md, the licence of each
    source (the card's `license_link`); `where` is what its snippet loads (a Hub repo id once
    pushed; the folder's name by default)."""
    from bonito_hub.cards import size_category, task_metadata

    repos = source_repos(record)
    types = [s for s in tasks.short_names() if s in record["files"]]
    data = DatasetCardData(
        language=["en"],
        license="other",
        license_name="ctga-per-source",
        license_link=LICENSE_FILE,
        annotations_creators=["expert-generated"],  # the source data sets' labels, through promptsource's templates
        language_creators=["found", "expert-generated"],
        source_datasets=[f"extended|{repo}" for repo in dict.fromkeys(repos.values())] or ["original"],
        **task_metadata(types),
        size_categories=[size_category(record["rows"])],
        pretty_name="CTGA (built by bonito-hub)",
        tags=["bonito", "synthetic-instruction-tuning", "ctga"],
        configs=record["configs"],
    )
    card = DatasetCard.from_template(data, template_str=resources.read_text("cards/ctga.md"),
                                     where=where or Path(folder).name, **record)
    path = Path(folder) / "README.md"
    card.save(path)
    (Path(folder) / LICENSE_FILE).write_text(license_text(record, repos), encoding="utf-8")
    return path


def license_text(record: dict, repos: dict[str, str]) -> str:
    """LICENSE.md of a CTGA build: no licence of its own; each source's rows stay under the
    source's licence, one line a source."""
    lines = ["# Licences of CTGA's sources", "",
             "This build has no licence of its own: its rows are P3 prompts rendered from the source data sets "
             "below, and each row stays under the licence of the data set it came from (the `dataset` column "
             "names it). Check each source's own card before use; where the registry records a licence, it is "
             "given here.", "", "| source | Hub repo | licence |", "|---|---|---|"]
    for name, info in sorted(record["sources"].items()):
        repo = repos.get(name)
        link = f"[`{repo}`](https://huggingface.co/datasets/{repo})" if repo else "local copy"
        lines.append(f"| {name} | {link} | {info.get('license') or 'see the source card'} |")
    return "\n".join(lines) + "\n"


def prepare_upload(source: Path, dest: Path, repo_id: str | None = None) -> None:
    """Write into `dest` what a push of the CTGA build `source` uploads: its record, its Parquet
    shards and its card."""
    record = required_record(source, records.CTGA_BUILD, "a CTGA build")
    for name in [records.CTGA_BUILD] + [p for files in record["files"].values() for ps in files.values() for p in ps]:
        link_or_copy(source / name, dest / name)
    write_card(dest, record, where=repo_id)


def push_ctga(folder, repo_id: str, *, public: bool = False, dry_run: bool = False, keep=None):
    """Push a CTGA build to the data set repo `repo_id` with its card, private unless `public`
    (bonito_hub.push.upload says what `dry_run` and `keep` do)."""
    return upload("ctga", folder, repo_id, lambda source, dest: prepare_upload(source, dest, repo_id),
                  repo_type="dataset", public=public, dry_run=dry_run, keep=keep)

