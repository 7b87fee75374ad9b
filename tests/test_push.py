"""`bonito push` against a local stand-in of the Hub's HTTP API (tests/standins/hub.py), driven by
the real huggingface_hub client: what arrives, privacy, the token, failures, re-runs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from huggingface_hub import DatasetCard, ModelCard

from bonito_hub.cli import main

from card_rules import card_errors  # noqa: E402  (the Hub's card metadata rules, offline)
from conftest import TOKEN  # noqa: E402  (the token the Hub stand-in's fixture sets)


@pytest.fixture(scope="module")
def generated(tiny_bonito, tmp_path_factory, docs):
    """A finished `bonito generate` folder."""
    base = tmp_path_factory.mktemp("push")
    corpus = base / "docs.jsonl"
    corpus.write_text("".join(json.dumps({"text": t}) + "\n" for t in docs * 3))
    out = base / "generated"
    assert main(["generate", "--model", tiny_bonito, "--input", str(corpus), "--task-type", "exqa", "--output",
                 str(out), "--max-tokens", "24", "--num-samples", "2", "--no-progress"]) == 0
    return out


def _dry_run(capsys, *args):
    """A dry run that keeps the folder it would upload (--keep), and what it printed."""
    import tempfile

    from conftest import _SESSION_TMP  # goes with the session, as tmp_path's folders do

    folder = Path(tempfile.mkdtemp(prefix="bonito-dry-", dir=_SESSION_TMP)) / "kept"
    assert main(["push", *args, "--dry-run", "--keep", str(folder)]) == 0
    out = capsys.readouterr().out
    assert f"the folder is in {folder}" in out
    return folder, out


def test_a_dry_run_leaves_nothing_behind(generated, capsys):
    before = sorted(p.name for p in generated.parent.iterdir())
    assert main(["push", "dataset", str(generated), "--repo-id", "me/x", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would be pushed to me/x (private); nothing was sent" in out and "--- README.md ---" in out
    assert sorted(p.name for p in generated.parent.iterdir()) == before  # no .push- folder beside it


def test_dry_run_shows_the_folder_and_a_card_the_hub_reads(generated, capsys, docs):
    folder, out = _dry_run(capsys, "dataset", str(generated), "--repo-id", "me/x")
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert files[:1] == ["README.md"] and "funnel.json" in files and "run.json" in files
    assert all(f"  {name}" in out for name in files) and "--- README.md ---" in out and "nothing was sent" in out
    card = DatasetCard.load(folder / "README.md")
    assert "synthetic" in card.data.tags and "bonito" in card.data.tags
    assert card.data.size_categories == ["n<1K"] and card.data.generator_model == "tiny-bonito"  # not its path
    assert "/tiny-bonito" not in card.content
    assert card.data.configs[0]["data_files"][0]["path"] == [f for f in files if f.startswith("data/")]
    assert not any(doc.strip() and doc[:40] in card.text for doc in docs)  # no sample of the user's text
    assert card_errors(card.content, "dataset") == []
    data = card.data.to_dict()
    assert data["annotations_creators"] == ["machine-generated"] and data["language_creators"] == ["found"]
    assert data["source_datasets"] == ["original"] and data["license"] == "unknown"  # private, no licence chosen
    assert data["task_categories"] == ["question-answering", "text-generation"] and data["task_ids"] == ["extractive-qa"]
    assert data["pretty_name"] == "Bonito tasks: extractive question answering"
    folder, _ = _dry_run(capsys, "dataset", str(generated), "--repo-id", "me/x", "--include-examples",
                         "--generator", "BatsResearch/bonito-v1", "--language", "en")
    card = DatasetCard.load(folder / "README.md")
    assert "## Examples" in card.text and card.data.generator_model == "BatsResearch/bonito-v1"
    assert card.data.language == ["en"]


def test_push_creates_a_private_repo_with_exactly_those_files(generated, hub_server, capsys):
    folder, _ = _dry_run(capsys, "dataset", str(generated), "--repo-id", "me/x")
    expected = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    assert main(["push", "dataset", str(generated), "--repo-id", "me/x"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith(f"pushed {len(expected)} files to {hub_server.endpoint}/datasets/me/x (private)")
    repo = hub_server.repos[("dataset", "me/x")]
    assert repo["private"] is True and repo["files"] == expected
    # the token went in the Authorization header, and nowhere else
    assert any(r["headers"].get("authorization") == f"Bearer {TOKEN}" for r in hub_server.requests)
    assert TOKEN not in captured.out + captured.err
    assert not any(TOKEN.encode() in content for content in repo["files"].values())
    assert not any(TOKEN.encode() in r["body"] for r in hub_server.requests)
    # run again: the same files, and none of them sent again
    commits_before = len([r for r in hub_server.requests if "/commit/" in r["path"]])
    assert main(["push", "dataset", str(generated), "--repo-id", "me/x"]) == 0
    assert repo["files"] == expected
    second = [r for r in hub_server.requests if "/commit/" in r["path"]][commits_before:]
    assert all(b'"key": "file"' not in r["body"] for r in second)


def test_the_licence_is_the_users_to_choose_and_a_public_set_needs_one(generated, capsys):
    for args, message in [
        (["--public"], "a public data set needs a licence: pass --license"),
        (["--license", "cc-by-5.0"], "--license 'cc-by-5.0' is not a licence id the Hub knows (close: cc, cc0-1.0"),
        (["--license", "other"], "--license other needs --license-name"),
        (["--license", "other", "--license-name", "acme-1.0"], "and --license-link (its URL"),
        (["--license", "mit", "--license-name", "x"], "--license-name and --license-link go with --license other only"),
    ]:
        assert main(["push", "dataset", str(generated), "--repo-id", "me/x", "--dry-run", *args]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and message in err, (args, err)
    for args, expected in [(["--license", "cc-by-4.0", "--public"], {"license": "cc-by-4.0"}),
                           (["--license", "other", "--license-name", "acme-1.0", "--license-link",
                             "https://example.com/licence"],
                            {"license": "other", "license_name": "acme-1.0",
                             "license_link": "https://example.com/licence"})]:
        folder, _ = _dry_run(capsys, "dataset", str(generated), "--repo-id", "me/x", *args)
        text = (folder / "README.md").read_text()
        data = DatasetCard(text).data.to_dict()
        assert {k: data.get(k) for k in expected} == expected and card_errors(text, "dataset") == []


def test_task_categories_are_those_of_the_kept_types_and_a_hub_input_is_the_source(generated, tmp_path):
    from bonito_hub.generate.card import write_generation_card

    record = json.loads((generated / "run.json").read_text())
    record["options"]["task_type"] = "exqa,ynqa,sentiment"
    record["source_dataset"] = "someone/papers"
    funnel = json.loads((generated / "funnel.json").read_text())
    funnel["by_type"] = {"exqa": {"generations": 4, "kept": 3}, "ynqa": {"generations": 4, "kept": 0},
                         "sentiment": {"generations": 4, "kept": 2}}
    text = write_generation_card(tmp_path, record, funnel, ["data/exqa/chunk-000000-0123456789ab.parquet"]).read_text()
    assert card_errors(text, "dataset") == []
    data = DatasetCard(text).data.to_dict()
    assert data["task_categories"] == ["question-answering", "text-classification", "text-generation"]
    assert data["task_ids"] == ["extractive-qa", "sentiment-classification"]  # nothing of ynqa: it kept no row
    assert "No row of ynqa was kept: the card's task categories leave it out." in text
    assert data["source_datasets"] == ["extended|someone/papers"] and "[`someone/papers`]" in text


def test_public_only_when_asked_and_never_into_a_public_repo_by_default(generated, hub_server, capsys):
    assert main(["push", "dataset", str(generated), "--repo-id", "me/open", "--public", "--license", "mit"]) == 0
    assert hub_server.repos[("dataset", "me/open")]["private"] is False
    capsys.readouterr()
    assert main(["push", "dataset", str(generated), "--repo-id", "me/open"]) == 2
    assert "me/open already exists and is public; pass --public" in capsys.readouterr().err


@pytest.mark.parametrize("status, where, message", [
    (401, "/api/repos/create", "the Hub refused the credentials pushing to me/y (401): log in with `hf auth login`"),
    (403, "/api/repos/create", "no write access to me/y (403)"),
    (404, "/preupload/", "me/y was not found (404)"),
    (429, "/api/repos/create", "the Hub is rate-limiting these requests (429)"),
    ("drop", "/api/repos/create", "the connection to the Hub broke while pushing to me/y"),
])
def test_each_failure_is_one_line_and_nothing_claims_success(generated, hub_server, capsys, status, where, message):
    hub_server.fail(status, times=10, on=where)
    assert main(["push", "dataset", str(generated), "--repo-id", "me/y"]) == 2
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.startswith("bonito: error:")]
    assert len(lines) == 1 and message in lines[0], captured.err
    assert "pushed" not in captured.out and TOKEN not in captured.err
    assert not hub_server.repos.get(("dataset", "me/y"), {}).get("files")


def test_an_unfinished_run_and_a_bad_repo_id_are_refused(generated, tmp_path, capsys):
    assert main(["push", "dataset", str(generated), "--repo-id", "no-owner", "--dry-run"]) == 2
    assert "give ORG/NAME" in capsys.readouterr().err
    assert main(["push", "ctga", str(generated), "--repo-id", "me/x", "--dry-run"]) == 2
    assert "is not a CTGA build (no ctga_build.json in it)" in capsys.readouterr().err


@pytest.fixture(scope="module")
def adapter(tiny_llama, tmp_path_factory):
    """A LoRA adapter on the tiny Llama (a local folder, as a base model trained here would be,
    whose card states its licence)."""
    import shutil

    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from bonito_hub.records import make_record

    root = tmp_path_factory.mktemp("adapter")
    base = root / "base"
    shutil.copytree(tiny_llama, base)
    (base / "README.md").write_text("---\nlicense: apache-2.0\n---\n# A base model\n")
    out = root / "adapter"
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(base), LoraConfig(r=4, target_modules="all-linear"))
    model.save_pretrained(str(out))
    record = make_record({"script_args": {"dataset_name": "me/synthetic"}, "training_args": {"learning_rate": 1e-4},
                          "model_args": {"lora_target_modules": "all-linear"}},
                         objective="student", recipe="recipes/student/mistral-7b-qlora.yaml", effective_batch_size=16,
                         processes=1, data={"rows": 10}, metrics={"train_loss": 3.1977960765361786})
    (out / "training_record.json").write_text(json.dumps(record))
    return out


def test_adapter_card_names_peft_and_its_base_model(adapter, capsys):
    assert main(["push", "adapter", str(adapter), "--repo-id", "me/a", "--dry-run"]) == 2
    assert "a local folder; name its Hub id with --base-model" in capsys.readouterr().err
    folder, out = _dry_run(capsys, "adapter", str(adapter), "--repo-id", "me/a", "--base-model", "Org/Base-7B")
    card = ModelCard.load(folder / "README.md")
    assert card.data.library_name == "peft" and card.data.base_model == "Org/Base-7B"
    assert card.data.datasets == ["me/synthetic"] and "student" in card.data.tags
    assert card_errors(card.content, "model") == []
    data = card.data.to_dict()
    assert data["base_model_relation"] == "adapter" and data["license"] == "apache-2.0"  # the base model's
    assert "final training loss | 3.198 |" in card.text and "targets all-linear |" in card.text
    assert json.loads((folder / "adapter_config.json").read_text())["base_model_name_or_path"] == "Org/Base-7B"
    assert (folder / "adapter_model.safetensors").exists()


def test_ctga_push_dry_run(ctga_fixture_build, capsys):
    out, record = ctga_fixture_build
    folder, _ = _dry_run(capsys, "ctga", str(out), "--repo-id", "me/ctga")
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert files == sorted(["README.md", "LICENSE.md", "ctga_build.json"] + [p for ps in record["files"].values()
                                                               for paths in ps.values() for p in paths])
    card = DatasetCard.load(folder / "README.md")
    configs = [c["config_name"] for c in card.data.configs]
    assert configs == ["all"] + list(record["rows_per_task_type"])
    assert card_errors(card.content, "dataset") == []
    data = card.data.to_dict()
    assert data["license"] == "other" and data["license_link"] == "LICENSE.md"
    assert data["size_categories"] == ["n<1K"] and "extended|rajpurkar/squad" in data["source_datasets"]
    licences = (folder / "LICENSE.md").read_text()
    assert all(f"| {name} |" in licences for name in record["sources"])


def test_generate_pushes_when_the_run_is_complete(tiny_bonito, docs_jsonl, hub_server, tmp_path, capsys):
    out = tmp_path / "sharded"
    args = ["generate", "--model", tiny_bonito, "--input", docs_jsonl, "--task-type", "exqa", "--output", str(out),
            "--max-tokens", "24", "--num-samples", "2", "--chunk-size", "6", "--push-to-hub", "me/gen"]
    assert main(args + ["--shard", "0/2"]) == 0
    assert "not pushed to me/gen: the run is not complete" in capsys.readouterr().out
    assert ("dataset", "me/gen") not in hub_server.repos
    assert main(args + ["--shard", "1/2"]) == 0  # the shard that finishes the run pushes it
    assert "pushed" in capsys.readouterr().out
    repo = hub_server.repos[("dataset", "me/gen")]
    assert repo["private"] and "README.md" in repo["files"] and any(f.startswith("data/") for f in repo["files"])


def test_a_recipe_with_push_to_hub_pushes_our_adapter_card(tiny_llama, generated, hub_server, tmp_path):
    from bonito_hub import sft

    recipe = Path(__file__).parents[1] / "recipes" / "smoke" / "student.yaml"
    base = ["--config", str(recipe), "--model_name_or_path", tiny_llama, "--dataset_name", str(generated),
            "--output_dir", str(tmp_path / "adapter"), "--max_steps", "2", "--push_to_hub", "true",
            "--hub_model_id", "me/student"]
    from bonito_hub.errors import RecipeError

    with pytest.raises(RecipeError, match="is a local folder; set push_base_model to its Hub id"):
        sft.main(*sft.parse(base))
    assert not (tmp_path / "adapter" / "adapter_model.safetensors").exists()  # refused before training
    sft.main(*sft.parse(base + ["--push_base_model", "Org/Tiny-Llama"]))
    repo = hub_server.repos[("model", "me/student")]
    card = repo["files"]["README.md"].decode()
    assert repo["private"] and "library_name: peft" in card and "base_model: Org/Tiny-Llama" in card
    assert "library_name: transformers" not in card and "adapter_model.safetensors" in repo["files"]
    assert json.loads(repo["files"]["adapter_config.json"])["base_model_name_or_path"] == "Org/Tiny-Llama"


@pytest.mark.slow
def test_a_pushed_data_set_loads_back_through_the_hub(generated, hub_server, tmp_path):
    import os
    import subprocess

    assert main(["push", "dataset", str(generated), "--repo-id", "me/back"]) == 0
    env = {**os.environ, "HF_ENDPOINT": hub_server.endpoint, "HF_TOKEN": TOKEN, "HF_HUB_DISABLE_XET": "1",
           "HF_DATASETS_CACHE": str(tmp_path / "datasets"), "HF_HUB_CACHE": str(tmp_path / "hub")}
    env.pop("HF_HUB_OFFLINE", None)
    code = "import datasets, json; d = datasets.load_dataset('me/back', split='train'); print(json.dumps(d.to_list()))"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    import datasets

    assert loaded == datasets.load_dataset(str(generated), split="train").to_list() and loaded


def test_an_upload_is_staged_outside_the_users_folders(generated, capsys, monkeypatch, tmp_path):
    """A push killed mid-way (kill -9) leaves its staging folder where no run of ours looks: under
    huggingface_hub's home, never beside the pushed folder (an adapt run's push staged in the run
    folder, which every later adapt refused as a file of the user's)."""
    from bonito_hub import push as push_module

    staged = []
    real = push_module.stage

    def spy(kind, folder, dest, *args, **kwargs):
        staged.append(Path(dest))
        return real(kind, folder, dest, *args, **kwargs)

    monkeypatch.setattr(push_module, "stage", spy)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HOME", str(tmp_path / "hf"))
    leftover = tmp_path / "hf" / "bonito-hub" / "push" / "push-999999999-abcd"  # a killed push's, its process gone
    leftover.mkdir(parents=True)
    assert main(["push", "dataset", str(generated), "--repo-id", "me/x", "--dry-run"]) == 0
    assert staged and not staged[0].is_relative_to(generated.parent)
    assert staged[0].parent == tmp_path / "hf" / "bonito-hub" / "push" and not staged[0].exists()
    assert not leftover.exists()
