"""Scene pieces of a synthetic frame: camera, lights, backgrounds, clutter and sensor effects.

Images here are float32 (H, W, 3) RGB in [0, 1] (display / sRGB values) unless noted.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from model.image_files import IMAGE_SUFFIXES

# Colour of a black-body light (normalised RGB) at a few temperatures (K), interpolated.
_KELVIN = np.array([2700.0, 3500.0, 4500.0, 5500.0, 6500.0, 7500.0])
_KELVIN_RGB = np.array([
    [1.00, 0.66, 0.37],
    [1.00, 0.76, 0.55],
    [1.00, 0.86, 0.75],
    [1.00, 0.94, 0.89],
    [1.00, 1.00, 1.00],
    [0.90, 0.93, 1.00],
])


def kelvin_rgb(kelvin: float) -> np.ndarray:
    """Approximate RGB (3,) of a light of the given colour temperature (2700..7500 K)."""
    return np.array([np.interp(kelvin, _KELVIN, _KELVIN_RGB[:, c]) for c in range(3)])


def sample_intrinsics(rng: np.random.Generator, width: int, height: int,
                      hfov_deg=(50.0, 75.0)) -> np.ndarray:
    """Webcam-like intrinsics (3, 3): horizontal FOV of a 4:3 webcam cropped to the image,
    square pixels, principal point within 3% of the centre."""
    hfov = math.radians(rng.uniform(*hfov_deg))
    f = 0.5 * max(width, height * 4 / 3) / math.tan(hfov / 2)
    f *= 1.0 if width >= height * 4 / 3 else 1.0
    cx = (width - 1) / 2 + rng.uniform(-0.03, 0.03) * width
    cy = (height - 1) / 2 + rng.uniform(-0.03, 0.03) * height
    fy = f * rng.uniform(0.99, 1.01)
    return np.array([[f, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])


def sample_lights(rng: np.random.Generator):
    """Ambient (3,), directions towards the lights (L, 3) and colours (L, 3), L in 1..3.
    Lights come mostly from the camera's side of the hand, with random colour temperatures."""
    n = int(rng.integers(1, 4))
    dirs = rng.normal(size=(n, 3))
    dirs[:, 2] = -np.abs(dirs[:, 2]) - 0.3  # towards the camera (camera looks along +z)
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    temps = rng.uniform(2700, 7500, size=n)
    w = rng.dirichlet(np.ones(n)) * rng.uniform(0.7, 1.2)
    cols = np.stack([kelvin_rgb(t) * wi for t, wi in zip(temps, w)])
    ambient = kelvin_rgb(rng.uniform(3500, 7500)) * rng.uniform(0.12, 0.4)
    return ambient, dirs, cols


# ----------------------------------------------------------------------------- backgrounds
def _rand_colour(rng, sat=(0.0, 0.6), val=(0.1, 0.95)) -> np.ndarray:
    hsv = np.uint8([[[rng.integers(0, 180), rng.uniform(*sat) * 255, rng.uniform(*val) * 255]]])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32) / 255.0


def _noise(rng, h, w, cells: int, channels: int = 3) -> np.ndarray:
    small = rng.random((cells, max(2, int(cells * w / h)), channels)).astype(np.float32)
    out = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    return out.reshape(h, w, channels)


