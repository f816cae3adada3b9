"""Ranges in all three languages: "between 20 and 40", "entre 20 y 40", "30到60元", "$20-$40"."""

from __future__ import annotations

import re

from .amounts import _END, _LB, _RB, _amount, _before_spaces, _has_currency, _number, _prev_word
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


def _range_rule(m: re.Match[str], s: str, tol: float) -> _Bounds | None:
    a, b = _number(m.group("a")), _number(m.group("b"))
    if a is None or b is None:
        return None
    kw = (m.group("kw") or m.group("kwc") or "").lower()
    sep = (m.group("sepw") or m.group("seps") or m.group("sepc")).lower()
    priced = _has_currency(m, "a", "b") or m.group("mod") is not None or m.group("cmod") is not None
    if kw:
        if sep not in _KW_SEPS[kw]:
            return None
    elif sep in ("to", "到", "至"):
        if not priced:
            return None
    elif sep not in ("-", "~"):
        return None
    elif not priced:
        # A bare "A-B": only what reads as nothing but a price range.
        if not (a < b and a.is_integer() and b.is_integer()):
            return None
        if 1900 <= a <= 2100 and 1900 <= b <= 2100:
            return None
        if _prev_word(s, m.start()) in _RANGE_PREV:
            return None
        j = _before_spaces(s, m.start())
        if j > 0 and s[j - 1] in "-~":  # the tail of "30 - 40 - 50": a list or code, not a range
            return None
    if a > b:
        a, b = b, a
    return (a, False, b, False)
