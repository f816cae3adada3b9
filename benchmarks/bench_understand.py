"""Query understanding on the Icecat judged queries: relevance with it on and off, the same queries
with typos, the queries it changes, and what it costs per search.

Run: python benchmarks/bench_understand.py [--icecat-dir ../shared/datasets/icecat] [--data-dir DIR] [--report FILE]

Typo queries are made deterministically: in every word of 5+ letters, one edit (a swap of two
neighbouring letters, a deletion, a doubled letter or a neighbouring key), chosen by a hash of
the word, never the first letter (shoppers rarely get that wrong). The goal: typo nDCG@10
within 10% of the clean queries', and understanding no worse than none on clean queries.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_relevance import ICECAT_MAP, evaluate, load_judgments  # noqa: E402

from shopsearch import Engine  # noqa: E402
from shopsearch.index.ingest import BadRecord, FieldMapping, read_items  # noqa: E402

_KEYBOARD = "qwertyuiop asdfghjkl zxcvbnm"


def _neighbour(letter: str) -> str:
    for row in _KEYBOARD.split():
        i = row.find(letter)
        if i >= 0:
            return row[i + 1] if i + 1 < len(row) else row[i - 1]
    return letter


def typo(word: str) -> str:
    """One deterministic edit in a word of 5+ letters; other words as they are."""
    if len(word) < 5 or not word.isalpha():
        return word
    digest = hashlib.sha256(word.encode()).digest()
    kind, at = digest[0] % 4, 1 + digest[1] % (len(word) - 2)
    if kind == 0:  # swap two neighbouring letters
        return word[:at] + word[at + 1] + word[at] + word[at + 2:]
    if kind == 1:  # drop one
        return word[:at] + word[at + 1:]
    if kind == 2:  # double one
        return word[:at] + word[at] + word[at:]
    return word[:at] + _neighbour(word[at]) + word[at + 1:]


def typo_query(query: str) -> str:
    return " ".join(typo(w) for w in query.split())


def run(engine: Engine, queries: list[str], **options) -> tuple[dict[str, list[str]], list[float], dict[str, dict]]:
    out, took, understood = {}, [], {}
    for q in queries:
        response = engine.search(q, k=100, **options)
        out[q] = [h.id for h in response.hits]
        took.append(response.took_ms)
        if response.understood is not None:
            understood[q] = response.understood.to_dict()
        understood.setdefault(q, {})["understand_ms"] = response.timings.get("understand_ms", 0.0)
    return out, took, understood


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--icecat-dir", type=Path, default=Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "icecat")
    parser.add_argument("--data-dir", type=Path, default=None, help="reuse an index built from the same files")
    parser.add_argument("--report", type=Path, default=None, help="write the changed queries here (markdown)")
    args = parser.parse_args()
    judgments = load_judgments(args.icecat_dir / "Broad_Query_Set_rated.csv")
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="shopsearch-understand-"))
    engine = Engine.open(data_dir)
    if not len(engine):
        items = [it for _, it in read_items(sorted(args.icecat_dir.glob("*.json.zip")), FieldMapping.parse(ICECAT_MAP, 0.01))
                 if not isinstance(it, BadRecord)]
        for i in range(0, len(items), 500):
            engine.upsert(items[i:i + 500])
    started = time.perf_counter()
    engine.search("warm up", k=1)  # builds the catalogue's lexicon
    print(f"lexicon built and first search in {time.perf_counter() - started:.1f}s ({len(engine)} products)")

    queries = list(judgments)
    typos = {typo_query(q): q for q in queries}
    typo_judgments = {t: judgments[q] for t, q in typos.items()}
    rows = {}
    runs = {}
    for name, qs, judged, understand in (("clean, understanding off", queries, judgments, False),
                                         ("clean, understanding on", queries, judgments, True),
                                         ("typos, understanding off", list(typos), typo_judgments, False),
                                         ("typos, understanding on", list(typos), typo_judgments, True)):
        ranked, took, understood = run(engine, qs, understand=understand)
        runs[name] = (ranked, understood)
        rows[name] = {**evaluate(ranked, judged), "p50_ms": statistics.median(took),
                      "understand_p50_ms": statistics.median(u["understand_ms"] for u in understood.values())}
    engine.close()

    print(f"\nIcecat judged queries: {len(queries)} ({sum(t != q for t, q in typos.items())} changed by typos)")
    print(f"{'run':28} {'nDCG@10':>8} {'MRR@10':>8} {'R@100':>8} {'search p50 ms':>14} {'understand p50 ms':>18}")
    for name, m in rows.items():
        print(f"{name:28} {m['ndcg@10']:8.4f} {m['mrr@10']:8.4f} {m['recall@100']:8.4f} {m['p50_ms']:14.2f} "
              f"{m['understand_p50_ms']:18.3f}")
    clean, typo_on = rows["clean, understanding on"], rows["typos, understanding on"]
    print(f"\ntypo nDCG@10 / clean nDCG@10 (understanding on): {typo_on['ndcg@10'] / clean['ndcg@10']:.3f} (goal >= 0.90); "
          f"off: {rows['typos, understanding off']['ndcg@10'] / rows['clean, understanding off']['ndcg@10']:.3f}")
    print(f"understanding on - off, clean nDCG@10: {clean['ndcg@10'] - rows['clean, understanding off']['ndcg@10']:+.4f}, "
          f"MRR@10: {clean['mrr@10'] - rows['clean, understanding off']['mrr@10']:+.4f} (goal >= 0)")
    print(f"search p50 on - off: {clean['p50_ms'] - rows['clean, understanding off']['p50_ms']:+.2f} ms; "
          f"understand stage p50 {clean['understand_p50_ms']:.3f} ms (goal <= 1 ms)")

    off, (on, understood) = runs["clean, understanding off"][0], runs["clean, understanding on"]
    from shopsearch.eval.metrics import ndcg_at_k

    changed = [(q, ndcg_at_k(off[q], judgments[q], 10), ndcg_at_k(on[q], judgments[q], 10)) for q in queries
               if off[q][:10] != on[q][:10]]
    lines = [f"# Queries whose top 10 understanding changes ({len(changed)} of {len(queries)})", "",
             "| query | understood | nDCG@10 off | on |", "|---|---|---:|---:|"]
    for q, before, after in sorted(changed, key=lambda c: c[2] - c[1]):
        u = understood.get(q, {})
        what = "; ".join(filter(None, [
            f"text {u.get('text')!r}" if u.get("text") != q else "",
            ", ".join(f"{c['from']}→{c['to']}" for c in u.get("corrections", [])),
            ", ".join(f"{e['field']}={e['value']} ({e['use']})" for e in u.get("entities", [])),
            ", ".join(f"{k} {v}" for k, v in u.get("filters", {}).items())]))
        lines.append(f"| {q} | {what} | {before:.3f} | {after:.3f} |")
    wins = sum(a > b for _, b, a in changed)
    losses = sum(a < b for _, b, a in changed)
    print(f"queries changed: {len(changed)} (better {wins}, worse {losses}, same nDCG {len(changed) - wins - losses})")
    if args.report:
        args.report.write_text("\n".join(lines) + "\n")
        print(f"report: {args.report}")
    else:
        print("\n".join(lines[:40]))



if __name__ == "__main__":
    main()
