"""One benchmark command, one table: ``python -m bench [--quick] [--only SECTION ...] [--update-readme]``.

Sections: speed and memory (the project's own example portrait and speech, so they always run), quality (the
shared media, ours beside real videos), and the sections other modules own (gallery, motion, watermark), called
through their entry functions. A section that is missing or fails leaves a row saying so; the command never
stops half-way. The table is printed and written to bench/results.md and bench/results.json.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import inspect
import io
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any, Callable

from . import memory, quality, speed
from .report import (RESULTS_JSON, RESULTS_MD, ROOT, Row, failed_row, load_results, markdown_table, merge_previous,
                     run_info,
                     summary, update_readme, write_results)

ASSETS = ROOT / "assets" / "examples"
PORTRAIT = ASSETS / "woman_stylegan2.jpeg"  # AI-generated, licence-clean (assets/examples/ATTRIBUTION.md)
SPEECH = ASSETS / "speech_en_jfk.flac"  # 11 s English speech, public domain
SHARED_MEDIA = Path(os.environ.get("VASA_SHARED_MEDIA", ROOT.parent / "shared" / "media"))
OUT_DIR = ROOT / "bench" / "out"  # rendered clips, kept for viewing (git-ignored)

# Sections owned by other modules: module, argv for its main() in the full bench, and under --quick (None: skipped,
# it has no quick mode and takes minutes). A module with a ``run`` function is called with the keyword arguments it
# names among quick, media_dir, out_dir instead; a main() becomes rows through its summary below, or one row.
EXTERNAL: dict[str, tuple[str, list[str], list[str] | None]] = {
    "gallery": ("bench.gallery", [], ["--only", "p01"]),
    "motion": ("bench.motion_quality", [], []),
    "watermark": ("bench.watermark_robustness", [], None),
}
# bench.gallery's goals (its docstring): identity < 0.3, still frame < 1 level, background flow < 0.5 px, >= 100 fps.
GALLERY_IDENTITY_MAX, GALLERY_STILL_MAX, GALLERY_FLOW_MAX, GALLERY_FPS_MIN = 0.3, 1.0, 0.5, 100.0
SECTIONS = ("speed", "memory", "quality", *EXTERNAL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a subset of a few minutes: fewer sizes, frames and clips")
    parser.add_argument("--only", action="append", choices=SECTIONS, metavar="SECTION",
                        help=f"run only this section (repeatable): {', '.join(SECTIONS)}")
    parser.add_argument("--update-readme", action="store_true", help="also rewrite README.md's performance table")
    parser.add_argument("--merge", action="store_true",
                        help="with --only: keep the other sections' rows from the last results.json (the header "
                             "names both runs)")
    parser.add_argument("--readme-from-results", action="store_true",
                        help="run nothing: rewrite README.md's table from the last results.json")
    parser.add_argument("--media", type=Path, default=SHARED_MEDIA, help="the shared test media folder")
    parser.add_argument("--out-dir", type=Path, default=OUT_DIR, help="where rendered clips are kept")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_MD.parent,
                        help="where results.md and results.json are written")
    args = parser.parse_args(argv)
    sections = args.only or list(SECTIONS)
    if args.merge and not args.only:
        parser.error("--merge keeps the sections that --only leaves out; name at least one with --only")
    if args.readme_from_results:
        update_readme(*load_results(args.results_dir / RESULTS_JSON.name))
        return 0

    args.out_dir.mkdir(parents=True, exist_ok=True)
    rows: list[Row] = []
    details: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        # An isolated safety data dir: the bench's registry records and dev certificate stay out of the user's.
        os.environ.setdefault("VASA_DATA_DIR", str(Path(tmp) / "vasa-data"))
        inputs = _inputs(Path(tmp), args.quick, sections)
        pipeline = _shared_pipeline()
        for section in sections:
            _log(f"section {section} ...")
            start = time.perf_counter()
            try:
                new_rows, new_details = _run_section(section, args, inputs, pipeline)
            except Exception as exc:  # a broken section is a row, not a crash
                new_rows, new_details = [failed_row(section, "section", exc)], {}
            rows += new_rows
            details[section] = new_details
            _log(f"section {section} done in {time.perf_counter() - start:.0f} s")

    info = run_info("quick" if args.quick else "full", sections)
    if args.merge:
        rows, details, info = merge_previous(rows, details, info, args.results_dir / RESULTS_JSON.name)
    write_results(rows, info, details, args.results_dir / RESULTS_MD.name, args.results_dir / RESULTS_JSON.name,
                  appendix=quality.clip_table(details.get("quality", {})))
    print(markdown_table(rows))
    print(summary(rows))
    if args.update_readme:
        update_readme(rows, info)
    return 0


def _run_section(section: str, args, inputs: speed.Inputs, pipeline: Callable) -> tuple[list[Row], dict]:
    if section == "speed":
        return speed.run(inputs, args.quick, args.out_dir, pipeline)
    if section == "memory":
        return memory.run(inputs, args.quick, args.out_dir)
    if section == "quality":
        if not args.media.is_dir():
            return [Row("quality", "all metrics", None, text="skipped",
                        note=f"shared media not found at {args.media} (pass --media or set VASA_SHARED_MEDIA)")], {}
        return quality.run(args.media, ASSETS, args.quick, pipeline, args.out_dir)
    module_name, argv, quick_argv = EXTERNAL[section]
    gallery_report = args.out_dir / "gallery" / "report.json"  # where bench.gallery's main() writes its report
    if section == "gallery":
        extra = ["--media", str(args.media), "--out", str(gallery_report.parent)]
        argv, quick_argv = [*argv, *extra], [*quick_argv, *extra]
        gallery_report.unlink(missing_ok=True)
    rows, details = call_external(section, module_name, quick_argv if args.quick else argv, args.quick,
                                  args.media, args.out_dir)
    if section == "gallery" and rows and rows[0].text == "exit 0" and gallery_report.is_file():
        rows = gallery_rows(json.loads(gallery_report.read_text())) or rows
    return rows, details


def _inputs(tmp: Path, quick: bool, sections: list[str]) -> speed.Inputs:
    """WAVs of exactly the lengths the speed and memory sections need, cut from the example speech."""
    needed = {memory.SHORT_S}
    if "speed" in sections:
        needed |= set(speed.QUICK_DURATIONS if quick else speed.DURATIONS)
    if "memory" in sections:
        needed.add(memory.long_seconds(quick))
    speech = {s: speed.make_speech(SPEECH, s, tmp / f"speech_{s:g}s.wav") for s in sorted(needed)}
    return speed.Inputs(portrait=PORTRAIT, speech=speech)


def _shared_pipeline() -> Callable:
    """One TalkingHeadPipeline for every section, built on first use (its models load once)."""

    @functools.cache
    def factory():
        from vasa_core.pipeline import TalkingHeadPipeline

        return TalkingHeadPipeline()

    return factory


def call_external(section: str, module_name: str, argv: list[str] | None, quick: bool, media_dir: Path,
                  out_dir: Path) -> tuple[list[Row], dict]:
    """Run another module's benchmark and turn what it returns (or prints) into rows."""
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        return [Row(section, module_name, None, text="not available", note=f"{type(exc).__name__}: {exc}")], {}
    entry = getattr(module, "run", None)
    if callable(entry):
        offered = {"quick": quick, "media_dir": media_dir, "out_dir": out_dir}
        params = inspect.signature(entry).parameters
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):  # one command prints one table: its own goes to results.json
            result = entry(**{k: v for k, v in offered.items() if k in params})
        return to_rows(section, result), {"returned": _jsonable(result), "stdout": printed.getvalue()}
    entry = getattr(module, "main", None)
    if argv is None:
        return [Row(section, module_name, None, text="skipped (--quick)",
                    note="its main() has no quick mode and takes minutes: runs in the full bench")], {}
    if not callable(entry):
        return [Row(section, module_name, None, text="not run", note="the module has neither run() nor main()")], {}
    printed = io.StringIO()
    saved = sys.argv
    sys.argv = [module_name, *argv]
    try:
        with contextlib.redirect_stdout(printed):
            code = entry()
    except SystemExit as exc:
        code = exc.code
    finally:
        sys.argv = saved
    lines = [ln.strip() for ln in printed.getvalue().splitlines() if ln.strip()]
    passed = code in (0, None)
    return [Row(section, f"{module_name} (its own table: bench/results.json)", None, "", "its goals", passed,
                "; ".join(lines[-2:]), text=f"exit {code or 0}")], {"stdout": printed.getvalue()}


