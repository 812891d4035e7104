"""The procedural motion generator, its controls, and motion files."""

from __future__ import annotations

import numpy as np
import pytest

from vasa_core.errors import InputError
from vasa_core.motion import MotionGenerator, ProceduralMotionGenerator, load_motion, save_motion
from vasa_core.motion.signals import smooth_noise
from vasa_core.types import (
    EXPRESSION_NAMES,
    AudioFeatures,
    Controls,
    MotionSequence,
    PhoneSegment,
    PortraitAnalysis,
    PortraitMesh,
)

FPS = 25.0


def portrait(eyes_open: bool = True, yaw: float = 0.0) -> PortraitAnalysis:
    """A PortraitAnalysis with only the fields the generator reads filled in meaningfully."""
    image = np.zeros((64, 64, 3), np.uint8)
    return PortraitAnalysis(
        image=image,
        landmarks=np.zeros((478, 3), np.float32),
        face_box=np.array([16, 16, 48, 48], np.float32),
        head_pose=np.array([yaw, 0.0, 0.0], np.float32),
        head_rotation=np.eye(3, dtype=np.float32),
        head_scale=1.0,
        head_pivot=np.zeros(3, np.float32),
        matte=np.ones((64, 64), np.float32),
        clean_plate=image,
        mesh=PortraitMesh(np.zeros((3, 3), np.float32), np.zeros((1, 3), np.int32), np.zeros(1, bool), np.ones(3)),
        mouth_open=0.0,
        teeth_visible=False,
        eye_openness=np.array([0.3, 0.3], np.float32),
        eyes_open=eyes_open,
    )


def speech(seconds: float = 8.0, phones=(), source: str = "phone-loop") -> AudioFeatures:
    """Syllables at 4 Hz from 0.5 s to seconds - 1 s (silence around), pitch accents every second."""
    n = int(seconds * FPS)
    t = (np.arange(n) + 0.5) / FPS
    talking = (t > 0.5) & (t < seconds - 1.0)
    syllables = 0.5 + 0.5 * np.cos(2 * np.pi * 4 * t) ** 2
    loudness = np.where(talking, 0.45 + 0.4 * syllables, 0.1).astype(np.float32)
    voiced = talking & (syllables > 0.6)
    f0 = np.where(voiced, 120 + 30 * (np.sin(2 * np.pi * 1.0 * t) > 0.7), 0).astype(np.float32)
    formants = np.where(voiced[:, None], [700.0, 1200.0, 2600.0], 0).astype(np.float32)
    return AudioFeatures(
        fps=FPS,
        num_frames=n,
        duration_s=seconds,
        loudness=loudness,
        voice_activity=talking.astype(np.float32),
        f0=f0,
        formants=formants,
        phones=tuple(phones),
        phone_source=source if phones else "none",
    )


def silence(seconds: float) -> AudioFeatures:
    n = int(seconds * FPS)
    zeros = np.zeros(n, np.float32)
    return AudioFeatures(FPS, n, seconds, zeros + 0.05, zeros, zeros, np.zeros((n, 3), np.float32), (), "none")


def generate(audio=None, face=None, **controls) -> MotionSequence:
    return ProceduralMotionGenerator().generate(audio or speech(), face or portrait(), Controls(**controls))


def frames_of(start: float, end: float) -> slice:
    return slice(int(start * FPS), int(np.ceil(end * FPS)))


def test_implements_the_protocol_with_exact_shapes():
    assert isinstance(ProceduralMotionGenerator(), MotionGenerator)
    audio = speech()
    motion = generate(audio)
    assert motion.num_frames == audio.num_frames and motion.fps == FPS
    assert motion.expression.shape == (audio.num_frames, len(EXPRESSION_NAMES))
    for name in ("expression", "head_rotation", "head_translation", "head_scale", "gaze"):
        array = getattr(motion, name)
        assert array.dtype == np.float32 and np.all(np.isfinite(array)), name
    assert motion.expression.min() >= 0.0 and motion.expression.max() <= 1.0


