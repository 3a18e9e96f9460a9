"""The engine's thread pools, set once per process so that they share the cores without spinning
against each other.

- MediaPipe: a process of its own (app/engine/detect_process.py) when the detector works ahead,
  fixed to one core, the last this process may use (pin_to_last_core; DetectorConfig.own_core,
  `--no-detector-core` leaves it free): its desktop build runs its TFLite models on one XNNPACK
  thread, so one core costs it nothing (alone on 2 cores of a Xeon: 6.6-7.0 ms per frame on one
  core, 6.9-7.1 on both), while free to move it took the core the engine's threads were on at
  moments and ran 7-11 % slower than alone; fixed, the engine's threads keep the other core.
  Every handtrack process fixes its detector to the same core: with several on one machine,
  all but one should run with `--no-detector-core`.
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
import os
from pathlib import Path


@functools.cache
def limit_helper_pools() -> None:
    """numpy's BLAS and OpenCV to one thread, for the whole process (once)."""
    import cv2
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")
    cv2.setNumThreads(1)


def pin_to_last_core(pid: int) -> int | None:
    """Fix every thread of process `pid` (one of ours) to the last core this process may run
    on (Linux: sched_setaffinity; threads it starts later inherit it). Returns that core, or
    None where there is nothing to gain (one core) or the system does not allow it."""
    try:
        cores = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None
    if len(cores) < 2:
        return None
    tasks = Path(f"/proc/{pid}/task")
    try:
        tids = [int(t.name) for t in tasks.iterdir()] if tasks.is_dir() else [pid]
    except OSError:
        tids = [pid]
    try:
        os.sched_setaffinity(pid, {cores[-1]})
    except OSError:
        return None
    for tid in tids:
        if tid != pid:
            try:
                os.sched_setaffinity(tid, {cores[-1]})
            except OSError:  # a thread that has ended since
                pass
    return cores[-1]