def gallery_rows(data: dict) -> list[Row]:
    """bench.gallery's report.json as rows: the worst portrait of each figure, held to that module's goals."""
    portraits = data.get("portraits", {})
    if not portraits:
        return []
    size = data.get("size", "?")
    summary = data.get("summary", {})
    # dlib's embedding is trained on human faces: the goal holds for people, paintings, anime and cartoons alike,
    # while animals get a row of their own without it.
    worst_id = summary.get("identity_max_humanlike", max(
        (p["identity_max"] for p in portraits.values() if p.get("identity_max") is not None), default=None))
    animal_id = summary.get("identity_max_animal_no_goal")
    over = summary.get("identity_over_0.3", {})
    still = max(p["still_mean_abs_level"] for p in portraits.values())
    flows = [p[k]["flow_p95_px"] for p in portraits.values()
             for k in ("background_turn_left_15", "background_turn_right_15") if "flow_p95_px" in p.get(k, {})]
    n = f"worst of {len(portraits)} portraits at {size} px"
    rows = [
        Row("gallery", "identity distance, key frames vs portrait (people, paintings, cartoons)", worst_id, "dlib",
            f"< {GALLERY_IDENTITY_MAX}", None if worst_id is None else worst_id < GALLERY_IDENTITY_MAX,
            n + (f"; over the goal: {', '.join(f'{k} {v:.3f}' for k, v in over.items())}" if over else "")),
        Row("gallery", "identity distance, key frames vs portrait (animals)", animal_id, "dlib",
            note="no goal: dlib's face embedding is trained on human faces only"),
        Row("gallery", "still frame vs portrait", still, "levels", f"< {GALLERY_STILL_MAX:g}",
            still < GALLERY_STILL_MAX, n),
        Row("gallery", "background flow at 15 deg head turn (p95)", max(flows) if flows else None, "px",
            f"< {GALLERY_FLOW_MAX}", bool(max(flows) < GALLERY_FLOW_MAX) if flows else None, n),
    ]
    if "speed" in data:
        fps = float(data["speed"]["fps"])
        rows.append(Row("gallery", f"renderer fps ({data['speed']['size']} px)", fps, "fps",
                        f">= {GALLERY_FPS_MIN:g}", fps >= GALLERY_FPS_MIN,
                        _speed_note(data["speed"])))
    if data.get("cannot_handle"):
        rows.append(Row("gallery", "portraits it cannot handle", float(len(data["cannot_handle"])), "portraits",
                        note=", ".join(sorted(data["cannot_handle"]))))
    return rows


