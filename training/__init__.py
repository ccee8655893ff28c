"""Training side of nepcheck: corpora, networks, training loops, evaluation, calibration and ONNX export.

It imports `service` for audio decoding, preprocessing and the model-artifact format, so a model learns on
exactly what the service will feed it. Heavy dependencies (torch, torchaudio, transformers) come with the
`train` extra: `pip install -e .[train]`.
"""
