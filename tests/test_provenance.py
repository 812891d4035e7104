"""C2PA: signed clips read back Valid (Trusted with the anchor), tampering reads Invalid, a remux loses the manifest."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import av
import c2pa
import numpy as np
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from safety.certs import development_chain
from safety.config import SafetyConfig
from safety.provenance import TRAINED_ALGORITHMIC_MEDIA, ManifestInputs, Signer, read_manifest
from safety.screening import Evidence, ScreeningReport

PORTRAIT = b"\x89PNG\r\n\x1a\n" + b"portrait-bytes" * 10
AUDIO = b"RIFF\x00\x00\x00\x00WAVEfmt " + b"audio-bytes" * 10


def write_mp4(path: Path, frames: int = 10, size: int = 128) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for i in range(frames):
            img = np.full((size, size, 3), (i * 23) % 256, np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(stream.encode())
    return path


def remux(src: Path, dst: Path) -> Path:
    """Copies the streams into a new MP4, as a platform's re-upload does; the C2PA box is not carried."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        streams = {s.index: out.add_stream_from_template(s) for s in inp.streams.video}
        for packet in inp.demux(*inp.streams.video):
            if packet.dts is None:
                continue
            packet.stream = streams[packet.stream.index]
            out.mux(packet)
    return dst


def inputs(**overrides) -> ManifestInputs:
    screening = ScreeningReport(
        True, None, "Allowed under the open (research) policy.", "open", False,
        evidence=(Evidence("generator-metadata", True, "text chunk 'parameters'"),), decided_by=("policy:open",),
    )
    base = dict(
        generation_id="gen-1", watermark_id="0123456789ab", portrait=PORTRAIT, portrait_filename="face.png",
        audio=AUDIO, audio_filename="voice.wav", controls={"emotion": "happy", "seed": 7}, screening=screening,
    )
    base.update(overrides)
    return ManifestInputs(**base)


@pytest.fixture()
def config(data_dir) -> SafetyConfig:
    return SafetyConfig.from_env()


@pytest.fixture()
def signed(tmp_path, config) -> tuple[Path, object]:
    src = write_mp4(tmp_path / "unsigned.mp4")
    dst = tmp_path / "out" / "signed.mp4"
    return dst, Signer(config).sign(src, dst, inputs())


def test_signed_clip_reads_back_valid_with_every_statement(signed, config):
    path, summary = signed
    assert path.exists() and not list(path.parent.glob(".*.tmp"))
    assert summary.state == "Valid" and summary.untrusted  # development chain: valid, deliberately untrusted
    assert summary.digital_source_type == TRAINED_ALGORITHMIC_MEDIA and summary.is_ai_generated
    assert summary.software_agent == "vasa-studio 0.1.0"
    assert summary.generation_id == "gen-1" and summary.watermark_id == "0123456789ab"
    hashes_by_title = {i.title: i.sha256 for i in summary.ingredients}
    assert hashes_by_title == {"face.png": hashlib.sha256(PORTRAIT).hexdigest(),
                               "voice.wav": hashlib.sha256(AUDIO).hexdigest()}
    assert all(i.relationship == "inputTo" for i in summary.ingredients)
    assert summary.controls == {"emotion": "happy", "seed": 7}
    assert summary.screening["policy"] == "open" and summary.screening["decided_by"] == ["policy:open"]
    assert "UNTRUSTED" in summary.signer
    assert read_manifest(path, config) == summary
    assert (config.data_dir / "dev-certs" / "signer.key").stat().st_mode & 0o077 == 0


def test_trusted_with_the_configured_anchor(signed, config):
    path, _ = signed
    anchored = dataclasses.replace(config, trust_anchors=development_chain(config.data_dir).root_pem)
    summary = read_manifest(path, anchored)
    assert summary.state == "Trusted" and not summary.untrusted


def test_one_flipped_media_byte_reads_invalid(signed, config, tmp_path):
    path, _ = signed
    data = bytearray(path.read_bytes())
    data[data.index(b"mdat") + 64] ^= 0x01
    tampered = tmp_path / "tampered.mp4"
    tampered.write_bytes(bytes(data))
    summary = read_manifest(tampered, config)
    assert summary.state == "Invalid"
    assert "assertion.bmffHash.mismatch" in summary.failure_codes


def test_remux_removes_the_manifest(signed, config, tmp_path):
    path, _ = signed
    assert read_manifest(remux(path, tmp_path / "remuxed.mp4"), config).state == "absent"


def test_operator_chain_and_remote_signer_callback(tmp_path, config):
    operator = development_chain(tmp_path / "operator")  # stands in for an operator's own chain
    src = write_mp4(tmp_path / "in.mp4")
    with_key = SafetyConfig(data_dir=tmp_path / "d", registry_url="sqlite://", signing_cert=operator.chain_pem,
                            signing_key=operator.key_pem, trust_anchors=operator.root_pem)
    assert Signer(with_key).sign(src, tmp_path / "a.mp4", inputs()).state == "Trusted"

    key = serialization.load_pem_private_key(operator.key_pem.read_bytes(), None)
    calls = []

    def remote(data: bytes) -> bytes:
        calls.append(len(data))
        return key.sign(data, ec.ECDSA(hashes.SHA256()))

    with_callback = SafetyConfig(data_dir=tmp_path / "d", registry_url="sqlite://", signing_cert=operator.chain_pem,
                                 sign_callback=remote, trust_anchors=operator.root_pem)
    assert Signer(with_callback).sign(src, tmp_path / "b.mp4", inputs()).state == "Trusted"
    assert calls and not (tmp_path / "d" / "dev-certs").exists()  # no development chain was needed


def test_configuration_errors_teach():
    with pytest.raises(ValueError, match="VASA_SIGNING_CERT"):
        SafetyConfig(data_dir=Path("/tmp/x"), registry_url="sqlite://", signing_key=Path("k.pem"))
    with pytest.raises(ValueError, match="VASA_SIGNING_KEY"):
        SafetyConfig(data_dir=Path("/tmp/x"), registry_url="sqlite://", signing_cert=Path("c.pem"))


def test_failed_signing_leaves_no_output(tmp_path, config):
    src = tmp_path / "not-an-mp4.mp4"
    src.write_bytes(b"this is not a video file")
    dst = tmp_path / "signed.mp4"
    with pytest.raises(c2pa.C2paError):
        Signer(config).sign(src, dst, inputs())
    assert not dst.exists() and not list(tmp_path.glob(".*.tmp"))


def test_unsigned_and_unknown_files_read_absent(tmp_path, config):
    assert read_manifest(write_mp4(tmp_path / "plain.mp4"), config).state == "absent"
    assert read_manifest(b"plain text", config).state == "absent"


def test_inputs_that_c2pa_cannot_parse_are_still_listed_with_their_hash(tmp_path, config):
    ogg = b"OggS\x00\x02" + b"\x00" * 40  # Ogg audio: c2pa has no parser for it
    summary = Signer(config).sign(write_mp4(tmp_path / "in.mp4"), tmp_path / "out.mp4",
                                  inputs(audio=ogg, audio_filename="voice.ogg"))
    assert summary.state == "Valid"
    voice = next(i for i in summary.ingredients if i.title == "voice.ogg")
    assert voice.format == "audio/ogg" and voice.sha256 == hashlib.sha256(ogg).hexdigest()


def test_audio_given_as_a_path_is_hashed_and_listed_like_bytes(tmp_path, config):
    wav = tmp_path / "voice.wav"
    wav.write_bytes(AUDIO)
    summary = Signer(config).sign(write_mp4(tmp_path / "in.mp4"), tmp_path / "out.mp4", inputs(audio=wav))
    assert summary.state == "Valid"
    voice = next(i for i in summary.ingredients if i.title == "voice.wav")
    assert voice.sha256 == hashlib.sha256(AUDIO).hexdigest()


def test_an_input_too_large_to_parse_is_listed_with_its_hash(tmp_path, config, monkeypatch):
    from safety import provenance

    monkeypatch.setattr(provenance, "INGREDIENT_PARSE_MAX_BYTES", len(AUDIO) - 1)
    wav = tmp_path / "voice.wav"
    wav.write_bytes(AUDIO)
    summary = Signer(config).sign(write_mp4(tmp_path / "in.mp4"), tmp_path / "out.mp4", inputs(audio=wav))
    voice = next(i for i in summary.ingredients if i.title == "voice.wav")
    assert summary.state == "Valid" and voice.format == "audio/wav"
    assert voice.sha256 == hashlib.sha256(AUDIO).hexdigest()
