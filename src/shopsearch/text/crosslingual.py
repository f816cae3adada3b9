"""Translating a query's words into the catalogue's, without a translation service: pure functions.

Two sources, as the understanding step uses them (search/stages/understand.py):
- a bilingual lexicon (a word's glosses, e.g. CC-CEDICT's English ones of a Chinese word) kept to the
  phrases whose every word the catalogue itself uses, each weighted by how many products use it;
- the embedding model: the catalogue's frequent terms and the query word in one vector space, the
  nearest terms by cosine, kept above a threshold and within a margin of the best. (CSLS, which
  corrects cosine for hubness, measured worse here: 0.50 against 0.67 of 36 Spanish product words
  translated right at rank 1 by multilingual-e5-small, with the terms' own neighbourhoods standing
  in for the other language's; docs/benchmarks.md.)
"""

from __future__ import annotations

import math
import re
from typing import Callable, Iterable, Mapping

import numpy as np

_GLOSS_WORD = re.compile(r"[a-z][a-z0-9\-]*|[\u3400-\u9fff]+")
_PARENTHESISED = re.compile(r"\([^)]*\)|\[[^\]]*\]")
_GLOSS_STOP = frozenset("a an the of to for and or with in on by one's sb sth something someone used as also see "
                        "variant abbr lit fig old type kind form".split())


def nearest_terms(queries: np.ndarray, terms: np.ndarray, limit: int, threshold: float,
                  margin: float) -> list[list[tuple[int, float]]]:
    """For each query vector (unit length), up to `limit` (term index, cosine) best first: the best term if
    its cosine reaches `threshold`, and the next ones within `margin` of it."""
    if len(terms) == 0 or len(queries) == 0:
        return [[] for _ in range(len(queries))]
    sims = queries @ terms.T
    limit = min(limit, terms.shape[0])
    top = np.argpartition(-sims, limit - 1, axis=1)[:, :limit]
    found = []
    for row, candidates in zip(sims, top):
        ranked = sorted(((int(i), float(row[i])) for i in candidates), key=lambda pair: -pair[1])
        best = ranked[0][1]
        found.append([(i, score) for i, score in ranked if best >= threshold and score >= best - margin])
    return found


def gloss_phrases(glosses: Iterable[str], known: Callable[[str], int], max_words: int = 3) -> dict[str, int]:
    """The phrases of a lexicon entry's glosses ("loudspeaker box, speaker (CL:个)"), and each phrase's last
    word, whose every word the catalogue uses, each with how many products use its rarest word. Parentheses
    and function words are left out; a gloss longer than `max_words` words is a description, not a translation."""
    found: dict[str, int] = {}
    for gloss in glosses:
        for part in _PARENTHESISED.sub(" ", gloss.lower()).replace(";", ",").split(","):
            words = [w for w in _GLOSS_WORD.findall(part) if w not in _GLOSS_STOP]
            if not words or len(words) > max_words:
                continue
            # The phrase, and its head (English puts it last: "electric fan" is a fan, "desk lamp" a lamp),
            # which is what a catalogue that never says "electric fan" calls it.
            for phrase in dict.fromkeys((" ".join(words), words[-1])):
                count = min(known(w) for w in phrase.split())
                if count > 0 and phrase not in found:
                    found[phrase] = count
    return found


def weighted(counts: Mapping[str, int], limit: int) -> list[tuple[str, float]]:
    """The `limit` most used terms, each weighted by log-frequency relative to the most used (1.0 first)."""
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]
    if not ranked:
        return []
    top = math.log1p(ranked[0][1])
    return [(term, math.log1p(count) / top) for term, count in ranked]

