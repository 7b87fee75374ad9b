"""The documents' languages: detected offline, counted per language in the funnel and on the card,
warned about in one line before any model loads, and filtered with --language-filter."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import datasets
import pytest
import yaml

from bonito_hub import language
from bonito_hub.cli import main
from bonito_hub.errors import ConfigError
from bonito_hub.testing.engines import ScriptedEngine

EN = [
    "The harbour town of Ellmere sits at the mouth of a slow brown river. In 1894 a storm destroyed the old "
    "wooden pier, and the council built a stone one in its place the following spring.",
    "Patients with asthma were given the drug twice a day for six weeks. Those who took it woke less often at "
    "night and used their inhalers on fewer days than those who took the placebo.",
    "This contract is governed by the laws of the state. The parties agree to keep all information confidential "
    "for five years after the agreement ends, unless a court orders otherwise.",
    "Tourists now come in summer to watch the fishing boats return in the evening. The museum by the harbour "
    "tells the story of the town's shipyards and of the families who worked in them.",
    "The library opens at nine on weekdays and at ten on Saturdays. Members may borrow up to twelve books at a "
    "time and renew them online, unless another reader has asked for them.",
    "Rain is expected across the north of the country on Tuesday, with strong winds along the coast. The south "
    "will stay dry and mild until the end of the week.",
]
DE = [
    "Die Hafenstadt Ellmere liegt an der Mündung eines langsamen braunen Flusses. Im Jahr 1894 zerstörte ein "
    "Sturm den alten hölzernen Steg, und der Rat baute im folgenden Frühjahr einen aus Stein.",
    "Die Patienten mit Asthma erhielten das Medikament sechs Wochen lang zweimal täglich. Wer es nahm, wachte "
    "nachts seltener auf und brauchte sein Spray an weniger Tagen als die Gruppe mit dem Placebo.",
    "Dieser Vertrag unterliegt dem Recht des Landes. Die Parteien verpflichten sich, alle Informationen noch "
    "fünf Jahre nach dem Ende der Vereinbarung vertraulich zu behandeln, sofern kein Gericht etwas anderes anordnet.",
    "Die Bibliothek öffnet werktags um neun Uhr und samstags um zehn. Mitglieder dürfen bis zu zwölf Bücher "
    "gleichzeitig ausleihen und sie im Internet verlängern, wenn niemand anderes sie vorgemerkt hat.",
    "Am Dienstag wird im Norden des Landes Regen erwartet, an der Küste weht ein kräftiger Wind. Im Süden bleibt "
    "es bis zum Ende der Woche trocken und mild.",
]
ZH = [
    "埃尔米尔港镇坐落在一条缓慢的棕色河流的入海口。一八九四年，一场风暴摧毁了旧的木制码头，第二年春天议会在原址建造了一座石头码头。",
    "哮喘患者每天服用两次该药物，持续六周。服药的患者夜间醒来的次数更少，使用吸入器的天数也比服用安慰剂的患者少。",
    "本合同受国家法律管辖。双方同意在协议结束后五年内对所有信息保密，除非法院另有命令。",
    "图书馆工作日九点开门，星期六十点开门。会员一次最多可以借十二本书，如果没有其他读者预约，还可以在网上续借。",
]
UNDETERMINED = ["Table 3: 12.5, 14.0"]


def mixed_corpus(tmp_path: Path) -> Path:
    """6 English, 5 German and 4 Chinese documents and one that cannot be told, interleaved."""
    docs = [("en", t) for t in EN] + [("de", t) for t in DE] + [("zh", t) for t in ZH] + [("x", t) for t in UNDETERMINED]
    order = sorted(range(len(docs)), key=lambda i: (i * 7) % len(docs))
    path = tmp_path / "mixed.jsonl"
    path.write_text("".join(json.dumps({"id": f"{docs[i][0]}{i}", "text": docs[i][1]}) + "\n" for i in order))
    return path


def test_each_language_is_told_and_too_little_text_is_undetermined():
    assert [language.detect(t) for t in EN] == ["en"] * len(EN)
    assert [language.detect(t) for t in DE] == ["de"] * len(DE)
    assert [language.detect(t) for t in ZH] == ["zh"] * len(ZH)
    assert [language.detect(t) for t in (*UNDETERMINED, "", "   ", "12 34 56 78 90 -- 12.5%")] == ["und"] * 4
    # a long document is judged by windows spread over it: a German cover page does not decide it
    book = DE[0] + "\n\n" + "\n\n".join(EN * 40)
    assert len(language.sample(book)) <= language.SAMPLE_CHARS + language.WINDOWS
    assert language.detect(book) == "en"
    assert language.parse("en, DE,en", "language_filter") == ("en", "de")
    for bad in ("english", "xx", ""):
        with pytest.raises(ConfigError, match="language_filter"):
            language.parse(bad, "language_filter")


def test_the_card_languages_of_a_funnel():
    counts = {"en": {"documents": 60}, "de": {"documents": 30}, "und": {"documents": 9}, "fr": {"documents": 0}}
    assert language.of_funnel(counts) == ["en", "de"]
    assert language.of_funnel(counts, ("de", "und")) == ["de"]
    assert language.of_funnel({"und": {"documents": 3}}) is None and language.of_funnel(None) is None
    many = {"en": {"documents": 995}, "la": {"documents": 5}}  # a stray misdetection is not a language of the set
    assert language.of_funnel(many) == ["en"]


def gen_args(model, inp, out, *extra):
    return ["generate", "--model", model, "--input", str(inp), "--task-type", "exqa", "--output", str(out),
            "--max-tokens", "24", "--no-progress", *extra]


@pytest.fixture()
def loads(monkeypatch):
    """Each model load, marked on stderr where it begins (the warning must come before it)."""
    from bonito_hub.generate import backends

    made, original = [], backends.make_engine

    def make_engine(*args, **kwargs):
        made.append(args[0])
        print("MODEL LOADS HERE", file=sys.stderr)
        return original(*args, **kwargs)

    monkeypatch.setattr(backends, "make_engine", make_engine)
    return made


def test_a_mixed_corpus_is_counted_warned_about_before_the_model_loads_and_filtered(tiny_bonito, tmp_path, capsys,
                                                                                     loads):
    corpus = mixed_corpus(tmp_path)
    out = tmp_path / "all"
    assert main(gen_args(tiny_bonito, corpus, out)) == 0
    captured = capsys.readouterr()
    warnings = [line for line in captured.err.splitlines() if "not in en" in line]
    assert len(warnings) == 1 and captured.err.index(warnings[0]) < captured.err.index("MODEL LOADS HERE")
    assert warnings[0] == ("bonito: warning: 60% of 16 documents (1 undetermined left aside) are not in en, the generator's language (bonito-v1's): "
                           "de 33%, zh 27%; it writes poor tasks of them. --language-filter en keeps only those in en; "
                           "--generator-language says what else it writes")
    funnel = json.loads((out / "funnel.json").read_text())
    # a Chinese passage's words are its characters; the undetermined one is a fragment under the minimum
    assert funnel["languages"] == {"en": {"documents": 6, "passages": 6}, "de": {"documents": 5, "passages": 5},
                                   "zh": {"documents": 4, "passages": 4}, "und": {"documents": 1, "passages": 0}}
    assert funnel["passages"] == 15 and funnel["removed"] == {"too_short": 1} and "language_filtered" not in funnel
    assert "languages: en 6 documents (6 passages), de 5 documents (5 passages), zh 4" in captured.out
    card = (out / "README.md").read_text()
    assert yaml.safe_load(card.split("---")[1])["language"] == ["en", "de", "zh"]
    assert "| de | 5 | 5 |" in card and "| und | 1 | 0 |" in card

    out = tmp_path / "en"
    assert main(gen_args(tiny_bonito, corpus, out, "--language-filter", "en")) == 0
    captured = capsys.readouterr()
    assert "not in en" not in captured.err  # what is prompted is English now
    assert "language filter en keeps 6 of 16 documents (en 38%, de 31%, zh 25%, und 6%)" in captured.err
    funnel = json.loads((out / "funnel.json").read_text())
    assert funnel["language_filtered"] == {"documents": 10, "passages": 9} and funnel["passages"] == 6
    assert funnel["languages"]["de"] == {"documents": 5, "passages": 5}  # still counted
    assert "left out by --language-filter en: 10 documents (9 passages)" in captured.out
    rows = datasets.load_dataset(str(out), split="train").to_list()
    assert rows and {r["doc_id"][:2] for r in rows} == {"en"}
    card = (out / "README.md").read_text()
    assert yaml.safe_load(card.split("---")[1])["language"] == ["en"]
    assert "| documents left out: not in en (language filter) | 10 |" in card
    assert json.loads((out / "run.json").read_text())["options"]["language_filter"] == ["en"]
    from bonito_hub.generate import push_dataset

    def pushed_languages(**language):
        card = push_dataset(out, "me/tasks", dry_run=True, **language).card
        return yaml.safe_load(str(card).split("---")[1])["language"]

    assert pushed_languages() == ["en"] and pushed_languages(language=["en-GB"]) == ["en-GB"]  # the push's wins
    # another filter is another run: not resumed, refused in one line without --overwrite
    assert main(gen_args(tiny_bonito, corpus, out, "--language-filter", "en,und")) == 2
    assert "holds a different generation run" in capsys.readouterr().err


def test_a_filter_that_keeps_nothing_or_an_unknown_code_is_refused_before_the_model_loads(tiny_bonito, tmp_path,
                                                                                        capsys, loads):
    corpus = mixed_corpus(tmp_path)
    for flag, value, message in [
        ("--language-filter", "fr", "--language-filter fr keeps none of the 16 documents (en 38%, de 31%, zh 25%, "
                                    "und 6%)"),
        ("--language-filter", "english", "--language-filter 'english': not a language the detector knows"),
        ("--generator-language", "xx", "--generator-language 'xx': not a language the detector knows"),
    ]:
        assert main(gen_args(tiny_bonito, corpus, tmp_path / "out", flag, value)) == 2
        err = capsys.readouterr().err
        assert err.startswith("bonito: error: ") and message in err and err.count("\n") == 1
        assert not loads and not (tmp_path / "out").exists()


def test_the_generator_language_comes_from_the_option_then_its_card(tmp_path, caplog):
    from bonito_hub.generate import GenerateConfig, generate

    corpus = mixed_corpus(tmp_path)
    german = tmp_path / "german-generator"
    german.mkdir()
    (german / "README.md").write_text("---\nlanguage:\n- de\nlicense: apache-2.0\n---\n# A German generator\n")

    def warnings(out, model="scripted", **extra):
        caplog.clear()
        generate(GenerateConfig(model=None, input=str(corpus), task_type="exqa", output=tmp_path / out, progress=False,
                                **extra), engine=ScriptedEngine(model_name=model))
        return [r.getMessage() for r in caplog.records if r.levelname == "WARNING" and "generator's language" in r.getMessage()]

    assert warnings("a", model=str(german)) == [
        "67% of 16 documents (1 undetermined left aside) are not in de, the generator's language (its card): en 40%, zh 27%; it writes poor tasks "
        "of them. `language_filter` de keeps only those in de; `generator_language` says what else it writes"]
    assert warnings("b", model=str(german), generator_language="en,de,zh") == []
    assert warnings("c", generator_language="de,zh") == [
        "40% of 16 documents (1 undetermined left aside) are not in de,zh, the generator's language "
        "(--generator-language): en 40%; it writes "
        "poor tasks of them. `language_filter` de,zh keeps only those in de,zh; `generator_language` says what else "
        "it writes"]
    assert language.generator_languages(str(tmp_path / "no-card")) == (("en",), "bonito-v1's")


def test_a_large_corpus_is_surveyed_by_a_seeded_sample(tmp_path, caplog):
    """The survey judges a seeded sample of SURVEY_DOCUMENTS documents of a larger corpus (drawn at
    random: a corpus whose languages alternate is not read by its period) and says it was a sample."""
    texts = datasets.Dataset.from_dict({"text": [EN[i % 6] if i % 4 else DE[i % 5] for i in range(1200)]})
    counts = language.survey(texts, "text", ("en",), "bonito-v1's", None)
    assert sum(counts.values()) == language.SURVEY_DOCUMENTS and 100 <= counts["de"] <= 150
    warning = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warning) == 1 and "of a sample of 500 of the 1200 documents are not in en" in warning[0]
    assert language.survey(texts, "text", ("en",), "bonito-v1's", None) == counts  # the same sample each time
