"""Amounts in a folded query: digits, Chinese numerals, multipliers and currency marks, and the
Latin-word boundaries an amount must sit between."""

from __future__ import annotations

import math
import re

# Full-width ASCII and a few dashes/waves map one character to one, so offsets into the folded copy
# are offsets into the query (NFKC would not keep lengths: "㎖" -> "ml").
_FOLD: dict[int, int | str] = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)}
_FOLD.update({0x3000: " ", 0x2013: "-", 0x2014: "-", 0x2212: "-", 0x301C: "~", 0xFFE5: "¥"})

# Letters and digits that make up a Latin word. Not \w: that includes CJK, and "耳机500元以下" must
# still find the number.
_L = "0-9A-Za-z\u00c0-\u024f"
_LB = f"(?<![{_L}])"
_RB = f"(?![{_L}])"
# A number starts a token: not inside "dv7-1211ea", "3.5", "1,299" or "a/4".
_NUMLB = f"(?<![{_L}])(?<![0-9][.,])(?<![{_L}][-/])"
# The end of a constraint's amount: not glued to letters ("30ml", "30-pack") and not the first half
# of a range ("under 20 - 40" is the range 20..40).
_END = rf"(?![{_L}])(?![-/_][{_L}])(?!\s*[-~]\s*[0-9])"

_TRIGGER = re.compile("[0-9\uff10-\uff19零〇一二两三四五六七八九十百千万]")  # digits and Chinese numerals

# Thousands groups before plain digits, so "1,299" is one number; a trailing lookahead keeps a
# longer digit run from being read in part ("1,2345").
_NUM_AR = (
    r"(?:[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]{1,2})?|[0-9]{1,3}(?:\.[0-9]{3})+(?:,[0-9]{1,2})?"
    r"|[0-9]+(?:[.,][0-9]{1,2})?)(?![0-9]|[.,][0-9])"
)
_MULT_CN = "(?:[百千万])?"
_MULT_LATIN = f"(?:[百千万]|k{_RB})?"
# A unit character is required, so 一 in 一次性 or 三 in 三星 never reads as an amount. The whole run
# of numeral characters or nothing ("超过三千五百毫升" is not "超过三千五"), and bounded, so a long run
# costs linear time rather than backtracking through every split.
_CN_CHARS = "零〇一二两三四五六七八九十百千万"
_CN_NUM = f"(?<![{_CN_CHARS}])[零〇一二两三四五六七八九]{{0,2}}[十百千万][{_CN_CHARS}]{{0,8}}(?![{_CN_CHARS}])"

_UNITS_LATIN = (
    "ml|cl|dl|l|liters?|litres?|litros?|mm|cm|km|m|meters?|metres?|metros?|inch(?:es)?|pulgadas?|ft|feet|foot"
    "|oz|lbs?|pounds?|kg|g|gr|grams?|gramos?|mg|gb|tb|mb|kb|gbps|mbps|ghz|mhz|hz|w|kw|watts?|v|volts?|mah|ah"
    "|wh|kwh|mp|megapixels?|fps|rpm|db|nits|lumens?|lm|gal|gallons?|qt|sq|p|x|pack|packs|pk|pcs|pc|pieces?"
    "|piezas?|pairs?|pares|par|units?|unidades|uds?|people|persons?|personas?|players?|jugadores|seats?|plazas?"
    "|days?|d[ií]as?|weeks?|semanas?|months?|meses|mes|years?|yrs?|yo|a[nñ]os?|hours?|hrs?|h|horas?|minutes?"
    "|mins?|minutos?|seconds?|secs?|segundos?|cores?|n[uú]cleos|threads|stars?|estrellas|colou?rs?|colores"
    r"|items?|art[ií]culos|reviews?|opiniones|gen|series|rolls?|sheets?|count|ct|cups?|tazas?|times|veces"
    r"|kids|ni[nñ]os|percent|por\s+ciento"
)
_UNITS_CN = (
    "毫升|升|毫米|厘米|公分|米|千克|公斤|克|斤|英寸|寸|瓦|伏|毫安|个|件|只|台|张|双|条|瓶|包|盒|袋|支|岁|天|周"
    "|年|月|小时|分钟|秒|度|人|层|核|平米|平|匹|码|号|位|代|倍|折|种|款|集|页|次"
    "|公里|里(?![面边头])|字|步|吨|亩|卡|粉|户|辆"
)
_UNIT_NEG = rf"(?!\s*(?:{_UNITS_LATIN}){_RB}|\s*(?:%|\"|'|″|”|°|º|{_UNITS_CN}))"

