"""The paper's protocol, checked against the paper's own tools: its prompts render as promptsource
0.2.3's `Template.apply` renders them (promptsource's own code, from its archive), `bonito
evaluate` writes them character for character, and a student is scored on exactly the tokens its
training put after the prompt, for every prompt style, on a SentencePiece-style tokenizer."""

from __future__ import annotations

import json
import random
import sys
import tarfile
import types
from pathlib import Path

import pytest

from bonito_hub.targets import paper

LONG = " ".join(f"word{i}" for i in range(600))  # 4,600 characters: promptsource cuts it at 2,048
HUB_ROWS = {  # rows in the schema of BatsResearch/bonito-experiment-eval, one config a target
    "pubmedqa": [
        {"pubid": 1, "question": "Does the drug reduce attacks?", "final_decision": "yes", "long_answer": "It does.",
         "context": {"contexts": ["Patients took the drug.", "Attacks fell."], "labels": ["M", "R"], "meshes": []}},
        {"pubid": 2, "question": "Is the trial long?", "final_decision": "maybe", "long_answer": "Unclear.",
         "context": {"contexts": [LONG, "The end."], "labels": ["M", "R"], "meshes": []}},
    ],
    "privacyqa": [
        {"question": "Do you sell my data?", "text": "We never sell data ||| ever.", "answer": "Relevant"},
        {"question": "Where is the office?", "text": "Cookies are stored for a year.", "answer": "Irrelevant"},
    ],
    "contractnli": [
        {"premise": "The parties keep all information confidential.", "hypothesis": "Information may be shared.",
         "label": 0},
        {"premise": "The parties keep all information confidential.", "hypothesis": "Secrets are kept.", "label": 1},
        {"premise": LONG, "hypothesis": "The agreement lasts five years.", "label": 2},
    ],
    "vitaminc": [
        {"evidence": "The pier was built in 1894.", "claim": "The pier is from the 1890s.", "label": "SUPPORTS"},
        {"evidence": "The pier was built in 1894.", "claim": "The pier is new.", "label": "REFUTES"},
        {"evidence": "The pier was built in 1894.", "claim": "The pier is blue.", "label": "NOT ENOUGH INFO"},
    ],
}
SQUAD_ROWS = [
    {"id": "a", "title": "t", "context": "In 1894 a storm destroyed the old wooden pier.",
     "question": "What did the storm destroy?", "answers": {"text": ["the old wooden pier", "pier"], "answer_start": [27, 36]}},
    {"id": "b", "title": "t", "context": "The council built a stone one.", "question": "Who built it?",
     "answers": {"text": ["The council", "council"], "answer_start": [0, 4]}},
]
for name in ("squadshifts_nyt", "squadshifts_amazon", "squadshifts_reddit"):
    HUB_ROWS[name] = SQUAD_ROWS


