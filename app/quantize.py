"""int8 static quantisation of an exported ONNX graph (onnxruntime.quantization).

    feeds = calibration_feeds(info)            # crops of the demo generator's hands
    quantize_onnx(fp32_onnx, out, feeds)       # -> out: same inputs, outputs and metadata

What is quantised: the convolutions (the ResNet-18 RGB encoder, nearly all of the graph's time),
in QDQ form, weights int8 per output channel, activations uint8 with min/max ranges calibrated
on the feeds. The 2D expert's MLP, the product of experts and the decoders stay float32: they
are microseconds, and the latent means they produce are what every decoder reads. onnxruntime
runs the quantised convolutions with VNNI / AMX int8 dot products where the CPU has them
(model.machine.has_int8_dot); elsewhere (AVX2 only) int8 is not faster and can saturate, so
the engine keeps float32 there (app/engine/backends.py).

Calibration crops: frames of the demo generator (train.synth, two hands, two scenes), cut as the
engine cuts them (the viewpoint-corrected crop around the 2D keypoints, box margin 1.4; left
hands mirrored for a right-hands-only network), each fed twice: RGB expert alone and both
experts, with heat maps of the true keypoints. Synthetic, so nothing is downloaded or read
from a data set.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from model.checkpoint import ONNX_METADATA_KEY, ModelInfo

QUANTIZE_MODES = ("auto", "int8", "none")
CALIBRATION_SEEDS = (6, 11)


def calibration_feeds(info: ModelInfo, frames: int = 48) -> list[dict[str, np.ndarray]]:
    """ONNX Runtime feeds (one crop each) for a graph with the inputs of `info`'s network:
    "rgb" (1, 3, S, S) float32 in [0, 1], and for a fused graph "heat" (1, 21, M, M),
    "heat_weight" and "rgb_weight" (1,). `frames` frames in all, split over the scenes."""
    import cv2

    from app.engine.crops import fast_crop_camera, k_inverse
    from app.engine.sources import SourceConfig
    from app.engine.sources.demo import DemoSource
    from app.engine.tracking import keypoint_box
    from model.canonical import mirror_images
    from model.hand import LEFT
    from model.heatmaps import landmarks_to_heatmaps

    S, M = info.crop_size, info.heatmap_size
    per_scene = max(1, frames // len(CALIBRATION_SEEDS))
    feeds = []
    for seed in CALIBRATION_SEEDS:
        src = DemoSource(SourceConfig(kind="demo", demo_hands=2, demo_frames=10 * per_scene,
                                      seed=seed))
        K = src.intrinsics
        K_inv = k_inverse(K)
        for i in range(0, 10 * per_scene, 10):
            frame = src.render(i)
            for hand in frame.truth:
                cam = fast_crop_camera(K, keypoint_box(hand.uv_px, 1.4), S, K_inv)
                crop = cv2.warpPerspective(frame.rgb, cam.H, (S, S), flags=cv2.INTER_LINEAR,
                                           borderMode=cv2.BORDER_CONSTANT)
                rgb = crop.transpose(2, 0, 1)[None].astype(np.float32) / 255.0
                left = np.array([bool(info.canonical_side) and hand.side == LEFT])
                rgb = mirror_images(rgb, left)
                if not info.fused:
                    feeds.append({"rgb": rgb})
                    continue
                heat = mirror_images(landmarks_to_heatmaps(hand.uv_px, cam.H, S, M,
                                                           info.heatmap_sigma_px)[None]
                                     .astype(np.float32), left)
                for w_h in (0.0, 1.0):
                    feeds.append({"rgb": rgb, "heat": heat,
                                  "heat_weight": np.array([w_h], np.float32),
                                  "rgb_weight": np.ones(1, np.float32)})
    return feeds


def quantize_onnx(fp32_onnx: str | Path, out: str | Path,
                  feeds: list[dict[str, np.ndarray]]) -> Path:
    """Quantise the float32 graph fp32_onnx into out (see the module doc), keeping its
    "handtrack" metadata. Returns out."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self):
            self._it = iter(feeds)

        def get_next(self):
            return next(self._it, None)

    quantize_static(str(fp32_onnx), str(out), Reader(), quant_format=QuantFormat.QDQ,
                    per_channel=True, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8, op_types_to_quantize=["Conv"],
                    calibrate_method=CalibrationMethod.MinMax)
    meta = {p.key: p.value for p in onnx.load(str(fp32_onnx), load_external_data=False)
            .metadata_props}
    model = onnx.load(str(out))
    have = {p.key for p in model.metadata_props}
    if ONNX_METADATA_KEY in meta and ONNX_METADATA_KEY not in have:
        entry = model.metadata_props.add()
        entry.key, entry.value = ONNX_METADATA_KEY, meta[ONNX_METADATA_KEY]
        onnx.save(model, str(out))
    return Path(out)
