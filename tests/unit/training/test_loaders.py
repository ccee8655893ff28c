"""Corpus loaders read each corpus in its exact published layout; fixtures are tiny copies written per test."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from training.corpora.loaders import (
    LOADERS,
    load_asvspoof5,
    load_asvspoof2019_la,
    load_asvspoof2021,
    load_corpus,
    load_csv,
    load_in_the_wild,
    load_mlaad,
    load_wavefake,
)
from training.corpora.manifest import ManifestRow, read_manifest, write_manifest

SR = 16000


def audio(path: Path) -> Path:
    """0.1 s of noise in the format the suffix names (.flac or .wav)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    noise = np.random.default_rng(len(path.name)).normal(0, 0.1, SR // 10).astype(np.float32)
    sf.write(path, noise, SR)
    return path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def assert_paths_ok(rows: list[ManifestRow]) -> None:
    assert rows
    for row in rows:
        assert Path(row.path).is_absolute(), row.path
        assert Path(row.path).is_file(), row.path


def by_name(rows: list[ManifestRow]) -> dict[str, ManifestRow]:
    return {Path(r.path).stem: r for r in rows}


# ---------------------------------------------------------------- ASVspoof 2019 LA

ASV19 = {
    "train": ("train.trn", "T", ["LA_0079 LA_T_1138215 - - bonafide", "LA_0079 LA_T_1271820 - A01 spoof"]),
    "dev": ("dev.trl", "D", ["LA_0069 LA_D_1047731 - - bonafide", "LA_0070 LA_D_1105538 - A02 spoof"]),
    "eval": ("eval.trl", "E", ["LA_0039 LA_E_2834763 - A11 spoof", "LA_0040 LA_E_1000147 - - bonafide"]),
}


@pytest.fixture
def asv19(tmp_path: Path) -> Path:
    root = tmp_path / "LA"
    for part, (suffix, _, lines) in ASV19.items():
        write(root / "ASVspoof2019_LA_cm_protocols" / f"ASVspoof2019.LA.cm.{suffix}.txt", "\n".join(lines) + "\n")
        for line in lines:
            audio(root / f"ASVspoof2019_LA_{part}" / "flac" / f"{line.split()[1]}.flac")
    return root


def test_asvspoof2019_reads_all_parts(asv19: Path) -> None:
    rows = load_asvspoof2019_la(asv19)
    assert_paths_ok(rows)
    assert len(rows) == 6
    got = by_name(rows)
    assert got["LA_T_1138215"] == ManifestRow(
        path=str(asv19 / "ASVspoof2019_LA_train" / "flac" / "LA_T_1138215.flac"),
        label="bonafide",
        system="bonafide",
        speaker="LA_0079",
        language="en",
        split="train",
        source="asvspoof2019_la",
        condition="clean",
    )
    assert (got["LA_E_2834763"].label, got["LA_E_2834763"].system) == ("spoof", "A11")
    assert got["LA_E_2834763"].split == "eval" and got["LA_E_2834763"].speaker == "LA_0039"
    assert {r.split for r in rows} == {"train", "dev", "eval"}


def test_asvspoof2019_parts_and_parent_root(asv19: Path) -> None:
    rows = load_asvspoof2019_la(asv19.parent, parts=("dev",))
    assert {r.split for r in rows} == {"dev"} and len(rows) == 2


def test_asvspoof2019_missing_protocol_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"ASVspoof2019\.LA\.cm\.train\.trn\.txt"):
        load_asvspoof2019_la(tmp_path)


def test_asvspoof2019_missing_audio_is_an_error_unless_skipped(asv19: Path, caplog: pytest.LogCaptureFixture) -> None:
    (asv19 / "ASVspoof2019_LA_eval" / "flac" / "LA_E_2834763.flac").unlink()
    with pytest.raises(FileNotFoundError, match="LA_E_2834763.flac"):
        load_asvspoof2019_la(asv19)
    with caplog.at_level(logging.WARNING):
        rows = load_asvspoof2019_la(asv19, missing="skip")
    assert len(rows) == 5
    assert "skipped 1 row" in caplog.text


