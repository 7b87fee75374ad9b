"""The engine for a model someone already serves: any OpenAI-compatible server (vLLM `serve`,
SGLang, TGI, llama.cpp's server, Ollama, `transformers serve`, a hosted endpoint).

Bonito's generator was trained on raw text, so each prompt goes as it is to the legacy
`/v1/completions` endpoint (no chat template), with `n`, `temperature`, `top_p`, `max_tokens`
and a seed per request derived from (run seed, chunk, prompt): a re-run asks the same questions.
A server that returns fewer than `n` choices (some ignore `n`) is asked again, once per missing
sample, each with a seed of its own.

The client is the `openai` package (the `openai` extra): it speaks the API as the servers do, for
every server above, and its own retries (`max_retries`) take 408, 409, 429 and 5xx answers (honouring
`Retry-After`) and dropped connections; hooks on its HTTP client count each retry and why. This
engine retries only what the client cannot see: a request past its deadline, a body too large, and a
200 whose body is no completion. Each is tried at most `max_attempts` times, then the chunk stops with
one line (nothing of it is written, and the same command resumes it).

The API key is read from the variable `api_key_env` names; it is never a flag, and it is never
printed or written: records name the server by its host alone.

Bounded whatever the server does: `request_timeout` is a deadline for a whole request (the client's
retries of it, and a body streamed one byte at a time, included); a body is read up to a size its `max_tokens` allows, and a
completion longer than `max_tokens` (by the tokenizer's count) is cut to it and counted; a
redirect to another host, port or scheme is refused (the corpus goes only where `base_url`
says); a 200 whose body is the server's error is said in one line, the key masked.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
from collections import Counter
from typing import Any, Callable, ClassVar
from urllib.parse import urlsplit

from bonito_hub.console import get_logger
from bonito_hub.errors import ConfigError, CrossOrigin, ModelLoadError, Oversized, ServerError, ServerSaidError, cause
from bonito_hub.generate.config import SamplingConfig
from bonito_hub.generate.engines import Engine, context_length, derive_seed

log = get_logger(__name__)

RETRY_STATUS = (408, 409, 429, 500, 502, 503, 504)  # what the openai client retries (and any other 5xx)
REQUEST_ID = "x-bonito-request"  # ties the client's retries of a request to the request, for counting them
BODY_BYTES_PER_TOKEN = 64  # what one token may take in a JSON body at most (escapes, log-probs, ids)
BODY_SLACK = 1 << 20

MAX_WAIT = 60.0  # seconds: the longest pause before one of this engine's retries


def host_of(base_url: str) -> str:
    """The host (and port) of a base URL: what records and messages name, never a path or a key."""
    return urlsplit(base_url).netloc.rsplit("@", 1)[-1]


def check_base_url(base_url: str | None) -> str:
    if not base_url:
        raise ConfigError("the openai backend needs `base_url`, the server's OpenAI API root (for example "
                          "http://127.0.0.1:8000/v1)", field="base_url")
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"`base_url` must be an http:// or https:// URL such as http://127.0.0.1:8000/v1, got "
                          f"{base_url!r}", field="base_url")
    if parts.username or parts.password:
        raise ConfigError("`base_url` must not hold credentials; put the key in a variable and name it with "
                          "`api_key_env`", field="base_url")
    return base_url.rstrip("/")


def read_api_key(api_key_env: str | None) -> str | None:
    """The key from the variable named, or None when none is named (a local server)."""
    if api_key_env is None:
        return None
    value = os.environ.get(api_key_env)
    if not value:
        raise ConfigError(f"`api_key_env` {api_key_env}: no such environment variable is set (the API key is read "
                          "from it)", field="api_key_env")
    return value


def parse_choices(text: str, n: int) -> list[str]:
    """The choices' texts of a /v1/completions body, in index order; ValueError if it is not one."""
    data = json.loads(text)
    if isinstance(data, dict) and data.get("error") and not data.get("choices"):
        error = data["error"]
        message = error.get("message") if isinstance(error, dict) else error
        raise ServerSaidError(str(message).splitlines()[0][:300] if message else "an error without a message")
    if not isinstance(data, dict) or not isinstance(data.get("choices"), list) or not data["choices"]:
        raise ValueError("no choices")
    choices = sorted(data["choices"], key=lambda c: c.get("index", 0) if isinstance(c, dict) else 0)
    texts = [c.get("text") if isinstance(c, dict) else None for c in choices]
    if any(not isinstance(t, str) for t in texts) or len(texts) > n:
        raise ValueError("choices without text, or more than asked")
    return texts


