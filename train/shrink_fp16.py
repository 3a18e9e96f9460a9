"""Shrink a training checkpoint for shipping: its inference part, in float16 (the bundled
default model is made this way).

Keeps what the real-time app needs (RGB encoder, pose decoder and, if present, the 2D-keypoint
expert and the point-cloud decoder), in float16 unless --fp32 (half the size; load_inference
casts back to float32), plus the run's config, data settings and metrics. The result is read by
model.checkpoint.load_inference.

    python -m train.shrink_fp16 --checkpoint runs/default/best.pt --out app/assets/default.pt
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from model.checkpoint import CheckpointError, load_inference, read_checkpoint, save_checkpoint


def ship(checkpoint: str | Path, out: str | Path, fp16: bool = True,
         extra_metrics: dict | None = None) -> Path:
    """Write the inference part of `checkpoint` to `out`. Returns out."""
    ckpt = read_checkpoint(checkpoint)
    has_cloud = any(k.startswith("cloud_decoder.") for k in ckpt["state_dict"])
    net, meta = load_inference(checkpoint, with_cloud=has_cloud)
    state = {k: (v.half() if fp16 and v.is_floating_point() else v)
             for k, v in net.state_dict().items()}
    metrics = dict(meta["metrics"]) | dict(extra_metrics or {})
    return save_checkpoint(out, strategy=meta["strategy"], config=meta["config"],
                           data=meta["data"], state_dict=state, metrics=metrics,
                           shipped_from={"path": str(checkpoint), "step": int(ckpt.get("step", 0)),
                                         "fp16": fp16},
                           **({"procedural": ckpt["procedural"]} if "procedural" in ckpt else {}))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m train.shrink_fp16", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="training checkpoint (.pt)")
    p.add_argument("--out", required=True, help="inference checkpoint to write (.pt)")
    p.add_argument("--fp32", action="store_true", help="keep float32 weights (default float16)")
    a = p.parse_args(argv)
    try:
        path = ship(a.checkpoint, a.out, fp16=not a.fp32)
    except (FileNotFoundError, CheckpointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
