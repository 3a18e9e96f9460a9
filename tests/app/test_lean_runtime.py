"""The lean runtime: with the onnxruntime backend `handtrack` runs without PyTorch (and without
train/, bar the demo's generator train.synth), so it starts fast and stays small."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.engine import DEFAULT_CHECKPOINT
from model.checkpoint import onnx_path_of

ROOT = Path(__file__).resolve().parents[2]

# Run in the child first: every import of torch or torchvision fails, as on a machine without
# them.
NO_TORCH = """
import importlib.abc, sys

class NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "torchvision"):
            raise ImportError(f"No module named {name!r} (blocked by the test)")
        return None

sys.meta_path.insert(0, NoTorch())
"""

# Printed by the child last: the heavy or training modules it imported (scipy.linalg: numba's
# BLAS probe, skipped at start-up).
REPORT = """
import json
print(json.dumps(sorted(m for m in sys.modules
                        if m.split(".")[0] in ("torch", "torchvision", "train")
                        or m == "scipy.linalg")))
"""


def _child(code: str, timeout_s: float = 120.0) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "HANDTRACK_CHECKPOINT"}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout_s)


def _imported(proc: subprocess.CompletedProcess) -> list[str]:
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_importing_the_cli_imports_neither_torch_nor_train():
    proc = _child("import sys\nimport app.launch\nimport app.cli\nimport app.export\n" + REPORT)
    assert proc.returncode == 0, proc.stderr
    assert _imported(proc) == []


def test_headless_demo_runs_on_onnxruntime_without_torch():
    pytest.importorskip("onnxruntime")
    pytest.importorskip("mediapipe")
    assert onnx_path_of(DEFAULT_CHECKPOINT).is_file()
    code = NO_TORCH + """
from app.cli import main
rc = main(["--demo", "--headless", "--frames", "5", "--backend", "onnxruntime"])
print("rc", rc)
""" + REPORT
    proc = _child(code)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "rc 0" in proc.stdout, proc.stderr[-3000:]
    assert "frames 5" in proc.stdout and "p50 / p95" in proc.stdout
    assert "backend: onnxruntime" in proc.stderr and "warning: " not in proc.stderr
    imported = _imported(proc)
    assert "scipy.linalg" not in imported
    assert all(m == "train" or m.startswith("train.synth") for m in imported)


def test_without_torch_an_onnx_of_another_checkpoint_file_is_one_error_line(tmp_path):
    """A checkpoint file other than the one the .onnx was exported from cannot be compared
    without PyTorch: --backend onnxruntime refuses it, auto cannot fall back to torch; each is
    one `error:` line naming the fix, exit status 2."""
    pytest.importorskip("onnxruntime")
    ckpt = tmp_path / "m.pt"
    ckpt.write_bytes(b"another checkpoint file")
    onnx_path_of(ckpt).symlink_to(onnx_path_of(DEFAULT_CHECKPOINT))
    for backend, needle in (("onnxruntime", "without PyTorch"),
                            ("auto", "PyTorch is not installed")):
        code = NO_TORCH + f"""
from app.cli import main
sys.exit(main(["--demo", "--headless", "--frames", "2", "--checkpoint", {str(ckpt)!r},
               "--backend", {backend!r}]))
"""
        proc = _child(code)
        assert proc.returncode == 2, proc.stderr[-3000:]
        errors = [x for x in proc.stderr.splitlines() if x.startswith("error: ")]
        assert len(errors) == 1 and needle in errors[0], proc.stderr[-3000:]
        assert f"handtrack-export --checkpoint {ckpt}" in errors[0]
        assert "Traceback" not in proc.stderr
