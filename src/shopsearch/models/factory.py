"""Embedder by name: one module per backend, imported only when chosen."""

from __future__ import annotations

import importlib

from ..config import ModelConfig
from .base import Embedder

EMBEDDERS = {
    "use-onnx": ("shopsearch.models.use_onnx", "UseOnnxEmbedder"),
    "e5-nano": ("shopsearch.models.e5_nano", "E5NanoEmbedder"),
}


def create_embedder(config: ModelConfig) -> Embedder:
    try:
        module_name, class_name = EMBEDDERS[config.embedder]
    except KeyError:
        raise ValueError(f"unknown embedder {config.embedder!r}; choose from {sorted(EMBEDDERS)}") from None
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(threads=config.threads, batch_size=config.batch_size)
