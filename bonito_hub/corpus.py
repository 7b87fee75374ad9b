"""Reading the user's unannotated text (the corpus) as a memory-mapped `datasets.Dataset`:
what `bonito generate` reads passages from and the next-word-prediction baseline trains on.

Accepted: a JSON Lines / JSON, CSV, Parquet or plain-text file (documents separated by blank
lines), a PDF, HTML or Word (.docx) file (the `documents` extra; bonito_hub.documents), a folder
of .txt/.md/.pdf/.html/.htm/.docx documents (one document a file, its relative path as id), a
folder written by `save_to_disk` or holding data files `load_dataset` reads, or a Hub data set id.

With `skip_bad_files`, a document with no text to read (no text layer, encrypted, corrupt) is a
row with no text and, in the column `skipped`, the reason; a run counts it by reason.

Inputs never reach outside their folder: in a folder, a symbolic link whose target lies outside
it is refused (`follow_links` reads it anyway), and anything that is not a regular file (a FIFO, a
device, a socket, or a file of /proc, /sys or /dev, which report sizes and contents of their own)
is refused whatever the flags; with `skip_bad_files` both are skipped and counted instead.
"""

from __future__ import annotations

import os
from pathlib import Path

from bonito_hub import documents
from bonito_hub.errors import BadDocument, BonitoError, InputError, cause
from bonito_hub.folders import MANIFEST, sha256

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


# file systems whose files are not documents: what they hold is the machine's state, and a read
# of some of them never ends
PSEUDO = (Path("/proc"), Path("/sys"), Path("/dev"))
LINK_OUT, NOT_REGULAR = "link outside the folder", "not a regular file"


def unsafe(path: Path, folder: Path | None, follow_links: bool = False) -> str | None:
    """Why `path` (a file found in `folder`, or named by the user when `folder` is None) may not be
    read, or None: a link out of `folder` (unless `follow_links`), or not a regular file."""
    import stat

    target = path.resolve()
    if any(target == p or p in target.parents for p in PSEUDO):
        return NOT_REGULAR
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return NOT_REGULAR  # a dangling link
    if not stat.S_ISREG(mode):
        return NOT_REGULAR
    if folder is not None and not follow_links and path.is_symlink() and not target.is_relative_to(folder.resolve()):
        return LINK_OUT
    return None


def refusal(path, reason: str) -> InputError:
    if reason == LINK_OUT:
        return InputError(f"{path} is a symbolic link to a file outside the input folder; inputs are read only inside "
                          "it: `follow_links` reads such links anyway, `skip_bad_files` skips them")
    return InputError(f"{path} is not a regular file (a device, a pipe, or a file of /proc, /sys or /dev): it is "
                      "never read; `skip_bad_files` skips it")


def walk(folder: Path, follow_links: bool = False) -> tuple[list[Path], dict[Path, str]]:
    """The files under `folder` that may be read, sorted, and those that may not, with their reason
    (`unsafe`). Links to folders are not walked into."""
    files, skipped = [], {}
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        for name in sorted(names):
            path = Path(root) / name
            reason = unsafe(path, folder, follow_links)
            if reason is None:
                files.append(path)
            else:
                skipped[path] = reason
    return sorted(files), skipped


def _inside(path: Path, folders: list[Path]) -> bool:
    resolved = path.resolve()
    return any(resolved.is_relative_to(f) for f in folders)


def _is_document(path: Path) -> bool:
    return path.suffix.lower() in DOC_SUFFIXES or documents.kind_of(path) is not None