def test_same_seed_same_motion_different_seed_different_head():
    a, b, c = generate(seed=3), generate(seed=3), generate(seed=4)
    for name in ("expression", "head_rotation", "head_translation", "head_scale", "gaze"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert np.abs(a.head_rotation - c.head_rotation).mean() > 0.3


def test_blink_rate_does_not_reshuffle_the_head():
    a, b = generate(seed=5, blink_rate=10.0), generate(seed=5, blink_rate=40.0)
    assert np.array_equal(a.head_rotation, b.head_rotation)


def test_mouth_follows_loudness_and_rests_in_silence():
    audio = speech()
    motion = generate(audio)
    jaw = motion.weight("jaw_open")
    talking = frames_of(0.6, 6.9)
    assert np.corrcoef(jaw[talking], audio.loudness[talking])[0, 1] > 0.6
    assert 0.2 <= jaw.max() <= 0.7  # ordinary speech: 0.2-0.5, never a shout
    quiet = np.r_[0 : int(0.4 * FPS), int(7.2 * FPS) : audio.num_frames]
    mouth = [EXPRESSION_NAMES.index(n) for n in ("jaw_open", "funnel", "pucker", "stretch", "lower_lip_tuck")]
    assert np.abs(motion.expression[quiet][:, mouth]).max() < 0.02


def test_noise_without_voice_does_not_move_the_mouth():
    n = int(4 * FPS)
    rng = np.random.default_rng(0)
    noisy = AudioFeatures(
        FPS,
        n,
        4.0,
        (0.3 + 0.1 * rng.random(n)).astype(np.float32),
        np.zeros(n, np.float32),
        np.zeros(n, np.float32),
        np.zeros((n, 3), np.float32),
        (),
        "none",
    )
    assert generate(noisy).weight("jaw_open").max() < 0.02


def test_bilabials_close_and_labiodentals_tuck():
    phones = [
        PhoneSegment(0.0, 1.0, "SIL"),
        PhoneSegment(1.0, 1.2, "AA"),
        PhoneSegment(1.2, 1.27, "M"),
        PhoneSegment(1.27, 1.5, "AA"),
        PhoneSegment(1.5, 1.6, "F"),
        PhoneSegment(1.6, 1.9, "AA"),
        PhoneSegment(1.9, 8.0, "SIL"),
    ]
    motion = generate(speech(phones=phones))
    closed = frames_of(1.2 - 0.04, 1.27 + 0.04)
    assert motion.weight("mouth_close")[closed].max() >= 0.8
    assert motion.weight("jaw_open")[closed].min() < 0.05
    assert motion.weight("mouth_close")[frames_of(1.05, 1.15)].max() < 0.3
    assert motion.weight("lower_lip_tuck")[frames_of(1.5, 1.6)].max() >= 0.6
    assert motion.weight("lower_lip_tuck")[frames_of(1.0, 1.15)].max() < 0.2


def test_rounding_is_anticipated_across_consonants():
    def rounding_during_s(vowel: str) -> float:
        phones = [
            PhoneSegment(0.0, 1.0, "SIL"),
            PhoneSegment(1.0, 1.2, "IH"),
            PhoneSegment(1.2, 1.32, "S"),
            PhoneSegment(1.32, 1.44, "T"),
            PhoneSegment(1.44, 1.7, vowel),
            PhoneSegment(1.7, 8.0, "SIL"),
        ]
        motion = generate(speech(phones=phones))
        during = frames_of(1.22, 1.3)
        return float((motion.weight("pucker") + motion.weight("funnel"))[during].mean())

    assert rounding_during_s("UW") > rounding_during_s("IY") + 0.1


def test_without_phones_formants_shape_the_mouth():
    audio = speech()
    rounded = AudioFeatures(
        **{**audio.__dict__, "formants": np.where(audio.formants > 0, [350.0, 800.0, 2400.0], 0).astype(np.float32)}
    )
    spread = AudioFeatures(
        **{**audio.__dict__, "formants": np.where(audio.formants > 0, [350.0, 2300.0, 2900.0], 0).astype(np.float32)}
    )
    r, s = generate(rounded), generate(spread)
    assert (r.weight("pucker") + r.weight("funnel")).mean() > (s.weight("pucker") + s.weight("funnel")).mean() + 0.05
    assert s.weight("stretch").mean() > r.weight("stretch").mean() + 0.05
    assert r.weight("jaw_open").max() > 0.15  # singing / foreign speech: the mouth still moves


def test_lip_expressiveness_scales_the_mouth():
    full, half = generate(lip_expressiveness=1.0), generate(lip_expressiveness=0.5)
    assert half.weight("jaw_open").max() == pytest.approx(0.5 * full.weight("jaw_open").max(), rel=0.05)


def test_head_motion_zero_is_still_and_two_is_more():
    still = generate(head_motion=0.0)
    assert np.abs(np.diff(still.head_rotation, axis=0)).max() < 1e-6
    assert np.abs(np.diff(still.head_translation, axis=0)).max() < 1e-6
    calm, lively = generate(head_motion=1.0), generate(head_motion=2.0)
    assert np.std(lively.head_rotation, axis=0).sum() == pytest.approx(2 * np.std(calm.head_rotation, axis=0).sum())


def test_head_motion_is_natural_in_size_and_speed():
    motion = generate(speech(seconds=30.0))
    spread = np.std(motion.head_rotation, axis=0)
    assert np.all(spread < 6.0) and spread[0] > 0.5
    speed = np.abs(np.diff(motion.head_rotation, axis=0)).max()
    assert speed < 2.0  # degrees per frame: no jumps


def test_distance_scales_the_head():
    motion = generate(distance=1.2)
    assert np.mean(motion.head_scale) == pytest.approx(1.2, rel=0.01)
    assert np.mean(generate(distance=0.8).head_scale) == pytest.approx(0.8, rel=0.01)


def test_gaze_stays_around_the_requested_direction():
    motion = generate(gaze_yaw=15.0, gaze_pitch=-5.0)
    assert np.median(motion.gaze[:, 0]) == pytest.approx(15.0, abs=2.0)
    assert np.median(motion.gaze[:, 1]) == pytest.approx(-5.0, abs=2.0)
    assert np.ptp(motion.gaze[:, 0]) > 0.5  # saccades


def test_blinks_follow_the_rate():
    for rate in (10.0, 30.0):
        lids = generate(silence(120.0), blink_rate=rate, seed=1).weight("blink_l")
        blinks = np.sum((lids[1:] >= 0.5) & (lids[:-1] < 0.5))
        assert rate * 2 * 0.6 <= blinks <= rate * 2 * 1.4, (rate, blinks)
    assert generate(silence(60.0), blink_rate=0.0).weight("blink_l").max() < 0.1


def test_emotions_change_face_and_dynamics():
    neutral = generate(speech(seconds=20.0), seed=2)
    happy = generate(speech(seconds=20.0), seed=2, emotion="happy", emotion_intensity=1.0)
    sad = generate(speech(seconds=20.0), seed=2, emotion="sad", emotion_intensity=1.0)
    angry = generate(speech(seconds=20.0), seed=2, emotion="angry", emotion_intensity=1.0)
    surprised = generate(speech(seconds=20.0), seed=2, emotion="surprised", emotion_intensity=1.0)
    assert happy.weight("smile_l").mean() > neutral.weight("smile_l").mean() + 0.4
    assert sad.weight("brow_inner_up").mean() > neutral.weight("brow_inner_up").mean() + 0.3
    assert angry.weight("brow_down_l").mean() > 0.5 and surprised.weight("brow_outer_up").mean() > 0.5
    # A sad face moves slower and lower.
    assert sad.head_rotation[:, 1].mean() < neutral.head_rotation[:, 1].mean() - 3.0
    speed = lambda m: np.abs(np.diff(m.head_rotation, axis=0)).mean()  # noqa: E731
    assert speed(sad) < 0.6 * speed(neutral)
    assert sad.weight("jaw_open").max() < neutral.weight("jaw_open").max()
    half = generate(speech(seconds=20.0), seed=2, emotion="happy", emotion_intensity=0.5)
    assert half.weight("smile_l").mean() == pytest.approx(
        neutral.weight("smile_l").mean() + 0.5 * (happy.weight("smile_l").mean() - neutral.weight("smile_l").mean()),
        abs=0.02,
    )


def test_closed_eyes_in_the_photo_get_no_gaze_or_blinks():
    motion = generate(face=portrait(eyes_open=False), gaze_yaw=10.0)
    assert np.all(motion.gaze == 0) and motion.weight("blink_l").max() == 0


def test_turned_portrait_turns_less_toward_its_hidden_side():
    frontal = generate(speech(seconds=30.0), face=portrait(yaw=0.0), seed=7)
    turned = generate(speech(seconds=30.0), face=portrait(yaw=25.0), seed=7)
    assert turned.head_rotation[:, 0].max() < 0.5 * frontal.head_rotation[:, 0].max()
    assert turned.head_rotation[:, 0].min() == pytest.approx(frontal.head_rotation[:, 0].min())


def test_smooth_noise_is_seeded_and_normalised():
    a = smooth_noise(np.random.default_rng(0), 500, FPS, 0.5)
    assert a.std() == pytest.approx(1.0) and abs(a.mean()) < 1e-9
    assert np.array_equal(a, smooth_noise(np.random.default_rng(0), 500, FPS, 0.5))
    assert np.abs(np.diff(a)).max() < 0.5  # smooth at 25 fps


def test_motion_file_round_trip(tmp_path):
    motion = generate(seed=9)
    save_motion(motion, tmp_path / "m.npz")
    loaded = load_motion(tmp_path / "m.npz")
    assert loaded.fps == motion.fps and loaded.expression_names == motion.expression_names
    for name in ("expression", "head_rotation", "head_translation", "head_scale", "gaze"):
        assert np.array_equal(getattr(loaded, name), getattr(motion, name)), name
    save_motion(motion, tmp_path / "no_suffix")
    assert (tmp_path / "no_suffix.npz").is_file()


def test_motion_file_with_a_subset_of_names_in_any_order(tmp_path):
    n = 10
    np.savez(
        tmp_path / "edited.npz",
        fps=25.0,
        expression_names=np.array(["smile_r", "jaw_open"]),
        expression=np.tile([0.25, 0.75], (n, 1)),
        head_rotation=np.zeros((n, 3)),
        head_translation=np.zeros((n, 2)),
        head_scale=np.ones(n),
        gaze=np.zeros((n, 2)),
    )
    motion = load_motion(tmp_path / "edited.npz")
    assert np.all(motion.weight("jaw_open") == 0.75) and np.all(motion.weight("smile_r") == 0.25)
    assert np.all(motion.weight("blink_l") == 0.0)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"gaze": None}, "lacks gaze"),
        ({"expression_names": np.array(["jaw_open", "wiggle_ears"])}, "wiggle_ears"),
        ({"head_scale": np.ones(7)}, "inconsistent"),
        ({"gaze": np.full((10, 2), np.nan)}, "NaN"),
        ({"fps": -1.0}, "fps"),
    ],
)
def test_bad_motion_files_are_explained(tmp_path, change, message):
    n = 10
    arrays = dict(
        fps=25.0,
        expression_names=np.array(["jaw_open", "smile_l"]),
        expression=np.zeros((n, 2)),
        head_rotation=np.zeros((n, 3)),
        head_translation=np.zeros((n, 2)),
        head_scale=np.ones(n),
        gaze=np.zeros((n, 2)),
    )
    arrays.update(change)
    np.savez(tmp_path / "bad.npz", **{k: v for k, v in arrays.items() if v is not None})
    with pytest.raises(InputError, match=message):
        load_motion(tmp_path / "bad.npz")


