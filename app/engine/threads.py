"""The engine's thread pools, set once per process so that they share the cores without spinning
against each other.

- MediaPipe: a process of its own (app/engine/detect_process.py) when the detector works ahead,
  one core: its desktop build runs its TFLite models on one XNNPACK thread.
- onnxruntime: intra-op threads = all cores, or all but one when MediaPipe's process runs beside
  it (app.engine.engine.Engine._threads_for); no busy-waiting between runs (BackendConfig.spin).
- torch backend: half the cores (its OpenMP workers busy-wait).
- The kinematic fit (model/anatomy_fast.py): compiled, single-threaded, without the GIL.
- numpy's BLAS and OpenCV: one thread (limit_helper_pools). The engine's matrices are 3x3 to
  63x63 and its images crops of 128 px: a pool's wake-up costs more than it saves, and waking
  threads on a core that MediaPipe or onnxruntime holds costs milliseconds.
"""

from __future__ import annotations

import functools


@functools.cache
def limit_helper_pools() -> None:
    """numpy's BLAS and OpenCV to one thread, for the whole process (once)."""
    import cv2
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")
    cv2.setNumThreads(1)
