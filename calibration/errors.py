"""Errors a user can cause while calibrating or loading a calibration."""


class CalibrationError(ValueError):
    """One line: what is wrong and what to do. The CLI prints it as `error: <message>`."""
