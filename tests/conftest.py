import os
import tempfile
from pathlib import Path

# Keep every datasets cache of the test session out of the user's home, before datasets is imported.
_SESSION_TMP = Path(tempfile.mkdtemp(prefix="bonito-tests-"))
os.environ.setdefault("HF_DATASETS_CACHE", str(_SESSION_TMP / "hf-datasets"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")

import pytest  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"
SOURCES_DIR = FIXTURES / "sources"


@pytest.fixture(scope="session")
def promptsource_dir() -> str:
    """The folder holding the verified promptsource 0.2.3 sdist (fetched once with pip)."""
    from bonito_hub.ctga.promptsource import fetch_archive

    return str(fetch_archive().parent)


@pytest.fixture(scope="session")
def templates(promptsource_dir):
    from bonito_hub.ctga.promptsource import load_templates

    return load_templates(promptsource_dir)


@pytest.fixture(scope="session")
def registry():
    from bonito_hub.ctga.sources import load_registry

    return load_registry()


@pytest.fixture(scope="session")
def fixture_rows(registry):
    import json

    rows = {}
    for name, source in registry.items():
        path = SOURCES_DIR / name / f"{source.split}.jsonl"
        rows[name] = [json.loads(line) for line in path.read_text().splitlines()]
    return rows


@pytest.fixture(scope="session")
def session_tmp() -> Path:
    return _SESSION_TMP


@pytest.fixture(scope="session")
def ctga_fixture_build(promptsource_dir, session_tmp):
    """One CTGA build over the fixtures, shared by the read-only tests."""
    from bonito_hub.ctga.build import BuildOptions, build

    out = session_tmp / "ctga-shared"
    record = build(BuildOptions(output=str(out), sources_dir=str(SOURCES_DIR), promptsource_dir=promptsource_dir,
                                validation_fraction=0.34))
    return out, record
