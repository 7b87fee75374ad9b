"""`generate(config)`: the one entry point of task generation. `bonito generate`, `bonito adapt`
and `Bonito.generate_tasks` all call it, with or without Ray.

    config -> checks (seconds, before any model loads) -> the output claimed -> the input read and
           its languages surveyed (one warning line) -> the engine, or Ray -> chunks -> funnel.json
           and card -> a push when asked

Everything that can fail in seconds fails before the model loads: the options (on the config
itself), the Ray address, the repo id and the Hub for a push, the input and its text column, the
output folder (new, the same run to resume, or another run of ours to replace).
"""

from __future__ import annotations


import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

from bonito_hub import hub, resources
from bonito_hub.console import get_logger
from bonito_hub.errors import ConfigError
from bonito_hub.folders import lock
from bonito_hub.generate.config import GenerateConfig
from bonito_hub.generate.funnel import Funnel
from bonito_hub.generate.folder import RunFolder, claim
from bonito_hub.generate.inputs import read_input, run_settings
from bonito_hub.models import resolve_backend
from bonito_hub.timing import StageTimer

log = get_logger(__name__)


@dataclass
class GenerateResult:
    """What a generation did.

    Attributes:
        output: the run's folder.
        funnel: documents -> passages -> generations -> kept, dropped by reason; chunks done.
        engine: the engine that ran ("transformers", "vllm", or "Ray, <backend>").
        data_files: the finished chunks' data files, absolute, in chunk order.
        pushed: the upload (bonito_hub.push.Upload) when the run was pushed.
        not_pushed: why a push that was asked for did not happen.
        stages: seconds per stage (bonito_hub.timing), as run.json records them.
    """

    output: Path
    funnel: Funnel
    engine: str
    data_files: list[str] = field(default_factory=list)
    pushed: object | None = None
    not_pushed: str | None = None
    stages: dict = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.funnel.complete


def _cluster():
    """bonito_hub.generate.cluster, which needs Ray; without Ray, one line saying how to install it."""
    try:
        import ray  # noqa: F401
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise ConfigError(f"`ray` needs Ray Data: pip install 'bonito-hub[ray]' ({exc})", field="ray") from None
    from bonito_hub.generate import cluster

    return cluster


def load_engine(config: GenerateConfig):
    """The engine of `config`: a model folder checked, a Hub id's Hub reached, then loaded."""
    from bonito_hub.generate.backends import make_engine

    if config.backend != "openai" and not hub.is_local(config.model):
        hub.check_reachable(f"`model` {config.model}")  # a path is checked by make_engine, before loading
    return make_engine(config.model, config.backend, **config.engine_options())


class EngineLoading:
    """`make_engine` in a thread of its own, started once the input is read and its languages
    surveyed (so that the warning about them comes before any model loads): the model's weights
    load while the run's folder is made and its chunks cut. Before the survey they loaded while the
    input was read as well, an overlap that had measured even on a CPU (benchmarks/README.md).

    The libraries are imported first, in the caller's thread: imports hold Python's lock, so two at
    once are no faster, and datasets looks at `sys.modules["transformers"]` while it fingerprints,
    which a module half imported by another thread would break. vLLM loads in the caller's thread
    after the reading (it sets signal handlers, which only the main thread may)."""

    def __init__(self, config: GenerateConfig, timer: StageTimer):
        with timer.stage("load_model"):
            import torch  # noqa: F401
            from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: F401
        # a Future filled by a daemon thread, not a ThreadPoolExecutor's: its workers are joined at
        # exit, so Ctrl-C during a load would wait for the weights
        self._future: Future = Future()
        threading.Thread(target=self._load, args=(config, timer), name="bonito-load-model", daemon=True).start()

    def _load(self, config: GenerateConfig, timer: StageTimer) -> None:
        try:
            with timer.stage("load_model"):
                self._future.set_result(load_engine(config))
        except BaseException as exc:  # handed to the caller's thread by result()
            self._future.set_exception(exc)

    def result(self):
        return self._future.result()


