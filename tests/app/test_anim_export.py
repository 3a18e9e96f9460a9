"""handtrack-export-anim and the rig's way through the sinks: BVH read back with bvhio (its own
parser and forward kinematics) and glTF read with pygltflib reproduce the recorded joints; gaps,
side changes and sessions without hands or without rig.csv."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from app.anim_export import main as export_main
from app.anim_export import to_y_up
from app.engine.rigging import TrackRigs
from app.results import FrameResult, HandResult
from app.sinks import Recorder, RecorderConfig, read_session
from app.sinks.osc import OscSink
from app.sinks.udp import encode_frame
from model.hand import JOINT_NAMES, LEFT, RIGHT, mirror_x
from model.kinematics import POSE_HI, POSE_LO, Skeleton, forward_kinematics
from model.rig import rig_joints

CLIP = Path(__file__).resolve().parents[2] / ".." / "shared" / "realhands" / "video" / \
    "thumb_up_1280x720.mp4"


# ------------------------------------------------------------------ independent readers
def bvh_joints(path: Path) -> np.ndarray:
    """(n, 21, 3) world positions of the MediaPipe joints, by bvhio's forward kinematics."""
    import bvhio

    root = bvhio.readAsHierarchy(str(path))
    by_name = {j.Name: j for j, _, _ in root.layout()}
    out = np.zeros((len(root.Keyframes), 21, 3))
    for i in range(len(out)):
        root.loadPose(i)
        for k, name in enumerate(JOINT_NAMES):
            p = by_name[name].PositionWorld
            out[i, k] = (p.x, p.y, p.z)
    return out


