"""train/mediapipe2d.py on a real photo: MediaPipe's landmarks carried into the sample's crop."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from model.geometry import box_from_keypoints, crop_camera, transform_points
from train.data.config import SampleConfig
from train.data.sample import RawSample
from train.mediapipe2d import mediapipe_crop_keypoints

PHOTO = Path(__file__).resolve().parents[2] / ".." / "shared" / "realworld" / "photo3.jpg"


class PhotoSet:
    """A one-image 'data set' whose ground truth is MediaPipe's hand, shifted by `shift_px`."""

    augment = False

    def __init__(self, rgb, uv, shift_px):
        self.config = SampleConfig(crop_size=64)
        h, w = rgb.shape[:2]
        self.K = np.array([[w, 0, w / 2], [0, w, h / 2], [0, 0, 1.0]])
        self.rgb, self.uv = rgb, uv + shift_px

    def raw(self, i):
        return RawSample(self.rgb, np.zeros((21, 3)), self.uv, np.ones(21, bool), self.K, 1,
                         None)


@pytest.mark.skipif(not PHOTO.is_file(), reason="../shared/realworld is not available")
def test_mediapipe_keypoints_in_the_crop_and_the_matching_rule():
    mp = pytest.importorskip("mediapipe")
    rgb = cv2.cvtColor(cv2.imread(str(PHOTO)), cv2.COLOR_BGR2RGB)
    h, w = rgb.shape[:2]
    with mp.solutions.hands.Hands(static_image_mode=True, max_num_hands=2) as hands:
        lms = hands.process(rgb).multi_hand_landmarks
    found = np.array([(p.x * w, p.y * h) for p in lms[0].landmark])
    near = PhotoSet(rgb, found, np.array([3.0, -2.0]))
    got = mediapipe_crop_keypoints(near, [0], progress=False)
    cam = crop_camera(near.K, box_from_keypoints(near.uv, margin=1.5), 64)
    np.testing.assert_allclose(got[0], transform_points(cam.H, found), atol=0.5)
    extent = np.ptp(found, axis=0).max()
    far = PhotoSet(rgb, found, np.array([0.8 * extent, 0.0]))
    assert mediapipe_crop_keypoints(far, [0], progress=False) == {}