def procedural_background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A random procedural background (H, W, 3) float32 in [0, 1]: smooth colour noise, a
    room-like composition of blurred rectangles, or a stripe / check / wood-like texture."""
    kind = rng.integers(0, 4)
    c0, c1 = _rand_colour(rng), _rand_colour(rng)
    if kind == 0:  # smooth colour noise
        m = _noise(rng, h, w, int(rng.integers(2, 8)), 1)
        img = c0 * (1 - m) + c1 * m
    elif kind == 1:  # room-like: large blurred rectangles and lines
        img = np.empty((h, w, 3), np.float32)
        img[:] = c0
        for _ in range(int(rng.integers(3, 10))):
            x0, y0 = rng.integers(-w // 4, w), rng.integers(-h // 4, h)
            x1, y1 = x0 + rng.integers(w // 8, w), y0 + rng.integers(h // 8, h)
            cv2.rectangle(img, (int(x0), int(y0)), (int(x1), int(y1)),
                          _rand_colour(rng).tolist(), -1)
        for _ in range(int(rng.integers(0, 6))):
            p0 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            p1 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            cv2.line(img, p0, p1, _rand_colour(rng).tolist(), int(rng.integers(1, 6)))
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 4.0))
        img *= (0.75 + 0.5 * _noise(rng, h, w, 3, 1))
    elif kind == 2:  # stripes / checks (fabric, tiles)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        a = rng.uniform(0, np.pi)
        period = rng.uniform(6, 60)
        s = np.sin((xx * np.cos(a) + yy * np.sin(a)) * 2 * np.pi / period)
        if rng.random() < 0.5:
            s = s * np.sin((-xx * np.sin(a) + yy * np.cos(a)) * 2 * np.pi / period)
        m = (s > 0).astype(np.float32) if rng.random() < 0.5 else 0.5 + 0.5 * s
        img = c0 * (1 - m[..., None]) + c1 * m[..., None]
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, 1.5))
    else:  # wood / marble-like veins
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        turb = _noise(rng, h, w, int(rng.integers(3, 9)), 1)[..., 0] * rng.uniform(5, 20)
        a = rng.uniform(0, np.pi)
        v = 0.5 + 0.5 * np.sin((xx * np.cos(a) + yy * np.sin(a)) * rng.uniform(0.05, 0.3) + turb)
        img = c0 * (1 - v[..., None]) + c1 * v[..., None]
    if rng.random() < 0.5:  # fine grain (texture of walls, fabric)
        img = img + rng.uniform(0.0, 0.12) * (_noise(rng, h, w, max(h // 4, 2)) - 0.5)
    return np.clip(img, 0.0, 1.0).astype(np.float32)


def list_images(folder: str | Path) -> list[Path]:
    """Image files in a folder (recursively), sorted. Raises a clear error if none are found."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"backgrounds folder {folder} does not exist or is not a folder; "
                                f"pass a folder of .png/.jpg images with --backgrounds")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) found in {folder}; "
                                f"pass a folder that contains background photos")
    return files


