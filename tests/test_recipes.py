"""recipes/sft.py and the YAML recipes, on tiny models built at test time."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from bonito_hub import training
from bonito_hub.format import generator_input

REPO = Path(__file__).resolve().parents[1]
RECIPES = REPO / "recipes"


from bonito_hub import sft  # noqa: E402  (recipes/sft.py runs this module's cli())


@pytest.fixture(scope="session")
def generated_folder(tiny_bonito, session_tmp, docs):
    """A `bonito generate` folder made with the tiny generator."""
    import json as _json

    from bonito_hub.cli import main

    corpus = session_tmp / "corpus.jsonl"
    corpus.write_text("\n".join(_json.dumps({"text": t}) for t in docs * 4) + "\n")
    out = session_tmp / "generated"
    assert main(["generate", "--model", tiny_bonito, "--input", str(corpus), "--task-type", "exqa", "--output", str(out),
                 "--max-tokens", "24", "--num-samples", "3", "--temperature", "0.8", "--no-progress"]) == 0
    return out, corpus


def test_every_recipe_parses():
    for path in sorted(RECIPES.glob("*/*.yaml")):
        if path.parent.name == "accelerate":
            continue
        # bf16 and GPUs are checked when the arguments are built: this machine has neither
        script_args, training_args, model_args = sft.parse(["--config", str(path), "--output_dir", "/tmp/unused",
                                                            "--bf16", "false", "--use_cpu", "true"])
        assert script_args.recipe == f"{path.parent.name}/{path.stem}"  # its packaged name: no path in records
        assert script_args.objective in training.OBJECTIVES
        # and by that name, as a wheel user without a clone names it
        assert sft.parse(["--config", script_args.recipe, "--output_dir", "/tmp/unused", "--bf16", "false",
                          "--use_cpu", "true"])[0].recipe == script_args.recipe


def _settings(path):
    return yaml.safe_load((RECIPES / path).read_text())


@pytest.mark.parametrize("path, steps, gpus", [("generator/bonito-v1-mistral-7b.yaml", 100_000, 4),
                                                ("student/mistral-7b-qlora.yaml", 10_000, 1)])
def test_paper_settings(path, steps, gpus):
    r = _settings(path)
    assert r["model_name_or_path"] == "mistralai/Mistral-7B-v0.1"
    assert (r["load_in_4bit"], r["bnb_4bit_quant_type"], r["use_bnb_nested_quant"], r["dtype"]) == (True, "nf4", True, "bfloat16")
    assert (r["lora_r"], r["lora_alpha"], r["lora_dropout"], r["lora_target_modules"]) == (64, 16, 0.0, "all-linear")
    assert (r["learning_rate"], r["lr_scheduler_type"], r["warmup_steps"], r["weight_decay"]) == (1e-4, "linear", 0, 0.0)
    assert (r["max_grad_norm"], r["optim"], r["max_steps"]) == (0.3, "paged_adamw_32bit", steps)
    assert r["global_batch_size"] == 16 and "gradient_accumulation_steps" not in r
    if gpus > 1:
        assert _settings("accelerate/multi_gpu.yaml")["num_processes"] == gpus


@pytest.mark.parametrize("path", ["generator/bonito-v1-mistral-7b.yaml", "student/mistral-7b-qlora.yaml",
                                  "dapt/mistral-7b-qlora.yaml", "generator/qwen2.5-0.5b.yaml"])
def test_the_papers_batch_on_any_number_of_gpus(path):
    from types import SimpleNamespace

    r = _settings(path)
    script_args = training.RecipeConfig(global_batch_size=r["global_batch_size"])
    for processes in (1, 2) + ((4,) if r["per_device_train_batch_size"] <= 4 else ()):
        args = SimpleNamespace(per_device_train_batch_size=r["per_device_train_batch_size"], world_size=processes,
                               gradient_accumulation_steps=1)
        assert training.apply_global_batch(script_args, args) == 16
        assert args.gradient_accumulation_steps * processes * r["per_device_train_batch_size"] == 16
    args = SimpleNamespace(per_device_train_batch_size=r["per_device_train_batch_size"], world_size=3,
                           gradient_accumulation_steps=1)
    with pytest.raises(training.RecipeError, match="cannot be split over 3 process"):
        training.apply_global_batch(script_args, args)


def test_bonito_prompt_style(tiny_llama):
    import datasets
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_llama)
    split = datasets.Dataset.from_dict({"input": ["Where is the pier?"], "output": ["in Ellmere"]})
    row = training.prepare_dataset(split, "student", tok, training.RecipeConfig(prompt_style="bonito"))[0]
    prompt = tok("<|input|>\nWhere is the pier?\n<|output|>\n", add_special_tokens=True)["input_ids"]
    answer = tok("in Ellmere", add_special_tokens=False)["input_ids"]
    assert row["input_ids"] == prompt + answer + [tok.eos_token_id] and prompt[0] == tok.bos_token_id
    assert row["labels"] == [-100] * len(prompt) + answer + [tok.eos_token_id]
    with pytest.raises(training.RecipeError, match="prompt_style 'poem' is not one of auto, chat, plain, bonito"):
        training.RecipeConfig(prompt_style="poem")
    # the key's name in 0.1 still works, for one release, and an error names the key the recipe used
    assert training.RecipeConfig(student_format="bonito").prompt_style == "bonito"
    with pytest.raises(training.RecipeError, match="student_format 'poem'"):
        training.RecipeConfig(student_format="poem")


def test_small_generator_recipe_is_small():
    r = _settings("generator/qwen2.5-0.5b.yaml")
    assert "0.5B" in r["model_name_or_path"] and r["global_batch_size"] == 16


def test_smoke_recipes_set_what_a_cpu_needs():
    for path in sorted((RECIPES / "smoke").glob("*.yaml")):
        r = yaml.safe_load(path.read_text())
        assert r["use_cpu"] is True and r["bf16"] is False and not r.get("load_in_4bit"), path


def launch(*args, timeout=600):
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(RECIPES / "accelerate" / "cpu.yaml"),
           str(RECIPES / "sft.py"), *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO)


@pytest.mark.slow
def test_accelerate_launch_trains_the_generator(tiny_llama, ctga_fixture_build, tmp_path):
    ctga, _ = ctga_fixture_build
    out = tmp_path / "generator"
    result = launch("--config", RECIPES / "smoke" / "generator.yaml", "--model_name_or_path", tiny_llama,
                    "--dataset_name", ctga, "--output_dir", out, "--merge", "true", "--global_batch_size", "8")
    assert result.returncode == 0, result.stderr[-3000:]
    assert (out / "adapter_model.safetensors").exists() and (out / "tokenizer.json").exists()
    assert (out / "trainer_state.json").exists() and (out / "merged" / "config.json").exists()
    record = json.loads((out / training.RECORD_NAME).read_text())
    assert record["objective"] == "generator" and record["recipe"] == "smoke/generator"  # a name, not a path
    assert record["data"]["rows"] > 0 and record["metrics"]["train_loss"] > 0
    assert record["options"]["training_args"]["learning_rate"] == 5e-3 and record["versions"]["trl"] and record["seconds"] > 0
    assert record["effective_batch_size"] == 8 and record["options"]["training_args"]["gradient_accumulation_steps"] == 2


@pytest.mark.slow
def test_bonito_train_launches_a_packaged_recipe(tiny_llama, generated_folder, tmp_path):
    folder, _ = generated_folder
    out = tmp_path / "student"
    cmd = [sys.executable, "-m", "bonito_hub.cli", "train", "--recipe", "smoke/student", f"model_name_or_path={tiny_llama}",
           f"dataset_name={folder}", f"output_dir={out}", "max_steps=2", "--no-progress"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads((out / training.RECORD_NAME).read_text())
    assert record["recipe"] == "smoke/student" and record["options"]["training_args"]["max_steps"] == 2
    assert "it/s]" not in result.stderr and "{'loss'" not in result.stderr
    bad = subprocess.run(cmd[:6] + ["lerning_rate=1"], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == \
        ["bonito: error: unknown recipe key 'lerning_rate'; did you mean 'learning_rate'?"]
    cpu = subprocess.run(cmd[:5] + ["student/mistral-7b-qlora", f"output_dir={tmp_path / 'q'}"], capture_output=True,
                         text=True, timeout=600, cwd=tmp_path)
    assert cpu.returncode == 2 and cpu.stderr.strip().endswith("set bf16=false"), cpu.stderr  # in train's words


@pytest.mark.slow
def test_accelerate_launch_trains_the_student(tiny_llama, generated_folder, tmp_path):
    folder, _ = generated_folder
    out = tmp_path / "student"
    result = launch("--config", RECIPES / "smoke" / "student.yaml", "--model_name_or_path", tiny_llama,
                    "--dataset_name", folder, "--output_dir", out, "--max_steps", "3")
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads((out / training.RECORD_NAME).read_text())
    assert record["objective"] == "student" and record["options"]["training_args"]["max_steps"] == 3  # CLI overrides YAML


def test_dapt_baseline_trains_on_raw_text(tiny_llama, generated_folder, tmp_path):
    _, corpus = generated_folder
    trainer = sft.main(*sft.parse(["--config", str(RECIPES / "smoke" / "dapt.yaml"), "--model_name_or_path", tiny_llama,
                                   "--dataset_name", str(corpus), "--output_dir", str(tmp_path / "dapt"), "--max_steps", "2"]))
    record = json.loads((tmp_path / "dapt" / training.RECORD_NAME).read_text())
    assert record["objective"] == "dapt" and record["data"]["rows"] == 16  # 24 documents, 8 empty ones dropped
    batch = next(iter(trainer.get_train_dataloader()))
    assert (batch["labels"] != -100).sum() > 0


def test_generator_labels_mask_exactly_the_prompt(tiny_llama, ctga_fixture_build):
    from transformers import AutoTokenizer

    ctga, _ = ctga_fixture_build
    args = training.RecipeConfig(dataset_name=str(ctga), dataset_config="exqa")
    tok = AutoTokenizer.from_pretrained(tiny_llama)
    split = training.load_training_data(args)["train"]
    prepared = training.prepare_dataset(split, "generator", tok, args)
    for row, raw in zip(prepared, split):
        prompt = [tok.bos_token_id] + tok(raw["input"], add_special_tokens=False)["input_ids"]
        completion = tok(raw["output"], add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        assert row["input_ids"] == prompt + completion
        assert row["labels"] == [-100] * len(prompt) + completion


def test_labels_on_a_real_batch(tiny_llama, generated_folder, tmp_path):
    folder, _ = generated_folder
    trainer = sft.main(*sft.parse(["--config", str(RECIPES / "smoke" / "student.yaml"), "--model_name_or_path", tiny_llama,
                                   "--dataset_name", str(folder), "--output_dir", str(tmp_path / "s"), "--max_steps", "1"]))
    tok = trainer.processing_class
    batch = next(iter(trainer.get_train_dataloader()))
    import datasets

    raw = datasets.load_dataset(str(folder), split="train")
    prompts = {tuple([tok.bos_token_id] + tok(training.PLAIN_PROMPT.format(input=i), add_special_tokens=False)["input_ids"])
               for i in raw["input"]}
    assert "attention_mask" not in batch  # the smoke recipe trains padding-free: one flat sequence
    ids_all, labels_all = batch["input_ids"][0].tolist(), batch["labels"][0].tolist()
    starts = [i for i, p in enumerate(batch["position_ids"][0].tolist()) if p == 0] + [len(ids_all)]
    assert len(starts) - 1 == trainer.args.per_device_train_batch_size
    for a, b in zip(starts, starts[1:]):
        ids, labels = ids_all[a:b], labels_all[a:b]
        first = next(i for i, label in enumerate(labels) if label != -100)
        assert tuple(ids[:first]) in prompts  # every prompt token is -100 ...
        assert labels[first:] == ids[first:]  # ... and no completion token is
        assert ids[-1] == tok.eos_token_id


def test_loss_falls_and_the_adapter_reloads(tmp_path):
    import datasets
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from bonito_hub.testing import make_tiny_llama

    tiny_llama = str(make_tiny_llama(tmp_path / "llama", initializer_range=0.3))
    rows = [{"input": generator_input("ynqa", "The pier is made of stone."), "output": "{{context}} Is it stone? <|pipe|> yes",
             "task_type": "yes-no question answering", "template": "t", "dataset": "d", "dataset_config": None}] * 16
    data = tmp_path / "learnable"
    datasets.Dataset.from_list(rows).to_parquet(str(data / "data" / "train.parquet"))
    out = tmp_path / "out"
    trainer = sft.main(*sft.parse(["--config", str(RECIPES / "smoke" / "generator.yaml"), "--model_name_or_path", tiny_llama,
                                   "--dataset_name", str(data), "--dataset_config", "null", "--output_dir", str(out),
                                   "--max_steps", "30", "--learning_rate", "1e-2"]))
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert losses[-1] < 0.3 * losses[0], losses
    ids = torch.tensor([trainer.processing_class(rows[0]["input"])["input_ids"]])
    trainer.model.eval()
    with torch.no_grad():
        trained = trainer.model(input_ids=ids).logits
        reloaded = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_llama), str(out)).eval()
        again = reloaded(input_ids=ids).logits
    assert torch.allclose(trained, again, atol=1e-5)


def run_script(*args):
    return subprocess.run([sys.executable, str(RECIPES / "sft.py"), *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=REPO)


@pytest.mark.parametrize("case", ["unknown_key", "no_columns", "bad_config", "missing_model", "four_bit_on_cpu",
                                  "bad_global_batch"])
def test_bad_input_fails_before_training(case, tiny_llama, ctga_fixture_build, tmp_path):
    ctga, _ = ctga_fixture_build
    recipe = RECIPES / "smoke" / "generator.yaml"
    args = ["--config", recipe, "--model_name_or_path", tiny_llama, "--dataset_name", ctga, "--output_dir", tmp_path / "o"]
    if case == "unknown_key":
        bad = tmp_path / "bad.yaml"
        bad.write_text(recipe.read_text() + "lora_rank: 8\n")
        args[1], expected = bad, "unknown recipe key 'lora_rank'; did you mean 'lora_r'?"
    elif case == "no_columns":
        import datasets

        datasets.Dataset.from_dict({"question": ["q"], "answer": ["a"]}).to_parquet(str(tmp_path / "d" / "train.parquet"))
        args[5], expected = tmp_path / "d", "needs columns input and output"
        args += ["--dataset_config", "null"]
    elif case == "bad_config":
        args += ["--dataset_config", "poetry"]
        expected = "has no config 'poetry'; configs: all, exqa"
    elif case == "missing_model":
        args[3], expected = tmp_path / "nowhere", f"model_name_or_path {tmp_path / 'nowhere'}: no such folder"
    elif case == "bad_global_batch":
        args += ["--global_batch_size", "6"]
        expected = "global_batch_size 6 cannot be split over 1 process(es) x per_device_train_batch_size 4"
    else:
        args += ["--load_in_4bit", "true"]
        expected = "needs bitsandbytes and a CUDA GPU"
    result = run_script(*args)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith("sft.py: error: "), result.stderr[-2000:]
    assert expected in lines[0]
    assert "train_runtime" not in result.stdout + result.stderr and not (tmp_path / "o" / "adapter_model.safetensors").exists()


def test_student_through_a_chat_template(tmp_path, generated_folder):
    import datasets
    from trl import SFTConfig, SFTTrainer

    from bonito_hub.testing import make_tiny_llama, make_tokenizer

    template = ("{% for m in messages %}{{ '<|' + m['role'] + '|> ' + m['content'] + ' ' }}{% endfor %}"
                "{% if add_generation_prompt %}{{ '<|assistant|> ' }}{% endif %}")
    tok = make_tokenizer(extra_text="<|user|> <|assistant|>", chat_template=template)
    model = str(make_tiny_llama(tmp_path / "chat-llama", tokenizer=tok))
    folder, _ = generated_folder
    args = training.RecipeConfig(dataset_name=str(folder))
    split = datasets.load_dataset(str(folder), split="train")
    prepared = training.prepare_dataset(split, "student", tok, args)
    from bonito_hub.format import encode_prompt, encode_response

    prompt = encode_prompt(tok, split[0]["input"], "chat")  # the tokens evaluation prompts the student with
    assert prepared[0]["input_ids"] == prompt + encode_response(tok, split[0]["input"], split[0]["output"], "chat")
    assert prepared[0]["labels"][:len(prompt)] == [-100] * len(prompt)
    trainer = SFTTrainer(model=model, processing_class=tok, train_dataset=prepared,
                         args=SFTConfig(output_dir=str(tmp_path / "o"), use_cpu=True, bf16=False, report_to="none",
                                        per_device_train_batch_size=2, max_steps=1))
    batch = next(iter(trainer.get_train_dataloader()))
    for ids, labels, mask in zip(batch["input_ids"], batch["labels"], batch["attention_mask"]):
        n = int(mask.sum())
        ids, labels = ids[:n].tolist(), labels[:n].tolist()
        first = next(i for i, label in enumerate(labels) if label != -100)
        assert tok.decode(ids[:first]).rstrip().endswith("<|assistant|>")  # the whole prompt is masked
        assert labels[first:] == ids[first:]


def test_recipe_mistakes_are_one_line_errors(tmp_path, tiny_llama):
    from trl import ModelConfig, SFTConfig

    from bonito_hub.errors import RecipeError

    base = ["--config", str(RECIPES / "smoke" / "student.yaml"), "--output_dir", str(tmp_path / "o")]
    with pytest.raises(RecipeError, match="unknown recipe key 'lerning_rate'; did you mean 'learning_rate'"):
        sft.parse(base + ["--lerning_rate", "1e-4"])
    recipe = tmp_path / "typo.yaml"
    recipe.write_text((RECIPES / "smoke" / "student.yaml").read_text() + "per_device_batch_size: 4\n")
    with pytest.raises(RecipeError, match="unknown recipe key 'per_device_batch_size'; did you mean 'per_device_"):
        sft.parse(["--config", str(recipe), "--output_dir", str(tmp_path / "o")])
    with pytest.raises(RecipeError, match="recipe .*nope.yaml: no such file"):
        sft.parse(["--config", str(tmp_path / "nope.yaml")])
    args = SFTConfig(output_dir=str(tmp_path / "o"), use_cpu=True)
    with pytest.raises(RecipeError, match=f"model_name_or_path {tmp_path / 'no-model'}: no such folder"):
        training.check_model(ModelConfig(model_name_or_path=str(tmp_path / "no-model")), args)
    with pytest.raises(RecipeError, match="is a folder but not a model folder"):
        training.check_model(ModelConfig(model_name_or_path=str(tmp_path)), args)
    with pytest.raises(RecipeError, match="could not load model 'no-org/no-model'"):
        training.check_model(ModelConfig(model_name_or_path="no-org/no-model"), args)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message for a machine without bf16; this one has a GPU")
def test_bf16_on_a_cpu_is_one_line(tmp_path):
    from bonito_hub.errors import RecipeError

    with pytest.raises(RecipeError, match="bf16 true needs a GPU with bfloat16 support.*`bf16=false`") as caught:
        sft.parse(["--config", str(RECIPES / "student" / "mistral-7b-qlora.yaml"), "--output_dir", str(tmp_path)])
    assert sft.said(caught.value).endswith("set --bf16 false")  # in the script's own flags


@pytest.mark.slow
def test_accelerate_quiet_launch_shows_the_one_line(tmp_path):
    # --num_cpu_threads_per_process: without it accelerate notes the default it picked for a CPU
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--quiet", "--num_cpu_threads_per_process", "2", "--config_file",
           str(RECIPES / "accelerate" / "cpu.yaml"), str(RECIPES / "sft.py"), "--config",
           str(RECIPES / "smoke" / "student.yaml"), "--lerning_rate", "1", "--output_dir", str(tmp_path / "o")]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=REPO)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1  # accelerate's own status for a failed script in quiet mode
    assert lines == ["sft.py: error: unknown recipe key 'lerning_rate'; did you mean 'learning_rate'?"], result.stderr


def test_a_long_prompt_keeps_its_response_and_the_cut_is_recorded(tiny_llama, tmp_path):
    """The paper cuts source and target apart (1,024 tokens each): a 3,000-token prompt is cut,
    its response is kept whole, and the training record counts the cut."""
    import datasets
    from transformers import AutoTokenizer

    from bonito_hub.format import encode_response

    tok = AutoTokenizer.from_pretrained(tiny_llama)
    words = " ".join(f"harbour{i % 50} pier" for i in range(3000))
    long_input = f"Read the minutes and answer. {words} Question: was the pier rebuilt?"
    rows = [{"input": long_input, "output": "Yes, in 1895."}, {"input": "Was the river slow?", "output": "Yes."}] * 2
    assert len(tok(long_input)["input_ids"]) > 3000
    folder = tmp_path / "tasks"
    folder.mkdir()
    datasets.Dataset.from_list(rows).to_parquet(str(folder / "train.parquet"))
    args = training.RecipeConfig(dataset_name=str(folder), prompt_style="bonito")
    split = training.load_training_data(args)["train"]
    counts: dict = {}
    prepared = training.prepare_dataset(split, "student", tok, args, max_length=2048, counts=counts)
    response = encode_response(tok, long_input, "Yes, in 1895.", "bonito")
    first = prepared[0]
    assert len(first["input_ids"]) == 1024 + len(response) and first["input_ids"][-len(response):] == response
    assert [x for x in first["labels"] if x != -100] == response  # the whole response is trained on
    assert counts == {"source_cut": 2, "target_cut": 0, "dropped_without_response": 0}
    # a window smaller than the two: the prompt gives way, the response stays
    squeezed = training.prepare_dataset(split, "student", tok, args, max_length=256, counts=counts)[0]
    assert len(squeezed["input_ids"]) == 256 and squeezed["input_ids"][-len(response):] == response

    trainer = sft.main(*sft.parse(["--config", str(RECIPES / "smoke" / "student.yaml"), "--model_name_or_path",
                                   tiny_llama, "--dataset_name", str(folder), "--output_dir", str(tmp_path / "s"),
                                   "--max_steps", "1", "--prompt_style", "bonito"]))
    assert trainer is not None
    record = json.loads((tmp_path / "s" / training.RECORD_NAME).read_text())
    assert record["data"]["cut"] == {"source_cut": 2, "target_cut": 0, "dropped_without_response": 0}


def test_fit_cuts_each_side_and_never_the_response_to_nothing():
    from bonito_hub.training.data import CUT_SOURCE, CUT_TARGET, fit

    assert fit(list(range(10)), [7, 8], 4, 4) == ([0, 1, 2, 3], [7, 8], CUT_SOURCE)
    assert fit([1, 2], list(range(9)), 4, 4) == ([1, 2], [0, 1, 2, 3], CUT_TARGET)
    prompt, response, cut = fit(list(range(100)), list(range(100)), None, None, 50)
    assert (len(prompt), len(response), cut) == (25, 25, CUT_SOURCE | CUT_TARGET)
    prompt, response, _ = fit(list(range(100)), [5, 6], None, None, 50)
    assert (len(prompt), response) == (48, [5, 6])
