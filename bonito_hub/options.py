"""Options declared once: a dataclass field holds an option's default, its help and the flag that
sets it, and the command-line parsers are derived from the dataclasses (as TRL's scripts and
lm-eval's `EvaluatorConfig` do), with `transformers.HfArgumentParser` through TRL's `TrlParser`.

    option(default, help=..., flag=..., metavar=..., choices=..., repeat=..., cli=...)
                     a field with its help in `metadata` (HfArgumentParser's convention)
    flag(field)      the flag a field is set by: metadata "flag", else --name-with-dashes
    flags(*classes)  field name -> flag, for messages said in a command's words
    parts_from(args, *classes)
                     the dataclasses filled from a parsed namespace

Metadata keys besides HfArgumentParser's (`help`, `aliases`, `metavar`, `choices`):
    flag    the user-facing flag when it is not the field's name (`--num-samples` sets `n`)
    repeat  the flag may be given several times; the field receives the list
    cli     False: a field of the Python API only (an index object, a callback), not a flag
A field without a help is no option either (a base class's, such as datasets' BuilderConfig's).
`help` and `choices` may be callables, read when the parser is built (a packaged table's names).
The parser itself is bonito_hub.commands.parser.OptionsParser.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any, Callable

MISSING = dataclasses.MISSING


def option(default: Any = MISSING, *, help: str | Callable[[], str], flag: str | None = None,
           aliases: tuple[str, ...] = (), metavar: str | None = None, choices: Any = None, repeat: bool = False,
           cli: bool = True, factory: Callable[[], Any] | None = None) -> Any:
    """A dataclass field for an option: its default (or `factory`), its help and how it is set."""
    metadata: dict = {"help": help}
    for key, value in (("flag", flag), ("metavar", metavar), ("choices", choices)):
        if value is not None:
            metadata[key] = value
    if aliases:
        metadata["aliases"] = list(aliases)
    if repeat:
        metadata["repeat"] = True
    if not cli:
        metadata["cli"] = False
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def default_of(field: dataclasses.Field):
    """A field's default value (its factory's product), or MISSING for a required field."""
    return field.default_factory() if field.default_factory is not MISSING else field.default


def own_values(cls, values: dict, what: str) -> dict:
    """The values of `cls`'s fields taken out of `values` (by name), with the defaults of those not
    given; a required field not given is a TypeError naming it, as a call's would be."""
    out = {}
    for f in dataclasses.fields(cls):
        out[f.name] = values.pop(f.name) if f.name in values else default_of(f)
        if out[f.name] is MISSING:
            raise TypeError(f"{what} needs `{f.name}`")
    return out


def flag(field: dataclasses.Field) -> str:
    """The flag that sets `field` on the command line."""
    return field.metadata.get("flag") or "--" + field.name.replace("_", "-")


def flags(*classes) -> dict[str, str]:
    """Field name -> flag over the dataclasses `classes` (the first class naming a field wins)."""
    found: dict[str, str] = {}
    for cls in classes:
        for f in dataclasses.fields(cls):
            if _is_option(f):
                found.setdefault(f.name, flag(f))
    return found


def _is_option(f: dataclasses.Field) -> bool:
    """A field the command line sets: it has a help, and is not marked `cli=False` (a field of the
    Python API only, or of a base class from another library, such as datasets' BuilderConfig)."""
    return f.init and "help" in f.metadata and f.metadata.get("cli", True)


def parts_from(args: argparse.Namespace, *classes) -> list:
    """Each of the dataclasses `classes` filled with the values `args` holds for its fields."""
    return [cls(**values_from(args, cls)) for cls in classes]


def values_from(args: argparse.Namespace, *classes) -> dict:
    """The values `args` holds for the options of `classes`, by field name."""
    return {f.name: getattr(args, f.name) for cls in classes for f in dataclasses.fields(cls)
            if _is_option(f) and hasattr(args, f.name)}


def read_config_file(parser, path: str, known: dict[str, str], renamed: dict[str, str] | None = None) -> None:
    """Set `parser`'s defaults from the YAML mapping in `path` (TRL's `set_defaults_with_config`), so
    that the command line wins over the file. Keys are field names or flags without their dashes
    (`max_tokens`, `max-tokens`, `num-samples`); `known` maps each option's field name -> flag, and
    `renamed` another name of a field -> the field (adapt's `recipe_args` -> `recipe_overrides`)."""
    import yaml

    from bonito_hub.errors import ConfigError

    by_flag = {f.removeprefix("--").replace("-", "_"): name for name, f in known.items()}
    renamed = renamed or {}
    try:
        with open(path, encoding="utf-8") as handle:
            values = yaml.safe_load(handle)
    except OSError as exc:
        raise ConfigError(f"`config` {path}: {exc.strerror or exc}", field="config") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"`config` {path} is not YAML: {str(exc).splitlines()[0]}", field="config") from None
    if values is None:
        return
    if not isinstance(values, dict):
        raise ConfigError(f"`config` {path} must hold a mapping of options (max_tokens: 128), not a "
                          f"{type(values).__name__}", field="config")
    named = {}
    for key, value in values.items():
        name = str(key).replace("-", "_")
        name = renamed.get(name, name)
        name = name if name in known else by_flag.get(name)
        if name is None:
            raise ConfigError(f"`config` {path}: {key!r} is not an option of this command", field="config")
        named[name] = value
    left = parser.set_defaults_with_config(**named)
    if left:
        raise ConfigError(f"`config` {path}: {left[0].lstrip('-')!r} is not an option of this command",
                          field="config")


def key_values(words, field: str, flag: str | None = None) -> list[tuple[str, str]]:
    """(key, value) from KEY=VALUE words, as given; a word without `=` or key is a ConfigError naming
    `field` (or said with `flag` where the words are no field's)."""
    from bonito_hub.errors import ConfigError

    out = []
    for word in words:
        key, sep, value = str(word).partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{flag or f'`{field}`'} takes KEY=VALUE, got {word!r}", field=field)
        out.append((key.strip(), value))
    return out


def key_value_map(words, field: str, parse: Callable[[str], Any] | None = None, strip: str = "") -> dict:
    """{key: value} from KEY=VALUE words and mappings among them (a --config file's entries), later
    ones winning; a key loses leading `strip` characters and has its dashes made underscores, and
    `parse` reads each word's value (a mapping's values are taken as they are)."""
    out: dict = {}
    for word in words:
        pairs = word.items() if isinstance(word, dict) else \
            [(k, parse(v) if parse else v) for k, v in key_values([word], field)]
        out.update({str(k).lstrip(strip).replace("-", "_"): v for k, v in pairs})
    return out
