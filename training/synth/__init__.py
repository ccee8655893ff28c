"""Spoofed speech made on this machine: offline synthesisers reading project prompts, and vocoder resynthesis.

The offline corpus builder draws prompts from `sentences`, speaks them with every engine `discover_engines()`
finds (each engine's `name` is the manifest's `system`), and passes real clips through the vocoders in
`RESYNTHESIZERS`. Nothing here downloads anything: engines come from Debian packages or installed PyPI packages.
"""

from training.synth.engines import (
    ENGINES,
    Engine,
    EspeakNG,
    Festival,
    Flite,
    Mbrola,
    Pico,
    Piper,
    SynthesisError,
    discover_engines,
)
from training.synth.resynth import RESYNTHESIZERS, available_resynthesizers, griffin_lim, mlsa, world
from training.synth.sentences import FRAUD_SENTENCES, SENTENCES, sentences

__all__ = [
    "ENGINES",
    "FRAUD_SENTENCES",
    "RESYNTHESIZERS",
    "SENTENCES",
    "Engine",
    "EspeakNG",
    "Festival",
    "Flite",
    "Mbrola",
    "Pico",
    "Piper",
    "SynthesisError",
    "available_resynthesizers",
    "discover_engines",
    "griffin_lim",
    "mlsa",
    "sentences",
    "world",
]
