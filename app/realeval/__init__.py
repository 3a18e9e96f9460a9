"""Evaluation on real hands: annotated images (3D ground truth) and real video clips (against
MediaPipe's own landmarks), through the real engine path. `handtrack-eval-real` (cli.py)."""
