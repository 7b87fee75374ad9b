"""Tiny models and tokenizers built at run time, for tests and benchmarks (no downloads).

`make_tiny_llama(path)` writes a randomly initialised Llama and a word-level tokenizer trained on
a small built-in text, in the layout `AutoModelForCausalLM.from_pretrained(path)` reads. Every
marker of Bonito's format (`<|tasktype|>`, `<|pipe|>`, `{{context}}`...) is one ordinary token of
its vocabulary, so a random model emits them now and then and its outputs exercise the parser.
"""

from __future__ import annotations

from pathlib import Path

BASE_TEXT = """
The harbour town of Ellmere sits at the mouth of a slow brown river. Its fishermen leave before
dawn and return when the tide turns. In 1894 a storm destroyed the old wooden pier, and the
council built a stone one. What did the storm destroy? Is the pier made of stone? yes no
Patients with asthma were given the drug twice a day for six weeks. The trial measured lung
function and reported fewer attacks. Does the drug reduce attacks? Which question is answered?
This contract is governed by the laws of the state. The parties agree to keep all information
confidential for five years after termination. Answer the question about the passage below.
"""
MARKERS = ["<|tasktype|>", "<|context|>", "<|task|>", "<|pipe|>", "{{context}}"]
SPECIAL = {"bos": "<s>", "eos": "</s>", "pad": "<pad>", "unk": "<unk>"}


def make_tokenizer(path: str | Path | None = None, extra_text: str = "", chat_template: str | None = None):
    """A fast word-level tokenizer whose vocabulary covers BASE_TEXT, the format markers and the
    16 task-type names; saved to `path` when given."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    from bonito_hub import tasks

    words = " ".join([BASE_TEXT, extra_text, " ".join(MARKERS)] + [tasks.full_name(s) for s in tasks.short_names()])
    tok = Tokenizer(models.WordLevel(unk_token=SPECIAL["unk"]))
    # Whitespace-separated words, punctuation attached: markers such as <|pipe|> stay one token.
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    trainer = trainers.WordLevelTrainer(special_tokens=list(SPECIAL.values()))
    tok.train_from_iterator([words], trainer=trainer)
    # Word-level tokens are joined by spaces on decoding; the markers keep their own newlines.
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=False)
    bos, eos = SPECIAL["bos"], SPECIAL["eos"]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, tok.token_to_id(bos))]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=bos, eos_token=eos, pad_token=SPECIAL["pad"], unk_token=SPECIAL["unk"],
        model_max_length=512,
    )
    if chat_template:
        fast.chat_template = chat_template
    if path is not None:
        fast.save_pretrained(str(path))
    return fast


def make_tiny_llama(path: str | Path, hidden_size: int = 32, layers: int = 2, heads: int = 4,
                    max_position_embeddings: int = 512, seed: int = 0, tokenizer=None, intermediate_size: int | None = None,
                    initializer_range: float = 0.02):
    """Write a random Llama of the given size plus its tokenizer to `path`; return the path.

    With the usual initializer_range of 0.02 a model this small has an output layer so small that
    adapters on the other layers cannot move its logits far; LoRA tests want about 0.3."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    path = Path(path)
    tokenizer = tokenizer or make_tokenizer()
    tokenizer.save_pretrained(str(path))
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=intermediate_size or hidden_size * 4,
        num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads,
        max_position_embeddings=max_position_embeddings, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False,
        initializer_range=initializer_range,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(str(path))
    return path


TRAINED_TARGET = "{{context}} What did the storm destroy? <|pipe|> the old wooden pier"


def make_tiny_bonito(path: str | Path, steps: int = 150, seed: int = 0, target: str = TRAINED_TARGET):
    """A tiny Llama trained for a few seconds to answer every generator prompt with `target`:
    a stand-in task generator whose outputs parse, so runs keep rows. Returns the path."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from bonito_hub.format import generator_input

    make_tiny_llama(path, hidden_size=64, layers=2, heads=4, seed=seed)
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    model = AutoModelForCausalLM.from_pretrained(str(path))
    passages = [line.strip() for line in BASE_TEXT.strip().splitlines()]
    sequences = []
    for i, passage in enumerate(passages):
        prompt = tokenizer(generator_input("exqa" if i % 2 else "ynqa", passage))["input_ids"]
        answer = tokenizer(target, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        sequences.append(prompt + answer)
    width = max(map(len, sequences))
    ids = torch.full((len(sequences), width), tokenizer.pad_token_id)
    mask = torch.zeros_like(ids)
    for i, s in enumerate(sequences):
        ids[i, : len(s)] = torch.tensor(s)
        mask[i, : len(s)] = 1
    labels = ids.masked_fill(mask == 0, -100)
    torch.manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(steps):
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()
    model.save_pretrained(str(path))
    return Path(path)
