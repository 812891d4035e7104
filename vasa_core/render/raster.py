"""Compiled kernels: the backward map of a deformed triangle mesh, and warp-and-composite over the clean plate.

The map is rasterised on a coarse grid (every GRID_STEP pixels, corners included) and read bilinearly by the
compositor: a piecewise-affine map is almost linear inside each coarse cell, and an identity map is reproduced
exactly, so a still frame reproduces the portrait (DESIGN.md measured PSNR 42-56 dB for half resolution).
"""

from __future__ import annotations

import numba as nb
import numpy as np

GRID_STEP = 2  # fixed_point_map is written for this step
# Depth of grid nodes no triangle covers: finite, because fastmath lets the compiler assume no infinities.
NO_SURFACE = np.float32(3.0e38)


def folded_in_source(vertices: np.ndarray, triangles: np.ndarray, num_face: int) -> np.ndarray:
    """(T,) bool: triangles that face away in the portrait itself, wound against the rest of their part of the
    mesh (the face mesh; the rings and anchors around it are wound the other way).

    Past the silhouette of a cheek or jaw the face mesh folds behind itself (p01: 7 of its 898 face triangles,
    p14's 3/4 view 116): those triangles have no pixels of their own, only mirrored ones of their neighbours.
    """
    v = vertices[:, :2].astype(np.float64)
    t = triangles
    area = ((v[t[:, 1], 0] - v[t[:, 0], 0]) * (v[t[:, 2], 1] - v[t[:, 0], 1])
            - (v[t[:, 1], 1] - v[t[:, 0], 1]) * (v[t[:, 2], 0] - v[t[:, 0], 0]))
    face = (t < num_face).all(1)
    out = np.zeros(len(t), bool)
    for part in (face, ~face):
        if part.any():
            majority = np.sign(np.sum(np.sign(area[part])))
            out[part] = np.sign(area[part]) == -majority
    return out


@nb.njit(cache=True, fastmath=True, nogil=True)
def rasterize_map(dst, depth, src, triangles, skip, map_x, map_y, zbuf, step, gy0, gy1, gx0, gx1):
    """Fill map_x/map_y (grid, source pixels) for the deformed mesh; nearest surface (smallest depth) wins.

    dst: (V, 2) float32 deformed vertex pixels; depth: (V,) float32 camera z (away from viewer);
    src: (V, 2) float32 vertex pixels in the portrait; triangles: (T, 3) int32; skip: (T,) bool, triangles
    not drawn (folded_in_source); map_x, map_y, zbuf: (GH, GW) float32, grid node (i, j) sits at pixel
    (j * step, i * step). Only grid nodes gy0..gy1, gx0..gx1 (inclusive) are written: the region where anything
    moves. Nodes no drawn triangle covers (where a turn unfolds a skipped triangle) continue the nearer surface
    beside them in their row, mirrored (_fill_row_holes).
    """
    for i in range(gy0, gy1 + 1):
        for j in range(gx0, gx1 + 1):
            map_x[i, j] = j * step
            map_y[i, j] = i * step
            zbuf[i, j] = NO_SURFACE
    inv = 1.0 / step
    for t in range(triangles.shape[0]):
        if skip[t]:
            continue
        a, b, c = triangles[t, 0], triangles[t, 1], triangles[t, 2]
        ax, ay = dst[a, 0] * inv, dst[a, 1] * inv
        bx, by = dst[b, 0] * inv, dst[b, 1] * inv
        cx, cy = dst[c, 0] * inv, dst[c, 1] * inv
        area = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)
        if abs(area) < 1e-9:
            continue
        x0 = max(int(np.ceil(min(ax, bx, cx))), gx0)
        x1 = min(int(np.floor(max(ax, bx, cx))), gx1)
        y0 = max(int(np.ceil(min(ay, by, cy))), gy0)
        y1 = min(int(np.floor(max(ay, by, cy))), gy1)
        if x0 > x1 or y0 > y1:
            continue
        ia = 1.0 / area
        eps = -1e-5  # shared edges belong to both triangles: no cracks between them
        for y in range(y0, y1 + 1):
            for x in range(x0, x1 + 1):
                w0 = ((bx - x) * (cy - y) - (by - y) * (cx - x)) * ia
                w1 = ((cx - x) * (ay - y) - (cy - y) * (ax - x)) * ia
                w2 = 1.0 - w0 - w1
                if w0 < eps or w1 < eps or w2 < eps:
                    continue
                z = w0 * depth[a] + w1 * depth[b] + w2 * depth[c]
                if z < zbuf[y, x]:
                    zbuf[y, x] = z
                    map_x[y, x] = w0 * src[a, 0] + w1 * src[b, 0] + w2 * src[c, 0]
                    map_y[y, x] = w0 * src[a, 1] + w1 * src[b, 1] + w2 * src[c, 1]
    for y in range(gy0, gy1 + 1):
        _fill_row_holes(map_x[y], map_y[y], zbuf[y], gx0, gx1)


