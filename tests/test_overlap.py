"""Contamination: `bonito check-overlap`, and `--exclude-overlap` leaving the overlapping passages out."""

import json
import pickle
import random

import datasets
import pytest

from bonito_hub.cli import main
from bonito_hub.generate import GenerateConfig, generate
from bonito_hub.overlap import NgramIndex, check_overlap, words
from bonito_hub.testing.engines import ScriptedEngine, passage_of

VOCAB = [f"w{i}" for i in range(3000)]
SEEDED = (2, 9, 17, 30, 44)  # the target rows whose passages the corpus holds


def text(rng, n):
    return " ".join(rng.choice(VOCAB) for _ in range(n))


@pytest.fixture()
def contaminated(tmp_path):
    """A 50-row target and a 200-document corpus holding 5 of its passages, each inside a document
    (case, spacing and punctuation changed)."""
    rng = random.Random(7)
    target = [{"passage": text(rng, 40).capitalize() + ".", "question": text(rng, 15) + "?", "choices": ["yes", "no"],
               "answer": "yes"} for _ in range(50)]
    (tmp_path / "target.jsonl").write_text("".join(json.dumps(r) + "\n" for r in target))
    docs = [{"id": f"doc{i}", "text": text(rng, 60) + "."} for i in range(200)]
    for k, row in enumerate(SEEDED):
        copied = "  ".join(target[row]["passage"].upper().split())
        docs[k * 40]["text"] = f"Preface: {copied}; and so on."
    (tmp_path / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    return tmp_path


def test_check_overlap_reports_the_share_and_names_the_rows(contaminated, capsys):
    out = contaminated / "report.json"
    assert main(["check-overlap", "--corpus", str(contaminated / "corpus.jsonl"), "--target",
                 str(contaminated / "target.jsonl"), "--output", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("5 of 50 rows of target.jsonl (10.0%) share a 13-word n-gram with corpus.jsonl "
                              "(5 of 200 texts overlap)")
    for k, row in enumerate(SEEDED):
        assert f"row {row + 1}: " in printed and f"found in doc{k * 40}:" in printed
    report = json.loads(out.read_text())
    assert report["share"] == 0.1 and report["overlapping_rows"] == 5 and report["rows_too_short"] == 0
    assert sorted(w["row"] for w in report["worst"]) == [r + 1 for r in SEEDED]
    assert str(contaminated) not in out.read_text() + printed  # no folder of this machine
    # the report file is ours to replace; a file of the user's is not
    assert main(["check-overlap", "--corpus", str(contaminated / "corpus.jsonl"), "--target",
                 str(contaminated / "target.jsonl"), "--output", str(out), "--no-progress"]) == 0
    mine = contaminated / "notes.json"
    mine.write_text('{"mine": 1}')
    assert main(["check-overlap", "--corpus", str(contaminated / "corpus.jsonl"), "--target",
                 str(contaminated / "target.jsonl"), "--output", str(mine)]) == 2
    assert mine.read_text() == '{"mine": 1}'


def test_a_clean_corpus_overlaps_nothing_and_short_rows_are_counted(tmp_path):
    rng = random.Random(1)
    rows = [{"passage": "too short to check", "question": "really?"},
            {"passage": text(rng, 30), "question": "what?"}]
    index = NgramIndex.from_rows(rows, name="t")
    assert index.row_ngrams.tolist() == [0, 18]
    corpus = datasets.Dataset.from_dict({"text": [text(rng, 50) for _ in range(20)] + ["too short to check"]})
    (tmp_path / "t.jsonl").write_text("".join(json.dumps({**r, "answer": "x"}) + "\n" for r in rows))
    report = check_overlap(corpus, str(tmp_path / "t.jsonl"), progress=False)
    assert report["overlapping_rows"] == 0 and report["rows_too_short"] == 1 and report["share"] == 0.0
    # 13 words in a row, even across a line break and punctuation, is a copy; 12 are not
    shared = rows[1]["passage"].split()
    assert index.overlapping(["x " + " ".join(shared[:13]) + " y", ", ".join(shared[:12]), "\n".join(shared[5:18])]) \
        == [True, False, True]


def test_the_index_is_the_same_in_another_process():
    rows = [{"passage": "Alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi", "question": ""}]
    index = NgramIndex.from_rows(rows, name="t")
    again = pickle.loads(pickle.dumps(index))  # what a Ray worker gets
    assert again.digest() == index.digest() and again.overlapping([rows[0]["passage"].upper()]) == [True]
    assert index.to_dict() == {"target": "t", "ngram": 13, "ngrams": 2, "sha256": index.digest()}
    assert words("Don't STOP—now") == ["don", "t", "stop", "now"]


def test_exclude_overlap_leaves_out_exactly_the_overlapping_passages(contaminated):
    out, engine = contaminated / "out", ScriptedEngine(max_context=4096)
    config = GenerateConfig(model=None, input=str(contaminated / "corpus.jsonl"), task_type="ynqa", n=2, filters=(),
                            output=out, progress=False, exclude_overlap=str(contaminated / "target.jsonl"))
    result = generate(config, engine=engine)
    f = result.funnel
    assert f["passages"] == 200 and f["overlapping_passages"] == 5 and f.overlapping_passages == 5
    assert config.run.exclude_overlap is None  # the run resolved its index; the config stays as it was made
    docs = [json.loads(line) for line in (contaminated / "corpus.jsonl").read_text().splitlines()]
    prompted = [passage_of(p) for prompts, _, _ in engine.calls for p in prompts]
    assert sorted(prompted) == sorted(d["text"] for i, d in enumerate(docs) if i not in (0, 40, 80, 120, 160))
    kept_docs = set(datasets.load_dataset(str(out), split="train")["doc_id"])
    assert kept_docs.isdisjoint({f"doc{k * 40}" for k in range(5)})
    options = json.loads((out / "run.json").read_text())["options"]
    assert options["exclude_overlap"]["target"] == "target.jsonl" and options["exclude_overlap"]["ngram"] == 13
    card = (out / "README.md").read_text()
    assert "| passages left out: they share a 13-word n-gram with target.jsonl | 5 |" in card
    # the same run resumes; another target is another run
    from bonito_hub.errors import RunError

    (contaminated / "other.jsonl").write_text(json.dumps({"passage": "p " * 20, "question": "q", "answer": "a"}) + "\n")
    with pytest.raises(RunError, match="different generation run"):
        generate(GenerateConfig(model=None, input=str(contaminated / "corpus.jsonl"), task_type="ynqa", n=2, filters=(),
                                output=out, progress=False, exclude_overlap=str(contaminated / "other.jsonl")),
                 engine=ScriptedEngine(max_context=4096))


def test_adapt_needs_a_target_to_exclude_its_overlap():
    from bonito_hub.adapt import AdaptConfig
    from bonito_hub.errors import ConfigError

    with pytest.raises(ConfigError, match="give the target"):
        AdaptConfig(corpus="c", task_type="ynqa", generator="g", student="s", exclude_overlap=True)
