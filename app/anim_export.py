"""handtrack-export-anim: a recorded session's hands as skeletal animations (BVH or glTF 2.0).

It works from the recorded joints (frames.csv) through model.rig's inverse kinematics, so every
session exports, also those recorded with --no-anatomy or before rigs were recorded. One
animation per hand id and *part*: a hand's track is cut where the hand was lost for one or more
recorded frames (gaps are never filled), where its side changed, where its wrist jumped more
than 15 cm from one frame to the next (two hands whose ids swapped), or where its bone lengths
changed (the engine's rest skeleton, recorded in rig.csv, took a new hand size); a
track in one part is `hand{id}.bvh`, a track in several parts
`hand{id}_part{k}.bvh` (k from 1), likewise `.glb`.

Skeleton (both formats, names in `SKELETON`): root `wrist` (position and rotation), per finger a
`{finger}_base` joint at the wrist (the rotation of the wrist -> CMC/MCP bone), then the finger's
joints (model.hand.JOINT_NAMES) down to the tip; each joint rotates the bone that starts at it,
relative to its parent (model.rig), the tips never rotate. Rest pose: model.rig's rest directions
(straight fingers) with the part's median bone lengths. Units: metres. Axes: y up (x right,
y up, z towards the camera: the camera frame turned half a turn about x), as glTF and most BVH
tools expect. BVH: root channels Xposition Yposition Zposition Xrotation Zrotation Yrotation,
joints Xrotation Zrotation Yrotation (degrees; R = Rx Rz Ry, no gimbal lock at a 90 degree finger
flexion about x); Frame Time = the session's median frame interval. glTF: a .glb with one node
per joint (no mesh, no skin) and one animation (wrist translation, every rotation; LINEAR).

Sessions recorded with rigs (rig.csv) have constant bone lengths per track, so the export
reproduces their recorded joints to float precision; older sessions have the per-frame bone
changes of the filter and the fit, which a constant skeleton cannot follow.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import numpy as np

from model.hand import JOINT_NAMES
from model.rig import (
    bone_lengths_of,
    inverse_kinematics,
    qmul,
    rest_directions,
)

FORMATS = ("bvh", "gltf")
FINGERS = ("thumb", "index", "middle", "ring", "little")
# Half a turn about x: camera frame (y down, z forward) -> y up, z towards the camera.
_Y_UP = np.diag([1.0, -1.0, -1.0])
_Y_UP_Q = np.array([0.0, 1.0, 0.0, 0.0])
BONE_CHANGE_M = 1e-4  # a bone length change beyond this starts a new part
TIP_END_M = 0.005  # BVH End Site beyond each tip
WRIST_JUMP_M = 0.15  # a wrist move beyond this between two frames (ids swapped) starts a part


@dataclass(frozen=True)
class SkeletonJoint:
    """One joint of the exported skeleton: name, parent (index in SKELETON, -1 root), bone: the
    model.hand.BONES index whose rotation it carries (-1: the wrist root or a tip), offset_bone:
    the bone whose rest vector is its offset from the parent (-1: at the parent)."""

    name: str
    parent: int
    bone: int
    offset_bone: int


def _skeleton() -> tuple[SkeletonJoint, ...]:
    joints = [SkeletonJoint("wrist", -1, -1, -1)]
    for f, finger in enumerate(FINGERS):
        parent = len(joints)
        joints.append(SkeletonJoint(f"{finger}_base", 0, 4 * f, -1))
        for k in range(4):  # base joint (CMC / MCP) .. tip
            bone = 4 * f + k + 1 if k < 3 else -1
            joints.append(SkeletonJoint(JOINT_NAMES[1 + 4 * f + k], parent, bone, 4 * f + k))
            parent = len(joints) - 1
    return tuple(joints)


SKELETON = _skeleton()  # 26 joints: wrist, then per finger base + 4 joints
JOINT_OF = {j.name: i for i, j in enumerate(SKELETON)}  # MediaPipe joints by name (and more)


class AnimExportError(Exception):
    """A user-caused problem; the message is one line with the fix."""


@dataclass
class AnimConfig:
    """session: folder; format: "bvh" | "gltf"; out: output folder (default SESSION/anim)."""

    session: str | Path
    format: str = "bvh"
    out: str | Path | None = None


@dataclass
class HandPart:
    """One continuous stretch of a hand's track.

    hand_id, part (1-based), side; frames (n,) session frame ids; joints_m (n, 21, 3) metres,
    camera frame, as recorded.
    """

    hand_id: int
    part: int
    side: int
    frames: np.ndarray
    joints_m: np.ndarray


@dataclass
class PartRig:
    """A part's animation in the export axes (y up): wrist_wxyz (n, 4), wrist_m (n, 3),
    local_wxyz (n, 20, 4), bone_m (20,) metres, rest (20, 3) unit rest directions."""

    wrist_wxyz: np.ndarray
    wrist_m: np.ndarray
    local_wxyz: np.ndarray
    bone_m: np.ndarray
    rest: np.ndarray

    def offsets(self) -> np.ndarray:
        """(26, 3) each skeleton joint's rest offset from its parent, metres."""
        out = np.zeros((len(SKELETON), 3))
        for i, j in enumerate(SKELETON):
            if j.offset_bone >= 0:
                out[i] = self.bone_m[j.offset_bone] * self.rest[j.offset_bone]
        return out

    def rotations(self) -> np.ndarray:
        """(n, 26, 4) each skeleton joint's local rotation (tips: identity), w x y z."""
        n = self.wrist_wxyz.shape[0]
        out = np.zeros((n, len(SKELETON), 4))
        out[..., 0] = 1.0
        out[:, 0] = self.wrist_wxyz
        for i, j in enumerate(SKELETON):
            if j.bone >= 0:
                out[:, i] = self.local_wxyz[:, j.bone]
        return out


