"""Real-hand evaluation: the annotations reader (paste-back keeps one camera), the error
protocols, and handtrack-eval-real on the shared real data (skipped with the reason when
../shared/realhands is absent)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.realeval.annotations import read_annotated
from app.realeval.cli import main
from app.realeval.scoring import aligned_errors_mm, procrustes_errors_mm
from model.geometry import project, rot_x, rot_y

REAL = Path(__file__).resolve().parents[4] / "shared" / "realhands"
needs_real = pytest.mark.skipif(not (REAL / "hgc_val" / "annotations.json").is_file(),
                                reason=f"real hands not found at {REAL} (../shared/realhands)")


def test_protocols_remove_what_they_claim_to():
    rng = np.random.default_rng(0)
    gt = rng.normal(0, 0.04, (21, 3)) + [0, 0, 0.5]
    mask = np.ones(21, bool)
    moved = (gt - gt[9]) * 1.3 + [0.1, 0.0, 0.2]  # shifted and scaled: root alignment undoes it
    assert np.nanmax(aligned_errors_mm(moved, gt, mask)) < 1e-6
    turned = gt @ (rot_y(0.5) @ rot_x(0.3)).T * 0.8 + 0.05  # a similarity: Procrustes undoes it
    assert np.nanmax(procrustes_errors_mm(turned, gt, mask)) < 1e-6
    assert np.nanmean(aligned_errors_mm(turned, gt, mask)) > 5.0
    mask[0] = False
    assert np.isnan(aligned_errors_mm(moved, gt, mask)[0])


@needs_real
def test_pasted_back_crops_keep_one_camera():
    for folder in ("hgc_val", "interhand"):
        n, frames = read_annotated(REAL / folder, max_samples=3)
        assert n == 3
        for frame in frames:
            assert frame.K is not None
            for h in frame.hands:
                uv = project(h.kp3d_m, frame.K)
                err = np.linalg.norm(uv - h.kp2d_px, axis=1)[h.valid]
                assert err.max() < 0.5, (folder, frame.name, err.max())
            if folder == "hgc_val":
                assert frame.rgb.shape == (720, 1280, 3)


@needs_real
def test_eval_real_prints_the_engine_and_both_baselines(capsys, tmp_path):
    assert main([str(REAL / "hgc_val"), "--max-samples", "20", "--no-progress",
                 "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "machine:" in out
    rows = [line.split(" | ") for line in out.splitlines() if line.startswith("| hgc_val")]
    assert [r[1] for r in rows] == ["handtrack", "MediaPipe world landmarks",
                                    "kinematic fit to MediaPipe world landmarks"]
    for r in rows:
        assert r[-1].strip(" |") == "20/20"
        assert 3.0 < float(r[2]) < 40.0 and 1.0 < float(r[3]) < float(r[2])
    ours, mediapipe = rows[0], rows[1]  # default settings beat MediaPipe's own 3D
    assert float(ours[2]) < float(mediapipe[2]) and float(ours[3]) < float(mediapipe[3]), out
    assert (tmp_path / "metrics.json").is_file() and (tmp_path / "results.md").is_file()


@needs_real
def test_the_network_alone_beats_mediapipes_3d_on_real_hands(capsys):
    """The shipped network's own pose (world weight 0 and no 2D refinement: nothing of
    MediaPipe's but the 2D landmarks the 2D expert reads), kinematically fitted and placed, is
    closer to the real ground truth than MediaPipe's world landmarks, EPE and PA (first 20 frames
    of hgc_val: 16.4 / 7.6 against 21.1 / 8.7 mm; all 150: 19.2 / 9.1 against 19.6 / 9.3). The
    model whose 2D expert was trained on renders fails it (20.6 / 9.3 on the 20 frames)."""
    assert main([str(REAL / "hgc_val"), "--max-samples", "20", "--world-weight", "0",
                 "--no-snap-2d", "--no-progress"]) == 0
    out = capsys.readouterr().out
    rows = {r[1]: r for r in (line.split(" | ") for line in out.splitlines()
                              if line.startswith("| hgc_val"))}
    ours, mediapipe = rows["handtrack"], rows["MediaPipe world landmarks"]
    assert float(ours[2]) < float(mediapipe[2]) and float(ours[3]) < float(mediapipe[3]), out


@needs_real
def test_eval_real_on_a_clip_holds_the_hand_on_every_frame(capsys):
    clip = REAL / "video" / "thumbs_640x360.mp4"
    assert main([str(clip), "--max-samples", "30", "--hands", "1", "--no-progress"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines()
               if line.startswith("| thumbs_640x360"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    frames, ref, covered, extra = (int(c) for c in cells[1:5])
    err_mean = float(cells[5])
    assert frames == 30 and ref >= 25
    assert covered == ref  # a hand on every frame where MediaPipe's video mode finds one
    assert extra == 0  # and none where it finds none
    assert err_mean < 8.0


def test_bad_paths_end_in_one_error_line(capsys, tmp_path):
    assert main([str(tmp_path / "missing")]) == 2
    assert main([str(tmp_path)]) == 2  # a folder without annotations.json
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("error: ") for line in err)
    (tmp_path / "annotations.json").write_text("{not json")
    assert main([str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("error: ")
    assert main([str(tmp_path), "--world-weight", "2"]) == 2  # a bad number: one line
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --world-weight")


@needs_real
@pytest.mark.parametrize("mirror", [False, True])
def test_a_real_clip_keeps_one_id_and_the_persons_side_mirrored_or_not(mirror):
    from app.engine import Engine, EngineConfig, SourceConfig

    clip = REAL / "video" / "thumbs_640x360.mp4"
    cfg = EngineConfig(source=SourceConfig(kind="video", path=str(clip), realtime=False,
                                           mirror=mirror))
    with Engine(cfg, on_message=lambda n: None) as engine:
        results = [r for r, _ in engine.run(20)]
    hands = [h for r in results for h in r.hands]
    assert len(results) == 20 and len(hands) == 20  # one hand on every frame
    assert {h.hand_id for h in hands} == {0}  # one id
    sides = {h.side for h in hands}
    assert len(sides) == 1
    test_a_real_clip_keeps_one_id_and_the_persons_side_mirrored_or_not.sides[mirror] = sides
    if len(test_a_real_clip_keeps_one_id_and_the_persons_side_mirrored_or_not.sides) == 2:
        both = test_a_real_clip_keeps_one_id_and_the_persons_side_mirrored_or_not.sides
        assert both[False] == both[True]  # the person's hand either way


test_a_real_clip_keeps_one_id_and_the_persons_side_mirrored_or_not.sides = {}
