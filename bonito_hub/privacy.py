"""What leaves the machine holds no absolute path, no user name and no token.

A record keeps what it needs to resume on this machine (the paths as they were given); what is
uploaded is a public copy: every path of this machine becomes a path relative to the folder being
pushed when it lies inside it, else its last component (a folder's or file's name, which is how a
local model or recipe is named in public), and every Hugging Face token becomes "<token>". Hub ids
and URLs are kept as they are.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

# Where a path of this machine starts: "/", "~/", "file://", a Windows drive ("C:\" or "C:/") or a
# UNC share ("\\server\share"), not preceded by a character that would make it part of a word, a
# URL or a relative path.
_START = r"(?:file://|~(?=[/\\]|$)|/(?!/)|[A-Za-z]:[\\/]|\\{2,}(?=[^\\\s]))"
_BEFORE = r"(?<![\w.:/~<>\-\\])"
# A path inside a text: quoted, it runs to its closing quote (spaces and parentheses included);
# unquoted, to a space, a quote or a delimiter.
_PATH = re.compile(rf"""(?P<q>['"`])(?P<quoted>{_START}(?:(?!(?P=q))[^\n])*)(?P=q)|{_BEFORE}(?P<bare>{_START}[^\s"'`,;\[\]{{}}<>|]*)""")
_WHOLE = re.compile(rf"{_START}")
# names of environment variables that may hold a token
TOKEN_VARIABLES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HUGGINGFACE_TOKEN")
# other variables whose values are secrets by their name (an OpenAI-compatible server's key)
SECRET_NAME = re.compile(r"(?:TOKEN|KEY|SECRET|PASSWORD|PASSWD|CREDENTIAL)", re.IGNORECASE)


def tokens() -> list[str]:
    """The tokens and keys this machine holds: the Hugging Face token (its variables and the file
    huggingface_hub keeps it in) and the value of every environment variable named like a secret
    (MY_SERVER_KEY, OPENAI_API_KEY, ...), longest first."""
    found = [os.environ.get(name) for name in TOKEN_VARIABLES]
    try:
        from huggingface_hub import get_token

        found.append(get_token())
    except Exception:  # no huggingface_hub, no token file: nothing to hide
        pass
    found = [t for t in found if t and len(t) >= 8]
    found += [value for name, value in os.environ.items() if SECRET_NAME.search(name) and _looks_secret(value)]
    return sorted(set(found), key=len, reverse=True)


def _looks_secret(value: str) -> bool:
    """A key, not a setting that happens to sit in a variable named like one (a path, a word, a
    flag): 12 or more characters without spaces, letters and digits both."""
    return len(value) >= 12 and not re.search(r"\s", value) and not value.startswith(("/", "~", ".")) and \
        bool(re.search(r"[A-Za-z]", value)) and bool(re.search(r"\d", value))


def _windows(path: str) -> bool:
    return bool(re.match(r"[A-Za-z]:[\\/]|\\{2}", path))


def public_path(path: str, base: Path | None = None) -> str:
    """A path of this machine as it may be shown in public: relative to `base` when inside it, else
    its last component. Takes POSIX, `~`, `file://` (percent-encoded too), Windows and UNC forms."""
    from urllib.parse import unquote

    if path.startswith("file://"):
        path = unquote(path[len("file://"):])
        if re.match(r"/[A-Za-z]:[\\/]", path):  # file:///C:/Users/...
            path = path[1:]
    if _windows(path):
        parts = [p for p in re.split(r"[\\/]+", path) if p]
        return parts[-1] if len(parts) > 1 else "."
    expanded = Path(os.path.expanduser(path))
    if base is not None:
        try:
            return expanded.resolve().relative_to(base.resolve()).as_posix() or "."
        except (ValueError, OSError, RuntimeError):
            pass
    name = expanded.name
    return name if name not in ("", "~") else "."


def home_relative(path: str | os.PathLike) -> str:
    """A path under the user's home as ~/..., for messages about our own caches."""
    text, home = os.fspath(path), os.path.expanduser("~")
    return "~" + text[len(home):] if home != "/" and (text == home or text.startswith(home + os.sep)) else text


def _known_roots(base: Path | None) -> list[tuple[str, str]]:
    """Absolute folders of this machine whose names may hold spaces, with what each becomes: the
    published folder (and its real path) becomes relative, the home folder "~"."""
    roots = []
    if base is not None:
        for form in {str(base), str(base.resolve())}:
            if form not in ("/", "."):
                roots.append((form, "."))
    home = os.path.expanduser("~")
    if home not in ("/", "~"):
        roots.append((home, "~"))
    return sorted(roots, key=lambda r: len(r[0]), reverse=True)


def public_text(text: str, base: str | os.PathLike | None = None, secrets: list[str] | None = None) -> str:
    """`text` with every token as "<token>" and every path of this machine made public
    (`public_path`): a whole text that is a path is one path, spaces included; inside a longer text a
    quoted path runs to its quote, an unquoted one to a space, after the published folder and the home
    folder, whose names may hold spaces, were taken out first. `secrets`: `tokens()`, when the
    caller has them already (a record's every string is made public with the same ones)."""
    for token in tokens() if secrets is None else secrets:
        text = text.replace(token, "<token>")
    return _public_paths(text, Path(base) if base is not None else None)


def _public_paths(text: str, base: Path | None) -> str:
    """`public_text` once the tokens are out."""
    if _WHOLE.match(text) and "\n" not in text:
        return public_path(text.rstrip(), base)
    commands = [_shell_words(part) for part in text.split(" && ")]
    if all(words is not None for words in commands):  # command lines: each word made public, quoted again
        import shlex

        return " && ".join(shlex.join(_public_word(word, base) for word in words) for words in commands)
    for root, short in _known_roots(base):
        text = re.sub(re.escape(root) + r"(?=[/\\'\"`\s)\]},;:]|$)(?:[/\\](?=\S))?",
                      lambda m: "" if short == "." and m.group(0).endswith(("/", "\\")) else short + (
                          "/" if m.group(0).endswith(("/", "\\")) else ""), text)

    def replace(match: re.Match) -> str:
        if match.group("quoted") is not None:
            return match.group("q") + public_path(match.group("quoted"), base) + match.group("q")
        found = match.group("bare")
        trail = ""
        while found and (found[-1] in ".:" or found[-1] == ")" and found.count("(") < found.count(")")):
            found, trail = found[:-1], found[-1] + trail
        return (public_path(found, base) if len(found) > 1 else found) + trail

    return _PATH.sub(replace, text)


def _shell_words(text: str) -> list[str] | None:
    """The words of `text` when it is a command line quoted as shlex.join quotes one (quotes in it,
    one line, and joining its words again gives it back), else None."""
    import shlex

    if "\n" in text or not text or not any(q in text for q in "'\""):
        return None
    try:
        words = shlex.split(text)
    except ValueError:
        return None
    return words if shlex.join(words) == text else None


def _public_word(word: str, base: Path | None) -> str:
    """One word of a command line: a path, KEY=PATH, or lm-eval's KEY=VALUE,KEY=VALUE list."""
    if _WHOLE.match(word):
        return public_path(word, base)
    if "=" in word:
        pieces = []
        for piece in word.split(","):
            key, sep, value = piece.partition("=")
            pieces.append(key + sep + public_path(value, base) if sep and _WHOLE.match(value)
                          else _public_paths(piece, base))
        return ",".join(pieces)
    return _public_paths(word, base)


def public_record(value, base: str | os.PathLike | None = None, secrets: list[str] | None = None):
    """A JSON value with every string made public (`public_text`); the machine's tokens are looked
    up once for the whole value."""
    secrets = tokens() if secrets is None else secrets
    if isinstance(value, str):
        return public_text(value, base, secrets)
    if isinstance(value, dict):
        return {k: public_record(v, base, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [public_record(v, base, secrets) for v in value]
    return value


# The files of an upload that bonito-hub or the trainer wrote about the run (records, cards, configs);
# a tokenizer's vocabulary and templates are left as they are: their strings are the model's.
PUBLIC_FILES = ("README.md", "run.json", "funnel.json", "training_record.json", "trainer_state.json",
                "evaluation.json", "ctga_build.json", "adapter_config.json", "tokenizer_config.json", "push.json")


def find_tokens(folder: str | os.PathLike) -> tuple[str, str | None] | None:
    """The first file under `folder` (an upload being prepared) holding a token or key of this
    machine (`tokens`), with the column where it is in a Parquet file, or None. Parquet files are
    read column by column (their pages are compressed, so their bytes would hide a token); any
    other file is searched as bytes."""
    secrets = tokens()
    if not secrets:
        return None
    encoded = [t.encode("utf-8") for t in secrets]
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        relative = path.relative_to(folder).as_posix()
        if path.suffix == ".parquet":
            column = _parquet_column_with(path, secrets)
            if column is not None:
                return relative, column
            continue
        import mmap

        if path.stat().st_size == 0:
            continue
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            if any(data.find(t) != -1 for t in encoded):
                return relative, None
    return None


def _parquet_column_with(path: Path, secrets: list[str]) -> str | None:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    file = pq.ParquetFile(path)
    for name in file.schema_arrow.names:
        for batch in file.iter_batches(columns=[name], batch_size=65_536):
            column = batch.column(0)
            while pa.types.is_list(column.type) or pa.types.is_large_list(column.type) or \
                    pa.types.is_struct(column.type):
                if pa.types.is_struct(column.type):
                    text = pa.array([json.dumps(v) for v in column.to_pylist()])
                    column = text
                    break
                column = column.flatten()
            if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
                break
            if any(pc.any(pc.match_substring(column, t)).as_py() for t in secrets):
                return name
    return None


def make_public(folder: str | os.PathLike, base: str | os.PathLike | None = None) -> list[str]:
    """Rewrite the records and cards under `folder` (an upload being prepared) as their public
    copies; a file that is a hard link to the user's original is replaced, never written through.
    Returns the files changed."""
    changed, secrets = [], tokens()
    for path in sorted(Path(folder).rglob("*")):
        if not path.is_file() or path.name not in PUBLIC_FILES:
            continue
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
        new = text
        if path.suffix == ".json":
            try:
                value = json.loads(text)
            except ValueError:
                value = None
            if value is not None:
                public = public_record(value, base, secrets)
                if public != value:
                    new = json.dumps(public, indent=2, ensure_ascii=False) + "\n"
            else:
                new = public_text(text, base, secrets)
        else:
            new = public_text(text, base, secrets)
        if new != text:
            path.unlink()  # a hard link to the original: write a file of its own
            path.write_text(new, encoding="utf-8", errors="surrogateescape")
            changed.append(path.relative_to(folder).as_posix())
    return changed
