"""Camera geometry: intrinsics, projection, depth -> point cloud, crop boxes, viewpoint
correction (Yang et al. 2019, Sec. on data) and root-relative normalisation.

Conventions: OpenCV pinhole camera, x right, y down, z forward; 3D points in metres unless a
name says otherwise; pixel coordinates (u, v) with the centre of the top-left pixel at (0, 0).
K is the 3x3 intrinsic matrix [[fx, 0, cx], [0, fy, cy], [0, 0, 1]].
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import cv2
import numpy as np

from model.hand import ROOT, SCALE_BONE


# ----------------------------------------------------------------------------- validation
def _as_array(name: str, value, shape_tail: tuple[int, ...], expected: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim < len(shape_tail) or tuple(arr.shape[arr.ndim - len(shape_tail):]) != shape_tail:
        raise ValueError(f"{name} must have shape {expected}, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf values")
    return arr


def check_K(K) -> np.ndarray:
    """Validate an intrinsic matrix: (3, 3), finite, positive focal lengths."""
    K = _as_array("K", K, (3, 3), "(3, 3)")
    if K.ndim != 2:
        raise ValueError(f"K must have shape (3, 3), got {K.shape}")
    if K[0, 0] <= 0 or K[1, 1] <= 0:
        raise ValueError(f"K must have positive focal lengths, got fx={K[0, 0]}, fy={K[1, 1]}")
    return K


# ----------------------------------------------------------------------------- intrinsics
def intrinsics_from_fov(width: int, height: int, hfov_deg: float = 60.0) -> np.ndarray:
    """Intrinsics of an ideal camera with square pixels and a centred principal point.

    width, height: image size in pixels; hfov_deg: horizontal field of view in degrees (0, 180).
    Returns K (3, 3) float64.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    if not 0.0 < hfov_deg < 180.0:
        raise ValueError(f"hfov_deg must be in (0, 180) degrees, got {hfov_deg}")
    f = 0.5 * width / math.tan(math.radians(hfov_deg) / 2.0)
    return np.array([[f, 0.0, (width - 1) / 2.0], [0.0, f, (height - 1) / 2.0], [0.0, 0.0, 1.0]])


def scale_intrinsics(K, from_size: tuple[int, int], to_size: tuple[int, int]) -> np.ndarray:
    """Rescale K calibrated at from_size=(w, h) to an image of to_size=(w, h). Returns (3, 3)."""
    K = check_K(K)
    (w0, h0), (w1, h1) = from_size, to_size
    if min(w0, h0, w1, h1) <= 0:
        raise ValueError(f"sizes must be positive, got {from_size} -> {to_size}")
    sx, sy = w1 / w0, h1 / h0
    out = K.copy()
    out[0, 0] *= sx
    out[0, 2] = (K[0, 2] + 0.5) * sx - 0.5
    out[1, 1] *= sy
    out[1, 2] = (K[1, 2] + 0.5) * sy - 0.5
    return out


# ----------------------------------------------------------------------------- projection
def project(points_m, K) -> np.ndarray:
    """Pinhole projection. points_m: (..., 3) metres with z > 0; K: (3, 3). Returns (..., 2) px."""
    K = check_K(K)
    p = _as_array("points_m", points_m, (3,), "(..., 3)")
    z = p[..., 2]
    if np.any(z <= 0):
        raise ValueError("points_m must lie in front of the camera (z > 0) to be projected")
    u = K[0, 0] * p[..., 0] / z + K[0, 1] * p[..., 1] / z + K[0, 2]
    v = K[1, 1] * p[..., 1] / z + K[1, 2]
    return np.stack([u, v], axis=-1)


def backproject(uv_px, depth_m, K) -> np.ndarray:
    """Inverse of project. uv_px: (..., 2) pixels; depth_m: (...) z in metres (> 0); K: (3, 3).
    Returns (..., 3) metres."""
    K = check_K(K)
    uv = _as_array("uv_px", uv_px, (2,), "(..., 2)")
    z = np.asarray(depth_m, dtype=np.float64)
    if z.shape != uv.shape[:-1]:
        raise ValueError(f"depth_m must have shape {uv.shape[:-1]} (one per point), got {z.shape}")
    if np.any(~np.isfinite(z)) or np.any(z <= 0):
        raise ValueError("depth_m must be finite and > 0 (zero depth cannot be back-projected)")
    y = (uv[..., 1] - K[1, 2]) / K[1, 1]
    x = (uv[..., 0] - K[0, 2] - K[0, 1] * y) / K[0, 0]
    return np.stack([x * z, y * z, z], axis=-1)