def _documents_folder(folder: Path, encoding: str, files: list[Path], unreadable: dict[Path, str],
                      skip_bad_files: bool = False, limits: documents.Limits = documents.Limits(), clean: bool = True,
                      ocr: bool = False):
    """One row a document file (id: its path relative to `folder`), read one at a time; `unreadable`:
    the documents that may not be read (links out, non-regular files), refused or, with
    `skip_bad_files`, rows without text that say why. Where documents are, the column `cleaned`
    holds what their clean-up removed and joined (documents.read_document_report), as JSON."""
    import datasets

    if unreadable and not skip_bad_files:
        first = min(unreadable)
        raise refusal(first, unreadable[first])
    unreadable = dict(unreadable)
    kinds = {documents.kind_of(p) for p in files} - {None}
    documents.check_extra(kinds)  # before reading anything
    for p in files:
        if documents.kind_of(p) is None and p.stat().st_size > limits.max_bytes:
            if not skip_bad_files:
                raise InputError(f"{p}: too large ({p.stat().st_size / 1e6:.0f} MB, over `max_document_mb` "
                                 f"{limits.max_mb:g}); `skip_bad_files` skips such files and counts them")
            unreadable[p] = "too large"
    files = [p for p in files if p not in unreadable]
    for p in files:
        if p.stat().st_size and documents.kind_of(p) is None:  # an empty document is counted as empty, not refused
            check_decoding(p, encoding)

    def gen(paths, content, encoding, skip_bad_files, with_skipped, unreadable=None, limits=documents.Limits(),
            clean=True, ocr=False, repeated=frozenset()):
        import json

        for p in paths:
            row = {"id": p.relative_to(folder).as_posix()}
            if p in (unreadable or {}):
                row["text"], row["skipped"] = None, unreadable[p]
            elif documents.kind_of(p) is None:
                row["text"] = p.read_text(encoding=encoding)
            else:
                try:
                    row["text"], report = documents.read_document_report(p, limits, clean, ocr, repeated) if p.stat().st_size \
                        else ("", {})
                    if any(report.values()):
                        row["cleaned"] = json.dumps(report)
                except BadDocument as bad:
                    if not skip_bad_files:
                        raise InputError(f"{bad}; `skip_bad_files` skips such files and counts them")
                    row["text"], row["skipped"] = None, bad.reason
            if with_skipped:
                row.setdefault("skipped", None)
                row.setdefault("cleaned", None)
            yield row

    columns = {"id": datasets.Value("string"), "text": datasets.Value("string")}
    with_skipped = bool(kinds or unreadable)
    if with_skipped:  # only where documents are: a folder of text files keeps its columns (and its fingerprint)
        columns["skipped"] = datasets.Value("string")
        columns["cleaned"] = datasets.Value("string")
    # from_generator writes Arrow to the cache, so documents are never all held in memory at once.
    # Its cache is keyed on gen_kwargs: the files' content digest makes an edited folder a new key,
    # whatever its sizes and times say.
    # what the text was made from: the files' content, and how documents were read where that changes
    # it (a PDF's scanned pages by OCR or not, the clean-up or not), so a run resumes only on the same text
    reading = [("read with", {"clean": clean, "ocr": bool(ocr and "pdf" in kinds)})] if kinds else []
    content = digest([(p.relative_to(folder).as_posix(), sha256(p)) for p in files] +
                     [(p.relative_to(folder).as_posix(), reason) for p, reason in sorted(unreadable.items())] + reading)
    extra = {"unreadable": {p: unreadable[p] for p in sorted(unreadable)}} if unreadable else {}
    paths = sorted([*files, *unreadable])
    # an HTML folder's own boilerplate: the blocks on half of its pages or more, found in a first pass
    # (here, not in `gen`: datasets hands `gen` its list of paths in shards)
    repeated = documents.repeated_blocks([p for p in files if documents.kind_of(p) == "html"], limits) \
        if clean else frozenset()
    ds = datasets.Dataset.from_generator(gen, gen_kwargs={"paths": paths, "content": content, "encoding": encoding,
                                                            "skip_bad_files": skip_bad_files,
                                                            "with_skipped": with_skipped, "limits": limits,
                                                            "clean": clean, "ocr": ocr, "repeated": repeated,
                                                            **extra},
                                           features=datasets.Features(columns))
    return with_content(ds, content)


def digest(items) -> str:
    import hashlib
    import json

    return hashlib.sha256(json.dumps(items).encode()).hexdigest()


def with_content(ds, content: str):
    """`ds` marked with the digest of the files it was read from (what a run's identity records:
    datasets' own fingerprint of a file is its path and time, not its content)."""
    ds._bonito_content = content
    return ds


def content_of(ds) -> str | None:
    return getattr(ds, "_bonito_content", None)


