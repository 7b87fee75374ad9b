"""bonito-hub as a user gets it: an sdist and a wheel built from it (the release path), the wheel
installed, not editable, into a fresh virtualenv, and both commands run from a folder that is not
the checkout. The virtualenv borrows the dependencies already installed for the tests (a .pth
file naming their site-packages) so the test needs no network; bonito_hub itself is only the
wheel's copy, which is checked.
"""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA_FILES = ["data/task_types.yaml", "data/generation_presets.yaml", "data/ctga/sources.yaml",
              "data/ctga/task_types.yaml", "data/ctga/ctga_v1_task_types.csv", "data/cards/ctga.md",
              "data/cards/generated.md", "data/cards/adapter.md", "data/evaluation/targets.yaml",
              "data/evaluation/prompts.yaml", "data/recipes/student/mistral-7b-qlora.yaml",
              "data/recipes/smoke/student.yaml", "data/recipes/smoke/generator.yaml", "data/recipes/smoke/dapt.yaml",
              "data/recipes/generator/bonito-v1-mistral-7b.yaml", "data/recipes/generator/qwen2.5-0.5b.yaml",
              "data/recipes/dapt/mistral-7b-qlora.yaml", "data/recipes/accelerate/cpu.yaml",
              "data/recipes/accelerate/multi_gpu.yaml", "data/recipes/accelerate/deepspeed_zero3.yaml",
              "data/recipes/accelerate/fsdp.yaml"]


def _run(cmd, cwd, **kwargs):
    result = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{cmd}\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    return result


@pytest.fixture(scope="session")
def installed_wheel(session_tmp) -> Path:
    """A fresh virtualenv holding the wheel of this checkout; returns its bin folder."""
    dist = session_tmp / "dist"
    _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", dist, REPO], cwd=session_tmp)
    wheel = next(dist.glob("bonito_hub-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    missing = [f for f in DATA_FILES if f"bonito_hub/{f}" not in names]
    assert not missing, f"the wheel lacks {missing}"
    assert not [n for n in names if n.startswith(("tests/", "dataset_builders/", "model_cards/"))]

    venv = session_tmp / "fresh-venv"
    _run([sys.executable, "-m", "venv", venv], cwd=session_tmp)
    python = venv / "bin" / "python"
    _run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel], cwd=session_tmp)
    purelib = _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=session_tmp)
    # after the venv's own site-packages: the wheel's bonito_hub comes first, the rest from here
    (Path(purelib.stdout.strip()) / "test_dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return venv / "bin"


@pytest.mark.slow
def test_wheel_builds_ctga_and_generates_outside_the_checkout(installed_wheel, sources_dir, promptsource_dir,
                                                               tiny_bonito, docs, tmp_path):
    import datasets

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = _run([installed_wheel / "python", "-c", "import bonito_hub; print(bonito_hub.__file__)"], cwd=elsewhere)
    assert Path(where.stdout.strip()).is_relative_to(installed_wheel.parent), where.stdout

    env = {**os.environ, "PYTHONPATH": ""}
    _run([installed_wheel / "bonito", "ctga", "build", "--output", "ctga", "--sources-dir", sources_dir,
          "--promptsource-dir", promptsource_dir, "--task-types", "exqa", "ynqa", "--no-progress"],
         cwd=elsewhere, env=env)
    record = json.loads((elsewhere / "ctga" / "ctga_build.json").read_text())
    assert record["rows"] > 0 and set(record["rows_per_task_type"]) == {"exqa", "ynqa"}
    assert datasets.load_dataset(str(elsewhere / "ctga"), "exqa", split="train").num_rows == \
        record["rows_per_task_type"]["exqa"]["train"]

    (elsewhere / "docs.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in docs * 2))
    _run([installed_wheel / "bonito", "generate", "--model", tiny_bonito, "--input", "docs.jsonl", "--task-type",
          "exqa", "--output", "generated", "--max-tokens", "24", "--num-samples", "2", "--no-progress"],
         cwd=elsewhere, env=env)
    funnel = json.loads((elsewhere / "generated" / "funnel.json").read_text())
    assert funnel["complete"] and funnel["kept"] > 0 and (elsewhere / "generated" / "README.md").exists()
    assert datasets.load_dataset(str(elsewhere / "generated"), split="train").num_rows == funnel["kept"]

    # training, as a wheel user types it: a packaged recipe by name, through accelerate, no recipes/ folder
    _run([installed_wheel / "bonito", "train", "--recipe", "smoke/student", "--accelerate-config", "cpu",
          f"model_name_or_path={tiny_bonito}", "dataset_name=generated", "output_dir=student", "max_steps=2",
          "--no-progress"], cwd=elsewhere, env=env)
    record = json.loads((elsewhere / "student" / "training_record.json").read_text())
    assert record["recipe"] == "smoke/student" and (elsewhere / "student" / "adapter_model.safetensors").is_file()


def test_wheel_runs_the_demo_outside_the_checkout(installed_wheel, tmp_path):
    """`bonito demo` from the installed wheel: its corpus, CTGA rows, target, recipes and prompts all
    come from the package, and the recipe script it trains with is bonito_hub.sft."""
    env = {**os.environ, "PYTHONPATH": ""}
    result = _run([installed_wheel / "bonito", "demo", "--output", "demo", "--no-progress"], cwd=tmp_path, env=env)
    assert "(MISSING)" not in result.stdout and "examples kept" in result.stdout
    record = json.loads((tmp_path / "demo" / "demo.json").read_text())
    assert all(item["exists"] for item in record["artifacts"])
    assert "site-packages" in json.loads((tmp_path / "demo" / "adapt" / "adapt.json").read_text())["options"]["corpus"]
