"""The one results table: rows from every section, printed, written to bench/results.md and .json, and to README.

A ``Row`` is one measured number with its unit, the goal it is held to (if any) and a pass/fail verdict. A
section that could not run still yields a row, whose note says why, so the table always shows what is missing.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS_MD = ROOT / "bench" / "results.md"
RESULTS_JSON = ROOT / "bench" / "results.json"
README = ROOT / "README.md"
README_START = "<!-- PERFORMANCE -->"
README_END = "<!-- /PERFORMANCE -->"
README_SECTIONS = ("speed", "memory")  # shown in README in full; other sections only with their goals
SIGNIFICANT_DIGITS = 3


@dataclass(frozen=True)
class Row:
    """One line of the table."""

    section: str  # "speed", "memory", "quality", or another section's name
    metric: str  # what was measured, with its inputs ("end-to-end RTF, CLI cold, 10 s speech, 512 px")
    value: float | None  # None when not measured (the note says why)
    unit: str = ""  # "x real time", "fps", "MiB", "ms", ...
    goal: str = ""  # the target in words ("<= 0.5"); empty when the row only informs
    passed: bool | None = None  # verdict against the goal; None when there is no goal or no value
    note: str = ""  # inputs, reference range, or why the value is missing
    text: str = ""  # a non-numeric value ("n/a (no streaming API)"); shown instead of ``value``

    @property
    def verdict(self) -> str:
        return {True: "PASS", False: "FAIL", None: ""}[self.passed]

    def shown_value(self) -> str:
        if self.text:
            return self.text
        return "-" if self.value is None else format_number(self.value)


@dataclass(frozen=True)
class RunInfo:
    """When, where and on what code the table was measured."""

    date_utc: str  # "YYYY-MM-DD HH:MM UTC"
    machine: str  # CPU model and cores, GPU if any
    commit: str  # git commit of the working tree (read from .git, no git command), "unknown" if absent
    mode: str  # "full" or "quick"
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. the sections run


def goal_at_most(value: float | None, limit: float) -> bool | None:
    return None if value is None or not math.isfinite(value) else bool(value <= limit)


def goal_inside(value: float | None, lo: float, hi: float) -> bool | None:
    if value is None or not all(math.isfinite(v) for v in (value, lo, hi)):
        return None
    return bool(lo <= value <= hi)


def format_number(value: float) -> str:
    """Three significant digits, no exponent for the magnitudes a benchmark meets."""
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    digits = max(0, SIGNIFICANT_DIGITS - 1 - int(math.floor(math.log10(abs(value)))))
    return f"{value:.{digits}f}"


def failed_row(section: str, what: str, exc: BaseException) -> Row:
    """The row a section leaves when it cannot run: the table says so instead of the command crashing."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return Row(section, what, None, text="not run", note=f"{type(exc).__name__}: {message}"[:300])


def run_info(mode: str, sections: list[str]) -> RunInfo:
    return RunInfo(
        date_utc=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        machine=machine_description(),
        commit=git_commit(ROOT),
        mode=mode,
        extra={"sections": sections, "load_average_1min": round(os.getloadavg()[0], 1)},
    )


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    text = f"{cpu}, {cores} cores usable, {platform.system()} {platform.release()}, Python {platform.python_version()}"
    gpu = _gpu_name()
    return text + (f", GPU {gpu}" if gpu else ", no GPU")


def _gpu_name() -> str:
    try:
        import torch

        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else ""
    except Exception:  # a broken CUDA install must not stop the CPU benchmark
        return ""


def git_commit(root: Path) -> str:
    """The checked-out commit, read from .git's files (HEAD -> ref -> loose or packed ref)."""
    git = root / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref:"):
            return head[:12]
        ref = head.split(None, 1)[1]
        loose = git / ref
        if loose.is_file():
            return loose.read_text().strip()[:12]
        packed = git / "packed-refs"
        if packed.is_file():
            for line in packed.read_text().splitlines():
                parts = line.split()
                if len(parts) == 2 and parts[1] == ref:
                    return parts[0][:12]
    except OSError:
        pass
    return "unknown"


