"""Debounced gestures and events per tracked hand, from the per-frame measures of
model.gestures.

Per hand id a `HandGestureState` keeps hysteresis latches (separate on and off levels) for the
finger extension flags and the four pinches, and a debounce: a raw state must hold for
`debounce_s` before it becomes the reported one, so no reported state (and no event) changes
faster than that under noisy input. `GestureTracker.update(hands, time_s, mirrored)` attaches an
`Interaction` to every HandResult and forgets the state of tracks that ended.

Gesture codes (int, for TouchDesigner and other receivers): none 0, open_palm 1, grab 2,
point 3, thumbs_up 4, victory 5. Event codes: a gesture event carries its gesture's code;
pinch_{finger}_start 11..14 and pinch_{finger}_end 21..24 (index 1 .. little 4).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.results import (  # noqa: F401 (the types live in app.results, re-exported here)
    GESTURE_CODES,
    GESTURES,
    GestureEvent,
    Interaction,
)
from model.gestures import FINGER_NAMES, HandMeasures, MeasureConfig, measure

PINCH_START_CODE = 10  # + finger (1 index .. 4 little)
PINCH_END_CODE = 20


@dataclass
class GestureConfig:
    """Hysteresis and debounce of the gestures (0..1 levels of model.gestures' measures).

    extend_on / extend_off: a finger becomes extended below curl extend_on and stops being
    extended above extend_off. pinch_on / pinch_off: pinch strength levels of a pinch start and
    end. grab_on / grab_off: grab strength levels of a fist. debounce_s: how long a raw state
    must hold before it is reported (seconds). enabled: off
    leaves HandResult.interaction None."""

    enabled: bool = True
    extend_on: float = 0.30
    extend_off: float = 0.45
    pinch_on: float = 0.80
    pinch_off: float = 0.55
    grab_on: float = 0.65
    grab_off: float = 0.50
    debounce_s: float = 0.10
    measure: MeasureConfig = field(default_factory=MeasureConfig)


def classify(extended: tuple[bool, ...], grabbing: bool) -> str:
    """Extension flags (5, thumb first) and the grab latch -> the raw gesture name."""
    t, i, m, r, l = extended
    if all(extended):
        return "open_palm"
    if not (i or m or r or l):
        if t:
            return "thumbs_up"
        return "grab" if grabbing else "none"
    if i and not (m or r or l):
        return "point"
    if i and m and not (r or l):
        return "victory"
    return "none"


class _Debounced:
    """A value that changes only after a new raw value held for debounce_s."""

    def __init__(self, value) -> None:
        self.value = value
        self._candidate = value
        self._since = 0.0

    def update(self, raw, time_s: float, debounce_s: float) -> bool:
        """Feed one raw value; returns True when the reported value changed."""
        if raw == self.value:
            self._candidate = raw
            return False
        if raw != self._candidate:
            self._candidate, self._since = raw, time_s
        if time_s - self._since >= debounce_s:
            self.value = raw
            return True
        return False


class HandGestureState:
    """Latches and debouncers of one tracked hand."""

    def __init__(self, config: GestureConfig) -> None:
        self.config = config
        self._ext_raw = [False] * 5
        self._pinch_raw = [False] * 4
        self._grab_raw = False
        self._started = False
        self._ext = _Debounced((False,) * 5)
        self._pinch = [_Debounced(False) for _ in range(4)]
        self._gesture = _Debounced("none")

    def update(self, m: HandMeasures, time_s: float) -> Interaction:
        c = self.config
        for f in range(5):
            on = self._ext_raw[f]
            self._ext_raw[f] = m.curl[f] < c.extend_off if on else m.curl[f] < c.extend_on
        for f in range(4):
            on = self._pinch_raw[f]
            self._pinch_raw[f] = m.pinch[f] > c.pinch_off if on else m.pinch[f] > c.pinch_on
        self._grab_raw = m.grab > c.grab_off if self._grab_raw else m.grab > c.grab_on
        raw_gesture = classify(tuple(self._ext_raw), self._grab_raw)
        if not self._started:  # a new track starts from its first frame, without waiting
            self._started = True
            self._ext.value = self._ext._candidate = tuple(self._ext_raw)
            self._gesture.value = self._gesture._candidate = raw_gesture
            events = [GestureEvent(raw_gesture, GESTURE_CODES[raw_gesture])] \
                if raw_gesture != "none" else []
            for f, d in enumerate(self._pinch):
                d.value = d._candidate = self._pinch_raw[f]
                if d.value:
                    events.append(GestureEvent(f"pinch_{FINGER_NAMES[f + 1]}_start",
                                               PINCH_START_CODE + f + 1))
            return self._result(m, events)
        events: list[GestureEvent] = []
        self._ext.update(tuple(self._ext_raw), time_s, c.debounce_s)
        if self._gesture.update(raw_gesture, time_s, c.debounce_s) and \
                self._gesture.value != "none":
            events.append(GestureEvent(self._gesture.value, GESTURE_CODES[self._gesture.value]))
        for f, d in enumerate(self._pinch):
            if d.update(self._pinch_raw[f], time_s, c.debounce_s):
                kind, base = ("start", PINCH_START_CODE) if d.value else ("end", PINCH_END_CODE)
                events.append(GestureEvent(f"pinch_{FINGER_NAMES[f + 1]}_{kind}", base + f + 1))
        return self._result(m, events)

    def _result(self, m: HandMeasures, events: list[GestureEvent]) -> Interaction:
        return Interaction(m, tuple(bool(e) for e in self._ext.value),
                           tuple(bool(d.value) for d in self._pinch), self._gesture.value, events)


class GestureTracker:
    """Gesture state per hand id; `update` attaches HandResult.interaction to every hand."""

    def __init__(self, config: GestureConfig | None = None) -> None:
        self.config = config or GestureConfig()
        self._states: dict[int, HandGestureState] = {}

    def reset(self) -> None:
        self._states.clear()

    def update(self, hands: list, time_s: float, mirrored: bool = False) -> None:
        """hands: HandResult list of one frame (interaction set in place); time_s: capture time
        (seconds). Tracks absent from this frame are forgotten (ids are never reused)."""
        live = {h.hand_id for h in hands}
        for hid in [k for k in self._states if k not in live]:
            del self._states[hid]
        for h in hands:
            state = self._states.get(h.hand_id)
            if state is None:
                state = self._states[h.hand_id] = HandGestureState(self.config)
            m = measure(h.joints_m, h.side, mirrored, self.config.measure, h.uv_px)
            h.interaction = state.update(m, time_s)