@pytest.fixture(scope="module")
def promptsource_module(promptsource_dir, tmp_path_factory):
    """promptsource 0.2.3's templates.py, its own code, from the archive (the package itself cannot
    be installed next to the current stack)."""
    folder = tmp_path_factory.mktemp("promptsource")
    archive = next(Path(promptsource_dir).glob("promptsource-0.2.3.tar.gz"))
    with tarfile.open(archive) as tar:
        member = tar.getmember("promptsource-0.2.3/promptsource/templates.py")
        (folder / "templates.py").write_bytes(tar.extractfile(member).read())
    stub = types.ModuleType("pkg_resources")  # it only asks where its template folder is
    stub.resource_filename = lambda *args: str(folder)
    saved = sys.modules.get("pkg_resources")
    sys.modules["pkg_resources"] = stub
    try:
        import importlib.util

        spec = importlib.util.spec_from_file_location("promptsource_templates_0_2_3", folder / "templates.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        if saved is not None:
            sys.modules["pkg_resources"] = saved
        else:
            sys.modules.pop("pkg_resources")
    return module


def test_the_paper_prompts_render_as_promptsource_applies_them(promptsource_module):
    checked = 0
    for target, templates in paper.paper_templates().items():
        for template in templates:
            theirs = promptsource_module.Template(template["name"], template["jinja"], reference="",
                                                  answer_choices=template["answer_choices"])
            for i, row in enumerate(HUB_ROWS[target]):
                promptsource_module.env.filters["choice"] = random.Random(f"{target}/{i}").choice  # same draws
                prompt, gold = theirs.apply(dict(row))
                choices = theirs.get_answer_choices_list(dict(row))
                assert paper.render(template, dict(row), random.Random(f"{target}/{i}")) == (prompt, gold, choices)
                checked += 1
    assert checked == 5 * sum(len(rows) for rows in HUB_ROWS.values())


def test_the_squadshifts_prompts_are_promptsources(templates):
    names = ["after", "exam", "wondered", "pick_one_answer", "question_num_hint_answer"]
    ours = paper.paper_templates()
    for target, config, swap in [("squadshifts_nyt", "nyt", None), ("squadshifts_amazon", "amazon", None),
                                 ("squadshifts_reddit", "amazon", ("Amazon", "Reddit"))]:
        theirs = {t.name: t.jinja for t in templates[f"squadshifts/{config}"]}
        expected = [theirs[n].replace(*swap) if swap else theirs[n] for n in names]
        assert [t["name"] for t in ours[target]] == names and [t["jinja"] for t in ours[target]] == expected


def write_rows(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


@pytest.mark.parametrize("target", ["pubmedqa", "contractnli"])
def test_bonito_evaluate_writes_the_papers_prompts_character_for_character(target, tiny_llama, tmp_path, capsys):
    from bonito_hub.cli import main

    data = write_rows(tmp_path / "test.jsonl", HUB_ROWS[target])
    out = tmp_path / "eval"
    assert main(["evaluate", "--model", tiny_llama, "--target", target, "--data", data, "--output", str(out),
                 "--no-progress"]) == 0
    rows = [json.loads(line) for line in (out / "tasks" / f"bonito_{target}.jsonl").read_text().splitlines()]
    if target == "pubmedqa":
        first = rows[0]
        assert first["prompt__given_a_passage_question_at_end"] == (
            "Given a passage: Patients took the drug. Attacks fell.\n\nAnswer the question: Does the drug reduce "
            "attacks?\n\nSummarize the above answer as YES, NO, or MAYBE?")
        assert first["prompt__im_a_doctor"] == (
            'I\'m a doctor and I want to answer the question "Does the drug reduce attacks?" using The following '
            "passage:\n\nPatients took the drug. Attacks fell.\n\nSummarize the above answer as YES, NO, or MAYBE?")
        assert first["choices__please_answer"] == ["yes", "no", "maybe"] and first["label__please_answer"] == 0
        assert rows[1]["label__im_a_doctor"] == 2
        cut = rows[1]["prompt__what_is_the_answer"]
        assert "word260" in cut and "word300" not in cut and "..." in cut  # promptsource's 2,048-character cut
    else:
        third = rows[2]
        assert rows[0]["prompt__prompt_1"] == ('Suppose The parties keep all information confidential. Can we infer '
                                               'that "Information may be shared."? yes, no or maybe?')
        assert rows[1]["prompt__prompt_3"] == ('Take the following as truth: The parties keep all information '
                                               'confidential. Then the following statement: "Secrets are kept." is '
                                               'true, false, or inconclusive?')
        assert rows[0]["choices__prompt_1"] == ["No", "Yes", "Maybe"] and rows[0]["label__prompt_1"] == 0
        assert rows[1]["choices__prompt_4"] == ["False", "True", "Inconclusive"] and rows[1]["label__prompt_4"] == 1
        assert third["label__prompt_5"] == 2 and third["prompt__prompt_2"].endswith(
            '... \n\nQuestion: Does this imply that "The agreement lasts five years."? yes, no or maybe?')
    record = json.loads((out / "scores.json").read_text())
    assert record["protocol"] == "paper" and record["prompt_style"] == "instruct"  # a pretrained model, unadapted
    assert "max_prompt_tokens=1024" in record["lm_eval_command"] and "prompt_style=instruct" in record["lm_eval_command"]
    assert len(record["scores"]["per_template"]) == 5 and "paper protocol" in capsys.readouterr().out


def test_the_paper_scores_extractive_qa_on_the_first_gold_answer(tmp_path):
    from bonito_hub.evaluation import harness
    from bonito_hub.targets import load_target

    data = write_rows(tmp_path / "nyt.jsonl", SQUAD_ROWS)
    paper_rows = harness.rendered_rows(load_target("squadshifts_nyt", data))
    ours = harness.rendered_rows(load_target("squadshifts_nyt", data, protocol="bonito-hub"))
    assert paper_rows[0]["answers"] == ["the old wooden pier"] and ours[0]["answers"] == ["the old wooden pier", "pier"]
    assert paper_rows[0]["prompt__after"] == ("After reading the following paragraph, please answer this question: "
                                              "What did the storm destroy?\n\nIn 1894 a storm destroyed the old wooden "
                                              "pier.")
    assert paper_rows[0]["prompt__question_num_hint_answer"].split(" ", 1)[0] in ("Question", "Problem")
    assert harness.rendered_rows(load_target("squadshifts_nyt", data)) == paper_rows  # seeded: the same each run


# --- train and evaluation agree, token for token ---------------------------------------------------

def sentencepiece_tokenizer(chat_template: str | None = None):
    """A SentencePiece-style tokenizer built here: a Unigram model whose words start with "▁",
    byte fallback, BOS added in front, as Mistral's and Llama-2's."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    from bonito_hub.testing import BASE_TEXT

    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first")
    trainer = trainers.UnigramTrainer(vocab_size=400, special_tokens=["<unk>", "<s>", "</s>"], unk_token="<unk>",
                                      byte_fallback=True, initial_alphabet=list("abcdefghijklmnopqrstuvwxyz:?<>|\n"))
    tok.train_from_iterator([BASE_TEXT, "Instruct: Answer: <|input|> <|output|> yes no maybe Yes No"] * 20, trainer)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", tok.token_to_id("<s>"))])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   pad_token="</s>")
    if chat_template:
        fast.chat_template = chat_template
    return fast


CHAT = ("{% for m in messages %}{% if m['role'] == 'user' %}{{ bos_token }}[INST] {{ m['content'] }} [/INST]"
        "{% else %}{{ m['content'] }}{{ eos_token }}{% endif %}{% endfor %}")


@pytest.mark.parametrize("style", ["plain", "bonito", "instruct", "chat"])
def test_evaluation_scores_exactly_the_tokens_training_put_after_the_prompt(style, tmp_path):
    import datasets
    from types import SimpleNamespace

    from bonito_hub import training
    from bonito_hub.evaluation.model import BonitoLM

    tok = sentencepiece_tokenizer(CHAT if style == "chat" else None)
    prompt, response = "Is the pier made of stone?\nAnswer with yes or no.", "yes"
    split = datasets.Dataset.from_dict({"input": [prompt], "output": [response]})
    args = training.RecipeConfig(prompt_style=style)
    if style == "chat":  # TRL tokenises conversational prompt-completion rows itself
        from trl import SFTConfig, SFTTrainer

        from bonito_hub.testing import make_tiny_llama

        model = make_tiny_llama(tmp_path / "m", tokenizer=tok)
        data = training.prepare_dataset(split, "student", tok, args)
        trainer = SFTTrainer(model=str(model), args=SFTConfig(output_dir=str(tmp_path / "o"), use_cpu=True,
                                                              report_to="none", max_length=None),
                             train_dataset=data, processing_class=tok)
        row = trainer.train_dataset[0]
        mask = [label != -100 for label in row["labels"]] if "labels" in row else row["completion_mask"]  # TRL 1.16; 1.10
        trained = [t for t, m in zip(row["input_ids"], mask) if m]
    else:
        row = training.prepare_dataset(split, "student", tok, args)[0]
        trained = [t for t, label in zip(row["input_ids"], row["labels"]) if label != -100]
    model = SimpleNamespace(tokenizer=tok, prompt_style=style, max_prompt_tokens=None)
    context, scored = BonitoLM._encode_pair(model, prompt, response)
    assert scored == trained and scored[-1] == tok.eos_token_id
    assert tok.convert_ids_to_tokens(scored)[0].startswith("▁") or style == "chat"
    assert context[0] == tok.bos_token_id
    if style in ("plain", "instruct"):  # what lm-eval's own hf model scores: the prompt and answer run together
        whole = tok(context_text := tok.decode(context, skip_special_tokens=True) + response)["input_ids"]
        assert whole[len(tok(context_text[:-len(response)])["input_ids"]):] != scored


# --- bad inputs, each one line ------------------------------------------------------------------

def test_bad_evaluation_inputs_are_one_line_each(tiny_llama, tmp_path, capsys, monkeypatch):
    from bonito_hub.cli import main

    yn = tmp_path / "yn.jsonl"
    yn.write_text(json.dumps({"passage": "P.", "question": "Q?", "choices": ["yes", "yes"], "answer": "yes"}) + "\n")
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "adapter_config.json").write_text("{not json")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": tiny_llama, "r": 8}))
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"passage": "P.", "question": "Q?", "choices": ["yes", "no"], "answer": "yes"}) + "\n")
    cases = [
        (["--model", tiny_llama, "--target", str(yn)], "hold the same answer twice"),
        (["--adapter", str(corrupt), "--target", str(good)], "its adapter_config.json is not readable"),
        (["--adapter", str(empty), "--target", str(good)], "no weights there (adapter_model.safetensors"),
        (["--target", str(good)], "give --model, --adapter, or both"),
        (["--model", tiny_llama, "--target", str(good), "--protocol", "paper"], "--protocol paper has prompts for the "
                                                                                "seven built-in targets only"),
    ]
    for args, said in cases:
        assert main(["evaluate", *args, "--output", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and said in err, err
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # and an empty cache for the built-in targets
    assert main(["evaluate", "--model", tiny_llama, "--target", "privacyqa", "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--target privacyqa: its test set" in err and "HF_HUB_OFFLINE=1 is set" in err
    assert "generation" not in err and not (tmp_path / "out").exists()


def test_a_limited_evaluation_is_marked_and_kept_out_of_the_model_index(tiny_llama, tmp_path, capsys):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from bonito_hub.cli import main

    torch.manual_seed(0)
    get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_llama), LoraConfig(r=2, target_modules="all-linear")) \
        .save_pretrained(tmp_path / "adapter")
    data = write_rows(tmp_path / "test.jsonl", HUB_ROWS["contractnli"])
    for step, extra in (("after", ["--adapter", str(tmp_path / "adapter")]), ("before", ["--model", tiny_llama])):
        assert main(["evaluate", *extra, "--target", "contractnli", "--data", data, "--limit", "2", "--output",
                     str(tmp_path / step), "--no-progress"]) == 0
    base = ["push", "adapter", str(tmp_path / "adapter"), "--repo-id", "me/nli", "--base-model", "org/tiny",
            "--dry-run", "--scores", str(tmp_path / "after" / "scores.json"), "--baseline-scores",
            str(tmp_path / "before" / "scores.json")]
    capsys.readouterr()
    assert main(base) == 0
    card = capsys.readouterr().out
    assert "only the first 2 of 3, a quick look, not the protocol" in card and "model-index:" not in card
    assert "org/tiny (before)" in card and "the paper's prompts and protocol" in card and str(tmp_path) not in card
    assert 'from_pretrained("me/nli")' in card and "REPO_ID" not in card
    assert main(base + ["--index-limited"]) == 0 and "model-index:" in capsys.readouterr().out


@pytest.mark.slow
def test_adapt_scores_the_unadapted_student_as_the_paper_does(tiny_bonito, tiny_llama, docs_jsonl, tmp_path):
    from bonito_hub.cli import main

    data = write_rows(tmp_path / "test.jsonl", HUB_ROWS["pubmedqa"])
    out = tmp_path / "run"
    assert main(["adapt", "--corpus", docs_jsonl, "--task-type", "ynqa", "--generator", tiny_bonito, "--student",
                 tiny_llama, "--target", "pubmedqa", "--target-data", data, "--recipe", "smoke/student",
                 "--recipe-arg", "max_steps=2", "--output", str(out), "--backend", "transformers", "--preset", "paper",
                 "--no-progress"]) == 0
    before, after = (json.loads((out / s / "target" / "scores.json").read_text()) for s in ("before", "after"))
    assert before["protocol"] == after["protocol"] == "paper"
    assert before["prompt_style"] == "instruct" and after["prompt_style"] == "plain"  # as trained (smoke: plain)


def test_an_adapter_without_a_record_is_prompted_as_the_paper_prompted_its_adapters(tiny_llama, caplog):
    """The paper prompted every checkpoint it adapted with <|input|>/<|output|>; an adapter with no
    training record (a Hub adapter, the paper's own) is prompted so under its protocol, and says so."""
    import logging

    from bonito_hub.evaluation.run import resolve_prompt_style

    bare = {"config": {"base_model_name_or_path": tiny_llama}, "record": None}
    with caplog.at_level(logging.INFO):
        assert resolve_prompt_style("auto", tiny_llama, bare, protocol="paper") == "bonito"
    assert "no training record" in caplog.text
    assert resolve_prompt_style("auto", tiny_llama, bare, protocol="bonito-hub") == "plain"
    assert resolve_prompt_style("auto", tiny_llama, None, protocol="paper") == "instruct"  # unadapted
    assert resolve_prompt_style("auto", tiny_llama, {"record": {"prompt_style": "plain"}}, protocol="paper") == "plain"
    assert resolve_prompt_style("plain", tiny_llama, bare, protocol="paper") == "plain"  # what the user chose


def test_a_dapt_model_records_the_prompt_it_is_scored_with(tiny_llama, tmp_path):
    from bonito_hub import sft, training

    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"text": f"The harbour of Ellmere, record {i}."}) + "\n" for i in range(8)))
    sft.main(*sft.parse(["--config", str(training.recipe_path("smoke/dapt")), "--model_name_or_path", tiny_llama,
                         "--dataset_name", str(corpus), "--output_dir", str(tmp_path / "dapt"), "--max_steps", "1"]))
    record = json.loads((tmp_path / "dapt" / training.RECORD_NAME).read_text())
    assert record["objective"] == "dapt" and record["prompt_style"] == "instruct"  # the paper's TAPT/DAPT rule


