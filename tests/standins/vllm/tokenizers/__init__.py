"""vllm/tokenizers' get_tokenizer (vllm/tokenizers/registry.py in vLLM 0.33.0): a Hugging Face tokenizer."""


def get_tokenizer(tokenizer_name, *args, trust_remote_code: bool = False, revision=None, download_dir=None,
                  **kwargs):
    from transformers import AutoTokenizer

    kwargs.pop("tokenizer_mode", None)
    return AutoTokenizer.from_pretrained(tokenizer_name, *args, trust_remote_code=trust_remote_code,
                                         revision=revision, **kwargs)
