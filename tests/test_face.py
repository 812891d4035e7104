"""Face analysis: landmarks, pose conventions, matte and clean plate, mouth/eye state, mesh, tracking."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from vasa_core.analysis import face_geometry as fg
from vasa_core.analysis.face_matte import push_pull_fill
from vasa_core.errors import InputError

from .conftest import read_rgb

P01 = "portraits/p01_ai_stylegan2_tpdne_woman_frontal.jpeg"  # frontal, smiling with teeth
P14 = "portraits/p14_painting_vermeer_pearl_earring_turned.jpg"  # 3/4 view painting, 1092x1280
P03 = "portraits/p03_ai_flux_man_halfbody_frontal.png"  # half-body, small face, closed mouth


@pytest.fixture(scope="module")
def p01(analyzer, shared_media):
    return analyzer.analyze(read_rgb(shared_media / P01), size=384)


# --- pure geometry: no media needed ---------------------------------------------------------------------------


@pytest.mark.parametrize("angles", [(20.0, 0.0, 0.0), (0.0, 15.0, 0.0), (0.0, 0.0, -10.0), (-12.0, 8.0, 5.0)])
def test_euler_round_trip(angles):
    rot = fg.rotation_from_euler(*angles)
    np.testing.assert_allclose(fg.euler_from_rotation(rot), angles, atol=1e-3)
    np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-5)


def _synthetic_landmarks(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """The canonical model posed and projected orthographically into a 512 px image (z toward the camera)."""
    pose = fg.HeadPose(fg.rotation_from_euler(yaw, pitch, roll), 12.0, np.array([256, 256, 0], np.float32), 0.0)
    cam = pose.to_camera(fg.canonical_face().vertices)
    pts = np.zeros((fg.NUM_LANDMARKS, 3), np.float32)
    pts[: fg.NUM_MESH_POINTS] = fg.from_camera_frame(cam)
    return pts


def test_pose_sign_conventions_match_types():
    # yaw > 0 turns the face toward the image's right: the nose tip moves right of the face centre
    right = _synthetic_landmarks(20, 0, 0)
    assert right[fg.NOSE_TIP, 0] > right[list(fg.FACE_OVAL), 0].mean() + 5
    # pitch > 0 tilts the face up: the nose tip rises above its frontal height
    up, front = _synthetic_landmarks(0, 15, 0), _synthetic_landmarks(0, 0, 0)
    assert up[fg.NOSE_TIP, 1] < front[fg.NOSE_TIP, 1] - 5
    # roll > 0 is clockwise on screen: the subject's left eye (image right) drops below the right eye
    rolled = _synthetic_landmarks(0, 0, 10)
    assert rolled[263, 1] > rolled[33, 1] + 5


@pytest.mark.parametrize("angles", [(25.0, -5.0, 3.0), (-30.0, 10.0, -8.0)])
def test_fit_head_pose_recovers_pose_and_scale(angles):
    pts = _synthetic_landmarks(*angles)
    pose = fg.fit_head_pose(pts)
    np.testing.assert_allclose(fg.euler_from_rotation(pose.rotation), angles, atol=0.05)
    assert pose.scale == pytest.approx(12.0, rel=1e-4)
    assert pose.residual < 1e-3


def test_hole_triangles_close_mouth_and_eyes():
    tris = fg.canonical_face().triangles
    holes = fg.hole_triangle_mask(tris)
    assert 20 <= holes.sum() <= 60
    hole_vertices = set(tris[holes].ravel())
    assert hole_vertices <= set(fg.INNER_LIP_LOOP) | set(sum(fg.EYE_UPPER + fg.EYE_LOWER, ()))


def test_push_pull_fills_a_hole_smoothly():
    ramp = np.tile(np.linspace(0, 255, 128, dtype=np.float32), (128, 1))
    image = np.dstack([ramp] * 3).astype(np.uint8)
    known = np.ones((128, 128), np.float32)
    known[40:90, 50:80] = 0
    filled = push_pull_fill(np.where(known[..., None] > 0, image, 0).astype(np.uint8), known)
    assert np.array_equal(filled[known > 0], image[known > 0])  # known pixels untouched
    err = np.abs(filled[40:90, 50:80].astype(int) - image[40:90, 50:80].astype(int))
    assert err.mean() < 12  # a smooth continuation, not black or a streak


# --- mediapipe on real portraits -------------------------------------------------------------------------------


def test_analysis_shapes_and_types(p01):
    a = p01
    assert a.image.shape == (384, 384, 3) and a.image.dtype == np.uint8
    assert a.landmarks.shape == (478, 3) and a.landmarks.dtype == np.float32
    assert a.matte.shape == (384, 384) and a.matte.dtype == np.float32
    assert 0.0 <= a.matte.min() and a.matte.max() <= 1.0
    assert a.clean_plate.shape == a.image.shape
    assert a.head_rotation.shape == (3, 3) and a.head_pivot.shape == (3,)
    inside = (a.landmarks[:, 0] > 0) & (a.landmarks[:, 0] < a.width) & (a.landmarks[:, 1] > 0)
    assert inside.all()
    x0, y0, x1, y1 = a.face_box
    assert 0.3 * a.width < x1 - x0 < 0.9 * a.width


def test_p01_state_frontal_smiling_with_teeth(p01):
    yaw, pitch, roll = p01.head_pose
    assert abs(yaw) < 12 and abs(roll) < 8
    assert p01.teeth_visible and p01.mouth_open > 0.02
    assert p01.eyes_open and np.all(p01.eye_openness > 0.15)
    assert p01.warnings == ()


def test_matte_covers_face_and_plate_removes_person(p01):
    a = p01
    nose = a.landmarks[fg.NOSE_TIP, :2].astype(int)
    assert a.matte[nose[1], nose[0]] > 0.95
    assert a.matte[5, 5] < 0.05 and a.matte[5, -5] < 0.05  # grey studio background corners
    person = (a.matte > 0.05).astype(np.uint8)
    far = cv2.dilate(person, np.ones((31, 31), np.uint8)) == 0  # beyond the plate's grown hole (<= 2.5% of 384)
    assert far.mean() > 0.1
    assert np.abs(a.clean_plate[far].astype(int) - a.image[far].astype(int)).max() <= 0  # unchanged background
    # the plate at the face is background-grey, not skin: low chroma, close to the corner's colour
    face_px = a.clean_plate[nose[1], nose[0]].astype(float)
    assert np.abs(face_px - a.image[5, 5].astype(float)).max() < 40


def test_an_animal_without_a_silhouette_is_one_layer(analyzer, shared_media, p01):
    """Selfie segmentation finds only a blob around a cat's face: the whole picture becomes the layer (no cut-out
    head in a hole of inpainted fur), and the report says so. A person keeps the segmented matte."""
    cat = analyzer.analyze(read_rgb(shared_media / "portraits/p21_animal_cat.jpg"), size=256)
    assert cat.one_layer and (cat.matte == 1.0).all() and np.array_equal(cat.clean_plate, cat.image)
    assert any("silhouette" in w for w in cat.warnings)
    assert not p01.one_layer and p01.matte.min() < 0.05
    assert not any("silhouette" in w for w in p01.warnings)


def test_mesh_covers_image_and_pins_border(p01):
    m = p01.mesh
    assert np.array_equal(m.vertices[:478], p01.landmarks)
    assert m.triangles.min() == 0 and m.triangles.max() == len(m.vertices) - 1
    assert m.hole_triangles.shape == (len(m.triangles),) and m.hole_triangles.sum() > 0
    assert np.all(m.head_weight[:478] == 1.0)
    outer = m.vertices[-36:, :2]
    assert outer[:, 0].min() < 0 and outer[:, 0].max() > p01.width  # the last ring encloses the image
    assert outer[:, 1].min() < 0 and outer[:, 1].max() > p01.height
    assert np.all(m.head_weight[-36:] == 0.0)


def test_turned_painting_pose_and_aspect(analyzer, shared_media):
    a = analyzer.analyze(read_rgb(shared_media / P14), size=256)
    assert max(a.image.shape[:2]) == 256 and a.image.shape[0] % 2 == 0 and a.image.shape[1] % 2 == 0
    assert a.image.shape[1] == 218  # 1092x1280 -> 218.4 -> even 218
    assert abs(a.head_pose[0]) > 20  # the 3/4 view is measured as turned
    assert any("turned" in w for w in a.warnings)


def test_head_framing_crops_to_head_and_shoulders(analyzer, shared_media):
    image = read_rgb(shared_media / P03)
    whole = analyzer.analyze(image, size=256)
    head = analyzer.analyze(image, size=256, framing="head")
    assert head.image.shape[0] == head.image.shape[1] == 256
    assert head.face_width > 2.0 * whole.face_width
    assert not head.teeth_visible and head.mouth_open < 0.02


def test_no_face_is_an_input_error(analyzer):
    flat = np.full((200, 200, 3), 128, np.uint8)
    with pytest.raises(InputError, match="No face"):
        analyzer.analyze(flat)


@pytest.mark.parametrize("bad", [np.zeros((64, 64), np.uint8), np.zeros((64, 64, 3), np.float32),
                                 np.zeros((10, 10, 3), np.uint8)])
def test_bad_images_are_input_errors(analyzer, bad):
    with pytest.raises(InputError):
        analyzer.analyze(bad)


def test_bad_framing_is_an_input_error(analyzer, shared_media):
    with pytest.raises(InputError, match="framing"):
        analyzer.analyze(read_rgb(shared_media / P01), framing="full")


def test_track_video_frames(analyzer, shared_media):
    import av

    frames = []
    with av.open(str(shared_media / "videos" / "v04_real_woman_blue_bg.mp4")) as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))
            if len(frames) == 6:
                break
    frames.append(np.full_like(frames[0], 40))
    tracks = analyzer.track(frames)
    assert tracks.shape == (7, 478, 3) and tracks.dtype == np.float32
    assert np.isfinite(tracks[:6]).all() and np.isnan(tracks[6]).all()
    # consecutive frames of a talking head: landmarks move by a few pixels at most
    assert np.abs(np.diff(tracks[:6, :, :2], axis=0)).mean() < 3
