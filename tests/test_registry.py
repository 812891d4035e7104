"""Registry: atomic writes, unique watermark ids, no orphan records, lookups by watermark id."""

from __future__ import annotations

import datetime as dt

import pytest

from safety.config import SafetyConfig
from safety.registry import GenerationRecord, Registry


def record(generation_id: str = "gen-1", watermark_id: str = "0123456789ab", **overrides) -> GenerationRecord:
    base = dict(
        generation_id=generation_id, watermark_id=watermark_id, portrait_sha256="a" * 64, audio_sha256="b" * 64,
        options={"controls": {"emotion": "happy"}, "size": 512}, screening={"allowed": True, "policy": "consent"},
        manifest={"state": "Valid"}, video_sha256="c" * 64,
    )
    base.update(overrides)
    return GenerationRecord(**base)


@pytest.fixture()
def registry(data_dir) -> Registry:
    reg = Registry(SafetyConfig.from_env().registry_url)
    yield reg
    reg.close()


def test_default_is_sqlite_in_the_data_dir_and_roundtrips(registry, data_dir):
    rec = record()
    registry.record(rec)
    assert (data_dir / "registry.sqlite3").exists()
    got = registry.find_by_watermark("0123456789ab")
    assert got == rec
    assert got.created_at.tzinfo is not None and abs(got.created_at - dt.datetime.now(dt.timezone.utc)).seconds < 60
    assert registry.get("gen-1") == rec
    assert registry.find_by_watermark("ffffffffffff") is None


def test_records_survive_reopening(data_dir):
    url = SafetyConfig.from_env().registry_url
    first = Registry(url)
    first.record(record())
    first.close()
    again = Registry(url)
    assert again.find_by_watermark("0123456789ab").options["controls"] == {"emotion": "happy"}
    again.close()


def test_duplicate_ids_are_refused_and_change_nothing(registry):
    registry.record(record())
    with pytest.raises(ValueError, match="new id"):
        registry.record(record(generation_id="gen-2"))  # same watermark id
    with pytest.raises(ValueError, match="already holds"):
        registry.record(record(watermark_id="ffffffffffff"))  # same generation id
    assert registry.count() == 1
    assert registry.find_by_watermark("ffffffffffff") is None


def test_a_failed_write_leaves_no_orphan(registry):
    with pytest.raises(TypeError):
        registry.record(record(options={"not json": object()}))
    assert registry.count() == 0


def test_any_sqlalchemy_url(tmp_path):
    reg = Registry(f"sqlite:///{tmp_path / 'nested' / 'shared.db'}")
    reg.record(record())
    assert reg.count() == 1
    reg.close()


def test_unreachable_url_teaches():
    with pytest.raises(ValueError, match="VASA_REGISTRY_URL"):
        Registry("sqlite:////proc/forbidden/registry.db")
