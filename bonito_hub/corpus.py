"""Reading the user's unannotated text (the corpus) as a memory-mapped `datasets.Dataset`:
what `bonito generate` reads passages from and the next-word-prediction baseline trains on.

Accepted: a JSON Lines / JSON, CSV, Parquet or plain-text file (documents separated by blank
lines), a PDF, HTML or Word (.docx) file (the `documents` extra; bonito_hub.documents), a folder
of .txt/.md/.pdf/.html/.htm/.docx documents (one document a file, its relative path as id), a
folder written by `save_to_disk` or holding data files `load_dataset` reads, or a Hub data set id.

With `skip_bad_files`, a document with no text to read (no text layer, encrypted, corrupt) is a
row with no text and, in the column `skipped`, the reason; a run counts it by reason.
"""

from __future__ import annotations

from pathlib import Path

from bonito_hub import documents
from bonito_hub.errors import BadDocument, BonitoError, InputError, cause

FILE_BUILDERS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet", ".txt": "text"}
DOC_SUFFIXES = {".txt", ".md"}
TEXT_BUILDERS = {"json", "csv", "text"}
BLOCK = 1 << 20
BINARY_SNIFF = 8192


def check_decoding(path: Path, encoding: str = "utf-8") -> None:
    """The one decoding rule for every text input: the whole file decodes with `encoding`
    (UTF-8 unless the user says otherwise), or an InputError names the file and the line of the
    first bad byte. A file with NUL bytes near its start is binary and refused by name; an empty
    file is refused too."""
    import codecs

    try:
        decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    except LookupError:
        raise InputError(f"`encoding` {encoding!r} is not an encoding Python knows", field="encoding") from None
    lines, offset = 1, 0
    with open(path, "rb") as f:
        first = True
        while block := f.read(BLOCK):
            if first and b"\0" in block[:BINARY_SNIFF] and not encoding.lower().startswith("utf-16"):
                raise InputError(f"{path} is a binary file, not text")
            if first and not block.strip():
                raise InputError(f"{path} holds no text")
            first = False
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                line = lines + block[:exc.start].count(b"\n")
                raise InputError(f"{path}, line {line} (byte {offset + exc.start}): not valid {encoding} "
                                 f"({exc.reason}); pass `encoding` with the file's encoding (for example latin-1)") from None
            lines += block.count(b"\n")
            offset += len(block)
        if first:
            raise InputError(f"{path} is empty")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            raise InputError(f"{path}: ends inside a {encoding} character ({exc.reason})") from None


def _inside(path: Path, folders: list[Path]) -> bool:
    resolved = path.resolve()
    return any(resolved.is_relative_to(f) for f in folders)


def _is_document(path: Path) -> bool:
    return path.suffix.lower() in DOC_SUFFIXES or documents.kind_of(path) is not None


