"""Numba kernels: analytic ray casting of primitives over their screen bounding boxes with a
z-buffer, and shading. Rays have direction d = ((u - cx) / fx, (v - cy) / fy, 1), so the ray
parameter t of a hit is its depth z in metres.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from train.synth.primitives import PRIM_COLS

_NEAR = 1e-3


@numba.njit(cache=True, inline="always")
def _sphere_t(cx, cy, cz, r, dx, dy, dz):  # pragma: no cover - numba
    # ray origin 0: |t d - c|^2 = r^2
    a = dx * dx + dy * dy + dz * dz
    b = dx * cx + dy * cy + dz * cz
    c = cx * cx + cy * cy + cz * cz - r * r
    disc = b * b - a * c
    if disc < 0.0:
        return math.inf
    t = (b - math.sqrt(disc)) / a
    return t if t > _NEAR else math.inf


@numba.njit(cache=True)
def _bbox(x, y, z, r, fx, fy, cx, cy, W, H):  # pragma: no cover - numba
    """Conservative pixel bounds of a sphere's projection (u0, u1, v0, v1), inclusive."""
    if z - r <= _NEAR:
        return 0, W - 1, 0, H - 1
    zn, zf = z - r, z + r
    xmax = (x + r) / (zn if x + r > 0 else zf)
    xmin = (x - r) / (zn if x - r < 0 else zf)
    ymax = (y + r) / (zn if y + r > 0 else zf)
    ymin = (y - r) / (zn if y - r < 0 else zf)
    u0 = max(int(math.floor(fx * xmin + cx)) - 1, 0)
    u1 = min(int(math.ceil(fx * xmax + cx)) + 1, W - 1)
    v0 = max(int(math.floor(fy * ymin + cy)) - 1, 0)
    v1 = min(int(math.ceil(fy * ymax + cy)) + 1, H - 1)
    return u0, u1, v0, v1


