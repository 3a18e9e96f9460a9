"""Command-line options generated from config dataclasses: a field declared once is its option.

    @dataclass
    class TrainConfig:
        steps: int = option(20_000, "training steps ({default})", ge=1)

    add_flags(parser, TrainConfig)          # --steps STEPS: type int, default 20000, that help
    cfg = from_args(args, TrainConfig)      # back: TrainConfig(steps=args.steps, ...)
    to_argv(cfg)                            # and the command line of a config: ["--steps=...", ...]

A field is an option when its metadata has "help" (`option()` puts it there; a plain
`field(metadata={"help": ...})` works as well); other fields keep their defaults. A field made
with `nested()` lists the options of its own config class, named `--PREFIX-NAME`. Metadata:

  help       the help text; "{default}" / "{default:g}" in it become the field's default
  flag       the option's name when it is not the field's (underscores become dashes)
  group      title of the argparse group the option is listed under
  ge gt le lt   bounds (>=, >, <=, <): from_args and check_bounds raise OptionError
             "--flag must be ..., got ...; pass e.g. --flag DEFAULT (the default)"
  what       a valid value in words ("a frame rate (frames per second, above 0)"): the option is
             then checked while the command line is read (finite and within the bounds; for
             text: not empty), "'x' is not <what>; use e.g. --flag <example>"
  example    the value in that example (default: the field's default)
  unset      the option's default when it is not the field's; this value leaves the field at
             its default (the caller fills it in from other options)
  metavar, choices, required   as in argparse

Booleans: default False gives `--name`, True gives `--no-name`, an option default of None gives
`--name / --no-name` (argparse.BooleanOptionalAction).
"""

from __future__ import annotations

import argparse
import math
import types
import typing
from collections.abc import Callable, Iterable
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any

META_KEYS = frozenset({"help", "flag", "group", "ge", "gt", "le", "lt", "what", "example",
                       "unset", "metavar", "choices", "required"})
BOUNDS = (("ge", ">=", float.__ge__), ("gt", ">", float.__gt__), ("le", "<=", float.__le__),
          ("lt", "<", float.__lt__))


class OptionError(ValueError):
    """An option's value outside its bounds; the message names the option and a valid value."""


def option(default: Any = MISSING, help: str | None = None, *,
           default_factory: Any = MISSING, **meta) -> Any:
    """A dataclass field that is a command-line option (metadata keys: see the module doc)."""
    unknown = set(meta) - META_KEYS
    if unknown:
        raise TypeError(f"unknown option metadata {sorted(unknown)}; use {sorted(META_KEYS)}")
    return field(default=default, default_factory=default_factory,
                 metadata={"help": help, **meta})


def nested(factory: type, prefix: str, group: str | None = None) -> Any:
    """A field holding another config whose options are named --PREFIX-NAME (in `group`)."""
    return field(default_factory=factory, metadata={"prefix": prefix, "group": group})


@dataclass(frozen=True)
class Flag:
    """One option: the field it sets (path of field names from the top config) and how."""

    path: tuple[str, ...]
    option: str  # "--noise-drop"
    kind: type  # int, float, str or bool: the annotation without None
    default: Any  # the field's default
    meta: typing.Mapping
    group: str | None

    @property
    def dest(self) -> str:
        return self.option[2:].replace("-", "_")

    @property
    def negated(self) -> bool:  # --no-name: given means False
        return self.kind is bool and self.default is True and "unset" not in self.meta

    @property
    def option_default(self) -> Any:
        return self.meta.get("unset", self.default)

    def value(self, args: argparse.Namespace) -> Any:
        value = getattr(args, self.dest)
        return not value if self.negated else value

    def get(self, config) -> Any:
        for name in self.path:
            config = getattr(config, name)
        return config


def _bare(hint) -> type:
    """`int | None` -> int."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0] if len(args) == 1 else hint
    return hint


def _default(f: Field) -> Any:
    if f.default is not MISSING:
        return f.default
    return f.default_factory() if f.default_factory is not MISSING else None


def flags_of(cls: type, prefix: str = "", group: str | None = None,
             path: tuple[str, ...] = ()) -> list[Flag]:
    """The options of config class `cls`, nested configs' included, in field order."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in fields(cls):
        meta = f.metadata
        if "prefix" in meta:
            out += flags_of(_bare(hints[f.name]), f"{prefix}{meta['prefix']}-",
                            meta.get("group") or group, (*path, f.name))
        elif "help" in meta:
            kind, default = _bare(hints[f.name]), _default(f)
            name = prefix + (meta.get("flag") or f.name.replace("_", "-"))
            if kind is bool and default is True and "unset" not in meta:
                name = "no-" + name
            out.append(Flag((*path, f.name), "--" + name, kind, default, meta,
                            meta.get("group") or group))
    return out


def add_flags(target, *configs, groups: Iterable[str] = ()) -> list[Flag]:
    """Add the options of each config class (or (class, group title)) to `target`, a parser or
    one of its argument groups. Options are listed group by group, the titles in `groups`
    first in that order, then others as they come; within a group in the order of `configs`
    and their fields. Returns the flags."""
    flags = []
    for config in configs:
        cls, title = config if isinstance(config, tuple) else (config, None)
        flags += flags_of(cls, group=title)
    order = [None, *groups]
    order += [t for t in dict.fromkeys(f.group for f in flags) if t not in order]
    made: dict[str | None, Any] = {None: target}
    for flag in sorted(flags, key=lambda f: order.index(f.group)):
        if flag.group not in made:
            if not isinstance(target, argparse.ArgumentParser):
                raise TypeError(f"{flag.option} asks for group {flag.group!r}; pass the parser")
            made[flag.group] = target.add_argument_group(flag.group)
        made[flag.group].add_argument(flag.option, **_argparse_kwargs(flag))
    return flags


