"""Speech-paper demo pages: generated clips beside real recordings, read from git snapshots of their repositories.

A demo page's repository lays out audio however its authors liked, and only the page's HTML says which clip is
real and which system made the rest. So each repository gets one hand-written mapping,
`datasets/demo_pages/<owner>__<repo>.yaml`, whose rules (regexes over paths in the repository, first full match
wins) say what each audio file is. The mapping names the commit it was written against: a later commit may move
files, and a rule written for one layout silently mislabels another, so a snapshot lacking that commit fails.

Snapshots are bare git directories (what `fetch` brings: `<mirror>/<owner>+<repo>/repo` or `.../repo/.git`) or
checked-out folders. Audio is read from git into a git-ignored cache, never into the project; clips whose bytes
hash to a reserved value (kept for independent evaluation) are dropped before they are written anywhere.
`datasets/demo_pages.md` is the recipe.
"""

from __future__ import annotations

import hashlib
import os
import re
import string
import subprocess
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

import yaml

from training.corpora.loaders._common import absolute, log, require_dir, require_file
from training.corpora.manifest import ManifestRow

SOURCE = "demo_pages"
AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a")
RULE_LABELS = ("bonafide", "spoof", "skip")
SKIP, UNMATCHED = "skip", "unmatched"
REQUIRED_KEYS = ("repo", "ref", "page", "licence", "rules")
OPTIONAL_KEYS = ("language", "notes", "url", "branch", "source", "maps")
RULE_KEYS = ("match", "label", "system", "speaker", "language", "family")
REF = re.compile(r"[0-9a-f]{40}")
REPO = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9_.-]+")
SHA256 = re.compile(r"[0-9a-f]{64}")
MAP_FIELD = re.compile(r"maps\[([^\]]+)\]\[([^\]]+)\]")  # {maps[table][key]}
LFS_POINTER = b"version https://git-lfs.github.com/spec/"
POINTER_MAX = 1024  # a Git LFS pointer is ~130 bytes; no audio clip is this small
FILE_MODES = ("100644", "100755")  # regular files; symlinks (120000) and submodules (160000) hold no audio
PROJECT_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_CACHE = PROJECT_ROOT / "datasets" / "built" / "demo_pages"
GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_NO_LAZY_FETCH": "1"}  # a snapshot is read, never completed online


# ----------------------------------------------------------------------------------------------- mapping


@dataclass(frozen=True)
class Rule:
    """One line of a mapping: paths fully matching `pattern` get these (str.format) templates rendered."""

    number: int  # 1-based, as a reader counts the rules in the file
    pattern: re.Pattern[str]
    label: str  # bonafide | spoof | skip
    system: str = ""
    speaker: str = ""
    language: str | None = None  # None: the mapping's language
    family: str | None = None  # None: the rendered system


@dataclass(frozen=True)
class DemoPageMapping:
    """A parsed, checked `datasets/demo_pages/<owner>__<repo>.yaml`."""

    path: Path
    repo: str
    ref: str
    page: tuple[str, ...]
    licence: str
    rules: tuple[Rule, ...]
    language: str = ""
    notes: str = ""
    url: str = ""
    branch: str = ""
    source: str = ""  # the rows' source; the mapping's `source`, else `repo`
    maps: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @property
    def cache_name(self) -> str:
        """`owner__repo`: the folder name of this repository's mapping and of its extracted audio."""
        return self.repo.replace("/", "__")

    @property
    def mirror_name(self) -> str:
        """`owner+repo`: the folder `fetch` puts this repository's snapshot in."""
        return self.repo.replace("/", "+")