def generate(config: GenerateConfig, engine=None, *, on_chunk=None, timer: StageTimer | None = None) -> GenerateResult:
    """Run (or resume) the generation `config` describes.

    Args:
        config: every option (GenerateConfig validates them when it is made).
        engine: an engine already loaded (bonito_hub.generate.Engine); None loads `config.model`
            with `config.backend` once the checks have passed (or, with `config.ray`, on each worker),
            while the input is read.
        on_chunk: called with each chunk's ChunkResult as it is written.
        timer: where the seconds per stage go (a command passes one that counts from the process's
            start); None: a new one, counting from this call.

    Example:
        >>> from bonito_hub.generate import GenerateConfig, generate
        >>> result = generate(GenerateConfig(model="BatsResearch/bonito-v1", input="docs.jsonl",
        ...                                  task_type="exqa", output="out"))
        >>> result.funnel["kept"]
    """
    from bonito_hub.cards import license_fields
    from bonito_hub.push import check_repo_id

    timer = timer or StageTimer(since_process_start=False)
    if engine is None and not config.model:
        raise ConfigError("`model` is required unless an engine is given", field="model")
    cluster = _cluster() if config.ray else None
    if cluster is not None:
        cluster.check_address(config.ray_address)  # an unreachable cluster is said in seconds
    if config.push_to_hub:  # offline, unreachable, no token: said now, not after the generation
        check_repo_id(config.push_to_hub, field="push_to_hub")
        license_fields(config.license, config.license_name, config.license_link, public=config.public)
        hub.check_can_push(f"`push_to_hub` {config.push_to_hub}")
    if engine is None and config.model and config.backend != "openai" and not hub.is_local(config.model):
        hub.check_reachable(f"`model` {config.model}")  # its card is read before its weights load
    if isinstance(config.input, (str, Path)) and not hub.is_local(config.input):
        hub.check_reachable(f"`input` {config.input}")
    resources.data_file("cards/generated.md")  # the card's template ships with the package
    index, count = config.shard
    with lock(config.output, shared=f"shard-{index}-of-{count}" if count > 1 else None):
        return _generate(config, engine, cluster, timer, on_chunk)


def _generate(config: GenerateConfig, engine, cluster, timer: StageTimer, on_chunk) -> GenerateResult:
    """generate() once the output folder is held by this process."""
    existing = claim(config.output, clean=config.shard[1] == 1)  # a folder of the user's, said before anything is read or loaded
    settings = run_settings(config)  # a target that cannot be read is said before the model loads
    with timer.stage("read"):
        texts = read_input(config, engine)
    if config.max_tokens_budget is not None:  # the run's upper bound, with the tokenizer alone, before any weights
        from bonito_hub.generate.forecast import check_budget, estimate

        with timer.stage("read"):
            check_budget(estimate(config, config, texts=texts, settings=settings, engine=engine),
                         config.max_tokens_budget)
    model_name = engine.model_name if engine is not None else config.model
    loading = None
    if engine is None and cluster is None and (config.backend == "openai" or
                                               resolve_backend(config.backend) == "transformers"):
        loading = EngineLoading(config, timer)  # the weights load while the chunks are cut
    with timer.stage("read"):
        engine_name = engine.name if engine is not None else config.backend
        folder = RunFolder(texts, config.output, settings, model_name, engine_name)
        if isinstance(config.input, (str, Path)) and not hub.is_local(config.input):
            folder.source_dataset = str(config.input).split(":")[0]  # REPO or REPO:CONFIG
        folder.check(existing, config.overwrite)

    if cluster is not None:
        funnel = cluster.run_on_ray(folder, config, on_chunk=on_chunk)
        engine_name = f"Ray, {config.backend}"
    else:
        from bonito_hub.generate.run import GenerationRun

        if engine is None and loading is not None:
            engine = loading.result()
        elif engine is None:
            with timer.stage("load_model"):
                engine = load_engine(config)
        run = GenerationRun(engine, texts, config.output, settings, folder=folder, timer=timer)
        funnel = run.run(shard=config.shard, overwrite=config.overwrite, progress=config.progress, on_chunk=on_chunk)
        engine_name = engine.name
    result = GenerateResult(Path(config.output), funnel, engine_name, folder.data_files(), stages=timer.as_dict())
    log.info("time: %s", timer.summary())
    if config.push_to_hub:
        if result.complete and funnel.kept:
            from bonito_hub.generate.publish import push_dataset

            result.pushed = push_dataset(config.output, config.push_to_hub, public=config.public,
                                         license=config.license, license_name=config.license_name,
                                         license_link=config.license_link)
        else:
            result.not_pushed = "the run kept no rows" if result.complete else \
                "the run is not complete; the command that finishes its last chunk pushes it"
    return result
