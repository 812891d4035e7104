"""The generation registry: one row per finished generation, SQLite by default, any SQLAlchemy URL otherwise.

A row is written once, in one transaction, after the signed MP4 exists (``Registry.record``); a generation that
fails before that leaves nothing behind, and a failed write leaves nothing either. Watermark ids are unique, so a
clip stripped of its manifest is traced back through the id its frames carry (``find_by_watermark``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Column, DateTime, MetaData, String, Table, create_engine, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

_metadata = MetaData()
generations = Table(
    "generations",
    _metadata,
    Column("generation_id", String(64), primary_key=True),
    Column("watermark_id", String(32), nullable=False, unique=True, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("portrait_sha256", String(64), nullable=False),
    Column("audio_sha256", String(64), nullable=False),
    Column("video_sha256", String(64), nullable=True),
    Column("software", String(128), nullable=False),
    Column("options", JSON, nullable=False),
    Column("screening", JSON, nullable=False),
    Column("manifest", JSON, nullable=False),
)


@dataclass(frozen=True)
class GenerationRecord:
    """What the registry keeps about one generation. JSON fields must be JSON-able."""

    generation_id: str
    watermark_id: str  # 12 hex digits, embedded in every frame
    portrait_sha256: str  # hex SHA-256 of the uploaded portrait bytes
    audio_sha256: str  # hex SHA-256 of the uploaded audio bytes
    options: Mapping[str, Any]  # the GenerationOptions used (controls, size, fps, policy ...)
    screening: Mapping[str, Any]  # ScreeningReport.to_dict()
    manifest: Mapping[str, Any]  # ManifestSummary.to_dict()
    software: str = "vasa-studio"  # name and version that made the clip
    video_sha256: str | None = None  # hex SHA-256 of the signed MP4 as written
    created_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))  # UTC

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["created_at"] = self.created_at.isoformat()
        return json.loads(json.dumps(d))


class Registry:
    """Opens (and creates) the registry at a SQLAlchemy URL."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        try:
            if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
                Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            self._engine = create_engine(url)
            _metadata.create_all(self._engine)
        except (SQLAlchemyError, OSError) as exc:
            raise ValueError(f"cannot open the registry at {parsed.render_as_string(hide_password=True)} ({exc}): "
                             "set VASA_REGISTRY_URL to a reachable SQLAlchemy URL") from exc

    def record(self, rec: GenerationRecord) -> None:
        """Inserts the record in one transaction: all of it or nothing. Raises ValueError on a duplicate id."""
        row = {f.name: getattr(rec, f.name) for f in dataclasses.fields(rec)}
        for key in ("options", "screening", "manifest"):
            row[key] = json.loads(json.dumps(dict(row[key])))  # fails here, before the transaction, if not JSON-able
        try:
            with self._engine.begin() as conn:
                conn.execute(generations.insert().values(**row))
        except IntegrityError as exc:
            raise ValueError(
                f"the registry already holds generation {rec.generation_id!r} or watermark {rec.watermark_id!r}: "
                "draw a new id with Watermarker.new_id() and retry"
            ) from exc

    def find_by_watermark(self, watermark_id: str) -> GenerationRecord | None:
        return self._one(generations.c.watermark_id == watermark_id)

    def get(self, generation_id: str) -> GenerationRecord | None:
        return self._one(generations.c.generation_id == generation_id)

    def count(self) -> int:
        with self._engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(generations)).scalar_one())

    def close(self) -> None:
        self._engine.dispose()

    def _one(self, condition) -> GenerationRecord | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(generations).where(condition)).mappings().first()
        if row is None:
            return None
        values = dict(row)
        created = values["created_at"]
        if created.tzinfo is None:  # SQLite stores naive datetimes; they were written as UTC
            values["created_at"] = created.replace(tzinfo=dt.timezone.utc)
        return GenerationRecord(**values)
