"""Held-out documents: the split, the evaluation sets built from their tasks, and `adapt` scoring
the student on them when no labelled target is given."""

import json
import random

import datasets
import pytest

from bonito_hub.errors import ConfigError
from bonito_hub.targets import load_user
from bonito_hub.generate import GenerateConfig, generate
from bonito_hub.generate.heldout import MAX_ROWS, evaluation_row, evaluation_sets, heldout_documents, options_of, question_of
from bonito_hub.testing.engines import ScriptedEngine

WORDS = ("harbour council pier railings boat crane channel tide silt dredge money county vote summer april "
         "market bridge river storm lantern ferry granite meadow orchard kiln quarry").split()


def corpus(path, n=40, seed=0):
    """n documents of distinct random words (no sentence is in two documents)."""
    rng = random.Random(seed)
    rows = [{"id": f"doc{i}", "text": f"Record {i}. " + " ".join(rng.choice(WORDS) for _ in range(30)) + "."}
            for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rows


def singles(docs):
    return [[d] for d in docs]


def test_the_split_is_seeded_by_document_and_holds_at_least_one():
    docs = singles(range(100))
    ten = heldout_documents(docs, 0.1, seed=0)
    assert len(ten) == 10 and ten == heldout_documents(docs, 0.1, seed=0)  # the same corpus and seed: the same
    assert ten != heldout_documents(docs, 0.1, seed=1)
    assert len(heldout_documents(singles(range(3)), 0.1, seed=0)) == 1  # at least one
    assert len(heldout_documents(singles([4, 7]), 0.9, seed=0)) == 1  # never every document: one is left to train on
    assert heldout_documents(singles([5, 9, 12]), 0.5, seed=3) <= {5, 9, 12}  # only documents with text
    with pytest.raises(ConfigError, match="at least two documents"):
        heldout_documents(singles([0]), 0.1, seed=0)
    # groups of documents sharing text are held out whole or not at all
    groups = [[0, 1, 2], [3], [4, 5], [6], [7], [8], [9]]
    for seed in range(20):
        held = heldout_documents(groups, 0.3, seed=seed)
        assert all(set(g) <= held or not set(g) & held for g in groups) and 1 <= len(held) <= 3
    # every group larger than the share: one whole group, never all of them
    assert heldout_documents([[0, 1, 2, 3], [4, 5, 6, 7]], 0.1, seed=0) in ({0, 1, 2, 3}, {4, 5, 6, 7})
    with pytest.raises(ConfigError, match="set `holdout` 0"):
        heldout_documents([[0, 1, 2, 3]], 0.1, seed=0)
    for bad in (0, 1, 1.5, -0.2):
        with pytest.raises(ConfigError, match="more than 0 and less than 1"):
            GenerateConfig(model="m", input="x", task_type="exqa", output="o", holdout=bad)


def test_no_held_out_text_reaches_the_training_rows(tmp_path):
    docs = corpus(tmp_path / "c.jsonl")
    out = tmp_path / "out"
    config = dict(model=None, input=str(tmp_path / "c.jsonl"), task_type="exqa,ynqa", n=4, filters=(),
                  holdout=0.25, chunk_docs=7, progress=False)
    result = generate(GenerateConfig(**config, output=out), engine=ScriptedEngine())
    train = datasets.load_dataset(str(out), split="train")
    held = {f"doc{i}" for i in heldout_documents(singles(range(40)), 0.25, seed=0)}
    assert len(held) == result.funnel["heldout"]["documents"] == 10
    assert {r["doc_id"] for r in result_rows(out)} <= held
    assert not held & set(train["doc_id"])  # no training row comes from a held-out document
    for doc in docs:
        if doc["id"] in held:  # nor does any training instruction quote a held-out document
            assert not any(doc["text"] in text for text in train["input"])
    assert len(set(train["doc_id"])) == 30
    # the funnel adds up: every generation is kept for training, kept for evaluation, or dropped
    f = result.funnel
    assert f["generations"] == f["kept"] + f["heldout"]["kept"] + sum(f["dropped"].values())
    assert f["kept"] == len(train)
    # the same run again, in another folder and killed nowhere: the same split and rows
    again = generate(GenerateConfig(**config, output=tmp_path / "again"), engine=ScriptedEngine())
    assert again.funnel == f and sorted(result_rows(tmp_path / "again"), key=str) == sorted(result_rows(out), key=str)
    # the evaluation sets load as targets of `bonito evaluate`
    evaluation = f["heldout"]["evaluation"]
    assert set(evaluation) == {"exqa", "ynqa"}
    ynqa = load_user(out / evaluation["ynqa"]["file"])
    assert ynqa.kind == "classification" and len(ynqa.rows) == evaluation["ynqa"]["rows"] > 0
    exqa = load_user(out / evaluation["exqa"]["file"])
    assert exqa.kind == "exqa" and all(r["answers"][0].lower() in r["passage"].lower() for r in exqa.rows)
    for line in (out / evaluation["ynqa"]["file"]).read_text().splitlines():
        row = json.loads(line)
        source = next(d for d in docs if d["id"] == row["doc_id"])
        assert source["text"][row["passage_start"]:row["passage_end"]] == row["passage"]
        assert row["passage"] not in row["question"]  # the passage is shown once, by the prompt
    card = (out / "README.md").read_text()
    assert "## Held-out documents" in card and "not by\npeople" in card.replace("\r", "")
    # a changed share is another run: refused, not resumed with the old split
    from bonito_hub.errors import RunError

    with pytest.raises(RunError, match="different generation run"):
        generate(GenerateConfig(**{**config, "holdout": 0.5}, output=out), engine=ScriptedEngine())


def result_rows(out):
    import pyarrow.parquet as pq

    return [r for p in sorted((out / "heldout").glob("chunk-*.parquet")) for r in pq.read_table(p).to_pylist()]


def test_a_run_without_holdout_writes_what_it_wrote_before(tmp_path):
    corpus(tmp_path / "c.jsonl", n=6)
    result = generate(GenerateConfig(model=None, input=str(tmp_path / "c.jsonl"), task_type="ynqa", n=2,
                                     output=tmp_path / "out", progress=False), engine=ScriptedEngine())
    assert "heldout" not in result.funnel and not (tmp_path / "out" / "heldout").exists()
    options = json.loads((tmp_path / "out" / "run.json").read_text())["options"]
    assert "holdout" not in options and "exclude_overlap" not in options  # a run of 0.1 resumes as it was


def test_a_held_out_task_becomes_a_target_row_when_it_can_be_scored():
    passage = "The ferry leaves at nine. The bridge closed in April."
    row, why = evaluation_row("ynqa", f"{passage}\n\nDoes the ferry leave at nine? yes or no?", "Yes.", passage)
    assert why is None and row == {"passage": passage, "question": "Does the ferry leave at nine? yes or no?",
                                   "choices": ["yes", "no"], "answer": "yes"}
    assert evaluation_row("ynqa", "Is it? ", "maybe", passage) == (None, "not_yes_no")
    # a yes the filter lets through, in quotes, is still the choice "yes": a target line whose answer
    # is not one of its choices would make the whole file unreadable
    assert evaluation_row("ynqa", "Is it?", '"Yes."', passage)[0]["answer"] == "yes"
    row, why = evaluation_row("exqa", f"Q: When does the ferry leave?\n{passage}", "at nine", passage)
    assert row["answer"] == "at nine" and row["question"] == "Q: When does the ferry leave?"
    assert evaluation_row("exqa", "When?", "at ten", passage) == (None, "not_a_span")
    nli = f"{passage}\n\nCan we conclude that the bridge is open?\nOPTIONS:\n- Yes\n- It's impossible to say\n- No"
    row, why = evaluation_row("nli", nli, "No", passage)
    assert row["choices"] == ["Yes", "It's impossible to say", "No"] and row["answer"] == "No"
    assert evaluation_row("nli", nli, "Perhaps", passage) == (None, "answer_not_an_option")
    assert evaluation_row("mcqa", "Which is right? Paris", "Paris", passage) == (None, "no_options")
    assert options_of("Pick one:\nA) red\nB) blue\n(c) green") == ["red", "blue", "green"]
    assert question_of("no passage here?", passage) == "no passage here?"


def test_evaluation_sets_count_what_they_leave_out_and_cap_their_size():
    passage = "The ferry leaves at nine."
    rows = [{"type": "ynqa", "input": f"{passage} Question {i}?", "output": "yes", "passage": passage,
             "doc_id": "d", "passage_start": 0, "passage_end": len(passage)} for i in range(MAX_ROWS + 5)]
    rows += [dict(rows[0]), {**rows[0], "output": "often"}, {**rows[0], "type": "summarization"}]
    sets, counts = evaluation_sets(rows, ("ynqa", "summarization"), seed=0)
    assert set(sets) == {"ynqa"}  # a summary has no answer to score against
    assert len(sets["ynqa"]) == MAX_ROWS == counts["ynqa"]["rows"]
    assert counts["ynqa"]["dropped"] == {"duplicate_question": 1, "not_yes_no": 1, "over_max_rows": 5}
    assert sets == evaluation_sets(rows, ("ynqa",), seed=0)[0]  # drawn with the seed


def test_a_users_file_among_the_held_out_files_is_refused_and_kept(tmp_path):
    from bonito_hub.errors import OutputError

    corpus(tmp_path / "c.jsonl", n=8)
    config = dict(model=None, input=str(tmp_path / "c.jsonl"), task_type="ynqa", n=2, holdout=0.25,
                  output=tmp_path / "out", progress=False)
    generate(GenerateConfig(**config), engine=ScriptedEngine())
    for relative in ("heldout/notes.txt", "heldout/deeper/ynqa.jsonl"):
        mine = tmp_path / "out" / relative
        mine.parent.mkdir(parents=True, exist_ok=True)
        mine.write_text("the user's own")
        with pytest.raises(OutputError, match="did not write"):
            generate(GenerateConfig(**{**config, "holdout": 0.5}, overwrite=True), engine=ScriptedEngine())
        assert mine.read_text() == "the user's own"
        mine.unlink()


def test_documents_sharing_text_fall_on_one_side_and_no_held_out_row_shares_training_text(tmp_path):
    """A corpus where every document has a copy, some exact and some with a sentence changed: the
    held-out evaluation set shares no 13-word n-gram with any training row."""
    from bonito_hub.corpus import load_texts
    from bonito_hub.generate.heldout import document_groups
    from bonito_hub.overlap import NgramIndex

    rng = random.Random(3)
    rows = []
    for i in range(12):
        text = f"Record {i}. " + " ".join(rng.choice(WORDS) for _ in range(40)) + "."
        rows.append({"id": f"doc{i}", "text": text})
        copy = text if i % 2 else text.replace(f"Record {i}.", f"Copy of record {i}, edited.")
        rows.append({"id": f"doc{i}-copy", "text": copy})
    path = tmp_path / "dup.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    texts = load_texts(str(path))
    groups = document_groups(texts, "text", list(range(len(rows))))
    assert sorted(len(g) for g in groups) == [2] * 12 and all(g[1] == g[0] + 1 for g in groups)
    out = tmp_path / "out"
    result = generate(GenerateConfig(model=None, input=str(path), task_type="ynqa", n=4, filters=(), holdout=0.25,
                                     progress=False, output=out), engine=ScriptedEngine())
    train = datasets.load_dataset(str(out), split="train")
    held = {r["doc_id"] for r in result_rows(out)}
    assert held and not held & set(train["doc_id"])
    assert {d.removesuffix("-copy") for d in held} & {d.removesuffix("-copy") for d in train["doc_id"]} == set()
    evaluation = result.funnel["heldout"]["evaluation"]["ynqa"]
    items = [json.loads(line) for line in (out / evaluation["file"]).read_text().splitlines()]
    assert items
    scan = NgramIndex.from_rows(items).scan(f"{i}\n{o}" for i, o in zip(train["input"], train["output"]))
    assert not any(scan.overlapping) and not scan.found


def test_a_held_out_row_sharing_text_with_training_is_left_out_and_counted():
    from bonito_hub.generate.heldout import evaluation_sets

    passage = "The harbour town of Ellmere sits at the mouth of a slow brown river and its old pier fell in 1894."
    held = [{"type": "ynqa", "input": f"{passage}\nDid the pier fall?", "output": "Yes", "passage": passage,
             "doc_id": "a", "passage_start": 0, "passage_end": len(passage)},
            {"type": "ynqa", "input": "Is the sky green today over the quiet hills?", "output": "No",
             "passage": "Another text entirely, unrelated to anything the training rows say at all here.",
             "doc_id": "b", "passage_start": 0, "passage_end": 10}]
    training = [f"Read: {passage}\nWhen did it fall?\n1894"]
    sets, counts = evaluation_sets(held, ("ynqa",), seed=0, training_texts=lambda: iter(training))
    assert [r["doc_id"] for r in sets["ynqa"]] == ["b"]
    assert counts["ynqa"]["dropped"] == {"overlaps_training": 1} and counts["ynqa"]["rows"] == 1


@pytest.mark.parametrize("task_type, instruction, answer, family, shown", [
    ("ynqa", "Does the ferry leave at nine? yes or no?", "yes", "yes_no", "Does the ferry leave at nine?"),
    ("nli", 'Based on the paragraph above can we conclude that "The bridge is open"?\nOPTIONS:\n- Yes\n'
            "- It's impossible to say\n- No", "No", "nli", '"The bridge is open"'),
    ("te", 'Does the text entail "The ferry leaves at nine"?\nChoose from:\n(a) yes\n(b) no', "yes", "nli",
     "The ferry leaves at nine"),
    ("mcqa", "When does the ferry leave?\nA) at nine\nB) at ten\nC) in April", "at nine", "options",
     "When does the ferry leave?\nOptions:\n- at nine\n- at ten\n- in April\nAnswer:"),
])
def test_each_held_out_type_is_prompted_in_its_own_family(task_type, instruction, answer, family, shown, tmp_path):
    """A held-out nli or te row is a premise and a hypothesis (the statement its instruction
    quotes, without the option lines); an mcqa row lists its options under its question; both are
    scored on accuracy alone, as their options change from row to row."""
    from bonito_hub.evaluation import harness
    from bonito_hub.targets import load_target

    passage = "The ferry leaves at nine. The bridge closed in April."
    row, why = evaluation_row(task_type, f"{passage}\n\n{instruction}", answer, passage)
    assert why is None
    path = tmp_path / f"{task_type}.jsonl"
    path.write_text(json.dumps(row) + "\n")
    target = load_target(str(path))
    assert target.prompts == load_target(str(path)).prompts and target.is_classification
    from bonito_hub.targets.load import prompt_family

    assert [p.name for p in target.prompts] == [p.name for p in prompt_family(family)]
    (rendered,) = harness.rendered_rows(target)
    first = rendered[f"prompt__{target.prompts[0].key}"]
    assert shown in first and first.count(passage) == 1
    assert "OPTIONS" not in first and "Choose from" not in first  # the option lines are not repeated
    if task_type in ("nli", "te"):
        assert row["hypothesis"] == shown.strip('"') and "question" not in row
    if task_type == "mcqa":
        assert row["options"] == ["at nine", "at ten", "in April"] and row["question"] == "When does the ferry leave?"