def test_a_chat_student_is_scored_as_the_paper_scored_mistral_instruct(tmp_path, caplog):
    """Under the paper's protocol a chat model is prompted "[INST] ... [/INST]" and its answer is the
    answer's tokens alone, without EOS (as evaluation/merge_and_evaluate_squad.py and the ranked
    evaluation prompted Mistral-7B-Instruct); bonito-hub's own protocol keeps training's tokens."""
    import logging

    from bonito_hub import training
    from bonito_hub.errors import RecipeError
    from bonito_hub.evaluation.run import resolve_prompt_style
    from bonito_hub.format import encode_prompt, encode_response
    from bonito_hub.testing import make_tokenizer

    template = ("{% for m in messages %}{{ '<|' + m['role'] + '|> ' + m['content'] + ' ' }}{% endfor %}"
                "{% if add_generation_prompt %}{{ '<|assistant|> ' }}{% endif %}")
    tok = make_tokenizer(extra_text="<|user|> <|assistant|> [INST] [/INST] Is the river slow? Yes", chat_template=template)
    folder = tmp_path / "chat-tok"
    tok.save_pretrained(str(folder))
    with caplog.at_level(logging.INFO):
        assert resolve_prompt_style("auto", str(folder), None, protocol="paper") == "inst"
    assert "[INST]" in caplog.text
    assert resolve_prompt_style("auto", str(folder), None, protocol="bonito-hub") == "chat"
    assert resolve_prompt_style("auto", str(folder), {"record": {"prompt_style": "chat"}}, protocol="paper") == "inst"

    prompt = encode_prompt(tok, "Is the river slow?", "inst")
    assert tok.decode(prompt, skip_special_tokens=True).strip() == "[INST] Is the river slow? [/INST]"
    answer = encode_response(tok, "Is the river slow?", "Yes", "inst")
    assert answer == tok("Yes", add_special_tokens=False)["input_ids"] and tok.eos_token_id not in answer
    assert encode_response(tok, "q", "Yes", "bonito")[-1] == tok.eos_token_id  # a base student's: with EOS
    with pytest.raises(RecipeError, match="inst is how the paper's evaluation prompts"):
        training.RecipeConfig(prompt_style="inst")