def test_unreadable_motion_files_are_explained(tmp_path):
    (tmp_path / "text.npz").write_text("not a zip")
    with pytest.raises(InputError, match="could not be read"):
        load_motion(tmp_path / "text.npz")
    with pytest.raises(InputError, match="does not exist"):
        load_motion(tmp_path / "missing.npz")


def test_real_speech_with_transcript_closes_on_bilabials(shared_media):
    from vasa_core.analysis.audio import AudioAnalyzer
    from vasa_core.media import read_audio

    with AudioAnalyzer(phone_workers=1) as analyzer:
        features = analyzer.analyze(
            read_audio(shared_media / "aligned" / "arctic_a0009.wav"),
            fps=FPS,
            transcript="He turned sharply, and faced Gregson across the table.",
        )
    motion = ProceduralMotionGenerator().generate(features, portrait(), Controls())
    for start, end in ((0.81, 0.90), (2.68, 2.75)):  # P of "sharply", B of "table" (arctic_a0009_phone.lab)
        assert motion.weight("mouth_close")[frames_of(start - 0.04, end + 0.04)].max() >= 0.5
    assert motion.weight("jaw_open").max() > 0.2


def test_real_speech_without_transcript_closes_on_most_bilabials(shared_media):
    from vasa_core.analysis.audio import AudioAnalyzer
    from vasa_core.media import read_audio

    wav = shared_media / "tts" / "mb-us1_s130_u5.wav"  # "my mother bought five yellow umbrellas ... monday morning"
    with AudioAnalyzer(phone_workers=1) as analyzer:
        features = analyzer.analyze(read_audio(wav), fps=FPS)
    motion = ProceduralMotionGenerator().generate(features, portrait(), Controls())
    closed = motion.weight("mouth_close") >= 0.5
    near = np.zeros(len(closed), bool)
    hits, t = [], 0.0
    for line in wav.with_suffix(".pho").read_text().splitlines():  # mbrola: SAMPA phone, duration ms, pitch points
        parts = line.split()
        if len(parts) >= 2 and not line.startswith(";"):
            end = t + float(parts[1]) / 1000.0
            if parts[0] in ("p", "b", "m"):
                hits.append(bool(closed[frames_of(t - 0.04, end + 0.04)].any()))
                near[frames_of(t - 0.04, end + 0.04)] = True
            t = end
    assert len(hits) == 8
    # The phone loop at lw 1 closes on 7 of the 8 (at the CMUSphinx tutorial's lw 2 it found 4).
    assert sum(hits) >= 6, f"lips closed on {sum(hits)} of 8 /p b m/"
    # ... and not everywhere: 3 closed frames away from any /p b m/ measured (23 near them).
    assert (closed & ~near).sum() <= 6