def _speed_note(speed: dict) -> str:
    return (f"best of {speed['passes']} passes of {speed['frames']} frames, {speed['portrait']}; median pass "
            f"{speed['median_pass_fps']:.0f} fps, {speed['fps_per_cpu_second']:.0f} frames per CPU-second; "
            f"load {speed['load_average_1min']:.1f} on {speed['cpu_count']} CPUs")


def to_rows(section: str, result: Any) -> list[Row]:
    """Rows from what a section returns: Rows, dataclasses or dicts with metric/value keys, or {metric: number}."""
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], list):
        result = result[0]
    if isinstance(result, Row):
        return [result]
    if isinstance(result, dict) and all(isinstance(v, (int, float)) for v in result.values()):
        return [Row(section, str(k), float(v)) for k, v in result.items()]
    items = result if isinstance(result, (list, tuple)) else [result]
    rows = []
    for item in items:
        if isinstance(item, Row):
            rows.append(item)
            continue
        data = asdict(item) if is_dataclass(item) and not isinstance(item, type) else dict(item)
        value = data.get("value")
        numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
        passed = next((data[k] for k in ("passed", "pass", "ok") if k in data), None)
        rows.append(Row(
            section=section,
            metric=str(next((data[k] for k in ("metric", "name", "label") if k in data), "?")),
            value=float(value) if numeric else None,
            unit=str(data.get("unit", "")),
            goal=str(data.get("goal", "")),
            passed=None if passed is None else bool(passed),
            note=str(data.get("note", "")),
            text="" if numeric or value is None else str(value),
        ))
    return rows


def _jsonable(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value if isinstance(value, (int, float, str, bool, type(None))) else str(value)


def _log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