def transform_points(H, points) -> np.ndarray:
    """Apply a 3x3 homography to 2D points. H: (3, 3); points: (..., 2). Returns (..., 2)."""
    H = _as_array("H", H, (3, 3), "(3, 3)")
    p = _as_array("points", points, (2,), "(..., 2)")
    hom = p @ H[:, :2].T + H[:, 2]
    return hom[..., :2] / hom[..., 2:3]


@functools.cache
def _depth_to_cloud_jit():
    """_depth_to_cloud compiled (numba, imported on first use: the real-time app never needs
    it, and importing numba costs half a second of start-up)."""
    import numba

    return numba.njit(cache=True, parallel=False)(_depth_to_cloud)


def _depth_to_cloud(depth, mask, fx, fy, cx, cy, out):  # pragma: no cover - numba
    h, w = depth.shape
    n = 0
    for v in range(h):
        for u in range(w):
            z = depth[v, u]
            if mask[v, u] and z > 0.0:
                out[n, 0] = (u - cx) / fx * z
                out[n, 1] = (v - cy) / fy * z
                out[n, 2] = z
                n += 1
    return n


def depth_to_cloud(depth_m, K, mask=None) -> np.ndarray:
    """Back-project a depth map to a point cloud in the camera frame.

    depth_m: (H, W) metres (0 = no measurement); K: (3, 3); mask: optional (H, W) bool, True where
    points are wanted. Returns (M, 3) float32 metres, one point per masked pixel with depth > 0,
    in row-major pixel order.
    """
    K = check_K(K)
    depth = np.asarray(depth_m)
    if depth.ndim != 2:
        raise ValueError(f"depth_m must have shape (H, W), got {depth.shape}")
    depth = np.ascontiguousarray(depth, dtype=np.float32)
    if mask is None:
        mask = np.ones(depth.shape, dtype=np.bool_)
    mask = np.asarray(mask)
    if mask.shape != depth.shape:
        raise ValueError(f"mask must have the depth map's shape {depth.shape}, got {mask.shape}")
    mask = np.ascontiguousarray(mask, dtype=np.bool_)
    depth = np.where(np.isfinite(depth), depth, 0.0).astype(np.float32)
    out = np.empty((int(mask.sum()), 3), dtype=np.float32)
    n = _depth_to_cloud_jit()(depth, mask, K[0, 0], K[1, 1], K[0, 2], K[1, 2], out)
    return out[:n]


# ----------------------------------------------------------------------------- crop boxes
@dataclass(frozen=True)
class Box:
    """A square crop box in pixels: centre (cx, cy) and side length size (> 0)."""

    cx: float
    cy: float
    size: float

    @property
    def xyxy(self) -> tuple[float, float, float, float]:
        h = self.size / 2.0
        return (self.cx - h, self.cy - h, self.cx + h, self.cy + h)

    def iou(self, other: Box) -> float:
        ax0, ay0, ax1, ay1 = self.xyxy
        bx0, by0, bx1, by1 = other.xyxy
        iw = max(0.0, min(ax1, bx1) - max(ax0, bx0))
        ih = max(0.0, min(ay1, by1) - max(ay0, by0))
        inter = iw * ih
        union = self.size**2 + other.size**2 - inter
        return float(inter / union) if union > 0 else 0.0


