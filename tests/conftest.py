import os
import tempfile
from pathlib import Path

# Keep every datasets cache of the test session out of the user's home, before datasets is imported.
_SESSION_TMP = Path(tempfile.mkdtemp(prefix="bonito-tests-"))
os.environ.setdefault("HF_DATASETS_CACHE", str(_SESSION_TMP / "hf-datasets"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")

import pytest  # noqa: E402


def pytest_sessionfinish(session, exitstatus):
    """The session's temporary folder (datasets cache, tiny models, builds) goes with the session."""
    import shutil

    shutil.rmtree(_SESSION_TMP, ignore_errors=True)

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
    from bonito_hub.ctga.build import build
    from bonito_hub.ctga.builder import CtgaConfig

    out = session_tmp / "ctga-shared"
    record = build(CtgaConfig(sources_dir=str(SOURCES_DIR), promptsource_dir=promptsource_dir,
                              validation_fraction=0.34), out)
    return out, record


@pytest.fixture(scope="session")
def tiny_bonito(session_tmp) -> str:
    """A tiny Llama trained in seconds to write parseable tasks (bonito_hub.testing)."""
    from bonito_hub.testing import make_tiny_bonito

    return str(make_tiny_bonito(session_tmp / "tiny-bonito"))


@pytest.fixture(scope="session")
def tiny_llama(session_tmp) -> str:
    """A random tiny Llama with the test tokenizer."""
    from bonito_hub.testing import make_tiny_llama

    return str(make_tiny_llama(session_tmp / "tiny-llama"))


DOCS = [
    "The harbour town of Ellmere sits at the mouth of a slow brown river. In 1894 a storm destroyed the old wooden pier.",
    "   ",
    "Patients with asthma were given the drug twice a day for six weeks. The old wooden pier was not part of the trial.",
    "This contract is governed by the laws of the state.\n\nThe parties agree to keep all information confidential "
    "for five years after termination. The old wooden pier is excluded.",
    "",
    "The council built a stone one. Tourists now come in summer to watch the boats and the old wooden pier.",
]


@pytest.fixture(scope="session")
def docs() -> list[str]:
    """Six short documents, two of them empty."""
    return list(DOCS)


@pytest.fixture(scope="session")
def sources_dir() -> Path:
    """tests/fixtures/sources: three rows of each CTGA source in its real schema."""
    return SOURCES_DIR


@pytest.fixture()
def docs_jsonl(tmp_path) -> str:
    import json

    path = tmp_path / "docs.jsonl"
    rows = [{"id": f"doc{i}", "text": t} for i, t in enumerate(DOCS * 3)]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return str(path)


@pytest.fixture()
def spy(monkeypatch):
    """Every call of generate(config), wherever the caller imported it from; `spy.stop` makes the
    call end there (as a RunError) instead of generating."""
    import bonito_hub.generate as generate_package
    from bonito_hub.errors import RunError
    from bonito_hub.generate import generation

    real = generation.generate
    calls = []

    def spying(config, engine=None, **kwargs):
        calls.append(config)
        if spying.stop:
            raise RunError("stopped by the test")
        return real(config, engine, **kwargs)

    spying.stop, spying.calls = False, calls
    monkeypatch.setattr(generation, "generate", spying)
    monkeypatch.setattr(generate_package, "generate", spying)
    return spying


TOKEN = "hf_thisIsAFakeTokenThatMustNeverBeShown"


@pytest.fixture()
def hub_server(monkeypatch):
    """A local stand-in of the Hub's HTTP API (tests/standins/hub.py) that the real huggingface_hub
    client talks to, with a token set that must never be shown or uploaded."""
    import sys

    import huggingface_hub.constants

    from bonito_hub import hub

    sys.path.insert(0, str(Path(__file__).parent))
    from standins.hub import FakeHub

    with FakeHub() as server:
        monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
        monkeypatch.setenv("HF_TOKEN", TOKEN)
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_DISABLE_XET", True)
        # read from HF_ENDPOINT at import, as datasets' below
        monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", server.endpoint)
        monkeypatch.setattr(huggingface_hub.constants, "HUGGINGFACE_CO_URL_TEMPLATE",
                            server.endpoint + "/{repo_id}/resolve/{revision}/{filename}")
        if "datasets" in sys.modules:  # datasets read HF_HUB_OFFLINE and HF_ENDPOINT when it was imported
            monkeypatch.setattr(sys.modules["datasets"].config, "HF_HUB_OFFLINE", False)
            monkeypatch.setattr(sys.modules["datasets"].config, "HF_ENDPOINT", server.endpoint)
        monkeypatch.setattr(hub, "_reachable", {})
        yield server


@pytest.fixture(autouse=True)
def fresh_deprecations():
    """Each test sees deprecation warnings as a new process would (they are said once a process)."""
    from bonito_hub import console

    console._said.clear()
    yield


def generate_args(model, inp, out, *extra) -> list[str]:
    """`bonito generate` with the tiny generator's short settings, as a test types it."""
    return ["generate", "--model", str(model), "--input", str(inp), "--task-type", "exqa", "--output", str(out),
            "--max-tokens", "24", "--num-samples", "2", "--chunk-size", "2", "--no-progress", *extra]


def error_line(capsys) -> str:
    """The one `bonito: error:` line a command printed, and no traceback."""
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("bonito: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]
