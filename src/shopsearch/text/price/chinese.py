"""Chinese constraint wording: a word before the amount ("不超过500元"), after it ("500元以下",
"500左右"), or a bare price word ("价格500")."""

from __future__ import annotations

import re

from ..analyzer import segmenter
from .amounts import _CJK_CHAR, _END, _amount, _before_spaces, _has_currency, _is_latin, _number
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


# A measured quantity named right before the wording ("血糖超过11", "面积大于30万", "身高180以上",
# "数值不能超过100"): a reading, not a price, unless the amount has a currency mark or a price word.
_MEASURE_BEFORE = re.compile(
    r"(?:面积|血糖|血压|血脂|尿酸|体重|身高|体温|气温|温度|湿度|浓度|时速|车速|速度|转速|距离|里程|海拔|年龄|分数|成绩"
    r"|数值|人数|字数|心率|排量|功率|容量|高度|长度|宽度|厚度|重量|像素|分辨率|电量|视力|度数|指数|利率|比例|概率"
    r"|尺寸|直径|口径|宽|长|深|厚)"
    r"(?:不能|不可|不得|不要|不应|不会|必须|要|应|会|能|都|是|在)?\s*$"
)
# Arithmetic right after it ("10以内加法", "20以内的加减法", "100以内的质数"): a school exercise.
_MATHS_AFTER = re.compile(
    r"\s*的?\s*(?:[加减乘除]法|加减|乘除|连加|连减|口算|心算|算术|整数|质数|素数|奇数|偶数|自然数|小数|分数)"
)


def _not_a_reading(m: re.Match[str], s: str) -> bool:
    """False where the wording, with neither currency nor price word, measures something else."""
    if _has_currency(m, "a") or m.group("cmod") is not None:
        return True
    start = m.start()
    if _MEASURE_BEFORE.search(s, max(0, start - 12), start) is not None:
        return False
    return _MATHS_AFTER.match(s, m.end()) is None


def _starts_a_word(s: str, i: int, end: int) -> bool:
    """Whether offset i begins a word in jieba's segmentation of the CJK run around it: "约" in
    "纽约39" (New York) or "预约300" (booking) is the tail of a word, not "about". jieba loads on
    the first such query only."""
    j = i
    while j > 0 and i - j < 8 and _CJK_CHAR.match(s[j - 1]) is not None:
        j -= 1
    if j == i:
        return True
    pos = j
    for token in segmenter().cut(s[j:end]):
        if pos >= i:
            return pos == i
        pos += len(token)
    return pos == i


def _cn_op_rule(m: re.Match[str], s: str, tol: float) -> _Bounds | None:
    a = _number(m.group("a"))
    if a is None or not _not_a_reading(m, s):
        return None
    if m.group("ar") is not None and m.group("cmod") is None and not _starts_a_word(s, m.start("ar"), m.end()):
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
    if (m.group("gtec") is not None and not cur) or not _not_a_reading(m, s):
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