def box_from_keypoints(uv_px, margin: float = 1.4, min_size_px: float = 16.0, visible=None) -> Box:
    """Square box around 2D keypoints. uv_px: (N, 2) pixels; margin: side = margin * the larger
    extent of the keypoints; visible: optional (N,) bool of the points to use. Returns Box."""
    uv = _as_array("uv_px", uv_px, (2,), "(N, 2)")
    if uv.ndim != 2:
        raise ValueError(f"uv_px must have shape (N, 2), got {uv.shape}")
    if visible is not None:
        visible = np.asarray(visible, dtype=bool)
        if visible.shape != uv.shape[:1]:
            raise ValueError(f"visible must have shape ({uv.shape[0]},), got {visible.shape}")
        uv = uv[visible]
    if len(uv) < 2:
        raise ValueError("at least two keypoints are needed to make a crop box")
    lo, hi = uv.min(axis=0), uv.max(axis=0)
    extent = float((hi - lo).max())
    if extent <= 0:
        raise ValueError("degenerate keypoints: all points coincide, no crop box can be made")
    c = (lo + hi) / 2.0
    return Box(float(c[0]), float(c[1]), max(margin * extent, min_size_px))


def box_from_mask(mask, margin: float = 1.4, min_size_px: float = 16.0) -> Box:
    """Square box around the True pixels of a (H, W) mask. Returns Box."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must have shape (H, W), got {mask.shape}")
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        raise ValueError("mask is empty: no hand pixels to make a crop box from")
    pts = np.stack([[xs.min(), ys.min()], [xs.max(), ys.max()]]).astype(np.float64)
    if (pts[1] - pts[0]).max() <= 0:
        return Box(float(xs[0]), float(ys[0]), min_size_px)
    return box_from_keypoints(pts, margin=margin, min_size_px=min_size_px)


# ----------------------------------------------------------------------------- viewpoint correction
def rot_x(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def rot_y(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def rot_z(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def rotvec_matrix(rotvec) -> np.ndarray:
    """(3,) rotation vector (axis times angle, radians) -> (3, 3) rotation matrix (Rodrigues).
    The same rotation as scipy's Rotation.from_rotvec, without importing scipy (start-up)."""
    v = np.asarray(rotvec, dtype=np.float64).reshape(3)
    angle = float(np.linalg.norm(v))
    if angle < 1e-12:
        return np.eye(3)
    k = v / angle
    kx = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return np.eye(3) + math.sin(angle) * kx + (1.0 - math.cos(angle)) * (kx @ kx)


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A rotation matrix (3, 3) uniform on SO(3): a normalised 4-D Gaussian as a unit
    quaternion (x, y, z, w). Draws rng.normal(size=4), as scipy's Rotation.random does, so a
    seeded stream of renders stays the same."""
    q = rng.normal(size=4)
    x, y, z, w = q / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def viewpoint_rotation(K, center_px) -> np.ndarray:
    """Rotation R that turns the camera towards a hand centre (Yang et al. 2019).

    With d = K^-1 [u_c, v_c, 1] = (x, y, 1): phi = atan(x), theta = -atan(y / sqrt(1 + x^2)),
    R = R_y(phi) R_x(theta). Points in the virtual camera are R^T p and R^T d is on the optical
    axis. K: (3, 3); center_px: (2,) pixels. Returns R (3, 3).
    """
    K = check_K(K)
    c = _as_array("center_px", center_px, (2,), "(2,)")
    if c.ndim != 1:
        raise ValueError(f"center_px must have shape (2,), got {c.shape}")
    d = np.linalg.solve(K, np.array([c[0], c[1], 1.0]))
    x, y = d[0] / d[2], d[1] / d[2]
    phi = math.atan(x)
    theta = -math.atan(y / math.sqrt(1.0 + x * x))
    return rot_y(phi) @ rot_x(theta)


def virtual_intrinsics(K, box: Box, out_size: int) -> np.ndarray:
    """Intrinsics of the virtual (corrected) camera whose out_size x out_size image shows the box.
    The focal length is scaled so that the box side maps to the crop side. Returns (3, 3)."""
    K = check_K(K)
    if out_size <= 0:
        raise ValueError(f"out_size must be positive, got {out_size}")
    if not box.size > 0:
        raise ValueError(f"box.size must be > 0, got {box.size}")
    s = out_size / box.size
    c = (out_size - 1) / 2.0
    return np.array([[K[0, 0] * s, 0.0, c], [0.0, K[1, 1] * s, c], [0.0, 0.0, 1.0]])


def viewpoint_homography(K, R, K_virtual) -> np.ndarray:
    """Homography K_v R^T K^-1 that maps original pixels to virtual-camera pixels. (3, 3)."""
    K = check_K(K)
    Kv = check_K(K_virtual)
    R = _as_array("R", R, (3, 3), "(3, 3)")
    return Kv @ R.T @ np.linalg.inv(K)


@dataclass(frozen=True)
class CropCamera:
    """Everything needed to go from the original camera to a viewpoint-corrected crop and back.

    R: (3, 3) rotation, virtual-camera points are R^T p; K: (3, 3) original intrinsics;
    K_virtual: (3, 3) crop intrinsics; H: (3, 3) homography original px -> crop px;
    size: crop side in pixels.
    """

    R: np.ndarray
    K: np.ndarray
    K_virtual: np.ndarray
    H: np.ndarray
    size: int

    @property
    def H_inv(self) -> np.ndarray:
        """Homography crop px -> original px (3, 3)."""
        return np.linalg.inv(self.H)

    def to_virtual(self, points_m) -> np.ndarray:
        """(..., 3) camera-frame points -> (..., 3) virtual-camera points (R^T p)."""
        return _as_array("points_m", points_m, (3,), "(..., 3)") @ self.R

    def from_virtual(self, points_m) -> np.ndarray:
        """(..., 3) virtual-camera points -> (..., 3) camera-frame points (R p)."""
        return _as_array("points_m", points_m, (3,), "(..., 3)") @ self.R.T


def crop_camera(K, box: Box, out_size: int, roll_rad: float = 0.0) -> CropCamera:
    """Viewpoint-corrected crop camera looking at the box centre.

    roll_rad optionally rotates the crop about the virtual optical axis (augmentation): the full
    rotation becomes R = R_y(phi) R_x(theta) R_z(roll). Returns CropCamera.
    """
    R = viewpoint_rotation(K, (box.cx, box.cy))
    if roll_rad:
        R = R @ rot_z(roll_rad)
    Kv = virtual_intrinsics(K, box, out_size)
    H = viewpoint_homography(K, R, Kv)
    return CropCamera(R=R, K=check_K(K), K_virtual=Kv, H=H, size=out_size)


def warp_crop(image: np.ndarray, cam: CropCamera, interpolation: int = cv2.INTER_LINEAR,
              border_value=0) -> np.ndarray:
    """Warp an (H, W[, C]) image into the (size, size[, C]) viewpoint-corrected crop."""
    image = np.asarray(image)
    if image.ndim not in (2, 3):
        raise ValueError(f"image must have shape (H, W) or (H, W, C), got {image.shape}")
    return cv2.warpPerspective(image, cam.H, (cam.size, cam.size), flags=interpolation,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=border_value)


# ----------------------------------------------------------------------------- normalisation
def normalise_pose(joints_m) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Root-relative, scale-normalised pose: (p - root) / scale, root = middle MCP, scale = length
    of the middle MCP->PIP bone.

    joints_m: (..., 21, 3). Returns (normalised (..., 21, 3), root (..., 3), scale (...)).
    """
    j = _as_array("joints_m", joints_m, (21, 3), "(..., 21, 3)")
    root = j[..., ROOT, :]
    scale = np.linalg.norm(j[..., SCALE_BONE[1], :] - j[..., SCALE_BONE[0], :], axis=-1)
    if np.any(scale <= 1e-9):
        raise ValueError("joints_m has a zero-length scale bone (middle MCP == middle PIP)")
    return (j - root[..., None, :]) / scale[..., None, None], root, scale


def normalise_points(points, root, scale) -> np.ndarray:
    """Apply a pose's normalisation to other points. points: (..., N, 3); root: (..., 3);
    scale: (...). Returns (..., N, 3)."""
    p = _as_array("points", points, (3,), "(..., N, 3)")
    return (p - np.asarray(root)[..., None, :]) / np.asarray(scale)[..., None, None]


def denormalise(points, root, scale) -> np.ndarray:
    """Inverse of normalise_pose / normalise_points: p * scale + root. (..., N, 3)."""
    p = _as_array("points", points, (3,), "(..., N, 3)")
    return p * np.asarray(scale)[..., None, None] + np.asarray(root)[..., None, :]