def read_mapping(path: Path | str) -> DemoPageMapping:
    """Parse and check a mapping file; every problem is a ValueError naming the file (and rule) at fault."""
    path = require_file(absolute(path), "demo page mapping")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: a mapping file is a YAML mapping of {REQUIRED_KEYS + OPTIONAL_KEYS}")
    _check_keys(raw, REQUIRED_KEYS, OPTIONAL_KEYS, str(path))
    repo = _text(raw, "repo", str(path))
    if not REPO.fullmatch(repo):
        raise ValueError(f"{path}: repo must be owner/name, got {repo!r}")
    ref = raw["ref"]
    if not isinstance(ref, str) or not REF.fullmatch(ref):
        raise ValueError(f"{path}: ref must be a quoted 40-hex commit id (lower case), got {ref!r}")
    maps = _maps(raw.get("maps"), path)
    language = _text(raw, "language", str(path), default="")
    rules = raw["rules"]
    if not isinstance(rules, list) or not rules:
        raise ValueError(f"{path}: rules must be a non-empty list")
    mapping = DemoPageMapping(
        path=path,
        repo=repo,
        ref=ref,
        page=_pages(raw["page"], path),
        licence=_text(raw, "licence", str(path)),
        rules=tuple(_rule(r, n, path, maps) for n, r in enumerate(rules, start=1)),
        language=language,
        notes=_text(raw, "notes", str(path), default=""),
        url=_text(raw, "url", str(path), default=""),
        branch=_text(raw, "branch", str(path), default=""),
        source=_text(raw, "source", str(path), default="") or repo,
        maps=maps,
    )
    if path.stem != mapping.cache_name:
        log.warning("%s: mapping for %s is expected to be named %s.yaml", path, repo, mapping.cache_name)
    return mapping


def _check_keys(raw: dict[str, Any], required: Iterable[str], optional: Iterable[str], where: str) -> None:
    """Unknown keys are refused: a misspelt `familly:` silently falling back to a default mislabels a corpus."""
    known = (*required, *optional)
    for key in raw:
        if key not in known:
            raise ValueError(f"{where}: unknown key {key!r}; known keys: {', '.join(known)}")
    missing = [k for k in required if k not in raw]
    if missing:
        raise ValueError(f"{where}: missing key(s) {', '.join(missing)}")


