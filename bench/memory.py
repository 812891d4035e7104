"""Peak memory: the CLI's peak resident set for 10 s and for 10 min of audio, each in a fresh process.

The pipeline renders, watermarks and encodes in chunks, so memory should not grow with the audio's length
(issue 7's goal: the 10-minute peak within 10% of the 10-second one). Each run is a separate
``python -m vasa_core generate`` so that one run's allocations cannot hide the other's. The peak is the
largest VmHWM (the kernel's peak RSS of a process since its exec) of the CLI process or one of its workers; the
note adds the summed RSS of all its processes, sampled while it runs.
"""

from __future__ import annotations

from pathlib import Path

from .report import Row, failed_row
from .speed import RSS_POLL_S, Inputs, cli_error, run_cli

SHORT_S, LONG_S = 10.0, 600.0  # issue 7: 10 s vs 10 min of audio
QUICK_LONG_S = 60.0  # --quick: a minute stands in for ten (the trend shows, the verdict is provisional)
SIZE, QUICK_SIZE = 512, 256  # px; the comparison is between durations at one size
GOAL_GROWTH = 0.10  # the long run's peak may exceed the short one's by at most 10%
MIB = 1024 * 1024


def long_seconds(quick: bool) -> float:
    return QUICK_LONG_S if quick else LONG_S


def run(inputs: Inputs, quick: bool, out_dir: Path) -> tuple[list[Row], dict]:
    size = QUICK_SIZE if quick else SIZE
    peaks: dict[float, int] = {}
    tree_peaks: dict[float, int] = {}
    rows: list[Row] = []
    for seconds in (SHORT_S, long_seconds(quick)):
        label = f"peak RSS, CLI, {_duration(seconds)} audio, {size} px"
        try:
            result = run_cli(inputs.portrait, inputs.speech[seconds], out_dir / f"mem_{seconds:g}s.mp4", size)
            if result.returncode != 0:
                raise cli_error(result)
        except Exception as exc:
            rows.append(failed_row("memory", label, exc))
            continue
        peaks[seconds], tree_peaks[seconds] = result.peak_rss_bytes, result.tree_peak_rss_bytes
        rows.append(Row("memory", label, result.peak_rss_bytes / MIB, "MiB",
                        note=f"largest single process (the CLI or a worker, VmHWM); all processes summed, sampled "
                             f"every {RSS_POLL_S * 1000:g} ms: {result.tree_peak_rss_bytes / MIB:.0f} MiB; "
                             f"{result.wall_s:.0f} s wall"))
    long_s = long_seconds(quick)
    label = f"peak RSS growth, {_duration(long_s)} vs {_duration(SHORT_S)}"
    if peaks.get(SHORT_S) and peaks.get(long_s):
        growth = peak_growth(peaks[SHORT_S], peaks[long_s])
        tree_growth = peak_growth(tree_peaks[SHORT_S], tree_peaks[long_s]) if tree_peaks[SHORT_S] else None
        note = "" if tree_growth is None else f"summed processes: {100 * tree_growth:+.0f}%"
        note += "; quick: 1 min stands in for 10 min" if quick else ""
        rows.append(Row("memory", label, 100.0 * growth, "%", f"<= {100 * GOAL_GROWTH:g}%",
                        bool(growth <= GOAL_GROWTH), note))
    else:
        rows.append(Row("memory", label, None, "%", f"<= {100 * GOAL_GROWTH:g}%", text="not run",
                        note="needs both runs above"))
    return rows, {
        "size": size,
        "peak_rss_bytes": {f"{k:g}s": v for k, v in peaks.items()},
        "tree_peak_rss_bytes": {f"{k:g}s": v for k, v in tree_peaks.items()},
    }


def peak_growth(short_bytes: int, long_bytes: int) -> float:
    """Relative growth of the long run's peak over the short run's (0.1 = 10% more)."""
    if short_bytes <= 0:
        raise ValueError(f"the short run's peak RSS must be positive, got {short_bytes}")
    return (long_bytes - short_bytes) / short_bytes


def _duration(seconds: float) -> str:
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"
