"""From transcript segments to the text the detector scores, and back from its windows and cues to call times.

The text detector reports character spans (`windows`, `cues`) of the text it read; a reviewer of a call needs
seconds. Segments are joined with single spaces, each segment's span is kept, and a span maps to the times of
the segments it overlaps.
"""

from __future__ import annotations

from service.asr.model import Segment
from service.schemas import Reason, Risk, TextResult, TranscriptSegment


def join_segments(segments: list[Segment]) -> tuple[str, list[TranscriptSegment]]:
    parts: list[str] = []
    out: list[TranscriptSegment] = []
    offset = 0
    for segment in segments:
        if parts:
            offset += 1  # the joining space
        parts.append(segment.text)
        out.append(TranscriptSegment(start_s=segment.start_s, end_s=segment.end_s, text=segment.text,
                                     char_start=offset, char_end=offset + len(segment.text)))
        offset += len(segment.text)
    return " ".join(parts), out


def span_times(segments: list[TranscriptSegment], start: int, end: int) -> tuple[float, float] | None:
    """Call time covered by the characters [start, end) of the joined text."""
    hit = [s for s in segments if s.char_start < max(end, start + 1) and s.char_end > start]
    if not hit:
        return None
    return hit[0].start_s, hit[-1].end_s


def _fmt(times: tuple[float, float] | None) -> str:
    return f"{times[0]:.1f}-{times[1]:.1f} s" if times else "?"


def text_reason_detail(text: TextResult, segments: list[TranscriptSegment]) -> str:
    """The text reason of a transcribed call: its score, the strongest window's time, and each cue's time."""
    peak = max(text.windows, key=lambda w: w.llr)
    detail = (f"scam score {text.score:.2f} on the transcript; strongest at "
              f"{_fmt(span_times(segments, peak.char_start, peak.char_end))}")
    if not text.cues:
        return detail + "; no listed scam cues"
    cues = [f"{c.kind} at {_fmt(span_times(segments, c.start, c.end))}" for c in text.cues[:8]]
    more = f" (+{len(text.cues) - 8} more)" if len(text.cues) > 8 else ""
    return f"{detail}; cues: {', '.join(cues)}{more}"


def with_segment_times(risk: Risk, text: TextResult, segments: list[TranscriptSegment]) -> Risk:
    """The same risk, its text reason pointing at call times instead of character offsets."""
    reasons = [
        Reason(detector=r.detector, verdict=r.verdict, score=r.score, detail=text_reason_detail(text, segments))
        if r.detector == "text" else r
        for r in risk.reasons
    ]
    return risk.model_copy(update={"reasons": reasons})