# --- the same tokens on either backend ------------------------------------------------------------

STANDINS = Path(__file__).parent / "standins"


_STANDIN_MODULES: dict = {}  # the stand-in's modules, kept between tests: lm-eval's vLLM module binds its classes once


@pytest.fixture()
def vllm_with_a_gpu(monkeypatch):
    """`import vllm` finds the strict stand-in (which runs the model with transformers on the CPU
    for lm-eval's tokenised prompts), and bonito-hub sees vLLM with a GPU, so `--backend auto` is
    vLLM. torch itself stays on the CPU, where the transformers path runs."""
    real = {n: sys.modules.pop(n) for n in list(sys.modules) if n == "vllm" or n.startswith("vllm.")}
    monkeypatch.syspath_prepend(str(STANDINS))
    monkeypatch.setattr("bonito_hub.models.vllm_available", lambda: True)
    sys.modules.update(_STANDIN_MODULES)
    import vllm

    vllm.LLM.instances.clear()
    yield vllm
    for name in [n for n in sys.modules if n == "vllm" or n.startswith("vllm.")]:
        _STANDIN_MODULES[name] = sys.modules.pop(name)  # later tests must not find the stand-in
    sys.modules.update(real)


@pytest.fixture()
def scored(monkeypatch):
    """The (context, continuation) token ids each lm-eval model was asked to score, by model."""
    from bonito_hub.evaluation.model import BonitoLM

    seen = {}

    def spying(cls, name):
        real = cls._loglikelihood_tokens

        def record(self, requests, *args, **kwargs):
            seen.setdefault(name, []).extend((list(ctx), list(cont)) for _, ctx, cont in requests)
            return real(self, requests, *args, **kwargs)

        monkeypatch.setattr(cls, "_loglikelihood_tokens", record)

    spying(BonitoLM, "transformers")
    seen["spy"] = spying
    return seen


