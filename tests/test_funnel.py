"""The funnel of a generation as one type (bonito_hub.generate.Funnel): summed from chunk records,
written as funnel.json and read back, and still read as the mapping funnel.json holds."""

from __future__ import annotations

import json

from bonito_hub.generate import Funnel


def chunk(documents, kept, dropped=None, **more) -> dict:
    counts = {"documents": documents, "empty_documents": 0, "passages": documents * 2, "generations": documents * 2,
              "kept": kept, "dropped": dropped or {}, **more}
    return {"counts": counts}


def test_the_funnel_sums_chunks_and_has_only_the_parts_a_run_has():
    plain = Funnel.aggregate({0: chunk(3, 5, {"parse": 1}), 1: chunk(2, 3, {"parse": 1, "span": 1})}, 3)
    assert (plain.documents, plain.kept, plain.dropped) == (5, 8, {"parse": 2, "span": 1})
    assert (plain.chunks_done, plain.chunks, plain.complete) == (2, 3, False)
    assert plain.heldout is None and plain.by_type is None and plain.skipped_files is None
    assert set(plain.to_dict()) == {"documents", "empty_documents", "passages", "generations", "kept", "dropped",
                                    "chunks_done", "chunks", "complete"}  # a funnel of 0.1, key for key

    held = {"documents": 1, "passages": 2, "generations": 2, "kept": 1}
    rich = Funnel.aggregate({
        0: chunk(3, 4, heldout=held, by_type={"exqa": {"generations": 3, "kept": 2}}, overlapping_passages=1,
                 skipped_files={"no text": 2}),
        1: chunk(1, 2, heldout=held, by_type={"exqa": {"generations": 1, "kept": 1}}, overlapping_passages=0),
    }, 2)
    assert rich.complete and rich.heldout.kept == 2 and rich.by_type == {"exqa": {"generations": 4, "kept": 3}}
    assert rich.overlapping_passages == 1 and rich.skipped_files == {"no text": 2}


def test_funnel_json_is_written_and_read_through_the_type(tmp_path):
    funnel = Funnel.aggregate({0: chunk(2, 3, heldout={"documents": 1, "passages": 1, "generations": 1,
                                                        "kept": 1})}, 1)
    funnel.heldout.evaluation = {"exqa": {"rows": 1, "file": "heldout/exqa.jsonl"}}
    funnel.write(tmp_path)
    on_disk = json.loads((tmp_path / "funnel.json").read_text())
    assert on_disk["heldout"]["evaluation"]["exqa"]["file"] == "heldout/exqa.jsonl"
    back = Funnel.read(tmp_path)
    assert back == funnel and back.evaluation == {"exqa": {"rows": 1, "file": "heldout/exqa.jsonl"}}
    assert Funnel.read(tmp_path / "nothing") is None  # not a complete run


def test_a_funnel_reads_as_the_dict_of_0_1():
    funnel = Funnel.aggregate({0: chunk(2, 3)}, 1)
    assert funnel["kept"] == 3 and funnel.get("by_type", {}) == {} and "heldout" not in funnel
    assert dict(funnel) == funnel.to_dict() and funnel == json.loads(json.dumps(funnel.to_dict()))
