import pytest

from bonito_hub import tasks

PAPER = {
    "exqa": "extractive question answering", "mcqa": "multiple-choice question answering",
    "qg": "question generation", "qa": "question answering without choices",
    "ynqa": "yes-no question answering", "coref": "coreference resolution",
    "paraphrase": "paraphrase generation", "paraphrase_id": "paraphrase identification",
    "sent_comp": "sentence completion", "sentiment": "sentiment", "summarization": "summarization",
    "text_gen": "text generation", "topic_class": "topic classification",
    "wsd": "word sense disambiguation", "te": "textual entailment", "nli": "natural language inference",
}


def test_sixteen_types_match_the_paper():
    assert {s: tasks.full_name(s) for s in tasks.short_names()} == PAPER


@pytest.mark.parametrize("name", ["exqa", "EXQA", " exqa ", "extractive question answering",
                                  "Extractive  Question Answering", "extractive-question-answering"])
def test_names_are_case_and_space_insensitive(name):
    assert tasks.normalize(name) == "exqa"
    assert tasks.to_full(name) == "extractive question answering"


def test_underscored_short_names():
    assert tasks.normalize("Paraphrase_ID") == "paraphrase_id"
    assert tasks.normalize("paraphrase identification") == "paraphrase_id"
    assert tasks.normalize("paraphrase") == "paraphrase"


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError) as err:
        tasks.normalize("open question answering")
    message = str(err.value)
    assert "open question answering" in message
    for short, full in PAPER.items():
        assert short in message and full in message


def test_non_string_is_rejected():
    with pytest.raises(ValueError):
        tasks.normalize(3)
