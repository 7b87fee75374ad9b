"""Reading promptsource 0.2.3's templates from its source archive on PyPI.

promptsource cannot be installed beside the current stack (it declares Python < 3.10), so we
never import it: pip fetches the sdist once into a cache, we check it against a recorded
sha256, and read the YAML files straight out of the tarball with our own loader for its tags.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bonito_hub.console import get_logger
from bonito_hub.errors import PromptsourceError
from bonito_hub.privacy import home_relative

log = get_logger(__name__)

VERSION = "0.2.3"
ARCHIVE_NAME = f"promptsource-{VERSION}.tar.gz"
ARCHIVE_SHA256 = "f106c889778a0fe5590e7183904bf964e1a01691c8a29451e44f3df5ddef05f5"


@dataclass(frozen=True)
class Template:
    """One promptsource template: Jinja with a `|||` between prompt and response."""

    id: str
    name: str
    jinja: str
    answer_choices: str | None
    dataset: str  # P3 name, e.g. "super_glue/boolq"
    metadata: dict = field(default_factory=dict, compare=False, hash=False)


_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml is ~20x faster where present


class _TemplateLoader(_BaseLoader):
    """SafeLoader that reads promptsource's !Template and !TemplateMetadata tags as plain mappings."""


def _mapping(loader: yaml.SafeLoader, node: yaml.Node) -> dict:
    return loader.construct_mapping(node, deep=True)


_TemplateLoader.add_constructor("!Template", _mapping)
_TemplateLoader.add_constructor("!TemplateMetadata", _mapping)


def cache_dir() -> Path:
    root = os.environ.get("BONITO_HUB_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "bonito_hub"
    )
    return Path(root) / "promptsource"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch_archive(directory: Path | None = None) -> Path:
    """Path to the verified promptsource sdist, downloading it with pip on first use."""
    directory = Path(directory) if directory else cache_dir()
    path = directory / ARCHIVE_NAME
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        log.info("downloading promptsource %s's templates (%s, about 230 kB) with pip into %s, once", VERSION,
                 ARCHIVE_NAME, home_relative(directory))
        # --python-version: the package declares Python < 3.10, and pip refuses it otherwise.
        cmd = [
            sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
            "--python-version", "3.9", f"promptsource=={VERSION}", "-d", str(directory),
        ]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0 or not path.exists():
            raise PromptsourceError(
                f"could not download promptsource {VERSION} with pip into {home_relative(directory)}: "
                f"{result.stderr.strip().splitlines()[-1] if result.stderr.strip() else 'no archive'}; "
                "download it yourself and pass `promptsource_dir`"
            )
    digest = _sha256(path)
    if digest != ARCHIVE_SHA256:
        raise PromptsourceError(
            f"{home_relative(path)} has sha256 {digest}, expected {ARCHIVE_SHA256} for promptsource {VERSION}; "
            "delete it to download again"
        )
    return path


def _parse(text: str, dataset: str) -> list[Template]:
    data = yaml.load(text, Loader=_TemplateLoader) or {}
    templates = []
    for tid, t in (data.get("templates") or {}).items():
        templates.append(
            Template(
                id=str(t.get("id", tid)),
                name=t["name"],
                jinja=t["jinja"],
                answer_choices=t.get("answer_choices"),
                dataset=dataset,
                metadata=dict(t.get("metadata") or {}),
            )
        )
    return templates


def load_templates(
    promptsource_dir: str | os.PathLike | None = None, datasets: set[str] | None = None
) -> dict[str, list[Template]]:
    """All templates, keyed by P3 dataset name ("squad", "super_glue/boolq", ...).

    `promptsource_dir` may be an unpacked promptsource tree (any folder holding
    `templates/<dataset>/[<config>/]templates.yaml`) or a folder holding the sdist.
    Without it the sdist is fetched into the cache. `datasets` limits parsing to those P3 names.
    """
    if promptsource_dir is not None:
        root = Path(promptsource_dir)
        if (root / ARCHIVE_NAME).exists():
            return _from_archive(fetch_archive(root), datasets)
        candidates = [root / "templates", root / "promptsource" / "templates",
                      root / f"promptsource-{VERSION}" / "promptsource" / "templates", root]
        for cand in candidates:
            files = sorted(cand.glob("**/templates.yaml")) if cand.is_dir() else []
            if files:
                named = {f.parent.relative_to(cand).as_posix(): f for f in files}
                return {
                    name: _parse(f.read_text(encoding="utf-8"), name)
                    for name, f in named.items()
                    if datasets is None or name in datasets
                }
        raise PromptsourceError(f"no promptsource templates.yaml files found under {root}")
    return _from_archive(fetch_archive(), datasets)


def _from_archive(path: Path, datasets: set[str] | None = None) -> dict[str, list[Template]]:
    marker = "/promptsource/templates/"
    out: dict[str, list[Template]] = {}
    with tarfile.open(path, "r:gz") as tar:
        for member in tar.getmembers():
            if not member.isfile() or not member.name.endswith("/templates.yaml") or marker not in member.name:
                continue
            dataset = member.name.split(marker, 1)[1].rsplit("/templates.yaml", 1)[0]
            if datasets is not None and dataset not in datasets:
                continue
            text = tar.extractfile(member).read().decode("utf-8")
            out[dataset] = _parse(text, dataset)
    return dict(sorted(out.items()))
