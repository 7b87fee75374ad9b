"""Several task types in one run: --task-type exqa,ynqa (every type for each passage), all-applicable,
and --task-mix (one type a passage, seeded); a config a type plus `all`; counts a type in the funnel
and the card; resume and shards unchanged; bad lists are one line before any model loads."""

from __future__ import annotations

import json

import pytest

from bonito_hub.adapt import AdaptConfig
from bonito_hub.cli import main
from bonito_hub.errors import ConfigError
from bonito_hub.generate import GenerateConfig, generate
from bonito_hub.generate.folder import Interrupted
from bonito_hub.testing.engines import ScriptedEngine


def run(docs_jsonl, out, **options):
    options = {"task_type": "exqa,ynqa", "filters": (), "n": 2, "progress": False, **options}
    return generate(GenerateConfig(model=None, input=docs_jsonl, output=out, **options), engine=ScriptedEngine())


def rows(out, config=None) -> list[dict]:
    import datasets

    return datasets.load_dataset(str(out), config, split="train").to_list()


def test_each_passage_gets_every_type_and_each_type_is_a_config(docs_jsonl, tmp_path):
    out = tmp_path / "out"
    result = run(docs_jsonl, out)
    funnel = result.funnel
    assert funnel["generations"] == 2 * 2 * funnel["passages"]  # two types, two samples a passage
    assert set(funnel["by_type"]) == {"exqa", "ynqa"}
    assert sum(t["kept"] for t in funnel["by_type"].values()) == funnel["kept"]
    everything = rows(out)  # the default config: all
    by_type = {short: rows(out, short) for short in ("exqa", "ynqa")}
    assert len(everything) == funnel["kept"] == sum(len(r) for r in by_type.values())
    assert {r["task_type"] for r in by_type["exqa"]} == {"extractive question answering"}
    assert {r["task_type"] for r in by_type["ynqa"]} == {"yes-no question answering"}
    assert [len(by_type[t]) for t in ("exqa", "ynqa")] == [funnel["by_type"][t]["kept"] for t in ("exqa", "ynqa")]
    card = (out / "README.md").read_text()
    assert "config_name: all" in card and "config_name: ynqa" in card and "| ynqa |" in card
    assert json.loads((out / "funnel.json").read_text())["by_type"] == funnel["by_type"]


def test_a_run_of_one_type_keeps_its_layout(docs_jsonl, tmp_path):
    out = tmp_path / "out"
    result = run(docs_jsonl, out, task_type="exqa")
    assert "by_type" not in result.funnel
    assert all(f.startswith(str(out / "data" / "chunk-")) for f in result.data_files)
    assert "config_name: default" in (out / "README.md").read_text()
    assert "task_mix" not in json.loads((out / "run.json").read_text())["options"]  # runs of 0.1 still resume


def test_resume_and_shards_give_the_rows_of_one_run(docs_jsonl, tmp_path):
    whole = tmp_path / "whole"
    run(docs_jsonl, whole, chunk_docs=4)

    resumed = tmp_path / "resumed"

    def stop_after_first(result):
        raise KeyboardInterrupt

    with pytest.raises(Interrupted):
        generate(GenerateConfig(model=None, input=docs_jsonl, output=resumed, task_type="exqa,ynqa", filters=(), n=2,
                                chunk_docs=4, progress=False), engine=ScriptedEngine(), on_chunk=stop_after_first)
    run(docs_jsonl, resumed, chunk_docs=4)

    sharded = tmp_path / "sharded"
    for shard in ("0/2", "1/2"):
        run(docs_jsonl, sharded, chunk_docs=4, shard=shard)

    def key(folder):
        return [(r["doc_id"], r["passage_index"], r["task_type"], r["input"], r["output"]) for r in rows(folder)]

    assert key(resumed) == key(whole) == key(sharded)
    for folder in (resumed, sharded):
        assert json.loads((folder / "funnel.json").read_text()) == json.loads((whole / "funnel.json").read_text())


