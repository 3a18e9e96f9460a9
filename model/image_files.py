"""Image files the project reads from folders of pictures (the engine's images source,
handtrack-synth's backgrounds, the real-world benchmark): the suffixes, compared lower-case."""

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
