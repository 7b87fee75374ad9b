"""`bonito evaluate`: targets, the metrics, and the protocol run on lm-eval with tiny models."""

import json
import math

import pytest

from bonito_hub.errors import InputError
from bonito_hub.evaluation import metrics
from bonito_hub.evaluation.run import EvaluationConfig, evaluate
from bonito_hub.targets import builtin_targets, load_target, prompt_family

CLASSIFICATION_ROWS = [
    {"passage": "The harbour town of Ellmere sits at the mouth of a slow brown river.", "question": "Is the river slow?",
     "choices": ["yes", "no"], "answer": "yes"},
    {"passage": "In 1894 a storm destroyed the old wooden pier, and the council built a stone one.",
     "question": "Is the pier made of stone?", "choices": ["yes", "no"], "answer": "yes"},
    {"passage": "Patients with asthma were given the drug twice a day for six weeks.",
     "question": "Does the drug reduce attacks?", "choices": ["yes", "no", "maybe"], "answer": "maybe"},
    {"passage": "This contract is governed by the laws of the state.", "question": "Is the contract governed by law?",
     "choices": ["yes", "no"], "answer": "no"},
]
EXQA_ROWS = [
    {"passage": "In 1894 a storm destroyed the old wooden pier.", "question": "What did the storm destroy?",
     "answer": ["the old wooden pier", "wooden pier"]},
    {"passage": "The council built a stone one.", "question": "What did the council build?", "answer": "a stone one"},
]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


# --- metrics against hand-computed values ---

def test_squad_f1_and_exact_match_by_hand():
    # "the old pier" vs "old wooden pier": articles dropped -> [old, pier] vs [old, wooden, pier];
    # 2 common tokens, precision 2/2, recall 2/3, F1 = 2 * 1 * (2/3) / (1 + 2/3) = 0.8
    assert metrics.squad_f1("the old pier", "old wooden pier") == pytest.approx(0.8)
    assert metrics.squad_exact_match("The  Old Wooden Pier!", "old wooden pier") == 1.0
    assert metrics.squad_exact_match("a pier", "the pier.") == 1.0
    assert metrics.squad_f1("storm", "old wooden pier") == 0.0
    assert metrics.squad_f1("", "") == 1.0 and metrics.squad_f1("the", "pier") == 0.0
    # the best gold answer counts
    assert metrics.squad_scores("wooden pier", ["a stone one", "the wooden pier"]) == {"f1": 1.0, "exact_match": 1.0}
    scores = metrics.squad_scores("pier of stone", ["stone pier"])  # 2 of 3 predicted, 2 of 2 gold: F1 0.8
    assert scores["f1"] == pytest.approx(0.8) and scores["exact_match"] == 0.0


def test_macro_f1_by_hand():
    golds = [0, 0, 0, 1, 1, 2]
    preds = [0, 0, 1, 1, 2, 2]
    # class 0: tp 2 fp 0 fn 1 -> 4/5; class 1: tp 1 fp 1 fn 1 -> 1/2; class 2: tp 1 fp 1 fn 0 -> 2/3
    expected = (0.8 + 0.5 + 2 / 3) / 3
    assert metrics.macro_f1(golds, preds) == pytest.approx(expected)
    assert metrics.macro_f1_aggregation(list(zip(golds, preds))) == pytest.approx(expected)
    assert metrics.macro_f1([1, 1], [1, 1]) == 1.0
    # a class never predicted still counts, with F1 0
    assert metrics.macro_f1([0, 1], [0, 0]) == pytest.approx((2 / 3 + 0) / 2)


# --- targets ---

def test_builtin_targets_are_the_papers_seven_with_five_prompts_each():
    table = builtin_targets()
    assert set(table) == {"pubmedqa", "privacyqa", "squadshifts_nyt", "squadshifts_amazon", "squadshifts_reddit",
                          "contractnli", "vitaminc"}
    kinds = {name: spec["kind"] for name, spec in table.items()}
    assert [n for n, k in kinds.items() if k == "exqa"] == ["squadshifts_nyt", "squadshifts_amazon", "squadshifts_reddit"]
    for name, spec in table.items():
        prompts = prompt_family(spec["prompts"])
        assert len(prompts) == 5 and len({p.name for p in prompts}) == 5, name
        if spec["kind"] == "classification":
            assert sorted(spec["labels"].values()) == list(range(len(spec["classes"]))), name
            assert all(p.choices is None or len(p.choices) == len(spec["classes"]) for p in prompts), name


