"""handtrack app."""