class OpenAIEngine(Engine):
    """Completions from an OpenAI-compatible server, `concurrency` requests in flight.

    Args:
        model: the model's name as the server knows it (what its /v1/models lists).
        base_url: the API root, for example http://127.0.0.1:8000/v1.
        api_key_env: the environment variable holding the key (None: no key, as for a local server).
        concurrency: requests in flight at once.
        tokenizer: the served model's tokenizer (a folder, a Hub id, or a loaded one), which cuts
            the passages to fit; None: `model`, when that names one.
        max_model_len: the server's context length; None: what the server says (vLLM does), else
            the tokenizer's model config.
        request_timeout: seconds one request may take (the client's retries of it included) before
            this engine tries it again.
        max_attempts: tries per request before the run stops: the openai client's (`max_retries`
            is one less) for statuses and dropped connections, this engine's for the rest.
    """

    name: ClassVar[str] = "openai"

    def __init__(self, model: str, base_url: str | None = None, api_key_env: str | None = None,
                 concurrency: int | None = None, tokenizer=None, max_model_len: int | None = None,
                 request_timeout: float | None = None, max_attempts: int = 6, backoff: float = 0.5):
        try:
            import openai  # noqa: F401
        except ImportError:
            raise ModelLoadError("backend 'openai' needs the openai extra: pip install 'bonito-hub[openai]'") from None
        self.model_name = str(model)
        self.base_url = check_base_url(base_url)
        self.host = host_of(self.base_url)
        self.api_key_env = api_key_env
        self._key = read_api_key(api_key_env)
        self.concurrency = 32 if concurrency is None else int(concurrency)
        if self.concurrency < 1:
            raise ConfigError(f"`concurrency` must be at least 1, got {concurrency}", field="concurrency")
        self.timeout = 300.0 if request_timeout is None else float(request_timeout)
        if self.timeout <= 0:
            raise ConfigError(f"`request_timeout` must be more than 0, got {request_timeout}", field="request_timeout")
        self.max_attempts, self.backoff = max_attempts, backoff
        self.ignores_n = False  # set once the server answers a request for n samples with fewer
        self.retried: Counter = Counter()  # why requests were retried, over the engine's life
        self._answered: dict[str, str] = {}  # request id -> the retryable status its last try was answered with
        self._redirected: list[str] = []  # hosts a redirect pointed to, off `base_url`'s origin (refused)
        self.cut = 0  # completions longer than max_tokens, cut to it
        served = self.check_server()
        self.tokenizer, source = self._load_tokenizer(tokenizer)
        self._max_context = max_model_len or served.get("max_model_len") or self._context_from(source)

    # -- what the run needs to know ------------------------------------------------------------

    @property
    def max_context(self) -> int:
        return int(self._max_context)

    def describe(self) -> dict:
        """What records say about the server: its host and the model's name, never the key."""
        return {"host": self.host, "model": self.model_name}

    def _say(self, text: str) -> str:
        """A message with the key taken out, whatever the server echoed."""
        return text.replace(self._key, "***") if self._key else text

    def _client(self, asynchronous: bool = True):
        import openai

        origin = _origin(self.base_url)

        def same_origin(request):
            if _origin(str(request.url)) != origin:
                # noted as well as raised: the client may retry the request, and a retry that reaches
                # the server again must not hide that it sent the corpus elsewhere (refused all the same)
                self._redirected.append(host_of(str(request.url)))
                raise CrossOrigin(host_of(str(request.url)))

        async def same_origin_async(request):
            same_origin(request)

        def count_retry(request):  # the client sends each retry with the number of tries before it
            request_id = request.headers.get(REQUEST_ID)
            if request_id and int(request.headers.get("x-stainless-retry-count") or 0) > 0:
                self.retried[self._answered.pop(request_id, "connection")] += 1

        def note_status(response):
            request_id = response.request.headers.get(REQUEST_ID)
            if request_id and (response.status_code in RETRY_STATUS or response.status_code >= 500):
                self._answered[request_id] = str(response.status_code)

        async def count_retry_async(request):
            count_retry(request)

        async def note_status_async(response):
            note_status(response)

        hooks = {"request": [same_origin_async, count_retry_async] if asynchronous else [same_origin, count_retry],
                 "response": [note_status_async if asynchronous else note_status]}
        http = (openai.DefaultAsyncHttpxClient if asynchronous else openai.DefaultHttpxClient)(event_hooks=hooks)
        cls = openai.AsyncOpenAI if asynchronous else openai.OpenAI
        # the SDK wants a key; a local server takes any (vLLM's own examples send "EMPTY"). Its own
        # timeout is past the engine's deadline, which bounds a request whatever the server does.
        return cls(base_url=self.base_url, api_key=self._key or "EMPTY", max_retries=self.max_attempts - 1,
                   timeout=self.timeout * 2, http_client=http)

    def _refuse_redirect(self, exc: BaseException | None = None) -> None:
        """A ServerError when `exc` is (or wraps) a request to another origin, or when a redirect to
        one was met (and refused) on any try the client made, whatever the request's outcome."""
        if self._redirected:
            exc = CrossOrigin(self._redirected[0])
        seen = exc
        while seen is not None:
            if isinstance(seen, CrossOrigin):
                raise ServerError(f"the server at {self.host} redirected a request to {seen} (another host or "
                                  "scheme); refused: the corpus goes only to `base_url`'s host. Give the URL it "
                                  "redirects to as `base_url`", field="base_url") from None
            seen = seen.__cause__ or seen.__context__

    def check_server(self) -> dict:
        """/v1/models, before any work: the server answers, takes the key and serves the model.
        Returns the model's entry (vLLM's has max_model_len). A server whose list leaves the model
        out, or cannot list (transformers serve 5.17 lists only its cache's models, and fails on an
        empty cache), is asked for one token of the model instead."""
        import openai

        where = f"the server at {self.host}"
        try:
            text = run_coroutine(self._within_deadline(lambda client: client.models.with_streaming_response.list(),
                                                       BODY_SLACK * 8))
            self._refuse_redirect()
            data = json.loads(text)
        except CrossOrigin as exc:
            self._refuse_redirect(exc)
        except asyncio.TimeoutError:
            raise ServerError(f"{where} did not answer /models within {self.timeout:g} s (`request_timeout`)",
                              field="base_url") from None
        except Oversized:
            data = None
        except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
            key = f"the key in ${self.api_key_env}" if self.api_key_env else "no key (give `api_key_env`)"
            raise ServerError(f"{where} refused {key}: {exc.status_code}", field="api_key_env") from None
        except openai.NotFoundError:
            raise ServerError(f"{where} has no /models under `base_url` {self.base_url}; the base URL is the API "
                              "root, usually ending in /v1", field="base_url") from None
        except openai.APIStatusError as exc:
            if exc.status_code < 500:
                raise ServerError(self._say(f"{where} answered {exc.status_code} to /models: {_detail(exc)}"),
                                  field="base_url") from None
            data = None  # it cannot list its models: ask it for the model itself
        except openai.APIConnectionError as exc:
            self._refuse_redirect(exc)
            raise ServerError(f"cannot reach {where} (`base_url` {self.base_url}): {cause(exc.__cause__ or exc)}",
                              field="base_url") from None
        except ValueError:
            data = None
        models = data.get("data") if isinstance(data, dict) else None
        entries = {m.get("id"): m for m in models or [] if isinstance(m, dict)}
        if self.model_name in entries:
            return entries[self.model_name]
        listed = ", ".join(sorted(map(str, entries))[:10]) or "nothing"
        try:
            run_coroutine(self._within_deadline(lambda client: client.completions.with_streaming_response.create(
                model=self.model_name, prompt="Hello", max_tokens=1), BODY_SLACK))
            self._refuse_redirect()
        except CrossOrigin as exc:
            self._refuse_redirect(exc)
        except asyncio.TimeoutError:
            raise ServerError(f"{where} did not answer a completion of `model` {self.model_name!r} within "
                              f"{self.timeout:g} s (`request_timeout`)", field="base_url") from None
        except (openai.APIStatusError, openai.APIConnectionError) as exc:
            self._refuse_redirect(exc)
            said = f"{exc.status_code}: {_detail(exc)}" if isinstance(exc, openai.APIStatusError) else cause(exc)
            raise ServerError(self._say(f"{where} does not serve `model` {self.model_name!r}; it lists: {listed} "
                                        f"(a completion of it: {said})"), field="model") from None
        log.info("%s does not list `model` %r among its models (%s), but answers for it", where, self.model_name,
                 listed)
        return {}

    async def _within_deadline(self, request, limit: int, client=None) -> bytes:
        """The body of `request(client)` (a streaming response), read whole within the deadline
        and up to `limit` bytes (Oversized past it); `client`: the run's (None: one for this call)."""
        async def read(client):
            async with request(client) as response:
                body = bytearray()
                async for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > limit:
                        raise Oversized(f"a body over {limit} bytes")
                return bytes(body)

        if client is not None:
            return await asyncio.wait_for(read(client), self.timeout)
        async with self._client() as own:
            return await asyncio.wait_for(read(own), self.timeout)

    def _load_tokenizer(self, tokenizer) -> tuple[Any, str | None]:
        if tokenizer is not None and not isinstance(tokenizer, (str, os.PathLike)):
            return tokenizer, getattr(tokenizer, "name_or_path", None)
        from transformers import AutoTokenizer

        from bonito_hub import hub
        from bonito_hub.errors import BonitoError

        source = str(tokenizer or self.model_name)
        if not hub.is_local(source) and not os.path.isdir(source) and not hub.offline():
            try:  # asked once, 5 s at most: not the Hub client's retries, line after line, for a minute
                hub.check_reachable(f"the tokenizer of `model` {source}")
            except BonitoError:
                what = "`tokenizer`" if tokenizer else f"`model` {source!r}"
                raise ConfigError(f"the openai backend cuts passages with the served model's tokenizer; {what} is not "
                                  "a folder, and the Hub cannot be reached to load it from there: give `tokenizer` "
                                  "(the model's folder, or any folder with its tokenizer)", field="tokenizer") from None
        try:
            return AutoTokenizer.from_pretrained(source), source
        except Exception as exc:
            if tokenizer:
                raise ConfigError(f"`tokenizer` {source}: could not load it ({cause(exc)})", field="tokenizer") from None
            raise ConfigError(f"the openai backend cuts passages with the served model's tokenizer, and `model` "
                              f"{source!r} names none (as a folder or Hub id): give `tokenizer` ({cause(exc)})",
                              field="tokenizer") from None

    def _context_from(self, source: str | None) -> int:
        """The context length from the tokenizer's model config, else the tokenizer's own limit."""
        config = None
        if source:
            try:
                from transformers import AutoConfig

                config = AutoConfig.from_pretrained(source)
                config = config.get_text_config() if hasattr(config, "get_text_config") else config
            except Exception:
                config = None
        n = context_length(config, self.tokenizer)
        if not n:
            raise ConfigError(f"the server at {self.host} does not say its context length, nor does the tokenizer; "
                              "give `max_model_len`", field="max_model_len")
        return n

    # -- generation ----------------------------------------------------------------------------

    def generate(self, prompts: list[str], sampling: SamplingConfig, seed: int,
                 progress: Callable[[int], object] | None = None) -> list[list[str]]:
        if not prompts:
            return []
        before, cut = Counter(self.retried), self.cut
        results = run_coroutine(self._generate_all(prompts, sampling, seed, progress))
        if self.cut > cut:
            log.info("the server at %s sent %d completion%s longer than max_tokens (%d); each was cut to it",
                     self.host, self.cut - cut, "s" * (self.cut - cut != 1), sampling.max_tokens)
        retried = self.retried - before
        if retried:
            total = sum(retried.values())
            log.info("the server at %s: %d request%s retried (%s)", self.host, total, "s" * (total != 1),
                     ", ".join(f"{k}: {v}" for k, v in sorted(retried.items())))
        return results

    async def _generate_all(self, prompts, sampling, seed, progress):
        slots = asyncio.Semaphore(self.concurrency)
        async with self._client() as client:
            async def one(i: int, prompt: str) -> list[str]:
                texts = await self._samples(client, slots, prompt, sampling, derive_seed(seed, i))
                if progress is not None:
                    progress(1)
                return texts

            tasks = [asyncio.ensure_future(one(i, p)) for i, p in enumerate(prompts)]
            try:
                return list(await asyncio.gather(*tasks))
            finally:  # a request that failed for good stops the others
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    async def _samples(self, client, slots, prompt: str, sampling: SamplingConfig, seed: int) -> list[str]:
        """A prompt's `n` texts: one request for n, and one more per sample the server left out."""
        if sampling.temperature == 0:  # greedy: one text, n identical samples (as the other engines)
            return (await self._complete(client, slots, prompt, sampling, 1, seed))[:1] * sampling.n
        if self.ignores_n and sampling.n > 1:
            missing = range(sampling.n)
        else:
            texts = await self._complete(client, slots, prompt, sampling, sampling.n, seed)
            if len(texts) >= sampling.n:
                return texts[:sampling.n]
            if not self.ignores_n:
                self.ignores_n = True
                log.info("the server at %s returns fewer samples than asked (n=%d); each sample becomes a request of "
                         "its own", self.host, sampling.n)
            missing = range(len(texts), sampling.n)
            return texts + await self._more(client, slots, prompt, sampling, seed, missing)
        return await self._more(client, slots, prompt, sampling, seed, missing)

    async def _more(self, client, slots, prompt, sampling, seed, samples) -> list[str]:
        # sample 0 keeps the prompt's own seed, so a server asked for one sample at a time is asked
        # the same questions whether or not it was known to ignore n
        seeds = [seed if s == 0 else derive_seed(seed, s) for s in samples]
        found = await asyncio.gather(*(self._complete(client, slots, prompt, sampling, 1, s) for s in seeds))
        return [texts[0] for texts in found]

    async def _complete(self, client, slots, prompt: str, sampling: SamplingConfig, n: int, seed: int) -> list[str]:
        """One completion request. The client retries 429, 5xx and dropped connections itself; this
        retries a request past its deadline, a body too large and a 200 that is not a completion.
        Any other refusal, or too many tries, is a ServerError."""
        import openai

        last = ""
        for attempt in range(self.max_attempts):
            request_id = f"{seed}-{n}-{attempt}-{random.getrandbits(32):08x}"
            async with slots:
                try:
                    body = await self._within_deadline(lambda client: client.completions.with_streaming_response.create(
                        model=self.model_name, prompt=prompt, n=n, temperature=sampling.temperature,
                        top_p=sampling.top_p, max_tokens=sampling.max_tokens, seed=seed,
                        extra_headers={REQUEST_ID: request_id}),
                        BODY_SLACK + n * sampling.max_tokens * BODY_BYTES_PER_TOKEN, client)
                    self._refuse_redirect()
                    return [self._at_most(text, sampling.max_tokens) for text in parse_choices(body.decode("utf-8"), n)]
                except CrossOrigin as exc:
                    self._refuse_redirect(exc)
                except ServerSaidError as exc:
                    raise ServerError(self._say(f"the server at {self.host} answered a completion request with an "
                                                f"error (200): {exc}")) from None
                except asyncio.TimeoutError:
                    last = "timeout"
                except Oversized:
                    last = "oversized body"
                except openai.APIStatusError as exc:
                    self._answered.pop(request_id, None)
                    if exc.status_code in RETRY_STATUS or exc.status_code >= 500:  # the client's tries ran out
                        raise ServerError(f"the server at {self.host} failed a completion request {self.max_attempts} "
                                          f"times (last: {exc.status_code}); the finished chunks are kept, run the "
                                          "same command to resume") from None
                    raise ServerError(self._say(f"the server at {self.host} refused a completion request "
                                                f"({exc.status_code}): {_detail(exc)}")) from None
                except openai.APIConnectionError as exc:  # APITimeoutError too: the client's tries ran out
                    self._refuse_redirect(exc)
                    raise ServerError(f"the server at {self.host} failed a completion request {self.max_attempts} "
                                      f"times (last: connection: {cause(exc.__cause__ or exc)}); the finished chunks "
                                      "are kept, run the same command to resume") from None
                except (ValueError, KeyError, TypeError, AttributeError):
                    last = "malformed body"
                finally:
                    self._answered.pop(request_id, None)
            self.retried[last] += 1
            if attempt + 1 < self.max_attempts:
                await asyncio.sleep(min(MAX_WAIT, self.backoff * 2 ** attempt * (1 + random.random() / 4)))
        raise ServerError(f"the server at {self.host} failed a completion request {self.max_attempts} times (last: "
                          f"{last}); the finished chunks are kept, run the same command to resume")

    def _at_most(self, text: str, max_tokens: int) -> str:
        """`text` cut to `max_tokens` tokens of the tokenizer, counted when it was longer."""
        if len(text) <= max_tokens:  # no token is shorter than a character: nothing to count
            return text
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        if len(ids) <= max_tokens:
            return text
        self.cut += 1
        return self.tokenizer.decode(ids[:max_tokens])


def _origin(url: str) -> tuple:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


def _detail(exc) -> str:
    """The message of an OpenAI-style error body, else the exception's first line."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error")
        message = error.get("message") if isinstance(error, dict) else body.get("message") or body.get("detail") or error
        if message:
            return str(message).splitlines()[0][:300]
    return cause(exc)


def run_coroutine(coroutine):
    """Run a coroutine to its end from synchronous code, also where an event loop is running
    already (a notebook): there, in a thread of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="bonito-openai") as pool:
        return pool.submit(asyncio.run, coroutine).result()
