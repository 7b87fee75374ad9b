"""`bonito generate` and `Bonito.generate_tasks` on a tiny model built at test time."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import datasets
import pytest

from bonito_hub.cli import main
from bonito_hub.format import generator_input, parse_generation
from bonito_hub.generate import Bonito, SamplingConfig
from bonito_hub.folders import Manifest, write_atomic
from bonito_hub.generate.folder import RunFolder
from bonito_hub.corpus import load_texts
from bonito_hub.testing.engines import ScriptedEngine


def gen_args(model, inp, out, *extra):
    return ["generate", "--model", model, "--input", inp, "--task-type", "exqa", "--output", str(out),
            "--max-tokens", "24", "--num-samples", "2", "--chunk-size", "2", "--no-progress", *extra]


def rows_of(folder):
    return datasets.load_dataset(str(folder), split="train").to_list()


def test_cli_end_to_end(tiny_bonito, docs_jsonl, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(gen_args(tiny_bonito, docs_jsonl, out)) == 0
    printed = capsys.readouterr().out
    funnel = json.loads((out / "funnel.json").read_text())
    assert funnel["documents"] == 18 and funnel["empty_documents"] == 6 and funnel["complete"]
    assert funnel["generations"] == 2 * funnel["passages"]
    assert funnel["kept"] + sum(funnel["dropped"].values()) == funnel["generations"]
    rows = rows_of(out)
    assert len(rows) == funnel["kept"] > 0
    for row in rows:
        assert row["prompt"] == row["input"] + "\n\n" and row["completion"] == row["output"]  # TRL joins them as they are
        assert "{{context}}" not in row["input"] + row["output"]
        assert row["task_type"] == "extractive question answering"
        doc = json.loads(Path(docs_jsonl).read_text().splitlines()[row["doc_index"]])
        assert doc["id"] == row["doc_id"]
        assert doc["text"][row["passage_start"]:row["passage_end"]] in row["input"]
    assert f"kept {funnel['kept']}" in printed
    card = (out / "README.md").read_text()
    assert "config_name: default" in card and f"| kept | **{funnel['kept']}** |" in card
    assert "harbour" not in card  # the corpus is not quoted


def rows_of_chunk(folder, k):
    record = json.loads((folder / "chunks" / f"chunk-{k:06d}.json").read_text())
    return datasets.Dataset.from_parquet(str(folder / record["data_file"])).to_list() if record["data_file"] else []


def test_resume_after_interruption_between_chunks(tiny_bonito, docs_jsonl, tmp_path, monkeypatch, capsys):
    full = tmp_path / "full"
    assert main(gen_args(tiny_bonito, docs_jsonl, full)) == 0
    part = tmp_path / "part"
    original = RunFolder.write_chunk
    written = []

    def crash_after_three(self, k, rows, counts, **kwargs):
        if len(written) == 3:
            raise KeyboardInterrupt
        written.append(k)
        original(self, k, rows, counts, **kwargs)

    monkeypatch.setattr(RunFolder, "write_chunk", crash_after_three)
    capsys.readouterr()
    assert main(gen_args(tiny_bonito, docs_jsonl, part)) == 130
    assert capsys.readouterr().err.endswith(f"bonito: interrupted; 3 of 9 chunks are saved in {part} (their rows load "
                                            "with datasets.load_dataset); run the same command to resume\n")
    # a partial run opens with load_dataset: the finished chunks' rows, and a card that says it is partial
    assert not (part / "funnel.json").exists() and "Partial run: 3 of 9 chunks" in (part / "README.md").read_text()
    saved = [r for k in written for r in rows_of_chunk(part, k)]
    assert datasets.load_dataset(str(part), split="train").to_list() == saved and saved
    monkeypatch.setattr(RunFolder, "write_chunk", original)
    done_before = sorted(p.name for p in (part / "chunks").iterdir())
    assert len(done_before) == 3
    assert main(gen_args(tiny_bonito, docs_jsonl, part)) == 0
    assert rows_of(part) == rows_of(full)
    assert json.loads((part / "funnel.json").read_text()) == json.loads((full / "funnel.json").read_text())


def test_resume_after_a_crash_inside_a_chunk(tiny_bonito, docs_jsonl, tmp_path, monkeypatch):
    full = tmp_path / "full"
    assert main(gen_args(tiny_bonito, docs_jsonl, full)) == 0
    part = tmp_path / "part"
    original = RunFolder.write_chunk

    def data_then_die(self, k, rows, counts, **kwargs):
        if k == 1:  # the data file lands, the record does not: as if killed between the two writes
            write_atomic(self.output / "data" / f"chunk-{k:06d}-deadbeef0000.parquet", b"partial")
            temp = self.output / "chunks" / f".chunk-{k:06d}.json.tmp-deadbeef"
            Manifest(self.output).temp(temp)  # what write_atomic lists before it writes: then killed mid-write
            temp.write_text("{")
            raise KeyboardInterrupt
        original(self, k, rows, counts, **kwargs)

    monkeypatch.setattr(RunFolder, "write_chunk", data_then_die)
    assert main(gen_args(tiny_bonito, docs_jsonl, part)) == 130
    monkeypatch.setattr(RunFolder, "write_chunk", original)
    assert main(gen_args(tiny_bonito, docs_jsonl, part)) == 0
    assert not list((part / "data").glob("*deadbeef*")) and not list((part / "chunks").glob("*deadbeef*"))
    assert rows_of(part) == rows_of(full)


@pytest.mark.slow
def test_sigkill_and_rerun_gives_the_same_rows(tiny_bonito, docs_jsonl, tmp_path):
    full, part = tmp_path / "full", tmp_path / "part"
    cmd = [sys.executable, "-m", "bonito_hub.cli"]
    args = gen_args(tiny_bonito, docs_jsonl, "X", "--chunk-size", "1")
    subprocess.run(cmd + [a if a != "X" else str(full) for a in args], check=True, capture_output=True)
    proc = subprocess.Popen(cmd + [a if a != "X" else str(part) for a in args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(list((part / "chunks").glob("*.json")) if (part / "chunks").exists() else []) < 4:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = len(list((part / "chunks").glob("*.json")))
    assert 0 < finished < 18 and not (part / "funnel.json").exists()
    subprocess.run(cmd + [a if a != "X" else str(part) for a in args], check=True, capture_output=True)
    assert rows_of(part) == rows_of(full)


def test_shards_make_the_whole(tiny_bonito, docs_jsonl, tmp_path, capsys):
    full, sharded = tmp_path / "full", tmp_path / "sharded"
    assert main(gen_args(tiny_bonito, docs_jsonl, full)) == 0
    assert main(gen_args(tiny_bonito, docs_jsonl, sharded, "--shard", "1/3")) == 0
    assert "chunks finished overall" in capsys.readouterr().out and not (sharded / "funnel.json").exists()
    assert main(gen_args(tiny_bonito, docs_jsonl, sharded, "--shard", "0/3")) == 0
    assert main(gen_args(tiny_bonito, docs_jsonl, sharded, "--shard", "2/3")) == 0
    assert rows_of(sharded) == rows_of(full)
    assert json.loads((sharded / "funnel.json").read_text()) == json.loads((full / "funnel.json").read_text())


def test_other_run_is_refused_and_overwrite_is_not_stale(tiny_bonito, docs_jsonl, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(gen_args(tiny_bonito, docs_jsonl, out, "--seed", "1")) == 0
    first = rows_of(out)
    assert main(gen_args(tiny_bonito, docs_jsonl, out, "--seed", "2")) == 2
    assert "holds a different generation run" in capsys.readouterr().err
    assert main(gen_args(tiny_bonito, docs_jsonl, out, "--seed", "2", "--temperature", "1.5", "--overwrite")) == 0
    second = rows_of(out)
    on_disk = datasets.Dataset.from_parquet([str(p) for p in sorted((out / "data").glob("*.parquet"))]).to_list()
    assert second == on_disk and second != first


def test_messages_format(tiny_bonito, docs_jsonl, tmp_path):
    out = tmp_path / "out"
    assert main(gen_args(tiny_bonito, docs_jsonl, out, "--format", "messages")) == 0
    row = rows_of(out)[0]
    assert row["messages"] == [{"role": "user", "content": row["input"]}, {"role": "assistant", "content": row["output"]}]
    assert "prompt" not in row


def test_a_run_of_the_messages_layout_recorded_as_conversational_resumes_as_messages(tiny_bonito, docs_jsonl,
                                                                                   tmp_path, capsys):
    """Before `messages` was a format of its own, a run recorded `conversational` for that layout;
    its data files say which layout it is, so it resumes as messages and is never mixed with the
    prompt-completion layout that conversational now writes."""
    out = tmp_path / "out"
    assert main(gen_args(tiny_bonito, docs_jsonl, out, "--format", "messages")) == 0
    record = json.loads((out / "run.json").read_text())
    record["options"]["format"] = "conversational"
    (out / "run.json").write_text(json.dumps(record))
    before = rows_of(out)
    capsys.readouterr()
    assert main(gen_args(tiny_bonito, docs_jsonl, out, "--format", "messages")) == 0
    assert rows_of(out) == before
    assert main(gen_args(tiny_bonito, docs_jsonl, out, "--format", "conversational")) == 2
    assert "holds a different generation run" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args, message",
    [
        (["--text-column", "body"], "text column 'body' not found; columns: id, text"),
        (["--task-type", "poetry"], "unknown task type 'poetry'; valid task types: exqa"),
        (["--shard", "3/2"], "--shard 3/2"),
        (["--no-filter", "span", "--num-samples", "0"], "--num-samples must be at least 1, got 0"),
        (["--temperature", "-1"], "--temperature must be 0 or more (0 is greedy), got -1.0"),
        (["--top-p", "1.5"], "--top-p must be in (0, 1], got 1.5"),
        (["--chunk-size", "0"], "--chunk-size must be at least 1, got 0"),
        (["--encoding", "klingon"], "--encoding 'klingon' is not an encoding Python knows"),
    ],
)
def test_bad_arguments(tiny_bonito, docs_jsonl, tmp_path, capsys, args, message):
    out = tmp_path / "out"
    argv = gen_args(tiny_bonito, docs_jsonl, out)
    for flag, value in zip(args[::2], args[1::2]):
        if flag in argv:
            argv[argv.index(flag) + 1] = value
        else:
            argv += [flag, value]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("bonito: error: ") and message in err and err.count("\n") == 1  # before any model loads
    assert not out.exists()


def test_missing_model_says_where_it_looked(docs_jsonl, tmp_path, capsys):
    assert main(gen_args("no-such-org/no-such-model", docs_jsonl, tmp_path / "out")) == 2
    err = capsys.readouterr().err
    assert "could not load model" in err and "no-such-model" in err and "local folder" in err
    # a path is told apart from a Hub id, before anything loads; so is a folder that is no model
    assert main(gen_args(str(tmp_path / "no-such-model"), docs_jsonl, tmp_path / "out")) == 2
    assert f"--model {tmp_path / 'no-such-model'}: no such folder" in capsys.readouterr().err
    assert main(gen_args(str(tmp_path), docs_jsonl, tmp_path / "out")) == 2
    assert "is a folder but not a model folder (no config.json in it)" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_non_string_text(tiny_bonito, tmp_path, capsys):
    path = tmp_path / "nums.jsonl"
    path.write_text('{"text": 3}\n{"text": 4}\n')
    assert main(gen_args(tiny_bonito, str(path), tmp_path / "out")) == 2
    assert "text column 'text' holds Value('int64'), not strings" in capsys.readouterr().err


def test_folder_holding_other_files(tiny_bonito, docs_jsonl, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("x")
    for extra in ([], ["--overwrite"]):  # --overwrite cannot delete what bonito-hub did not write
        assert main(gen_args(tiny_bonito, docs_jsonl, out) + extra) == 2
        err = capsys.readouterr().err
        assert "holds files bonito-hub did not write (mine.txt)" in err and "pass --overwrite" not in err
        assert [p.name for p in out.iterdir()] == ["mine.txt"]


def test_overwrite_replaces_only_our_run(tiny_bonito, docs_jsonl, tmp_path, capsys, monkeypatch):
    ours = tmp_path / "ours"
    assert main(gen_args(tiny_bonito, docs_jsonl, ours)) == 0
    (ours / "notes.txt").write_text("mine")
    assert main(gen_args(tiny_bonito, docs_jsonl, ours, "--seed", "3", "--overwrite")) == 2
    assert "did not write (notes.txt)" in capsys.readouterr().err and (ours / "notes.txt").read_text() == "mine"
    monkeypatch.chdir(tmp_path / "ours")  # --output . in a folder of the user's files
    (ours / "run.json").unlink()
    assert main(gen_args(tiny_bonito, docs_jsonl, ".", "--overwrite")) == 2
    assert (ours / "notes.txt").read_text() == "mine" and (ours / "data").is_dir()


def test_input_kinds(tmp_path):
    import pandas as pd

    texts = ["First document.", "Second document."]
    pd.DataFrame({"text": texts}).to_csv(tmp_path / "a.csv", index=False)
    pd.DataFrame({"text": texts}).to_parquet(tmp_path / "a.parquet")
    (tmp_path / "a.txt").write_text("First document.\nstill first.\n\nSecond document.\n")
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "one.txt").write_text(texts[0])
    (docs / "sub" / "two.md").write_text(texts[1])
    datasets.Dataset.from_dict({"body": texts}).save_to_disk(str(tmp_path / "saved"))
    assert load_texts(tmp_path / "a.csv")["text"] == texts
    assert load_texts(tmp_path / "a.parquet")["text"] == texts
    assert [t.strip() for t in load_texts(tmp_path / "a.txt")["text"]] == ["First document.\nstill first.", "Second document."]
    folder = load_texts(docs)
    assert folder["id"] == ["one.txt", "sub/two.md"] and folder["text"] == texts
    assert load_texts(tmp_path / "saved")["body"] == texts
    (docs / "one.txt").write_text("Changed.")
    assert load_texts(docs)["text"][0] == "Changed."  # never a stale cache of the folder


def test_unreadable_input(tmp_path):
    from bonito_hub.corpus import InputError

    with pytest.raises(InputError, match="unsupported file type '.xlsx'; use .csv, .docx, .htm, .html"):
        (tmp_path / "a.xlsx").write_text("x")
        load_texts(tmp_path / "a.xlsx")
    with pytest.raises(InputError, match="could not read input"):
        load_texts("someone/not-a-dataset-offline")


CRAFTED = ["{{context}}\nWhat was destroyed?\n<|pipe|>\nthe pier", "no separator", "a<|pipe|>b<|pipe|>c",
           " <|pipe|> x", "Summarise: {{context}} <|pipe|> {{context}}", "Q <|pipe|>  "]


def test_api_keeps_exactly_what_the_parse_rule_keeps():
    texts = datasets.Dataset.from_dict({"passage": ["In 1894 a storm destroyed the pier.", "The trial ran six weeks."]})
    bonito = Bonito(None, engine=ScriptedEngine(outputs=CRAFTED))
    out = bonito.generate_tasks(texts, "passage", "qa", {"n": len(CRAFTED)}, filters=(), progress=False)
    expected = []
    for p in texts["passage"]:
        for g in CRAFTED:
            parsed = parse_generation(g, p)
            if parsed.ok:
                expected.append((parsed.input, parsed.output))
    assert list(zip(out["input"], out["output"])) == expected
    assert bonito.funnel["dropped"] == {"unparseable:no_separator": 2, "unparseable:several_separators": 2,
                                        "unparseable:empty_instruction": 2, "unparseable:empty_response": 2}


def test_api_on_the_tiny_model(tiny_bonito):
    texts = datasets.Dataset.from_dict({"text": ["In 1894 a storm destroyed the old wooden pier."] * 3})
    out = Bonito(tiny_bonito, backend="transformers").generate_tasks(
        texts, "text", "extractive question answering", {"max_tokens": 24, "temperature": 0.5, "n": 2, "seed": 3},
        progress=False)
    assert {"input", "output", "doc_index", "passage_index", "sample", "task_type"} <= set(out.column_names)
    assert out.num_rows >= 1 and all("old wooden pier" in o for o in out["output"])


class FakeParams:
    def __init__(self, **kw):
        self.__dict__.update(kw)


def test_sampling_params_from_objects_and_mappings():
    assert SamplingConfig.from_any(FakeParams(n=3, temperature=0.1, top_p=0.9, max_tokens=9, seed=None)) == \
        SamplingConfig(n=3, temperature=0.1, top_p=0.9, max_tokens=9, seed=0)
    with pytest.raises(ValueError, match="unknown sampling parameters"):
        SamplingConfig.from_any({"beams": 2})


def test_vllm_on_a_gpu(tiny_llama):
    """Runs only where vLLM and a GPU exist (never in CI here); the README says whether it ran."""
    vllm = pytest.importorskip("vllm", reason="vLLM is not installed (optional extra)")
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no GPU")
    bonito = Bonito(tiny_llama, backend="vllm", gpu_memory_utilization=0.2)
    out = bonito.generate_tasks(datasets.Dataset.from_dict({"text": ["The pier."] * 4}), "text", "qa",
                                vllm.SamplingParams(max_tokens=8, n=2), filters=(), progress=False)
    assert bonito.funnel["generations"] == 8 and out is not None


def test_batches_are_sorted_and_bounded(tiny_llama):
    from bonito_hub.generate.engines import TransformersEngine

    engine = TransformersEngine(tiny_llama, batch_size=3, batch_tokens=400)
    lengths = [50, 10, 300, 20, 30, 40, 100]
    batches = engine.batches(lengths, SamplingConfig(max_tokens=50, n=1))
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    flat = [lengths[i] for b in batches for i in b]
    assert flat == sorted(lengths)  # similar lengths travel together
    for b in batches:
        assert len(b) <= 3
        assert len(b) == 1 or len(b) * (max(lengths[i] for i in b) + 50) <= 400
    assert [len(b) for b in batches] == [3, 2, 1, 1]


def test_dynamic_cache_fallback_gives_the_same_texts(tiny_bonito):
    from bonito_hub.generate.engines import TransformersEngine

    prompts = [generator_input("exqa", "In 1894 a storm destroyed the old wooden pier."),
               generator_input("exqa", "The council built a stone one.")]
    sampling = SamplingConfig(max_tokens=12, temperature=0.0)
    static = TransformersEngine(tiny_bonito).generate(prompts, sampling, seed=0)
    dynamic = TransformersEngine(tiny_bonito, cache_implementation=None).generate(prompts, sampling, seed=0)
    assert static == dynamic and all("<|pipe|>" in g[0] for g in static)


def test_chunks_are_cut_by_a_token_budget():
    from bonito_hub.generate.folder import chunk_bounds

    texts = datasets.Dataset.from_dict({"text": ["a" * 40, "b" * 40, None, "c" * 400, "d" * 8, "e" * 8]})
    assert chunk_bounds(texts, "text", chunk_tokens=20) == [0, 2, 4, 6]  # 10 + 10 tokens; 0 + 100; 2 + 2
    assert chunk_bounds(texts, "text", chunk_tokens=10_000) == [0, 6]
    assert chunk_bounds(texts, "text", chunk_tokens=10_000, chunk_docs=4) == [0, 4, 6]
    assert chunk_bounds(texts.select([]), "text", chunk_tokens=20) == [0]


def test_presets_and_explicit_values(tiny_bonito, docs_jsonl, tmp_path):
    out = tmp_path / "paper"
    assert main(gen_args(tiny_bonito, docs_jsonl, out, "--preset", "paper")) == 0
    run = json.loads((out / "run.json").read_text())["options"]
    # the paper's sampling, no filters; --max-tokens 24 and --num-samples 2 given explicitly still win
    assert (run["sampling"]["temperature"], run["sampling"]["top_p"], run["filters"]) == (0.95, 0.5, [])
    assert (run["sampling"]["max_tokens"], run["sampling"]["n"]) == (24, 2)
    out = tmp_path / "default"
    assert main(gen_args(tiny_bonito, docs_jsonl, out, "--temperature", "0.7", "--no-filter", "span")) == 0
    record = json.loads((out / "run.json").read_text())
    run = record["options"]
    assert (run["sampling"]["temperature"], run["sampling"]["top_p"]) == (0.7, 0.95)
    assert record["model"] == tiny_bonito and record["engine"] == "transformers" and record["versions"]["torch"]
    assert record["input"]["num_documents"] == 18 and record["seconds"] is not None
    assert run["filters"] == ["placeholder", "yes_no", "duplicate", "near_duplicate"]


def test_default_chunks_hold_a_small_corpus_whole(tiny_bonito, docs_jsonl, tmp_path):
    out = tmp_path / "out"
    args = gen_args(tiny_bonito, docs_jsonl, out)
    i = args.index("--chunk-size")
    assert main(args[:i] + args[i + 2:]) == 0
    assert [p.name for p in (out / "chunks").iterdir()] == ["chunk-000000.json"]


def test_a_run_killed_while_writing_its_record_resumes(tiny_bonito, docs_jsonl, tmp_path, capsys):
    out = tmp_path / "out"
    temp = out / ".run.json.tmp-0123abcd"
    Manifest(out).create().temp(temp)  # what a kill inside write_atomic leaves: listed, then half written
    temp.write_text('{"half')
    assert main(gen_args(tiny_bonito, docs_jsonl, out)) == 0
    assert not list(out.glob(".run.json.tmp-*")) and (out / "funnel.json").exists()


def test_a_file_named_like_our_leftovers_but_not_listed_is_the_users(tiny_bonito, docs_jsonl, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / ".run.json.tmp-0123abcd").write_text("mine")  # no manifest lists it: whatever its name, it is kept
    assert main(gen_args(tiny_bonito, docs_jsonl, out)) == 2
    assert "holds files bonito-hub did not write (.run.json.tmp-0123abcd)" in capsys.readouterr().err
    assert (out / ".run.json.tmp-0123abcd").read_text() == "mine" and sorted(p.name for p in out.iterdir()) == \
        [".run.json.tmp-0123abcd"]


def test_a_mistyped_file_name_is_not_sent_to_the_hub(tiny_bonito, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)  # as a process started online
    assert main(gen_args(tiny_bonito, "docs.jsonll.jsonl", tmp_path / "out")) == 2
    err = capsys.readouterr().err
    assert "Hugging Face Hub" not in err and "docs.jsonll.jsonl" in err


def test_a_resumed_shard_removes_only_its_own_chunks_leftovers(tmp_path):
    from bonito_hub.generate.folder import remove_unfinished_data as _remove_unfinished_data

    for sub in ("data", "chunks"):
        (tmp_path / sub).mkdir()
    manifest = Manifest(tmp_path).create()
    mine = [tmp_path / "data" / ".chunk-000001-0123456789ab.parquet.tmp-0123abcd",
            tmp_path / "chunks" / ".chunk-000001.json.tmp-0123abcd"]
    theirs = [tmp_path / "data" / ".chunk-000002-0123456789ab.parquet.tmp-0123abcd",  # another shard, mid-write
              tmp_path / "chunks" / ".chunk-000002.json.tmp-0123abcd"]
    for path in mine + theirs:
        manifest.temp(path)
        path.write_bytes(b"x")
    _remove_unfinished_data(tmp_path, {}, [1, 3])
    assert not any(p.exists() for p in mine) and all(p.exists() for p in theirs)


# --- near-duplicate tasks across the whole run --------------------------------------------------

PARAGRAPH = ("In 1894 a storm destroyed the old wooden pier of the harbour, and the council built a stone "
             "one in its place the next year with money from the fishing guild.")
PARAPHRASES = ("What did the storm destroy?", "What did the storm destroy, then?", "So what did the storm destroy?")


class BoilerplateEngine:
    """Asks of each passage a paraphrase of one question (chosen by the passage) and a second,
    different question: a corpus that repeats a paragraph then repeats its tasks, nearly."""

    name = "scripted"

    def __init__(self):
        from bonito_hub.testing import make_tokenizer

        self.tokenizer, self.max_context, self.model_name = make_tokenizer(), 512, "scripted"

    def generate(self, prompts, sampling, seed, progress=None):
        import zlib

        from bonito_hub.testing.engines import passage_of

        out = []
        for prompt in prompts:
            passage = passage_of(prompt)
            words = [w.strip(".,") for w in passage.split()]
            if "storm" in passage:
                first = f"{{{{context}}}}\n{PARAPHRASES[zlib.crc32(passage.encode()) % 3]}\n<|pipe|>\nthe old wooden pier"
                second = "{{context}}\nWhen was the stone one built?\n<|pipe|>\nthe next year"
            else:  # the same question of another passage is another task
                first = f"{{{{context}}}}\nWhat did the storm destroy?\n<|pipe|>\n{words[1]}"
                second = f"{{{{context}}}}\nWhich word comes third?\n<|pipe|>\n{words[2]}"
            out.append([first, second][:sampling.n])
        if progress is not None:
            progress(len(prompts))
        return out


def test_near_duplicate_tasks_are_removed_across_the_run_alike_in_every_way_of_running(tmp_path, monkeypatch):
    """The same paragraph in 30 documents (each with its own first line) and paraphrased questions:
    one task a question is kept, the first in (chunk, passage, sample) order, whether the run is
    one process, three shards, or interrupted and resumed; the rest are counted and kept apart."""
    from bonito_hub.generate import GenerateConfig, generate
    from bonito_hub.generate.folder import Interrupted, RunFolder

    docs = [{"id": f"n{i}", "text": f"Notice {i}. {PARAGRAPH}"} for i in range(30)]
    docs += [{"id": f"u{i}", "text": f"Ferry {i} leaves Ellmere at {i} past nine for the islands."} for i in range(10)]
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(d) + "\n" for d in docs))
    config = dict(model=None, input=str(corpus), task_type="exqa", n=2, chunk_docs=4, progress=False)

    def run(out, **extra):
        return generate(GenerateConfig(**config, **extra, output=out), engine=BoilerplateEngine())

    whole = run(tmp_path / "whole").funnel
    for i in range(3):
        run(tmp_path / "sharded", shard=f"{i}/3")
    original, written = RunFolder.write_chunk, []

    def stop_after_three(self, k, *args, **kwargs):
        if len(written) == 3:
            raise KeyboardInterrupt
        written.append(k)
        original(self, k, *args, **kwargs)

    monkeypatch.setattr(RunFolder, "write_chunk", stop_after_three)
    with pytest.raises(Interrupted):
        run(tmp_path / "resumed")
    monkeypatch.setattr(RunFolder, "write_chunk", original)
    run(tmp_path / "resumed")
    mine = tmp_path / "user" / "dropped" / "near_duplicate.jsonl"  # a user's file, named like the pass's

    def user_writes_meanwhile(self, k, *args, **kwargs):
        if not mine.exists():  # put there while the run writes its chunks (a folder holding it is refused at start)
            mine.parent.mkdir(parents=True)
            mine.write_text("my notes\n")
        original(self, k, *args, **kwargs)

    monkeypatch.setattr(RunFolder, "write_chunk", user_writes_meanwhile)
    run(tmp_path / "user")
    monkeypatch.setattr(RunFolder, "write_chunk", original)
    assert mine.read_text() == "my notes\n"  # kept; the pass wrote beside it
    assert len((mine.parent / "near_duplicate.new.jsonl").read_text().splitlines()) == 58
    kept = rows_of(tmp_path / "whole")
    paragraph = [(r["doc_id"], r["input"].rsplit("\n", 1)[-1]) for r in kept if "storm destroyed" in r["input"]]
    assert paragraph == [("n0", "What did the storm destroy?"), ("n0", "When was the stone one built?")]
    assert len([r for r in kept if r["doc_id"].startswith("u")]) == 20  # other passages: all their tasks
    dropped = whole["dropped"]["near_duplicate"]
    assert dropped == 58 and whole["kept"] + dropped + sum(v for k, v in whole["dropped"].items()
                                                            if k != "near_duplicate") == whole["generations"]
    lines = (tmp_path / "whole" / "dropped" / "near_duplicate.jsonl").read_text().splitlines()
    assert len(lines) == dropped and json.loads(lines[0])["reason"] == "near_duplicate"
    for other in ("sharded", "resumed"):
        assert rows_of(tmp_path / other) == kept
        assert json.loads((tmp_path / other / "funnel.json").read_text()) == \
            json.loads((tmp_path / "whole" / "funnel.json").read_text())
    assert run(tmp_path / "whole").funnel == whole  # a finished run finished again: nothing more goes
    off = generate(GenerateConfig(**config, output=tmp_path / "off", no_filter=["near_duplicate"]),
                   engine=BoilerplateEngine()).funnel
    assert "near_duplicate" not in off["dropped"] and off["kept"] == whole["kept"] + dropped