def to_y_up(points: np.ndarray) -> np.ndarray:
    """Camera-frame points (..., 3) -> the export axes (y up, z towards the camera)."""
    return np.asarray(points, dtype=np.float64) @ _Y_UP


# ------------------------------------------------------------------ parts of the tracks
def hand_parts(frames: Sequence) -> list[HandPart]:
    """The session's FrameResults -> every hand's parts (cut at gaps, side and bone changes
    and wrist jumps), ordered by hand id then part."""
    runs: dict[int, list[list]] = {}  # hand id -> parts -> [(index, frame id, side, joints,
    for index, f in enumerate(frames):  #                       rest bones of the rig or None)]
        for h in f.hands:
            parts = runs.setdefault(int(h.hand_id), [])
            item = (index, f.frame_id, int(h.side), np.asarray(h.joints_m, dtype=np.float64),
                    None if h.rig is None else np.asarray(h.rig.bone_m, np.float64))
            if parts:
                last, first = parts[-1][-1], parts[-1][0]
                same_bones = (item[4] is None or first[4] is None
                              or np.abs(item[4] - first[4]).max() <= BONE_CHANGE_M)
                jump = np.linalg.norm(item[3][0] - last[3][0])  # wrist, m
                if (last[0] == index - 1 and last[2] == item[2] and same_bones
                        and jump <= WRIST_JUMP_M):
                    parts[-1].append(item)
                    continue
            parts.append([item])
    out = []
    for hand_id in sorted(runs):
        for k, items in enumerate(runs[hand_id], start=1):
            out.append(HandPart(hand_id, k, items[0][2], np.array([i[1] for i in items]),
                                np.stack([i[3] for i in items])))
    return out


def part_file_stem(part: HandPart, parts_of_hand: int) -> str:
    return f"hand{part.hand_id}" if parts_of_hand == 1 else f"hand{part.hand_id}_part{part.part}"


def part_rig(part: HandPart) -> PartRig:
    """Inverse kinematics of a part in the export axes, with its median bone lengths."""
    joints = to_y_up(part.joints_m)
    # The y-up turn is a proper rotation: IK in camera axes, then turn the root only.
    q0, p0, local = inverse_kinematics(part.joints_m, part.side)
    q0 = qmul(_Y_UP_Q, q0)
    bones = np.median(bone_lengths_of(part.joints_m), axis=0)
    return PartRig(q0, joints[:, 0], local, bones, np.asarray(rest_directions(part.side)))