_CUR_PRE = rf"(?:us\$|\$|€|£|¥|人民币|{_LB}(?:usd|eur|rmb|cny|mxn)(?![A-Za-z]))"
_CUR_POST = (
    rf"(?:us\$|\$|€|£|¥|块钱|块|元|圆|人民币|美元|欧元"
    rf"|(?:euros?|eur|usd|us\s?dollars?|dollars?|d[oó]lares|d[oó]lar|bucks|pesos|rmb|cny|yuan|mxn){_RB})"
)


def _amount(name: str, *, cn: bool, lb: bool = True) -> str:
    """An amount with optional currency before/after; groups `name` (the number), `name`p, `name`s."""
    num = f"{_NUM_AR}{_MULT_CN if cn else _MULT_LATIN}"
    if cn:
        num = f"(?:{num}|{_CN_NUM})"
    pre = rf"(?:(?P<{name}p>{_CUR_PRE})\s*|{_NUMLB})" if lb else rf"(?:(?P<{name}p>{_CUR_PRE})\s*)?"
    return rf"{pre}(?P<{name}>{num}){_UNIT_NEG}(?:\s*(?P<{name}s>{_CUR_POST}))?"


_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}
_MULTS = {"百": 100.0, "千": 1000.0, "万": 10000.0, "k": 1000.0, "K": 1000.0}


def _cn_number(s: str) -> float | None:
    total = section = 0
    digit: int | None = None
    last_unit = 1
    for ch in s:
        if ch in _CN_DIGITS:
            if digit is not None:  # "一二" is a digit list, not an amount
                return None
            value = _CN_DIGITS[ch]
            if value == 0:
                last_unit = 1  # "一千零五": what follows a zero counts in ones
            else:
                digit = value
        elif ch == "万":
            section += digit or 0
            total += (section or 1) * 10000
            section, digit, last_unit = 0, None, 10000
        else:
            unit = _CN_UNITS[ch]
            section += (1 if digit is None else digit) * unit
            digit, last_unit = None, unit
    if digit is not None:
        # A digit right after a unit is the next lower unit, as spoken: 三千五 is 3500, 两万五 25000.
        section += digit * (last_unit // 10 if last_unit >= 10 else 1)
    return float(total + section)


def _number(s: str) -> float | None:
    if not s[0].isascii():
        return _cn_number(s)
    mult = _MULTS.get(s[-1], 1.0)
    if mult != 1.0:
        s = s[:-1]
    dot, comma = s.rfind("."), s.rfind(",")
    if dot >= 0 and comma >= 0:
        cut = max(dot, comma)
        whole, frac = s[:cut].replace(",", "").replace(".", ""), s[cut + 1 :]
    elif dot >= 0 or comma >= 0:
        cut = max(dot, comma)
        if len(s) - cut - 1 == 3:  # three digits after the mark: thousands ("1,299", "1.299")
            whole, frac = s.replace(",", "").replace(".", ""), ""
        else:
            whole, frac = s[:cut].replace(",", "").replace(".", ""), s[cut + 1 :]
    else:
        whole, frac = s, ""
    value = float(f"{whole}.{frac}" if frac else whole) * mult
    return value if math.isfinite(value) else None  # 400 digits read as inf: no amount


def _is_latin(ch: str) -> bool:
    return (ch.isascii() and ch.isalnum()) or "\u00c0" <= ch <= "\u024f"


def _before_spaces(s: str, i: int) -> int:
    """Offset i moved back over the whitespace that ends there."""
    while i > 0 and s[i - 1].isspace():
        i -= 1
    return i


def _prev_word(s: str, i: int) -> str:
    """The Latin word before offset i, lowercased, skipping whitespace ("" when there is none)."""
    j = _before_spaces(s, i)
    k = j
    while k > 0 and _is_latin(s[k - 1]):
        k -= 1
    return s[k:j].lower()


# Ideographs and kana: a range glued to or next to them is in Chinese (or Japanese) wording.
_CJK_CHAR = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def _next_char(s: str, i: int) -> str:
    """The first non-space character at or after offset i ("" at the end)."""
    while i < len(s) and s[i].isspace():
        i += 1
    return s[i] if i < len(s) else ""


def _prev_char(s: str, i: int) -> str:
    """The last non-space character before offset i ("" at the start)."""
    j = _before_spaces(s, i)
    return s[j - 1] if j > 0 else ""


def _has_currency(m: re.Match[str], *names: str) -> bool:
    return any(m.group(n + "p") is not None or m.group(n + "s") is not None for n in names)