def test_asvspoof2019_malformed_line(asv19: Path) -> None:
    write(asv19 / "ASVspoof2019_LA_cm_protocols" / "ASVspoof2019.LA.cm.dev.trl.txt", "LA_0069 LA_D_1 - - maybe\n")
    with pytest.raises(ValueError, match=r"dev\.trl\.txt:1"):
        load_asvspoof2019_la(asv19, parts=("dev",))


# ---------------------------------------------------------------- ASVspoof 2021

LA21 = [
    "LA_0009 LA_E_9332881 alaw ita_tx A07 spoof notrim eval",
    "LA_0009 LA_E_1000001 alaw ita_tx bonafide bonafide notrim eval",
    "LA_0011 LA_E_1000004 nocodec nocodec A12 spoof notrim progress",
    "LA_0011 LA_E_1000005 none - - bonafide notrim hidden_track",
]
DF21 = [
    "LA_0043 DF_E_2000026 mp3m4a asvspoof A09 spoof notrim eval traditional_vocoder - - - -",
    "LA_0023 DF_E_2000011 nocodec asvspoof A14 spoof notrim progress traditional_vocoder - - - -",
    "TEF2 DF_E_2000013 low_m4a vcc2020 Task1-team20 spoof notrim eval neural_vocoder_nonautoregressive"
    " Task1 team20 FF E",
    "VCC2TM2 DF_E_2000003 nocodec vcc2018 - bonafide notrim eval bonafide - - - -",
]


def asv21(root: Path, track: str, lines: list[str]) -> Path:
    write(root / "keys" / track / "CM" / "trial_metadata.txt", "\n".join(lines) + "\n")
    for line in lines:
        audio(root / f"ASVspoof2021_{track}_eval" / "flac" / f"{line.split()[1]}.flac")
    return root


def test_asvspoof2021_la(tmp_path: Path) -> None:
    rows = load_asvspoof2021(asv21(tmp_path, "LA", LA21), track="LA")
    assert_paths_ok(rows)
    got = by_name(rows)
    assert got["LA_E_9332881"].condition == "codec:alaw+transmission:ita_tx"
    assert (got["LA_E_9332881"].system, got["LA_E_9332881"].source) == ("A07", "asvspoof2021_la:eval")
    assert (got["LA_E_1000001"].label, got["LA_E_1000001"].system) == ("bonafide", "bonafide")
    assert got["LA_E_1000004"].condition == "clean" and got["LA_E_1000004"].source == "asvspoof2021_la:progress"
    assert got["LA_E_1000005"].condition == "clean" and got["LA_E_1000005"].source == "asvspoof2021_la:hidden_track"
    assert {r.split for r in rows} == {"eval"}
    assert got["LA_E_9332881"].speaker == "LA_0009"


def test_asvspoof2021_df(tmp_path: Path) -> None:
    rows = load_asvspoof2021(asv21(tmp_path, "DF", DF21), track="DF")
    assert_paths_ok(rows)
    got = by_name(rows)
    assert got["DF_E_2000026"].condition == "codec:mp3m4a" and got["DF_E_2000026"].system == "A09"
    assert got["DF_E_2000011"].condition == "clean" and got["DF_E_2000011"].source == "asvspoof2021_df:progress"
    assert got["DF_E_2000013"].system == "Task1-team20" and got["DF_E_2000013"].language == ""
    assert got["DF_E_2000013"].condition == "codec:low_m4a" and got["DF_E_2000013"].speaker == "TEF2"
    assert (got["DF_E_2000003"].label, got["DF_E_2000003"].system) == ("bonafide", "bonafide")


def test_asvspoof2021_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"keys/DF/CM/trial_metadata\.txt"):
        load_asvspoof2021(tmp_path, track="DF")
    with pytest.raises(ValueError, match="track"):
        load_asvspoof2021(tmp_path, track="PA")
    root = asv21(tmp_path, "LA", LA21)
    (root / "ASVspoof2021_LA_eval" / "flac" / "LA_E_1000004.flac").unlink()
    with pytest.raises(FileNotFoundError, match="LA_E_1000004"):
        load_asvspoof2021(root)
    assert len(load_asvspoof2021(root, missing="skip")) == 3


