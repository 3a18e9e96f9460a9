"""Setting changes made from any thread and applied by the engine's thread before its next frame.

    pending.put(self._set_mirror, True)     # any thread
    pending.apply()                         # the engine's thread: self._set_mirror(True)

Each change is a function and its arguments. A later change through the same function replaces
the earlier one's arguments and keeps its place: changes apply in the order their settings were
first changed, each with its latest value.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial


class PendingChanges:
    def __init__(self):
        self._lock = threading.Lock()
        self._changes: dict[Callable[..., None], partial] = {}

    def put(self, apply: Callable[..., None], *args) -> None:
        with self._lock:
            self._changes[apply] = partial(apply, *args)

    def apply(self) -> None:
        with self._lock:
            changes, self._changes = self._changes, {}
        for change in changes.values():
            change()
