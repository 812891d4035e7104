"""The benchmark's metric functions on tiny synthetic inputs, and its table code; the bench itself never runs here."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from bench import head_pose, memory, quality, report, speed
from bench import __main__ as bench_main
from bench.quality import ClipMetrics
from bench.report import Row

pytestmark = pytest.mark.cpu


def _landmarks(n: int) -> np.ndarray:
    """(n, 478, 3) landmarks of a neutral face-ish layout: forehead (10) 100 px above the chin (152)."""
    lm = np.zeros((n, 478, 3), np.float32)
    lm[:, :, 0] = np.linspace(100, 200, 478)
    lm[:, :, 1] = 150.0
    lm[:, quality.FOREHEAD, :2] = (150, 100)
    lm[:, quality.CHIN, :2] = (150, 200)
    lm[:, quality.UPPER_LIP_CENTER, :2] = (150, 170)
    lm[:, quality.LOWER_LIP_CENTER, :2] = (150, 170)
    return lm


def test_mouth_opening_is_lip_gap_over_face_height_and_nan_without_face():
    lm = _landmarks(3)
    lm[1, quality.LOWER_LIP_CENTER, 1] = 180.0  # 10 px gap on a 100 px face
    lm[2] = np.nan
    opening = quality.mouth_opening(lm)
    assert opening[0] == pytest.approx(0.0)
    assert opening[1] == pytest.approx(0.1)
    assert math.isnan(opening[2])


def test_eye_openness_drops_when_lids_meet():
    lm = _landmarks(2)
    for (outer, inner), lids in zip(quality.EYE_CORNERS, quality.EYE_LIDS):
        lm[:, outer, :2], lm[:, inner, :2] = (100, 120), (140, 120)  # 40 px wide eye
        for upper, lower in lids:
            lm[0, upper, :2], lm[0, lower, :2] = (120, 110), (120, 122)  # 12 px open
            lm[1, upper, :2], lm[1, lower, :2] = (120, 120), (120, 121)  # 1 px: closed
    openness = quality.eye_openness(lm)
    assert openness[0] == pytest.approx(0.3)
    assert openness[1] == pytest.approx(0.025)


@pytest.mark.parametrize("shift", [-3, 0, 4])
def test_lagged_correlation_finds_the_shift(shift):
    rng = np.random.default_rng(0)
    driver = np.convolve(rng.normal(size=240), np.ones(3) / 3, mode="same")
    response = np.roll(driver, shift)  # response[t + shift] == driver[t]
    r, lag = quality.lagged_correlation(driver, response, max_lag=8)
    assert lag == shift
    assert r > 0.95


def test_lagged_correlation_is_nan_when_too_short_or_flat():
    assert math.isnan(quality.lagged_correlation(np.arange(10.0), np.arange(10.0), 2)[0])
    assert math.isnan(quality.lagged_correlation(np.ones(100), np.arange(100.0), 2)[0])


def test_count_blinks_counts_dips_once_and_ignores_noise_and_gaps():
    rng = np.random.default_rng(1)
    openness = 0.3 + rng.normal(0, 0.01, 200)  # tracker noise alone is no blink
    assert quality.count_blinks(openness) == 0
    openness[50:53] = 0.05
    openness[120:124] = [0.1, 0.2, 0.1, 0.05]  # a dip that does not reopen past 80% counts once
    openness[150] = np.nan
    assert quality.count_blinks(openness) == 2


def test_head_angles_recover_a_known_turn():
    from vasa_core.analysis import face_geometry as fg

    canon = fg.canonical_face().vertices @ fg.FLIP_YZ  # camera frame, z away
    frames = []
    for yaw in (0.0, 10.0):
        cam = 8.0 * canon @ fg.rotation_from_euler(yaw, 5.0, 0.0).T + np.array([256.0, 256.0, 0.0])
        lm = np.zeros((478, 3), np.float32)
        lm[:468] = fg.from_camera_frame(cam)
        frames.append(lm)
    angles = quality.head_angles(np.stack(frames))
    np.testing.assert_allclose(angles[0], [0.0, 5.0, 0.0], atol=0.05)
    np.testing.assert_allclose(angles[1], [10.0, 5.0, 0.0], atol=0.05)


def test_pose_change_and_spread_of_a_ramp():
    angles = np.zeros((11, 3), np.float32)
    angles[:, 0] = np.arange(11)  # yaw +1 degree per frame
    angles[5] = np.nan
    change, spread = quality.pose_change_and_spread(angles)
    assert change == pytest.approx(1.0)
    valid = np.delete(np.arange(11.0), 5)
    assert spread == pytest.approx(valid.std())


def _posed_face(yaw: float = 5.0) -> np.ndarray:
    """(468, 3) camera-frame canonical face, 8 px/cm, turned by ``yaw`` degrees, centred on (160, 160)."""
    from vasa_core.analysis import face_geometry as fg

    canon = 8.0 * fg.canonical_face().vertices.astype(np.float64) @ fg.FLIP_YZ
    return canon @ fg.rotation_from_euler(yaw, 0.0, 0.0).T.astype(np.float64) + np.array([160.0, 160.0, 0.0])


def test_rotation_from_displacements_recovers_a_small_turn_under_noise():
    from vasa_core.analysis import face_geometry as fg

    points = _posed_face()[list(head_pose.RIGID_POINTS)]
    points -= points.mean(axis=0)
    turn = fg.rotation_from_euler(0.2, -0.1, 0.15).astype(np.float64)
    moved = points @ turn.T + np.array([0.3, -0.2, 0.0])  # plus a sideways shift of the whole head
    noise = np.random.default_rng(2).normal(0.0, 0.02, (len(points), 2))  # LK-like sub-pixel noise
    displacements = moved[:, :2] - points[:, :2] + noise
    displacements[:3] += 4.0  # hair over three windows: the robust fit must not follow them
    # 0.02 px of noise moves pitch by ~0.015 degrees (depth and height are partly collinear on the upper face)
    np.testing.assert_allclose(head_pose.rotation_from_displacements(points, displacements), [0.2, -0.1, 0.15],
                               atol=0.03)
    assert np.linalg.norm(head_pose.rotation_from_displacements(points, noise)) < 0.03


def _sines(x: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    """Grey uint8 RGB texture, a sum of sines of 6-20 px wavelength, evaluated exactly at (x, y) (OpenCV warps
    round positions to 1/32 px, as much as the sub-pixel motions measured here are off)."""
    rng = np.random.default_rng(seed)
    grey = np.zeros(x.shape)
    for _ in range(40):
        angle, wavelength, phase = rng.uniform(0, np.pi), rng.uniform(6, 20), rng.uniform(0, 2 * np.pi)
        grey += np.sin(2 * np.pi / wavelength * (x * np.cos(angle) + y * np.sin(angle)) + phase)
    return np.repeat(np.clip(128 + 12 * grey, 0, 255).astype(np.uint8)[..., None], 3, axis=2)


def test_pose_steps_ignore_a_moving_mouth_and_jittery_landmarks_but_read_a_roll():
    from vasa_core.analysis import face_geometry as fg

    rng = np.random.default_rng(3)
    y, x = np.mgrid[0:320, 0:320].astype(np.float64)
    still = _sines(x, y, seed=4)
    lm = np.zeros((478, 3), np.float32)
    lm[:468] = fg.from_camera_frame(_posed_face())
    mouth = lm[list(fg.OUTER_UPPER_LIP + fg.OUTER_LOWER_LIP) + [fg.CHIN], :2]
    (x0, y0), (x1, y1) = mouth.min(axis=0).astype(int) - 5, mouth.max(axis=0).astype(int) + 5
    talking = still.copy()
    talking[y0:y1, x0:x1] = _sines(x[y0:y1, x0:x1], y[y0:y1, x0:x1], seed=5)  # only the mouth changes
    roll = np.radians(0.3)  # clockwise on screen: each pixel shows what lay 0.3 degrees counter-clockwise of it
    cx, cy = x - 160.0, y - 160.0
    rolled = _sines(160 + cx * np.cos(roll) + cy * np.sin(roll), 160 - cx * np.sin(roll) + cy * np.cos(roll), 4)
    jitter = rng.normal(0.0, 0.5, (3, 478, 3)).astype(np.float32)  # tracker jitter: where the image is sampled
    steps = head_pose.pose_steps([still, talking, rolled], lm[None] + jitter)
    assert np.linalg.norm(steps[0]) < 0.01
    np.testing.assert_allclose(steps[1], [0.0, 0.0, 0.3], atol=0.02)


@pytest.mark.parametrize("rate", [0.1, 0.2])
def test_validation_rotations_change_the_pose_by_the_rate_every_frame(rate):
    for offsets in head_pose.validation_rotations(10, rate).values():
        np.testing.assert_allclose(np.linalg.norm(np.diff(offsets, axis=0), axis=1), rate, rtol=1e-5)


def test_landmark_jitter_is_zero_for_smooth_motion_and_grows_with_noise():
    lm = _landmarks(40)
    lm[:, quality.OUTER_EYE_CORNERS[0], :2] = (110, 120)
    lm[:, quality.OUTER_EYE_CORNERS[1], :2] = (210, 120)  # inter-ocular distance 100 px
    smooth = lm.copy()
    smooth[:, :, 0] += np.arange(40)[:, None]  # 1 px per frame drift: real motion
    assert quality.landmark_jitter(smooth) == pytest.approx(0.0, abs=1e-6)
    noisy = smooth.copy()
    noisy[:, list(quality.RIGID_POINTS), 0] += np.where(np.arange(40) % 2, 1.0, -1.0)[:, None]
    assert quality.landmark_jitter(noisy) == pytest.approx(0.8, rel=0.05)  # |1 - 0.2 alternating mean| = 0.8 px


def test_bilabial_hits_need_a_closure_inside_the_phone():
    opening = np.full(50, 0.08)
    opening[10] = 0.0  # lips closed at frame 10 only
    phones = [(0.38, 0.44, "M"), (1.2, 1.3, "P"), (0.5, 0.6, "AA")]  # frames 9-11 (hit), 30-33 (miss), vowel
    assert quality.bilabial_hits(opening, 25.0, phones) == (1, 2)


def test_sharpness_falls_with_blur():
    import cv2

    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    blurred = cv2.GaussianBlur(image, (7, 7), 2.0)
    box = (8, 8, 56, 56)
    assert quality.sharpness(blurred, box) < 0.2 * quality.sharpness(image, box)


def test_background_motion_measures_change_outside_the_person_only():
    still = [np.full((32, 32), 100, np.uint8) for _ in range(4)]
    moving = [np.full((32, 32), 100 + 2 * i, np.uint8) for i in range(4)]
    background = np.zeros((32, 32), bool)
    background[:, :8] = True
    assert quality.background_motion(still, background) == 0.0
    assert quality.background_motion(moving, background) == pytest.approx(2.0)
    assert math.isnan(quality.background_motion(moving, np.zeros((32, 32), bool)))


def test_phone_files_parse(tmp_path):
    pho = tmp_path / "u.pho"
    pho.write_text("_\t100\nm\t80\t0 120\nA\t120\np_h\t90\n_\t1\n")
    phones = quality.read_pho(pho)
    assert phones[1] == pytest.approx((0.1, 0.18, "M"))
    assert phones[2][2] == "A"
    assert phones[3][2] == "P"  # mbrola writes an aspirated /p/ as p_h
    grid = tmp_path / "u.TextGrid"
    grid.write_text(
        'File type = "ooTextFile"\nObject class = "TextGrid"\n\n0\n1\n<exists>\n1\n"IntervalTier"\n"phones"\n0\n1\n2\n'
        '0\n0.4\n"B"\n0.4\n1\n"AH0"\n'
    )
    assert quality.read_textgrid_phones(grid) == [(0.0, 0.4, "B"), (0.4, 1.0, "AH")]


def _clip(name: str, kind: str, corr: float) -> ClipMetrics:
    values = {f: 1.0 for f, _, _, _ in quality.METRICS}
    values["mouth_loudness_corr"] = corr
    return ClipMetrics(name=name, kind=kind, frames=100, fps=25.0, face_fraction=1.0, bilabials=2,
                       phone_source="ground truth", **values)


def test_metric_rows_hold_ours_to_the_real_range():
    real = [_clip("a", "real", 0.2), _clip("b", "real", 0.4)]
    rows = quality.metric_rows(real, [_clip("x", "ours", 0.3), _clip("y", "ours", 0.5)])
    assert len(rows) == 1 + len(quality.METRICS)
    corr = next(r for r in rows if r.metric.startswith("mouth opening"))
    assert corr.value == pytest.approx(0.4)
    assert corr.passed is False and "1/2 clips meet it" in corr.note
    assert next(r for r in rows if r.metric.startswith("blinks")).passed is True


def test_one_sided_metrics_do_not_fail_for_being_better_than_real():
    real = [_clip("a", "real", 0.2), _clip("b", "real", 0.4)]
    better = ClipMetrics(**{**_clip("x", "ours", 0.3).__dict__, "identity_distance": 0.1, "sharpness_ratio": 3.0,
                            "blinks_per_min": 0.0})
    rows = {r.metric: r for r in quality.metric_rows(real, [better])}
    assert rows["identity distance to the portrait"].passed is True  # goal: <= real max
    assert rows["face sharpness vs the portrait"].passed is True  # goal: >= real min
    assert rows["blinks per minute"].passed is False  # goal: inside the real range
    empty = quality.metric_rows(real, [], "renderer broke")
    assert all(r.value is None for r in empty[1:]) and "renderer broke" in empty[0].note


def test_clip_table_lists_every_clip_and_metric():
    from dataclasses import asdict

    ours = asdict(_clip("x", "ours", math.nan))
    table = quality.clip_table({"real": [asdict(_clip("a", "real", 0.2))], "ours": [ours]}).splitlines()
    assert len(table) == 4 + 2
    assert table[-1].startswith("| x | ours | 100 | - |")
    assert table[2].count("|") == 3 + len(quality.METRICS) + 1
    assert quality.clip_table({}) == ""


def test_format_and_table():
    assert report.format_number(0.123456) == "0.123"
    assert report.format_number(1234.5) == "1234"
    assert report.format_number(0.0) == "0"
    rows = [Row("speed", "rtf", 0.4, "x", "<= 0.5", report.goal_at_most(0.4, 0.5)),
            Row("speed", "latency", None, "ms", text="n/a (no streaming API)"),
            report.failed_row("quality", "all", RuntimeError("no | pipe\nsecond line"))]
    table = report.markdown_table(rows).splitlines()
    assert len(table) == 2 + len(rows)
    assert "PASS" in table[2] and "n/a (no streaming API)" in table[3]
    assert "no / pipe" in table[4] and "second line" not in table[4]
    assert report.summary(rows) == "1 goals passed, 0 failed, 1 rows not measured."


def test_write_results_and_update_readme(tmp_path):
    rows = [Row("memory", "peak", 300.0, "MiB"), Row("quality", "r", math.nan, "r"),
            Row("motion", "informative only", 1.0)]
    info = report.run_info("quick", ["memory"])
    report.write_results(rows, info, {"x": [math.nan, 1.0]}, tmp_path / "r.md", tmp_path / "r.json")
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["rows"][0]["value"] == 300.0 and data["details"]["x"] == [None, 1.0]
    loaded, loaded_info = report.load_results(tmp_path / "r.json")
    assert loaded[0] == rows[0] and loaded[1].value is None and loaded_info == info
    assert "| memory | peak | 300 | MiB |" in (tmp_path / "r.md").read_text()

    readme = tmp_path / "README.md"
    readme.write_text(f"# t\n\n## Performance\n\n{report.README_START}\nold table\n{report.README_END}\n\n## Limits\n")
    report.update_readme(rows, info, readme)
    report.update_readme(rows, info, readme)  # idempotent: one block, not two
    text = readme.read_text()
    assert "old table" not in text and text.count(report.README_START) == 1 and text.endswith("## Limits\n")
    assert "| memory | peak | 300 |" in text and "informative only" not in text
    readme.write_text(f"## Performance\n\n{report.README_START}\n\n## Limits\n")  # no end marker yet: one is added
    report.update_readme(rows, info, readme)
    text = readme.read_text()
    assert text.index(report.README_START) < text.index("| memory |") < text.index(report.README_END)
    assert text.endswith("\n\n## Limits\n")
    readme.write_text("no markers\n")
    with pytest.raises(ValueError, match="PERFORMANCE"):
        report.update_readme(rows, info, readme)


def test_merge_keeps_other_sections_and_says_which_run_each_came_from(tmp_path):
    first = report.RunInfo("2026-01-01 10:00 UTC", "m", "aaa", "full", {"sections": ["speed", "memory", "motion"]})
    old = [Row("speed", "rtf", 0.5), Row("memory", "peak", 900.0), Row("motion", "hits", 50.0)]
    report.write_results(old, first, {"memory": {"old": 1}, "motion": {"kept": 1}}, tmp_path / "r.md",
                         tmp_path / "r.json")
    second = report.RunInfo("2026-01-02 10:00 UTC", "m", "bbb", "full", {"sections": ["memory"]})
    rows, details, info = report.merge_previous([Row("memory", "peak", 950.0)], {"memory": {"new": 1}}, second,
                                                tmp_path / "r.json")
    assert [(r.section, r.value) for r in rows] == [("speed", 0.5), ("memory", 950.0), ("motion", 50.0)]
    assert details == {"memory": {"new": 1}, "motion": {"kept": 1}}
    runs = info.extra["section_runs"]
    assert runs["memory"] == "2026-01-02 10:00 UTC (commit bbb)" and runs["speed"] == "2026-01-01 10:00 UTC (commit aaa)"
    assert "speed, motion at 2026-01-01 10:00 UTC (commit aaa)" in report.header(info)
    report.write_results(rows, info, details, tmp_path / "r.md", tmp_path / "r.json")
    third = report.RunInfo("2026-01-03 10:00 UTC", "m", "ccc", "full", {"sections": ["speed"]})
    _, _, info = report.merge_previous([Row("speed", "rtf", 0.4)], {}, third, tmp_path / "r.json")
    assert info.extra["section_runs"] == {"speed": "2026-01-03 10:00 UTC (commit ccc)",
                                          "memory": "2026-01-02 10:00 UTC (commit bbb)",
                                          "motion": "2026-01-01 10:00 UTC (commit aaa)"}


def test_git_commit_reads_refs_without_git(tmp_path):
    git = tmp_path / ".git"
    (git / "refs" / "heads").mkdir(parents=True)
    (git / "HEAD").write_text("ref: refs/heads/main\n")
    (git / "packed-refs").write_text("# pack-refs\n0123456789abcdef0123 refs/heads/main\n")
    assert report.git_commit(tmp_path) == "0123456789ab"
    (git / "refs" / "heads" / "main").write_text("fedcba9876543210\n")
    assert report.git_commit(tmp_path) == "fedcba987654"
    assert report.git_commit(tmp_path / "nowhere") == "unknown"


def test_memory_rows_from_two_cli_runs(monkeypatch, tmp_path):
    peaks = {memory.SHORT_S: 400 * memory.MIB, memory.QUICK_LONG_S: 420 * memory.MIB}

    def fake_cli(image, audio, out, size):
        return speed.CliRun(1.0, peaks[float(Path(audio).stem)], 2 * peaks[float(Path(audio).stem)], {}, 0, "")

    monkeypatch.setattr(memory, "run_cli", fake_cli)
    inputs = speed.Inputs(Path("p.png"), {s: Path(f"{s}.wav") for s in peaks})
    rows, details = memory.run(inputs, quick=True, out_dir=tmp_path)
    assert [r.value for r in rows[:2]] == [400.0, 420.0]
    assert "sampled every 50 ms: 800 MiB" in rows[0].note
    assert "summed processes: +5%" in rows[2].note
    assert rows[2].value == pytest.approx(5.0) and rows[2].passed is True
    assert details["size"] == memory.QUICK_SIZE
    assert memory.peak_growth(100, 125) == pytest.approx(0.25)


def test_quick_main_writes_one_table_even_when_a_section_fails(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("VASA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(speed, "run", lambda inputs, quick, out_dir, pipe: ([Row("speed", "rtf", 0.3, "x")], {}))
    monkeypatch.setattr(memory, "run", lambda inputs, quick, out_dir: ([Row("memory", "peak", 1.0, "MiB")], {}))

    def broken(*args):
        raise RuntimeError("face tracker missing")

    monkeypatch.setattr(quality, "run", broken)
    code = bench_main.main(["--quick", "--only", "speed", "--only", "memory", "--only", "quality", "--only",
                            "watermark", "--results-dir", str(tmp_path), "--media", str(tmp_path)])
    assert code == 0
    data = json.loads((tmp_path / "results.json").read_text())
    sections = [r["section"] for r in data["rows"]]
    assert sections == ["speed", "memory", "quality", "watermark"]
    assert data["rows"][2]["text"] in ("not run", "skipped")
    assert data["run"]["mode"] == "quick"
    out = capsys.readouterr().out
    assert "| speed | rtf | 0.300 | x |" in out


def test_to_rows_accepts_the_shapes_other_sections_return():
    from dataclasses import dataclass

    @dataclass
    class Result:
        name: str
        value: float
        ok: bool

    rows = bench_main.to_rows("gallery", [Result("identity", 0.4, True), {"metric": "lag", "value": "n/a"}])
    assert rows[0] == Row("gallery", "identity", 0.4, passed=True)
    assert rows[1].text == "n/a" and rows[1].value is None
    assert bench_main.to_rows("motion", {"r": 0.5})[0].value == 0.5


def test_gallery_report_becomes_rows_held_to_its_goals():
    entry = {"identity_max": 0.25, "still_mean_abs_level": 0.2,
             "background_turn_left_15": {"flow_p95_px": 0.1}, "background_turn_right_15": {"pixels": 3}}
    data = {"size": 512, "portraits": {"p01": entry, "p02": {**entry, "identity_max": 0.35}},
            "speed": {"portrait": "p01", "size": 512, "fps": 120.0, "median_pass_fps": 110.0,
                      "fps_per_cpu_second": 60.0, "passes": 5, "frames": 250, "cpu_count": 2,
                      "load_average_1min": 0.5},
            "cannot_handle": {"p20": "no face"}}
    rows = {r.metric: r for r in bench_main.gallery_rows(data)}
    people, animals = ("identity distance, key frames vs portrait (people, paintings, cartoons)",
                       "identity distance, key frames vs portrait (animals)")
    assert rows[people].value == 0.35 and rows[people].passed is False
    data["summary"] = {"identity_max_humanlike": 0.25, "identity_max_animal_no_goal": 0.66,
                       "identity_over_0.3": {}}
    rows = {r.metric: r for r in bench_main.gallery_rows(data)}
    assert rows[people].value == 0.25 and rows[people].passed is True
    assert rows[animals].value == 0.66 and rows[animals].passed is None and rows[animals].goal == ""
    assert rows["background flow at 15 deg head turn (p95)"].passed is True
    assert rows["renderer fps (512 px)"].passed is True
    assert rows["portraits it cannot handle"].note == "p20"
    assert bench_main.gallery_rows({"portraits": {}}) == []


def test_vm_hwm_reads_this_process_peak():
    import os
    import resource

    import psutil

    peak = speed.vm_hwm_bytes(os.getpid())
    assert psutil.Process().memory_info().rss <= peak <= resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
