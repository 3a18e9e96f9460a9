"""The camera intrinsics K of the delivered frames: the source's own camera (the demo, a recorded
session), a calibration file (calibration/), the camera's saved calibration, or a field-of-view
model; cached per frame size."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from app.engine.errors import EngineError
from app.engine.sources import Source


def load_camera_intrinsics(target: int | str | None, size: tuple[int, int],
                           hfov_deg: float) -> tuple[np.ndarray, str, str]:
    """K (3, 3) for frames of size (w, h) through calibration.load_intrinsics: target is a
    calibration file, a camera index (its saved calibration, if any) or None (a field-of-view
    model). Returns (K, source text, one-line message)."""
    from calibration import CalibrationError, load_intrinsics

    try:
        intr = load_intrinsics(target, size[0], size[1], hfov_deg)
    except (CalibrationError, OSError) as e:
        raise EngineError(f"calibration {target}: {e}; calibrate again with handtrack-calibrate "
                          "or drop --calibration") from None
    return np.asarray(intr.K, dtype=np.float64), intr.source, intr.message


class Intrinsics:
    """K of one source's frames. target: what load_camera_intrinsics loads when the source has
    no camera of its own (a calibration file, a camera index or None); hfov_deg: the
    field-of-view model's; on_loaded receives the one-line message of a loaded calibration.
    source_text: where the current K came from."""

    def __init__(self, source: Source, target: int | str | None, hfov_deg: float,
                 on_loaded: Callable[[str], None]):
        self.source = source
        self.target = target
        self.hfov_deg = hfov_deg
        self.on_loaded = on_loaded
        self.source_text = ""
        self._K: np.ndarray | None = None
        self._size: tuple[int, int] | None = None

    def reset(self) -> None:
        """Forget K (the view changed: mirrored or not)."""
        self._K = None

    def __call__(self, size: tuple[int, int]) -> np.ndarray:
        """K (3, 3) for frames of size (w, h); mirrored frames of a calibrated camera get a
        mirrored principal point."""
        if self._K is not None and self._size == size:
            return self._K
        if self.source.intrinsics is not None:
            K = np.asarray(self.source.intrinsics, dtype=np.float64)
            self.source_text = f"{self.source.description} camera"
        else:
            K, self.source_text, message = load_camera_intrinsics(self.target, size,
                                                                  self.hfov_deg)
            self.on_loaded(message)
            if self.source.mirrored and self.source_text.startswith("file:"):
                K = K.copy()
                K[0, 2] = size[0] - 1 - K[0, 2]  # the mirrored image's principal point
        self._K, self._size = K, size
        return K