def _matrix(t, q) -> np.ndarray:
    x, y, z, w = q
    M = np.eye(4)
    M[:3, :3] = [[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                 [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                 [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]]
    M[:3, 3] = t
    return M


def gltf_joints(path: Path) -> np.ndarray:
    """(n, 21, 3) node world positions from pygltflib's parsed TRS data and animation."""
    import pygltflib

    doc = pygltflib.GLTF2().load(str(path))
    blob = doc.binary_blob()

    def data(i):
        a = doc.accessors[i]
        width = {"SCALAR": 1, "VEC3": 3, "VEC4": 4}[a.type]
        off = doc.bufferViews[a.bufferView].byteOffset + (a.byteOffset or 0)
        return np.frombuffer(blob, np.float32, a.count * width, off).reshape(a.count, width)

    anim = doc.animations[0]
    n = doc.accessors[anim.samplers[0].input].count
    T = [np.tile(nd.translation or [0, 0, 0], (n, 1)).astype(float) for nd in doc.nodes]
    R = [np.tile(nd.rotation or [0, 0, 0, 1], (n, 1)).astype(float) for nd in doc.nodes]
    for ch in anim.channels:
        (T if ch.target.path == "translation" else R)[ch.target.node] = \
            data(anim.samplers[ch.sampler].output)
    parent = {c: i for i, nd in enumerate(doc.nodes) for c in (nd.children or [])}
    names = [nd.name for nd in doc.nodes]
    out = np.zeros((n, 21, 3))
    for f in range(n):
        world: dict[int, np.ndarray] = {}

        def W(i, f=f, world=world):
            if i not in world:
                M = _matrix(T[i][f], R[i][f])
                world[i] = M if i not in parent else W(parent[i]) @ M
            return world[i]

        for k, name in enumerate(JOINT_NAMES):
            out[f, k] = W(names.index(name))[:3, 3]
    return out


# ------------------------------------------------------------------ synthetic sessions
def _hand(hand_id, side, pose, offset) -> HandResult:
    joints, _ = forward_kinematics(pose, Skeleton.mean())
    if side == LEFT:
        joints = mirror_x(joints)
    joints = joints @ np.diag([1.0, -1.0, -1.0]) + offset  # fingers up in the image
    return HandResult(hand_id, side, joints, np.zeros((21, 2)), 0.9)


def record_session(path: Path, plan, rig=True) -> list[FrameResult]:
    """plan: per frame a list of (hand_id, side); joints from smooth random poses. Returns the
    FrameResults as recorded."""
    rng = np.random.default_rng(3)
    rigs, frames = TrackRigs(), []
    with Recorder(RecorderConfig(path=path, video=False)) as rec:
        for i, hands in enumerate(plan):
            t = i / 30
            hs = [_hand(hid, side, POSE_LO + (POSE_HI - POSE_LO) * (0.5 + 0.4 * np.sin(
                t * 3 + np.arange(21) + hid)), [0.1 * hid, 0.0, 0.5]) for hid, side in hands]
            for h in hs:  # the filter's independent jitter: bone lengths vary before the rig
                h.joints_m = h.joints_m + rng.normal(0, 1e-3, (21, 3)).astype(np.float32)
            if rig:
                rigs.apply(hs)
            r = FrameResult(i, 1000.0 + t, 640, 480, hs)
            rec.write(r)
            frames.append(r)
    return frames


def _check(session: Path, fmt: str, tol_m: float = 1e-6) -> dict[str, float]:
    s = read_session(session, check_video=False)
    reader = bvh_joints if fmt == "bvh" else gltf_joints
    errs = {}
    for f in sorted((session / "anim").glob("*.bvh" if fmt == "bvh" else "*.glb")):
        hand_id = int(f.stem.split("_")[0][4:])
        got = reader(f)
        want = [h.joints_m for fr in s.frames for h in fr.hands if h.hand_id == hand_id]
        part = f.stem.split("_part")
        if len(part) == 2:  # the parts in order: count off the earlier parts' frames
            lens = [len(reader(g)) for g in sorted(session.glob(f"anim/hand{hand_id}_part*"))
                    if int(g.stem.split("_part")[1]) < int(part[1])]
            want = want[sum(lens):]
        want = to_y_up(np.array(want[:len(got)]))
        errs[f.name] = float(np.linalg.norm(got - want, axis=-1).max())
    assert errs and max(errs.values()) < tol_m, errs
    return errs


GAP_AND_TWO = ([[(0, RIGHT), (1, LEFT)]] * 6 + [[(1, LEFT)]] * 3 + [[]]
               + [[(0, RIGHT), (1, LEFT)]] * 5)


@pytest.mark.parametrize("fmt,ext", [("bvh", "bvh"), ("gltf", "glb")])
def test_export_reproduces_recorded_joints(tmp_path, fmt, ext, capsys):
    record_session(tmp_path / "s", GAP_AND_TWO)
    assert export_main([str(tmp_path / "s"), "--format", fmt]) == 0
    names = sorted(p.name for p in (tmp_path / "s" / "anim").iterdir())
    # hand 0 lost for 4 frames: two parts; hand 1 lost in the empty frame: two parts as well
    assert names == [f"hand0_part1.{ext}", f"hand0_part2.{ext}", f"hand1_part1.{ext}",
                     f"hand1_part2.{ext}"]
    errs = _check(tmp_path / "s", fmt)
    print(f"{fmt} round trip, max error per file (m): {errs}")


def test_rig_travels_through_recorder_udp_and_osc(tmp_path):
    frames = record_session(tmp_path / "s", [[(0, RIGHT)]] * 3)
    s = read_session(tmp_path / "s", check_video=False)
    got, want = s.frames[2].hands[0].rig, frames[2].hands[0].rig
    np.testing.assert_array_equal(got.local_wxyz, want.local_wxyz)
    np.testing.assert_array_equal(got.bone_m, want.bone_m)
    np.testing.assert_allclose(rig_joints(got, RIGHT), s.frames[2].hands[0].joints_m, atol=1e-6)
    rot = json.loads(encode_frame(frames[2]))["hands"][0]["rot"]
    np.testing.assert_allclose(rot["local_wxyz"], want.local_wxyz, atol=1e-6)
    assert len(rot["wrist_wxyz"]) == 4 and len(rot["bone_m"]) == 20
    msgs = OscSink.__new__(OscSink)._rot_messages("/handtrack", frames[2].hands[0])
    assert msgs[0].address == "/handtrack/hand/0/rot" and len(msgs[0].params) == 84


def test_session_without_rig_reads_and_exports(tmp_path):
    """Older sessions (no rig.csv): hands read with rig None; the export still runs on the
    recorded joints (a constant skeleton cannot follow their bone changes exactly)."""
    record_session(tmp_path / "s", [[(0, RIGHT)]] * 4, rig=False)
    (tmp_path / "s" / "rig.csv").unlink()
    assert read_session(tmp_path / "s", check_video=False).frames[0].hands[0].rig is None
    assert export_main([str(tmp_path / "s")]) == 0
    assert _check(tmp_path / "s", "bvh", tol_m=0.01)


def test_side_change_splits_the_track(tmp_path):
    record_session(tmp_path / "s", [[(0, RIGHT)]] * 3 + [[(0, LEFT)]] * 3)
    assert export_main([str(tmp_path / "s"), "--format", "gltf", "--out",
                        str(tmp_path / "out")]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["hand0_part1.glb",
                                                                    "hand0_part2.glb"]


def test_swapped_ids_split_the_track(tmp_path):
    """Hand 0 jumps to where hand 1 was (the tracker swapped them): a new part, no animation
    that flies the wrist across the picture in one frame."""
    frames = record_session(tmp_path / "s", [[(0, RIGHT)]] * 3)
    from app.anim_export import hand_parts

    for h in frames[2].hands:
        h.joints_m = h.joints_m + np.float32([0.3, 0, 0])
    assert [len(p.frames) for p in hand_parts(frames)] == [2, 1]


def test_session_without_hands_is_a_clear_error(tmp_path, capsys):
    record_session(tmp_path / "s", [[]] * 3)
    assert export_main([str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "no tracked hands" in err[0]
    assert not (tmp_path / "s" / "anim").exists() or not any((tmp_path / "s" / "anim").iterdir())


def test_missing_session_is_a_clear_error(tmp_path, capsys):
    assert export_main([str(tmp_path / "nope")]) == 2
    assert capsys.readouterr().err.startswith("error: ")


@pytest.mark.skipif(not CLIP.is_file(), reason=f"{CLIP} is absent (../shared not checked out)")
def test_real_clip_record_bvh(tmp_path):
    """handtrack --video (real hands) --record --record-bvh: bvhio reproduces the joints."""
    from app.cli import main

    assert main(["--video", str(CLIP), "--headless", "--frames", "30", "--record",
                 str(tmp_path / "s"), "--record-bvh"]) == 0
    if not list((tmp_path / "s" / "anim").glob("*.bvh")):
        pytest.skip("no hand tracked in the clip's first 30 frames")
    print(f"real clip, bvh max error per file (m): {_check(tmp_path / 's', 'bvh')}")
