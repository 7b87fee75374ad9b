import pytest

from bonito_hub.generate.passages import PassageSplitter
from bonito_hub.testing import make_tokenizer


@pytest.fixture(scope="module")
def tok():
    return make_tokenizer()


def ntok(tok, text):
    return len(tok(text, add_special_tokens=False)["input_ids"])


def test_short_document_is_one_passage(tok):
    text = "  The pier was rebuilt.  \n"
    (p,) = PassageSplitter(tok, 50).split(text)
    assert text[p.start:p.end] == "The pier was rebuilt."


def test_empty_document_has_no_passage(tok):
    assert PassageSplitter(tok, 50).split(" \n\t ") == []


def test_paragraphs_then_sentences_then_tokens(tok):
    para = "The harbour town sits at the river. Its fishermen leave before dawn. The council built a stone one."
    long_sentence = " ".join(["pier"] * 45) + "."
    text = "\n\n".join([para, para, long_sentence, "Short tail."])
    splitter = PassageSplitter(tok, 20)
    passages = splitter.split(text)
    pieces = [text[p.start:p.end] for p in passages]
    assert all(ntok(tok, piece) <= 20 for piece in pieces)
    assert all(piece == piece.strip() and piece for piece in pieces)
    assert [p.start for p in passages] == sorted(p.start for p in passages)
    # paragraphs of 19 tokens stay whole; the 45-token sentence is cut between tokens
    assert pieces[0] == para and pieces[1] == para
    assert sum(piece.count("pier") for piece in pieces) == 45
    # nothing is lost: every word of the document is in some passage, in order
    assert " ".join(" ".join(pieces).split()) == " ".join(text.split())


def test_sentences_pack_up_to_the_budget(tok):
    text = "Is the pier made of stone? Yes. The trial measured lung function. " * 4
    passages = PassageSplitter(tok, 12).split(text)
    assert len(passages) > 1
    for p in passages:
        assert ntok(tok, text[p.start:p.end]) <= 12


def test_budget_too_small():
    with pytest.raises(ValueError, match="context is too short"):
        PassageSplitter(make_tokenizer(), 3)
