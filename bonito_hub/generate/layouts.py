"""`bonito export`: a finished generation in the layout another trainer reads, with its config
fragment, its held-out tasks as the test split, and where it came from.

    alpaca        train.jsonl / test.jsonl: {"instruction", "input": "", "output"} (Alpaca; also
                  LLaMA-Factory's alpaca format)
    sharegpt      train.jsonl / test.jsonl: {"conversations": [{"from": "human", "value"},
                  {"from": "gpt", "value"}]} (ShareGPT; LLaMA-Factory's sharegpt format)
    llamafactory  the sharegpt files, and dataset_info.json: an entry for each split whose columns
                  and role tags are those the files use (formatting sharegpt, messages ->
                  conversations, role_tag from, content_tag value, user_tag human, assistant_tag gpt)
    axolotl       train.jsonl / test.jsonl: {"messages": [{"role": "user", "content"},
                  {"role": "assistant", "content"}]}, and axolotl.yaml: `datasets:` and
                  `test_datasets:` blocks of type chat_template, trained on the assistant's turn only

Each row is one task: the instruction (with its passage) as the user's turn, the response as the
assistant's. The training rows are the run's (with `bonito review`'s decisions applied); the test
split is the held-out documents' tasks (a run with `holdout`), none of whose text is in training.
README.md says which run made them (bonito_hub/data/cards/export.md); export.json is its record.
Paths in the fragments are relative to the export folder: nothing of this machine is written.
"""

from __future__ import annotations

import json
from pathlib import Path

from bonito_hub import hub, records, resources
from bonito_hub.console import get_logger
from bonito_hub.errors import ConfigError, OutputError

log = get_logger(__name__)