def frame_time_s(frames: Sequence, meta: dict) -> float:
    """The session's median frame interval (s); meta's fps (or 30 Hz) when it has < 2 frames."""
    times = np.array([f.capture_time for f in frames], dtype=np.float64)
    dt = np.diff(times)
    dt = dt[dt > 0]
    if dt.size:
        return float(np.median(dt))
    fps = (meta.get("video") or {}).get("fps") if isinstance(meta.get("video"), dict) else None
    return 1.0 / float(fps) if fps else 1.0 / 30.0


# ------------------------------------------------------------------ BVH
def _euler_xzy_deg(q: np.ndarray) -> np.ndarray:
    """Quaternions (..., 4) w x y z -> intrinsic X, Z, Y angles (..., 3) degrees, R = Rx Rz Ry."""
    from scipy.spatial.transform import Rotation

    flat = np.asarray(q, dtype=np.float64).reshape(-1, 4)
    rot = Rotation.from_quat(flat[:, [1, 2, 3, 0]])  # scipy: x y z w
    return rot.as_euler("XZY", degrees=True).reshape(q.shape[:-1] + (3,))


def bvh_text(rig: PartRig, frame_time: float) -> str:
    """The BVH file of one part (layout in the module docstring)."""
    offsets = rig.offsets()
    children = {i: [k for k, j in enumerate(SKELETON) if j.parent == i]
                for i in range(len(SKELETON))}
    lines = ["HIERARCHY"]

    def f(v) -> str:
        return " ".join(f"{x:.7f}" for x in v)

    def emit(i: int, depth: int) -> None:
        pad = "  " * depth
        j = SKELETON[i]
        if i == 0:
            lines.append(f"ROOT {j.name}")
        else:
            lines.append(f"{pad}JOINT {j.name}")
        lines.append(f"{pad}{{")
        lines.append(f"{pad}  OFFSET {f(offsets[i])}")
        if i == 0:
            lines.append(f"{pad}  CHANNELS 6 Xposition Yposition Zposition "
                         "Xrotation Zrotation Yrotation")
        else:
            lines.append(f"{pad}  CHANNELS 3 Xrotation Zrotation Yrotation")
        for c in children[i]:
            emit(c, depth + 1)
        if not children[i]:  # a tip: a short End Site along its bone
            end = rig.rest[SKELETON[i].offset_bone] * TIP_END_M
            lines.extend([f"{pad}  End Site", f"{pad}  {{", f"{pad}    OFFSET {f(end)}",
                          f"{pad}  }}"])
        lines.append(f"{pad}}}")

    emit(0, 0)
    order = []  # joints in the order of the hierarchy (depth first), as MOTION lists them

    def walk(i: int) -> None:
        order.append(i)
        for c in children[i]:
            walk(c)

    walk(0)
    angles = _euler_xzy_deg(rig.rotations()[:, order])  # (n, 26, 3)
    n = angles.shape[0]
    lines += ["MOTION", f"Frames: {n}", f"Frame Time: {frame_time:.7f}"]
    motion = np.concatenate([rig.wrist_m, angles.reshape(n, -1)], axis=1)
    lines += [" ".join(f"{x:.6f}" for x in row) for row in motion]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ glTF
