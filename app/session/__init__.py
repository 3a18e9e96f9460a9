"""The session format (Qt-free): the folder a recording writes (app.session.layout), its CSV rows
(app.session.rows), meta.json (app.session.meta) and the reader (read_session). Below both the
sources (replay) and the sinks (the recorder), so neither depends on the other's code."""

from app.session.errors import SessionError
from app.session.reader import Session, VideoFrame, read_session

__all__ = ["Session", "SessionError", "VideoFrame", "read_session"]