def _evaluate(args: list[str], out: Path) -> dict:
    from bonito_hub.cli import main

    assert main(["evaluate", *args, "--output", str(out), "--no-progress"]) == 0
    return json.loads((out / "scores.json").read_text())


def _predictions(out: Path) -> dict:
    return {p.stem: [json.loads(line) for line in p.read_text().splitlines()] for p in (out / "predictions").iterdir()}


def test_the_default_backend_on_a_gpu_scores_the_papers_tokens(vllm_with_a_gpu, scored, tmp_path, capsys):
    """`bonito evaluate --target pubmedqa` where vLLM and a GPU are: classification under the
    paper's protocol is scored on transformers, on the very token ids `--backend transformers`
    scores, and the record says which backend scored and which was asked for."""
    from bonito_hub.testing import make_tiny_llama

    model = str(make_tiny_llama(tmp_path / "spm", tokenizer=sentencepiece_tokenizer(), max_position_embeddings=2048))
    data = write_rows(tmp_path / "test.jsonl", HUB_ROWS["pubmedqa"])
    default = _evaluate(["--model", model, "--target", "pubmedqa", "--data", data], tmp_path / "auto")
    assert default["backend"] == "transformers" and default["backend_asked"] == "vllm"
    assert "scored on transformers, as the paper's evaluation scored classification" in capsys.readouterr().err
    by_default = scored.pop("transformers")
    chosen = _evaluate(["--model", model, "--target", "pubmedqa", "--data", data, "--backend", "transformers"],
                       tmp_path / "hf")
    assert "backend_asked" not in chosen and scored["transformers"] == by_default and len(by_default) == 30
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model)
    pieces = [tok.convert_ids_to_tokens(cont) for _, cont in by_default]
    assert all(p[0].startswith("▁") and p[-1] == "</s>" for p in pieces)  # the answer on its own, then EOS
    assert _predictions(tmp_path / "auto") == _predictions(tmp_path / "hf")
    assert not vllm_with_a_gpu.LLM.instances  # vLLM never loaded for classification