def gltf_document(rig: PartRig, frame_time: float, name: str):
    """The glTF 2.0 document (pygltflib.GLTF2, binary blob set) of one part."""
    import pygltflib as g

    n = rig.wrist_wxyz.shape[0]
    times = (np.arange(n) * frame_time).astype(np.float32)
    rot = rig.rotations()[..., [1, 2, 3, 0]].astype(np.float32)  # glTF: x y z w
    trans = rig.wrist_m.astype(np.float32)
    blobs = [times.tobytes(), trans.tobytes()] + [rot[:, i].tobytes()
                                                  for i in range(len(SKELETON))]
    offsets = rig.offsets()
    doc = g.GLTF2(asset=g.Asset(version="2.0", generator="handtrack-export-anim"))
    doc.scenes = [g.Scene(nodes=[0])]
    doc.scene = 0
    doc.nodes = [g.Node(name=j.name, translation=offsets[i].tolist(),
                        children=[k for k, c in enumerate(SKELETON) if c.parent == i] or None)
                 for i, j in enumerate(SKELETON)]
    views, accessors, pos = [], [], 0
    for k, blob in enumerate(blobs):
        views.append(g.BufferView(buffer=0, byteOffset=pos, byteLength=len(blob)))
        kind = g.SCALAR if k == 0 else (g.VEC3 if k == 1 else g.VEC4)
        acc = g.Accessor(bufferView=k, componentType=g.FLOAT, count=n, type=kind)
        if k == 0:
            acc.min, acc.max = [float(times[0])], [float(times[-1])]
        accessors.append(acc)
        pos += len(blob)
    doc.bufferViews, doc.accessors = views, accessors
    doc.buffers = [g.Buffer(byteLength=pos)]
    samplers = [g.AnimationSampler(input=0, output=1, interpolation="LINEAR")]
    channels = [g.AnimationChannel(sampler=0, target=g.AnimationChannelTarget(
        node=0, path="translation"))]
    for i in range(len(SKELETON)):
        samplers.append(g.AnimationSampler(input=0, output=2 + i, interpolation="LINEAR"))
        channels.append(g.AnimationChannel(sampler=len(samplers) - 1,
                                           target=g.AnimationChannelTarget(node=i,
                                                                           path="rotation")))
    doc.animations = [g.Animation(name=name, samplers=samplers, channels=channels)]
    doc.set_binary_blob(b"".join(blobs))
    return doc


# ------------------------------------------------------------------ files
def _atomic_write(path: Path, write) -> None:
    """write(temp_path) then rename onto path (no half-written file at path)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def export_session(config: AnimConfig, frames: Sequence | None = None,
                   meta: dict | None = None) -> list[Path]:
    """Write one animation per hand part of config.session; returns the paths. frames/meta: an
    already read session (the recorder's close passes its own). Raises AnimExportError."""
    if config.format not in FORMATS:
        raise AnimExportError(f"unknown format {config.format!r}; use one of "
                              f"{', '.join(FORMATS)}")
    session = Path(config.session)
    if frames is None:
        from app.session import SessionError, read_session

        try:
            s = read_session(session, check_video=False)
        except SessionError as e:
            raise AnimExportError(str(e)) from None
        frames, meta = s.frames, s.meta
    parts = hand_parts(frames)
    if not parts:
        raise AnimExportError(f"{session}: the session has no tracked hands, nothing to "
                              "export; record again with a hand in view")
    out = Path(config.out) if config.out is not None else session / "anim"
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise AnimExportError(f"--out {out}: cannot create it ({e}); choose a folder you can "
                              "write to") from None
    dt = frame_time_s(frames, meta or {})
    per_hand = {p.hand_id: sum(q.hand_id == p.hand_id for q in parts) for p in parts}
    written = []
    for part in parts:
        stem = part_file_stem(part, per_hand[part.hand_id])
        rig = part_rig(part)
        if config.format == "bvh":
            path = out / f"{stem}.bvh"
            text = bvh_text(rig, dt)
            _atomic_write(path, lambda p, text=text: p.write_text(text, encoding="utf-8"))
        else:
            path = out / f"{stem}.glb"
            doc = gltf_document(rig, dt, stem)
            _atomic_write(path, lambda p, doc=doc: doc.save_binary(str(p)))
        written.append(path)
    return written


class _Parser(argparse.ArgumentParser):
    """A bad command line is one `error: <problem>; see --help` line and exit status 2."""

    def error(self, message: str) -> NoReturn:
        message = message.removeprefix("argument ")
        if ";" not in message:
            message += f"; see {self.prog} --help"
        self.exit(2, f"error: {message}\n")


def main(argv: list[str] | None = None) -> int:
    p = _Parser(prog="handtrack-export-anim",
               description="Write a recorded session's hands as skeletal animations: one BVH or "
                           "glTF (.glb) file per hand id and continuous part (docs/recording.md).")
    p.add_argument("session", metavar="SESSION", help="a session folder (handtrack --record)")
    p.add_argument("--format", choices=FORMATS, default="bvh", help="bvh (default) or gltf")
    p.add_argument("--out", metavar="DIR", help="output folder (default SESSION/anim)")
    try:
        args = p.parse_args(argv)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 2
    try:
        paths = export_session(AnimConfig(args.session, args.format, args.out))
    except (AnimExportError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for path in paths:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