def _text(raw: dict[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = raw.get(key, default)
    if not isinstance(value, str):
        raise ValueError(f"{where}: {key} must be a string, got {value!r}")
    return value.strip()


def _pages(value: object, path: Path) -> tuple[str, ...]:
    pages = [value] if isinstance(value, str) else value
    if not isinstance(pages, list) or not pages or not all(isinstance(p, str) and p for p in pages):
        raise ValueError(f"{path}: page must be a file name or a non-empty list of them, got {value!r}")
    return tuple(pages)


def _maps(value: object, path: Path) -> dict[str, dict[str, str]]:
    """Named lookup tables; keys and scalar values become strings, since regex groups are strings."""
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(t, dict) for t in value.values()):
        raise ValueError(f"{path}: maps must be a mapping of named tables (mappings), got {value!r}")
    for name, table in value.items():
        for key, item in table.items():
            if isinstance(item, (dict, list)) or item is None:
                raise ValueError(f"{path}: maps[{name}][{key}] must be a string, got {item!r}")
    return {str(name): {str(k): str(v) for k, v in table.items()} for name, table in value.items()}


def _rule(raw: object, number: int, path: Path, maps: Mapping[str, Mapping[str, str]]) -> Rule:
    where = f"{path}: rule {number}"
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: a rule is a mapping with keys {', '.join(RULE_KEYS)}")
    _check_keys(raw, ("match", "label"), RULE_KEYS[2:], where)
    try:
        pattern = re.compile(_text(raw, "match", where))
    except re.error as exc:
        raise ValueError(f"{where}: match is not a valid regex: {exc}") from None
    if "maps" in pattern.groupindex:
        raise ValueError(f"{where}: a regex group may not be called 'maps' (templates use it for the tables)")
    label = raw["label"]
    if label not in RULE_LABELS:
        raise ValueError(f"{where}: label must be one of {RULE_LABELS}, got {label!r}")
    if label == "spoof" and "system" not in raw:
        raise ValueError(f"{where}: a spoof rule needs a system")
    templates = {k: _text(raw, k, where) for k in ("system", "speaker", "language", "family") if k in raw}
    for key, template in templates.items():
        _check_template(template, pattern, maps, f"{where} {key}")
    if label == "bonafide" and templates.get("system", "bonafide") != "bonafide":
        log.warning("%s: bona fide rows should have system 'bonafide', got %r", where, templates["system"])
    return Rule(
        number=number,
        pattern=pattern,
        label=label,
        system=templates.get("system", "bonafide" if label == "bonafide" else ""),
        speaker=templates.get("speaker", ""),
        language=templates.get("language"),
        family=templates.get("family"),
    )


def _check_template(template: str, pattern: re.Pattern[str], maps: Mapping[str, Mapping[str, str]], where: str
                    ) -> None:
    """Fields must name the regex's groups or a table in maps, so a typo fails on reading, not mid-extraction."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"{where}: bad template {template!r}: {exc}") from None
    for _, name, _, _ in parsed:
        if name is None:
            continue
        root = re.split(r"[.\[]", name, maxsplit=1)[0]
        if root == "maps":
            lookup = MAP_FIELD.fullmatch(name)
            if lookup is None or lookup.group(1) not in maps:
                raise ValueError(f"{where}: {{{name}}} is not {{maps[table][key]}} with a table in maps "
                                 f"({', '.join(maps) or 'none'})")
            table, key = lookup.groups()
            if key not in pattern.groupindex and key not in maps[table]:
                raise ValueError(f"{where}: {{{name}}}: {key!r} is neither a named group of the rule's regex "
                                 f"nor a key of maps[{table}]")
        elif root not in pattern.groupindex:
            raise ValueError(f"{where}: {{{name}}} is not a named group of the rule's regex "
                             f"({', '.join(pattern.groupindex) or 'none'})")


def read_reserved(path: Path | str) -> frozenset[str]:
    """sha256 values (one a line, first field; `#` starts a comment) of audio kept for independent evaluation."""
    path = require_file(absolute(path), "reserved sha256 list")
    values = set()
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            fields = line.split("#", 1)[0].split()
            if not fields:
                continue
            if not SHA256.fullmatch(fields[0].lower()):
                raise ValueError(f"{path}:{number}: expected a sha256 (64 hex digits), got {fields[0]!r}")
            values.add(fields[0].lower())
    return frozenset(values)


# ---------------------------------------------------------------------------------------------- snapshot


@dataclass(frozen=True)
class Entry:
    """A file of the snapshot: its path in the repository, size in bytes and git blob id ("" in a folder)."""

    path: str
    size: int
    blob: str = ""


class Snapshot(Protocol):
    def entries(self) -> list[Entry]: ...

    def read(self, entry: Entry) -> bytes | None: ...

    def sizes(self, entries: list[Entry]) -> dict[str, int | None]: ...

    def close(self) -> None: ...


def is_git_dir(path: Path) -> bool:
    return (path / "HEAD").is_file() and (path / "objects").is_dir()


def git_dir_of(path: Path) -> Path | None:
    """The git directory of a snapshot: `path` itself, or (as `fetch` lays them out) `repo/` or `repo/.git/` in it,
    or `.git/` of a clone with no work tree. None for a checked-out folder (or nothing at all)."""
    for candidate in (path, path / "repo", path / "repo" / ".git"):
        if is_git_dir(candidate):
            return candidate
    if is_git_dir(path / ".git") and [p.name for p in path.iterdir()] == [".git"]:
        return path / ".git"
    return None


def _git(git_dir: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", f"--git-dir={git_dir}", *args], input=stdin, capture_output=True,
                          env={**os.environ, **GIT_ENV}, check=False)


class GitSnapshot:
    """A git directory read at one commit; blobs are streamed through one `git cat-file --batch` process."""

    def __init__(self, git_dir: Path, ref: str, what: str) -> None:
        if _git(git_dir, "cat-file", "-e", f"{ref}^{{commit}}").returncode != 0:
            raise LookupError(f"{what}: commit {ref} is not in snapshot {git_dir}; fetch the repository again, or "
                              "write the mapping against a commit the snapshot has")
        self.git_dir, self.ref = git_dir, ref
        self._batch: subprocess.Popen[bytes] | None = None

    def entries(self) -> list[Entry]:
        done = _git(self.git_dir, "ls-tree", "-r", "-l", "-z", self.ref)
        if done.returncode != 0:
            raise RuntimeError(f"git ls-tree {self.ref} in {self.git_dir} failed: {done.stderr.decode()[:300]}")
        out = []
        for record in done.stdout.split(b"\0"):
            if not record:
                continue
            info, _, name = record.partition(b"\t")
            mode, kind, blob, size = info.decode().split()
            if kind == "blob" and mode in FILE_MODES:  # size is "BAD" for an object the snapshot left out
                out.append(Entry(path=name.decode("utf-8", "surrogateescape"), size=int(size) if size.isdigit() else 0,
                                 blob=blob))
        return out

    def sizes(self, entries: list[Entry]) -> dict[str, int | None]:
        """Size of each blob the object store holds, None for those it lacks (a snapshot leaves out large files)."""
        if not entries:
            return {}
        done = _git(self.git_dir, "cat-file", "--batch-check", stdin="".join(f"{e.blob}\n" for e in entries).encode())
        lines = done.stdout.decode().splitlines()
        if done.returncode != 0 or len(lines) != len(entries):
            raise RuntimeError(f"git cat-file --batch-check in {self.git_dir} failed: {done.stderr.decode()[:300]}")
        return {e.path: (int(line.split()[2]) if not line.endswith(" missing") else None)
                for e, line in zip(entries, lines, strict=True)}

    def read(self, entry: Entry) -> bytes | None:
        """The blob's bytes, or None when the object store lacks it."""
        if self._batch is None:
            self._batch = subprocess.Popen(["git", f"--git-dir={self.git_dir}", "cat-file", "--batch"],
                                           stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                           env={**os.environ, **GIT_ENV})
        assert self._batch.stdin is not None and self._batch.stdout is not None
        self._batch.stdin.write(f"{entry.blob}\n".encode())
        self._batch.stdin.flush()
        header = self._batch.stdout.readline().split()
        if len(header) != 3:  # "<oid> missing"
            return None
        data = self._batch.stdout.read(int(header[2]))
        self._batch.stdout.read(1)  # the newline after the contents
        if len(data) != int(header[2]):
            raise RuntimeError(f"git cat-file --batch in {self.git_dir} stopped inside {entry.blob} ({entry.path})")
        return data

    def close(self) -> None:
        if self._batch is not None:
            assert self._batch.stdin is not None
            self._batch.stdin.close()
            self._batch.wait()
            self._batch = None


class FolderSnapshot:
    """A checked-out repository: files are read where they are (and the mapping's ref is not checked)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def entries(self) -> list[Entry]:
        out = []
        for folder, subfolders, files in os.walk(self.root):
            subfolders[:] = [d for d in subfolders if d != ".git"]
            for name in files:
                path = Path(folder) / name
                if path.is_file():
                    out.append(Entry(path=path.relative_to(self.root).as_posix(), size=path.stat().st_size))
        return out

    def sizes(self, entries: list[Entry]) -> dict[str, int | None]:
        return {e.path: e.size for e in entries}

    def read(self, entry: Entry) -> bytes | None:
        return (self.root / entry.path).read_bytes()

    def file(self, entry: Entry) -> Path:
        return self.root / entry.path

    def close(self) -> None:
        pass


@contextmanager
def open_snapshot(path: Path | str, mapping: DemoPageMapping) -> Iterator[Snapshot]:
    """The snapshot at `path` read at the mapping's ref (git), or as it is (a checked-out folder)."""
    root = require_dir(absolute(path), f"snapshot of {mapping.repo}")
    git_dir = git_dir_of(root)
    snapshot: GitSnapshot | FolderSnapshot = (
        GitSnapshot(git_dir, mapping.ref, f"{mapping.path} ({mapping.repo})") if git_dir else FolderSnapshot(root)
    )
    try:
        yield snapshot
    finally:
        snapshot.close()


# -------------------------------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class PlannedClip:
    """What one audio file of the repository becomes; `label` "skip" or "unmatched" means no row."""

    path: str  # in the repository
    label: str  # bonafide | spoof | skip | unmatched
    system: str = ""
    family: str = ""  # always filled for rows: the rendered family, else the system
    speaker: str = ""
    language: str = ""
    rule: int | None = None  # the 1-based number of the rule that matched
    size: int = 0
    absent: str = ""  # why the audio cannot be read ("" when it can): missing from the snapshot, a Git LFS pointer
    blob: str = ""

    @property
    def is_row(self) -> bool:
        return self.label in ("bonafide", "spoof") and not self.absent


def plan_demo_page(mapping_path: Path | str, snapshot: Path | str) -> list[PlannedClip]:
    """Every audio file of the snapshot and what the mapping makes of it, without extracting anything."""
    mapping = read_mapping(mapping_path)
    with open_snapshot(snapshot, mapping) as snap:
        return _plan(mapping, snap)


def _plan(mapping: DemoPageMapping, snap: Snapshot) -> list[PlannedClip]:
    entries = sorted((e for e in snap.entries() if e.path.lower().endswith(AUDIO_SUFFIXES)), key=lambda e: e.path)
    planned = {e.path: _classify(mapping, e) for e in entries}
    wanted = [e for e in entries if planned[e.path].label in ("bonafide", "spoof")]
    sizes = snap.sizes(wanted)
    for entry in wanted:
        absent = _absence(snap, entry, sizes[entry.path])
        if absent:
            planned[entry.path] = replace(planned[entry.path], absent=absent)
    return [planned[e.path] for e in entries]


def _classify(mapping: DemoPageMapping, entry: Entry) -> PlannedClip:
    """The first rule whose regex matches the whole path decides; its templates are rendered over its groups."""
    unmatched = PlannedClip(path=entry.path, label=UNMATCHED, size=entry.size, blob=entry.blob)
    for rule in mapping.rules:
        match = rule.pattern.fullmatch(entry.path)
        if match is None:
            continue
        if rule.label == SKIP:
            return replace(unmatched, label=SKIP, rule=rule.number)
        groups = {k: v or "" for k, v in match.groupdict().items()}
        where = f"{mapping.path}: rule {rule.number} on {entry.path}"
        system = _render(rule.system, groups, mapping.maps, where)
        if not system:
            raise ValueError(f"{where}: system renders empty")
        language = mapping.language if rule.language is None else _render(rule.language, groups, mapping.maps, where)
        family = system if rule.family is None else _render(rule.family, groups, mapping.maps, where) or system
        return replace(unmatched, label=rule.label, rule=rule.number, system=system, family=family,
                       speaker=_render(rule.speaker, groups, mapping.maps, where), language=language)
    return unmatched


class _Template(string.Formatter):
    """str.format, except that in `{maps[table][key]}` a key naming a regex group stands for what that group
    matched: `{maps[family][sys]}` is the family of the system `sys` matched, which is what a table is for."""

    def get_field(self, field_name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        lookup = MAP_FIELD.fullmatch(field_name)
        if lookup is None:
            return super().get_field(field_name, args, kwargs)
        table, key = lookup.groups()
        return kwargs["maps"][table][kwargs.get(key, key)], "maps"


_TEMPLATE = _Template()


def _render(template: str, groups: dict[str, str], maps: Mapping[str, Mapping[str, str]], where: str) -> str:
    try:
        return _TEMPLATE.format(template, **groups, maps=maps).strip()
    except (KeyError, IndexError, ValueError, AttributeError) as exc:
        raise ValueError(f"{where}: template {template!r} failed ({type(exc).__name__}: {exc}); "
                         "add the value to its table in maps or narrow the rule's regex") from None


def _absence(snap: Snapshot, entry: Entry, size: int | None) -> str:
    """Why a listed file has no audio here: its object was left out of the snapshot, or it is a Git LFS pointer."""
    if size is None:
        return "missing from the snapshot"
    if size <= POINTER_MAX:
        data = snap.read(entry)
        if data is None:
            return "missing from the snapshot"
        if data.startswith(LFS_POINTER):
            return "Git LFS pointer"
    return ""


# ------------------------------------------------------------------------------------------------- load


@dataclass(frozen=True)
class PageSummary:
    """Counts for one mapping; `problem` says why a mapping gave nothing (no snapshot, a bad mapping)."""

    mapping: str
    repo: str
    bonafide: int = 0
    spoof: int = 0
    skipped: int = 0
    unmatched: int = 0
    absent: int = 0
    reserved: int = 0
    systems: tuple[str, ...] = ()
    families: tuple[str, ...] = ()
    problem: str = ""

    @classmethod
    def of(cls, mapping: DemoPageMapping, clips: list[PlannedClip], reserved: int = 0,
           dropped: frozenset[str] = frozenset()) -> PageSummary:
        """Counts of a plan; `dropped` names the clips (repo paths) left out as reserved."""
        kept = [c for c in clips if c.is_row and c.path not in dropped]
        labels = Counter(c.label for c in kept)
        spoofs = [c for c in kept if c.label == "spoof"]
        return cls(
            mapping=str(mapping.path), repo=mapping.repo, bonafide=labels["bonafide"], spoof=labels["spoof"],
            skipped=sum(c.label == SKIP for c in clips), unmatched=sum(c.label == UNMATCHED for c in clips),
            absent=sum(bool(c.absent) for c in clips), reserved=reserved,
            systems=tuple(sorted({c.system for c in spoofs})), families=tuple(sorted({c.family for c in spoofs})),
        )

    def line(self) -> str:
        return (f"{self.repo}: {self.bonafide} bona fide, {self.spoof} spoof, {self.skipped} skipped, "
                f"{self.unmatched} unmatched, {self.absent} absent, {self.reserved} reserved dropped; "
                f"systems: {', '.join(self.systems) or '-'}; families: {', '.join(self.families) or '-'}")


def load_demo_pages(
    root: Path | str,
    *,
    mapping: Path | str,
    cache_dir: Path | str | None = None,
    reserved: Path | str | None = None,
) -> list[ManifestRow]:
    """Rows of one demo page: `root` is its snapshot, `mapping` its YAML file; see the module docstring.

    Audio read from git goes to `cache_dir/<owner>__<repo>/<path in repo>` (default `datasets/built/demo_pages`);
    a checked-out folder's files are used where they are. Clips whose bytes are in `reserved` are dropped.
    """
    page = read_mapping(mapping)
    hashes = read_reserved(reserved) if reserved is not None else frozenset()
    cache = absolute(cache_dir) if cache_dir is not None else DEFAULT_CACHE
    with open_snapshot(root, page) as snap:
        rows, _ = _load(page, snap, cache, hashes)
    return rows


def _load(page: DemoPageMapping, snap: Snapshot, cache: Path, reserved: frozenset[str]
          ) -> tuple[list[ManifestRow], PageSummary]:
    clips = _plan(page, snap)
    rows: list[ManifestRow] = []
    dropped: set[str] = set()
    for clip in (c for c in clips if c.is_row):
        path = _materialise(clip, snap, cache / page.cache_name, reserved)
        if path is None:
            dropped.add(clip.path)
            continue
        rows.append(ManifestRow(path=str(path), label=clip.label, system=clip.system, speaker=clip.speaker,
                                language=clip.language, split="", source=page.source, condition="clean",
                                family="" if clip.family == clip.system else clip.family))
    summary = PageSummary.of(page, clips, reserved=len(dropped), dropped=frozenset(dropped))
    log.info("%s", summary.line())
    if dropped:
        log.warning("%s: dropped %d clip(s) reserved for independent evaluation", page.repo, len(dropped))
    absent = [c for c in clips if c.absent]
    if absent:
        log.warning("%s: %d mapped clip(s) have no audio in the snapshot (first: %s, %s)", page.repo, len(absent),
                    absent[0].path, absent[0].absent)
    return rows, summary


def _materialise(clip: PlannedClip, snap: Snapshot, folder: Path, reserved: frozenset[str]) -> Path | None:
    """The clip's file on disk (written from git into `folder` unless there already), or None when reserved.

    Reserved bytes are never written: those clips must not end up anywhere training data is gathered from.
    """
    entry = Entry(path=clip.path, size=clip.size, blob=clip.blob)
    if isinstance(snap, FolderSnapshot):
        source = snap.file(entry)
        return None if _is_reserved(source.read_bytes() if reserved else b"", reserved) else absolute(source)
    target = folder / _safe_relative(clip.path)
    if target.is_file() and target.stat().st_size == clip.size:
        cached = target.read_bytes()
        if _blob_id(cached, clip.blob) == clip.blob:  # same size is not same clip: equal-length WAVs are common
            return None if _is_reserved(cached, reserved) else absolute(target)
    data = snap.read(entry)
    if data is None:
        raise RuntimeError(f"blob {clip.blob} of {clip.path} vanished from the snapshot while reading it")
    if _is_reserved(data, reserved):
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    partial.write_bytes(data)
    partial.replace(target)  # an interrupted run never leaves a truncated clip of the right name
    return absolute(target)


def _safe_relative(path: str) -> Path:
    """A repository path as a relative path that cannot climb out of the cache folder."""
    parts = PurePosixPath(path).parts
    if not parts or PurePosixPath(path).is_absolute() or any(p in ("..", ".", "") for p in parts):
        raise ValueError(f"refusing repository path {path!r}: it would leave the cache folder")
    return Path(*parts)


def _is_reserved(data: bytes, reserved: frozenset[str]) -> bool:
    return bool(reserved) and hashlib.sha256(data).hexdigest() in reserved


def _blob_id(data: bytes, like: str) -> str:
    """The git object id of `data` as a blob, in the hash `like` is in (sha1, or sha256 repositories)."""
    digest = hashlib.sha256 if len(like) == 64 else hashlib.sha1
    return digest(b"blob %d\0" % len(data) + data).hexdigest()


# --------------------------------------------------------------------------------------------- many pages


def mapping_files(mappings_dir: Path | str) -> list[Path]:
    folder = require_dir(absolute(mappings_dir), "demo page mappings")
    return sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])