@pytest.mark.parametrize("style", ["bonito", "chat"])
def test_vllm_scores_the_tokens_training_wrote(style, vllm_with_a_gpu, scored, tmp_path):
    """Under bonito-hub's protocol classification runs on vLLM (bonito-vllm, lm-eval's vLLM model
    with the student's tokenisation): the continuation tokens are the ones training put after the
    prompt (`▁yes </s>`, not lm-eval's `<0x0A> yes`), the same ids as on transformers, and the
    stand-in, which runs the same weights, gives the same log-probabilities."""
    import datasets

    from bonito_hub import training
    from bonito_hub.evaluation.vllm_model import BonitoVLLM
    from bonito_hub.testing import make_tiny_llama

    tok = sentencepiece_tokenizer(CHAT if style == "chat" else None)
    model = str(make_tiny_llama(tmp_path / "spm", tokenizer=tok, max_position_embeddings=8192))
    data = write_rows(tmp_path / "test.jsonl", HUB_ROWS["pubmedqa"])
    scored["spy"](BonitoVLLM, "vllm")
    common = ["--model", model, "--target", "pubmedqa", "--data", data, "--protocol", "bonito-hub",
              "--prompt-style", style]
    on_vllm = _evaluate(common, tmp_path / "vllm")
    on_hf = _evaluate([*common, "--backend", "transformers"], tmp_path / "hf")
    assert on_vllm["backend"] == "vllm" and on_hf["backend"] == "transformers"
    assert "--model bonito-vllm" in on_vllm["lm_eval_command"]
    assert scored["vllm"] == scored["transformers"] and len(scored["vllm"]) == 30
    (llm,) = vllm_with_a_gpu.LLM.instances
    sent = [p["prompt_token_ids"] for prompts, _ in llm.calls for p in prompts]
    assert sorted(sent) == sorted(ctx + cont for ctx, cont in scored["vllm"])  # what reached the engine
    # the scored continuation of a gold answer is what training puts after that prompt
    prompt, answer = "Is the trial long?", "yes"
    split = datasets.Dataset.from_dict({"input": [prompt], "output": [answer]})
    if style == "chat":
        whole = tok.apply_chat_template([{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}])
        whole = whole["input_ids"] if hasattr(whole, "keys") else whole
        first = tok.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True)
        trained = whole[len(first["input_ids"] if hasattr(first, "keys") else first):]
    else:
        row = training.prepare_dataset(split, "student", tok, training.RecipeConfig(prompt_style=style))[0]
        trained = [t for t, label in zip(row["input_ids"], row["labels"]) if label != -100]
    continuation = BonitoVLLM._encode_pair(types.SimpleNamespace(tokenizer=tok, prompt_style=style,
                                                                 max_prompt_tokens=None), prompt, answer)[1]
    pieces = tok.convert_ids_to_tokens(trained)
    assert continuation == trained and pieces[-1] == "</s>" and (pieces[0].startswith("▁") or style == "chat")
    assert any(cont == trained for _, cont in scored["vllm"])
    vllm_rows, hf_rows = _predictions(tmp_path / "vllm"), _predictions(tmp_path / "hf")
    for key, rows in hf_rows.items():
        for ours, theirs in zip(vllm_rows[key], rows):
            assert ours["log_probs"] == pytest.approx(theirs["log_probs"], abs=1e-4)
            assert ours["prediction"] == theirs["prediction"]


