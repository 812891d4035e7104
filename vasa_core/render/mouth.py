"""Mouth interior: dark cavity, tongue, lower teeth following the jaw, upper teeth fixed to the skull.

Teeth are real imagery: the portrait's own when it shows them, otherwise assets/mouth/teeth_upper.png (cut
from the AI-generated portrait p01, see assets/mouth/README.md), re-coloured in Lab to the portrait.
Textures live in a mouth frame: u across the inner-lip corners (-1 .. 1), v down from the inner upper lip in
half mouth widths.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numba as nb
import numpy as np

from vasa_core.analysis import face_geometry as fg
from vasa_core.analysis.face_matte import push_pull_fill
from vasa_core.render.layers import MASK_SUBPIXEL_BITS, invert_affine, polygon_mask, roi_of, sample_affine

TEETH_ASSET = Path(__file__).resolve().parents[2] / "assets" / "mouth" / "teeth_upper.png"
TEX_W, TEX_H = 256, 128
U_RANGE = (-1.05, 1.05)
V_RANGE = (-0.3, 0.75)  # above 0 is hidden under the upper lip at rest
# Under the upper lip the teeth go on for this much (v units, ~2 mm), then the gum: the lip's colour, darker.
HIDDEN_TEETH_V, GUM_SHADE = 0.08, 0.8
# A portrait with closed lips hides its teeth: the asset's upper teeth (cut where p01's smile shows them) are
# raised so their biting edge lies at the upper inner lip at rest (v = 0, where closed lips meet), and the opening
# reveals as much tooth as the upper lip lifts. Left where p01's smile had them, both rows filled the opening
# like clenched teeth (p13, p15: dlib distance 0.38 and 0.33 at jaw_open = 1; 0.33 and 0.29 raised, 0.34 and 0.31
# raised to 0.05 v below the lip).
ASSET_EDGE_V = 0.0
# Lower teeth: the upper row flipped, narrower and shorter (lower incisors are smaller), with their edge this far
# above the lower lip's inner line (v units), darker because the upper lip and teeth shade them. In speech the
# lower lip covers most of the lower incisors (about 2 mm of edge shows): at 0.15 v the two rows filled the opening
# like clenched teeth (p13).
LOWER_SCALE_U, LOWER_SCALE_V, LOWER_EDGE_V, LOWER_SHADE = 0.88, 0.75, -0.03, 0.8
# Teeth re-coloured to a portrait: at most this bright relative to its skin (Lab L; in p01, the asset's source,
# the 90th percentile of the teeth is 1.1 of the cheeks), tinted by this share of the skin's chroma (in p01 the
# texture's mean a*, b* are 0.46-0.52 of the cheeks', gums included; that little reads as blue-grey teeth next
# to strongly tinted skin, as in varnished paintings, so the tint is stronger).
TEETH_MAX_L_OVER_SKIN, TEETH_SKIN_CHROMA = 1.1, 0.8
# Cavity and tongue colours relative to the portrait's lip colour (Lab lightness factors), corner darkening,
# and the dark wet band along the inner lip edge (fraction and width in pixels).
CAVITY_L, TONGUE_L = 0.3, 0.9
CORNER_DARKEN = 0.55
TOP_SHADOW = 0.45  # the roof of the mouth under the upper teeth is darker than the floor
LIP_BAND_DARKEN, LIP_BAND_PX = 0.35, 1.2
# Tongue: in the real videos' widest openings (gap 0.13-0.15 face heights: v04, v07, MEAD W023) a lip-pink tongue
# fills the lower half of the opening behind the lower lip, the lower teeth mostly hidden, and the dark cavity is
# a band under the upper teeth. So the tongue is an ellipse in the jaw's mouth frame, centred TONGUE_BELOW_V under
# the lower lip's inner line, reaching TONGUE_SHARE of the opening above it and TONGUE_HALF_U across; it darkens
# by TONGUE_BACK_SHADE toward its top, where it curves back into the mouth, by TONGUE_SIDE_SHADE toward its sides,
# where it curves down, and by TONGUE_GROOVE along its midline groove (TONGUE_GROOVE_U wide): a flat, evenly lit
# tongue reads as a blob (DESIGN.md).
TONGUE_BELOW_V, TONGUE_SHARE, TONGUE_HALF_U, TONGUE_BACK_SHADE = 0.1, 0.5, 0.95, 0.35
TONGUE_SIDE_SHADE, TONGUE_GROOVE, TONGUE_GROOVE_U = 0.3, 0.12, 0.05
MIN_MOUTH_AREA_PX = 4.0
# The line where pressed lips meet: the cavity colour over a 1 px anti-aliased line at this opacity, fading in as
# the mean inner-lip gap falls below SEAM_FADE_PX (there the interior's dark edge band is about as wide).
SEAM_ALPHA, SEAM_FADE_PX = 0.45, 2.0
LIP_SAMPLE_POINTS = (0, 17, 37, 267, 84, 314, 40, 270, 91, 321)
SKIN_SAMPLE_POINTS = (50, 280, 101, 330, 205, 425)


@dataclass(frozen=True)
class MouthFrame:
    """Affine maps between portrait pixels and the mouth frame, at rest."""

    to_mouth: np.ndarray  # (2, 3) portrait pixels -> (u, v) with v = 0 at the upper inner lip
    lower_v: float  # v of the lower inner lip at rest


def mouth_frame(landmarks: np.ndarray) -> MouthFrame:
    pts = landmarks[:, :2].astype(np.float64)
    left, right = pts[fg.INNER_UPPER_LIP[0]], pts[fg.INNER_UPPER_LIP[-1]]
    origin = (left + right) / 2
    half = max(np.linalg.norm(right - left) / 2, 1.0)
    ex = (right - left) / (2 * half)
    ey = np.array([-ex[1], ex[0]])
    v_up = ey @ (pts[fg.UPPER_LIP_CENTER] - origin) / half
    v_lo = ey @ (pts[fg.LOWER_LIP_CENTER] - origin) / half
    m = np.array([[ex[0] / half, ex[1] / half, -ex @ origin / half],
                  [ey[0] / half, ey[1] / half, -ey @ origin / half - v_up]])
    return MouthFrame(m, float(v_lo - v_up))


def _tex_from_mouth() -> np.ndarray:
    su = TEX_W / (U_RANGE[1] - U_RANGE[0])
    sv = TEX_H / (V_RANGE[1] - V_RANGE[0])
    return np.array([[su, 0, -U_RANGE[0] * su - 0.5], [0, sv, -V_RANGE[0] * sv - 0.5], [0, 0, 1]])


def cut_teeth_texture(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """(TEX_H, TEX_W, 4) uint8 RGBA upper-teeth texture from a portrait that shows its teeth."""
    frame = mouth_frame(landmarks)
    tex_from_img = _tex_from_mouth() @ np.vstack([frame.to_mouth, [0, 0, 1]])
    rgb = cv2.warpAffine(image, tex_from_img[:2], (TEX_W, TEX_H), flags=cv2.INTER_AREA,
                         borderMode=cv2.BORDER_REFLECT)
    poly = cv2.transform(landmarks[None, list(fg.INNER_LIP_LOOP), :2].astype(np.float64), tex_from_img[:2])[0]
    inside = polygon_mask(poly, (0, 0, TEX_W, TEX_H))
    # keep lip pixels on the polygon's rim out of the teeth: shrink it by ~3 texture pixels
    alpha = np.clip((cv2.GaussianBlur(inside, (0, 0), 2.5) - 0.8) * 5.0, 0.0, 1.0)
    # above the opening (under the upper lip): the teeth continue a little, then the gum, so a lip lifted by
    # speech (jaw_open) or upper_lip_up shows what a real one does
    upper_edge = poly[: len(fg.INNER_UPPER_LIP)]
    top = np.interp(np.arange(TEX_W), upper_edge[:, 0], upper_edge[:, 1], left=-1.0, right=-1.0)
    rows = np.arange(TEX_H, dtype=np.float32)[:, None]
    above = np.clip(top[None, :] + 4 - rows, 0.0, 1.0)  # soft: a row threshold would stair-step when magnified
    filled = push_pull_fill(rgb, (alpha > 0.99).astype(np.float32)).astype(np.float32)
    hidden_rows = HIDDEN_TEETH_V * TEX_H / (V_RANGE[1] - V_RANGE[0])
    gum_a = np.clip((top[None, :] - hidden_rows - rows) / 3.0, 0.0, 1.0)[..., None] * above[..., None]
    lips = landmarks[list(LIP_SAMPLE_POINTS), :2]
    lip_rgb = np.median(image[np.clip(lips[:, 1].astype(int), 0, image.shape[0] - 1),
                              np.clip(lips[:, 0].astype(int), 0, image.shape[1] - 1)].astype(np.float32), axis=0)
    filled = filled * (1 - gum_a) + lip_rgb * GUM_SHADE * gum_a
    full_alpha = np.clip(alpha + above, 0, 1)
    return np.dstack([np.clip(filled + 0.5, 0, 255).astype(np.uint8), np.round(full_alpha * 255).astype(np.uint8)])


def _edge_v(upper: np.ndarray) -> float:
    """v of the upper teeth's biting edge in a texture: the lowest opaque row of its middle columns."""
    centre = upper[:, TEX_W // 2 - 8: TEX_W // 2 + 8, 3].astype(np.float32).mean(1) / 255.0
    edge_row = int(np.max(np.nonzero(centre > 0.5)[0])) if (centre > 0.5).any() else TEX_H // 2
    tex = _tex_from_mouth()
    return float((edge_row + 0.5 - tex[1, 2]) / tex[1, 1])


def _raise_to_edge(upper: np.ndarray, edge_v: float) -> np.ndarray:
    """Shift an upper-teeth texture vertically so its biting edge lies at edge_v; rows entering at the top repeat
    the gum."""
    shift_rows = (_edge_v(upper) - edge_v) * _tex_from_mouth()[1, 1]
    m = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, -shift_rows]])
    return cv2.warpAffine(upper, m, (TEX_W, TEX_H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _lower_from_upper(upper: np.ndarray) -> np.ndarray:
    """Lower teeth texture: the upper row mirrored vertically, narrowed and shortened, edge near the lower lip."""
    tex = _tex_from_mouth()
    edge_v = _edge_v(upper)
    # lower texture point (u, v) <- upper (u / LOWER_SCALE_U, edge_v - (v - LOWER_EDGE_V) / LOWER_SCALE_V)
    mouth_from_tex = np.linalg.inv(tex)
    flip = np.array([[1 / LOWER_SCALE_U, 0, 0], [0, -1 / LOWER_SCALE_V, edge_v + LOWER_EDGE_V / LOWER_SCALE_V],
                     [0, 0, 1]])
    m = tex @ flip @ mouth_from_tex
    out = cv2.warpAffine(upper, m[:2], (TEX_W, TEX_H), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                         borderMode=cv2.BORDER_CONSTANT)
    out[..., :3] = np.clip(out[..., :3].astype(np.float32) * LOWER_SHADE, 0, 255).astype(np.uint8)
    return out


def lab_stats(image: np.ndarray, points: np.ndarray, radius: int) -> np.ndarray:
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
    mask = np.zeros(image.shape[:2], np.uint8)
    for x, y in points:
        cv2.circle(mask, (int(x), int(y)), radius, 255, -1)
    return np.median(lab[mask > 0], axis=0)


def _recolour(tex_rgba: np.ndarray, src_skin: np.ndarray, dst_skin: np.ndarray) -> np.ndarray:
    """Move teeth colour from the source portrait's lighting to the target's.

    Lightness scales with the skin's, never brighter than TEETH_MAX_L_OVER_SKIN of it (paper-white sketches
    would otherwise get glowing teeth). Colour: a desaturated share of the target's skin colour (a painting's
    yellow varnish, none in a pencil sketch) plus the texture's own variation, scaled by the skin chroma ratio.
    """
    lab = cv2.cvtColor(np.ascontiguousarray(tex_rgba[..., :3]), cv2.COLOR_RGB2LAB).astype(np.float32)
    l_ratio = np.clip(dst_skin[0] / max(src_skin[0], 1.0), 0.6, 1.3)
    src_c = np.hypot(src_skin[1] - 128, src_skin[2] - 128)
    dst_c = np.hypot(dst_skin[1] - 128, dst_skin[2] - 128)
    c_ratio = np.clip(dst_c / max(src_c, 1.0), 0.0, 1.5)
    lab[..., 0] = np.minimum(lab[..., 0] * l_ratio, TEETH_MAX_L_OVER_SKIN * dst_skin[0])
    opaque = tex_rgba[..., 3] > 127
    own_mean = lab[..., 1:][opaque].mean(0) if opaque.any() else np.full(2, 128.0, np.float32)
    lab[..., 1:] = 128 + TEETH_SKIN_CHROMA * (dst_skin[1:] - 128) + (lab[..., 1:] - own_mean) * c_ratio
    rgb = cv2.cvtColor(np.clip(lab, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)
    return np.dstack([rgb, tex_rgba[..., 3]])


@dataclass(frozen=True)
class MouthTextures:
    upper: np.ndarray  # (TEX_H, TEX_W, 4) uint8
    lower: np.ndarray  # (TEX_H, TEX_W, 4) uint8
    cavity_rgb: np.ndarray  # (3,) float32
    tongue_rgb: np.ndarray  # (3,) float32
    frame: MouthFrame


def build_mouth_textures(image: np.ndarray, landmarks: np.ndarray, teeth_visible: bool) -> MouthTextures:
    h, w = image.shape[:2]
    radius = max(1, int(0.012 * max(h, w)))
    skin = lab_stats(image, landmarks[list(SKIN_SAMPLE_POINTS), :2], radius)
    lip = lab_stats(image, landmarks[list(LIP_SAMPLE_POINTS), :2], max(1, radius // 2))
    if teeth_visible:
        upper = cut_teeth_texture(image, landmarks)
    else:
        asset = cv2.cvtColor(cv2.imread(str(TEETH_ASSET), cv2.IMREAD_UNCHANGED), cv2.COLOR_BGRA2RGBA)
        upper = _raise_to_edge(_recolour(asset, _ASSET_SKIN_LAB, skin), ASSET_EDGE_V)
    lower = _lower_from_upper(upper)
    frame = mouth_frame(landmarks)
    upper, lower = _prefilter(upper, frame), _prefilter(lower, frame)

    def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
        px = np.clip(lab, 0, 255).astype(np.uint8).reshape(1, 1, 3)
        return cv2.cvtColor(px, cv2.COLOR_LAB2RGB).reshape(3).astype(np.float32)

    cavity = lab_to_rgb(np.array([lip[0] * CAVITY_L, 128 + (lip[1] - 128) * 0.9, 128 + (lip[2] - 128) * 0.7]))
    tongue = lab_to_rgb(np.array([lip[0] * TONGUE_L, lip[1], 128 + (lip[2] - 128) * 0.8]))
    return MouthTextures(upper, lower, cavity, tongue, frame)


def _prefilter(tex: np.ndarray, frame: MouthFrame) -> np.ndarray:
    """Blur a texture to the size it is drawn at: bilinear minification of a sharp texture sparkles."""
    half_px = 1.0 / max(np.hypot(*frame.to_mouth[0, :2]), 1e-6)  # rest half mouth width in output pixels
    tex_px_per_out = (TEX_W / (U_RANGE[1] - U_RANGE[0])) / half_px
    sigma = 0.45 * tex_px_per_out
    if sigma < 0.5:
        return tex
    premul = tex.astype(np.float32)
    premul[..., :3] *= premul[..., 3:] / 255.0
    blurred = cv2.GaussianBlur(premul, (0, 0), sigma)
    alpha = np.maximum(blurred[..., 3:], 1e-3)
    rgb = np.where(blurred[..., 3:] > 0.5, blurred[..., :3] * 255.0 / alpha, tex[..., :3])
    return np.clip(np.dstack([rgb, blurred[..., 3:]]) + 0.5, 0, 255).astype(np.uint8)


# Median Lab of the cheeks of the portrait the teeth asset was cut from (p01 at 512 px, printed by main()).
_ASSET_SKIN_LAB = np.array([189.0, 146.0, 143.0], np.float32)


def draw_mouth(out: np.ndarray, tex: MouthTextures, lips: np.ndarray, skull: np.ndarray, jaw: np.ndarray,
               opacity: float = 1.0) -> None:
    """Composite the mouth interior into ``out`` inside the current inner-lip polygon ``lips`` (N, 2), and the
    line where the lips meet as they close.

    skull, jaw: (2, 3) affine maps from portrait pixels to frame pixels for the upper and lower jaw;
    opacity: 0..1 weight of the interior over what the warp put there.
    """
    if opacity <= 0.0:
        return
    h, w = out.shape[:2]
    box = roi_of(lips, 2.0, w, h)
    if box is None:
        return
    area = 0.5 * abs(np.dot(lips[:, 0], np.roll(lips[:, 1], 1)) - np.dot(lips[:, 1], np.roll(lips[:, 0], 1)))
    if area >= MIN_MOUTH_AREA_PX:
        _draw_interior(out, tex, lips, skull, jaw, opacity, box)
    # lips pressed together meet in a shaded line, not in a hard edge between two stretched lip textures
    mean_gap = 2.0 * area / max(float(np.linalg.norm(lips - np.roll(lips, 1, 0), axis=1).sum()), 1e-6)
    seam = SEAM_ALPHA * opacity * float(np.clip(1.0 - mean_gap / SEAM_FADE_PX, 0.0, 1.0))
    if seam > 0.0:
        _draw_seam(out, lips, box, tex.cavity_rgb, seam)


def _draw_seam(out: np.ndarray, lips: np.ndarray, box: tuple[int, int, int, int], colour: np.ndarray,
               alpha: float) -> None:
    """An anti-aliased line of ``colour`` along the (closed) inner-lip polygon, blended by ``alpha``."""
    x0, y0, x1, y1 = box
    line = np.zeros((y1 - y0, x1 - x0), np.uint8)
    pts = np.round((lips - [x0, y0]) * (1 << MASK_SUBPIXEL_BITS)).astype(np.int32)
    cv2.polylines(line, [pts], True, 255, 1, cv2.LINE_AA, MASK_SUBPIXEL_BITS)
    a = (line.astype(np.float32) * (alpha / 255.0))[..., None]
    region = out[y0:y1, x0:x1].astype(np.float32)
    out[y0:y1, x0:x1] = np.clip(region * (1 - a) + colour * a + 0.5, 0, 255).astype(np.uint8)


def _draw_interior(out: np.ndarray, tex: MouthTextures, lips: np.ndarray, skull: np.ndarray, jaw: np.ndarray,
                   opacity: float, box: tuple[int, int, int, int]) -> None:
    """Cavity, tongue and both rows of teeth inside the inner-lip polygon ``lips``, within ``box``."""
    x0, y0, x1, y1 = box
    mouth3 = np.vstack([tex.frame.to_mouth, [0, 0, 1]])
    tex3 = _tex_from_mouth()
    upper_inv = tex3 @ mouth3 @ np.vstack([invert_affine(skull), [0, 0, 1]])
    lower_shift = np.array([[1, 0, 0], [0, 1, -tex.frame.lower_v], [0, 0, 1]])
    jaw_inv3 = np.vstack([invert_affine(jaw), [0, 0, 1]])
    lower_inv = tex3 @ lower_shift @ mouth3 @ jaw_inv3
    upper = sample_affine(tex.upper, upper_inv[:2], box, border=cv2.BORDER_CONSTANT)
    lower = sample_affine(tex.lower, lower_inv[:2], box, border=cv2.BORDER_CONSTANT)
    m_jaw = (lower_shift @ mouth3 @ jaw_inv3)[:2]
    # the opening's height in the jaw's frame: -v of the upper inner lip's centre (the lower lip's is 0)
    top = lips[fg.INNER_LIP_LOOP.index(fg.UPPER_LIP_CENTER)]
    opening = max(-float(m_jaw[1] @ np.array([top[0], top[1], 1.0])), 1e-3)
    mask = polygon_mask(lips, box)
    band = cv2.GaussianBlur(mask, (0, 0), LIP_BAND_PX)
    _shade_interior(out, upper, lower, mask, band, m_jaw.astype(np.float32), tex.cavity_rgb, tex.tongue_rgb,
                    np.float32(opacity), np.float32(opening), x0, y0)


@nb.njit(cache=True, fastmath=True, nogil=True)
def _shade_interior(out, upper, lower, mask, band, m_jaw, cavity, tongue, opacity, opening, x0, y0):
    """Per pixel of the box at (x0, y0): cavity shaded toward the corners and the roof, the tongue, lower then upper
    teeth (RGBA uint8), the dark wet band along the lips, blended into ``out`` by the lip polygon ``mask``."""
    h, w = mask.shape
    tongue_top = TONGUE_SHARE * opening  # above the lower lip's inner line
    rise = TONGUE_BELOW_V + tongue_top  # the tongue ellipse's vertical radius
    for y in range(h):
        for x in range(w):
            m = mask[y, x] * opacity
            if m <= 0.0:
                continue
            px, py = np.float32(x + x0), np.float32(y + y0)
            u = m_jaw[0, 0] * px + m_jaw[0, 1] * py + m_jaw[0, 2]
            v = m_jaw[1, 0] * px + m_jaw[1, 1] * py + m_jaw[1, 2]
            shade = 1.0 - CORNER_DARKEN * min(abs(u), 1.0) ** 2
            roof = 1.0 - TOP_SHADOW * min(max(-v / opening, 0.0), 1.0)
            t = (u / TONGUE_HALF_U) ** 2 + ((v - TONGUE_BELOW_V) / rise) ** 2
            tongue_a = min(max((1.0 - t) * 3.0, 0.0), 1.0) * shade
            back = 1.0 - TONGUE_BACK_SHADE * min(max(-v / tongue_top, 0.0), 1.0) ** 2
            back *= 1.0 - TONGUE_SIDE_SHADE * min(abs(u) / TONGUE_HALF_U, 1.0) ** 2
            back *= 1.0 - TONGUE_GROOVE * np.exp(-0.5 * (u / TONGUE_GROOVE_U) ** 2)
            lo_a, up_a = lower[y, x, 3] / 255.0, upper[y, x, 3] / 255.0
            teeth_shade = np.sqrt(shade)
            dark = 1.0 - LIP_BAND_DARKEN * min(max(1.0 - (band[y, x] - 0.5) * 2.0, 0.0), 1.0)
            for c in range(3):
                col = cavity[c] * shade * roof
                col = col * (1.0 - tongue_a) + tongue[c] * back * tongue_a
                col = col * (1.0 - lo_a) + lower[y, x, c] * lo_a * teeth_shade
                col = col * (1.0 - up_a) + upper[y, x, c] * up_a * teeth_shade
                val = out[y + y0, x + x0, c] * (1.0 - m) + col * dark * m + 0.5
                out[y + y0, x + x0, c] = np.uint8(min(max(val, 0.0), 255.0))
