"""HandResult.interaction (app.results.Interaction) as plain JSON types, shared by the
UDP JSON sink and the --json lines."""

from __future__ import annotations


def interaction_json(inter) -> dict:
    """Interaction or None -> the per-hand keys of the UDP schema ({} when None):
    "pinch": [4 floats 0..1, index .. little], "grab": float 0..1, "curl": [5 floats, thumb
    first], "palm": {"position_m": [x, y, z], "normal": [3], "direction": [3]} (camera frame,
    unit vectors; the normal points out of the palm), "extended": [5 bools, thumb first],
    "pinching": [4 bools], "gesture": name, "gesture_code": int,
    "events": [{"name": str, "code": int}] (docs/osc-udp.md lists the codes)."""
    if inter is None:
        return {}
    m = inter.measures

    def r(a, n=4):
        return [round(float(v), n) for v in a]

    return {"pinch": r(m.pinch), "grab": round(float(m.grab), 4), "curl": r(m.curl),
            "palm": {"position_m": r(m.palm_m, 6), "normal": r(m.palm_normal),
                     "direction": r(m.palm_direction)},
            "extended": [bool(e) for e in inter.extended],
            "pinching": [bool(p) for p in inter.pinching],
            "gesture": inter.gesture, "gesture_code": int(inter.gesture_code),
            "events": [{"name": e.name, "code": int(e.code)} for e in inter.events]}
