"""handtrack train."""
