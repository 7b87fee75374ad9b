import pytest

from bonito_hub.generate.filters import DEFAULT_FILTERS, filter_generations, is_span, is_yes_no

PASSAGE = "In 1894 a storm destroyed the old wooden pier. The council built a stone one."


@pytest.mark.parametrize(
    "generation, task_type, reason",
    [
        ("{{context}} What did the storm destroy?\n<|pipe|>\nthe old wooden pier", "exqa", None),
        ("{{context}} What did the storm destroy?\n<|pipe|>\nThe Old  Wooden pier.", "exqa", None),
        ("{{context}} What did the storm destroy?\n<|pipe|>\na lighthouse", "exqa", "not_a_span"),
        ("{{context}} What did the storm destroy?\n<|pipe|>\na lighthouse", "qa", None),
        ("{{context}} Was the pier wooden?\n<|pipe|>\nYes.", "ynqa", None),
        ("{{context}} Was the pier wooden?\n<|pipe|>\nprobably", "ynqa", "not_yes_no"),
        ("{{ context }} Was the pier wooden?\n<|pipe|>\nyes", "ynqa", "context_left"),
        ("{context} Was the pier wooden?\n<|pipe|>\nyes", "ynqa", "context_left"),
        ("<|context|> Was the pier wooden?\n<|pipe|>\nyes", "ynqa", "marker_left"),
        ("{{context}} no separator", "exqa", "unparseable:no_separator"),
        ("a<|pipe|>b<|pipe|>c", "exqa", "unparseable:several_separators"),
        ("<|pipe|>pier", "exqa", "unparseable:empty_instruction"),
        ("question<|pipe|>", "exqa", "unparseable:empty_response"),
    ],
)
def test_each_reason(generation, task_type, reason):
    kept, dropped = filter_generations([generation], PASSAGE, task_type)
    if reason is None:
        assert len(kept) == 1 and not dropped
        assert PASSAGE in kept[0].input and "{{context}}" not in kept[0].input
    else:
        assert not kept and dropped == {reason: 1}


def test_duplicates_within_a_passage():
    g = "{{context}} Q?\n<|pipe|>\nthe old wooden pier"
    kept, dropped = filter_generations([g, g, g.replace("Q?", "R?")], PASSAGE, "exqa")
    assert [k.sample for k in kept] == [0, 2] and dropped == {"duplicate": 1}


def test_filters_can_be_switched_off():
    gens = ["{{ context }} Q\n<|pipe|>\nmaybe", "{{context}} Q\n<|pipe|>\nmaybe"]
    kept, dropped = filter_generations(gens, PASSAGE, "ynqa", enabled=())
    assert len(kept) == 2 and not dropped
    kept, dropped = filter_generations(gens, PASSAGE, "ynqa", enabled=("placeholder",))
    assert len(kept) == 1 and dropped == {"context_left": 1}
    assert set(DEFAULT_FILTERS) == {"placeholder", "span", "yes_no", "duplicate", "near_duplicate"}


def test_span_and_yes_no_helpers():
    assert is_span("stone one", PASSAGE) and not is_span("", PASSAGE)
    assert is_yes_no(" NO! ") and not is_yes_no("yes, it was")