TARGETS = ("llamafactory", "axolotl", "sharegpt", "alpaca")
EXPORT_RECORD = "export.json"
BATCH = 10_000
# LLaMA-Factory's sharegpt tags, as the files are written (its defaults, said explicitly)
SHAREGPT_TAGS = {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt"}


def layout_row(to: str, instruction: str, response: str) -> dict:
    """One task in the layout `to` reads."""
    if to == "alpaca":
        return {"instruction": instruction, "input": "", "output": response}
    if to in ("sharegpt", "llamafactory"):
        return {"conversations": [{"from": SHAREGPT_TAGS["user_tag"], "value": instruction},
                                  {"from": SHAREGPT_TAGS["assistant_tag"], "value": response}]}
    return {"messages": [{"role": "user", "content": instruction}, {"role": "assistant", "content": response}]}


def _dataset_info(name: str, splits: dict[str, str]) -> dict:
    return {(name if split == "train" else f"{name}_{split}"): {
        "file_name": file, "formatting": "sharegpt", "columns": {"messages": "conversations"}, "tags": SHAREGPT_TAGS}
        for split, file in splits.items()}


def _axolotl(splits: dict[str, str]) -> str:
    def block(file: str, split_note: str) -> list[str]:
        return [f"  - path: {file}  # relative to the folder axolotl runs in: this export's{split_note}",
                "    ds_type: json", "    type: chat_template", "    field_messages: messages",
                "    message_property_mappings:", "      role: role", "      content: content",
                "    roles_to_train: [assistant]  # the loss on the response only"]

    lines = ["# bonito export: merge into your axolotl config (paths relative to this folder)", "datasets:",
             *block(splits["train"], " training rows")]
    if "test" in splits:
        lines += ["test_datasets:", *block(splits["test"], " held-out tasks"), "    split: train"]
    return "\n".join(lines) + "\n"


def _rows(folder: Path, files: list[str]):
    """(instruction, response) of the rows in `files`, a batch of Parquet rows at a time."""
    import pyarrow.parquet as pq

    for name in files:
        for batch in pq.ParquetFile(folder / name).iter_batches(batch_size=BATCH, columns=["input", "output"]):
            yield from zip(batch.column("input").to_pylist(), batch.column("output").to_pylist())


def export(folder, to: str, output, name: str = "bonito") -> dict:
    """Write the finished generation `folder` into `output` (a new or empty folder, or an earlier
    export of ours, replaced) in the layout `to` (TARGETS); returns the export's record."""
    from bonito_hub.folders import Manifest, claim_output, lock, remove_ours, write_atomic
    from bonito_hub.generate.folder import RUN_FILE, data_files, finished_chunks
    from bonito_hub.generate.funnel import Funnel
    from bonito_hub.generate.review import apply_if_decided

    if to not in TARGETS:
        raise ConfigError(f"`to` must be one of {', '.join(TARGETS)}, got {to!r}", field="to")
    if not name or not name.replace("_", "").replace("-", "").isalnum():
        raise ConfigError(f"`name` {name!r}: letters, digits, - and _ only (LLaMA-Factory's dataset key)",
                          field="name")
    folder, output = Path(folder), Path(output)
    record = records.read_record(folder / RUN_FILE) if folder.is_dir() else None
    if record is None:
        raise ConfigError(f"{folder} is not a `bonito generate` folder (no {RUN_FILE} in it)", field="folder")
    if output.resolve() == folder.resolve() or output.resolve().is_relative_to(folder.resolve()):
        raise OutputError(f"`output` {output} is inside the run's folder; choose a folder outside it", field="output")
    earlier = claim_output(output, EXPORT_RECORD, f"an export ({EXPORT_RECORD})")
    with lock(folder, field="folder"), lock(output):
        if Funnel.read(folder) is None:
            raise ConfigError(f"{folder} holds an unfinished generation run; finish it (run the same `bonito "
                              "generate` command again) before exporting", field="folder")
        apply_if_decided(folder)  # the reviewed rows are the ones exported
        done = finished_chunks(folder)
        train_files = data_files(done)
        test_files = [r["heldout_file"] for _, r in sorted(done.items()) if r.get("heldout_file")]
        if not train_files:
            raise ConfigError(f"{folder}: the run kept no rows, so there is nothing to export", field="folder")
        if earlier is not None:  # an earlier export of ours: its files go, a hand-edited one is kept
            remove_ours(output)
        Manifest(output).create()
        counts, splits = {}, {}
        for split, files in (("train", train_files), ("test", test_files)):
            if not files:
                continue
            splits[split] = f"{split}.jsonl"

            def write(path, files=files, split=split):
                n = 0
                with open(path, "w", encoding="utf-8") as f:
                    for instruction, response in _rows(folder, files):
                        f.write(json.dumps(layout_row(to, instruction, response), ensure_ascii=False) + "\n")
                        n += 1
                counts[split] = n

            write_atomic(output / splits[split], write)
        fragments = []
        if to == "llamafactory":
            write_atomic(output / "dataset_info.json", json.dumps(_dataset_info(name, splits), indent=2) + "\n")
            fragments.append("dataset_info.json")
        if to == "axolotl":
            write_atomic(output / "axolotl.yaml", _axolotl(splits))
            fragments.append("axolotl.yaml")
        model = Path(record["model"]).name if hub.is_local(record["model"]) else record["model"]
        funnel = Funnel.read(folder).to_dict()
        result = records.make_record({"to": to, "name": name}, rows=counts, files=sorted(splits.values()),
                                     fragments=fragments, generator=model, run_created=record.get("created"),
                                     task_type=record["options"]["task_type"], input_fingerprint=record["input"].get("content"))
        from jinja2 import Template

        card = Template(resources.read_text("cards/export.md"), keep_trailing_newline=True).render(
            to=to, name=name, rows=counts, splits=splits, fragments=fragments, model=model, funnel=funnel,
            run=record["options"], created=record.get("created"), fingerprint=record["input"].get("content"),
            tags=SHAREGPT_TAGS)
        write_atomic(output / "README.md", card)
        records.write_record(output / EXPORT_RECORD, result)
    log.debug("exported %s rows to %s (%s)", ", ".join(f"{n} {s}" for s, n in counts.items()), output, to)
    return result
