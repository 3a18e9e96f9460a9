"""Notices: the one-line messages the engine reports while it runs (backend chosen, camera lost,
a setting refused), each with its level, so that a window can show them without reading the text.

    engine = Engine(config, on_message=lambda notice: print(notice))   # the headless form

level: "info" (worth a glance: the backend in use, the intrinsics), "warning" (something the
user should fix or know: a stale model file, a truncated video, a refused setting) or "error"
(the input stopped: the camera is lost). topic: what the notice is about where a view keeps it
apart: "backend" (the backend now in use; its text is "backend: <description>"), "source" (the
input: lost, back, damaged), else "".
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass

LEVELS = ("info", "warning", "error")


@dataclass(frozen=True)
class Notice:
    level: str
    text: str
    topic: str = ""

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"notice level must be one of {', '.join(LEVELS)}, got "
                             f"{self.level!r}")

    def __str__(self) -> str:
        """The terminal line: warnings start with "warning: ", the others are the text."""
        return f"warning: {self.text}" if self.level == "warning" else self.text


NoticeSink = Callable[[Notice], None]


def info(text: str, topic: str = "") -> Notice:
    return Notice("info", text, topic)


def warning(text: str, topic: str = "") -> Notice:
    return Notice("warning", text, topic)


def error(text: str, topic: str = "") -> Notice:
    return Notice("error", text, topic)


def print_problems(notice: Notice) -> None:
    """The channel when nobody listens: warnings and errors on stderr, info dropped."""
    if notice.level != "info":
        print(notice, file=sys.stderr, flush=True)


def warning_channel(sink: NoticeSink, topic: str = "") -> Callable[[str], None]:
    """A text callback (a source's on_message, open_backend's warn) that hands each line to sink
    as a warning; a leading "warning: " (sources write it for the terminal) is not repeated."""
    return lambda text: sink(Notice("warning", text.removeprefix("warning: "), topic))
