"""Sources (video, image folder, camera errors, demo ground truth) and the capture thread."""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest

from app.engine.capture import FrameGrabber
from app.engine.errors import EngineError
from app.engine.sources import (
    CameraSource,
    ImageFolderSource,
    Source,
    SourceConfig,
    SourceFrame,
    VideoSource,
    open_source,
)


def _write_clip(path, frames: list[np.ndarray], fourcc: str = "MJPG", fps: float = 25.0):
    """Write BGR frames (H, W, 3) uint8 as a video file; returns path."""
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    for f in frames:
        writer.write(f)
    writer.release()
    return path


def _frames(n: int, w: int = 64, h: int = 48) -> list[np.ndarray]:
    """Distinct BGR frames: frame i has a white square at x = 4 i."""
    out = []
    for i in range(n):
        f = np.zeros((h, w, 3), np.uint8)
        f[10:20, 4 * i:4 * i + 10] = 255
        out.append(f)
    return out


def test_video_source_reads_frames_and_mirrors(tmp_path):
    path = _write_clip(tmp_path / "clip.avi", _frames(5))
    src = VideoSource(SourceConfig(kind="video", path=str(path)))
    assert src.size == (64, 48) and src.fps == pytest.approx(25.0)
    got = []
    while (fr := src.read()) is not None:
        got.append(fr.rgb)
    src.close()
    assert len(got) == 5
    assert got[2][15, 8:18].mean() > 200 and got[2][15, 0:4].mean() < 50  # white square
    mirrored = VideoSource(SourceConfig(kind="video", path=str(path), mirror=True))
    first = mirrored.read().rgb
    mirrored.close()
    np.testing.assert_array_equal(first, got[0][:, ::-1])


def test_bad_video_paths_are_clear_errors(tmp_path):
    with pytest.raises(EngineError, match="does not exist"):
        open_source(SourceConfig(kind="video", path=str(tmp_path / "missing.mp4")))
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video" * 100)
    with pytest.raises(EngineError, match="cannot be read"):
        open_source(SourceConfig(kind="video", path=str(bad)))


def test_image_folder(tmp_path):
    for i, f in enumerate(_frames(3)):
        cv2.imwrite(str(tmp_path / f"{i:03d}.png"), f)
    src = ImageFolderSource(SourceConfig(kind="images", path=str(tmp_path)))
    assert src.independent_frames
    frames = [src.read() for _ in range(4)]
    assert frames[3] is None and all(f.rgb.shape == (48, 64, 3) for f in frames[:3])
    (tmp_path / "004.png").write_bytes(b"corrupt")
    src = ImageFolderSource(SourceConfig(kind="images", path=str(tmp_path)))
    with pytest.raises(EngineError, match="cannot be read"):
        for _ in range(5):
            src.read()
    with pytest.raises(EngineError, match="no images"):
        ImageFolderSource(SourceConfig(kind="images", path=str(tmp_path / "..")))


def test_missing_camera_is_a_clear_error():
    with pytest.raises(EngineError, match="--camera"):
        CameraSource(SourceConfig(kind="camera", camera=97))


def test_demo_source_ground_truth_projects_onto_its_pixels():
    from app.engine.sources.demo import DemoSource
    from model.geometry import project

    for mirror in (False, True):
        src = DemoSource(SourceConfig(kind="demo", demo_hands=2, mirror=mirror, width=320,
                                      height=240))
        f = src.render(5)
        assert f.rgb.shape == (240, 320, 3) and len(f.truth) == 2
        assert sorted(gt.side for gt in f.truth) == [0, 1]
        for gt in f.truth:
            np.testing.assert_allclose(project(gt.joints_m, src.intrinsics), gt.uv_px, atol=1e-6)
    plain = DemoSource(SourceConfig(kind="demo", width=320, height=240)).render(5)
    flipped = DemoSource(SourceConfig(kind="demo", width=320, height=240, mirror=True)).render(5)
    # same scene, mirrored: the hand's pixels swap sides
    assert plain.truth[0].uv_px[:, 0].mean() + flipped.truth[0].uv_px[:, 0].mean() == \
        pytest.approx(319.0)


class CountingSource(Source):
    """Frame i carries i in pixel (0, 0); fails once after fail_at frames (a camera unplugged)."""

    live = True
    description = "counting"

    def __init__(self, fps: float = 500.0, fail_at: int | None = None):
        self.period, self.i, self.fail_at, self.reopened = 1.0 / fps, 0, fail_at, 0

    @property
    def size(self):
        return (8, 8)

    def read(self):
        time.sleep(self.period)
        if self.fail_at is not None and self.i == self.fail_at and not self.reopened:
            return None
        rgb = np.zeros((8, 8, 3), np.uint8)
        rgb[0, 0, 0] = self.i % 256
        self.i += 1
        return SourceFrame(rgb, time.time())

    def reopen(self):
        self.reopened += 1
        return True


def test_grabber_keeps_only_the_latest_frame():
    with FrameGrabber(CountingSource(fps=500.0)) as grabber:
        ids, lat = [], []
        for _ in range(10):
            item = grabber.get(timeout=2.0)
            lat.append(time.time() - item.frame.capture_time)
            ids.append(item.frame_id)
            time.sleep(0.03)  # a consumer 15x slower than the source
    assert grabber.dropped > 0
    assert np.all(np.diff(ids) > 1)
    assert max(lat) < 0.03, lat  # the frame handed over is always fresh


