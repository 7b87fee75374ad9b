import pytest

from bonito_hub import format as fmt


def test_generator_input_is_byte_exact():
    text = fmt.generator_input("exqa", "  The pier was rebuilt.\n")
    assert text == "<|tasktype|>\nextractive question answering\n<|context|>\nThe pier was rebuilt.\n<|task|>\n"


def test_generator_input_takes_full_names():
    assert fmt.generator_input("Yes-No Question Answering", "p") == (
        "<|tasktype|>\nyes-no question answering\n<|context|>\np\n<|task|>\n"
    )


def test_generator_target_is_byte_exact():
    assert fmt.generator_target("Q about {{context}}", "A") == "Q about {{context}}\n<|pipe|>\nA"


def test_unknown_task_type_in_input():
    with pytest.raises(ValueError):
        fmt.generator_input("poetry", "p")


PASSAGE = "  Mara kept a diary.  "


@pytest.mark.parametrize(
    "generation, expected",
    [
        ("What did she keep?\n<|pipe|>\na diary", ("What did she keep?", "a diary", None)),
        ("  {{context}}\nWhat did she keep? \n<|pipe|>\n  a diary \n",
         ("Mara kept a diary.\nWhat did she keep?", "a diary", None)),
        ("Copy: {{context}} {{context}}<|pipe|>{{context}}",
         ("Copy: Mara kept a diary. Mara kept a diary.", "Mara kept a diary.", None)),
        ("no separator here", (None, None, fmt.NO_SEPARATOR)),
        ("a<|pipe|>b<|pipe|>c", (None, None, fmt.SEVERAL_SEPARATORS)),
        ("  \n<|pipe|>\nanswer", (None, None, fmt.EMPTY_INSTRUCTION)),
        ("question\n<|pipe|>\n   ", (None, None, fmt.EMPTY_RESPONSE)),
        ("", (None, None, fmt.NO_SEPARATOR)),
        ("<|pipe|>", (None, None, fmt.EMPTY_INSTRUCTION)),
    ],
)
def test_parse_table(generation, expected):
    parsed = fmt.parse_generation(generation, PASSAGE)
    assert (parsed.input, parsed.output, parsed.reason) == expected
    assert parsed.ok == (expected[2] is None)


def test_round_trip():
    target = fmt.generator_target("Summarise {{context}}", "A diary.")
    parsed = fmt.parse_generation(target, "Mara kept a diary.")
    assert parsed.input == "Summarise Mara kept a diary." and parsed.output == "A diary."