# ---------------------------------------------------------------- ASVspoof 5

ASV5_TRAIN = [
    "T_4850 T_0000000000 F - - - AC3 A05 spoof -",
    "T_3734 T_0000000011 F - - - - bonafide bonafide -",
]
ASV5_EVAL = [
    "E_0001 E_0000000001 M C05 3 1234 AC1 A20 spoof -",
    "E_0002 E_0000000002 F - 0 - - bonafide bonafide -",
]


@pytest.fixture
def asv5(tmp_path: Path) -> Path:
    root = tmp_path / "asvspoof5"
    write(root / "ASVspoof5_protocols" / "ASVspoof5.train.tsv", "\n".join(ASV5_TRAIN) + "\n")
    write(root / "ASVspoof5_protocols" / "ASVspoof5.eval.track_1.tsv", "\n".join(ASV5_EVAL) + "\n")
    for line in ASV5_TRAIN:
        audio(root / "flac_T" / f"{line.split()[1]}.flac")
    for line in ASV5_EVAL:
        audio(root / "flac_E_eval" / f"{line.split()[1]}.flac")
    return root


def test_asvspoof5_train(asv5: Path) -> None:
    rows = load_asvspoof5(asv5, protocol=asv5 / "ASVspoof5_protocols" / "ASVspoof5.train.tsv")
    assert_paths_ok(rows)
    got = by_name(rows)
    assert got["T_0000000000"] == ManifestRow(
        path=str(asv5 / "flac_T" / "T_0000000000.flac"),
        label="spoof",
        system="A05",
        speaker="T_4850",
        language="en",
        split="train",
        source="asvspoof5",
        condition="clean",
    )
    assert (got["T_0000000011"].label, got["T_0000000011"].system) == ("bonafide", "bonafide")


def test_asvspoof5_eval_codecs_and_relative_protocol(asv5: Path) -> None:
    rows = load_asvspoof5(asv5, protocol=Path("ASVspoof5_protocols/ASVspoof5.eval.track_1.tsv"))
    got = by_name(rows)
    assert got["E_0000000001"].condition == "codec:C05:q3" and got["E_0000000001"].split == "eval"
    assert got["E_0000000002"].condition == "clean"


def test_asvspoof5_errors(asv5: Path) -> None:
    protocol = asv5 / "ASVspoof5_protocols" / "ASVspoof5.train.tsv"
    with pytest.raises(FileNotFoundError, match=r"ASVspoof5\.dev\.track_1\.tsv"):
        load_asvspoof5(asv5, protocol=asv5 / "ASVspoof5.dev.track_1.tsv")
    (asv5 / "flac_T" / "T_0000000000.flac").unlink()
    with pytest.raises(FileNotFoundError, match=r"\*\*/T_0000000000\.flac"):
        load_asvspoof5(asv5, protocol=protocol)
    assert len(load_asvspoof5(asv5, protocol=protocol, missing="skip")) == 1
    audio(asv5 / "flac_T" / "T_0000000000.flac")
    audio(asv5 / "copy" / "T_0000000000.flac")
    with pytest.raises(ValueError, match="found twice"):
        load_asvspoof5(asv5, protocol=protocol)
    (asv5 / "copy" / "T_0000000000.flac").unlink()
    write(protocol, "T_4850 T_0000000000 F - - - AC3 A05 spoof\n")
    with pytest.raises(ValueError, match="expected 10 fields"):
        load_asvspoof5(asv5, protocol=protocol)


# ---------------------------------------------------------------- In-the-Wild


@pytest.fixture
def itw(tmp_path: Path) -> Path:
    root = tmp_path / "release_in_the_wild"
    write(root / "meta.csv", "file,speaker,label\n0.wav,Alec Guinness,spoof\n4.wav,Christopher Hitchens,bona-fide\n")
    audio(root / "0.wav")
    audio(root / "4.wav")
    return root


