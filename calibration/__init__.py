"""handtrack calibration."""
