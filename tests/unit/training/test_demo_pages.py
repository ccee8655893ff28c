"""Demo-page mappings label a repository's audio by path; snapshots are tiny git repositories written per module."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from training.corpora.builder import BuildConfig, Job, _split_jobs, assign_splits
from training.corpora.loaders import LOADERS, load_corpus, load_csv
from training.corpora.loaders.demo_pages import (
    PageSummary,
    check_all_demo_pages,
    find_snapshot,
    load_all_demo_pages,
    load_demo_pages,
    plan_demo_page,
    read_mapping,
)
from training.corpora.manifest import ManifestRow, family_of, read_manifest, write_manifest

REPO = "someone/demo-page"
LFS = b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"0" * 64 + b"\nsize 123456\n"
FILES = {
    "audio/gt/alice_1.wav": "wav",
    "audio/gt/bob_2.wav": "wav",
    "audio/valle/alice.wav": "wav",
    "audio/valle/carol.WAV": "wav",
    "audio/valle/big.wav": LFS,
    "audio/yourtts/bob.wav": "wav",
    "audio/nl/fastpitch/daan.flac": "flac",
    "audio/prompt/alice.wav": "wav",
    "misc/noise.wav": "wav",
    "index.html": b"<html>demo</html>",
}
MAPPING = r"""
repo: someone/demo-page
ref: '{ref}'
page: index.html
licence: "MIT (LICENSE file)"
language: en
notes: >
  Ground truth in audio/gt, one folder per system; prompts are reference clips.
maps:
  family:
    valle: encodec
    yourtts: vits
rules:
  - match: 'audio/prompt/.*'
    label: skip
  - match: 'audio/gt/(?P<speaker>[^/]+)_\d+\.wav'
    label: bonafide
    system: bonafide
    speaker: '{{speaker}}'
    family: bonafide
  - match: 'audio/(?P<system>valle|yourtts)/(?P<speaker>[^/]+)\.(?:wav|WAV)'
    label: spoof
    system: '{{system}}'
    speaker: '{{speaker}}'
    family: '{{maps[family][system]}}'
  - match: 'audio/nl/(?P<system>[^/]+)/(?P<speaker>[^/]+)\.flac'
    label: spoof
    system: '{{system}}'
    speaker: '{{speaker}}'
    language: nl
