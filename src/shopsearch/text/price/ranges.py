"""Ranges in all three languages: "between 20 and 40", "entre 20 y 40", "30到60元", "$20-$40"."""

from __future__ import annotations

import re

from .amounts import (
    _CJK_CHAR,
    _END,
    _LB,
    _RB,
    _amount,
    _before_spaces,
    _has_currency,
    _is_latin,
    _next_char,
    _number,
    _prev_char,
    _prev_word,
)
from .bounds import _Bounds
from .chinese import _CN_PRE, _START_CN_NUM
from .english_spanish import _MOD, _START_LATIN

_RANGE_RE = re.compile(
    rf"(?:{_START_LATIN}|{_START_CN_NUM})(?:{_MOD}|(?P<cmod>{_CN_PRE}))"
    rf"(?:{_LB}(?P<kw>between|entre|from|desde|de){_RB}\s*|(?P<kwc>从)\s*)?"
    rf"{_amount('a', cn=True)}"
    rf"\s*(?:(?P<sepw>and|y|to|a|hasta|until|till){_RB}|(?P<seps>[-~&])|(?P<sepc>到|至))\s*"
    rf"{_amount('b', cn=True, lb=False)}{_END}"
    r"(?:\s*(?:之间|区间|范围|左右))?(?:\s*的)?",
    re.IGNORECASE,
)

# Words before a bare "A-B" that make it a size, age, model or season rather than a price.
_RANGE_PREV = frozenset(
    "size sizes talla tallas talle tallas age ages aged edad edades year years model modelo models ref version ver "
    "gen rtx gtx rx no number numero número page pages ch channel season temporada".split()
)


_KW_SEPS = {
    "between": ("and", "&", "-", "~", "to"),
    "entre": ("y", "&", "-", "~", "a"),
    "from": ("to", "-", "~", "until", "till"),
    "desde": ("hasta", "a", "-", "~"),
    "de": ("a", "-", "~", "hasta"),
    "从": ("到", "至", "-", "~"),
}


_MAGNITUDE = {"百": 100.0, "千": 1000.0, "万": 10000.0}
_PLAIN_INT = re.compile(r"[0-9]+[百千万]?")
_MATHS = frozenset("^=+*×÷")


def _scaled(ra: str, a: float, rb: str, b: float) -> float:
    """A, taking the magnitude unit written only after B: "5-6万" is 50000..60000. Not when that
    would put A above B: in "500-1万" the 500 is already whole."""
    mult = _MAGNITUDE.get(rb[-1])
    if mult is not None and rb[0].isascii() and ra[0].isascii() and ra[-1] not in _MAGNITUDE and a * mult <= b:
        return round(a * mult, 6)
    return a


def _code_like(ra: str, rb: str) -> bool:
    """Digit runs that read as a phone number, code or serial rather than two prices: a leading
    zero ("0371", "093"), a run of 7+ digits, or B of 5+ digits with at least two digits more than
    A ("371-69575856"; "1000-20000" stays a range). Only for plain digit runs: "1,000-100,000" is
    written as money."""
    if (ra[:1] == "0" and ra[1:2].isdigit()) or (rb[:1] == "0" and rb[1:2].isdigit()):
        return True
    if _PLAIN_INT.fullmatch(ra) is None or _PLAIN_INT.fullmatch(rb) is None:
        return False
    da, db = len(ra.rstrip("百千万")), len(rb.rstrip("百千万"))
    return max(da, db) >= 7 or (db >= 5 and db - da >= 2)


def _magnitude(ra: str, rb: str) -> bool:
    return ra[-1] in _MAGNITUDE or rb[-1] in _MAGNITUDE


def _chinese(m: re.Match[str], s: str, before: str, after: str) -> bool:
    """Whether the range is in Chinese wording: the nearest character on either side (past spaces)
    is CJK, or the match holds CJK ("16-30之间"), or, with neither a CJK nor a Latin character
    right next to it ("28-622（700...）自行车外胎"), the query has CJK at all."""
    if any(c and _CJK_CHAR.match(c) for c in (before, after)) or _CJK_CHAR.search(m.group()) is not None:
        return True
    if any(c and _is_latin(c) and not c.isdigit() for c in (before, after)):
        return False
    return _CJK_CHAR.search(s) is not None


def _bare_range_ok(m: re.Match[str], s: str, ra: str, a: float, rb: str, b: float) -> bool:
    """Whether a bare "A-B" / "A~B" (no currency, range word or price word) reads as nothing but a
    price range."""
    if _code_like(ra, rb):
        return False
    before, after = _prev_char(s, m.start()), _next_char(s, m.end())
    if (before and before in _MATHS) or (after and after in _MATHS):  # "m^2-9", "x = 2-9"
        return False
    if _chinese(m, s, before, after) and not _magnitude(ra, rb):
        return False  # "佳能镜头18-135", "16-30关", "1-45" (episodes): levels, sizes, focal lengths
    if not (a < b and a.is_integer() and b.is_integer()):
        return False
    if 1900 <= a <= 2100 and 1900 <= b <= 2100:
        return False
    if _prev_word(s, m.start()) in _RANGE_PREV:
        return False
    j = _before_spaces(s, m.start())
    return not (j > 0 and s[j - 1] in "-~")  # the tail of "30 - 40 - 50": a list or code, not a range


def _range_rule(m: re.Match[str], s: str, tol: float) -> _Bounds | None:
    ra, rb = m.group("a"), m.group("b")
    a, b = _number(ra), _number(rb)
    if a is None or b is None:
        return None
    a = _scaled(ra, a, rb, b)
    kw = (m.group("kw") or m.group("kwc") or "").lower()
    sep = (m.group("sepw") or m.group("seps") or m.group("sepc")).lower()
    priced = _has_currency(m, "a", "b") or m.group("mod") is not None or m.group("cmod") is not None
    if kw:
        if sep not in _KW_SEPS[kw]:
            return None
        if kw == "从" and not (priced or _magnitude(ra, rb)):
            return None  # "从0到1", "从1到100": counting, as with "A到B"
    elif sep in ("to", "到", "至"):
        if not priced:
            return None
    elif sep not in ("-", "~"):
        return None
    elif not priced and not _bare_range_ok(m, s, ra, a, rb, b):
        return None
    if a > b:
        a, b = b, a
    return (a, False, b, False)
