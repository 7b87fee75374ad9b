"""The written formats as TRL's SFTTrainer reads them: `standard` and `conversational` (TRL's
prompt-completion types, strings and messages) are trained on the completion only, with TRL's
defaults; `messages` (conversational language modeling) only with assistant-only loss, on a chat
template that marks the assistant's turn."""

from __future__ import annotations

import datasets
import pytest

from bonito_hub.cli import main

# A chat template with generation markers, as assistant-only loss needs; the user's turn ends
# with the generation prompt, so that a prompt's tokens are a prefix of the conversation's.
# The space before the answer stays outside the marked span: transformers before 5.2x maps the
# span's first character to a token, and a space belongs to none.
TEMPLATE = ("{% for m in messages %}{% if m['role'] == 'user' %}{{ bos_token }}[INST] {{ m['content'] }} [/INST]"
            "{% else %} {% generation %}{{ m['content'] }}{{ eos_token }}{% endgeneration %}{% endif %}{% endfor %}")


@pytest.fixture(scope="module")
def chat_model(tmp_path_factory):
    from bonito_hub.testing import make_tiny_llama, make_tokenizer

    return make_tiny_llama(tmp_path_factory.mktemp("chat") / "m", tokenizer=make_tokenizer(chat_template=TEMPLATE))


def _prompt_tokens(tok, row: dict, fmt: str) -> list[int]:
    """A row's prompt tokens, made apart from TRL."""
    if fmt == "standard":
        return tok(row["prompt"])["input_ids"]
    user = row["prompt"] if fmt == "conversational" else row["messages"][:1]
    return tok.apply_chat_template(user, tokenize=True, return_dict=True)["input_ids"]


@pytest.mark.parametrize("fmt", ["standard", "conversational", "messages"])
def test_trls_trainer_learns_only_the_completion_of_each_format(fmt, tiny_bonito, chat_model, docs_jsonl, tmp_path):
    from transformers import AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    out = tmp_path / "out"
    assert main(["generate", "--model", tiny_bonito, "--input", docs_jsonl, "--task-type", "exqa", "--output",
                 str(out), "--max-tokens", "24", "--format", fmt, "--no-progress"]) == 0
    rows = datasets.load_dataset(str(out), split="train")
    assert len(rows) >= 1
    columns = {"standard": {"prompt", "completion"}, "conversational": {"prompt", "completion"},
               "messages": {"messages"}}[fmt]
    assert columns <= set(rows.column_names) and ("messages" in rows.column_names) == (fmt == "messages")
    if fmt == "conversational":
        assert rows[0]["prompt"] == [{"role": "user", "content": rows[0]["input"]}]
        assert rows[0]["completion"] == [{"role": "assistant", "content": rows[0]["output"]}]
    data = rows.select_columns(sorted(columns))
    tok = AutoTokenizer.from_pretrained(str(chat_model))
    config = SFTConfig(output_dir=str(tmp_path / "o"), use_cpu=True, report_to="none", max_length=None, max_steps=1,
                       per_device_train_batch_size=2, assistant_only_loss=fmt == "messages")
    trainer = SFTTrainer(model=str(chat_model), args=config, train_dataset=data, processing_class=tok)
    for i in range(len(data)):
        batch = trainer.data_collator([trainer.train_dataset[i]])
        labels, ids = batch["labels"][0].tolist(), batch["input_ids"][0].tolist()
        prompt = _prompt_tokens(tok, data[i], fmt)
        n = len(prompt)
        assert n > 0 and ids[:n] == prompt  # the sequence begins with the prompt, as TRL tokenised it
        assert all(label == -100 for label in labels[:n]), "a prompt token carries a label"
        assert all(label != -100 for label in labels[n:]), "a completion token carries none"
        assert labels[n:] and labels[-1] == tok.eos_token_id
    assert trainer.train().training_loss > 0
