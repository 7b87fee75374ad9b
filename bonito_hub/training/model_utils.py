"""The model side of a recipe: is the model there and can this machine load it as asked, its
tokenizer, and what SFTTrainer is told about loading it.
"""

from __future__ import annotations

from bonito_hub import hub
from bonito_hub.console import get_logger
from bonito_hub.errors import ModelLoadError, RecipeError, cause
from bonito_hub.models import check_model_available

log = get_logger(__name__)


def check_model(model_args, training_args) -> None:
    """A missing model or 4-bit without a GPU: said before anything loads."""
    import torch
    from transformers import AutoConfig

    name = model_args.model_name_or_path
    if not name:
        raise RecipeError("no model_name_or_path")
    try:
        check_model_available(name, "model_name_or_path")
    except (ModelLoadError, hub.HubUnreachable) as exc:
        raise RecipeError(str(exc)) from None
    try:
        AutoConfig.from_pretrained(name, revision=model_args.model_revision)
    except Exception as exc:
        raise RecipeError(f"could not load model {name!r} (looked for a local folder, then the Hub): {cause(exc)}") from None
    on_gpu = torch.cuda.is_available() and not getattr(training_args, "use_cpu", False)
    if model_args.load_in_4bit or model_args.load_in_8bit:
        if not on_gpu:
            raise RecipeError("4-bit/8-bit loading (Q-LoRA) needs bitsandbytes and a CUDA GPU; "
                              "on a CPU use plain LoRA (`load_in_4bit=false`)", field="load_in_4bit")
        _need_bitsandbytes("4-bit/8-bit loading")
    optim = str(getattr(training_args.optim, "value", training_args.optim))
    if any(word in optim for word in BITSANDBYTES_OPTIMIZERS):
        if not on_gpu:
            raise RecipeError(f"optim {optim} is bitsandbytes' optimizer, which needs a CUDA GPU; on a CPU set "
                              "`optim=adamw_torch`", field="optim")
        _need_bitsandbytes(f"optim {optim}")


BITSANDBYTES_OPTIMIZERS = ("paged", "bnb", "8bit")  # transformers' OptimizerNames that run on bitsandbytes


def _need_bitsandbytes(what: str) -> None:
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise RecipeError(f"{what} needs bitsandbytes: pip install bitsandbytes") from None


def load_tokenizer(model_args):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_args.model_name_or_path, revision=model_args.model_revision)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def configure_trainer(training_args, model_args, objective: str, train_dataset) -> None:
    """Settle what SFTTrainer must be told about this data and model before it is built:
    the text field of dapt data, padding-free batching (which needs pre-tokenised rows here: with
    them, max_length was applied when tokenising, and TRL wants it unset), and the keyword
    arguments the model is loaded with (revision, dtype, attention, 4-/8-bit quantisation)."""
    from trl import get_quantization_config

    if objective == "dapt":
        training_args.dataset_text_field = "text"
    if training_args.padding_free and not training_args.packing:
        if "input_ids" in train_dataset.column_names:
            training_args.max_length = None
        else:
            log.warning("padding-free batches need pre-tokenised data here; using padded batches (%s)", objective)
            training_args.padding_free = False
    training_args.model_init_kwargs = {"revision": model_args.model_revision, "dtype": model_args.dtype,
                                       "attn_implementation": model_args.attn_implementation,
                                       **(training_args.model_init_kwargs or {})}
    quantization = get_quantization_config(model_args)
    if quantization is not None:
        training_args.model_init_kwargs["quantization_config"] = quantization