def test_builtin_target_from_a_local_copy_in_the_hub_schema(tmp_path):
    rows = [{"question": "Does it work?", "context": {"contexts": ["First part.", "Second part."], "labels": ["A", "B"]},
             "final_decision": "maybe", "long_answer": "..."},
            {"question": "Is it safe?", "context": {"contexts": ["Only part."], "labels": ["A"]},
             "final_decision": "no", "long_answer": "..."}]
    target = load_target("pubmedqa", write_jsonl(tmp_path / "pubmedqa.jsonl", rows))
    assert target.kind == "classification" and target.task_type == "ynqa"
    assert target.rows[0] == {"passage": "First part. Second part.", "question": "Does it work?",
                              "choices": ["yes", "no", "maybe"], "label": 2}
    assert target.rows[1]["label"] == 1
    nli = [{"premise": "P.", "hypothesis": "H.", "label": 0}, {"premise": "P.", "hypothesis": "H.", "label": 1}]
    contract = load_target("contractnli", write_jsonl(tmp_path / "c.jsonl", nli))
    assert [r["label"] for r in contract.rows] == [1, 0]  # contradiction -> "no", entailment -> "yes"
    squad = [{"id": "1", "title": "t", "context": "C.", "question": "Q?", "answers": {"text": ["a", "b"], "answer_start": [0, 1]}}]
    assert load_target("squadshifts_nyt", write_jsonl(tmp_path / "s.jsonl", squad)).rows[0]["answers"] == ["a", "b"]
    with pytest.raises(InputError, match="label 'perhaps' is not one of"):
        load_target("pubmedqa", write_jsonl(tmp_path / "bad.jsonl", [{**rows[0], "final_decision": "perhaps"}]))


def test_user_target_kinds_and_errors(tmp_path):
    classification = load_target(write_jsonl(tmp_path / "mine.jsonl", CLASSIFICATION_ROWS))
    assert classification.kind == "classification" and [r["label"] for r in classification.rows] == [0, 0, 2, 1]
    nli = load_target(write_jsonl(tmp_path / "nli.jsonl", [{"passage": "P", "hypothesis": "H", "choices": ["a", "b"],
                                                            "answer": "b"}]))
    assert nli.task_type == "nli" and nli.rows[0]["question"] == "H"
    exqa = load_target(write_jsonl(tmp_path / "qa.jsonl", EXQA_ROWS))
    assert exqa.kind == "exqa" and exqa.rows[1]["answers"] == ["a stone one"]
    cases = {
        "answer 'perhaps' is not one of its choices": [{**CLASSIFICATION_ROWS[0], "answer": "perhaps"}],
        "some lines have choices and some do not": [CLASSIFICATION_ROWS[0], EXQA_ROWS[1]],
        "missing question or hypothesis": [{"passage": "p", "answer": "a"}],
        "choices must be a list of at least two strings": [{**CLASSIFICATION_ROWS[0], "choices": ["yes"]}],
    }
    for message, rows in cases.items():
        with pytest.raises(InputError, match=message):
            load_target(write_jsonl(tmp_path / "bad.jsonl", rows))
    (tmp_path / "broken.jsonl").write_text('{"passage": "p",\n')
    with pytest.raises(InputError, match="broken.jsonl, line 1: not JSON"):
        load_target(str(tmp_path / "broken.jsonl"))
    with pytest.raises(InputError, match="not a built-in target"):
        load_target(str(tmp_path / "missing.jsonl"))


# --- the protocol on lm-eval ---