def image_background(rng: np.random.Generator, path: Path, h: int, w: int) -> np.ndarray:
    """A random crop of an image file resized to (H, W, 3) float32 in [0, 1]."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"cannot read background image {path}: not an image or corrupt; "
                         f"remove it from the backgrounds folder")
    img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    H, W = img.shape[:2]
    s = rng.uniform(0.4, 1.0) * min(H / h, W / w)
    ch, cw = max(int(h * s), 2), max(int(w * s), 2)
    y0, x0 = int(rng.integers(0, H - ch + 1)), int(rng.integers(0, W - cw + 1))
    crop = img[y0:y0 + ch, x0:x0 + cw]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


def clutter_shape(rng: np.random.Generator, h: int, w: int, centre, size_px: float):
    """One clutter object: (mask (H, W) bool, colour image (H, W, 3) float32). A filled ellipse,
    polygon or bar with a shaded texture; sometimes skin-coloured (a distractor)."""
    mask = np.zeros((h, w), np.uint8)
    cx, cy = centre
    kind = rng.integers(0, 3)
    if kind == 0:
        axes = (int(size_px * rng.uniform(0.2, 0.6)), int(size_px * rng.uniform(0.2, 0.6)))
        cv2.ellipse(mask, (int(cx), int(cy)), axes, rng.uniform(0, 180), 0, 360, 1, -1)
    elif kind == 1:
        n = int(rng.integers(3, 7))
        ang = np.sort(rng.uniform(0, 2 * np.pi, n))
        rad = size_px * rng.uniform(0.2, 0.6, n)
        pts = np.stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)], 1).astype(np.int32)
        cv2.fillPoly(mask, [pts], 1)
    else:
        a = rng.uniform(0, np.pi)
        L = size_px * rng.uniform(0.6, 1.5)
        p0 = (int(cx - L * np.cos(a)), int(cy - L * np.sin(a)))
        p1 = (int(cx + L * np.cos(a)), int(cy + L * np.sin(a)))
        cv2.line(mask, p0, p1, 1, max(int(size_px * rng.uniform(0.05, 0.25)), 2))
    if rng.random() < 0.15:
        from train.synth.shape import skin_tone
        col = skin_tone(rng.uniform()).astype(np.float32)
    else:
        col = _rand_colour(rng, sat=(0.0, 0.9))
    yy, xx = np.ogrid[0:h, 0:w]
    g = rng.normal(0.0, 0.6 / max(size_px, 1.0), 2)
    shade = (0.85 + g[0] * (xx - cx) + g[1] * (yy - cy)).astype(np.float32)
    img = np.clip(col[None, None, :] * np.clip(shade, 0.4, 1.3)[..., None], 0, 1)
    return mask.astype(bool), img.astype(np.float32)


# ----------------------------------------------------------------------------- sensor
_NOISE_TILES: dict[tuple[int, int], np.ndarray] = {}


def _noise_tile(h: int, w: int) -> np.ndarray:
    """A fixed (h + 64, w + 64, 3) float32 standard-normal tile (same in every process); a frame
    uses it at a random offset, which is far cheaper than drawing fresh noise."""
    if (h, w) not in _NOISE_TILES:
        g = np.random.default_rng(20190101)
        _NOISE_TILES[(h, w)] = g.standard_normal((h + 64, w + 64, 3), dtype=np.float32)
    return _NOISE_TILES[(h, w)]


def sensor_effects(rng: np.random.Generator, img: np.ndarray, jpeg: bool = True,
                   webcam: bool = False) -> np.ndarray:
    """Camera look: exposure and white-balance jitter, blur (defocus or motion), sensor noise,
    JPEG artefacts. img: (H, W, 3) float32 in [0, 1] -> (H, W, 3) uint8. webcam: the noise and
    compression of a webcam's processed stream (its denoiser leaves little grain: sigma up to
    1.2 % instead of 3.5 %; JPEG quality 60-95 instead of 35-95)."""
    gain = (255.0 * rng.uniform(0.8, 1.2) * rng.uniform(0.93, 1.07, size=3)).astype(np.float32)
    r = rng.random()
    if r < 0.5:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.4, 1.2))
    elif r < 0.65:
        k = int(rng.integers(3, 8))
        kern = np.zeros((k, k), np.float32)
        kern[k // 2, :] = 1.0 / k
        M = cv2.getRotationMatrix2D(((k - 1) / 2, (k - 1) / 2), rng.uniform(0, 180), 1.0)
        kern = cv2.warpAffine(kern, M, (k, k))
        kern /= max(kern.sum(), 1e-6)
        img = cv2.filter2D(img, -1, kern)
    sigma = rng.uniform(0.0, 0.012 if webcam else 0.035)
    img = img * gain + np.float32(0.5)
    if sigma > 0.002:
        tile = _noise_tile(img.shape[0], img.shape[1])
        dy, dx = rng.integers(0, 64, 2)
        img += tile[dy:dy + img.shape[0], dx:dx + img.shape[1]] * np.float32(sigma * 255.0)
    out = np.clip(img, 0, 255, out=img).astype(np.uint8)
    if jpeg and rng.random() < 0.7:
        q = int(rng.integers(60 if webcam else 35, 96))
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(out, cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_JPEG_QUALITY, q])
        if ok:
            out = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return out


def room_background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A room-like background (H, W, 3) float32 in [0, 1], as behind a webcam user: a wall of a
    desaturated colour lit from above, a few large shapes of furniture, doors and windows
    (desaturated, some bright), thin edges, out of focus, with fine grain."""
    wall = _rand_colour(rng, sat=(0.0, 0.3), val=(0.25, 0.9))
    yy = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    img = np.empty((h, w, 3), np.float32)
    img[:] = wall * (1.1 - rng.uniform(0.1, 0.5) * yy)
    for _ in range(int(rng.integers(2, 7))):
        x0, y0 = int(rng.integers(-w // 4, w)), int(rng.integers(-h // 4, h))
        x1, y1 = x0 + int(rng.integers(w // 6, w)), y0 + int(rng.integers(h // 6, h))
        if rng.random() < 0.2:  # a window or a lamp: bright and nearly white
            col = np.clip(_rand_colour(rng, sat=(0.0, 0.15), val=(0.85, 1.0)) * 1.1, 0, 1)
        else:
            col = _rand_colour(rng, sat=(0.0, 0.45), val=(0.05, 0.85))
        cv2.rectangle(img, (x0, y0), (x1, y1), col.tolist(), -1)
    for _ in range(int(rng.integers(0, 5))):
        p0 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        p1 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        cv2.line(img, p0, p1, _rand_colour(rng, sat=(0.0, 0.3)).tolist(), int(rng.integers(1, 4)))
    img = cv2.GaussianBlur(img, (0, 0), rng.uniform(1.0, 5.0))
    img *= 0.8 + 0.4 * _noise(rng, h, w, 3, 1)
    img = img + rng.uniform(0.0, 0.06) * (_noise(rng, h, w, max(h // 4, 2)) - 0.5)
    return np.clip(img, 0.0, 1.0).astype(np.float32)
