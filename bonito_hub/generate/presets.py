"""Named sampling and filter settings for `bonito generate --preset` (bonito_hub/data/generation_presets.yaml).

`default` samples as the released Bonito examples do and keeps every filter on; `paper` samples as
the paper's experiment script did and keeps whatever parses. Values given explicitly win over the
preset's, so `--preset paper --num-samples 3` is the paper's sampling with three tasks a passage.
"""

from __future__ import annotations

from functools import lru_cache

import yaml

from bonito_hub import resources
from bonito_hub.errors import ConfigError
from bonito_hub.generate.filters import FILTERS

SAMPLING_KEYS = ("n", "temperature", "top_p", "max_tokens")


@lru_cache(maxsize=1)
def presets() -> dict[str, dict]:
    return yaml.safe_load(resources.read_text("generation_presets.yaml"))


def resolve(name: str, sampling: dict | None = None, disabled_filters=()) -> tuple[dict, tuple[str, ...]]:
    """(sampling values, filters on) for preset `name`, with the explicitly given `sampling`
    values (None means not given) and filters switched off on top."""
    table = presets()
    if name not in table:
        raise ConfigError(f"`preset` must be one of {', '.join(table)}, got {name!r}", field="preset")
    preset = table[name]
    values = {k: preset[k] for k in SAMPLING_KEYS}
    values.update({k: v for k, v in (sampling or {}).items() if v is not None})
    on = {"all": tuple(FILTERS), "none": ()}.get(preset["filters"], preset["filters"])
    return values, tuple(f for f in on if f not in set(disabled_filters))