def summed_log_probs(model_dir, prompt: str, choice: str) -> float:
    """log P(choice | prompt) summed over the choice's tokens, computed here with transformers alone,
    as the paper's code scores it: BOS + the prompt, then the choice tokenised on its own and EOS."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    context = tok(prompt)["input_ids"]
    assert context[0] == tok.bos_token_id
    whole = context + tok(choice, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    with torch.no_grad():
        logits = model(torch.tensor([whole])).logits[0].log_softmax(-1)
    return sum(logits[i - 1, whole[i]].item() for i in range(len(context), len(whole)))


def test_ranked_choice_picks_the_highest_summed_log_probability(tiny_llama, tmp_path):
    from jinja2 import Environment

    target = write_jsonl(tmp_path / "yn.jsonl", CLASSIFICATION_ROWS)
    record = evaluate(EvaluationConfig(target=target, model=tiny_llama, prompt_style="plain"), tmp_path / "eval")
    prompts = {p.name: (p.key, p.text) for p in prompt_family("yes_no")}
    rows = load_target(target).rows
    agreed = 0
    for name, (key, text) in prompts.items():
        predictions = [json.loads(line) for line in (tmp_path / "eval" / "predictions" / f"{key}.jsonl").read_text().splitlines()]
        assert len(predictions) == len(rows)
        for row, pred in zip(rows, predictions):
            prompt = Environment().from_string(text).render(**row) + "\n\n"  # the plain format
            ours = [summed_log_probs(tiny_llama, prompt, c) for c in row["choices"]]
            assert pred["log_probs"] == pytest.approx(ours, abs=1e-3)
            best = max(range(len(ours)), key=ours.__getitem__)
            assert pred["prediction"] == best and pred["correct"] == (best == row["label"])
            agreed += 1
        # the template's accuracy is the share of its rows whose best choice is the gold one
        accuracy = 100 * sum(p["correct"] for p in predictions) / len(predictions)
        assert record["scores"]["per_template"][name]["accuracy"] == pytest.approx(accuracy)
        golds, picks = [p["label"] for p in predictions], [p["prediction"] for p in predictions]
        assert record["scores"]["per_template"][name]["f1"] == pytest.approx(100 * metrics.macro_f1(golds, picks))
    assert agreed == 5 * len(rows)
    mean = record["scores"]["mean"]["accuracy"]
    assert mean == pytest.approx(sum(s["accuracy"] for s in record["scores"]["per_template"].values()) / 5)


def test_evaluate_writes_per_template_and_mean_scores_for_extractive_qa(tiny_llama, tmp_path):
    from bonito_hub.cli import main

    target = write_jsonl(tmp_path / "qa.jsonl", EXQA_ROWS)
    assert main(["evaluate", "--model", tiny_llama, "--target", target, "--output", str(tmp_path / "qa"),
                 "--no-progress"]) == 0
    record = json.loads((tmp_path / "qa" / "scores.json").read_text())
    assert record["metrics"] == ["f1", "exact_match"] and record["target"]["rows"] == 2
    assert set(record["scores"]["per_template"]) == {p.name for p in prompt_family("exqa")}
    for name, scores in record["scores"]["per_template"].items():
        rows = [json.loads(line) for line in (tmp_path / "qa" / "predictions" / f"{name}.jsonl").read_text().splitlines()]
        # each row's score is the SQuAD score of its (stripped, at most 25-token) greedy generation
        for row in rows:
            assert len(row["prediction"].split()) <= 25
            assert metrics.squad_scores(row["prediction"], row["answers"]) == {"f1": row["f1"],
                                                                               "exact_match": row["exact_match"]}
        assert scores["f1"] == pytest.approx(100 * sum(r["f1"] for r in rows) / len(rows))
    assert record["scores"]["mean"]["f1"] == pytest.approx(
        sum(s["f1"] for s in record["scores"]["per_template"].values()) / 5)
    # the task folder is a complete lm-eval task set: a group over the five prompts
    group = (tmp_path / "qa" / "tasks" / "bonito_qa.yaml").read_text()
    assert all(f"bonito_qa_{p.name}" in group for p in prompt_family("exqa"))
    config = (tmp_path / "qa" / "tasks" / "bonito_qa_short.yaml").read_text()
    assert "max_gen_toks: 25" in config and "do_sample: false" in config
    assert "test: bonito_qa.jsonl" in config and str(tmp_path) not in config  # runs from inside the folder, moved too
    assert record["lm_eval_command"].startswith("cd tasks && python -m bonito_hub.evaluation.lm_eval run --model "
                                                "bonito-hf --model_args pretrained=")
    # a second run into the same folder needs --overwrite
    assert main(["evaluate", "--model", tiny_llama, "--target", target, "--output", str(tmp_path / "qa"),
                 "--no-progress"]) == 2


def test_an_adapter_changes_the_scores(tiny_llama, tmp_path):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_llama)
    torch.manual_seed(0)
    peft_model = get_peft_model(base, LoraConfig(r=4, lora_alpha=64, target_modules="all-linear", init_lora_weights=False))
    peft_model.save_pretrained(tmp_path / "adapter")
    target = write_jsonl(tmp_path / "yn.jsonl", CLASSIFICATION_ROWS)
    before = evaluate(EvaluationConfig(target=target, model=tiny_llama), tmp_path / "before")
    after = evaluate(EvaluationConfig(target=target, adapter=str(tmp_path / "adapter")), tmp_path / "after")
    assert after["model"] == tiny_llama  # the base model comes from the adapter's config
    assert after["adapter"] == str(tmp_path / "adapter")
    b = [json.loads(x)["log_probs"] for x in (tmp_path / "before" / "predictions" / "short.jsonl").read_text().splitlines()]
    a = [json.loads(x)["log_probs"] for x in (tmp_path / "after" / "predictions" / "short.jsonl").read_text().splitlines()]
    assert all(not math.isclose(x, y, abs_tol=1e-3) for rb, ra in zip(b, a) for x, y in zip(rb, ra))
    assert before["scores"] != after["scores"] or b != a


def test_the_harness_writes_bonito_hubs_prompts_and_the_models_arguments(tmp_path):
    from bonito_hub.evaluation import harness

    name, args = harness.model_spec("vllm", "org/base", "/adapters/a", "auto", "bonito", lora_rank=64)
    assert name == "bonito-vllm" and args["lora_local_path"] == "/adapters/a" and args["enable_lora"]
    assert args["prompt_style"] == "bonito"  # the student's tokens on vLLM too
    assert args["max_lora_rank"] == 64  # lm-eval's default of 16 cannot load the paper's rank-64 adapters
    name, args = harness.model_spec("transformers", "org/base", "/adapters/a", "float32", "bonito", 1024)
    assert name == "bonito-hf" and args["peft"] == "/adapters/a" and args["prompt_style"] == "bonito"
    assert args["max_prompt_tokens"] == 1024
    # bonito-hub's protocol on a built-in target: the NLI prompts that say true/false/inconclusive score those words
    nli = load_target("contractnli", write_jsonl(tmp_path / "c.jsonl", [{"premise": "P.", "hypothesis": "H.", "label": 2}]),
                      protocol="bonito-hub")
    (row,) = harness.rendered_rows(nli)
    assert row["choices__true_false"] == ["true", "false", "inconclusive"] and row["label__true_false"] == 2
    assert row["choices__follows"] == ["yes", "no", "maybe"]
    target = load_target(write_jsonl(tmp_path / "yn.jsonl", CLASSIFICATION_ROWS))  # a user's file: its own choices
    rows = harness.rendered_rows(target)
    assert all(r[f"choices__{p.key}"] == CLASSIFICATION_ROWS[i]["choices"] for i, r in enumerate(rows)
               for p in target.prompts)


def test_evaluate_says_what_is_wrong_in_one_line(tmp_path, capsys, tiny_llama):
    from bonito_hub.cli import main

    target = write_jsonl(tmp_path / "yn.jsonl", CLASSIFICATION_ROWS)
    cases = [
        (["--model", str(tmp_path / "nope"), "--target", target], "--model .*nope: no such folder"),
        (["--model", tiny_llama, "--target", str(tmp_path / "none.jsonl")], "not a built-in target"),
        (["--adapter", str(tmp_path)], "no adapter_config.json"),
        (["--model", tiny_llama, "--target", target, "--limit", "0"], "--limit must be at least 1 row, got 0"),
        (["--model", tiny_llama, "--target", "pubmedqa", "--data", str(tmp_path / "x.csv")], "no such file"),
    ]
    for args, message in cases:
        if "--target" not in args:
            args = args + ["--target", target]
        assert main(["evaluate", *args, "--output", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("bonito: error: "), err
        assert __import__("re").search(message, err[0]), err[0]
        assert not (tmp_path / "out").exists()


def test_push_adapter_with_scores_puts_them_in_the_card(tiny_llama, tmp_path):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from bonito_hub.cli import main

    torch.manual_seed(0)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_llama), LoraConfig(r=2, target_modules="all-linear"))
    model.save_pretrained(tmp_path / "adapter")
    target = write_jsonl(tmp_path / "yn.jsonl", CLASSIFICATION_ROWS)
    after = evaluate(EvaluationConfig(target=target, adapter=str(tmp_path / "adapter")), tmp_path / "after")
    evaluate(EvaluationConfig(target=target, model=tiny_llama), tmp_path / "before")
    folder = tmp_path / "kept"
    assert main(["push", "adapter", str(tmp_path / "adapter"), "--repo-id", "me/yn-adapter", "--base-model", "org/tiny",
                 "--dry-run", "--keep", str(folder), "--scores", str(tmp_path / "after" / "scores.json"),
                 "--baseline-scores", str(tmp_path / "before" / "scores.json")]) == 0
    card = (folder / "README.md").read_text()
    assert "model-index:" in card and "name: yn-adapter" in card and "type: text-classification" in card
    assert f"value: {round(after['scores']['mean']['accuracy'], 2)}" in card
    assert "(before)" in card and json.loads((folder / "evaluation.json").read_text())["after"]["scores"] == after["scores"]
    # choices that change from row to row: accuracy alone, beside always answering the commonest position
    assert after["metrics"] == ["accuracy"] and after["baseline"]["choices"] == "per_row"
    assert after["baseline"]["labels"] == {"option 1": 2, "option 2": 1, "option 3": 1}
    assert 'always "option 1"' in card and "type: f1" not in card
    assert any(line.startswith("| accuracy |") and line.endswith("| 50.0 |") for line in card.splitlines())
    assert main(["push", "adapter", str(tmp_path / "adapter"), "--repo-id", "me/x", "--base-model", "org/tiny",
                 "--dry-run", "--scores", str(target)]) == 2


def test_classification_scores_come_with_what_always_giving_the_commonest_answer_scores(tiny_llama, tmp_path):
    """A set where "yes" is three answers in four: a model that always says yes scores 75% accuracy
    and 42.9 macro F1 without reading; scores.json says so beside the model's scores."""
    from bonito_hub.adapt.report import summary_table
    from bonito_hub.evaluation.metrics import majority_baseline, macro_f1

    rows = [dict(r, choices=["yes", "no"], answer=a) for r, a in zip(CLASSIFICATION_ROWS, ("yes", "yes", "yes", "no"))]
    record = evaluate(EvaluationConfig(target=write_jsonl(tmp_path / "yn.jsonl", rows), model=tiny_llama),
                      tmp_path / "out")
    base = record["baseline"]
    assert base["answer"] == "yes" and base["choices"] == "fixed" and base["labels"] == {"yes": 3, "no": 1}
    assert base["scores"]["accuracy"] == 75.0 and base["scores"]["f1"] == pytest.approx(100 * 6 / 7 / 2)
    assert base["scores"]["f1"] == pytest.approx(100 * macro_f1([0, 0, 0, 1], [0, 0, 0, 0]))
    assert record["metrics"] == ["accuracy", "f1"]
    assert majority_baseline([{"choices": ["a", "b"], "label": 1}, {"choices": ["a", "b"], "label": 0}])["answer"] == "a"
    table = summary_table({"summary": {"examples_kept": 10, "generations": 12, "evaluations": [
        {"name": "target", "title": "yn", "generated": False, "rows": 4, "metrics": record["metrics"],
         "before": record["scores"]["mean"], "after": record["scores"]["mean"], "baseline": base}]}})
    assert "  answers: yes 75%, no 25%" in table and "always yes" in table
    assert any(line.startswith("  accuracy") and line.rstrip().endswith("75.0") for line in table.splitlines())
