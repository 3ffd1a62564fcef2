"""Models: the card, the bundle on disk, the registry of served models, the ONNX Runtime
session and the canonical rows every instance becomes."""