def _documents_folder(folder: Path, encoding: str, exclude: list[Path] = (), skip_bad_files: bool = False,
                      files: list[Path] | None = None):
    """One row a document file (id: its path relative to `folder`), read one at a time."""
    import datasets

    if files is None:
        files = sorted(p for p in folder.rglob("*") if p.is_file() and _is_document(p) and not _inside(p, exclude))
    kinds = {documents.kind_of(p) for p in files} - {None}
    documents.check_extra(kinds)  # before reading anything
    for p in files:
        if p.stat().st_size and documents.kind_of(p) is None:  # an empty document is counted as empty, not refused
            check_decoding(p, encoding)

    def gen(paths, stamps, encoding, skip_bad_files, with_skipped):
        for p in paths:
            row = {"id": p.relative_to(folder).as_posix()}
            if documents.kind_of(p) is None:
                row["text"] = p.read_text(encoding=encoding)
            else:
                try:
                    row["text"] = documents.read_document(p) if p.stat().st_size else ""
                except BadDocument as bad:
                    if not skip_bad_files:
                        raise InputError(f"{bad}; `skip_bad_files` skips such files and counts them")
                    row["text"], row["skipped"] = None, bad.reason
            if with_skipped:
                row.setdefault("skipped", None)
            yield row

    columns = {"id": datasets.Value("string"), "text": datasets.Value("string")}
    if kinds:  # only where documents are: a folder of text files keeps its columns (and its fingerprint)
        columns["skipped"] = datasets.Value("string")
    # from_generator writes Arrow to the cache, so documents are never all held in memory at once.
    # Its cache is keyed on gen_kwargs: sizes and times of the files make an edited folder a new key.
    stamps = [(p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    return datasets.Dataset.from_generator(gen, gen_kwargs={"paths": files, "stamps": stamps, "encoding": encoding,
                                                            "skip_bad_files": skip_bad_files,
                                                            "with_skipped": bool(kinds)},
                                           features=datasets.Features(columns))


def _bonito_cause(exc: BaseException) -> BonitoError | None:
    """Our own error inside another library's (datasets wraps what a generator raises)."""
    seen = exc
    while seen is not None:
        if isinstance(seen, BonitoError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def load_texts(source, split: str = "train", encoding: str = "utf-8", exclude=(), skip_bad_files: bool = False):
    """The corpus as a `datasets.Dataset`.

    Args:
        source: a `Dataset` or `DatasetDict`, a file, a folder, or a Hub data set id (see above).
        split: the split to take from a data set with several.
        encoding: of text files (JSON Lines, JSON, CSV, plain text, documents); every byte must
            decode, or the error names the file and line.
        exclude: folders that are not part of the corpus even when they lie inside its folder (the
            output a run writes there: its card is no document).
        skip_bad_files: a PDF, HTML or Word file with no text to read becomes a row without text,
            its reason in the column `skipped`, instead of an error.

    Example:
        >>> docs = load_texts("notes/")          # a folder of .txt files: columns id, text
    """
    import datasets

    if isinstance(source, (datasets.Dataset,)):
        return source
    if isinstance(source, datasets.DatasetDict):
        return _pick_split(source, split, str(source))
    path = Path(str(source))
    try:
        if path.is_file() and documents.kind_of(path) is not None:
            return _documents_folder(path.parent, encoding, skip_bad_files=skip_bad_files, files=[path])
        if path.is_file():
            builder = FILE_BUILDERS.get(path.suffix.lower())
            if builder is None:
                raise InputError(f"{path}: unsupported file type {path.suffix!r}; use "
                                 f"{', '.join(sorted({*FILE_BUILDERS, *documents.SUFFIXES}))}, a folder or a Hub "
                                 "data set id")
            kwargs = {"sample_by": "paragraph"} if builder == "text" else {}
            if builder in TEXT_BUILDERS:
                check_decoding(path, encoding)
                kwargs["encoding"] = encoding
            elif path.stat().st_size == 0:
                raise InputError(f"{path} is empty")
            return datasets.load_dataset(builder, data_files=str(path), split="train", **kwargs)
        if path.is_dir():
            exclude = [Path(e).resolve() for e in exclude if e is not None]
            saved = (path / "state.json").exists() or (path / "dataset_dict.json").exists()
            if not saved and any(_is_document(p) for p in path.rglob("*") if p.is_file() and not _inside(p, exclude)):
                return _documents_folder(path, encoding, exclude, skip_bad_files)
            if any(e.is_relative_to(path.resolve()) for e in exclude):
                raise InputError(f"`output` is inside `input` {source}, a data set folder whose files are all read: "
                                 "choose an `output` outside it", field="output")
            if saved:
                loaded = datasets.load_from_disk(str(path))
                return _pick_split(loaded, split, str(path)) if isinstance(loaded, datasets.DatasetDict) else loaded
            return _pick_split(datasets.load_dataset(str(path)), split, str(path))
        if path.exists() or str(source).startswith((".", "/")):
            raise InputError(f"input {source} is neither a file nor a folder")
        return _pick_split(datasets.load_dataset(str(source)), split, str(source))
    except InputError:
        raise
    except Exception as exc:
        ours = _bonito_cause(exc)
        if ours is not None:
            raise ours from None
        raise InputError(f"could not read input {source}: {cause(exc)}") from None


def _pick_split(dd, split: str, name: str):
    if split not in dd:
        raise InputError(f"{name} has no split {split!r}; splits: {', '.join(dd)}")
    return dd[split]


def check_text_column(ds, column: str) -> None:
    import datasets

    if column not in ds.column_names:
        raise InputError(f"text column {column!r} not found; columns: {', '.join(ds.column_names)}")
    feature = ds.features[column]
    if not (isinstance(feature, datasets.Value) and feature.dtype in ("string", "large_string", "null")):
        raise InputError(f"text column {column!r} holds {feature}, not strings")