def markdown_table(rows: list[Row]) -> str:
    lines = ["| section | metric | value | unit | goal | pass | note |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        cells = [r.section, r.metric, r.shown_value(), r.unit, r.goal, r.verdict, r.note]
        lines.append("| " + " | ".join(c.replace("|", "/").replace("\n", " ") for c in cells) + " |")
    return "\n".join(lines)


def header(info: RunInfo) -> str:
    load = info.extra.get("load_average_1min")
    busy = f" (1-minute load average {load} when it finished)" if load is not None else ""
    text = (f"Measured {info.date_utc} on {info.machine}{busy}; commit {info.commit}; "
            f"`python -m bench` ({info.mode}).")
    runs: dict[str, list[str]] = {}
    for section, run in info.extra.get("section_runs", {}).items():
        runs.setdefault(run, []).append(section)
    if len(runs) > 1:  # a merged table (--only ... --merge): say which rows come from which run
        text += " Sections by run: " + "; ".join(f"{', '.join(secs)} at {run}" for run, secs in runs.items()) + "."
    return text


def merge_previous(rows: list[Row], details: dict[str, Any], info: RunInfo,
                   json_path: Path = RESULTS_JSON) -> tuple[list[Row], dict[str, Any], RunInfo]:
    """This run's sections plus every other section's rows and details from the results.json at ``json_path``;
    the returned info records which run (date, commit) each section's rows come from."""
    if not json_path.is_file():
        return rows, details, info
    old_rows, old_info = load_results(json_path)
    rerun = set(info.extra.get("sections", []))
    kept = [r for r in old_rows if r.section not in rerun]
    old_runs = old_info.extra.get("section_runs", {})
    this_run = f"{info.date_utc} (commit {info.commit})"
    section_runs = {r.section: old_runs.get(r.section, f"{old_info.date_utc} (commit {old_info.commit})")
                    for r in kept} | {section: this_run for section in rerun}
    order = list(dict.fromkeys(r.section for r in old_rows))
    merged = sorted(kept + rows, key=lambda r: order.index(r.section) if r.section in order else len(order))
    old_details = json.loads(json_path.read_text()).get("details", {})
    kept_details = {k: v for k, v in old_details.items() if k not in rerun}
    return merged, kept_details | details, RunInfo(info.date_utc, info.machine, info.commit, info.mode,
                                                   info.extra | {"section_runs": section_runs})


def summary(rows: list[Row]) -> str:
    passed = sum(r.passed is True for r in rows)
    failed = sum(r.passed is False for r in rows)
    missing = sum(r.value is None and not r.text.startswith("n/a") for r in rows)
    return f"{passed} goals passed, {failed} failed, {missing} rows not measured."


def write_results(rows: list[Row], info: RunInfo, details: dict[str, Any], md_path: Path = RESULTS_MD,
                  json_path: Path = RESULTS_JSON, appendix: str = "") -> None:
    """bench/results.md (header, table, summary, appendix) and bench/results.json (the same plus details)."""
    md = [
        "# Benchmark results",
        "",
        header(info),
        "",
        markdown_table(rows),
        "",
        summary(rows),
        "",
        "Regenerate with `python -m bench` (add `--update-readme` to refresh README.md's table).",
        "",
    ] + ([appendix, ""] if appendix else [])
    md_path.parent.mkdir(parents=True, exist_ok=True)
    md_path.write_text("\n".join(md))
    payload = {"run": asdict(info), "rows": [asdict(r) | {"verdict": r.verdict} for r in rows], "details": details}
    text = json.dumps(_finite(payload), indent=2, sort_keys=True, default=_json_default, allow_nan=False)
    json_path.write_text(text + "\n")


def _finite(value: Any) -> Any:
    """NaN and infinities become null: strict JSON readers reject them."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def load_results(json_path: Path = RESULTS_JSON) -> tuple[list[Row], RunInfo]:
    """The rows and run info of a results.json that write_results wrote."""
    data = json.loads(json_path.read_text())
    fields = {f for f in Row.__dataclass_fields__}
    rows = [Row(**{k: v for k, v in r.items() if k in fields}) for r in data["rows"]]
    return rows, RunInfo(**data["run"])


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def readme_rows(rows: list[Row]) -> list[Row]:
    """The README's shorter table: every row held to a goal, and the speed and memory figures."""
    return [r for r in rows if r.goal or r.section in README_SECTIONS]


def update_readme(rows: list[Row], info: RunInfo, readme: Path = README) -> None:
    """Replace the block between README_START and README_END with the README's table (END is added if absent)."""
    text = readme.read_text()
    if README_START not in text:
        raise ValueError(
            f"{readme} has no '{README_START}' marker: put '{README_START}' and '{README_END}' on their own lines "
            "where the performance table belongs, then run again."
        )
    before, after = text.split(README_START, 1)
    after = after.split(README_END, 1)[1] if README_END in after else after
    block = (f"{README_START}\n{header(info)}\n\n{markdown_table(readme_rows(rows))}\n\n{summary(rows)} "
             f"Every row, and quality per clip: `bench/results.md`.\n{README_END}")
    readme.write_text(before + block + after)