def test_in_the_wild(itw: Path) -> None:
    rows = load_in_the_wild(itw)
    assert_paths_ok(rows)
    got = by_name(rows)
    assert (got["0"].label, got["0"].system, got["0"].speaker) == ("spoof", "in_the_wild_spoof", "Alec Guinness")
    assert (got["4"].label, got["4"].system, got["4"].speaker) == ("bonafide", "bonafide", "Christopher Hitchens")
    assert {r.split for r in rows} == {""} and {r.source for r in rows} == {"in_the_wild"}
    assert load_in_the_wild(itw.parent) == rows  # the folder the archive unpacks into also works


def test_in_the_wild_errors(itw: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="meta.csv"):
        load_in_the_wild(tmp_path / "nowhere")
    write(itw / "meta.csv", "file,speaker,label\n0.wav,Alec Guinness,deepfake\n")
    with pytest.raises(ValueError, match="meta.csv:2"):
        load_in_the_wild(itw)
    write(itw / "meta.csv", "file,speaker,label\n9.wav,Alec Guinness,spoof\n")
    with pytest.raises(FileNotFoundError, match="9.wav"):
        load_in_the_wild(itw)


# ---------------------------------------------------------------- WaveFake

WAVEFAKE_FOLDERS = {
    "ljspeech_melgan": ("melgan", "ljspeech", "en"),
    "ljspeech_full_band_melgan": ("full_band_melgan", "ljspeech", "en"),
    "ljspeech_hifiGAN": ("hifiGAN", "ljspeech", "en"),
    "jsut_multi_band_melgan": ("multi_band_melgan", "jsut", "ja"),
    "common_voices_prompts_from_conformer_fastspeech2_pwg_ljspeech": (
        "conformer_fastspeech2_pwg_ljspeech",
        "ljspeech",
        "en",
    ),
}


@pytest.fixture
def wavefake(tmp_path: Path) -> Path:
    root = tmp_path / "wavefake"
    for folder in WAVEFAKE_FOLDERS:
        audio(root / "generated_audio" / folder / f"{folder}_LJ001-0001_gen.wav")
    audio(root / "real_audio" / "LJSpeech-1.1" / "wavs" / "LJ001-0001.wav")
    return root


def test_wavefake(wavefake: Path) -> None:
    rows = load_wavefake(wavefake)
    assert_paths_ok(rows)
    spoofs = {Path(r.path).parent.name: r for r in rows if r.label == "spoof"}
    assert {k: (r.system, r.speaker, r.language) for k, r in spoofs.items()} == WAVEFAKE_FOLDERS
    assert spoofs["ljspeech_melgan"].source == "wavefake:ljspeech_melgan"
    (bona,) = [r for r in rows if r.label == "bonafide"]
    assert (bona.system, bona.speaker, bona.language) == ("bonafide", "ljspeech", "en")


