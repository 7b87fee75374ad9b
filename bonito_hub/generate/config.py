"""The options of a generation, each declared once (a field with its help and flag: bonito_hub.options),
validated where they are made.

    GenerateConfig     what `bonito_hub.generate.generate(config)` takes: model, input, output and
                       what `bonito generate` alone takes (GenerateArgs), and GenerationOptions
    GenerationOptions  every other option, in parts (`bonito adapt` embeds it whole):
        documents      InputOptions: how the input is read (text column, split, encoding, bad files, limits)
        tasks          TaskOptions: which tasks, how the corpus is cut, what is kept and held out
        sampling       SamplingOptions: the preset and the sampling values over it
        engine         EngineOptions: the backend and the options of each engine
                       (bonito_hub.generate.backends: one dataclass an engine)
        ray            RayOptions: the chunks on a Ray cluster
    RunConfig          what decides which rows a run writes, resolved from the parts: with the model
                       and the input it identifies a run, so a folder is resumed only with the same ones
    SamplingConfig     n, temperature, top_p, max_tokens and the seed, resolved from the preset

The command-line parsers of `bonito generate` and `bonito adapt` are derived from these classes
(bonito_hub.commands.parser); GenerationOptions.PARTS is where they find the parts, so an option
added to a part is offered by both.

A value out of range is a ConfigError whose `field` names the option in these classes' words
(`chunk_docs must be at least 1, got 0`); the command line says its own flag instead.

Vocabulary, as TRL's dataset formats: the `format` of the written rows is `standard` (columns
`prompt` and `completion`, strings: TRL's standard prompt-completion type), `conversational`
(`prompt`, the user's turn, and `completion`, the assistant's, each a list of messages: TRL's
conversational prompt-completion type, whose loss is on the completion alone as the standard
one's is) or `messages` (one `messages` column of both turns: TRL's conversational
language-modeling type, trained on every token unless the trainer masks the user's turn);
`input` and `output` are always there too.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Mapping

from bonito_hub import tasks
from bonito_hub.cards import LicenseOptions
from bonito_hub.console import deprecated
from bonito_hub.documents import Limits
from bonito_hub.errors import ConfigError
from bonito_hub.generate.engine_options import EngineOptions
from bonito_hub.generate.filters import DEFAULT_FILTERS, FILTERS, check_names
from bonito_hub.options import option, own_values

# About a megabyte of text a chunk: a thousand passages of a thousand characters, minutes of work
# on one GPU, and enough prompts for the engines to keep their batches full.
CHUNK_TOKENS = 2**18
FORMATS = ("standard", "conversational", "messages")
FORMAT_ALIASES = {"prompt-completion": "standard"}  # until 0.2


def _require(ok: bool, name: str, allowed: str, value) -> None:
    if not ok:
        raise ConfigError(f"`{name}` must be {allowed}, got {value}", field=name)


@dataclass(frozen=True)
class SamplingConfig:
    """The sampling settings of a run; defaults are those of the released Bonito examples."""

    n: int = 1
    temperature: float = 0.5
    top_p: float = 0.95
    max_tokens: int = 256
    seed: int = 0

    def __post_init__(self):
        _require(self.n >= 1, "n", "at least 1", self.n)
        _require(self.max_tokens >= 1, "max_tokens", "at least 1", self.max_tokens)
        _require(self.temperature >= 0, "temperature", "0 or more (0 is greedy)", self.temperature)
        _require(0 < self.top_p <= 1, "top_p", "in (0, 1]", self.top_p)

    @classmethod
    def from_any(cls, params: Any = None) -> "SamplingConfig":
        """From None, a mapping, or an object with the same attributes (vLLM's SamplingParams)."""
        if params is None:
            return cls()
        if isinstance(params, cls):
            return params
        if isinstance(params, Mapping):
            unknown = set(params) - {f.name for f in fields(cls)}
            if unknown:
                raise ConfigError(f"unknown sampling parameters {sorted(unknown)}; known: n, temperature, top_p, "
                                  "max_tokens, seed")
            return cls(**params)
        return cls(**{f.name: getattr(params, f.name) for f in fields(cls) if getattr(params, f.name, None) is not None})


def canonical_format(value: str) -> str:
    """`standard`, `conversational` or `messages`; 0.1's spelling of standard (prompt-completion)
    with a deprecation warning."""
    if value in FORMAT_ALIASES:
        deprecated(f"`format` {value!r} is now called {FORMAT_ALIASES[value]!r}; the old name goes in 0.2")
        return FORMAT_ALIASES[value]
    if value not in FORMATS:
        raise ConfigError(f"`format` must be one of {', '.join(FORMATS)}, got {value!r}", field="format")
    return value


@dataclass
class RunConfig:
    """The options that decide a run's rows; with the model and the input they identify it, so a
    run is resumed only with the same ones.

    Args:
        task_type: a short or full task-type name, several joined by commas ("exqa,ynqa"), or
            "all-applicable": each passage gets tasks of every type listed.
        task_mix: {type: share} (or "exqa=0.5,ynqa=0.5"): each passage gets one type, drawn with
            these shares by a generator seeded with (seed, document, passage), instead.
        text_column: the column of the input holding the documents.
        sampling: n, temperature, top_p, max_tokens and seed.
        filters: names of the filters applied (bonito_hub.generate.filters.FILTERS).
        format: "standard", "conversational" or "messages": the columns written for TRL besides
            input/output (bonito_hub.generate.folder.trl_columns).
        chunk_docs: close a chunk at this many documents as well (None: by tokens only).
        chunk_tokens: passage tokens a chunk holds, about 4 characters each.
        max_passage_tokens: cut documents into passages of at most this many tokens (None: what
            the model's context leaves after the prompt and max_tokens).
        near_duplicate_threshold: the similarity (Jaccard, of passages and of questions) at which
            the `near_duplicate` filter takes two tasks for one (bonito_hub.generate.dedup).
        holdout: the share of the documents set aside (seeded; bonito_hub.generate.heldout): their tasks
            become evaluation sets, not training rows. None: every document trains.
        exclude_overlap: an evaluation set's n-grams (bonito_hub.overlap.NgramIndex): a passage
            sharing one with it is dropped before generation and counted.
        language_filter: language codes ("en,de" or a sequence; bonito_hub.language): only the
            documents detected in one of them are prompted; the others are counted. None: all are.
        min_passage_words: a passage of fewer words is merged with the next of its document where
            both fit the budget, else left out and counted (`too_short`); 0 keeps every passage.
        keep_page_furniture: read documents without their clean-up (bonito_hub.documents): it
            changes their text, so it is part of the run's identity (absent when off).
        keep_for_review: write each chunk's dropped generations (dropped/) and prompted passages
            (passages/) for `bonito review`. They decide no row, so they are not part of the run's
            identity.
    """

    task_type: str
    text_column: str = "text"
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    filters: tuple[str, ...] = DEFAULT_FILTERS
    format: str = "standard"
    chunk_docs: int | None = None
    chunk_tokens: int = CHUNK_TOKENS
    max_passage_tokens: int | None = None
    task_mix: dict | None = None
    holdout: float | None = None
    exclude_overlap: Any = None
    near_duplicate_threshold: float = 0.8
    language_filter: tuple[str, ...] | None = None
    min_passage_words: int = 8
    keep_page_furniture: bool = False
    keep_for_review: bool = True

    def __post_init__(self):
        from bonito_hub import language
        from bonito_hub.generate.heldout import check_fraction

        check_fraction(self.holdout)
        self.language_filter = language.parse(self.language_filter, "language_filter")
        _require(0 < self.near_duplicate_threshold <= 1, "near_duplicate_threshold", "in (0, 1]",
                 self.near_duplicate_threshold)
        if self.task_mix is not None:
            self.task_mix = tasks.parse_mix(self.task_mix)
            if self.task_type and set(tasks.parse_types(self.task_type)) != set(self.task_mix):
                raise ConfigError("give `task_type` or `task_mix`, not both (the mix names its types)",
                                  field="task_mix")
            self.task_type = ",".join(self.task_mix)
        elif not self.task_type:
            raise ConfigError("`task_type` is required (or `task_mix`)", field="task_type")
        self.task_type = ",".join(tasks.parse_types(self.task_type))
        self.filters = check_names(self.filters)
        self.format = canonical_format(self.format)
        if self.chunk_docs is not None:
            _require(self.chunk_docs >= 1, "chunk_docs", "at least 1", self.chunk_docs)
        _require(self.chunk_tokens >= 1, "chunk_tokens", "at least 1", self.chunk_tokens)
        if self.max_passage_tokens is not None:
            _require(self.max_passage_tokens >= 8, "max_passage_tokens", "at least 8", self.max_passage_tokens)
        _require(self.min_passage_words >= 0, "min_passage_words", "0 or more", self.min_passage_words)

    @property
    def types(self) -> tuple[str, ...]:
        """The short names of the run's task types, in the order given."""
        return tuple(self.task_type.split(","))


def parse_shard(shard) -> tuple[int, int]:
    """(i, N) from "i/N" or a pair, with 0 <= i < N."""
    if isinstance(shard, str):
        try:
            shard = tuple(int(x) for x in shard.split("/"))
        except ValueError:
            raise ConfigError(f"`shard` takes i/N (for example 0/4), got {shard!r}", field="shard") from None
    if len(shard) != 2:
        raise ConfigError(f"`shard` takes i/N (for example 0/4), got {shard!r}", field="shard")
    index, count = shard
    if not 0 <= index < count:
        raise ConfigError(f"`shard` {index}/{count}: need 0 <= i < N", field="shard")
    return int(index), int(count)



def _task_type_help() -> str:
    return ("short or full task-type name, several joined by commas (each passage gets every one), or "
            "all-applicable: " + ", ".join(tasks.short_names()) + " (bonito tasks lists them)")


def _preset_help() -> str:
    from bonito_hub.generate.presets import presets

    return "sampling and filters: " + "; ".join(f"{k}: {v['about']} (temperature {v['temperature']}, top_p "
                                                f"{v['top_p']})" for k, v in presets().items())


def _preset_names() -> list[str]:
    from bonito_hub.generate.presets import presets

    return list(presets())


@dataclass(kw_only=True)
class InputOptions:
    """How the documents are read from the input."""

    _argument_group_name = "input"

    text_column: str = option("text", help="column holding the documents")
    split: str = option("train", help="split of a data set input")
    input_config: str | None = option(None, metavar="NAME", help="configuration of a data set input with several "
                                      "(a Hub id may also name it after a colon: REPO:CONFIG)")
    encoding: str = option("utf-8", help="encoding of text inputs (every byte must decode, e.g. latin-1 for older "
                                         "corpora)")
    skip_bad_files: bool = option(False, help="skip a PDF/HTML/DOCX file with no text to read (no text layer, "
                                  "encrypted, corrupt), a link out of the input folder or a file that is not a "
                                  "regular one, and count it by reason, instead of stopping")
    follow_links: bool = option(False, help="read files that symbolic links in the input folder point to outside "
                                            "it (never devices, pipes or /proc)")
    max_document_mb: float = option(Limits.max_mb, metavar="MB", help="the most one document may take: its file, a Word "
                                    "file's parts unpacked, its text; larger ones are refused, or skipped with "
                                    "--skip-bad-files")
    max_document_pages: int = option(Limits.max_pages, metavar="N", help="the most pages a PDF may have")
    ocr: str = option("auto", choices=("auto", "off"), help="a PDF page without a text layer (a scan) is read by "
                      "OCR: auto where the ocr extra is installed (pip install 'bonito-hub[ocr]'), else the file is "
                      "refused naming it; off never")
    keep_page_furniture: bool = option(False, help="keep PDF running headers and footers, page numbers and contents "
                                       "pages, documentation generators' navigation in HTML, and hyphenated line "
                                       "breaks as they are (by default they are removed or joined, and counted)")
    language_filter: str | None = option(None, metavar="LANG[,LANG...]", help="prompt only the documents detected "
                                         "in these languages (ISO 639-1, e.g. en or en,de; und: those too short or "
                                         "mixed to tell); the rest are counted, per language, and left out")
    generator_language: str | None = option(None, metavar="LANG[,LANG...]", help="the languages the generator writes, "
                                            "for the warning about documents in others (default: its card's "
                                            "`language:`, else en, bonito-v1's)")

    def __post_init__(self):
        from bonito_hub import language

        language.parse(self.generator_language, "generator_language")
        _require(self.max_document_mb > 0, "max_document_mb", "more than 0", self.max_document_mb)
        _require(self.max_document_pages >= 1, "max_document_pages", "at least 1", self.max_document_pages)


@dataclass(kw_only=True)
class TaskOptions:
    """Which tasks a run makes, how the corpus is cut, and what is kept and held out."""

    _argument_group_name = "tasks"

    task_type: str | None = option(None, metavar="TYPE[,TYPE...]", help=_task_type_help)
    task_mix: str | None = option(None, metavar="TYPE=SHARE,...", help="instead of --task-type: one type a "
                                  "passage, drawn with these shares (they sum to 1), for example "
                                  "exqa=0.5,ynqa=0.3,nli=0.2")
    holdout: float | None = option(None, metavar="SHARE", help="set this share of the documents aside (seeded, e.g. "
                                   "0.1): their tasks become evaluation sets in OUTPUT/heldout/TYPE.jsonl (for bonito "
                                   "evaluate --target), never training rows")
    format: str = option("standard", choices=(*FORMATS, *FORMAT_ALIASES), help="TRL dataset format of the columns "
                         "besides input/output: standard (prompt, completion: strings), conversational (prompt, "
                         "completion: the user's and the assistant's turns as messages; TRL trains on the "
                         "completion only, as with standard) or messages (one messages column of both turns: TRL "
                         "trains on every token unless told to mask the user's); prompt-completion: the "
                         "deprecated name of standard")
    no_filter: list[str] = option(repeat=True, factory=list, choices=lambda: list(FILTERS), metavar="NAME",
                                  help=lambda: f"switch a filter off (repeatable): {', '.join(FILTERS)}")
    filters: tuple[str, ...] | None = option(None, cli=False, help="the filters on (None: the preset's)")
    near_duplicate_threshold: float = option(0.8, metavar="SIMILARITY", help="near_duplicate filter: two tasks are "
                                             "one when their passages and their questions are at least this similar "
                                             "(Jaccard, 0-1; across the whole run, the first kept)")
    chunk_tokens: int = option(CHUNK_TOKENS, help="passage tokens a written chunk holds, about 4 characters each")
    chunk_docs: int | None = option(None, flag="--chunk-size", metavar="DOCS",
                                    help="also close a chunk at this many documents")
    max_passage_tokens: int | None = option(None, help="split documents into passages of at most this many tokens "
                                            "(default: the model's context minus --max-tokens)")
    min_passage_words: int = option(8, metavar="WORDS", help="a passage of fewer words (a name, a heading alone, a "
                                    "fragment; a Chinese or Japanese character counts as a word) is merged with the "
                                    "next one of its document where both fit, else left out and counted as too_short; "
                                    "0 keeps every passage")
    keep_for_review: bool = option(True, flag="--no-keep-for-review", help="do not keep the dropped generations "
                                   "and the prompted passages (OUTPUT/dropped, OUTPUT/passages: about the corpus's "
                                   "size again) that bonito review shows; for very large runs")

    def __post_init__(self):
        self.no_filter = tuple(self.no_filter or ())


@dataclass(kw_only=True)
class SamplingOptions:
    """The sampling preset and the values given over it (None: the preset's)."""

    _argument_group_name = "sampling"

    preset: str = option("default", choices=_preset_names, help=_preset_help)
    n: int | None = option(None, flag="--num-samples", help="generations per passage (preset: 1)")
    temperature: float | None = option(None, help="sampling temperature (preset default: 0.5, paper: 0.95)")
    top_p: float | None = option(None, help="nucleus sampling (preset default: 0.95, paper: 0.5)")
    max_tokens: int | None = option(None, help="new tokens per generation (preset: 256)")
    seed: int = option(0, help="sampling seed; chunk k samples with a seed from (seed, k)")


@dataclass(kw_only=True)
class RayOptions:
    """The chunks on a Ray cluster (`ray`), with the same rows and files."""

    _argument_group_name = "Ray (pip install 'bonito-hub[ray]'): the chunks on a Ray cluster, same rows and files"

    ray: bool = option(False, help="run the chunks on Ray workers (a local Ray unless --ray-address)")
    ray_address: str | None = option(None, metavar="ADDR", help="join a running cluster: HOST:PORT, "
                                      "ray://HOST:PORT or auto")
    workers: int | None = option(None, help="Ray workers, each loading the engine once (default: the cluster's GPUs "
                                 "/ --gpus-per-worker, or its CPUs / --cpus-per-worker without GPUs)")
    gpus_per_worker: float | None = option(None, help="GPUs a worker takes (default: 1 on a cluster with GPUs, "
                                           "else 0)")
    cpus_per_worker: float = option(1, help="CPUs a worker takes")

    def __post_init__(self):
        if self.ray:
            if self.workers is not None:
                _require(self.workers >= 1, "workers", "at least 1", self.workers)
            if self.gpus_per_worker is not None:
                _require(self.gpus_per_worker >= 0, "gpus_per_worker", "0 or more", self.gpus_per_worker)
            _require(self.cpus_per_worker > 0, "cpus_per_worker", "more than 0", self.cpus_per_worker)
            return
        given = [f.name for f in fields(self) if f.name != "ray" and getattr(self, f.name) != f.default]
        if given:
            raise ConfigError(f"{', '.join(f'`{name}`' for name in given)} {'go' if len(given) > 1 else 'goes'} "
                              "with `ray`", field=given[0])


@dataclass(kw_only=True)
class GenerationOptions:
    """Every option of a generation but the model, the input and the output: its parts (PARTS, by
    attribute), each a dataclass of options. `bonito adapt` embeds it whole."""

    PARTS: ClassVar[dict[str, type]] = {"documents": InputOptions, "tasks": TaskOptions, "sampling": SamplingOptions,
                                        "engine": EngineOptions, "ray": RayOptions}
    documents: InputOptions = field(default_factory=lambda: GenerationOptions.PARTS["documents"]())
    tasks: TaskOptions = field(default_factory=lambda: GenerationOptions.PARTS["tasks"]())
    sampling: SamplingOptions = field(default_factory=lambda: GenerationOptions.PARTS["sampling"]())
    engine: EngineOptions = field(default_factory=lambda: GenerationOptions.PARTS["engine"]())
    ray: RayOptions = field(default_factory=lambda: GenerationOptions.PARTS["ray"]())

    @classmethod
    def parts(cls) -> list[type]:
        """The part classes, in the order parsers list them."""
        return list(cls.PARTS.values())

    @classmethod
    def names(cls) -> dict[str, str]:
        """Option name -> the part (attribute) holding it."""
        return {f.name: part for part, part_cls in cls.PARTS.items() for f in fields(part_cls) if f.init}

    def replace(self, **values) -> "GenerationOptions":
        """A copy with these options (by name) changed; an unknown name is a TypeError, as a call's."""
        import dataclasses

        names = self.names()
        unknown = sorted(set(values) - set(names))
        if unknown:
            raise TypeError(f"unknown generation option{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}")
        # each part copied (and checked again), so that a config made from these options, which completes
        # them (the task types resolved), never changes the object a caller holds
        return type(self)(**{part: dataclasses.replace(getattr(self, part),
                                                       **{k: v for k, v in values.items() if names[k] == part})
                             for part in self.PARTS})

    def get(self, name: str):
        """An option's value by name (`max_tokens`), from whichever part holds it."""
        part = self.names().get(name)
        if part is None:
            raise AttributeError(name)
        return getattr(getattr(self, part), name)


@dataclass(kw_only=True)
class EstimateOptions:
    """How an estimate turns tokens into time and money, and the budget a run must fit."""

    tokens_per_second: float | None = option(None, metavar="RATE", help="with --dry-run: your generator's "
                                             "measured generated tokens per second, for the time estimate "
                                             "(default: a rate measured on this device class for a model of "
                                             "that size, when there is one)")
    price_per_mtok: str | None = option(None, metavar="IN,OUT", help="with --dry-run: the endpoint's price per "
                                        "million prompt and generated tokens (e.g. 0.2,0.6), for the cost estimate")
    max_tokens_budget: int | None = option(None, metavar="TOKENS", help="refuse, before any model loads, a run whose "
                                           "upper bound of tokens (prompt tokens plus max new tokens of every "
                                           "generation) exceeds this")

    def check_estimate_options(self) -> None:
        if self.tokens_per_second is not None and self.tokens_per_second <= 0:
            raise ConfigError(f"`tokens_per_second` must be more than 0, got {self.tokens_per_second}",
                              field="tokens_per_second")
        if self.price_per_mtok is not None:
            prices(self.price_per_mtok)
        if self.max_tokens_budget is not None and self.max_tokens_budget < 1:
            raise ConfigError(f"`max_tokens_budget` must be at least 1, got {self.max_tokens_budget}",
                              field="max_tokens_budget")


def prices(value) -> tuple[float, float]:
    """(input, output) dollars per million tokens from "IN,OUT" or a pair."""
    try:
        pair = tuple(float(x) for x in (value.split(",") if isinstance(value, str) else value))
    except (TypeError, ValueError):
        pair = ()
    if len(pair) != 2 or min(pair) < 0:
        raise ConfigError(f"`price_per_mtok` takes IN,OUT: dollars per million prompt and generated tokens, e.g. "
                          f"0.2,0.6; got {value!r}", field="price_per_mtok")
    return pair


@dataclass(kw_only=True)
class _GenerateArgs:
    """What `bonito generate` takes besides the generation options."""

    model: str | None = option(help="task generator: a local folder or a Hub id")
    input: str = option(help="JSONL/CSV/Parquet/text/HTML file, PDF/DOCX file (pip install 'bonito-hub[documents]'), "
                             "folder of .txt/.md/.pdf/.html/.docx, data set folder, or Hub id")
    output: str = option(help="folder to write; the same command resumes an interrupted run")
    exclude_overlap: str | None = option(None, metavar="TARGET", help="leave out passages sharing a 13-word n-gram "
                                         "with TARGET's passages or questions (a built-in target or a JSONL file in "
                                         "bonito evaluate's schema); see bonito check-overlap")
    shard: str = option("0/1", help="i/N: take the i-th of N disjoint parts of the input")
    overwrite: bool = option(False, help="replace a folder holding a different run")
    push_to_hub: str | None = option(None, metavar="ORG/NAME", help="when the run is complete, push it with its card "
                                     "(as `bonito push dataset`; private)")
    public: bool = option(False, help="with --push-to-hub: create the repo public")
    dry_run: bool = option(False, help="read and cut the input with the generator's tokenizer only (no weights "
                                       "load, nothing is written) and print the documents, passages, prompts per "
                                       "task type, prompt tokens, the most tokens the run can generate, and its "
                                       "time and cost where a rate and prices are known; then stop")


@dataclass(kw_only=True)
class GenerateArgs(LicenseOptions, EstimateOptions, _GenerateArgs):
    """What `bonito generate` takes besides the generation options, then what its estimate and
    budget take, and the licence of the set `push_to_hub` publishes."""


class GenerateConfig:
    """Everything a generation takes: the model, the input, the output and what `bonito generate`
    alone takes (GenerateArgs' fields, attributes here), and `options` (GenerationOptions, in parts).

    Made from options by name, as in 0.1 (`GenerateConfig(model=..., input=..., task_type="exqa",
    output=..., max_tokens=64, backend="openai", base_url=...)`: each goes to its part), or with
    `options=GenerationOptions(...)` and names on top. An option read by name (`config.max_tokens`)
    comes from its part; what a run resolves (the preset's sampling, the task types) is `run`.

    Python only: `input` may be a `datasets.Dataset`, `exclude_overlap` an overlap.NgramIndex and
    `shard` an (i, N) pair; `exclude` lists folders inside the input folder that are not part of the
    corpus (the output folder never is); `progress` draws a progress bar on a terminal.
    """

    def __init__(self, *, options: GenerationOptions | None = None, progress: bool = True, exclude: tuple = (),
                 **values):
        for name, value in own_values(GenerateArgs, values, "GenerateConfig").items():
            setattr(self, name, value)
        self.options = (options or GenerationOptions()).replace(**values)
        self.progress, self.exclude = progress, tuple(exclude)
        self._resolve()

    def __getattr__(self, name: str):
        if name.startswith("_") or name == "options":
            raise AttributeError(name)
        return self.options.get(name)

    def __repr__(self) -> str:
        own = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(GenerateArgs))
        return f"GenerateConfig({own}, options={self.options!r})"

    def _resolve(self) -> None:
        from bonito_hub.generate.presets import resolve

        o = self.options
        self.shard = parse_shard(self.shard)
        EstimateOptions.check_estimate_options(self)
        sampling, preset_filters = resolve(o.sampling.preset, {"n": o.sampling.n, "temperature": o.sampling.temperature,
                                                               "top_p": o.sampling.top_p,
                                                               "max_tokens": o.sampling.max_tokens},
                                           o.tasks.no_filter)
        t = o.tasks
        filters = preset_filters if t.filters is None else tuple(f for f in t.filters if f not in set(t.no_filter))
        self.run = RunConfig(task_type=t.task_type, task_mix=t.task_mix, text_column=o.documents.text_column,
                             sampling=SamplingConfig(**sampling, seed=o.sampling.seed), filters=filters,
                             format=t.format, chunk_docs=t.chunk_docs, chunk_tokens=t.chunk_tokens,
                             max_passage_tokens=t.max_passage_tokens, holdout=t.holdout,
                             near_duplicate_threshold=t.near_duplicate_threshold,
                             language_filter=o.documents.language_filter, keep_for_review=t.keep_for_review,
                             min_passage_words=t.min_passage_words,
                             keep_page_furniture=o.documents.keep_page_furniture)
        t.format, t.task_type, t.task_mix = self.run.format, self.run.task_type, self.run.task_mix
        if o.ray.ray and self.shard != (0, 1):
            raise ConfigError("`ray` schedules every chunk itself; leave `shard` out", field="shard")

    @property
    def sampling(self) -> SamplingConfig:
        """The sampling a run uses: the preset's values with those given over them."""
        return self.run.sampling

    def engine_options(self) -> dict:
        """The engine options that were set (make_engine refuses one the chosen engine does not take)."""
        return self.options.engine.given()