def _bonito_cause(exc: BaseException) -> BonitoError | None:
    """Our own error inside another library's (datasets wraps what a generator raises)."""
    seen = exc
    while seen is not None:
        if isinstance(seen, BonitoError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


# the files of a data set (with its configurations named in its README.md), as datasets reads them
DATA_SET_SUFFIXES = (".parquet", ".arrow", ".jsonl", ".json", ".csv")


def load_texts(source, split: str = "train", encoding: str = "utf-8", exclude=(), skip_bad_files: bool = False,
               follow_links: bool = False, run_folder: str = "refuse", limits: documents.Limits = documents.Limits(),
               config: str | None = None, clean: bool = True, ocr: bool = False):
    """The corpus as a `datasets.Dataset`.

    Args:
        source: a `Dataset` or `DatasetDict`, a file, a folder, or a Hub data set id (see above).
        split: the split to take from a data set with several.
        config: the configuration of a data set (a Hub id or a data set folder) with several; a Hub
            id may also name it after a colon (`BatsResearch/bonito-experiment:unannotated_pubmed_qa`).
        encoding: of text files (JSON Lines, JSON, CSV, plain text, documents); every byte must
            decode, or the error names the file and line.
        exclude: folders that are not part of the corpus even when they lie inside its folder (the
            output a run writes there: its card is no document).
        skip_bad_files: a PDF, HTML or Word file with no text to read, a link out of the folder or
            a file that is not a regular one becomes a row without text, its reason in the column
            `skipped`, instead of an error.
        follow_links: read files that links in the folder point to outside it.
        limits: what one document may take (size, pages: bonito_hub.documents.Limits); a text file
            or document over them is refused, or with `skip_bad_files` skipped as "too large".
        clean: remove PDF page furniture and HTML navigation, join hyphenated words
            (bonito_hub.documents.read_document_report; counted in the column `cleaned`).
        ocr: read a PDF page without a text layer by OCR (the `ocr` extra; counted there too).
        run_folder: what a folder bonito generate wrote (run.json and a manifest) is: "refuse" (an
            InputError: it is no corpus) or "rows" (its generated rows, instruction and response as
            one text, doc_id as id: what check-overlap compares with a target).

    Example:
        >>> docs = load_texts("notes/")          # a folder of .txt files: columns id, text
    """
    import datasets

    if isinstance(source, (datasets.Dataset,)):
        return source
    if isinstance(source, datasets.DatasetDict):
        return _pick_split(source, split, str(source))
    path = Path(str(source))
    if config is None and not path.exists() and ":" in str(source) and "://" not in str(source):
        from bonito_hub import hub

        repo, _, named = str(source).rpartition(":")
        if repo and named and not hub.is_local(repo):  # REPO:CONFIG, a Hub id and its configuration
            source, path, config = repo, Path(repo), named
    try:
        if config is not None and path.is_file():
            raise InputError(f"`input_config` {config} names a configuration of a data set with several; `input` "
                             f"{source} is a file, not such a data set", field="input_config")
        if path.exists() and not path.is_dir() and unsafe(path, None) is not None:
            raise refusal(source, unsafe(path, None))
        if path.is_file() and documents.kind_of(path) is not None:
            return _documents_folder(path.parent, encoding, [path], {}, skip_bad_files, limits, clean, ocr)
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
            # a cache of its own per content: datasets keys a file by its path and time, so an edit that
            # keeps both (cp -p, rsync -a, tar x) would otherwise be served from the old cache
            content = sha256(path)
            cache = Path(datasets.config.HF_DATASETS_CACHE) / "bonito-hub-inputs" / content[:24]
            return with_content(datasets.load_dataset(builder, data_files=str(path), split="train",
                                                      cache_dir=str(cache), **kwargs), content)
        if path.is_dir() and (path / "run.json").is_file() and (path / MANIFEST).is_file():
            if run_folder == "rows":
                return _generated_rows(path)
            raise InputError(f"input {source} is a folder bonito generate wrote (run.json), not documents; give the "
                             "corpus it was generated from")
        if path.is_dir():
            exclude = [Path(e).resolve() for e in exclude if e is not None]
            saved = (path / "state.json").exists() or (path / "dataset_dict.json").exists()
            found, skipped = walk(path, follow_links)
            docs = [p for p in found if _is_document(p) and not _inside(p, exclude)]
            bad_docs = {p: r for p, r in skipped.items() if _is_document(p) and not _inside(p, exclude)}
            if config is not None and not saved and not any(p.suffix.lower() in DATA_SET_SUFFIXES for p in found):
                raise InputError(f"`input_config` {config} names a configuration of a data set with several; `input` "
                                 f"{source} is a folder of documents, not such a data set", field="input_config")
            if config is None and not saved and (docs or bad_docs):
                return _documents_folder(path, encoding, docs, bad_docs, skip_bad_files, limits, clean, ocr)
            bad = {p: r for p, r in skipped.items() if not _inside(p, exclude)}
            if bad:  # a data set folder's files are all read by datasets: none may be skipped
                first = min(bad)
                raise refusal(first, bad[first])
            if any(e.is_relative_to(path.resolve()) for e in exclude):
                raise InputError(f"`output` is inside `input` {source}, a data set folder whose files are all read: "
                                 "choose an `output` outside it", field="output")
            if saved:
                loaded = datasets.load_from_disk(str(path))
                return _pick_split(loaded, split, str(path)) if isinstance(loaded, datasets.DatasetDict) else loaded
            return _pick_split(datasets.load_dataset(str(path), config), split, str(path))
        if path.exists() or str(source).startswith((".", "/")):
            raise InputError(f"input {source} is neither a file nor a folder")
        return _pick_split(datasets.load_dataset(str(source), config), split, str(source))
    except InputError:
        raise
    except Exception as exc:
        ours = _bonito_cause(exc)
        if ours is not None:
            raise ours from None
        raise InputError(f"could not read input {source}: {cause(exc)}") from None


def _generated_rows(folder: Path):
    """A generation run's training rows as texts (instruction, a line break, response), from the
    data files its manifest lists."""
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    from bonito_hub.folders import Manifest

    files = sorted(r for r in Manifest(folder).entries() if r.startswith("data/") and r.endswith(".parquet"))
    if not files:
        raise InputError(f"{folder} is a generation run without rows yet")
    table = pa.concat_tables([pq.read_table(folder / f, columns=["input", "output", "doc_id"]) for f in files])
    texts = [f"{i}\n{o}" for i, o in zip(table["input"].to_pylist(), table["output"].to_pylist())]
    return datasets.Dataset.from_dict({"id": table["doc_id"].to_pylist(), "text": texts})


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