def test_extractive_qa_generates_on_vllm_as_the_paper_did_and_reads_the_same_prompt(vllm_with_a_gpu, tmp_path):
    """SQuADShifts under the paper's protocol is generated on vLLM (the paper's engine for it), with
    an adapter as LoRA; the prompt tokens and the greedy answers equal the transformers path's."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from bonito_hub.testing import make_tiny_llama

    model = str(make_tiny_llama(tmp_path / "spm", tokenizer=sentencepiece_tokenizer(), initializer_range=0.3))
    torch.manual_seed(0)
    get_peft_model(AutoModelForCausalLM.from_pretrained(model), LoraConfig(r=8, target_modules="all-linear",
                                                                           init_lora_weights=False)) \
        .save_pretrained(tmp_path / "adapter")
    data = write_rows(tmp_path / "nyt.jsonl", SQUAD_ROWS)
    common = ["--adapter", str(tmp_path / "adapter"), "--target", "squadshifts_nyt", "--data", data]
    on_vllm = _evaluate(common, tmp_path / "vllm")
    on_hf = _evaluate([*common, "--backend", "transformers"], tmp_path / "hf")
    assert on_vllm["backend"] == "vllm" and on_vllm["protocol"] == "paper" and on_vllm["prompt_style"] == "bonito"
    assert on_hf["backend"] == "transformers"
    (llm,) = vllm_with_a_gpu.LLM.instances
    assert llm.kwargs["enable_lora"] and llm.kwargs["max_lora_rank"] == 8
    sent = [p["prompt_token_ids"] for prompts, _ in llm.calls for p in prompts]
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model)
    assert all(ids[0] == tok.bos_token_id and ids[1] != tok.bos_token_id for ids in sent)  # BOS once
    from bonito_hub.evaluation import harness
    from bonito_hub.format import encode_prompt
    from bonito_hub.targets import load_target

    target = load_target("squadshifts_nyt", data)
    prompts = [row[f"prompt__{p.key}"] for row in harness.rendered_rows(target) for p in target.prompts]
    assert sorted(sent) == sorted(encode_prompt(tok, p, "bonito") for p in prompts)  # bonito-hf's prompt tokens
    assert _predictions(tmp_path / "vllm") == _predictions(tmp_path / "hf")


# --- where the test sets come from ----------------------------------------------------------------

def _parquet(rows: list[dict]) -> bytes:
    import io

    import datasets

    buffer = io.BytesIO()
    datasets.Dataset.from_list(rows).to_parquet(buffer)
    return buffer.getvalue()


def test_squadshifts_under_the_papers_protocol_is_read_where_the_papers_script_read_it(hub_server, tmp_path):
    """The paper's SQuADShifts script read the Hub's `squadshifts` (now ludwigschmidt/squadshifts),
    not bonito-experiment-eval: `--protocol paper` reads it there (its Parquet export, a branch),
    bonito-hub's protocol reads bonito-experiment-eval at the pinned commit, and each records the
    repo, the part, the revision asked for and the commit read."""
    from bonito_hub.targets import builtin_targets, load_target

    paper_rows = [dict(r, context="From squadshifts: " + r["context"]) for r in SQUAD_ROWS]
    hub_server.repos[("dataset", "ludwigschmidt/squadshifts")] = {
        "private": False, "commits": 1, "files": {"nyt/test/0000.parquet": _parquet(paper_rows)}}
    hub_server.repos[("dataset", "BatsResearch/bonito-experiment-eval")] = {
        "private": False, "commits": 1, "files": {"squadshifts_nyt/test.parquet": _parquet(SQUAD_ROWS), "README.md": (
            "---\nconfigs:\n- config_name: squadshifts_nyt\n  data_files:\n  - path: squadshifts_nyt/*.parquet\n"
            "    split: test\n---\n").encode()}}  # as the real README declares its configs
    paper = load_target("squadshifts_nyt")
    assert paper.rows[0]["passage"].startswith("From squadshifts: ")
    assert {k: paper.source[k] for k in ("dataset", "data_files", "split", "revision")} == {
        "dataset": "ludwigschmidt/squadshifts", "data_files": "nyt/test/*.parquet", "split": "test",
        "revision": "refs/convert/parquet"}
    assert len(paper.source["commit"]) == 40 and paper.source["commit"] != "0" * 40  # the branch's commit, resolved
    pinned = builtin_targets()["squadshifts_nyt"]["revision"]
    assert all(len(t["revision"]) == 40 for t in builtin_targets().values())  # every built-in target is pinned
    ours = load_target("squadshifts_nyt", protocol="bonito-hub")
    assert ours.source["dataset"] == "BatsResearch/bonito-experiment-eval" and ours.source["commit"] == pinned
    assert not ours.rows[0]["passage"].startswith("From squadshifts: ")
    from bonito_hub.cards import eval_results

    scored = {"after": {"target": {"source": paper.source, "kind": "exqa", "title": "SQuADShifts NYT",
                                   "prompts": ["after"]}, "metrics": ["f1"], "scores": {"mean": {"f1": 50.0}}}}
    (result,) = eval_results(scored)  # the card's model-index names the commit read
    assert result.dataset_type == "ludwigschmidt/squadshifts" and result.dataset_revision == paper.source["commit"]
