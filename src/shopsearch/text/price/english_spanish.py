"""English and Spanish constraint wording: a word or sign before the amount ("under $30", "menos de
50", "<= 500") or after it ("$30 or less", "50 euros como máximo"). The two languages share one
pattern per form, so a query mixing them is read in one pass."""

from __future__ import annotations

import re

from .amounts import _END, _LB, _RB, _amount, _has_currency, _number, _prev_word
from .bounds import _around, _Bounds


def _alt(*phrases: str) -> str:
    # A space in a phrase stands for any run of whitespace.
    return "|".join(p.replace(" ", r"\s+") for p in sorted(phrases, key=len, reverse=True))


_PRICE_WORDS = "price[sd]?|pricing|precios?|budget|presupuesto|cost(?:s|ing)?"
_MOD = (
    rf"(?:(?P<mod>{_LB}(?:{_PRICE_WORDS}){_RB}\s*:?\s*(?:range\s*:?\s*)?(?:(?:of|de|at)\s+)?)?"
    rf"(?P<for>{_LB}(?:for|por)\s+)?)"
)
_LT = _alt(
    "under", "below", "less than", "lower than", "cheaper than", "menos de", "menos que", "por debajo de",
    "inferior a", "menor de", "menor que", "menor a", "m[aá]s barato que", "mas barato que",
)
_LTE = _alt(
    "up to", "upto", "at most", "no more than", "not more than", "max", "maximum", "hasta", "m[aá]ximo", "m[aá]x",
    "como m[aá]ximo", "no m[aá]s de",
)
_GT = _alt(
    "over", "above", "more than", "greater than", "higher than", "more expensive than", "pricier than",
    "m[aá]s de", "m[aá]s que", "por encima de", "superior a", "mayor de", "mayor que", "mayor a", "m[aá]s caro que",
)
_GTE = _alt(
    "at least", "no less than", "not less than", "min", "minimum", "starting at", "starting from", "m[ií]nimo",
    "m[ií]n", "como m[ií]nimo", "al menos", "a partir de",
)
_GTE_CUR = _alt("from", "desde")
_AROUND = _alt(
    "around", "about", "approx", "approximately", "roughly", "circa", "alrededor de", "aproximadamente", "aprox",
    "en torno a", "m[aá]s o menos",
)
_AROUND_CUR = _alt("cerca de", "unos", "unas", "sobre")
_BUDGET = _alt("budget", "budget of", "presupuesto", "presupuesto de")
_PRICE_ALONE = _alt("price", "priced at", "precio", "costs", "costing")

_OP_KINDS = ("lt", "lte", "gt", "gte", "gtec", "ar", "arc", "bud", "pr", "slt", "slte", "sgt", "sgte")
# Each pattern opens with a lookahead for the characters a match can start with: most positions then
# fail at once instead of trying every alternative.
_START_LATIN = f"{_LB}(?=[a-z\u00c0-\u024f$€£¥0-9<>=≤≥人])"

_OP_RE = re.compile(
    rf"{_LB}(?=[a-z\u00c0-\u024f<>=≤≥]){_MOD}(?:{_LB}(?:(?P<lt>{_LT})|(?P<lte>{_LTE})|(?P<gt>{_GT})|(?P<gte>{_GTE})|(?P<gtec>{_GTE_CUR})"
    rf"|(?P<ar>{_AROUND})|(?P<arc>{_AROUND_CUR})|(?P<bud>{_BUDGET})|(?P<pr>{_PRICE_ALONE})){_RB}\.?"
    rf"|(?P<slte><=|=<|≤)|(?P<sgte>>=|=>|≥)|(?P<slt><)|(?P<sgt>>))"
    rf"\s*{_amount('a', cn=False)}{_END}",
    re.IGNORECASE,
)

_SUF_LTE = _alt(
    "or less", "or lower", "or under", "or below", "and under", "and below", "and less", "o menos",
    "como m[aá]ximo", "como mucho", "max", "maximum", "m[aá]x", "m[aá]ximo",
)
_SUF_GTE = _alt(
    "or more", "or above", "or higher", "or over", "and up", "and above", "and over", "and higher", "o m[aá]s",
    "o mas", "como m[ií]nimo", "como poco", "min", "minimum", "m[ií]n", "m[ií]nimo",
)
_SUFFIX_RE = re.compile(
    rf"{_START_LATIN}{_MOD}{_amount('a', cn=False)}\s*(?:{_LB}(?:(?P<lte>{_SUF_LTE})|(?P<gte>{_SUF_GTE})){_RB}\.?|(?P<plus>\+))",
    re.IGNORECASE,
)

# Words before "under 5"/"over 50" that make the number an age.
_AGE_PREV = frozenset(
    "kids kid children child toddlers toddler babies baby boys boy girls girl teens teen teenagers men women man "
    "woman people adults adult seniors dogs dog cats cat puppies puppy pets ages age aged niños niñas niño niña "
    "bebés bebes bebé perros gatos personas edad mayores".split()
)
_MODEL_MAX_PREV = frozenset(("pro", "air", "ultra", "plus", "note"))


def _kind(m: re.Match[str], kinds: tuple[str, ...]) -> str:
    for k in kinds:
        if m.group(k) is not None:
            return k
    raise AssertionError("a constraint pattern matched without its wording")


def _op_rule(m: re.Match[str], s: str, tol: float) -> _Bounds | None:
    a = _number(m.group("a"))
    if a is None:
        return None
    kind = _kind(m, _OP_KINDS)
    cur = _has_currency(m, "a")
    if kind in ("gtec", "arc") and not cur:
        return None
    if not cur and m.group("mod") is None:
        prev = _prev_word(s, m.start())
        if prev in _AGE_PREV:
            return None
        if prev in _MODEL_MAX_PREV and m.group(kind).lower().startswith("max"):
            return None
    if kind in ("lt", "slt"):
        return (None, False, a, True)
    if kind in ("lte", "slte", "bud"):
        return (None, False, a, False)
    if kind in ("gt", "sgt"):
        return (a, True, None, False)
    if kind in ("gte", "sgte", "gtec"):
        return (a, False, None, False)
    return _around(a, tol)


def _suffix_rule(m: re.Match[str], s: str, tol: float) -> _Bounds | None:
    a = _number(m.group("a"))
    if a is None or not (_has_currency(m, "a") or m.group("mod") is not None):
        return None
    if m.group("lte") is not None:
        return (None, False, a, False)
    return (a, False, None, False)
