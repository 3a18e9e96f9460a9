import numpy as np
import pytest

from train.metrics import PCK_THRESHOLDS_MM, auc, joint_errors_mm, pck, summarize, to_mm


def _pose():
    p = np.zeros((1, 21, 3))
    p[0, :, 0] = np.arange(21) - 9.0  # root (joint 9) at the origin
    return p


def test_epe_rescales_by_ground_truth_bone_and_aligns_root():
    gt = _pose()
    pred = gt.copy()
    pred[0, 4] += [0.0, 0.5, 0.0]  # half a bone off on one joint
    pred = pred + 3.0  # a root offset must not count
    e = joint_errors_mm(pred, gt, np.array([0.02]))  # bone 20 mm
    assert e.shape == (1, 21)
    assert e[0, 4] == pytest.approx(10.0) and np.delete(e[0], 4).max() == pytest.approx(0.0)
    assert summarize(e)["epe_mm"] == pytest.approx(10.0 / 21)
    assert to_mm(gt, np.array([0.03]))[0, 0, 0] == pytest.approx(-270.0)


def test_pck_and_auc_hand_made():
    e = np.array([[10.0, 25.0, 35.0, 60.0]])
    t = np.array([20.0, 30.0, 40.0, 50.0])
    np.testing.assert_allclose(pck(e, t), [0.25, 0.5, 0.75, 0.75])
    # trapezoid: (0.375 + 0.625 + 0.75) * 10 / 30
    assert auc(t, pck(e, t)) == pytest.approx(1.75 / 3)
    assert auc(PCK_THRESHOLDS_MM, pck(np.zeros((2, 21)))) == pytest.approx(1.0)
    assert auc(PCK_THRESHOLDS_MM, pck(np.full((2, 21), 99.0))) == pytest.approx(0.0)
    s = summarize(np.full((3, 21), 30.0))
    assert s["pck_20"] == 0.0 and s["pck_30"] == 1.0 and s["n"] == 3
    assert s["auc_20_50"] == pytest.approx(20.5 / 30)  # 0 until 30 mm, then 1 (trapezoid)


def test_metric_errors():
    with pytest.raises(ValueError, match="empty"):
        pck(np.zeros((0, 21)))
    with pytest.raises(ValueError, match=r"\(N, 21, 3\)"):
        to_mm(np.zeros((2, 20, 3)), np.ones(2))