def _argparse_kwargs(flag: Flag) -> dict:
    meta = flag.meta
    text = meta["help"]
    kw: dict = {"help": text.format(default=flag.default) if text and "{" in text else text}
    if flag.kind is bool:
        if flag.option_default is None:
            kw.update(action=argparse.BooleanOptionalAction, default=None)
        else:
            kw.update(action="store_true")
    else:
        kw["default"] = flag.option_default
        parse = _parse_type(flag)
        if parse is not None:
            kw["type"] = parse
    kw.update({k: meta[k] for k in ("metavar", "choices", "required") if k in meta})
    return kw


def _parse_type(flag: Flag) -> Callable | None:
    meta, what = flag.meta, flag.meta.get("what")
    if what is None:
        return flag.kind if flag.kind in (int, float) else None
    example = f"{flag.option} {_num(meta.get('example', flag.default))}"
    if flag.kind is str:
        return nonempty(what, example)
    return number(flag.kind, what, lambda v: within(v, meta), example)


def number(kind: type, what: str, ok: Callable[[float], bool], example: str) -> Callable:
    """An argparse `type=`: text -> kind (int or float), finite and ok(value), else an
    ArgumentTypeError that names what was expected and an example."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not math.isfinite(value) or not ok(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}; use e.g. {example}")
        return value

    parse.__name__ = what
    return parse


def nonempty(what: str, example: str) -> Callable:
    """An argparse `type=` for paths and addresses: an empty value (a shell variable that was
    not set) is an error, not a silent 'off'."""

    def parse(text: str) -> str:
        if not text.strip():
            raise argparse.ArgumentTypeError(f"empty value; give {what}, e.g. {example}")
        return text

    parse.__name__ = what
    return parse


def within(value: float, meta: typing.Mapping) -> bool:
    """value satisfies the bounds ge / gt / le / lt in meta."""
    return all(test(float(value), float(meta[key])) for key, _, test in BOUNDS if key in meta)


def bounds_error(flag: Flag, value: Any) -> str | None:
    """None when value is a finite number (an int for an int option) within flag's bounds,
    else the message: what the option must be, and its default as the fix."""
    meta = flag.meta
    if not any(key in meta for key, _, _ in BOUNDS) or value is None:
        return None
    whole = flag.kind is int
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = ok and (isinstance(value, int) if whole else math.isfinite(value)) and within(value, meta)
    if ok:
        return None

    bounds = " and ".join(f"{sign} {_num(meta[key])}" for key, sign, _ in BOUNDS if key in meta)
    want = f"{'a whole number' if whole else 'a finite number'} {bounds}"
    if flag.default is None:
        return f"{flag.option} must be {want}, got {value!r}"
    return (f"{flag.option} must be {want}, got {value!r}; pass e.g. {flag.option} "
            f"{_num(flag.default)} (the default)")


def _num(x) -> str:
    """1 -> "1", 1e-4 -> "0.0001", 2**32 - 1 -> "4294967295" (not 4.29497e+09)."""
    return f"{x:g}" if isinstance(x, float) else str(x)


def check_bounds(config) -> None:
    """OptionError for the first option of `config` (nested configs' too) out of its bounds."""
    for flag in flags_of(type(config)):
        message = bounds_error(flag, flag.get(config))
        if message:
            raise OptionError(message)


def from_args(args: argparse.Namespace, cls: type, /, **fixed) -> Any:
    """`cls` built from the parsed options of add_flags (nested configs too); fields in `fixed`
    (what the command line gives in another form) win. OptionError (before anything is built)
    for a value out of its bounds."""
    values = {}
    for flag in flags_of(cls):
        value = flag.value(args)
        if "unset" in flag.meta and value is flag.meta["unset"]:
            continue
        message = bounds_error(flag, value)
        if message:
            raise OptionError(message)
        values[flag.path] = value
    values.update({(name,): value for name, value in fixed.items()})
    return _build(cls, values, ())


def _build(cls: type, values: dict, path: tuple[str, ...]) -> Any:
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in fields(cls):
        key = (*path, f.name)
        if key in values:
            kwargs[f.name] = values[key]
        elif "prefix" in f.metadata:
            kwargs[f.name] = _build(_bare(hints[f.name]), values, key)
    return cls(**kwargs)


def to_argv(config) -> list[str]:
    """The options that give `config` back through from_args: each that is not at its
    default, and the required ones."""
    argv = []
    for flag in flags_of(type(config)):
        value = flag.get(config)
        if value == flag.default and not flag.meta.get("required"):
            continue
        if flag.kind is bool:  # --name / --no-name, or the one that is not the default
            if flag.option_default is None:
                argv.append(flag.option if value else "--no-" + flag.option[2:])
            else:
                argv.append(flag.option)
        elif value is not None:
            argv.append(f"{flag.option}={value!r}" if isinstance(value, float)
                        else f"{flag.option}={value}")
    return argv