def test_wavefake_separate_ljspeech_and_warning(
    wavefake: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lj = tmp_path / "LJSpeech-1.1"
    audio(lj / "wavs" / "LJ002-0002.wav")
    rows = load_wavefake(wavefake, ljspeech_root=lj)
    assert [Path(r.path).name for r in rows if r.label == "bonafide"] == ["LJ002-0002.wav"]
    with pytest.raises(FileNotFoundError, match="wavs"):
        load_wavefake(wavefake, ljspeech_root=tmp_path / "missing")
    (wavefake / "real_audio" / "LJSpeech-1.1" / "wavs" / "LJ001-0001.wav").unlink()
    (wavefake / "real_audio" / "LJSpeech-1.1" / "wavs").rmdir()
    with caplog.at_level(logging.WARNING):
        rows = load_wavefake(wavefake)
    assert {r.label for r in rows} == {"spoof"} and "no LJSpeech" in caplog.text


def test_wavefake_errors(wavefake: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="generated_audio"):
        load_wavefake(tmp_path / "empty")
    audio(wavefake / "generated_audio" / "vctk_melgan" / "x.wav")
    with pytest.raises(ValueError, match="vctk_melgan"):
        load_wavefake(wavefake)


# ---------------------------------------------------------------- MLAAD + M-AILABS

MLAAD_HEADER = (
    "path|original_file|language|is_original_language|duration|training_data|model_name|architecture|transcript"
)


@pytest.fixture
def mlaad(tmp_path: Path) -> Path:
    root = tmp_path / "MLAAD"
    vits = root / "fake" / "en" / "tts_models_en_ljspeech_vits"
    write(
        vits / "meta.csv",
        MLAAD_HEADER + "\n"
        "./fake/en/tts_models_en_ljspeech_vits/vits_0.wav|en_US/by_book/female/judy_bieber/dorothy_and_wizard_oz/"
        "wavs/dorothy_and_wizard_oz_01_f000001.wav|en|True|3.2|ljspeech|tts_models/en/ljspeech/vits|vits|Hello.\n",
    )
    audio(vits / "vits_0.wav")
    # A release whose path column names the wrong language folder: the file is found in the meta's own folder.
    xtts = root / "fake" / "zh-cn" / "xtts_v2"
    write(xtts / "meta.csv", MLAAD_HEADER + "\n./fake/zh/xtts_v2/x_0.wav|x|zh-cn|True|2.0|?|xtts_v2|xtts|Ni hao.\n")
    audio(xtts / "x_0.wav")
    audio(root / "fake" / "de" / "bark" / "bark_0.wav")  # no meta.csv: system and language from folders
    return root


@pytest.fixture
def mailabs(tmp_path: Path) -> Path:
    root = tmp_path / "m-ailabs"
    audio(root / "en_US" / "by_book" / "female" / "judy_bieber" / "dorothy" / "wavs" / "dorothy_01_f000001.wav")
    audio(root / "de_DE" / "by_book" / "mix" / "some_book" / "wavs" / "some_book_01_f000001.wav")
    return root


def test_mlaad(mlaad: Path, mailabs: Path) -> None:
    rows = load_mlaad(mlaad, mailabs_root=mailabs)
    assert_paths_ok(rows)
    got = by_name(rows)
    assert (got["vits_0"].label, got["vits_0"].system, got["vits_0"].language) == (
        "spoof",
        "tts_models/en/ljspeech/vits",
        "en",
    )
    assert (got["x_0"].system, got["x_0"].language) == ("xtts_v2", "zh-cn")
    assert (got["bark_0"].system, got["bark_0"].language) == ("bark", "de")
    judy = got["dorothy_01_f000001"]
    assert (judy.label, judy.system, judy.speaker, judy.language) == ("bonafide", "bonafide", "judy_bieber", "en")
    mix = got["some_book_01_f000001"]
    assert (mix.speaker, mix.language, mix.source) == ("", "de", "mlaad:m_ailabs")
    assert {r.source for r in rows if r.label == "spoof"} == {"mlaad"}
    assert len(load_mlaad(mlaad)) == 3  # spoof-only without M-AILABS


def test_mlaad_errors(mlaad: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="fake"):
        load_mlaad(tmp_path / "nothing")
    with pytest.raises(FileNotFoundError, match="by_book"):
        load_mlaad(mlaad, mailabs_root=tmp_path)
    (mlaad / "fake" / "en" / "tts_models_en_ljspeech_vits" / "vits_0.wav").unlink()
    with pytest.raises(FileNotFoundError, match="vits_0.wav"):
        load_mlaad(mlaad)
    assert len(load_mlaad(mlaad, missing="skip")) == 2


# ---------------------------------------------------------------- generic CSV

SHARED_HEADER = "path,label,system,speaker,language,source_repo,license,orig_path,orig_sr,orig_codec,duration_s,note"


@pytest.fixture
def shared_csv(tmp_path: Path) -> Path:
    root = tmp_path / "speech"
    audio(root / "dutch_vl" / "samples" / "vl00203.wav")
    audio(root / "demos" / "melgan_demo" / "a.flac")
    return write(
        root / "manifest.csv",
        SHARED_HEADER + "\n"
        "dutch_vl/samples/vl00203.wav,bonafide,human_recording,rdh_flemish_male,nl-BE,r-dh/dutch-vl-tts,CC0-1.0,"
        'samples/vl00203.wav,22050,pcm_s16le,2.315,"TTS corpus recording, sentences from Common Voice nl"\n'
        "demos/melgan_demo/a.flac,spoof,melgan,LJ,en,melgan-neurips/demo@7d85457,MIT,a.wav,22050,pcm_s16le,1.0,\n",
    )


def test_csv_shared_manifest_format(shared_csv: Path) -> None:
    rows = load_csv(shared_csv)
    assert_paths_ok(rows)
    got = by_name(rows)
    assert got["vl00203"] == ManifestRow(
        path=str(shared_csv.parent / "dutch_vl" / "samples" / "vl00203.wav"),
        label="bonafide",
        system="human_recording",
        speaker="rdh_flemish_male",
        language="nl-BE",
        split="",
        source="r-dh/dutch-vl-tts",
        condition="clean",
    )
    assert (got["a"].label, got["a"].system, got["a"].source) == ("spoof", "melgan", "melgan-neurips/demo@7d85457")


def test_csv_other_delimiter_columns_and_labels(tmp_path: Path) -> None:
    clip = audio(tmp_path / "clips" / "one.wav")
    other = audio(tmp_path / "clips" / "two.wav")
    csv_path = write(
        tmp_path / "list.csv",
        f"file;class;generator;part\n{clip};Bona-Fide;;test\nclips/two.wav;synthetic;vits;train\n",
    )
    rows = load_csv(
        csv_path,
        columns={"path": "file", "label": "class", "system": "generator", "split": "part"},
        label_map={"Synthetic": "spoof"},
    )
    assert [(r.path, r.label, r.system, r.split) for r in rows] == [
        (str(clip), "bonafide", "bonafide", "eval"),
        (str(other), "spoof", "vits", "train"),
    ]


def test_csv_errors(shared_csv: Path, tmp_path: Path) -> None:
    text = shared_csv.read_text(encoding="utf-8")
    write(shared_csv, text.replace("\ndemos/melgan_demo/a.flac,spoof", "\ndemos/melgan_demo/a.flac,cloned"))
    with pytest.raises(ValueError, match=r"manifest\.csv:3: unknown label 'cloned' for demos/melgan_demo/a\.flac"):
        load_csv(shared_csv)
    write(shared_csv, text.replace("demos/melgan_demo/a.flac", "demos/melgan_demo/gone.flac"))
    with pytest.raises(FileNotFoundError, match="gone.flac"):
        load_csv(shared_csv)
    assert len(load_csv(shared_csv, missing="skip")) == 1
    with pytest.raises(ValueError, match="not in header"):
        load_csv(shared_csv, columns={"path": "file"})
    with pytest.raises(FileNotFoundError, match="missing.csv"):
        load_csv(tmp_path / "missing.csv")


# ---------------------------------------------------------------- registry and round trip


def test_registry_and_dispatch(asv19: Path, itw: Path) -> None:
    assert set(LOADERS) == {"asvspoof2019_la", "asvspoof2021", "asvspoof5", "in_the_wild", "wavefake", "mlaad", "csv",
                            "demo_pages"}
    assert load_corpus("asvspoof2019_la", asv19, parts=("eval",)) == load_asvspoof2019_la(asv19, parts=("eval",))
    assert load_corpus("in_the_wild", itw) == load_in_the_wild(itw)
    with pytest.raises(ValueError, match="unknown corpus 'asvspoof2017'.*asvspoof2019_la"):
        load_corpus("asvspoof2017", asv19)


def test_manifest_round_trip(asv19: Path, mlaad: Path, mailabs: Path, shared_csv: Path, tmp_path: Path) -> None:
    rows = load_asvspoof2019_la(asv19) + load_mlaad(mlaad, mailabs_root=mailabs) + load_csv(shared_csv)
    rows += load_asvspoof2021(asv21(tmp_path / "asv21", "LA", LA21))
    out = tmp_path / "out" / "manifest.csv"
    assert write_manifest(rows, out) == len(rows)
    assert read_manifest(out) == rows
