"""vllm/lora/request.py's LoRARequest (a msgspec Struct in vLLM 0.33.0): positional or keyword."""

from dataclasses import dataclass


@dataclass
class LoRARequest:
    lora_name: str
    lora_int_id: int
    lora_path: str = ""
    base_model_name: str | None = None
    load_inplace: bool = False
    is_3d_lora_weight: bool = False
