"""nepcheck's runtime: decoding, ONNX scoring and the HTTP API.

This package is the lower layer of the project: training and benchmarks import it so that a model learns on
exactly the inputs the service gives it. It must never import torch or transformers.
"""

__version__ = "0.1.0"
