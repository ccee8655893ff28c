"""One risk for a call or an ad from the detectors' results, with the reasons a reviewer can check."""

from __future__ import annotations

from urllib.parse import urlsplit

from service.card import TEXT_BANDS, VOICE_BANDS
from service.schemas import Reason, Risk, TextResult, VoiceResult

LEVELS = ("low", "medium", "high", "critical")
URL_SHORTENERS = frozenset({"bit.ly", "tinyurl.com", "t.co", "is.gd", "goo.gl", "ow.ly", "cutt.ly", "rb.gy", "t.ly"})


def _voice_reason(voice: VoiceResult) -> Reason:
    scored = [w for w in voice.windows if w.score is not None]
    if voice.score is None or not scored:
        return Reason(detector="voice", verdict=voice.verdict, score=None,
                      detail=f"no speech to judge in {voice.duration_s:.1f} s of audio")
    peak = max(scored, key=lambda w: w.score or 0.0)
    return Reason(
        detector="voice",
        verdict=voice.verdict,
        score=voice.score,
        detail=f"voice synthesis score {voice.score:.2f} over {len(scored)} speech window(s); "
        f"strongest {peak.score or 0.0:.2f} at {peak.start_s:.1f}-{peak.end_s:.1f} s",
    )


def _text_reason(text: TextResult) -> Reason:
    kinds = sorted({c.kind for c in text.cues})
    cues = f"; cues: {', '.join(kinds)}" if kinds else "; no listed scam cues"
    return Reason(detector="text", verdict=text.verdict, score=text.score, detail=f"scam score {text.score:.2f}{cues}")


def url_reasons(url: str) -> list[Reason]:
    """Plain URL red flags. They are reasons to look, not evidence that moves the risk score."""
    try:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        host = (parts.hostname or "").lower()
    except ValueError:
        return [Reason(detector="url", verdict="malformed", detail="landing_url is not a valid URL")]
    flags = []
    if parts.scheme == "http":
        flags.append("no HTTPS")
    if host in URL_SHORTENERS:
        flags.append(f"link shortener {host} hides the destination")
    if host.replace(".", "").isdigit() or ":" in host:
        flags.append("bare IP address as host")
    if "xn--" in host:
        flags.append("internationalised (punycode) host name, possible look-alike")
    if parts.username or parts.password or "@" in parts.netloc:
        flags.append("credentials in the URL can disguise the real host")
    return [Reason(detector="url", verdict="suspicious", detail=flag) for flag in flags]


def combine(voice: VoiceResult | None, text: TextResult | None, landing_url: str | None = None) -> Risk:
    """The most severe detector decides: a cloned voice reading a harmless script is still a cloned voice."""
    reasons: list[Reason] = []
    severity = 0
    score = 0.0
    if voice is not None:
        # `no_speech` is no evidence either way: it adds a reason but neither severity nor score.
        if voice.verdict in VOICE_BANDS and voice.score is not None:
            severity = max(severity, VOICE_BANDS.index(voice.verdict))
            score = max(score, voice.score)
        reasons.append(_voice_reason(voice))
    if text is not None:
        severity = max(severity, TEXT_BANDS.index(text.verdict))
        score = max(score, text.score)
        reasons.append(_text_reason(text))
    if landing_url:
        reasons.extend(url_reasons(landing_url))
    reasons.sort(key=lambda r: -(r.score or 0.0))
    return Risk(score=score, level=LEVELS[severity], reasons=reasons)  # type: ignore[arg-type]
