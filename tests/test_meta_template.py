import random

import pytest
from jinja2.filters import do_truncate
from jinja2 import Environment

from bonito_hub.ctga.meta_template import Renderer, RenderSkip
from bonito_hub.ctga.promptsource import Template


def tpl(jinja, answer_choices=None, name="t"):
    return Template(id=name, name=name, jinja=jinja, answer_choices=answer_choices, dataset="x")


def render(jinja, example, field="text", answer_choices=None, truncate=True, seed=0):
    return Renderer(truncate=truncate).render(tpl(jinja, answer_choices), field, example, random.Random(seed))


def test_plain_field_becomes_placeholder():
    r = render('Review: "{{text}}" Is it good? ||| {{answer_choices[label]}}',
               {"text": "Great kettle.", "label": 1}, answer_choices="no ||| yes")
    assert (r.passage, r.instruction, r.response) == ("Great kettle.", 'Review: "{{context}}" Is it good?', "yes")


def test_list_field_joined_by_the_template():
    r = render('{{dialogue | join("\\n\\n")}}\nWho spoke? ||| M', {"dialogue": ["M: hi", "W: hello"]}, "dialogue")
    assert r.passage == "M: hi\n\nW: hello" and r.instruction == "{{context}}\nWho spoke?"


def test_partial_passage_is_the_passage_and_other_pieces_stay_text():
    # dream's generate-last-utterance: the passage is every turn but the last, which is the response.
    r = render('{{dialogue[:-1] | join("\\n")}}\nNext? ||| {{dialogue[-1]}}', {"dialogue": ["a", "b", "c"]}, "dialogue")
    assert r.passage == "a\nb" and r.response == "c"


def test_loop_over_list_field_is_one_passage():
    jinja = "Info:\n{% for s in supports %}\n- {{ s }}\n{% endfor %}\nRelation? ||| x"
    r = render(jinja, {"supports": ["one.", "two."]}, "supports")
    assert r.passage == "- one.\n\n- two." and r.instruction == "Info:\n{{context}}\nRelation?"


def test_adjacent_pieces_merge():
    # qasc: "{{ fact1[0]|capitalize }}{{ fact1[1:]|trim|trim('.') }}"
    r = render("{{ fact1[0]|capitalize }}{{ fact1[1:]|trim|trim('.') }}, so? ||| y", {"fact1": "plants need light."}, "fact1")
    assert r.passage == "Plants need light" and r.instruction == "{{context}}, so?"


def test_passage_copied_into_response_is_a_placeholder():
    r = render("Repeat: {{text}} ||| {{text}}", {"text": "abc"})
    assert r.response == "{{context}}"


def test_method_calls_on_the_field_are_not_the_passage():
    with pytest.raises(RenderSkip) as err:
        render('{{ text.split("@")[0] }} ||| y', {"text": "a@b"})
    assert err.value.reason == "passage_not_in_instruction"


def test_two_different_pieces_are_refused():
    with pytest.raises(RenderSkip) as err:
        render("{{text[:3]}} and later {{text[3:]}} ||| y", {"text": "abcdef"})
    assert err.value.reason == "passage_split"


def test_truncation_reproduces_promptsource():
    long = " ".join(["word"] * 1000)  # 4,999 characters
    r = render("{{text}} ? ||| {{label}}", {"text": long, "label": "y"})
    expected = do_truncate(Environment(), long, 2048)
    assert r.passage == expected and r.passage.endswith("...") and len(r.passage) <= 2048
    whole = render("{{text}} ? ||| {{label}}", {"text": long, "label": "y"}, truncate=False)
    assert whole.passage == long


def test_pipes_in_data_are_protected():
    r = render("{{text}} ? ||| {{label}}", {"text": "a ||| b", "label": "c ||| d"})
    assert r.passage == "a ||| b" and r.response == "c ||| d"


def test_choice_is_seeded():
    jinja = "{{text}} ||| {{ answers | choice }}"
    row = {"text": "p", "answers": [str(i) for i in range(50)]}
    first = [render(jinja, row, seed=s).response for s in range(10)]
    again = [render(jinja, row, seed=s).response for s in range(10)]
    assert first == again and len(set(first)) > 1


def test_no_separator_and_empty_response():
    with pytest.raises(RenderSkip) as err:
        render("{% if label %}{{text}} ||| y{% endif %}", {"text": "p", "label": 0})
    assert err.value.reason == "no_response"
    with pytest.raises(RenderSkip) as err:
        render("{{text}} ||| {{missing}}", {"text": "p"})
    assert err.value.reason == "empty_response"


def test_template_errors_are_counted_not_raised():
    with pytest.raises(RenderSkip) as err:
        render("{{text}} ||| {{ answer_choices[star - 1] }}", {"text": "p", "star": None}, answer_choices="a ||| b")
    assert err.value.reason == "template_error"


def test_sandbox_blocks_unsafe_attributes():
    with pytest.raises(RenderSkip) as err:
        render("{{text}} ||| {{ text.__class__.__mro__[1].__subclasses__() }}", {"text": "p"})
    assert err.value.reason == "template_error" and "unsafe" in str(err.value).lower()


def test_choice_over_a_constant_list_is_drawn_per_row(templates):
    """race's "Is this the right answer" draws a candidate letter with `["A", "B", "C", "D"] | choice`
    and answers Yes when it equals the answer. Jinja folds a filter over constants at compile time;
    drawn there, every row got the same letter. With the answer fixed, the label shows the draw."""
    (template,) = [t for t in templates["race/all"] if t.name == "Is this the right answer"]
    renderer = Renderer()
    labels = []
    for i in range(400):
        row = {"article": f"Article {i}. The ferry leaves at noon.", "question": "When does it leave?",
               "options": ["at noon", "at one", "at two", "at three"], "answer": "A", "example_id": str(i)}
        r = renderer.render(template, "article", row, random.Random(i))
        assert '"at noon"?' in r.instruction
        labels.append(r.response)
    assert set(labels) == {"Yes", "No"}  # the candidate varies across rows
    assert 70 <= labels.count("Yes") <= 130  # 1 in 4 by chance: 100 expected


def test_random_filters_draw_from_the_row_generator():
    jinja = '{% set x = range(1000) | choice %}{% set y = ["p", "q", "r"] | random %}{{ text }} {{ x }}{{ y }} ||| a'
    first = [render(jinja, {"text": "T."}, seed=s).instruction for s in range(20)]
    again = [render(jinja, {"text": "T."}, seed=s).instruction for s in range(20)]
    assert first == again and len(set(first)) > 10  # reproducible from the seed, different across rows