def find_snapshot(mirror_root: Path | str, repo: str) -> Path | None:
    """The git directory of `repo`'s snapshot under `mirror_root` (`<owner>+<repo>/`, any case), or None."""
    root = absolute(mirror_root)
    name = repo.replace("/", "+")
    candidates = [root / name]
    if root.is_dir() and not candidates[0].is_dir():  # GitHub names are case-insensitive; fetch keeps the caller's
        candidates += [p for p in root.iterdir() if p.name.lower() == name.lower() and p.is_dir()]
    for candidate in candidates:
        if candidate.is_dir():
            git_dir = git_dir_of(candidate)
            if git_dir is not None:
                return git_dir
    return None


def load_all_demo_pages(
    mirror_root: Path | str,
    mappings_dir: Path | str,
    *,
    cache_dir: Path | str | None = None,
    reserved: Path | str | None = None,
) -> list[ManifestRow]:
    """Rows of every mapping in `mappings_dir` whose snapshot lies in `mirror_root`; absent snapshots are skipped."""
    hashes = read_reserved(reserved) if reserved is not None else frozenset()
    if reserved is None:
        log.warning("no reserved list given: clips reserved for independent evaluation are NOT dropped")
    cache = absolute(cache_dir) if cache_dir is not None else DEFAULT_CACHE
    rows: list[ManifestRow] = []
    for page in _unique(read_mapping(p) for p in mapping_files(mappings_dir)):
        git_dir = find_snapshot(mirror_root, page.repo)
        if git_dir is None:
            log.warning("%s: no snapshot of %s under %s; skipped", page.path.name, page.repo, absolute(mirror_root))
            continue
        with open_snapshot(git_dir, page) as snap:
            rows += _load(page, snap, cache, hashes)[0]
    log.info("demo pages: %d bona fide, %d spoof rows", sum(r.label == "bonafide" for r in rows),
             sum(r.label == "spoof" for r in rows))
    return rows


