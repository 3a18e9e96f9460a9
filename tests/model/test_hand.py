import json

import numpy as np
import pytest

from model import hand
from model.hand import BONES, LEFT, RIGHT, SIDE_NAMES, Joint, Side


def test_joint_order_is_mediapipe():
    assert Joint.WRIST == 0 and Joint.THUMB_TIP == 4 and Joint.INDEX_MCP == 5
    assert Joint.MIDDLE_MCP == 9 and Joint.LITTLE_TIP == 20
    assert len(Joint) == hand.NUM_JOINTS == 21


def test_sides_are_plain_ints_where_stored():
    assert (Side.LEFT, Side.RIGHT) == (LEFT, RIGHT) == (0, 1)
    assert SIDE_NAMES == ("left", "right") and SIDE_NAMES[RIGHT] == "right"
    # CSV cells, JSON and text show the number, as before the enum
    assert f"{RIGHT}" == str(RIGHT) == "1" and json.dumps([LEFT, RIGHT]) == "[0, 1]"
    assert 1 - RIGHT == LEFT and np.array([LEFT, RIGHT]).dtype.kind == "i"


def test_bones_form_a_tree_rooted_at_the_wrist():
    assert len(BONES) == 20
    children = [c for _, c in BONES]
    assert sorted(children) == list(range(1, 21))
    # every parent is the wrist or a joint of the same finger one step closer to the base
    for p, c in BONES:
        assert p == 0 or p == c - 1
    assert (Joint.WRIST, Joint.THUMB_CMC) in BONES and (Joint.INDEX_DIP, Joint.INDEX_TIP) in BONES


def test_rhd_converter_matches_hand_written_expectation():
    rhd = np.arange(21)[:, None].astype(float)  # value = RHD index
    can = hand.from_rhd(rhd)[:, 0]
    # RHD: 1-4 thumb tip->MCP, 5-8 index tip->MCP, 9-12 middle, 13-16 ring, 17-20 little
    assert can[Joint.WRIST] == 0
    assert can[Joint.THUMB_TIP] == 1 and can[Joint.THUMB_CMC] == 4
    assert can[Joint.INDEX_TIP] == 5 and can[Joint.INDEX_MCP] == 8
    assert can[Joint.MIDDLE_MCP] == 12 and can[Joint.MIDDLE_PIP] == 11  # the literature's root/bone
    assert can[Joint.LITTLE_TIP] == 17 and can[Joint.LITTLE_MCP] == 20


def test_stb_converter_matches_hand_written_expectation():
    stb = np.zeros((21, 3))
    stb[:, 0] = np.arange(21)  # x = STB index
    can = hand.from_stb(stb)
    # STB: 0 palm, 1-4 little MCP->tip, 5-8 ring, 9-12 middle, 13-16 index, 17-20 thumb
    assert can[Joint.LITTLE_MCP, 0] == 1 and can[Joint.LITTLE_TIP, 0] == 4
    assert can[Joint.INDEX_MCP, 0] == 13 and can[Joint.THUMB_CMC, 0] == 17
    assert can[Joint.THUMB_TIP, 0] == 20 and can[Joint.MIDDLE_MCP, 0] == 9
    # wrist extrapolated from the palm centre: 2 * palm - middle MCP = 2 * 0 - 9
    assert can[Joint.WRIST, 0] == -9


@pytest.mark.parametrize("batch", [(), (4,), (2, 3)])
def test_converters_round_trip(batch):
    rng = np.random.default_rng(0)
    x = rng.normal(size=batch + (21, 3))
    np.testing.assert_allclose(hand.from_rhd(hand.to_rhd(x)), x)
    np.testing.assert_allclose(hand.to_rhd(hand.from_rhd(x)), x)
    np.testing.assert_allclose(hand.from_stb(hand.to_stb(x)), x, atol=1e-12)
    np.testing.assert_allclose(hand.to_stb(hand.from_stb(x)), x, atol=1e-12)


def test_wrong_shape_names_argument():
    with pytest.raises(ValueError, match=r"joints must have shape \(\.\.\., 21, D\)"):
        hand.from_rhd(np.zeros((20, 3)))


def test_mirror_and_bone_lengths():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(21, 3))
    np.testing.assert_allclose(hand.bone_lengths(hand.mirror_x(x)), hand.bone_lengths(x))
    assert hand.bone_lengths(x).shape == (20,)
