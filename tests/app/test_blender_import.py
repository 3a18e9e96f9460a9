"""The exported BVH imported into Blender (its own BVH importer, headless, through the bpy module)
reproduces the recorded joints: every joint, the tips included, is the head of one of Blender's
pose bones. Optional: needs the `blender` extra (bpy, 374 MB); bpy runs in a subprocess, never in
the pytest process (which already has torch and mediapipe loaded)."""

from __future__ import annotations

import json
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from app.anim_export import SKELETON, TIP_END_M, to_y_up
from app.anim_export import main as export_main
from app.sinks import read_session
from model.hand import JOINT_NAMES, LEFT, RIGHT
from tests.app.test_anim_export import record_session

# The importer's default axes (BVH forward -Z, up Y) turn the BVH's frame (y up) into Blender's
# (z up, forward y): blender = BVH_TO_BLENDER @ bvh, i.e. (x, y, z) -> (x, -z, y).
AXIS_FORWARD, AXIS_UP = "-Z", "Y"
BVH_TO_BLENDER = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])

BLENDER_SCRIPT = """
import json, sys
import bpy

out = {}
out_json, axis_forward, axis_up, *paths = sys.argv[1:]
for path in paths:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    res = bpy.ops.import_anim.bvh(
        filepath=path, target="ARMATURE", global_scale=1.0, frame_start=1,
        axis_forward=axis_forward, axis_up=axis_up, rotate_mode="NATIVE", use_fps_scale=False,
        update_scene_fps=True, update_scene_duration=True, use_cyclic=False)
    scene = bpy.context.scene
    arms = [o for o in scene.objects if o.type == "ARMATURE"]
    assert res == {"FINISHED"} and len(arms) == 1, (res, arms)
    arm = arms[0]
    first, last = arm.animation_data.action.frame_range  # (frame_end only grows past 250)
    frames = []
    for f in range(int(round(first)), int(round(last)) + 1):
        scene.frame_set(f)
        frames.append({pb.name: list(arm.matrix_world @ pb.head) for pb in arm.pose.bones})
    tips = {pb.name: (arm.matrix_world @ pb.tail - arm.matrix_world @ pb.head).length
            for pb in arm.pose.bones if not pb.children}  # last frame: tail at the End Site
    out[path] = {"fps": scene.render.fps / scene.render.fps_base, "first": first,
                 "frames": frames, "tip_bone_m": tips}
with open(out_json, "w") as fh:
    json.dump(out, fh)
"""


@lru_cache(maxsize=1)
def _bpy_missing() -> str | None:
    """None when `import bpy` works in a subprocess of this interpreter, else why not."""
    try:
        r = subprocess.run([sys.executable, "-c", "import bpy"], capture_output=True, text=True,
                           timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"import bpy in a subprocess failed: {e}"
    return None if r.returncode == 0 else (r.stderr.strip().splitlines() or ["?"])[-1]


def blender_heads(tmp_path: Path, bvhs: list[Path]) -> dict[str, dict]:
    """Per BVH file: {"fps": scene fps, "frames": [ {bone name: world head (3,)} ]} by Blender."""
    script, out = tmp_path / "blender_import.py", tmp_path / "blender_heads.json"
    script.write_text(BLENDER_SCRIPT)
    r = subprocess.run([sys.executable, str(script), str(out), AXIS_FORWARD, AXIS_UP,
                        *map(str, bvhs)],
                       capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return json.loads(out.read_text())


def test_blender_imports_bvh_at_the_recorded_joints(tmp_path):
    why = _bpy_missing()
    if why is not None:
        print(f"skipped: {why}")
        pytest.skip("Blender's bpy is not installed: pip install -e '.[blender]' (374 MB)")
    n = 20
    record_session(tmp_path / "s", [[(0, RIGHT), (1, LEFT)]] * n)  # 30 fps, with rigs
    assert export_main([str(tmp_path / "s"), "--format", "bvh"]) == 0
    bvhs = sorted((tmp_path / "s" / "anim").glob("*.bvh"))
    assert [p.name for p in bvhs] == ["hand0.bvh", "hand1.bvh"]
    s = read_session(tmp_path / "s", check_video=False)
    got_all = blender_heads(tmp_path, bvhs)
    errs = []
    for path in bvhs:
        got = got_all[str(path)]
        assert got["fps"] == pytest.approx(30.0, rel=1e-5)  # Frame Time 0.0333333
        assert got["first"] == 1 and len(got["frames"]) == n
        assert sorted(got["frames"][0]) == sorted(j.name for j in SKELETON)
        assert sorted(got["tip_bone_m"]) == sorted(k for k in JOINT_NAMES if k.endswith("_tip"))
        assert np.allclose(list(got["tip_bone_m"].values()), TIP_END_M, atol=1e-6)
        # Blender: a bone per BVH joint, head at the joint (the tip's bone ends at the End Site)
        heads = np.array([[fr[name] for name in JOINT_NAMES] for fr in got["frames"]])
        bvh_frame = heads @ BVH_TO_BLENDER  # row vectors: bvh = BVH_TO_BLENDER.T @ blender
        hand_id = int(path.stem[4:])
        want = to_y_up(np.array([h.joints_m for fr in s.frames for h in fr.hands
                                 if h.hand_id == hand_id]))
        errs.append(np.linalg.norm(bvh_frame - want, axis=-1))
    err = np.concatenate(errs)
    print(f"Blender BVH import vs recorded joints: max {err.max() * 1e3:.4f} mm, "
          f"mean {err.mean() * 1e3:.4f} mm over {err.size} joint positions")
    assert err.max() <= 1e-3
