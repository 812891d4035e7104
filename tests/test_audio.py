"""AudioAnalyzer: per-frame loudness, voicing, F0, formants and phones; the pocketsphinx helpers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.signal import lfilter

from vasa_core.analysis.audio import AudioAnalyzer, frame_loudness, phone_segments, speech_spans
from vasa_core.analysis.phones_g2p import guess_pronunciation, normalize_transcript
from vasa_core.analysis.phones_sphinx import SPHINX_RATE, split_points
from vasa_core.errors import InputError
from vasa_core.media import read_audio
from vasa_core.types import AudioClip

ARPABET = set(
    "AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH T TH UH UW V W Y Z ZH".split()
)


@pytest.fixture(scope="module")
def analyzer():
    with AudioAnalyzer() as a:
        yield a


def synthetic_vowel(f0: float = 120.0, formants=(700.0, 1200.0, 2600.0), seconds: float = 1.0, rate: int = 16000):
    """A glottal pulse train through three formant resonators: an /a/-like vowel with known F0 and formants."""
    n = int(seconds * rate)
    source = np.zeros(n)
    source[:: int(rate / f0)] = 1.0
    out = source
    for freq in formants:
        bandwidth = 80.0
        r = math.exp(-math.pi * bandwidth / rate)
        out = lfilter([1.0], [1.0, -2 * r * math.cos(2 * math.pi * freq / rate), r * r], out)
    out = lfilter([1.0], [1.0, -0.9], out)  # glottal roll-off
    return (0.3 * out / np.abs(out).max()).astype(np.float32)


def with_silence(voice: np.ndarray, rate: int = 16000, before: float = 1.0, after: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(0)
    quiet = lambda s: (rng.standard_normal(int(s * rate)) * 1e-4).astype(np.float32)  # noqa: E731 (-80 dBFS hiss)
    return np.concatenate([quiet(before), voice, quiet(after)])


def test_frame_loudness_maps_dbfs():
    rate, fps = 16000, 25
    t = np.arange(rate) / rate
    sine = (10 ** (-20 / 20) * math.sqrt(2) * np.sin(2 * math.pi * 440 * t)).astype(np.float32)  # -20 dBFS RMS
    loud = frame_loudness(sine, rate, fps, 25)
    assert np.allclose(loud, (60 - 20) / 60, atol=0.01)
    assert frame_loudness(np.zeros(rate, np.float32), rate, fps, 25).max() == 0.0


def test_synthetic_vowel_features(analyzer):
    samples = with_silence(synthetic_vowel())
    features = analyzer.analyze(AudioClip(samples, 16000), fps=25)
    assert features.num_frames == 75 and features.duration_s == pytest.approx(3.0)
    for name in ("loudness", "voice_activity", "f0"):
        assert getattr(features, name).shape == (75,) and getattr(features, name).dtype == np.float32
    assert features.formants.shape == (75, 3)
    middle = slice(30, 45)
    assert features.loudness[middle].min() > features.loudness[:20].max() + 0.3
    assert np.all(features.f0[:20] == 0) and np.all(features.f0[-20:] == 0)
    assert np.median(features.f0[middle]) == pytest.approx(120.0, rel=0.05)
    f1, f2 = np.median(features.formants[middle, 0]), np.median(features.formants[middle, 1])
    assert abs(f1 - 700) < 150 and abs(f2 - 1200) < 200
    assert np.all(features.formants[:20] == 0)


def test_frame_count_follows_fps(analyzer):
    clip = AudioClip(synthetic_vowel(seconds=1.0), 16000)
    assert analyzer.analyze(clip, fps=30).num_frames == 30
    longer = np.concatenate([clip.samples, clip.samples[:10]])  # 10 samples into a 26th frame
    assert analyzer.analyze(AudioClip(longer, 16000), fps=25).num_frames == 26


def test_other_sample_rates_are_resampled(analyzer):
    voice = synthetic_vowel(rate=44100)
    features = analyzer.analyze(AudioClip(voice, 44100), fps=25)
    assert features.num_frames == 25
    assert np.median(features.f0[5:20]) == pytest.approx(120.0, rel=0.05)


@pytest.mark.parametrize("fps", [0.0, -5.0, 1000.0])
def test_bad_fps_is_refused(analyzer, fps):
    with pytest.raises(InputError, match="fps"):
        analyzer.analyze(AudioClip(synthetic_vowel(), 16000), fps=fps)


def test_bad_samples_are_refused(analyzer):
    with pytest.raises(InputError, match="mono"):
        analyzer.analyze(AudioClip(np.zeros((100, 2), np.float32), 16000), fps=25)
    with pytest.raises(InputError, match="mono"):
        analyzer.analyze(AudioClip(np.zeros(0, np.float32), 16000), fps=25)


def test_voice_activity_on_speech(analyzer, shared_media):
    clip = read_audio(shared_media / "aligned" / "acoustic_corpus.wav")
    clip = AudioClip(clip.samples[: 4 * clip.sample_rate], clip.sample_rate)
    features = analyzer.analyze(clip, fps=25)
    # The TextGrid has no words before 1.05 s; "this is the acoustic corpus" follows.
    assert features.voice_activity[:22].mean() < 0.2
    assert features.voice_activity[30:60].mean() > 0.8
    assert features.phone_source == "phone-loop"
    starts = [p.start_s for p in features.phones]
    assert starts == sorted(starts) and features.phones[-1].end_s <= features.duration_s + 1e-6
    assert {p.phone for p in features.phones} <= ARPABET | {"SIL"}


def test_forced_alignment_finds_bilabials(analyzer, shared_media):
    clip = read_audio(shared_media / "aligned" / "arctic_a0009.wav")
    features = analyzer.analyze(clip, fps=25, transcript="He turned sharply, and faced Gregson across the table.")
    assert features.phone_source == "alignment" and not features.warnings
    # Ground truth (arctic_a0009_phone.lab): P of "sharply" 0.81-0.90 s, B of "table" 2.68-2.75 s.
    for phone, start, end in (("P", 0.81, 0.90), ("B", 2.68, 2.75)):
        found = [p for p in features.phones if p.phone == phone and p.end_s > start - 0.05 and p.start_s < end + 0.05]
        assert found, f"no {phone} near {start}-{end} s in {features.phones}"


def test_unknown_words_are_spelled_not_fatal(analyzer, shared_media):
    clip = read_audio(shared_media / "aligned" / "arctic_a0009.wav")
    features = analyzer.analyze(clip, fps=25, transcript="He turned zorgblatt and faced Gregson across the table")
    assert features.phone_source in ("alignment", "words")
    assert any("zorgblatt" in w for w in features.warnings)


def test_transcript_without_words_falls_back_to_phone_loop(analyzer):
    features = analyzer.analyze(AudioClip(with_silence(synthetic_vowel()), 16000), fps=25, transcript="?!")
    assert features.phone_source in ("phone-loop", "none")
    assert any("no words" in w for w in features.warnings)


def test_normalize_transcript():
    assert normalize_transcript("It\u2019s 42, Bob! 'quoted'") == ["it's", "four", "two", "bob", "quoted"]
    assert normalize_transcript("...") == []


def test_guess_pronunciation_keeps_visible_features():
    phones = guess_pronunciation("zorgblatt").split()
    assert set(phones) <= ARPABET and "B" in phones
    assert guess_pronunciation("moon").split() == ["M", "UW", "N"]
    assert guess_pronunciation("five").split() == ["F", "IH", "V"]  # silent final e dropped
    assert guess_pronunciation("x'") == "K S"


def test_split_points_cut_in_the_quiet():
    rng = np.random.default_rng(1)
    n = 20 * SPHINX_RATE
    audio = (rng.standard_normal(n) * 3000).astype(np.int16)
    gap = slice(int(11.0 * SPHINX_RATE), int(11.5 * SPHINX_RATE))
    audio[gap] = 0
    cuts = split_points(audio, 2)
    assert cuts[0] == 0 and cuts[-1] == n and len(cuts) == 3
    assert gap.start <= cuts[1] <= gap.stop
    assert split_points(audio[: 5 * SPHINX_RATE], 2) == [0, 5 * SPHINX_RATE]  # short: one piece
    # Equal shares of the speech, not of the time: with speech only in the last 16 s, the cut moves late.
    late = split_points(audio, 2, [(4 * SPHINX_RATE, n)])
    assert 10 * SPHINX_RATE <= late[1] <= 14 * SPHINX_RATE


def test_long_audio_is_analysed_in_windows_with_the_same_result(analyzer, monkeypatch):
    # Windows keep memory flat for long audio; at their seams the features must not change.
    from vasa_core.analysis import audio as audio_module

    rng = np.random.default_rng(3)
    vowels = [synthetic_vowel(f0, formants, 0.6) for f0, formants in
              ((110.0, (700.0, 1200.0, 2600.0)), (180.0, (300.0, 2200.0, 3000.0)), (140.0, (500.0, 900.0, 2500.0)))]
    samples = np.concatenate([np.concatenate([v, (rng.standard_normal(4000) * 1e-3).astype(np.float32)])
                              for v in vowels * 2])
    frames = math.ceil(len(samples) / 16000 * 25)
    whole_f0, whole_formants = audio_module.pitch_and_formants(samples, 16000, 25, frames)
    whole_loudness = frame_loudness(samples, 16000, 25, frames)
    whole_vad = analyzer._vad_probabilities(samples)
    monkeypatch.setattr(audio_module, "WINDOW_S", 1.3)  # several seams, some inside a vowel
    monkeypatch.setattr(audio_module, "VAD_BLOCK_FRAMES", 7)
    f0, formants = audio_module.pitch_and_formants(samples, 16000, 25, frames)
    assert np.count_nonzero(whole_f0) > frames // 2
    np.testing.assert_allclose(f0, whole_f0, atol=1.0)
    np.testing.assert_allclose(formants, whole_formants, atol=20.0)
    np.testing.assert_allclose(frame_loudness(samples, 16000, 25, frames), whole_loudness, atol=1e-6)
    np.testing.assert_allclose(analyzer._vad_probabilities(samples), whole_vad, atol=1e-5)


def test_phone_segments_merge_silence_and_clip():
    segments = phone_segments([("SIL", 0.0, 0.2), ("SIL", 0.2, 0.4), ("M", 0.4, 0.5), ("AA", 0.5, 9.0)], 1.0)
    assert [(s.phone, s.start_s, s.end_s) for s in segments] == [("SIL", 0.0, 0.4), ("M", 0.4, 0.5), ("AA", 0.5, 1.0)]


def test_failed_alignment_falls_back_to_phone_loop(analyzer):
    silent = AudioClip(np.zeros(16000, np.float32), 16000)
    features = analyzer.analyze(silent, fps=25, transcript="hello there")
    assert features.phone_source in ("phone-loop", "none")
    assert any("forced alignment failed" in w for w in features.warnings)
    assert features.loudness.max() == 0.0


def test_speech_spans_pad_and_merge():
    probs = np.zeros(100, np.float32)  # 32 ms frames: 3.2 s
    probs[10:20] = 0.9  # 0.32-0.64 s
    probs[30:35] = 0.9  # 0.96-1.12 s: 0.32 s later, merged
    probs[80:90] = 0.9  # 2.56-2.88 s: far, separate
    spans = speech_spans(probs, 100 * 512)
    assert len(spans) == 2
    assert spans[0][0] == pytest.approx((0.32 - 0.25) * 16000, abs=1) and spans[0][1] == pytest.approx(
        (1.12 + 0.25) * 16000, abs=1
    )
    assert spans[1] == (int((2.56 - 0.25) * 16000), int(min(3.2, 2.88 + 0.25) * 16000))
    assert speech_spans(np.zeros(10, np.float32), 5120) == []


def test_very_short_audio(analyzer):
    features = analyzer.analyze(AudioClip(synthetic_vowel(seconds=0.03), 16000), fps=25)
    assert features.num_frames == 1 and features.f0.shape == (1,) and features.formants.shape == (1, 3)


def test_word_timings_become_evenly_spread_dictionary_phones():
    from vasa_core.analysis.phones_sphinx import _phones_from_words

    class Dictionary:
        def lookup_word(self, word):
            return {"mom(2)": "M AA1 M", "hi": "HH AY1"}.get(word)

    phones = _phones_from_words(Dictionary(), [("<sil>", 0, 9), ("mom(2)", 10, 39), ("hi", 40, 59)])
    assert [p[0] for p in phones] == ["SIL", "M", "AA", "M", "HH", "AY"]
    assert phones[1][1] == pytest.approx(0.10) and phones[1][2] == pytest.approx(0.20)
    assert phones[3][2] == pytest.approx(0.40) and phones[5][2] == pytest.approx(0.60)
