"""`nepcheck corpus build`: an offline corpus whose two classes differ only in how the speech was made.

Bona fide clips come from manifests and folders of real speech; spoofs from those manifests' synthetic clips,
from every offline synthesiser found on the machine reading the same kinds of sentences, from classic
resynthesis (WORLD, MLSA, Griffin-Lim) of the bona fide clips, and from neural-vocoder copies
(`nepcheck corpus vocode`, passed in as a manifest). Every clip, whatever its class, then goes through the
same randomised recording chain (`training.channel.apply_chain`) and the same crop, and is written as 16-bit
FLAC at one rate, so that level, silence, length, bit depth and recording conditions carry no class.

Splits hold out whole families of systems (spoofs; a system without a family is its own) and whole sources
(bona fide), never single clips, unless the input already names a split. Every clip gets its own random
generator seeded from (seed, clip index), so a build is reproducible whatever the number of worker processes.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from service.errors import NepcheckError
from training.channel import MatchedChain, apply_chain
from training.corpora.audio_io import load_clip, source_rate, write_clip
from training.corpora.loaders import load_csv
from training.corpora.manifest import ManifestRow, family_of, write_manifest

log = logging.getLogger(__name__)

AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a")
SPLIT_NAMES = ("train", "dev", "eval")
TOO_SHORT = "too_short"


@dataclass(frozen=True)
class BuildConfig:
    rate: int = 16_000
    seed: int = 0
    tts_per_engine: int = 80  # sentences per engine and language, spread over its voices
    resynth_clips: int = 120
    max_per_source: int | None = 300
    crop_s: tuple[float, float] = (1.5, 6.0)
    # Clips shorter than this after trimming are left out: short real prompts beside sentence-long TTS would
    # make duration a class cue (the 8 kHz audit flagged it at 36.7% EER before this).
    min_clip_s: float = 1.5
    split_fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
    min_source_rate: int | None = None  # default: the working rate, so no class is narrower-band by origin
    max_clip_s: float = 60.0
    chain: MatchedChain = field(default_factory=MatchedChain)


@dataclass(frozen=True)
class Job:
    """One output clip to render; picklable so worker processes can take it."""

    index: int
    kind: Literal["file", "tts", "resynth"]
    label: str
    system: str
    speaker: str
    language: str
    source: str
    split: str
    path: str = ""  # file to copy, or the bona fide clip to resynthesise
    engine: str = ""
    voice: str = ""
    text: str = ""
    family: str = ""  # empty: the system is its own family


# ------------------------------------------------------------------------------------------------ inputs


def rows_from_folder(folder: Path) -> list[ManifestRow]:
    """Every audio file below `folder` as bona fide, its top-level subfolder (or the folder) as the source."""
    rows = []
    for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file()):
        relative = path.relative_to(folder)
        source = f"{folder.name}/{relative.parts[0]}" if len(relative.parts) > 1 else folder.name
        rows.append(ManifestRow(path=str(path.resolve()), label="bonafide", system="bonafide", source=source))
    return rows


def _cap_per_source(rows: list[ManifestRow], cap: int | None, rng: np.random.Generator) -> list[ManifestRow]:
    """At most `cap` clips per (source, label, system): 3,000 spoken digits must not outweigh everything."""
    if cap is None:
        return rows
    groups: dict[tuple[str, str, str], list[ManifestRow]] = {}
    for row in rows:
        groups.setdefault((row.source, row.label, row.system), []).append(row)
    kept = []
    for group in groups.values():
        if len(group) > cap:
            group = [group[i] for i in sorted(rng.choice(len(group), size=cap, replace=False))]
        kept.extend(group)
    return kept


def _narrow_sources(rows: list[ManifestRow], min_rate: int) -> tuple[list[ManifestRow], Counter[str]]:
    kept: list[ManifestRow] = []
    dropped: Counter[str] = Counter()
    for row in rows:
        try:
            rate = source_rate(Path(row.path))
        except (NepcheckError, OSError):
            kept.append(row)  # unreadable files fail later, visibly, in the report
            continue
        if rate < min_rate:
            dropped[row.source] += 1
        else:
            kept.append(row)
    return kept, dropped


def assign_splits(rows: list[ManifestRow], fractions: tuple[float, float, float], seed: int) -> list[ManifestRow]:
    """Whole families (spoof) and whole sources (bona fide) to train/dev/eval; existing splits are kept.

    A spoof family (`family_of`) is held out whole, so eval's "unseen" attacks are not a sibling checkpoint of a
    training system.

    Groups are taken largest first (ties in a seeded random order), each into the split furthest below its
    share of the clips, so the splits get their fractions of clips, not of groups, even when one source holds
    half a corpus.
    """
    total = sum(fractions)
    assignment: dict[tuple[str, str], str] = {}
    for label, salt in (("bonafide", 11), ("spoof", 7)):
        sizes = Counter(_group(r) for r in rows if r.label == label and not r.split)
        groups = sorted(sizes)
        clips = sum(sizes.values())
        targets = {s: clips * f / total for s, f in zip(SPLIT_NAMES, fractions, strict=True)}
        filled = dict.fromkeys(SPLIT_NAMES, 0)
        shuffled = [groups[i] for i in np.random.default_rng([seed, salt]).permutation(len(groups))]
        for group in sorted(shuffled, key=lambda g: -sizes[g]):  # largest first, ties in seeded random order
            split = max(SPLIT_NAMES, key=lambda s: targets[s] - filled[s]) if len(groups) >= 3 else "train"
            assignment[(label, group)] = split
            filled[split] += sizes[group]
    return [row if row.split else row.with_split(assignment[(row.label, _group(row))]) for row in rows]


def _group(row: ManifestRow) -> str:
    return family_of(row) if row.label == "spoof" else row.source


# -------------------------------------------------------------------------------------------------- jobs


def plan_jobs(
    rows: list[ManifestRow], config: BuildConfig, *, engines: Iterable[Any], resynthesizers: Iterable[str]
) -> list[Job]:
    """Everything to render: the input clips, TTS sentences per engine voice, resynthesised bona fide clips."""
    from training.synth import sentences

    rng = np.random.default_rng([config.seed, 1])
    jobs: list[Job] = []

    def add(**kw: Any) -> None:
        jobs.append(Job(index=len(jobs), **kw))

    for row in rows:
        add(kind="file", label=row.label, system=row.system, speaker=row.speaker, language=row.language,
            source=row.source, split=row.split, path=row.path, family=row.family)
    for engine in engines:
        for lang in ("nl", "en"):
            voices = engine.voices(lang)
            if not voices:
                continue
            order = rng.permutation(len(voices))  # round-robin from a random start: espeak has 100+ voices
            for k, text in enumerate(sentences(lang, rng=rng, n=config.tts_per_engine)):
                voice = voices[order[k % len(voices)]]
                add(kind="tts", label="spoof", system=engine.name, speaker=f"{engine.name}:{voice}",
                    language=lang, source=f"tts:{engine.name}", split="", engine=engine.name, voice=voice,
                    text=text)
    bona = [r for r in rows if r.label == "bonafide"]
    for name in resynthesizers:
        count = min(config.resynth_clips, len(bona))
        for i in sorted(rng.choice(len(bona), size=count, replace=False)) if count else []:
            row = bona[i]
            add(kind="resynth", label="spoof", system=name, speaker=row.speaker, language=row.language,
                source=f"resynth:{row.source}", split="", path=row.path, engine=name)
    return jobs


def _split_jobs(jobs: list[Job], config: BuildConfig) -> list[Job]:
    """Splits for generated clips too: a TTS engine or vocoder is one system, held out whole with its family."""
    rows = [ManifestRow(path=str(j.index), label=j.label, system=j.system, source=j.source, split=j.split,
                        family=j.family) for j in jobs]
    split_rows = assign_splits(rows, config.split_fractions, config.seed)
    return [Job(**{**asdict(j), "split": r.split}) for j, r in zip(jobs, split_rows, strict=True)]


_ENGINES: dict[str, Any] = {}


def _engine(name: str) -> Any:
    if not _ENGINES:
        from training.synth import discover_engines

        _ENGINES.update({e.name: e for e in discover_engines()})
    return _ENGINES[name]


def _raw_audio(job: Job, rate: int, rng: np.random.Generator, max_clip_s: float) -> np.ndarray:
    from service.audio import resample

    if job.kind == "file":
        return load_clip(Path(job.path), rate, max_duration_s=max_clip_s)
    if job.kind == "tts":
        samples, own_rate = _engine(job.engine).synthesize(job.text, lang=job.language, voice=job.voice, rng=rng)
        return resample(samples.astype(np.float32), own_rate, rate)
    from training.synth import RESYNTHESIZERS

    clip = load_clip(Path(job.path), rate, max_duration_s=max_clip_s)
    longest = int(8.0 * rate)  # resynthesis is slow; the chain's crop keeps at most 6 s of it anyway
    if clip.size > longest:
        start = int(rng.integers(0, clip.size - longest + 1))
        clip = clip[start : start + longest]
    return RESYNTHESIZERS[job.engine](clip, rate, rng=rng)


def render(job: Job, config: BuildConfig, out_dir: Path) -> tuple[ManifestRow | None, str | None]:
    """Synthesise or load one clip, pass it through the matched chain and crop, and write it."""
    rng = np.random.default_rng([config.seed, job.index])
    try:
        raw = _raw_audio(job, config.rate, rng, config.max_clip_s)
        processed = apply_chain(raw, config.rate, config.chain, rng=rng)
        target = int(rng.uniform(*config.crop_s) * config.rate)
        if processed.size > target:  # crop long clips; short ones stay short in both classes alike
            start = int(rng.integers(0, processed.size - target + 1))
            processed = processed[start : start + target]
        if processed.size < config.min_clip_s * config.rate:
            return None, f"{TOO_SHORT}:{job.label}"
    except Exception as exc:  # one bad input or synthesiser failure must not stop a long build
        return None, f"{job.kind}:{job.system}: {type(exc).__name__}: {str(exc)[:200]}"
    digest = hashlib.sha1(f"{job.index}:{job.path}:{job.text}".encode()).hexdigest()[:10]
    path = out_dir / "audio" / job.split / _safe(job.system) / f"{job.index:06d}_{digest}.flac"
    write_clip(path, processed, config.rate)
    return ManifestRow(path=str(path.relative_to(out_dir)), label=job.label, system=job.system,
                       speaker=job.speaker, language=job.language, split=job.split, source=job.source,
                       condition="matched", family=job.family), None


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:80] or "unnamed"


def _render_all(jobs: list[Job], config: BuildConfig, out_dir: Path, workers: int, progress: bool
                ) -> Iterator[tuple[ManifestRow | None, str | None]]:
    if workers <= 1:
        results: Iterable[tuple[ManifestRow | None, str | None]] = (render(j, config, out_dir) for j in jobs)
    else:
        pool = ProcessPoolExecutor(max_workers=workers)
        results = pool.map(render, jobs, [config] * len(jobs), [out_dir] * len(jobs), chunksize=8)
    if progress:
        try:
            from tqdm import tqdm

            results = tqdm(results, total=len(jobs), desc="corpus", unit="clip")
        except ImportError:
            pass
    try:
        yield from results
    finally:
        if workers > 1:
            pool.shutdown()


# ------------------------------------------------------------------------------------------------- build


def build(
    out_dir: Path, config: BuildConfig, *, manifests: Iterable[Path] = (), bonafide_dirs: Iterable[Path] = (),
    use_tts: bool = True, use_resynthesis: bool = True, workers: int = 1, progress: bool = True,
) -> dict[str, Any]:
    """Build the corpus in out_dir (audio/, manifest.csv, report.json); returns the report."""
    from training.synth import available_resynthesizers, discover_engines

    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([config.seed, 0])
    rows: list[ManifestRow] = []
    for manifest in manifests:
        rows += load_csv(manifest, missing="skip")
    for folder in bonafide_dirs:
        rows += rows_from_folder(folder)
    rows = _cap_per_source(rows, config.max_per_source, rng)
    rows, narrow = _narrow_sources(rows, config.min_source_rate or config.rate)
    engines = discover_engines() if use_tts else []
    resynthesizers = available_resynthesizers() if use_resynthesis else []
    jobs = _split_jobs(plan_jobs(rows, config, engines=engines, resynthesizers=resynthesizers), config)
    written: list[ManifestRow] = []
    failures: Counter[str] = Counter()
    examples: list[str] = []
    too_short: Counter[str] = Counter()
    for row, error in _render_all(jobs, config, out_dir, workers, progress):
        if row is not None:
            written.append(row)
        elif error and error.startswith(TOO_SHORT):
            too_short[error.split(":")[1]] += 1
        else:
            failures[(error or "").split(":")[0]] += 1
            if len(examples) < 10:
                examples.append(error or "")
    written.sort(key=lambda r: r.path)
    write_manifest(written, out_dir / "manifest.csv")
    report = summarise(written, out_dir, config.rate)
    report.update(
        engines_found={e.name: {lang: e.voices(lang) for lang in ("nl", "en")} for e in engines},
        resynthesizers=resynthesizers, dropped_narrowband_sources=dict(narrow), dropped_too_short=dict(too_short),
        failures=dict(failures), failure_examples=examples,
        config={**asdict(config), "chain": asdict(config.chain)},
    )
    (out_dir / "report.json").write_text(json.dumps(report, indent=2, default=str))
    return report


def summarise(rows: list[ManifestRow], out_dir: Path, rate: int) -> dict[str, Any]:
    """Clips, hours, systems and speakers per class and split, read back from the written files."""
    import soundfile as sf

    seconds: Counter[str] = Counter()
    for row in rows:
        seconds[row.label] += sf.info(str(out_dir / row.path)).frames / rate
    per_split = Counter(f"{r.split}/{r.label}" for r in rows)
    return {
        "clips": dict(Counter(r.label for r in rows)),
        "hours": {label: round(s / 3600, 3) for label, s in seconds.items()},
        "clips_per_split": dict(sorted(per_split.items())),
        "systems": dict(sorted(Counter(r.system for r in rows if r.label == "spoof").items())),
        "systems_per_split": {s: sorted({r.system for r in rows if r.split == s and r.label == "spoof"})
                              for s in SPLIT_NAMES},
        "bonafide_sources_per_split": {s: sorted({r.source for r in rows if r.split == s and r.label == "bonafide"})
                                       for s in SPLIT_NAMES},
        "speakers": {label: len({r.speaker for r in rows if r.label == label and r.speaker})
                     for label in ("bonafide", "spoof")},
    }
