"""One Euro filter (Casiez, Roussel, Vogel, CHI 2012) for jittery keypoints, one per hand id.

Each element of an array is filtered independently: a low-pass filter whose cutoff frequency
rises with the element's speed, cutoff = min_cutoff + beta * |dx/dt| (Hz). Slow motion is
smoothed strongly (little jitter), fast motion passes with little lag.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from model.config_flags import option


@dataclass
class FilterConfig:
    """enabled: smoothing on/off. For joints in metres: min_cutoff_hz, beta (1/m: cutoff gain
    per m/s of speed). For keypoints in pixels: min_cutoff_px_hz, beta_px (per px/s).
    d_cutoff_hz: cutoff of the speed estimate."""

    enabled: bool = option(True, "turn the One Euro filter off", flag="smoothing")
    min_cutoff_hz: float = option(0.7, "One Euro min cutoff (Hz; default {default:g})",
                                  flag="min-cutoff",
                                  what="a cutoff frequency in Hz (above 0)", gt=0.0)
    beta: float = option(30.0, "One Euro beta (1/m)", what="a One Euro beta (1/m, 0 or more)",
                         ge=0.0)
    min_cutoff_px_hz: float = 1.5
    beta_px: float = 0.5
    d_cutoff_hz: float = 1.0


def _alpha(cutoff_hz: np.ndarray | float, dt_s: float) -> np.ndarray | float:
    tau = 1.0 / (2.0 * math.pi * cutoff_hz)
    return 1.0 / (1.0 + tau / dt_s)


class OneEuroFilter:
    """Filters arrays of a fixed shape over time. __call__(x, t_s) -> smoothed x (same shape)."""

    def __init__(self, min_cutoff_hz: float, beta: float, d_cutoff_hz: float = 1.0):
        self.min_cutoff_hz = min_cutoff_hz
        self.beta = beta
        self.d_cutoff_hz = d_cutoff_hz
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t: float | None = None

    def reset(self) -> None:
        self._x = self._dx = self._t = None

    def __call__(self, x: np.ndarray, t_s: float) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if self._x is None or self._x.shape != x.shape or self._t is None or t_s <= self._t:
            self._x, self._dx, self._t = x.copy(), np.zeros_like(x), t_s
            return x.copy()
        dt = t_s - self._t
        dx = (x - self._x) / dt
        self._dx = self._dx + _alpha(self.d_cutoff_hz, dt) * (dx - self._dx)
        cutoff = self.min_cutoff_hz + self.beta * np.abs(self._dx)
        self._x = self._x + _alpha(cutoff, dt) * (x - self._x)
        self._t = t_s
        return self._x.copy()


class HandFilters:
    """One pair of One Euro filters (joints in metres, keypoints in pixels) per hand id. A filter
    starts fresh for a new id; ids that are not seen in a frame are forgotten."""

    def __init__(self, config: FilterConfig | None = None):
        self.config = config or FilterConfig()
        self._filters: dict[int, tuple[OneEuroFilter, OneEuroFilter]] = {}

    def reset(self) -> None:
        self._filters.clear()

    def apply(self, hand_id: int, joints_m: np.ndarray, uv_px: np.ndarray,
              t_s: float) -> tuple[np.ndarray, np.ndarray]:
        """joints_m (21, 3), uv_px (21, 2), t_s: capture time in seconds. Returns both smoothed
        (unchanged when the filter is disabled)."""
        if not self.config.enabled:
            return joints_m, uv_px
        c = self.config
        if hand_id not in self._filters:
            self._filters[hand_id] = (OneEuroFilter(c.min_cutoff_hz, c.beta, c.d_cutoff_hz),
                                      OneEuroFilter(c.min_cutoff_px_hz, c.beta_px, c.d_cutoff_hz))
        fj, fu = self._filters[hand_id]
        return fj(joints_m, t_s), fu(uv_px, t_s)

    def keep_only(self, hand_ids) -> None:
        """Forget the filters of ids that are gone (a returning hand gets a new id anyway)."""
        keep = set(hand_ids)
        for k in [k for k in self._filters if k not in keep]:
            del self._filters[k]
