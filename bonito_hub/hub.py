"""Talking to the Hugging Face Hub: whether it can be reached, asked once, before any work.

Offline, the libraries retry each request for tens of seconds before they fail (or fall back to
their cache), once per file. So before the first Hub access of a command, one request with a short
timeout decides: reachable, go on; not reachable, one line that names HF_HUB_OFFLINE=1, the way
to work from the local cache only. With HF_HUB_OFFLINE=1 set nothing is asked.

Offline mode and the endpoint are huggingface_hub's (`huggingface_hub.constants`, which read
HF_HUB_OFFLINE, TRANSFORMERS_OFFLINE and HF_ENDPOINT when it was imported), unless the variable is set
differently now (a notebook that sets it after the import); the probe goes through huggingface_hub's
own HTTP session, with its proxies and headers.
"""

from __future__ import annotations

import os

from bonito_hub.errors import HubUnreachable  # noqa: F401 (raised here; part of this module's API)

TIMEOUT_S = 5.0
_reachable: dict[str, bool] = {}


def offline() -> bool:
    """huggingface_hub's offline mode, or HF_HUB_OFFLINE as it is set now."""
    from huggingface_hub import constants

    value = os.environ.get("HF_HUB_OFFLINE")
    if value is not None:
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(constants.HF_HUB_OFFLINE)


def endpoint() -> str:
    """The Hub's address: huggingface_hub's, or HF_ENDPOINT as it is set now."""
    from huggingface_hub import constants

    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def check_reachable(what: str, push: bool = False) -> None:
    """Return if the Hub answers (or HF_HUB_OFFLINE is set: the libraries then use their cache);
    else raise HubUnreachable naming `what` needed it. Asked once per process and endpoint. For a
    `push` the advice is to run again later: a push has no local cache to fall back on."""
    if offline() and not push:
        return
    url = endpoint()
    if url not in _reachable:
        from huggingface_hub.utils import get_session

        from bonito_hub.errors import cause

        try:  # any answer (a 401 without a token) means it can be reached
            get_session().head(f"{url}/api/whoami-v2", timeout=TIMEOUT_S)
            _reachable[url] = True
        except Exception as exc:  # the session's transport errors (httpx's), offline mode, a bad URL
            _reachable[url] = False
            _reachable[f"{url}#why"] = cause(exc)
    if not _reachable[url]:
        advice = "run the same command again once it can be reached" if push else \
            "to use only what is in the local cache, set HF_HUB_OFFLINE=1"
        raise HubUnreachable(f"{what} needs the Hugging Face Hub, and {url} cannot be reached "
                             f"({_reachable[f'{url}#why']}); {advice}")


def check_can_push(what: str) -> None:
    """Before any work that ends in a push: not offline, the Hub answers, and there is a token
    (which is never printed)."""
    from huggingface_hub import get_token

    from bonito_hub.errors import PushError

    if offline():
        raise HubUnreachable(f"{what} needs the Hugging Face Hub, and HF_HUB_OFFLINE=1 is set; unset it to push, "
                             "or leave the push out")
    check_reachable(what, push=True)
    if not get_token():
        raise PushError(f"{what}: no Hugging Face token; log in with `hf auth login` or set HF_TOKEN to a token with "
                        "write access")


LOCAL_SUFFIXES = (".jsonl", ".json", ".csv", ".parquet", ".txt", ".md", ".yaml")


def is_local(name) -> bool:
    """A name that is a path on this machine, not a Hub id: it exists, starts like a path, has
    more than one "/" (a Hub id has ORG/NAME at most), or ends like a file (a mistyped
    `docs.jsonl` is then reported missing, not sent to the Hub)."""
    from pathlib import Path

    text = os.fspath(name)
    return Path(text).expanduser().exists() or text.startswith(("/", "./", "../", "~")) or \
        text.count("/") > 1 or text.lower().endswith(LOCAL_SUFFIXES)


def dataset_commit(repo_id: str, revision: str | None) -> str | None:
    """The commit a data set's `revision` (a branch, a tag or a commit) points to now, so that a
    record names the very commit read; a full commit id is its own answer, and offline (or when the
    Hub does not say) nothing is asked and None comes back."""
    import re

    if revision and re.fullmatch(r"[0-9a-f]{40}", revision):
        return revision
    if offline():
        return None
    from huggingface_hub import HfApi

    try:
        return HfApi(endpoint=endpoint()).dataset_info(repo_id, revision=revision, timeout=TIMEOUT_S).sha
    except Exception:  # the read that follows says what is wrong, in its own line
        return None