def _unique(pages: Iterable[DemoPageMapping]) -> Iterator[DemoPageMapping]:
    """Each mapping, refusing a second one for a repository already mapped (which would duplicate its clips)."""
    seen: dict[str, Path] = {}
    for page in pages:
        key = page.repo.lower()
        if key in seen:
            raise ValueError(f"{page.path}: {page.repo} is already mapped by {seen[key]}")
        seen[key] = page.path
        yield page


def check_all_demo_pages(mirror_root: Path | str, mappings_dir: Path | str) -> list[PageSummary]:
    """A plan summary per mapping file, without extracting; a mapping that fails says why in `problem`."""
    out = []
    seen: dict[str, Path] = {}
    for path in mapping_files(mappings_dir):
        try:
            page = read_mapping(path)
        except (ValueError, FileNotFoundError) as exc:
            out.append(PageSummary(mapping=str(path), repo="?", problem=str(exc)))
            continue
        first = seen.setdefault(page.repo.lower(), path)
        if first != path:
            out.append(PageSummary(mapping=str(path), repo=page.repo, problem=f"already mapped by {first}"))
            continue
        git_dir = find_snapshot(mirror_root, page.repo)
        if git_dir is None:
            out.append(PageSummary(mapping=str(path), repo=page.repo, problem="no snapshot"))
            continue
        try:
            with open_snapshot(git_dir, page) as snap:
                out.append(PageSummary.of(page, _plan(page, snap)))
        except (ValueError, LookupError, RuntimeError) as exc:
            out.append(PageSummary(mapping=str(path), repo=page.repo, problem=str(exc)))
    return out