"""


def clip_bytes(kind: str, seed: int) -> bytes:
    buffer = io.BytesIO()
    noise = np.random.default_rng(seed).normal(0, 0.1, 800).astype(np.float32)  # 50 ms, distinct per file
    sf.write(buffer, noise, 16000, format=kind.upper(), subtype="PCM_16")
    return buffer.getvalue()


def git(*args: str) -> str:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    done = subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
                          capture_output=True, text=True, check=True, env=env)
    return done.stdout.strip()


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """(bare git dir, checked-out folder, commit) of a demo page repository."""
    base = tmp_path_factory.mktemp("demo")
    work, bare = base / "work", base / "bare.git"
    for seed, (name, kind) in enumerate(FILES.items()):
        path = work / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(kind if isinstance(kind, bytes) else clip_bytes(kind, seed))
    git("init", "-q", "--bare", str(bare))
    git(f"--git-dir={bare}", f"--work-tree={work}", "add", "-A")
    git(f"--git-dir={bare}", f"--work-tree={work}", "commit", "-q", "-m", "demo")
    return bare, work, git(f"--git-dir={bare}", "rev-parse", "HEAD")


def mapping_file(folder: Path, ref: str, text: str = MAPPING, name: str = "someone__demo-page.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text.format(ref=ref), encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------------- plan


def test_plan_labels_every_audio_file_by_the_first_matching_rule(snapshot: tuple[Path, Path, str],
                                                                 tmp_path: Path) -> None:
    bare, _, ref = snapshot
    plan = {c.path: c for c in plan_demo_page(mapping_file(tmp_path, ref), bare)}
    assert "index.html" not in plan and len(plan) == 9
    assert plan["audio/prompt/alice.wav"].label == "skip" and plan["audio/prompt/alice.wav"].rule == 1
    assert plan["misc/noise.wav"].label == "unmatched" and plan["misc/noise.wav"].rule is None
    gt = plan["audio/gt/alice_1.wav"]
    assert (gt.label, gt.system, gt.family, gt.speaker, gt.language) == ("bonafide", "bonafide", "bonafide",
                                                                          "alice", "en")
    carol = plan["audio/valle/carol.WAV"]  # suffixes are matched whatever their case
    assert (carol.label, carol.system, carol.family, carol.speaker) == ("spoof", "valle", "encodec", "carol")
    assert plan["audio/yourtts/bob.wav"].family == "vits"
    daan = plan["audio/nl/fastpitch/daan.flac"]
    assert (daan.system, daan.family, daan.language) == ("fastpitch", "fastpitch", "nl")  # family defaults to system
    assert plan["audio/valle/big.wav"].absent == "Git LFS pointer" and not plan["audio/valle/big.wav"].is_row


def test_plan_summary_counts(snapshot: tuple[Path, Path, str], tmp_path: Path) -> None:
    bare, _, ref = snapshot
    path = mapping_file(tmp_path, ref)
    summary = PageSummary.of(read_mapping(path), plan_demo_page(path, bare))
    assert (summary.bonafide, summary.spoof, summary.skipped, summary.unmatched, summary.absent) == (2, 4, 1, 1, 1)
    assert summary.systems == ("fastpitch", "valle", "yourtts")
    assert summary.families == ("encodec", "fastpitch", "vits")


def test_a_snapshot_without_the_mapped_commit_fails_naming_it(snapshot: tuple[Path, Path, str],
                                                              tmp_path: Path) -> None:
    bare, _, _ = snapshot
    with pytest.raises(LookupError, match="commit " + "ab" * 20):
        plan_demo_page(mapping_file(tmp_path, "ab" * 20), bare)


def test_a_blob_left_out_of_the_snapshot_is_absent_not_fatal(snapshot: tuple[Path, Path, str],
                                                              tmp_path: Path) -> None:
    bare, _, ref = snapshot
    partial = tmp_path / "partial.git"
    shutil.copytree(bare, partial)
    blob = git(f"--git-dir={partial}", "rev-parse", f"{ref}:audio/yourtts/bob.wav")
    (partial / "objects" / blob[:2] / blob[2:]).unlink()  # as fetch leaves out files of 4 MiB and more
    mapping = mapping_file(tmp_path, ref)
    plan = {c.path: c for c in plan_demo_page(mapping, partial)}
    assert plan["audio/yourtts/bob.wav"].absent == "missing from the snapshot"
    rows = load_demo_pages(partial, mapping=mapping, cache_dir=tmp_path / "cache")
    assert len(rows) == 5 and not any(r.system == "yourtts" for r in rows)


# ------------------------------------------------------------------------------------------------- load


def test_load_extracts_audio_into_the_cache_and_reuses_it(snapshot: tuple[Path, Path, str], tmp_path: Path,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    bare, work, ref = snapshot
    cache = tmp_path / "cache"
    with caplog.at_level(logging.INFO, logger="training.corpora.loaders"):
        rows = load_demo_pages(bare, mapping=str(mapping_file(tmp_path, ref)), cache_dir=str(cache))
    assert "someone/demo-page: 2 bona fide, 4 spoof, 1 skipped, 1 unmatched, 1 absent, 0 reserved" in caplog.text
    got = {Path(r.path).relative_to(cache / "someone__demo-page").as_posix(): r for r in rows}
    assert sorted(got) == ["audio/gt/alice_1.wav", "audio/gt/bob_2.wav", "audio/nl/fastpitch/daan.flac",
                           "audio/valle/alice.wav", "audio/valle/carol.WAV", "audio/yourtts/bob.wav"]
    for name, row in got.items():
        assert Path(row.path).is_absolute() and Path(row.path).read_bytes() == (work / name).read_bytes()
        assert (row.source, row.condition, row.split) == (REPO, "clean", "")
    assert got["audio/valle/alice.wav"] == ManifestRow(
        path=str(cache / "someone__demo-page" / "audio/valle/alice.wav"), label="spoof", system="valle",
        speaker="alice", language="en", source=REPO, family="encodec")
    assert got["audio/gt/bob_2.wav"].family == "" and family_of(got["audio/gt/bob_2.wav"]) == "bonafide"
    assert got["audio/nl/fastpitch/daan.flac"].family == "" and got["audio/nl/fastpitch/daan.flac"].language == "nl"

    kept = Path(got["audio/valle/alice.wav"].path)
    broken = Path(got["audio/gt/bob_2.wav"].path)
    stale = Path(got["audio/gt/alice_1.wav"].path)
    os.utime(kept, ns=(1, 1))
    broken.write_bytes(b"truncated")
    stale.write_bytes(bytes(stale.stat().st_size))  # the right size, other bytes (an older commit's clip)
    again = load_demo_pages(bare, mapping=mapping_file(tmp_path, ref), cache_dir=cache)
    assert again == rows
    assert kept.stat().st_mtime_ns == 1  # the right clip: reused
    for name, path in (("audio/gt/bob_2.wav", broken), ("audio/gt/alice_1.wav", stale)):
        assert path.read_bytes() == (work / name).read_bytes()  # extracted again


def test_reserved_clips_are_dropped_and_never_written(snapshot: tuple[Path, Path, str], tmp_path: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    bare, work, ref = snapshot
    reserved = tmp_path / "reserved_sha256.txt"
    digest = hashlib.sha256((work / "audio/yourtts/bob.wav").read_bytes()).hexdigest()
    reserved.write_text(f"# reserved for independent evaluation\n\n{digest.upper()}\n{'0' * 64}  other.wav\n")
    cache = tmp_path / "cache"
    with caplog.at_level(logging.INFO, logger="training.corpora.loaders"):
        rows = load_demo_pages(bare, mapping=mapping_file(tmp_path, ref), cache_dir=cache, reserved=str(reserved))
    assert len(rows) == 5 and not any(r.system == "yourtts" for r in rows)
    assert not (cache / "someone__demo-page" / "audio/yourtts/bob.wav").exists()
    assert "1 reserved dropped" in caplog.text and "dropped 1 clip(s) reserved" in caplog.text

    reserved.write_text("not-a-hash\n")
    with pytest.raises(ValueError, match="reserved_sha256.txt:1"):
        load_demo_pages(bare, mapping=mapping_file(tmp_path, ref), cache_dir=cache, reserved=reserved)


def test_a_checked_out_folder_is_read_in_place_without_checking_the_ref(snapshot: tuple[Path, Path, str],
                                                                        tmp_path: Path) -> None:
    _, work, _ = snapshot
    mapping = mapping_file(tmp_path, "cd" * 20)  # a commit nobody has: folders are not checked
    plan = plan_demo_page(mapping, work)
    assert sum(c.is_row for c in plan) == 6
    rows = load_demo_pages(work, mapping=mapping, cache_dir=tmp_path / "cache")
    assert {r.path for r in rows} == {str(work / c.path) for c in plan if c.is_row}
    assert not (tmp_path / "cache").exists()


def test_the_loader_is_registered(snapshot: tuple[Path, Path, str], tmp_path: Path) -> None:
    bare, _, ref = snapshot
    assert "demo_pages" in LOADERS
    rows = load_corpus("demo_pages", bare, mapping=str(mapping_file(tmp_path, ref)), cache_dir=str(tmp_path / "c"))
    assert len(rows) == 6


# ------------------------------------------------------------------------------------------ bad mappings


BAD = {
    "unknown top-level key": ("licence:", "licensee: x\nlicence:", "unknown key 'licensee'"),
    "unknown rule key": ("    label: skip", "    label: skip\n    familly: x", "rule 1: unknown key 'familly'"),
    "bad label": ("    label: skip", "    label: fake", "rule 1: label must be one of"),
    "short ref": ("ref: '{ref}'", "ref: 'abc123'", "ref must be a quoted 40-hex"),
    "spoof without system": ("    system: '{{system}}'\n    speaker: '{{speaker}}'\n    family",
                             "    speaker: '{{speaker}}'\n    family", "rule 3: a spoof rule needs a system"),
    "unknown group": ("    speaker: '{{speaker}}'\n    family: bonafide",
                      "    speaker: '{{who}}'\n    family: bonafide", "rule 2 speaker: {who} is not a named group"),
    "unknown table": ("{{maps[family][system]}}", "{{maps[families][system]}}", "with a table in maps"),
    "unknown map key": ("{{maps[family][system]}}", "{{maps[family][sys]}}", "neither a named group"),
    "bad regex": ("'audio/prompt/.*'", "'audio/(prompt'", "rule 1: match is not a valid regex"),
    "missing licence": ('licence: "MIT (LICENSE file)"\n', "", "missing key"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_mappings_are_refused_naming_file_and_key(case: str, tmp_path: Path) -> None:
    old, new, message = BAD[case]
    assert old in MAPPING
    path = mapping_file(tmp_path, "ab" * 20, MAPPING.replace(old, new))
    with pytest.raises(ValueError, match="someone__demo-page.yaml") as error:
        read_mapping(path)
    assert message in str(error.value)


def test_a_map_lacking_a_matched_value_fails_naming_the_path(snapshot: tuple[Path, Path, str],
                                                             tmp_path: Path) -> None:
    bare, _, ref = snapshot
    path = mapping_file(tmp_path, ref, MAPPING.replace("    yourtts: vits\n", ""))
    with pytest.raises(ValueError, match="rule 3 on audio/yourtts/bob.wav"):
        plan_demo_page(path, bare)


# ------------------------------------------------------------------------------------------- many pages


def test_load_all_reads_the_mirror_layout_and_skips_absent_snapshots(snapshot: tuple[Path, Path, str],
                                                                      tmp_path: Path,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    bare, _, ref = snapshot
    mirror = tmp_path / "mirror"
    shutil.copytree(bare, mirror / "someone+demo-page" / "repo")  # as fetch lays a bare snapshot out
    mappings = tmp_path / "demo_pages"
    mapping_file(mappings, ref)
    mapping_file(mappings, ref, MAPPING.replace("someone/demo-page", "other/page"), "other__page.yaml")
    assert find_snapshot(mirror, "Someone/Demo-Page") == mirror / "someone+demo-page" / "repo"
    assert find_snapshot(mirror, "other/page") is None
    with caplog.at_level(logging.WARNING, logger="training.corpora.loaders"):
        rows = load_all_demo_pages(mirror, mappings, cache_dir=tmp_path / "cache")
    assert len(rows) == 6 and "no snapshot of other/page" in caplog.text
    checks = {s.repo: s for s in check_all_demo_pages(mirror, mappings)}
    assert checks["other/page"].problem == "no snapshot" and checks[REPO].spoof == 4

    mapping_file(mappings, ref, name="copy.yaml")
    with pytest.raises(ValueError, match="already mapped"):
        load_all_demo_pages(mirror, mappings, cache_dir=tmp_path / "cache")


def test_cli_checks_and_builds(snapshot: tuple[Path, Path, str], tmp_path: Path) -> None:
    from training.cli import corpus

    bare, _, ref = snapshot
    mirror = tmp_path / "mirror"
    shutil.copytree(bare, mirror / "someone+demo-page" / "repo" / ".git")  # a clone's git dir, no work tree
    mappings = tmp_path / "demo_pages"
    mapping_file(mappings, ref)
    runner = CliRunner()
    checked = runner.invoke(corpus, ["demo-pages", "--mirror", str(mirror), "--mappings", str(mappings), "--check"])
    assert checked.exit_code == 0, checked.output
    assert f"| {REPO} | 2 | 4 | 1 | 1 | 1 | fastpitch, valle, yourtts | encodec, fastpitch, vits |" in checked.output
    out = tmp_path / "demo.csv"
    built = runner.invoke(corpus, ["demo-pages", "--mirror", str(mirror), "--mappings", str(mappings),
                                   "--cache", str(tmp_path / "cache"), "-o", str(out)])
    assert built.exit_code == 0, built.output
    assert {r.family for r in read_manifest(out)} == {"", "encodec", "vits"}


# ------------------------------------------------------------------------------------ manifest, builder


def test_family_column_round_trips_and_old_manifests_still_read(tmp_path: Path) -> None:
    rows = [ManifestRow(path="a.wav", label="spoof", system="valle-x", family="encodec"),
            ManifestRow(path="b.wav", label="spoof", system="vits")]
    write_manifest(rows, tmp_path / "m.csv")
    assert read_manifest(tmp_path / "m.csv") == rows
    assert [family_of(r) for r in rows] == ["encodec", "vits"]
    (tmp_path / "old.csv").write_text("path,label,system,speaker,language,split,source,condition\n"
                                      "a.wav,spoof,vits,,,,,clean\n")
    (old,) = read_manifest(tmp_path / "old.csv")
    assert old.family == "" and family_of(old) == "vits"
    sf.write(tmp_path / "a.wav", np.zeros(160, dtype=np.float32), 16000)
    assert load_csv(tmp_path / "m.csv", missing="skip")[0].family == "encodec"


def test_splits_hold_out_whole_families() -> None:
    rows = [ManifestRow(path=f"{family}-{system}-{i}", label="spoof", system=f"{family}-{system}", family=family)
            for family in ("encodec", "vits", "diffusion", "flow", "gan") for system in range(3) for i in range(2)]
    rows += [ManifestRow(path=f"solo{i}", label="spoof", system="solo") for i in range(4)]  # its own family
    out = assign_splits(rows, (0.6, 0.2, 0.2), seed=0)
    splits: dict[str, set[str]] = {}
    for row in out:
        splits.setdefault(family_of(row), set()).add(row.split)
    assert all(len(s) == 1 for s in splits.values()), splits
    assert set().union(*splits.values()) == {"train", "dev", "eval"}


def test_jobs_carry_the_family_into_their_split() -> None:
    jobs = [Job(index=i, kind="file", label="spoof", system=f"s{i}", speaker="", language="", source="x", split="",
                family="same" if i < 4 else "") for i in range(8)]
    split = _split_jobs(jobs, BuildConfig())
    assert [j.family for j in split] == [j.family for j in jobs]
    assert len({j.split for j in split if j.family == "same"}) == 1


@pytest.mark.parametrize(
    ("system", "family"),
    [("fastspeech2+hifigan", "hifigan"), ("hifigan(copy-synthesis)", "hifigan"),
     ("merlin(dnn-spss+world)", "world"), ("encodec_codec@1.5kbps", "encodec"),
     ("transformertts+wavenet_r9y9", "wavenet"), ("griffin_lim", "griffinlim"), ("espeak-ng-nl", "espeak-ng-nl")],
)
def test_a_system_without_a_family_gets_the_one_its_name_implies(system: str, family: str) -> None:
    from training.corpora.manifest import ManifestRow, family_of, system_family

    assert system_family(system) == family
    assert family_of(ManifestRow(path="x.wav", label="spoof", system=system)) == family
    assert family_of(ManifestRow(path="x.wav", label="spoof", system=system, family="mine")) == "mine"