@numba.njit(cache=True)
def rasterise(prims, fx, fy, cx, cy, zbuf, normal, prim_id):  # pragma: no cover - numba
    """Ray-cast every primitive into the buffers (in place).

    prims: (P, PRIM_COLS) float64 (train.synth.primitives); zbuf: (H, W) float64, inf where
    empty; normal: (H, W, 3) float32 unit outward normals; prim_id: (H, W) int32, -1 where empty.
    """
    H, W = zbuf.shape
    for p in range(prims.shape[0]):
        pr = prims[p]
        if pr[0] == 0.0:  # round cone
            ax, ay, az, bx, by, bz = pr[2], pr[3], pr[4], pr[5], pr[6], pr[7]
            ra, rb = pr[8], pr[9]
            wx, wy, wz = bx - ax, by - ay, bz - az
            L = math.sqrt(wx * wx + wy * wy + wz * wz)
            if L < 1e-9:
                L = 1e-9
            wx, wy, wz = wx / L, wy / L, wz / L
            sg = (ra - rb) / L
            if sg > 0.999:
                sg = 0.999
            if sg < -0.999:
                sg = -0.999
            c2 = 1.0 - sg * sg
            cg = math.sqrt(c2)
            s_lo, s_hi = ra * sg, L + rb * sg
            u0a, u1a, v0a, v1a = _bbox(ax, ay, az, ra, fx, fy, cx, cy, W, H)
            u0b, u1b, v0b, v1b = _bbox(bx, by, bz, rb, fx, fy, cx, cy, W, H)
            u0, u1 = min(u0a, u0b), max(u1a, u1b)
            v0, v1 = min(v0a, v0b), max(v1a, v1b)
            ocx, ocy, ocz = -ax, -ay, -az
            C = ocx * ocx + ocy * ocy + ocz * ocz
            s0 = ocx * wx + ocy * wy + ocz * wz
            for v in range(v0, v1 + 1):
                dy = (v - cy) / fy
                for u in range(u0, u1 + 1):
                    dx = (u - cx) / fx
                    dd = dx * dx + dy * dy + 1.0
                    best = _sphere_t(ax, ay, az, ra, dx, dy, 1.0)
                    kind = 1
                    tb = _sphere_t(bx, by, bz, rb, dx, dy, 1.0)
                    if tb < best:
                        best, kind = tb, 2
                    # lateral surface of the tangent cone
                    sd = dx * wx + dy * wy + wz
                    B = dx * ocx + dy * ocy + ocz
                    A = c2 * dd - sd * sd
                    Bh = c2 * B - sd * (s0 - ra * sg)
                    Cc = c2 * C - s0 * s0 + 2.0 * ra * sg * s0 - ra * ra
                    if abs(A) > 1e-12:
                        disc = Bh * Bh - A * Cc
                        if disc >= 0.0:
                            sq = math.sqrt(disc)
                            for t in ((-Bh - sq) / A, (-Bh + sq) / A):
                                if _NEAR < t < best:
                                    s = s0 + t * sd
                                    if s_lo <= s <= s_hi:
                                        best, kind = t, 3
                    if best < zbuf[v, u]:
                        zbuf[v, u] = best
                        prim_id[v, u] = p
                        px, py, pz = best * dx, best * dy, best
                        if kind == 1:
                            nx, ny, nz = px - ax, py - ay, pz - az
                        elif kind == 2:
                            nx, ny, nz = px - bx, py - by, pz - bz
                        else:
                            qx, qy, qz = px - ax, py - ay, pz - az
                            s = qx * wx + qy * wy + qz * wz
                            rx, ry, rz = qx - s * wx, qy - s * wy, qz - s * wz
                            rl = math.sqrt(rx * rx + ry * ry + rz * rz) + 1e-12
                            nx = cg * rx / rl + sg * wx
                            ny = cg * ry / rl + sg * wy
                            nz = cg * rz / rl + sg * wz
                        nl = math.sqrt(nx * nx + ny * ny + nz * nz) + 1e-12
                        normal[v, u, 0] = nx / nl
                        normal[v, u, 1] = ny / nl
                        normal[v, u, 2] = nz / nl
        else:  # ellipsoid: centre c, axes A (columns), semi-axes S
            ex, ey, ez = pr[2], pr[3], pr[4]
            s1, s2, s3 = pr[19], pr[20], pr[21]
            rmax = max(s1, max(s2, s3))
            u0, u1, v0, v1 = _bbox(ex, ey, ez, rmax, fx, fy, cx, cy, W, H)
            # local origin o' = S^-1 A^T (0 - c)
            o1 = -(pr[10] * ex + pr[13] * ey + pr[16] * ez) / s1
            o2 = -(pr[11] * ex + pr[14] * ey + pr[17] * ez) / s2
            o3 = -(pr[12] * ex + pr[15] * ey + pr[18] * ez) / s3
            oo = o1 * o1 + o2 * o2 + o3 * o3 - 1.0
            for v in range(v0, v1 + 1):
                dy = (v - cy) / fy
                for u in range(u0, u1 + 1):
                    dx = (u - cx) / fx
                    d1 = (pr[10] * dx + pr[13] * dy + pr[16]) / s1
                    d2 = (pr[11] * dx + pr[14] * dy + pr[17]) / s2
                    d3 = (pr[12] * dx + pr[15] * dy + pr[18]) / s3
                    a = d1 * d1 + d2 * d2 + d3 * d3
                    b = o1 * d1 + o2 * d2 + o3 * d3
                    disc = b * b - a * oo
                    if disc < 0.0:
                        continue
                    t = (-b - math.sqrt(disc)) / a
                    if t <= _NEAR or t >= zbuf[v, u]:
                        continue
                    zbuf[v, u] = t
                    prim_id[v, u] = p
                    l1 = (o1 + t * d1) / s1
                    l2 = (o2 + t * d2) / s2
                    l3 = (o3 + t * d3) / s3
                    nx = pr[10] * l1 + pr[11] * l2 + pr[12] * l3
                    ny = pr[13] * l1 + pr[14] * l2 + pr[15] * l3
                    nz = pr[16] * l1 + pr[17] * l2 + pr[18] * l3
                    nl = math.sqrt(nx * nx + ny * ny + nz * nz) + 1e-12
                    normal[v, u, 0] = nx / nl
                    normal[v, u, 1] = ny / nl
                    normal[v, u, 2] = nz / nl


