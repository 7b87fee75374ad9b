"""The languages of the documents, detected offline, and what the generator writes.

Detection is py3langid's (a maintained fork of langid.py: a naive Bayes model over byte n-grams,
97 languages, ISO 639-1 codes, its model in its 4.6 MB wheel, numpy only); the choice and what
was measured: docs/design.md ("The documents' languages") and benchmarks/README.md. A document is judged by a sample of its text (SAMPLE_CHARS, in
windows spread over it, so a cover page or an appendix does not decide alone); a document whose
sample has too few letters, or whose best language has a probability under MIN_CONFIDENCE, is
`und` (undetermined, BCP 47's word for it).

    detect(text) -> "en" | "de" | ... | "und"
    generator_languages(model, given)   what the generator writes: `--generator-language`, else its
                                        card's `language:`, else English (bonito-v1, and any
                                        generator trained on CTGA: P3 is English)
    survey(texts, column, ...)          a sample of the corpus before any model loads: the one
                                        warning line, or the refusal of a filter that keeps nothing
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from pathlib import Path

from bonito_hub.console import get_logger
from bonito_hub.errors import ConfigError

log = get_logger(__name__)

UNDETERMINED = "und"
DEFAULT_GENERATOR = ("en",)  # bonito-v1's; CTGA, built from P3's English templates, teaches English
SAMPLE_CHARS = 2000  # characters of a document judged: about 1 ms (benchmarks/language.py)
WINDOWS = 4  # the sample is this many windows spread over the document
MIN_CONFIDENCE = 0.5  # py3langid's normalized probability under which a document is undetermined
SURVEY_DOCUMENTS = 500  # documents judged before the model loads (a seeded sample of the corpus)
WARN_SHARE = 0.02  # warn when at least this share of the surveyed documents is in another language
_CODE = re.compile(r"[a-z]{2,3}")


@functools.lru_cache(maxsize=1)
def _identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True, min_confidence=MIN_CONFIDENCE)


def known() -> list[str]:
    """The codes detection can return (py3langid's languages, and `und`)."""
    return sorted({*_identifier().labels, UNDETERMINED})


def sample(text: str) -> str:
    """What of a document is judged: all of it up to SAMPLE_CHARS, else WINDOWS windows spread
    evenly over it, cut at spaces where one is near."""
    if len(text) <= SAMPLE_CHARS:
        return text
    width = SAMPLE_CHARS // WINDOWS
    step = (len(text) - width) / (WINDOWS - 1)
    pieces = []
    for i in range(WINDOWS):
        start = int(i * step)
        space = text.find(" ", start, start + 40)
        start = space + 1 if space >= 0 else start
        pieces.append(text[start:start + width])
    return "\n".join(pieces)


def detect(text: str) -> str:
    """The language of `text` (an ISO 639-1 code), or `und`."""
    return _identifier().classify(sample(text or ""))[0]


def parse(value, field: str) -> tuple[str, ...] | None:
    """Language codes from "en,de", ["en", "de"] or None; a code detection never returns is a
    ConfigError naming `field`."""
    if value is None:
        return None
    codes = [c.strip().lower() for c in (value.split(",") if isinstance(value, str) else value) if c.strip()]
    if not codes:
        raise ConfigError(f"`{field}` takes language codes, for example en or en,de", field=field)
    unknown = [c for c in codes if not _CODE.fullmatch(c) or c not in known()]
    if unknown:
        raise ConfigError(f"`{field}` {', '.join(map(repr, unknown))}: not a language the detector knows (ISO 639-1 "
                          "codes such as en, de, zh; und for undetermined documents)", field=field)
    return tuple(dict.fromkeys(codes))


def generator_languages(model: str | None, given=None) -> tuple[tuple[str, ...], str]:
    """The languages the generator writes and where that came from: `given` (the option), the
    `language:` of the card in the model's folder or Hub repo, or bonito-v1's (English). A card
    that cannot be read (offline, no card, no `language:`) leaves the default."""
    if given:
        return parse(given, "generator_language"), "--generator-language"
    codes = _card_languages(model) if model else None
    if codes:
        return codes, "its card"
    return DEFAULT_GENERATOR, "bonito-v1's"


def _card_languages(model: str) -> tuple[str, ...] | None:
    from huggingface_hub import ModelCard

    from bonito_hub import hub

    try:
        if hub.is_local(model):
            path = Path(model) / "README.md"
            if not path.is_file():
                return None
            card = ModelCard.load(path)
        else:
            card = ModelCard.load(model)
        language = card.data.language
    except Exception as exc:  # offline, no card, a card that does not parse: the default stands
        log.debug("no language on the card of %s: %s", model, exc)
        return None
    codes = [language] if isinstance(language, str) else list(language or ())
    codes = [c.split("-")[0].lower() for c in codes if isinstance(c, str)]
    return tuple(dict.fromkeys(codes)) or None


def share(counts: Counter, wanted: tuple[str, ...]) -> float:
    """The share of the determined documents in `counts` ({language: documents}) whose language is
    not in `wanted`."""
    determined = sum(n for code, n in counts.items() if code != UNDETERMINED)
    other = sum(n for code, n in counts.items() if code != UNDETERMINED and code not in wanted)
    return other / determined if determined else 0.0


def describe(counts: Counter, total: int | None = None) -> str:
    """`de 40%, zh 35%, en 25%`: the languages of `counts`, most documents first."""
    total = total or sum(counts.values())
    return ", ".join(f"{code} {100 * n / total:.0f}%" for code, n in counts.most_common())


def survey(texts, column: str, generator: tuple[str, ...], source: str, language_filter: tuple[str, ...] | None,
           documents: int = SURVEY_DOCUMENTS) -> Counter:
    """Judge up to `documents` documents of `texts` (drawn with a fixed seed: the same sample each
    time) before any model loads, and say
    in one warning line when the generator would be prompted with documents in other languages.
    With `language_filter`, only the documents it keeps are prompted: a filter that keeps none of
    a corpus judged whole is a ConfigError; one that keeps only the generator's languages is said
    in one info line. Returns the counts of the sample ({language: documents})."""
    import random

    n = len(texts)
    indices = sorted(random.Random(0).sample(range(n), documents)) if n > documents else list(range(n))
    rows = texts.select(indices)[column] if indices else []
    skipped = texts.select(indices)["skipped"] if indices and "skipped" in texts.column_names else [None] * len(rows)
    counts = Counter(detect(text) for text, skip in zip(rows, skipped) if isinstance(text, str) and text.strip()
                     and not skip)
    judged = sum(counts.values())
    if not judged:
        return counts
    whole = len(indices) == n
    what = f"{judged} documents" if whole else f"a sample of {judged} of the {n} documents"
    prompted = counts
    if language_filter:
        prompted = Counter({code: k for code, k in counts.items() if code in language_filter})
        kept = sum(prompted.values())
        if not kept and whole:
            raise ConfigError(f"`language_filter` {','.join(language_filter)} keeps none of the {judged} documents "
                              f"({describe(counts)})", field="language_filter")
        log.info("language filter %s keeps %d of %s (%s)", ",".join(language_filter), kept, what, describe(counts))
    other = share(prompted, generator)
    if prompted and other >= WARN_SHARE:
        foreign = Counter({code: k for code, k in prompted.items() if code not in generator and code != UNDETERMINED})
        undetermined = prompted.get(UNDETERMINED, 0)
        aside = f" ({undetermined} undetermined left aside)" if undetermined else ""
        names = ",".join(generator)
        log.warning("%d%% of %s%s are not in %s, the generator's language (%s): %s; it writes poor tasks of them. "
                    "`language_filter` %s keeps only those in %s; `generator_language` says what else it writes",
                    round(100 * other), what, aside, names, source,
                    describe(foreign, sum(prompted.values()) - undetermined), names, names)
    return counts


CARD_SHARE = 0.01  # a language on the card's `language:` holds at least this share of the prompted documents


def of_funnel(languages: dict | None, language_filter=None) -> list[str] | None:
    """The languages a generation's card declares, from its funnel's counts ({code: {"documents",
    ...}}): those of the prompted documents (the filter's, with one) holding at least CARD_SHARE of
    them, most first; None where the languages were not detected or none could be told."""
    if not languages:
        return None
    prompted = {code: by["documents"] for code, by in languages.items()
                if code != UNDETERMINED and (not language_filter or code in language_filter)}
    total = sum(prompted.values())
    return [code for code, n in sorted(prompted.items(), key=lambda kv: (-kv[1], kv[0]))
            if n and n >= CARD_SHARE * total] or None
