"""A stand-in for vLLM with the contract of vLLM 0.33.0, for machines without a GPU.

Read from the vllm-0.33.0 wheel (`pip download --no-deps vllm==0.33.0`): the keyword parameters
of `vllm.LLM.__init__` (vllm/entrypoints/llm.py), the fields of `EngineArgs`
(vllm/engine/arg_utils.py) that `LLM` hands its other keywords to, the fields of `SamplingParams`
(vllm/sampling_params.py, a msgspec Struct) and the signature of `LLM.generate`. Anything else
raises TypeError, as the real classes do, so a wrong keyword fails here as it would on a GPU box.
Also what lm-eval's vLLM model imports: `TokensPrompt` (vllm/inputs/llm.py), `LoRARequest`
(vllm/lora/request.py), `get_tokenizer` (vllm/tokenizers), `resolve_chat_template`
(vllm/renderers/hf.py), `Logprob` (vllm/logprobs.py); the distribution's metadata sits beside this
folder (vllm-0.33.0.dist-info), as lm-eval reads vLLM's version.

A text prompt is not run through a model: each completion is a task built from a seeded choice of
a passage word. A tokenised prompt (lm-eval's) is run through the model with transformers on the
CPU, with its LoRA adapter when the request names one: `prompt_logprobs` gives each prompt token's
log-probability and the top token's, as vLLM does, and temperature 0 decodes greedily.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import ClassVar, NotRequired, TypedDict

__version__ = "0.33.0"

ENGINE_ARGS_FIELDS = frozenset((
    'model', 'enable_return_routed_experts', 'return_sampling_mask', 'model_weights',
    'served_model_name', 'tokenizer', 'hf_config_path', 'runner', 'convert', 'skip_tokenizer_init',
    'enable_prompt_embeds', 'tokenizer_mode', 'trust_remote_code', 'allowed_local_media_path',
    'allowed_media_domains', 'download_dir', 'safetensors_load_strategy',
    'safetensors_prefetch_num_threads', 'safetensors_prefetch_block_size', 'load_format',
    'config_format', 'dtype', 'kv_cache_dtype', 'seed', 'max_model_len', 'cudagraph_capture_sizes',
    'max_cudagraph_capture_size', 'ir_op_priority', 'distributed_executor_backend',
    'pipeline_parallel_size', 'master_addr', 'master_port', 'nnodes', 'node_rank',
    'distributed_timeout_seconds', 'cpu_distributed_timeout_seconds', 'numa_bind',
    'numa_bind_nodes', 'numa_bind_cpus', 'device_ids', 'tensor_parallel_size',
    'prefill_context_parallel_size', 'decode_context_parallel_size', 'dcp_comm_backend',
    'dcp_q_replicate', 'dcp_kv_cache_interleave_size', 'cp_kv_cache_interleave_size',
    'data_parallel_size', 'data_parallel_rank', 'data_parallel_start_rank',
    'data_parallel_size_local', 'data_parallel_address', 'data_parallel_rpc_port',
    'data_parallel_hybrid_lb', 'data_parallel_external_lb', 'data_parallel_multi_port_external_lb',
    'data_parallel_backend', 'enable_hc_sp', 'enable_expert_parallel',
    'enable_batch_sharded_sampling', 'enable_ep_weight_filter', 'moe_backend', 'linear_backend',
    'sparse_indexer_topk_backend', 'all2all_backend', 'enable_elastic_ep', 'elastic_ep_max_dp_size',
    'enable_dbo', 'ubatch_size', 'dbo_decode_token_threshold', 'dp_sync_interval',
    'dbo_prefill_token_threshold', 'disable_nccl_for_dp_synchronization', 'eplb_config',
    'enable_eplb', 'expert_placement_strategy', '_api_process_count', '_api_process_rank',
    'max_parallel_loading_workers', 'block_size', 'enable_prefix_caching',
    'prefix_caching_hash_algo', 'prefix_cache_retention_interval', 'disable_sliding_window',
    'disable_cascade_attn', 'offload_backend', 'cpu_offload_gb', 'cpu_offload_params',
    'offload_group_size', 'offload_num_in_group', 'offload_prefetch_step', 'offload_params',
    'gpu_memory_utilization', 'kv_cache_memory_bytes', 'max_num_batched_tokens',
    'max_num_scheduled_tokens', 'long_prefill_token_threshold',
    'long_prefill_token_threshold_adaptive', 'max_num_seqs', 'max_num_active_seqs',
    'max_num_queued_reqs', 'max_num_queued_tokens', 'max_logprobs', 'logprobs_mode',
    'use_fp64_gumbel', 'enable_trace_replay', 'disable_log_stats', 'aggregate_engine_logging',
    'revision', 'code_revision', 'hf_token', 'hf_overrides', 'model_class_overrides',
    'tokenizer_revision', 'quantization', 'quantization_config', 'allow_deprecated_quantization',
    'enforce_eager', 'disable_custom_all_reduce', 'enable_shm_tensor_arena', 'language_model_only',
    'limit_mm_per_prompt', 'enable_mm_embeds', 'interleave_mm_strings', 'media_io_kwargs',
    'mm_processor_kwargs', 'mm_processor_cache_gb', 'mm_processor_cache_type',
    'mm_hasher_algorithm', 'mm_shm_cache_max_object_size_mb', 'mm_encoder_only',
    'mm_encoder_tp_mode', 'mm_encoder_attn_backend', 'mm_encoder_attn_dtype',
    'mm_encoder_fp8_scale_path', 'mm_encoder_fp8_scale_save_path',
    'mm_encoder_fp8_scale_save_margin', 'io_processor_plugin', 'renderer_num_workers',
    'skip_mm_profiling', 'video_pruning_rate', 'video_pruning_method', 'mm_tensor_ipc',
    'mm_processor_device', 'mm_ipc_gpu_memory_gb', 'mm_device_do_normalize', 'enable_lora',
    'max_loras', 'max_lora_rank', 'default_mm_loras', 'fully_sharded_loras', 'max_cpu_loras',
    'lora_dtype', 'lora_target_modules', 'enable_tower_connector_lora', 'specialize_active_lora',
    'enable_mixed_moe_lora_format', 'enable_moe_shared_loras', 'max_lora_cls_labels',
    'ray_workers_use_nsight', 'num_gpu_blocks_override', 'model_loader_extra_config',
    'ignore_patterns', 'enable_chunked_prefill', 'disable_chunked_mm_input',
    'scheduler_reserve_full_isl', 'prefill_schedule_interval', 'watermark',
    'disable_hybrid_kv_cache_manager', 'structured_outputs_config', 'aux_output_config',
    'reasoning_parser', 'reasoning_parser_plugin', 'speculative_config', 'spec_method',
    'spec_model', 'spec_tokens', 'watermark_config', 'diffusion_config',
    'show_hidden_metrics_for_version', 'otlp_traces_endpoint', 'collect_detailed_traces',
    'per_request_spec_decode_metrics', 'kv_cache_metrics', 'kv_cache_metrics_sample',
    'custom_histogram_buckets', 'cudagraph_metrics', 'enable_layerwise_nvtx_tracing',
    'enable_mfu_metrics', 'enable_logging_iteration_details', 'jit_monitor_mode',
    'jit_monitor_verbose', 'enable_mm_processor_stats', 'scheduling_policy', 'scheduler_cls',
    'pooler_config', 'compilation_config', 'attention_config', 'engram_config', 'mamba_config',
    'kernel_config', 'enable_flashinfer_autotune', 'monokernel', 'worker_cls',
    'worker_extension_cls', 'profiler_config', 'logging_config', 'log_level', 'log_config_file',
    'kv_transfer_config', 'kv_events_config', 'ec_transfer_config', 'ec_manager_config',
    'reasoning_config', 'generation_config', 'enable_sleep_mode', 'sleep_mode_backend',
    'sleep_mode_offload_cudagraph', 'sleep_preserve_parameter_names', 'enable_cumem_allocator',
    'enable_nccl_comm_suspend', 'override_generation_config', 'model_impl', 'attention_backend',
    'kv_cache_dtype_skip_layers', 'mamba_cache_dtype', 'mamba_ssm_cache_dtype', 'mamba_block_size',
    'prefix_match_unit', 'mamba_cache_mode', 'enable_mamba_shared_prefix_checkpoint',
    'replayssm_buffer_len', 'use_replayssm', 'mamba_backend', 'mamba_ssu_algorithm',
    'enable_mamba_cache_stochastic_rounding', 'mamba_cache_philox_rounds', 'additional_config',
    'use_tqdm_on_load', 'pt_load_map_location', 'logits_processors', 'async_scheduling',
    'stream_interval', 'kv_sharing_fast_prefill', 'swa_bounded_replay', 'optimization_level',
    'performance_mode', 'fault_tolerance_config', 'enable_fault_tolerance', 'kv_offloading_size',
    'kv_offloading_backend', 'tokens_only', 'shutdown_timeout', 'watchdog_config',
    'weight_transfer_config', 'fail_on_environ_validation', 'gdn_prefill_backend',
    'kda_prefill_backend', 'kda_decode_backend'
))

SAMPLING_PARAMS_FIELDS = frozenset((
    'n', 'presence_penalty', 'frequency_penalty', 'repetition_penalty', 'temperature',
    'watermarking', 'top_p', 'top_k', 'min_p', 'seed', 'stop', 'stop_token_ids', 'ignore_eos',
    'max_tokens', 'min_tokens', 'logprobs', 'prompt_logprobs', 'prompt_logprob_token_ids',
    'prompt_logprob_start', 'logprob_token_ids', 'flat_logprobs', 'detokenize',
    'skip_special_tokens', 'spaces_between_special_tokens', 'include_stop_str_in_output',
    'output_kind', 'stream_interval', 'skip_clone', 'output_text_buffer_length',
    'structured_outputs', 'logit_bias', 'allowed_token_ids', 'extra_args', 'bad_words',
    'skip_reading_prefix_cache', 'thinking_token_budget', 'repetition_detection',
    'routed_experts_prompt_start', 'trace_decode_token_ids'
))

_SAMPLING_DEFAULTS = {"n": 1, "temperature": 1.0, "top_p": 1.0, "top_k": 0, "seed": None, "max_tokens": 16}


class SamplingParams:
    """Keyword-only, like the msgspec Struct; unknown keywords raise TypeError."""

    def __init__(self, **kwargs):
        for key in kwargs:
            if key not in SAMPLING_PARAMS_FIELDS:
                raise TypeError(f"Unexpected keyword argument {key!r}")
        values = {**_SAMPLING_DEFAULTS, **kwargs}
        if values["n"] < 1:
            raise ValueError(f"n must be at least 1, got {values['n']}.")
        if not 0.0 < values["top_p"] <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {values['top_p']}.")
        if values["temperature"] < 0.0:
            raise ValueError(f"temperature must be non-negative, got {values['temperature']}.")
        if values["max_tokens"] is not None and values["max_tokens"] < 1:
            raise ValueError(f"max_tokens must be at least 1, got {values['max_tokens']}.")
        self.__dict__.update(values)


class TokensPrompt(TypedDict):
    prompt_token_ids: list[int]
    prompt: NotRequired[str]


@dataclass
class Logprob:
    logprob: float
    rank: int | None = None
    decoded_token: str | None = None


@dataclass
class CompletionOutput:
    index: int
    text: str
    token_ids: list = field(default_factory=list)
    cumulative_logprob: float | None = None
    logprobs: object = None
    finish_reason: str | None = "stop"


@dataclass
class RequestOutput:
    request_id: str
    prompt: str
    prompt_token_ids: list
    outputs: list
    prompt_logprobs: list | None = None


class _ModelConfig:
    def __init__(self, max_model_len: int):
        self.max_model_len = max_model_len


class _Engine:
    def __init__(self, model_config, tokenizer):
        self.model_config, self._tokenizer = model_config, tokenizer

    def get_tokenizer(self):
        return self._tokenizer


class LLM:
    instances: ClassVar[list[LLM]] = []  # every engine made, so tests can see what it was given

    def __init__(
        self,
        model: str,
        *,
        runner='auto',
        convert='auto',
        tokenizer=None,
        tokenizer_mode='auto',
        skip_tokenizer_init=False,
        trust_remote_code=False,
        allowed_local_media_path='',
        allowed_media_domains=None,
        tensor_parallel_size=1,
        dtype='auto',
        quantization=None,
        revision=None,
        tokenizer_revision=None,
        chat_template=None,
        seed=0,
        gpu_memory_utilization=0.92,
        cpu_offload_gb=0,
        offload_group_size=0,
        offload_num_in_group=1,
        offload_prefetch_step=1,
        offload_params=None,
        enforce_eager=False,
        enable_return_routed_experts=False,
        return_sampling_mask=False,
        disable_custom_all_reduce=False,
        hf_token=None,
        hf_overrides=None,
        mm_processor_kwargs=None,
        pooler_config=None,
        structured_outputs_config=None,
        profiler_config=None,
        attention_config=None,
        kv_cache_memory_bytes=None,
        compilation_config=None,
        quantization_config=None,
        logits_processors=None,
        spec_method=None,
        spec_model=None,
        spec_tokens=None,
        **kwargs,
    ) -> None:
        for key in kwargs:
            if key not in ENGINE_ARGS_FIELDS:
                raise TypeError(f"EngineArgs.__init__() got an unexpected keyword argument {key!r}")
        if not 0 < gpu_memory_utilization <= 1:
            raise ValueError(f"gpu_memory_utilization must be in (0, 1], got {gpu_memory_utilization}")
        from transformers import AutoConfig, AutoTokenizer

        config = AutoConfig.from_pretrained(model)
        self.kwargs = {"tensor_parallel_size": tensor_parallel_size, "dtype": dtype, "seed": seed,
                       "gpu_memory_utilization": gpu_memory_utilization, **kwargs}
        max_len = kwargs.get("max_model_len") or config.max_position_embeddings
        self.llm_engine = _Engine(_ModelConfig(max_len), AutoTokenizer.from_pretrained(tokenizer or model))
        self.model_config = self.llm_engine.model_config
        self.model_path, self.enable_lora, self._models = model, kwargs.get("enable_lora", False), {}
        self.calls: list[tuple[list, object]] = []
        LLM.instances.append(self)

    def get_tokenizer(self):
        return self.llm_engine.get_tokenizer()

    def generate(self, prompts, sampling_params=None, *, use_tqdm=True, lora_request=None, priority=None,
                 tokenization_kwargs=None, mm_processor_kwargs=None) -> list[RequestOutput]:
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        if sampling_params is None:
            sampling_params = SamplingParams()
        params = list(sampling_params) if isinstance(sampling_params, (list, tuple)) else [sampling_params] * len(prompts)
        if len(params) != len(prompts):
            raise ValueError("The lengths of prompts and sampling_params must be the same.")
        if lora_request is not None and not self.enable_lora:
            raise ValueError("LoRA is not enabled!")
        self.calls.append((prompts, params))
        outputs = []
        for i, (p, sp) in enumerate(zip(prompts, params)):
            if isinstance(p, dict):
                outputs.append(self._run(str(i), p["prompt_token_ids"], sp, lora_request))
            else:
                outputs.append(RequestOutput(str(i), p, [], [CompletionOutput(k, _task(p, sp, k))
                                                              for k in range(sp.n)]))
        return outputs

    def _model(self, lora_request):
        key = lora_request.lora_path if lora_request is not None else None
        if key not in self._models:
            import torch
            from transformers import AutoModelForCausalLM

            model = AutoModelForCausalLM.from_pretrained(self.model_path, dtype=torch.float32)
            if key is not None:
                from peft import PeftModel

                model = PeftModel.from_pretrained(model, key)
            self._models[key] = model.eval()
        return self._models[key]

    def _run(self, request_id: str, ids: list[int], params, lora_request) -> RequestOutput:
        """A tokenised prompt through the model: its prompt log-probabilities, or a greedy decode."""
        import torch

        model, tokenizer = self._model(lora_request), self.get_tokenizer()
        prompt_logprobs = None
        with torch.no_grad():
            if getattr(params, "prompt_logprobs", None):
                logits = model(torch.tensor([ids])).logits[0].log_softmax(-1)
                prompt_logprobs = [None]
                for j in range(1, len(ids)):
                    row = logits[j - 1]
                    top = int(row.argmax())
                    prompt_logprobs.append({ids[j]: Logprob(float(row[ids[j]])), top: Logprob(float(row[top]), 1)})
            if params.temperature == 0 and not getattr(params, "prompt_logprobs", None):
                new = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                                     max_new_tokens=params.max_tokens, do_sample=False,
                                     pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id)[0, len(ids):]
                text = tokenizer.decode(new, skip_special_tokens=True)
                for stop in getattr(params, "stop", None) or []:
                    text = text.split(stop, 1)[0] if stop else text
                completion = CompletionOutput(0, text, new.tolist())
            else:
                completion = CompletionOutput(0, "", [])
        return RequestOutput(request_id, tokenizer.decode(ids), list(ids), [completion], prompt_logprobs)


def _task(prompt: str, params, k: int) -> str:
    """An extractive-QA task about the prompt's passage, answered by one of its words."""
    passage = prompt.split("<|context|>\n", 1)[-1].rsplit("\n<|task|>", 1)[0]
    words = passage.split() or ["none"]
    rng = random.Random(f"{params.seed}/{k}")
    return f"{{{{context}}}}\nWhich word is number {k}?\n<|pipe|>\n{rng.choice(words).strip('.,')}"