@numba.njit(cache=True)
def shade(prims, prim_id, zbuf, normal, ao, fx, fy, cx, cy, ambient, light_dir, light_col,
          specular, wrap, box, gamma_lut, image, depth, mask):  # pragma: no cover - numba
    """Shade the hand pixels inside box = (u0, u1, v0, v1) (inclusive) and composite them in
    place where the hand is nearer than depth: image (H, W, 3) float32 sRGB in [0, 1],
    depth (H, W) float32 metres, mask (H, W) uint8 (the primitive's label).

    ambient: (3,); light_dir: (L, 3) unit vectors towards the lights; light_col: (L, 3) linear
    RGB; ao: (box height, box width) float32 ambient-occlusion factor in [0, 1]; specular:
    strength of the highlight; wrap: (3,) how far diffuse light reaches past the terminator per
    colour channel (light scattered under the skin: red travels furthest); gamma_lut: (G,)
    float32 table of x ** (1 / 2.2) on linspace(0, 1, G). Shading is in linear light with
    albedos already linear; the albedo blends from the dorsal to the palmar colour with the
    normal's palmar component.
    """
    u0, u1, v0, v1 = box[0], box[1], box[2], box[3]
    for v in range(v0, v1 + 1):
        dy = (v - cy) / fy
        for u in range(u0, u1 + 1):
            p = prim_id[v, u]
            if p < 0 or zbuf[v, u] >= depth[v, u]:
                continue
            pr = prims[p]
            nx, ny, nz = normal[v, u, 0], normal[v, u, 1], normal[v, u, 2]
            w = nx * pr[28] + ny * pr[29] + nz * pr[30]
            w = min(max((w + 0.15) / 0.6, 0.0), 1.0)
            w = w * w * (3.0 - 2.0 * w)
            dx = (u - cx) / fx
            vl = math.sqrt(dx * dx + dy * dy + 1.0)
            vx, vy, vz = -dx / vl, -dy / vl, -1.0 / vl
            occ = ao[v - v0, u - u0]
            for c in range(3):
                alb = (1.0 - w) * pr[22 + c] + w * pr[25 + c]
                acc = ambient[c] * occ
                spec = 0.0
                for k in range(light_dir.shape[0]):
                    lx, ly, lz = light_dir[k, 0], light_dir[k, 1], light_dir[k, 2]
                    ndl = nx * lx + ny * ly + nz * lz
                    # wrapped diffuse: light bleeds past the terminator as in skin
                    diff = (ndl + wrap[c]) / (1.0 + wrap[c])
                    if diff > 0.0:
                        acc += diff * light_col[k, c] * (0.5 + 0.5 * occ)
                    if ndl > 0.0:
                        hx, hy, hz = lx + vx, ly + vy, lz + vz
                        hl = math.sqrt(hx * hx + hy * hy + hz * hz) + 1e-12
                        ndh = (nx * hx + ny * hy + nz * hz) / hl
                        if ndh > 0.0:
                            spec += light_col[k, c] * ndh ** 24
                lin = alb * acc + specular * spec * occ
                lin = min(max(lin, 0.0), 1.0)
                image[v, u, c] = gamma_lut[int(lin * (gamma_lut.shape[0] - 1) + 0.5)]
            depth[v, u] = zbuf[v, u]
            mask[v, u] = np.uint8(pr[1])


GAMMA_LUT = np.linspace(0.0, 1.0, 4096, dtype=np.float32) ** np.float32(1.0 / 2.2)


def new_buffers(height: int, width: int):
    """Empty z-buffer (H, W) float64 inf, normals (H, W, 3) float32, prim ids (H, W) int32 -1."""
    return (np.full((height, width), np.inf), np.zeros((height, width, 3), np.float32),
            np.full((height, width), -1, np.int32))


def check_prims(prims: np.ndarray) -> np.ndarray:
    prims = np.ascontiguousarray(prims, dtype=np.float64)
    if prims.ndim != 2 or prims.shape[1] != PRIM_COLS:
        raise ValueError(f"prims must have shape (P, {PRIM_COLS}), got {prims.shape}")
    return prims