def test_a_mix_draws_one_type_a_passage_the_same_way_every_time(docs_jsonl, tmp_path):
    first = run(docs_jsonl, tmp_path / "a", task_type=None, task_mix="exqa=0.5,ynqa=0.3,nli=0.2", chunk_docs=3)
    again = run(docs_jsonl, tmp_path / "b", task_type=None, task_mix={"exqa": 0.5, "ynqa": 0.3, "nli": 0.2})
    assert first.funnel["generations"] == 2 * first.funnel["passages"]  # one type a passage, two samples
    drawn = {t: c["generations"] // 2 for t, c in first.funnel["by_type"].items()}
    assert sum(drawn.values()) == first.funnel["passages"] and drawn["exqa"] > 0
    # drawn by (seed, document, passage), not by chunk: the same types for other chunks (whose
    # samples differ, as each chunk's seed does)
    assert {t: c["generations"] for t, c in first.funnel["by_type"].items()} == \
        {t: c["generations"] for t, c in again.funnel["by_type"].items()}
    card = (tmp_path / "a" / "README.md").read_text()
    assert "drawn with the shares exqa=0.5, ynqa=0.3, nli=0.2" in card


def test_all_applicable_is_every_type(docs_jsonl, tmp_path):
    from bonito_hub import tasks

    result = run(docs_jsonl, tmp_path / "out", task_type="all-applicable", n=1)
    assert list(result.funnel["by_type"]) == tasks.short_names()


@pytest.mark.parametrize("flags, message", [
    (["--task-type", "exqa,poetry"], "unknown task type 'poetry'"),
    (["--task-type", "exqa,ynqa,exqa"], "--task-type lists exqa more than once"),
    (["--task-type", "exqa,"], "--task-type has an empty name in its list ('')"),
    (["--task-mix", "exqa=0.5,ynqa=0.4"], "--task-mix shares sum to 0.9, not 1"),
    (["--task-mix", "exqa=1.5,ynqa=-0.5"], "--task-mix gives ynqa the share -0.5; each share must be more than 0"),
    (["--task-mix", "exqa"], "--task-mix takes TYPE=SHARE pairs such as exqa=0.5,ynqa=0.5, got 'exqa'"),
    (["--task-mix", "exqa=0.5,ynqa=0.5", "--task-type", "nli"], "give --task-type or --task-mix, not both"),
    ([], "--task-type is required (or --task-mix)"),
])
def test_a_bad_list_or_mix_is_one_line_before_any_model_loads(flags, message, docs_jsonl, tmp_path, capsys):
    code = main(["generate", "--model", str(tmp_path / "no-such-model"), "--input", docs_jsonl, "--output",
                 str(tmp_path / "out"), *flags])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0]
    assert not (tmp_path / "out").exists()


def test_adapt_takes_the_same_lists_and_mixes(tmp_path):
    common = dict(corpus="c.jsonl", generator="g", student="s")
    assert AdaptConfig(task_type="exqa,ynqa", **common).task_type == "exqa,ynqa"
    assert AdaptConfig(task_type=None, task_mix="exqa=0.5,ynqa=0.5", **common).task_mix == {"exqa": 0.5, "ynqa": 0.5}
    with pytest.raises(ConfigError, match="shares sum to 0.9"):
        AdaptConfig(task_type=None, task_mix="exqa=0.5,ynqa=0.4", **common)
    with pytest.raises(ConfigError, match="unknown task type 'poetry'"):
        AdaptConfig(task_type="exqa,poetry", **common)


def test_the_pushed_set_keeps_a_config_and_the_counts_a_type(docs_jsonl, tmp_path, capsys):
    out = tmp_path / "out"
    funnel = run(docs_jsonl, out).funnel
    kept = tmp_path / "kept"
    assert main(["push", "dataset", str(out), "--repo-id", "me/tasks", "--dry-run", "--keep", str(kept)]) == 0
    card = (kept / "README.md").read_text()
    for short in ("exqa", "ynqa"):
        assert f"config_name: {short}" in card and f"| {short} | {funnel['by_type'][short]['generations']} |" in card
        assert len(rows(kept, short)) == funnel["by_type"][short]["kept"]
    assert len(rows(kept)) == funnel["kept"]


def test_a_users_file_inside_a_type_folder_is_refused_and_kept(docs_jsonl, tmp_path, capsys):
    out = tmp_path / "out"
    run(docs_jsonl, out)
    mine = out / "data" / "exqa" / "notes.txt"
    mine.write_text("mine")
    code = main(["generate", "--model", "unused", "--input", docs_jsonl, "--task-type", "exqa,ynqa", "--output",
                 str(out), "--overwrite", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "holds files bonito-hub did not write (data/exqa/notes.txt)" in err
    assert mine.read_text() == "mine"
