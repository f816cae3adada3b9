"""Relevance judgments: CSV `query,docid,rating`, or TREC qrels with a queries file."""

from __future__ import annotations

import csv
import io
import math
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
    queries_text = None
    if queries is not None:
        if not Path(queries).is_file():
            raise InvalidJudgments(f"{queries}: no such file")
        queries_text = _read_text(Path(queries))
    return parse_judgments(_read_text(path), str(path), queries_text, str(queries or ""))


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidJudgments(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def parse_judgments(text: str, source: str = "judgments", queries_text: str | None = None,
                    queries_source: str = "queries") -> Judgments:
    """The same formats as load_judgments, from text (an uploaded file); `source` names it in errors.

    A byte order mark (as spreadsheets write one before a CSV) is not part of the text."""
    text = text.removeprefix("\ufeff")
    if queries_text is not None:
        return _parse_trec(text, source, queries_text.removeprefix("\ufeff"), queries_source)
    judgments: Judgments = defaultdict(dict)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        fieldnames = reader.fieldnames
        missing = {"query", "docid", "rating"} - set(fieldnames or ())
        if missing:
            raise InvalidJudgments(
                f"{source}: expected a CSV header with query,docid,rating (missing {', '.join(sorted(missing))}); "
                "for TREC qrels pass the queries file too"
            )
        for row in reader:
            query, doc = (row["query"] or "").strip(), (row["docid"] or "").strip()
            if not query or not doc:
                raise InvalidJudgments(f"{source}:{reader.line_num}: empty query or docid")
            judgments[query][doc] = _grade(row["rating"], source, reader.line_num)
    except csv.Error as exc:  # a field over csv.field_size_limit()
        raise InvalidJudgments(f"{source}:{reader.line_num}: not CSV ({exc})") from None
    if not judgments:
        raise InvalidJudgments(f"{source}: no judgments")
    return dict(judgments)


def _parse_trec(text: str, source: str, queries_text: str, queries_source: str) -> Judgments:
    texts = {}
    for number, line in enumerate(queries_text.splitlines(), start=1):
        if not line.strip():
            continue
        qid, sep, query = line.partition("\t")
        if not sep or not query.strip():
            raise InvalidJudgments(f"{queries_source}:{number}: expected 'qid<TAB>query'")
        texts[qid.strip()] = query.strip()
    judgments: Judgments = defaultdict(dict)
    for number, line in enumerate(text.splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 4:
            raise InvalidJudgments(f"{source}:{number}: expected 'qid iteration docid rating'")
        qid, _, doc, grade = parts
        if qid not in texts:
            raise InvalidJudgments(f"{source}:{number}: query id {qid!r} is not in {queries_source}")
        judgments[texts[qid]][doc] = _grade(grade, source, number)
    if not judgments:
        raise InvalidJudgments(f"{source}: no judgments")
    return dict(judgments)


def _grade(raw: str, source: str, line: int) -> float:
    try:
        grade = float(raw)
    except (TypeError, ValueError):
        raise InvalidJudgments(f"{source}:{line}: rating {raw!r} is not a number") from None
    if not math.isfinite(grade):
        raise InvalidJudgments(f"{source}:{line}: rating {raw!r} is not a finite number")
    if grade < 0:
        raise InvalidJudgments(f"{source}:{line}: rating {raw!r} is negative")
    return grade