@nb.njit(cache=True, fastmath=True, nogil=True)
def _fill_row_holes(map_x, map_y, zbuf, gx0, gx1):
    """Nodes gx0..gx1 of one grid row that no drawn triangle covers (zbuf NO_SURFACE) take the map of the nearer
    (smaller depth) covered node beside the run, mirrored about it: the surface in front continues into the
    unfolded strip at its own scale (more cheek, not the ear and hair mirrored in the folded triangles)."""
    x = gx0
    while x <= gx1:
        if zbuf[x] < NO_SURFACE:
            x += 1
            continue
        end = x
        while end + 1 <= gx1 and zbuf[end + 1] >= NO_SURFACE:
            end += 1
        left, right = x - 1, end + 1
        has_left, has_right = left >= gx0, right <= gx1
        if has_left or has_right:
            side = left if (has_left and (not has_right or zbuf[left] <= zbuf[right])) else right
            for k in range(x, end + 1):
                mirror = 2 * side - k  # on the covered side of the run, or the side node itself past its end
                if mirror < gx0 or mirror > gx1 or zbuf[mirror] >= NO_SURFACE:
                    mirror = side
                map_x[k] = map_x[mirror]
                map_y[k] = map_y[mirror]
        x = end + 1


IDENTITY_TOL = 1e-3  # pixels: a map this close to the identity copies the portrait pixel (exact, and fast)
INTER_BITS = 5  # OpenCV's fixed-point remap precision (cv2.convertMaps to CV_16SC2: 1/32 pixel, 32 = 1 << 5)
_FLOOR_OFFSET = 1 << 25  # added before an int32 cast so that truncation floors (maps stay within +-2**19 px)


@nb.njit(cache=True, fastmath=True, nogil=True)
def _put(m1, m2, identity, y, x, sx, sy, pad, oy, ox):
    identity[y, x] = 1 if (abs(sx - x - ox) < IDENTITY_TOL and abs(sy - y - oy) < IDENTITY_TOL) else 0
    ix = np.int32((sx + pad) * 32.0 + (0.5 + _FLOOR_OFFSET)) - _FLOOR_OFFSET
    iy = np.int32((sy + pad) * 32.0 + (0.5 + _FLOOR_OFFSET)) - _FLOOR_OFFSET
    m1[y, x, 0] = np.int16(ix >> INTER_BITS)  # source vertices lie within a few image sizes: fits int16
    m1[y, x, 1] = np.int16(iy >> INTER_BITS)
    m2[y, x] = np.uint16((iy & 31) * 32 + (ix & 31))


@nb.njit(cache=True, fastmath=True, nogil=True)
def fixed_point_map(map_x, map_y, m1, m2, identity, pad, gy0, gy1, gx0, gx1):
    """Upsample the step-2 grid map to every pixel as OpenCV fixed-point remap maps, flagging identity pixels.

    The maps address a source padded by ``pad`` pixels on every side (the person layer fades out beyond the
    image border instead of smearing its edge pixels). Pixels between grid nodes take the mean of the two or
    four nodes around them (bilinear at the midpoints); H and W are even, so the grid's (H/2 + 1) x (W/2 + 1)
    nodes cover every pixel. Only the cells between grid nodes gy0..gy1, gx0..gx1 are written, into m1 (int16
    x, y), m2 (uint16 fraction index) and identity (uint8) of shape (2 (gy1 - gy0), 2 (gx1 - gx0)), whose pixel
    (0, 0) is image pixel (2 gy0, 2 gx0).
    """
    half, quarter = np.float32(0.5), np.float32(0.25)
    oy, ox = 2 * gy0, 2 * gx0
    for i in range(gy0, gy1):
        for j in range(gx0, gx1):
            ax, ay = map_x[i, j], map_y[i, j]
            bx, by = map_x[i, j + 1], map_y[i, j + 1]
            cx, cy = map_x[i + 1, j], map_y[i + 1, j]
            dx, dy = map_x[i + 1, j + 1], map_y[i + 1, j + 1]
            y, x = 2 * (i - gy0), 2 * (j - gx0)
            _put(m1, m2, identity, y, x, ax, ay, pad, oy, ox)
            _put(m1, m2, identity, y, x + 1, half * (ax + bx), half * (ay + by), pad, oy, ox)
            _put(m1, m2, identity, y + 1, x, half * (ax + cx), half * (ay + cy), pad, oy, ox)
            _put(m1, m2, identity, y + 1, x + 1, quarter * (ax + bx + cx + dx), quarter * (ay + by + cy + dy), pad,
                 oy, ox)


