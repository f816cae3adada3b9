"""Cross-lingual search: Chinese and Spanish versions of English product queries over the English Icecat catalogue.

Run:
    python benchmarks/bench_crosslingual.py --data-dir DIR [--report crosslingual.md] [--modes hybrid,keyword,vector]

DIR: the Icecat catalogue indexed with the default model (docs/benchmarks.md, "Data"). The dev
set, benchmarks/data/crosslingual_queries.csv, holds 72 of the English queries of
Broad_Query_Set_rated.csv with a Chinese and a Spanish version written for this project (brands
and model names left as they are). Each version is judged with its English query's judgments. For
each mode, language and setting (translation on and off), the table gives nDCG@10 over the
informative queries and the retention: a language's nDCG@10 over the English queries'. --report
writes every query's figures, and the translations used, to a markdown file.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from tables import print_table  # noqa: E402

from shopsearch import Engine  # noqa: E402
from shopsearch.eval.evaluator import query_metrics  # noqa: E402
from shopsearch.eval.judgments import load_judgments  # noqa: E402
from shopsearch.index.terms import CatalogueTerms  # noqa: E402

DEV_SET = Path(__file__).resolve().parent / "data" / "crosslingual_queries.csv"
JUDGMENTS = ROOT.parent / "shared" / "datasets" / "icecat" / "Broad_Query_Set_rated.csv"
LANGUAGES = ("en", "zh", "es")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--judgments", type=Path, default=JUDGMENTS)
    parser.add_argument("--modes", default="hybrid,keyword,vector")
    parser.add_argument("--settings", default="off,on", help="translation off and/or on")
    parser.add_argument("--report", type=Path, default=None)
    args = parser.parse_args()
    judged = load_judgments(args.judgments)
    rows = list(csv.DictReader(DEV_SET.open(encoding="utf-8")))
    rows = [r for r in rows if any(v > 0 for v in judged.get(r["en"], {}).values())]
    per_query: dict[tuple, dict[str, float]] = {}
    translations: dict[str, object] = {}
    with Engine.open(args.data_dir, read_only=True) as engine:
        lexicon = engine.backends.lexicon()
        with tempfile.TemporaryDirectory() as folder:
            started = time.perf_counter()
            terms = CatalogueTerms.build(lexicon.words.counts(), engine.embedder, Path(folder),
                                         engine.config.understand.translate_min_count)
            built_s = time.perf_counter() - started
            saved = sum(f.stat().st_size for f in Path(folder).iterdir())
        print(f"catalogue terms: {len(terms.words)} words embedded in {built_s:.1f} s, {terms.vectors.nbytes / 2**20:.1f} MiB "
              f"in memory, {saved / 2**20:.1f} MiB saved; catalogue languages: {lexicon.language_counts()}")
        for mode in args.modes.split(","):
            for setting in args.settings.split(","):
                request = {"mode": mode, "k": 100, "ranker": False}
                if setting == "on" or hasattr(engine.plan("x"), "translate"):  # absent before translation existed
                    request["translate"] = setting == "on"
                for row in rows:
                    for language in LANGUAGES:
                        response = engine.search(row[language], **request)
                        ranked = [hit.id for hit in response.hits]
                        per_query[(mode, setting, language, row["en"])] = query_metrics(ranked, judged[row["en"]])
                        if setting == "on" and language != "en":
                            translations[row[language]] = response.understood.translations if response.understood else None
        timing = []
        for language in LANGUAGES:  # warm (lexicons loaded, query words embedded once), then timed
            figures = {}
            for setting in ("off", "on"):
                for row in rows:
                    engine.search(row[language], mode="hybrid", translate=setting == "on")
                totals, understand = [], []
                for _ in range(3):
                    for row in rows:
                        response = engine.search(row[language], mode="hybrid", translate=setting == "on")
                        totals.append(response.took_ms)
                        understand.append(response.timings.get("understand_ms", 0.0))
                figures[setting] = (statistics.median(totals), statistics.median(understand))
            timing.append((language, f"{figures['off'][1]:.2f}", f"{figures['on'][1]:.2f}", f"{figures['off'][0]:.2f}",
                           f"{figures['on'][0]:.2f}", f"{figures['on'][0] - figures['off'][0]:+.2f}"))
    print_table("What translation costs, hybrid search p50 (ms, 3 passes after a warm one)",
                ["queries", "understand off", "understand on", "search off", "search on", "search on - off"], timing)
    table = []
    for mode in args.modes.split(","):
        for setting in args.settings.split(","):
            means = {lang: sum(per_query[(mode, setting, lang, r["en"])]["ndcg@10"] for r in rows) / len(rows)
                     for lang in LANGUAGES}
            table.append((mode, setting, f"{means['en']:.4f}", f"{means['zh']:.4f}", f"{means['zh'] / means['en']:.2f}",
                          f"{means['es']:.4f}", f"{means['es'] / means['en']:.2f}"))
    print_table(f"Cross-lingual nDCG@10 on {len(rows)} informative dev queries (judged as their English versions)",
                ["mode", "translate", "en", "zh", "zh/en", "es", "es/en"], table)
    if args.report is not None:
        lines = [f"# Cross-lingual dev set: per query nDCG@10 ({len(rows)} queries)", "",
                 "| mode | translate | en query | en | zh query | zh | es query | es | translations |",
                 "|---|---|---|---:|---|---:|---|---:|---|"]
        for mode in args.modes.split(","):
            for setting in args.settings.split(","):
                for r in rows:
                    figure = {lang: per_query[(mode, setting, lang, r["en"])]["ndcg@10"] for lang in LANGUAGES}
                    used = "; ".join(f"{translations.get(r[lang])}" for lang in ("zh", "es")) if setting == "on" else ""
                    lines.append(f"| {mode} | {setting} | {r['en']} | {figure['en']:.3f} | {r['zh']} | {figure['zh']:.3f} | "
                                 f"{r['es']} | {figure['es']:.3f} | {used} |")
        args.report.write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(f"report: {args.report}")


if __name__ == "__main__":
    main()
