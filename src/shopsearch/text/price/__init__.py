"""Price wording in a shopper's query, turned into a price range and cut out of the searched text.

``parse_price("usb-c charger under $30")`` gives text ``"usb-c charger"``, price ``lt 30`` and
the character span of ``"under $30"``. Amounts are in the catalogue's currency: currency marks
are recognised so that they are removed with the amount, never converted.

Wording accepted (case-insensitive; full-width forms such as "５００元" or "＄" read as their ASCII
counterparts; A and B are amounts)
  English   lt:  under A, below A, less than A, lower than A, cheaper than A, < A
            lte: up to A, at most A, no/not more than A, max A, maximum A, budget (of) A, <= A,
                 A or less / or under / or below / and under / and below, A max
            gt:  over A, above A, more than A, greater/higher than A, more expensive than A, > A
            gte: at least A, no/not less than A, min A, minimum A, starting at/from A, from A,
                 >= A, A or more / and up / and above / and over, A+
            around: around A, about A, approx(imately) A, roughly A, circa A, price A
            range:  between A and B, from A to B, A-B, A~B, A to B
  Spanish   lt:  menos de/que A, por debajo de A, inferior a A, menor de/que/a A, más barato que A
            lte: hasta A, máximo A, máx A, como máximo A, no más de A, presupuesto (de) A,
                 A o menos, A como máximo / como mucho / máximo
            gt:  más de/que A (also "mas"), por encima de A, superior a A, mayor de/que/a A,
                 más caro que A
            gte: mínimo A, mín A, como mínimo A, al menos A, a partir de A, desde A,
                 A o más, A como mínimo / mínimo
            around: alrededor de A, aproximadamente A, aprox A, en torno a A, más o menos A,
                 cerca de A, unos/unas A, sobre A, precio A
            range:  entre A y B, de A a B, desde A hasta B
  Chinese   lte: A以下, A以内, A之内, A之下, 不超过A, 不高于A, 不大于A, 不多于A, 最多A, 至多A, 预算A
            lt:  低于A, 少于A, 小于A, 不到A, 不足A, A不到
            gt:  高于A, 超过A, 大于A, 多于A
            gte: A以上, A之上, 不低于A, 不少于A, 不小于A, 至少A, 最少A, 起码A, A起 / A起步 / A起售
            around: A左右, A上下, 大约A, 大概A, 约A, 差不多A, 价格A (also 价位, 价钱, 售价, 单价)
            range:  A到B, A至B, A-B, A~B, 从A到B, optionally followed by 之间 / 区间 / 范围 / 左右
  A price word before the constraint is part of it: "price under 30", "budget between 20 and 40",
  "precio menos de 50", "价格在30到60元之间", "预算500元左右"; so is "for"/"por" right before it
  ("gifts for under 30" -> "gifts"), and "的" right after a Chinese one ("500元以下的耳机" -> "耳机").

Amounts: 29.99, 29,99 (a comma or dot followed by one or two digits is a decimal point), 1,299 and
1.299 (followed by exactly three digits: a thousands separator, so "1.299" is 1299), 1,299.99,
1.299,99; 2k (after English/Spanish wording: 2000); 1.5万, 2千, 5百; Chinese numerals with a unit
character (五百, 两千, 三千五 = 3500, 一万), which keeps lone 一/三 (as in 一次性, 三星) from ever being
amounts. Currency marks, before or after the amount: $ US$ € £ ¥ ￥ usd eur rmb cny mxn euro(s)
dollar(s) dólar(es) bucks pesos yuan 元 块 块钱 圆 人民币 美元 欧元.

Choices
- Bounds: wording that excludes the amount ("under", "less than", "below", "menos de", "低于",
  "more than", "over", "más de", "高于", "超过") gives lt/gt; wording that includes it ("max",
  "up to", "hasta", "以内", "以下", "不超过", "at least", "min", "以上", "起"), ranges and
  "around" give lte/gte.
- "around A" is A ± `around` × A, inclusive, the lower end clamped at 0 ("500元左右" -> 400..600).
  So is a bare price word with an amount ("price 500", "precio 50", "价格500"); "budget 500" and
  "预算500" are a ceiling (lte) instead, as a budget is what one may spend at most.
- Not prices: a bare number ("500", "rtx 2060"); a number glued to letters or inside a code
  ("dv7-1211ea", "iphone15"); a number followed by a unit ("350ml", "3.5mm", "2 tb", "up to 30
  hours", "50%", "5寸", "3岁", "500字", "30里", "3万公里"); an amount with currency but no
  constraint wording ("$30 case", "耳机 500元": a stated price of a product such as a gift card is
  not a price filter). These queries come back with price None and text unchanged.
- A bare range "A-B" / "A~B" (no currency, no range or price word) must be two whole numbers with
  A < B, not both years 1900..2100 ("2019-2020"), and not follow a word that makes it a size,
  age or model ("size 38-40", "ages 3-5", "rtx 2060-3070"). Nor may it look like a phone number
  or code: a leading zero ("0371-69575856", "jjg 093-2009"), a run of 7+ digits, or B of 5+
  digits with two or more digits more than A ("371-69575856", "100-15000"; "1000-20000" stays a
  range; numbers written with separators, "1,000-100,000", are money and exempt). Nor maths: "^",
  "=", "+", "*", "×", "÷" right before or after it ("m^2-9", "x = 2-9"). In Chinese wording it
  also needs a magnitude unit (万/千/百) on A or B ("5-6万的车"): Chinese queries write levels,
  episodes, seasons, sizes and focal lengths as bare ranges ("佳能镜头18-135", "16-30关",
  "免费1-45"). Chinese wording: the nearest character past spaces on either side is CJK, or the
  match holds CJK ("16-30之间"), or neither side is next to a Latin letter and the query has CJK
  ("28-622(700x28c)自行车外胎"); "headphones 20-40", "耳机 sony 20-40" and "20-40" keep reading as
  prices. "A to B", "A到B" and "A至B" need a currency mark or a price word ("$20 to $40",
  "价格30到60"): "2 to 4", "2到4" are too often counts; so does "从A到B" ("从0到1"), unless A or B
  has a magnitude unit ("从5到6万"). Ranges with currency or range words are reordered when A > B
  ("between 40 and 20").
- A magnitude unit written after B only applies to A too: "5-6万" is 50000..60000, "100-150万"
  1000000..1500000, "2-3千元" 2000..3000; not where that would put A above B ("500-1万" is
  500..10000).
- A Chinese "about" word (约, 大约, 大概, 差不多) counts only where it begins a word in jieba's
  segmentation of the CJK run before it: "纽约39" (New York), "预约300元" (booking) and "签约500"
  are not "about"; "手机约2000" is. A price word before it ("价格约500") skips the check; jieba is
  loaded only for a query that has such a word before an amount.
- Chinese constraint wording with neither currency nor price word is a reading, not a price, after
  the name of a measured quantity ("血糖超过11", "面积大于30万", "身高180以上", "宽40以内",
  "数值不能超过100"; optionally a modal such as 不能/要/在 between) or before arithmetic ("10以内加法",
  "20以内的加减法", "100以内的质数").
- Ambiguous words need a currency mark on the amount: "sobre", "unos"/"unas", "cerca de" (also
  "envelope", "some", "near"), "from A" and "desde A" alone (also years, distances), the suffixes
  "A max"/"A máximo"/"A min"/"A mínimo"/"A+"/"A or more"/"A and up"/"A o más"/"A o menos"/"A or
  less" ("3 and up" is an age) and "A起" ("起" is too common a character).
- "under"/"over"/"more than"/"less than" and the like after a word for people or animals
  ("kids under 5", "women over 50") are ages, unless the amount has a currency mark. "max" after
  "pro", "air", "ultra", "plus", "note" names a model ("iphone 15 pro max 256", "air max 90")
  unless the amount has a currency mark. A Chinese suffix form with neither currency nor price
  word after a Latin word ("rtx 2060以上") is a model floor, not a price.
- Cheapness words ("cheap", "cheaper", "affordable", "inexpensive", "budget", "low-cost",
  "low-priced", "barato/a(s)", "económico/a(s)", "便宜", "平价", with "very"/"super"/"muy" before
  them) are removed with a constraint anywhere in the query ("cheap laptop below 100" -> "laptop")
  and left in the text when the query has no constraint: on their own they are the only hint the
  searcher has. Superlatives ("cheapest", "más barato", "最便宜") are always left in: they ask for
  an order, which a range cannot express.
- Several constraints are intersected in the order written ("over 20 under 50" -> gt 20, lt 50);
  one that would leave the range empty ("over 50 under 20") is dropped, the first one stated wins.
  Its wording is still removed from the text, and so is a word joining two constraints ("and",
  "y", "but", "pero", ",", "、", "和": "at least 20 and at most 50" -> ""). The result always has
  low <= high and is non-empty.
- "块" is also a measure word ("2块电池"); it counts as currency only where price wording comes
  before or after the amount ("不超过500块", "500块左右").
- Removed wording is replaced by a space, then whitespace is tidied (runs of whitespace become one
  space, ends stripped): "耳机500元以下蓝牙" -> "耳机 蓝牙", never a glued new word. A query with
  no price comes back tidied the same way (so unchanged when it was tidy already).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .amounts import _FOLD, _LB, _RB, _TRIGGER
from .bounds import _Bounds
from .chinese import _CN_ALONE_RE, _CN_OP_RE, _CN_SUFFIX_RE, _cn_alone_rule, _cn_op_rule, _cn_suffix_rule
from .english_spanish import _OP_RE, _SUFFIX_RE, _op_rule, _suffix_rule
from .ranges import _RANGE_RE, _range_rule

__all__ = ["PriceParse", "PriceRange", "parse_price"]


@dataclass(frozen=True)
class PriceRange:
    gte: float | None = None  # inclusive lower bound
    gt: float | None = None  # exclusive lower bound
    lte: float | None = None  # inclusive upper bound
    lt: float | None = None  # exclusive upper bound

    def as_filter(self) -> dict[str, float]:
        """The bounds that are set, e.g. {"gte": 400.0, "lte": 600.0}."""
        out: dict[str, float] = {}
        if self.gte is not None:
            out["gte"] = self.gte
        if self.gt is not None:
            out["gt"] = self.gt
        if self.lte is not None:
            out["lte"] = self.lte
        if self.lt is not None:
            out["lt"] = self.lt
        return out

    @property
    def low(self) -> float | None:
        return self.gte if self.gte is not None else self.gt

    @property
    def high(self) -> float | None:
        return self.lte if self.lte is not None else self.lt


@dataclass(frozen=True)
class PriceParse:
    text: str  # the query with the constraint wording removed, whitespace tidied
    price: PriceRange | None  # None when the query states no price
    spans: tuple[tuple[int, int], ...]  # [start, end) offsets in the original query of what was removed


_CHEAP_RE = re.compile(
    rf"{_LB}(?<!m[aá]s )(?:(?:very|really|super|muy)\s+)?"
    rf"(?:cheap|cheaper|affordable|inexpensive|budget|low[-\s]?cost|low[-\s]?priced|barat[oa]s?|econ[oó]mic[oa]s?){_RB}"
    r"|(?<!最)(?:便宜|平价)(?:一?点|一?些)?的?",
    re.IGNORECASE,
)

_JOINER = re.compile(r"\s*(and|y|e|but|pero|&|,|;|和|且|并且|、)\s*", re.IGNORECASE)


# Each rule runs only when the query holds a character its wording needs (Chinese wording needs
# ideographs; English and Spanish, letters or a comparison sign), which halves the work on one-script queries.
_HAS_CJK = re.compile("[\u4e00-\u9fff]")
_HAS_LATIN = re.compile("[A-Za-z\u00c0-\u024f<>≤≥]")
_RULES = (
    (None, _RANGE_RE, _range_rule),
    (_HAS_LATIN, _OP_RE, _op_rule),
    (None, _SUFFIX_RE, _suffix_rule),
    (_HAS_CJK, _CN_OP_RE, _cn_op_rule),
    (_HAS_CJK, _CN_SUFFIX_RE, _cn_suffix_rule),
    (_HAS_CJK, _CN_ALONE_RE, _cn_alone_rule),
)


def _tidy(s: str) -> str:
    return " ".join(s.split())


def _cut(query: str, spans: list[tuple[int, int]]) -> str:
    parts = []
    pos = 0
    for start, end in spans:
        parts.append(query[pos:start])
        pos = end
    parts.append(query[pos:])
    return _tidy(" ".join(parts))


def parse_price(query: str, around: float = 0.2) -> PriceParse:
    """The price range `query` states, and `query` without the wording that stated it.

    `around` is the relative tolerance of "around X"/"左右" (0.2: X ± 20%). See the module
    docstring for the wording accepted and the choices made.
    """
    if not (around >= 0 and math.isfinite(around)):  # also refuses NaN
        raise ValueError(f"around must be a finite number >= 0, got {around!r}")
    if _TRIGGER.search(query) is None:
        return PriceParse(_tidy(query), None, ())
    s = query.translate(_FOLD)

    found: list[tuple[int, int, _Bounds]] = []
    for gate, pattern, rule in _RULES:
        if gate is not None and gate.search(s) is None:
            continue
        pos = 0
        while (m := pattern.search(s, pos)) is not None:
            bounds = rule(m, s, around)
            if bounds is not None and not all(b is None or math.isfinite(b) for b in (bounds[0], bounds[2])):
                bounds = None  # an amount near the float limit, overflowed by "around" or a magnitude unit
            if bounds is None:
                # Not a price here; a later, shorter reading may still be ("kids under 5 under $30").
                pos = m.start() + 1
            else:
                found.append((m.start(), m.end(), bounds))
                pos = m.end()
    if not found:
        return PriceParse(_tidy(query), None, ())

    # Earliest first, then longest: a range beats the bare op inside it, "price under 30" beats "under 30".
    found.sort(key=lambda c: (c[0], -c[1]))
    spans: list[tuple[int, int]] = []
    lo: float | None = None
    hi: float | None = None
    lo_x = hi_x = False
    for start, end, (c_lo, c_lo_x, c_hi, c_hi_x) in found:
        if spans and start < spans[-1][1]:
            continue
        spans.append((start, end))
        n_lo, n_lo_x, n_hi, n_hi_x = lo, lo_x, hi, hi_x
        if c_lo is not None and (n_lo is None or c_lo > n_lo or (c_lo == n_lo and c_lo_x)):
            n_lo, n_lo_x = c_lo, c_lo_x
        if c_hi is not None and (n_hi is None or c_hi < n_hi or (c_hi == n_hi and c_hi_x)):
            n_hi, n_hi_x = c_hi, c_hi_x
        if n_lo is not None and n_hi is not None and (n_lo > n_hi or (n_lo == n_hi and (n_lo_x or n_hi_x))):
            continue  # contradicts what came before: the first stated wins
        lo, lo_x, hi, hi_x = n_lo, n_lo_x, n_hi, n_hi_x

    # "at least 20 and at most 50": the word joining two constraints goes with them.
    for (_, end), (start, _) in list(zip(spans, spans[1:])):
        if (j := _JOINER.fullmatch(s, end, start)) is not None:
            spans.append(j.span(1))
    spans.sort()
    for m in _CHEAP_RE.finditer(s):
        start, end = m.span()
        if not any(start < e and b < end for b, e in spans):
            spans.append((start, end))
    spans.sort()

    price = PriceRange(
        gte=None if lo is None or lo_x else lo,
        gt=lo if lo is not None and lo_x else None,
        lte=None if hi is None or hi_x else hi,
        lt=hi if hi is not None and hi_x else None,
    )
    return PriceParse(_cut(query, spans), price, tuple(spans))