@nb.njit(cache=True, fastmath=True, nogil=True)
def rasterize_fixed(dst, depth, src, triangles, skip, m1, m2, identity, pad, oy, ox, y0, y1, x0, x1):
    """Exact per-pixel backward map inside the box [y0, y1) x [x0, x1), written as fixed-point remap maps.

    For small regions where the grid map's interpolation would cross a fold (closed eyelids): m1, m2, identity
    are fixed_point_map's buffers, whose pixel (0, 0) is image pixel (oy, ox); skip as in rasterize_map.
    """
    zbuf = np.full((y1 - y0, x1 - x0), np.inf, np.float32)
    for t in range(triangles.shape[0]):
        if skip[t]:
            continue
        a, b, c = triangles[t, 0], triangles[t, 1], triangles[t, 2]
        ax, ay = dst[a, 0], dst[a, 1]
        bx, by = dst[b, 0], dst[b, 1]
        cx, cy = dst[c, 0], dst[c, 1]
        tx0 = max(int(np.ceil(min(ax, bx, cx))), x0)
        tx1 = min(int(np.floor(max(ax, bx, cx))), x1 - 1)
        ty0 = max(int(np.ceil(min(ay, by, cy))), y0)
        ty1 = min(int(np.floor(max(ay, by, cy))), y1 - 1)
        if tx0 > tx1 or ty0 > ty1:
            continue
        area = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)
        if abs(area) < 1e-9:
            continue
        ia = 1.0 / area
        for y in range(ty0, ty1 + 1):
            for x in range(tx0, tx1 + 1):
                w0 = ((bx - x) * (cy - y) - (by - y) * (cx - x)) * ia
                w1 = ((cx - x) * (ay - y) - (cy - y) * (ax - x)) * ia
                w2 = 1.0 - w0 - w1
                if w0 < -1e-5 or w1 < -1e-5 or w2 < -1e-5:
                    continue
                z = w0 * depth[a] + w1 * depth[b] + w2 * depth[c]
                if z < zbuf[y - y0, x - x0]:
                    zbuf[y - y0, x - x0] = z
                    sx = w0 * src[a, 0] + w1 * src[b, 0] + w2 * src[c, 0]
                    sy = w0 * src[a, 1] + w1 * src[b, 1] + w2 * src[c, 1]
                    _put(m1, m2, identity, y - oy, x - ox, sx, sy, pad, oy, ox)


@nb.njit(cache=True, fastmath=True, nogil=True)
def composite(warped, plate, image, identity, out, oy, ox):
    """out = warped premultiplied RGBA (uint8) over plate; identity pixels copy ``image`` exactly.

    warped and identity cover the region whose top-left pixel is (oy, ox) in plate, image and out.
    """
    h, w = identity.shape
    for y in range(h):
        src, back, own, same = warped[y], plate[y + oy, ox:ox + w], image[y + oy, ox:ox + w], identity[y]
        row = out[y + oy, ox:ox + w]
        for x in range(w):
            keep = np.uint32(255 - src[x, 3])
            for ch in range(3):
                # plate * keep / 255, rounded: (t + 127) // 255 == (t + 128 + ((t + 128) >> 8)) >> 8 for t <= 255**2;
                # no division and no branch (the identity test is a select), about 20% faster
                t = np.uint32(back[x, ch]) * keep + np.uint32(128)
                v = min(np.uint32(src[x, ch]) + ((t + (t >> np.uint32(8))) >> np.uint32(8)), np.uint32(255))
                row[x, ch] = own[x, ch] if same[x] else np.uint8(v)
