import pytest

from service.risk import combine, url_reasons
from service.schemas import ModelRef, TextResult, VoiceResult, WindowScore

REF = ModelRef(name="m", version="1", variant="fp32")


def voice(score: float, verdict: str) -> VoiceResult:
    return VoiceResult(score=score, llr=0.0, verdict=verdict, duration_s=4.0, source_sample_rate=8000, model=REF,
                       elapsed_ms=1.0, speech_s=3.5,
                       windows=[WindowScore(start_s=0, end_s=4, speech=True, speech_s=3.5, score=score, llr=0.0)])


def text(score: float, verdict: str) -> TextResult:
    return TextResult(score=score, llr=0.0, verdict=verdict, cues=[], windows=[], lang=None, model=REF,
                      elapsed_ms=1.0)


def test_most_severe_detector_decides() -> None:
    risk = combine(voice(0.97, "fake"), text(0.1, "legit"))
    assert risk.level == "critical" and risk.score == 0.97
    assert [r.detector for r in risk.reasons] == ["voice", "text"]
    assert combine(voice(0.1, "genuine"), text(0.7, "likely_scam")).level == "high"
    assert combine(None, text(0.2, "legit")).level == "low"


@pytest.mark.parametrize(
    ("url", "flag"),
    [("http://example.nl/x", "no HTTPS"), ("https://bit.ly/abc", "shortener"), ("https://192.168.1.5/login", "IP"),
     ("https://xn--ing-bnk.nl", "punycode"), ("https://ing.nl@evil.example/", "credentials")],
)
def test_url_red_flags(url: str, flag: str) -> None:
    assert any(flag in r.detail for r in url_reasons(url))


def test_clean_url_has_no_reasons_and_bad_url_does_not_raise() -> None:
    assert url_reasons("https://www.rijksoverheid.nl/onderwerpen") == []
    assert url_reasons("http://[::1") and url_reasons("http://[::1")[0].verdict == "malformed"


def test_no_speech_adds_a_reason_but_no_risk() -> None:
    silent = VoiceResult(score=None, llr=None, verdict="no_speech", duration_s=4.0, source_sample_rate=8000,
                         model=REF, elapsed_ms=1.0, speech_s=0.0,
                         windows=[WindowScore(start_s=0, end_s=4, speech=False, speech_s=0.0, score=None, llr=None)])
    risk = combine(silent, text(0.1, "legit"))
    assert risk.level == "low" and risk.score == 0.1
    assert any(r.detector == "voice" and r.verdict == "no_speech" and "no speech" in r.detail for r in risk.reasons)
