"""Errors a user can cause when setting up a sink (SessionError, for reading a recorded session,
is in app.session)."""

from __future__ import annotations


class SinkConfigError(ValueError):
    """A sink cannot be created from its config (bad address, unusable folder...).

    The message names the problem and the fix; a CLI prints it as `error: <message>`."""
