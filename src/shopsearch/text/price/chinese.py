"""Chinese constraint wording: a word before the amount ("不超过500元"), after it ("500元以下",
"500左右"), or a bare price word ("价格500")."""

from __future__ import annotations

import re

from .amounts import _END, _amount, _before_spaces, _has_currency, _is_latin, _number
from .bounds import _around, _Bounds
from .english_spanish import _START_LATIN

_CN_PRE = r"(?:价格|价位|价钱|售价|单价|预算)(?:区间|范围|段)?\s*(?:在|为|是|:)?\s*"
# The Chinese counterpart of _START_LATIN, for patterns that may open with a price word or a numeral.
_START_CN_NUM = "(?=[价售单预从人零〇一二两三四五六七八九十百千万])"

_CN_OP_RE = re.compile(
    rf"(?=[价售单预不低少小最至顶高超大多起约差])(?P<cmod>{_CN_PRE})?(?:(?P<lte>不超过|不超出|不高于|不大于|不多于|最多|至多|顶多)|(?P<lt>低于|少于|小于|不到|不足)"
    rf"|(?P<gte>不低于|不少于|不小于|至少|最少|起码)|(?P<gt>高于|超过|大于|多于)|(?P<ar>大约|大概|差不多|约))"
    rf"\s*{_amount('a', cn=True)}{_END}(?:\s*的)?",
    re.IGNORECASE,
)
_CN_SUFFIX_RE = re.compile(
    rf"(?:{_START_LATIN}|{_START_CN_NUM})(?P<cmod>{_CN_PRE})?{_amount('a', cn=True)}\s*"
    rf"(?:(?P<lte>以下|以内|之内|之下)|(?P<gte>以上|之上)|(?P<lt>不到)|(?P<ar>左右|上下)|(?P<gtec>起步|起售|起))"
    r"(?:\s*的)?",
    re.IGNORECASE,
)
_CN_ALONE_RE = re.compile(
    rf"(?P<cw>价格|价位|价钱|售价|单价|预算)(?:区间|范围|段)?\s*(?:在|为|是|:)?\s*{_amount('a', cn=True)}{_END}(?:\s*的)?",
    re.IGNORECASE,
)


def _cn_op_rule(m: re.Match[str], s: str, tol: float) -> _Bounds | None:
    a = _number(m.group("a"))
    if a is None:
        return None
    if m.group("lt") is not None:
        return (None, False, a, True)
    if m.group("lte") is not None:
        return (None, False, a, False)
    if m.group("gt") is not None:
        return (a, True, None, False)
    if m.group("gte") is not None:
        return (a, False, None, False)
    return _around(a, tol)


def _cn_suffix_rule(m: re.Match[str], s: str, tol: float) -> _Bounds | None:
    a = _number(m.group("a"))
    if a is None:
        return None
    cur = _has_currency(m, "a")
    if m.group("gtec") is not None and not cur:
        return None
    if not cur and m.group("cmod") is None:
        j = _before_spaces(s, m.start())
        if j > 0 and _is_latin(s[j - 1]):  # "rtx 2060以上": a model floor
            return None
    if m.group("lte") is not None:
        return (None, False, a, False)
    if m.group("lt") is not None:
        return (None, False, a, True)
    if m.group("gte") is not None or m.group("gtec") is not None:
        return (a, False, None, False)
    return _around(a, tol)


def _cn_alone_rule(m: re.Match[str], s: str, tol: float) -> _Bounds | None:
    a = _number(m.group("a"))
    if a is None:
        return None
    if m.group("cw") == "预算":
        return (None, False, a, False)
    return _around(a, tol)
