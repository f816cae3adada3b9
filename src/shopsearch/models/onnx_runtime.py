"""A sentence-transformers model run by ONNX Runtime instead of PyTorch (engine "onnx").

On CPU, ONNX Runtime runs small encoders two to three times faster than
eager PyTorch at the batch sizes a server sees (benchmarks/bench_serve.py),
because one fused graph replaces hundreds of Python-dispatched ops. The
model's whole forward (transformer, pooling, dense and normalise modules) is
exported once with PyTorch's exporter and cached on disk, keyed by the model's
files, so a restart loads the graph in well under a second.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from pathlib import Path
from typing import Sequence

import numpy as np

from .base import ModelUnavailable, padding_groups

log = logging.getLogger(__name__)

_EXPORT_LOCK = threading.Lock()


def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "shopsearch"


def export_problem(model) -> str | None:
    """Why this sentence-transformers model cannot run as one exported graph, or None when it can."""
    for module in model.modules():
        if getattr(module, "include_prompt", True) is False:
            return "its pooling leaves the prompt out, which needs the prompt's length at run time"
        if type(module).__name__ in ("Router", "Asym", "StaticEmbedding"):
            return f"it has a {type(module).__name__} module"
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError:
        return "exporting needs the onnx and onnxscript packages: pip install 'shopsearch[st]'"
    return None


def _fingerprint(model, source: str, input_names: Sequence[str]) -> str:
    import torch

    digest = hashlib.sha256()
    digest.update(f"{source}|{torch.__version__}|{','.join(input_names)}".encode())
    for name, tensor in model.state_dict().items():
        # A cheap but content-based key: every tensor's name, shape and a strided sample of its values.
        flat = tensor.detach().reshape(-1)
        digest.update(name.encode() + str(tuple(tensor.shape)).encode())
        digest.update(flat[:: max(1, flat.numel() // 64)].float().numpy().tobytes())
    return digest.hexdigest()[:24]


def _sentence_embedding_module(model):
    """A module taking the tokenizer's tensors and answering the sentence embedding."""
    import torch

    class SentenceEmbedding(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids=None):
            features = {"input_ids": input_ids, "attention_mask": attention_mask}
            if token_type_ids is not None:
                features["token_type_ids"] = token_type_ids
            return self.model(features)["sentence_embedding"]

    return SentenceEmbedding().eval()


class OnnxSentenceEncoder:
    """Runs a loaded SentenceTransformer's forward pass through ONNX Runtime."""

    def __init__(self, model, source: str, *, cache_dir: str | os.PathLike | None = None, threads: int = 0,
                 tokenizer_lock: threading.Lock | None = None) -> None:
        problem = export_problem(model)
        if problem:
            raise ModelUnavailable(f"cannot run {source} with ONNX Runtime: {problem}")
        import onnxruntime

        self.model = model
        sample = self._features(["an example product title", "a second, longer example of a product title"], "")
        self.input_names = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in sample]
        folder = Path(cache_dir) if cache_dir else default_cache_dir()
        self.path = folder / "onnx" / f"{_fingerprint(model, source, self.input_names)}.onnx"
        with _EXPORT_LOCK:
            if not self.path.exists():
                self._export(sample)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        options.inter_op_num_threads = 1
        # Spinning worker threads burn the cores the event loop and the tokenizer need between batches.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = onnxruntime.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        self._feeds = [i.name for i in self.session.get_inputs()]
        # Two calls may overlap (the server tokenises one batch while another runs): the session
        # is safe to share; a Hugging Face fast tokenizer is not (each call resets its padding and
        # truncation state), so every use of it holds this lock, shared with the model's owner.
        self.tokenizer_lock = tokenizer_lock or threading.Lock()

    def _export(self, sample) -> None:
        import torch

        log.info("exporting the model to ONNX once: %s", self.path)
        batch, sequence = torch.export.Dim("batch"), torch.export.Dim("sequence")
        tensors = tuple(sample[name] for name in self.input_names)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(f".{os.getpid()}.partial")
        with torch.inference_mode(False), torch.no_grad():
            torch.onnx.export(_sentence_embedding_module(self.model), tensors, str(partial),
                              input_names=self.input_names, output_names=["sentence_embedding"],
                              dynamic_shapes={name: {0: batch, 1: sequence} for name in self.input_names},
                              dynamo=True, external_data=False, verbose=False)
        os.replace(partial, self.path)  # whole or absent: a crash mid-export leaves no half file behind

    def _features(self, texts: list[str], prompt: str) -> dict:
        # sentence-transformers' own preprocessing: since v5 a prompt may become a chat system turn
        # rather than a prefix, so the prompted text is built by the library, never here.
        if hasattr(self.model, "preprocess"):
            return self.model.preprocess(texts, prompt=prompt or None)
        return self.model.tokenize([prompt + t for t in texts])

    def encode(self, texts: Sequence[str], prompt: str, batch_size: int) -> np.ndarray:
        """Sentence embeddings. Texts of similar token counts run together: on a CPU a bigger batch
        barely raises throughput, while padding a 20-token text to its batch's 100 costs 5x."""
        out = np.empty((len(texts), 0), dtype=np.float32)
        for start in range(0, len(texts), 1024):  # bounds the padded token arrays a huge call would build
            part = list(texts[start:start + 1024])
            with self.tokenizer_lock:
                features = self._features(part, prompt)
            arrays = {name: features[name].numpy().astype(np.int64, copy=False) for name in self._feeds}
            mask = arrays["attention_mask"]
            lengths = mask.sum(axis=1)
            left_padded = bool(mask.shape[1]) and bool((mask[:, 0] == 0).any())
            for rows in padding_groups(lengths, batch_size):
                width = max(1, int(lengths[rows].max()))
                columns = slice(mask.shape[1] - width, None) if left_padded else slice(0, width)
                vectors = self.session.run(None, {k: v[rows, columns] for k, v in arrays.items()})[0]
                if out.shape[1] == 0:
                    out = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)
                out[start + rows] = vectors
        return out
