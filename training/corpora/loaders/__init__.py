"""One loader per public corpus, each turning a corpus as its authors publish it into `ManifestRow`s.

Like lhotse's recipes, a loader knows one corpus's layout and nothing else: it never downloads, never
converts audio, and fails loudly (naming the file it expected) when the layout is not the published one.
Every loader returns absolute paths, so a manifest can be written anywhere. `datasets/<corpus>.md` says where
to get each corpus and how it must be laid out.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from training.corpora.loaders.asvspoof5 import load_asvspoof5
from training.corpora.loaders.asvspoof2019 import load_asvspoof2019_la
from training.corpora.loaders.asvspoof2021 import load_asvspoof2021
from training.corpora.loaders.csv_manifest import load_csv
from training.corpora.loaders.demo_pages import load_all_demo_pages, load_demo_pages
from training.corpora.loaders.in_the_wild import load_in_the_wild
from training.corpora.loaders.mlaad import load_mailabs, load_mlaad
from training.corpora.loaders.wavefake import load_wavefake
from training.corpora.manifest import ManifestRow

LOADERS: dict[str, Callable[..., list[ManifestRow]]] = {
    "asvspoof2019_la": load_asvspoof2019_la,
    "asvspoof2021": load_asvspoof2021,
    "asvspoof5": load_asvspoof5,
    "in_the_wild": load_in_the_wild,
    "wavefake": load_wavefake,
    "mlaad": load_mlaad,
    "csv": load_csv,
    "demo_pages": load_demo_pages,
}


def load_corpus(name: str, root: Path, **options: object) -> list[ManifestRow]:
    """Rows of corpus `name` under `root` (for "csv", root is the CSV file; for "demo_pages", a repository's
    snapshot, with option mapping=): the one entry point a CLI needs."""
    try:
        loader = LOADERS[name]
    except KeyError:
        raise ValueError(f"unknown corpus {name!r}; known: {', '.join(sorted(LOADERS))}") from None
    return loader(Path(root), **options)


__all__ = [
    "LOADERS",
    "load_asvspoof2019_la",
    "load_asvspoof2021",
    "load_asvspoof5",
    "load_corpus",
    "load_all_demo_pages",
    "load_csv",
    "load_demo_pages",
    "load_in_the_wild",
    "load_mailabs",
    "load_mlaad",
    "load_wavefake",
]
