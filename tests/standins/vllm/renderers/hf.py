"""vllm/renderers/hf.py's resolve_chat_template (vLLM 0.33.0): the given template, else the tokenizer's."""


def resolve_chat_template(tokenizer, chat_template, tools, *, model_config):
    if chat_template is not None:
        return tokenizer.get_chat_template(chat_template, tools=tools)
    return getattr(tokenizer, "chat_template", None)
