"""Screening: faces (none, several, too small, animals), provenance evidence, policies, protected identities."""

from __future__ import annotations

import io
import json
from pathlib import Path

import c2pa
import cv2
import numpy as np
import pytest
from PIL import Image

from safety.certs import development_chain
from safety.config import SafetyConfig
from safety.media import decode_image, read_video_frames
from safety.provenance import TRAINED_ALGORITHMIC_MEDIA
from safety.screening import Screener
from safety.watermark import Watermarker

SDXL_BITS = [int(b) for b in bin(0xB3EC907BB19E)[2:]]  # diffusers' StableDiffusionXLWatermarker payload


def png(image: np.ndarray, **text: str) -> bytes:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    for k, v in text.items():
        info.add_text(k, v)
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def jpeg(image: np.ndarray, exif: Image.Exif | None = None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "JPEG", quality=92, exif=exif if exif is not None else Image.Exif())
    return buf.getvalue()


def portrait(shared_media: Path, prefix: str) -> bytes:
    return next((shared_media / "portraits").glob(prefix + "*")).read_bytes()


@pytest.fixture(scope="module")
def screener(shared_media, tmp_path_factory) -> Screener:
    return Screener(SafetyConfig.from_env({"VASA_DATA_DIR": str(tmp_path_factory.mktemp("data"))}))


def test_no_face(screener):
    gradient = np.tile(np.linspace(0, 255, 512, dtype=np.uint8)[None, :, None], (384, 1, 3))
    report = screener.screen(png(gradient), "open")
    assert not report.allowed and report.refusal == "input" and "No face" in report.reason


def test_not_an_image(screener):
    report = screener.screen(b"GIF89a but not really", "open")
    assert report.refusal == "input" and "not a readable image" in report.reason


def test_two_similar_faces(screener, shared_media):
    a = decode_image(portrait(shared_media, "p02"))
    b = decode_image(portrait(shared_media, "p03"))
    both = np.concatenate([cv2.resize(a, (512, 512)), cv2.resize(b, (512, 512))], axis=1)
    report = screener.screen(png(both), "open")
    assert report.refusal == "input" and "2 faces" in report.reason


def test_face_too_small(screener, shared_media):
    face = cv2.resize(decode_image(portrait(shared_media, "p19")), (120, 120), interpolation=cv2.INTER_AREA)
    canvas = np.full((900, 900, 3), 200, np.uint8)
    canvas[400:520, 400:520] = face
    report = screener.screen(png(canvas), "open")
    assert report.refusal == "input" and "too small" in report.reason


@pytest.mark.parametrize("prefix", ["p20", "p21"])
def test_animals_are_refused(screener, shared_media, prefix):
    report = screener.screen(portrait(shared_media, prefix), "open")
    assert report.refusal == "input" and "human" in report.reason
    assert report.decided_by == ("non-human",)


@pytest.mark.parametrize("prefix", ["p09", "p11", "p12", "p14", "p15"])
def test_anime_cartoon_and_paintings_pass_the_face_checks(screener, shared_media, prefix):
    report = screener.screen(portrait(shared_media, prefix), "open")
    assert report.allowed, report.reason
    assert report.faces == 1 and report.face_box is not None


@pytest.mark.parametrize("prefix", ["p16", "p19"])
def test_real_people_need_consent(screener, shared_media, prefix):
    data = portrait(shared_media, prefix)
    refused = screener.screen(data, "consent", consent=False)
    assert not refused.allowed and refused.refusal == "policy"
    assert "consent" in refused.reason and "real person" in refused.reason
    assert screener.screen(data, "consent", consent=True).allowed
    assert not screener.screen(data, "synthetic-only", consent=True).allowed
    assert screener.screen(data, "open").allowed


def test_png_generator_parameters_count_as_synthetic(screener, shared_media):
    report = screener.screen(portrait(shared_media, "p09"), "synthetic-only")  # SD 'parameters' text chunk
    assert report.allowed and report.decided_by == ("generator-metadata",)


