"""Which language a text is in, measured by script and by a small lexicon test, not assumed.

Han characters mean Chinese (kana would mean Japanese, hangul Korean); a Latin text is Spanish or
English by its function words and spelling (ñ, accents, ¿¡), whichever has more evidence, and
"und" (undetermined) when neither has any: a model number, a brand. Pure functions; the
catalogue counts what its records are in (index/lexicon.py), a query reads the same way.
"""

from __future__ import annotations

import re
from collections import Counter

UNDETERMINED = "und"

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_KANA = re.compile(r"[\u3040-\u30ff]")
_HANGUL = re.compile(r"[\uac00-\ud7af]")
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_SPANISH_LETTERS = re.compile(r"[ñáéíóúü¿¡]", re.IGNORECASE)

# Function words frequent in product text and queries, and not words of the other language.
_FUNCTION_WORDS = {
    "en": frozenset("the and for with of to in on by from without under over is are this that your our "
                    "a an or at as it its into up out pack set new black white".split()),
    "es": frozenset("el la los las de del para con sin por y o un una unos unas al en que se su sus "
                    "más mas muy hasta desde entre sobre negro negra blanco blanca nuevo nueva".split()),
}


def detect(text: str) -> str:
    """The text's language: "zh", "ja", "ko", "es", "en" or "und"."""
    if _KANA.search(text):
        return "ja"
    if _HANGUL.search(text):
        return "ko"
    if _HAN.search(text):
        return "zh"
    words = [w.lower() for w in _WORD.findall(text)]
    evidence = {language: sum(w in found for w in words) for language, found in _FUNCTION_WORDS.items()}
    evidence["es"] += 2 * len(_SPANISH_LETTERS.findall(text))
    best = max(evidence, key=lambda language: evidence[language])
    if evidence[best] == 0 or list(evidence.values()).count(evidence[best]) > 1:
        return UNDETERMINED
    return best


def shares(counted: Counter[str]) -> dict[str, float]:
    """Each determined language's share of the texts whose language was determined."""
    determined = {language: n for language, n in counted.items() if language != UNDETERMINED and n > 0}
    total = sum(determined.values())
    return {language: n / total for language, n in determined.items()} if total else {}


def is_function_word(word: str) -> bool:
    """A function word of a language detected here ("para", "the"): never a product word to translate."""
    return any(word.lower() in found for found in _FUNCTION_WORDS.values())