def test_grabber_without_dropping_delivers_every_frame():
    src = CountingSource(fps=1000.0)
    src.live = False
    with FrameGrabber(src, drop=False) as grabber:
        values = []
        for _ in range(20):
            item = grabber.get(timeout=2.0)
            values.append(int(item.frame.rgb[0, 0, 0]))
            time.sleep(0.002)
    assert values == list(range(20)) and grabber.dropped == 0


def test_grabber_reconnects_a_lost_camera():
    messages = []
    src = CountingSource(fps=1000.0, fail_at=5)
    with FrameGrabber(src, reconnect_s=0.01, on_message=messages.append) as grabber:
        got = [grabber.get(timeout=2.0) for _ in range(10)]
    assert all(g is not None for g in got)
    assert grabber.reconnects == 1 and src.reopened == 1
    assert any("lost" in str(m) for m in messages) and any("back" in str(m) for m in messages)


def test_grabber_stop_from_another_thread():
    grabber = FrameGrabber(CountingSource(fps=100.0)).start()
    threading.Timer(0.1, grabber.stop).start()
    t0 = time.time()
    while grabber.get(timeout=1.0) is not None:
        pass
    assert time.time() - t0 < 1.5


def _write_avi(path, n: int = 30):
    rng = np.random.default_rng(0)  # noise: every frame is large, so a cut loses many frames
    return _write_clip(path, [rng.integers(0, 255, (48, 64, 3), dtype=np.uint8) for _ in range(n)])


def _read_all(src, limit: int = 1000) -> int:
    n = 0
    while n < limit and src.read() is not None:
        n += 1
    return n


@pytest.mark.parametrize("loop", [False, True])
def test_truncated_video_warns_once_with_the_promised_count(tmp_path, loop):
    full = _write_avi(tmp_path / "full.avi")
    cut = tmp_path / "cut.avi"
    cut.write_bytes(full.read_bytes()[:full.stat().st_size // 2])
    src = VideoSource(SourceConfig(kind="video", path=str(cut), loop=loop))
    messages = []
    src.on_message = messages.append
    assert src.frames_promised == 30
    n = _read_all(src, limit=80 if loop else 1000)  # with loop: more than two passes
    src.close()
    assert (n == 80) if loop else (0 < n < 30)
    assert len(messages) == 1, messages
    assert messages[0].startswith(f"warning: video {cut} ended after ") and "of the 30 frames" \
        in messages[0] and "truncated" in messages[0]


def test_complete_video_does_not_warn(tmp_path, capsys):
    src = VideoSource(SourceConfig(kind="video", path=str(_write_avi(tmp_path / "a.avi"))))
    assert _read_all(src) == 30
    src.close()
    assert capsys.readouterr().err == ""


def test_video_warning_goes_to_stderr_without_a_message_channel(tmp_path, capsys):
    full = _write_avi(tmp_path / "full.avi")
    cut = tmp_path / "cut.avi"
    cut.write_bytes(full.read_bytes()[:full.stat().st_size // 2])
    src = VideoSource(SourceConfig(kind="video", path=str(cut)))
    _read_all(src)
    src.close()
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: video "), lines


def test_truncated_mp4_is_a_clear_error(tmp_path):
    path = _write_clip(tmp_path / "clip.mp4", _frames(10), "mp4v")
    path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])  # its index (moov) is gone
    with pytest.raises(EngineError, match="cannot be read"):
        VideoSource(SourceConfig(kind="video", path=str(path)))


def _jpeg(path, progressive: bool = False):
    img = np.random.default_rng(1).integers(0, 255, (96, 128, 3), dtype=np.uint8)
    cv2.imwrite(str(path), img, [cv2.IMWRITE_JPEG_PROGRESSIVE, int(progressive)])
    return path


@pytest.mark.parametrize("progressive", [False, True])
def test_truncated_jpeg_warns_once_naming_the_file(tmp_path, progressive):
    _jpeg(tmp_path / "000.jpg", progressive)
    cut = _jpeg(tmp_path / "001.jpg", progressive)
    cut.write_bytes(cut.read_bytes()[:cut.stat().st_size // 2])
    _jpeg(tmp_path / "002.jpg", progressive)
    src = ImageFolderSource(SourceConfig(kind="images", path=str(tmp_path), loop=True))
    messages = []
    src.on_message = messages.append
    frames = [src.read() for _ in range(7)]  # more than two passes
    assert all(f is not None and f.rgb.shape == (96, 128, 3) for f in frames)  # still processed
    assert len(messages) == 1 and str(cut) in messages[0] and "truncated" in messages[0], messages
    assert src.truncated == {cut}


def test_complete_jpegs_and_appended_data_do_not_warn(tmp_path):
    from app.engine.sources.images import jpeg_is_complete

    plain = _jpeg(tmp_path / "a.jpg")
    assert jpeg_is_complete(plain) and jpeg_is_complete(_jpeg(tmp_path / "p.jpg", True))
    data = plain.read_bytes()
    motion = tmp_path / "motion.jpg"  # a phone's motion photo: a clip after the JPEG's end
    motion.write_bytes(data + b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    assert jpeg_is_complete(motion)
    for cut in (len(data) - 2, len(data) // 2, 200, 3):
        (tmp_path / "cut.jpg").write_bytes(data[:cut])
        assert not jpeg_is_complete(tmp_path / "cut.jpg"), cut
    (tmp_path / "x.png").write_bytes(b"\x89PNG not a jpeg")
    assert jpeg_is_complete(tmp_path / "x.png")  # other formats: not this check's business
