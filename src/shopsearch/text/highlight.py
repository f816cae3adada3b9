"""Where a query's terms occur in a product's text, as character spans of the original text.

The keyword leg matches analysed terms (stems, folded accents, jieba words),
so highlighting does the same analysis word by word and marks a word when one
of its terms is a query term: "zapatillas" lights up for "zapatilla", "papá"
for "papa", "运动鞋" inside "夏季运动鞋". Spans index the text as stored, so
a page can wrap them in <mark> without any analysis of its own.
"""

from __future__ import annotations

from typing import Collection

from .analyzer import _CJK_RUN, _WORD, Analyzer, fold_accents, normalize, segmenter


def highlight_spans(text: str, query_terms: Collection[str], analyzer: Analyzer) -> list[tuple[int, int]]:
    """Sorted, non-overlapping (start, end) spans of `text` whose words analyse to one of `query_terms`."""
    if not text or not query_terms:
        return []
    wanted = set(query_terms)
    spans = [(m.start(), m.end()) for m in _WORD.finditer(text) if analyzer.term_set(m.group()) & wanted]
    for run in _CJK_RUN.finditer(text):
        # Search mode yields the long word and its dictionary sub-words, each with its offsets.
        for word, start, end in segmenter().tokenize(run.group(), mode="search"):
            if fold_accents(normalize(word)) in wanted:
                spans.append((run.start() + start, run.start() + end))
    return _merge(spans)


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged
