"""Relevance judgments: CSV `query,docid,rating`, or TREC qrels with a queries file."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

Judgments = dict[str, dict[str, float]]  # query text -> doc id -> grade (0 = irrelevant)


class InvalidJudgments(ValueError):
    """A judgments file that cannot be used; the message names file and line."""


def load_judgments(path: str | Path, queries: str | Path | None = None) -> Judgments:
    """CSV with a `query,docid,rating` header, or TREC qrels (`qid 0 docid rating`)
    whose query ids `queries` (`qid<TAB>query text` per line) turns into text."""
    path = Path(path)
    if not path.is_file():
        raise InvalidJudgments(f"{path}: no such file")
    if queries is not None:
        return _load_trec(path, Path(queries))
    judgments: Judgments = defaultdict(dict)
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = {"query", "docid", "rating"} - set(reader.fieldnames or ())
        if missing:
            raise InvalidJudgments(
                f"{path}: expected a CSV header with query,docid,rating (missing {', '.join(sorted(missing))}); "
                "for TREC qrels pass the queries file too"
            )
        for row in reader:
            query, doc = (row["query"] or "").strip(), (row["docid"] or "").strip()
            if not query or not doc:
                raise InvalidJudgments(f"{path}:{reader.line_num}: empty query or docid")
            judgments[query][doc] = _grade(row["rating"], path, reader.line_num)
    if not judgments:
        raise InvalidJudgments(f"{path}: no judgments")
    return dict(judgments)


def _load_trec(path: Path, queries_path: Path) -> Judgments:
    if not queries_path.is_file():
        raise InvalidJudgments(f"{queries_path}: no such file")
    texts = {}
    with open(queries_path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            qid, sep, text = line.rstrip("\n").partition("\t")
            if not sep or not text.strip():
                raise InvalidJudgments(f"{queries_path}:{number}: expected 'qid<TAB>query'")
            texts[qid.strip()] = text.strip()
    judgments: Judgments = defaultdict(dict)
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 4:
                raise InvalidJudgments(f"{path}:{number}: expected 'qid iteration docid rating'")
            qid, _, doc, grade = parts
            if qid not in texts:
                raise InvalidJudgments(f"{path}:{number}: query id {qid!r} is not in {queries_path}")
            judgments[texts[qid]][doc] = _grade(grade, path, number)
    if not judgments:
        raise InvalidJudgments(f"{path}: no judgments")
    return dict(judgments)


def _grade(raw: str, path: Path, line: int) -> float:
    try:
        grade = float(raw)
    except (TypeError, ValueError):
        raise InvalidJudgments(f"{path}:{line}: rating {raw!r} is not a number") from None
    if grade < 0:
        raise InvalidJudgments(f"{path}:{line}: rating {raw!r} is negative")
    return grade