def test_c2pa_ai_manifest_counts_as_synthetic(screener, shared_media, tmp_path):
    data = jpeg(decode_image(portrait(shared_media, "p03")))
    assert not screener.screen(data, "consent").allowed  # the bare FLUX image carries no evidence
    chain = development_chain(tmp_path)
    manifest = {
        "claim_generator_info": [{"name": "some-image-generator", "version": "1.0"}],
        "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": [
            {"action": "c2pa.created", "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA}]}}],
    }
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(b"es256", chain.chain_pem.read_bytes(),
                                                       chain.key_pem.read_bytes(), None))
    out = io.BytesIO()
    context = c2pa.Context.from_dict({"builder": {"thumbnail": {"enabled": False}}})
    c2pa.Builder(json.dumps(manifest), context=context).sign(signer, "image/jpeg", io.BytesIO(data), out)
    report = screener.screen(out.getvalue(), "consent")
    assert report.allowed and report.decided_by == ("c2pa",)
    assert any(e.kind == "c2pa" and e.synthetic for e in report.evidence)


def test_sdxl_watermark_counts_as_synthetic(screener, shared_media):
    imwatermark = pytest.importorskip("imwatermark")  # the encoder diffusers uses (imports torch: slow)
    image = decode_image(portrait(shared_media, "p02"))
    assert not screener.screen(png(image), "consent").allowed
    encoder = imwatermark.WatermarkEncoder()
    encoder.set_watermark("bits", SDXL_BITS)
    # As diffusers does: an RGB float32 array handed over where BGR is expected, then saved as 8-bit.
    marked = encoder.encode(image.astype(np.float32), "dwtDct")
    report = screener.screen(png(np.clip(np.rint(marked), 0, 255).astype(np.uint8)), "consent")
    assert report.allowed and report.decided_by == ("sd-watermark",)
    assert "SDXL" in next(e.detail for e in report.evidence if e.kind == "sd-watermark")


def test_our_own_watermark_counts_as_synthetic(screener, shared_media):
    image = cv2.resize(decode_image(portrait(shared_media, "p16")), (384, 512), interpolation=cv2.INTER_AREA)
    marked = Watermarker(screener._config).embed(image[None], Watermarker.new_id())[0]
    report = screener.screen(png(marked), "consent")
    assert report.allowed and report.decided_by == ("vasa-watermark",)


def test_camera_exif_is_reported(screener, shared_media):
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Canon", "EOS 5D"
    report = screener.screen(jpeg(decode_image(portrait(shared_media, "p16")), exif), "consent")
    assert report.refusal == "policy" and "Canon EOS 5D" in report.reason
    assert report.decided_by == ("camera-exif",)


def test_protected_identity_is_refused_under_every_policy(shared_media, tmp_path):
    video = shared_media / "videos" / "v06_real_theresa_may.mp4"
    frames = list(read_video_frames(video, max_frames=121))
    gallery = tmp_path / "gallery" / "theresa-may"
    gallery.mkdir(parents=True)
    for i in (0, 40, 80):
        (gallery / f"frame{i}.png").write_bytes(png(frames[i]))
    config = SafetyConfig.from_env({"VASA_DATA_DIR": str(tmp_path / "data"),
                                    "VASA_PROTECTED_GALLERY": str(tmp_path / "gallery")})
    screener = Screener(config)
    probe = png(frames[120])
    for policy in ("open", "consent", "synthetic-only"):
        report = screener.screen(probe, policy, consent=True)
        assert report.refusal == "policy" and report.protected_match == "theresa-may"
        assert report.identity_score < 0.55
    other = next(read_video_frames(shared_media / "videos" / "v04_real_woman_blue_bg.mp4", max_frames=1))
    report = screener.screen(png(other), "open")
    assert report.allowed and report.protected_match is None and report.identity_score > 0.55
    assert (tmp_path / "data" / "gallery-cache" / "dlib128.npz").exists()


def test_arcface_onnx_loading_path(shared_media, tmp_path):
    """An operator's ArcFace model is loaded from disk and used; here a tiny stand-in ONNX built by the test."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    weights = np.random.default_rng(0).normal(size=(3 * 8 * 8, 512)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("AveragePool", ["input.1"], ["pooled"], kernel_shape=[14, 14], strides=[14, 14]),
            helper.make_node("Flatten", ["pooled"], ["flat"]),
            helper.make_node("MatMul", ["flat", "w"], ["683"]),
        ],
        "tiny-arcface",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, 112, 112])],
        [helper.make_tensor_value_info("683", TensorProto.FLOAT, [1, 512])],
        [numpy_helper.from_array(weights, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = tmp_path / "w600k_r50.onnx"
    onnx.save(model, str(path))

    gallery = tmp_path / "gallery"
    gallery.mkdir()
    (gallery / "einstein.jpg").write_bytes(portrait(shared_media, "p16"))
    config = SafetyConfig.from_env({"VASA_DATA_DIR": str(tmp_path / "data"), "VASA_ARCFACE_MODEL": str(path),
                                    "VASA_PROTECTED_GALLERY": str(gallery)})
    report = Screener(config).screen(portrait(shared_media, "p16"), "open")
    assert report.embedding == "arcface"
    assert report.protected_match == "einstein" and report.identity_score == pytest.approx(1.0, abs=1e-4)
    assert (tmp_path / "data" / "gallery-cache" / "arcface.npz").exists()


def test_unknown_policy_is_an_error(screener):
    with pytest.raises(ValueError, match="synthetic-only"):
        screener.screen(b"", "lenient")


def test_sd_watermark_reader_is_quiet_on_unmarked_portraits(shared_media):
    from safety.sd_watermark import read_sd_watermark

    for path in sorted((shared_media / "portraits").glob("*")):
        assert read_sd_watermark(decode_image(path.read_bytes())) is None, path.name


def test_operator_listed_example_counts_as_synthetic_and_others_do_not(tmp_path):
    """The project's example portraits are vouched for by the shipped list; the same picture with other bytes is not."""
    from pathlib import Path

    from safety.config import SafetyConfig
    from safety.screening import Screener

    root = Path(__file__).resolve().parents[1]
    cfg = SafetyConfig.from_env({"VASA_DATA_DIR": str(tmp_path)})
    data = (root / "assets" / "examples" / "woman_stylegan2.jpeg").read_bytes()
    screener = Screener(cfg)
    report = screener.screen(data, "consent", consent=False)
    assert report.allowed, report.reason
    assert "operator-list" in [e.kind for e in report.evidence]
    altered = data + b"\0"  # decoders ignore bytes after the JPEG end marker; the hash does not
    report = screener.screen(altered, "consent", consent=False)
    assert not report.allowed and report.refusal == "policy"
    assert "operator-list" not in [e.kind for e in report.evidence]
