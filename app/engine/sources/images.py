"""A folder of pictures, each its own frame; truncated JPEGs are found and named."""

from __future__ import annotations

import re
import time
from pathlib import Path

import cv2
import numpy as np

from app.engine.errors import EngineError
from app.engine.sources.base import Source, SourceConfig, SourceFrame, bgr_to_rgb
from app.results import FrameOrigin
from model.image_files import IMAGE_SUFFIXES

# a JPEG marker: 0xFF, then a code that is not a stuffed zero, a restart marker (both occur
# inside entropy-coded data) or another 0xFF (fill bytes)
_JPEG_MARKER = re.compile(rb"\xff([^\x00\xd0-\xd7\xff])")


def jpeg_is_complete(path: str | Path) -> bool:
    """False when the file is a JPEG whose data stops before the end-of-image marker (a file
    cut short by an interrupted copy or download); True otherwise, also for other formats.
    Walks the marker segments from SOI to the first EOI, so bytes after EOI (a phone's appended
    motion clip) and thumbnails inside EXIF do not count."""
    data = Path(path).read_bytes()
    if not data.startswith(b"\xff\xd8"):
        return True
    pos = 2
    while (m := _JPEG_MARKER.search(data, pos)) is not None:
        code = m.group(1)[0]
        if code == 0xD9:  # EOI
            return True
        pos = m.end()
        if code == 0x01:  # TEM: no length
            continue
        if pos + 2 > len(data):
            return False
        pos += int.from_bytes(data[pos:pos + 2], "big")  # the segment (entropy data follows SOS)
    return False



class ImageFolderSource(Source):
    """The images of a folder in name order (jpg, png, bmp, webp, tif), each its own frame size;
    frames are independent (no tracking from one picture to the next)."""

    independent_frames = True

    def __init__(self, config: SourceConfig, path: str | Path | None = None):
        self.config = config
        self.path = Path(path if path is not None else config.path or "")
        self.mirrored = config.mirrored
        self.description = f"images {self.path}"
        if not self.path.is_dir():
            raise EngineError(f"image folder {self.path} does not exist; check the path given "
                              "to --images")
        self.files = sorted(p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.files:
            raise EngineError(f"image folder {self.path} has no images "
                              f"({', '.join(IMAGE_SUFFIXES)}); pass a folder of pictures")
        self.truncated: set[Path] = set()  # JPEGs cut short (warned once each)
        first = self._load(self.files[0])
        self._size = (first.shape[1], first.shape[0])
        self._next = 0
        self.fps = config.fps or 30.0

    def _load(self, path: Path) -> np.ndarray:
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise EngineError(f"image {path} cannot be read (corrupt or not an image); remove it "
                              "from the folder")
        if path not in self.truncated and not jpeg_is_complete(path):
            self.truncated.add(path)  # libjpeg decodes what is there and greys out the rest
            self.notice(f"warning: image {path} is truncated (the JPEG data ends early), so part "
                        "of the picture is missing; copy or export it again")
        return bgr

    @property
    def size(self) -> tuple[int, int]:
        return self._size

    def read(self) -> SourceFrame | None:
        if self._next >= len(self.files):
            if not self.config.loop:
                return None
            self._next = 0
        path, index = self.files[self._next], self._next
        bgr = self._load(path)
        self._next += 1
        self._size = (bgr.shape[1], bgr.shape[0])
        return SourceFrame(bgr_to_rgb(bgr, self.mirrored), time.time(),
                           origin=FrameOrigin("images", index, path.name))
