"""handtrack model."""
