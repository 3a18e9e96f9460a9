"""Procedural training samples for the 2D-keypoint expert q(z|H), without rendering: random
hands and webcams (scene.py), a detector's 2D errors measured on real hands (noise.py,
calibrate.py), the engine's crop and heat maps, batched (crops.py, samples.py), and training
of the heat-map encoder against a checkpoint's frozen decoder (trainer.py). CLI: __main__.py."""
