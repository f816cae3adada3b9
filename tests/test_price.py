"""Price wording in queries (text/price/): the ranges it gives, the text it leaves, its spans."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings, strategies as st

from helpers import check_price_spans
from shopsearch.text.price import PriceParse, PriceRange, parse_price

# (query, text left, filter); every wording the module docstring lists appears at least once.
EXAMPLES = [
    # English
    ("under 30", "", {"lt": 30}),
    ("under $30", "", {"lt": 30}),
    ("usb-c charger under $30", "usb-c charger", {"lt": 30}),
    ("laptop bag under 30", "laptop bag", {"lt": 30}),
    ("less than 50 euros", "", {"lt": 50}),
    ("below 100", "", {"lt": 100}),
    ("cheap laptop below 100", "laptop", {"lt": 100}),
    ("cheaper than 20", "", {"lt": 20}),
    ("lower than 20 dollars", "", {"lt": 20}),
    ("laptop < 500", "laptop", {"lt": 500}),
    ("max 80", "", {"lte": 80}),
    ("maximum 80 usd", "", {"lte": 80}),
    ("up to 50", "", {"lte": 50}),
    ("at most 50", "", {"lte": 50}),
    ("no more than 50 bucks", "", {"lte": 50}),
    ("budget 500", "", {"lte": 500}),
    ("laptop <= 500", "laptop", {"lte": 500}),
    ("$30 or less", "", {"lte": 30}),
    ("$30 and under gifts", "gifts", {"lte": 30}),
    ("over 200", "", {"gt": 200}),
    ("more than 200", "", {"gt": 200}),
    ("above 20", "", {"gt": 20}),
    ("over-ear headphones under 100", "over-ear headphones", {"lt": 100}),
    ("at least 20", "", {"gte": 20}),
    ("min 20", "", {"gte": 20}),
    ("minimum 20 maximum 50", "", {"gte": 20, "lte": 50}),
    ("from $20", "", {"gte": 20}),
    ("$100 and up", "", {"gte": 100}),
    ("$100+", "", {"gte": 100}),
    ("≥ 20", "", {"gte": 20}),
    ("between 20 and 40", "", {"gte": 20, "lte": 40}),
    ("between 40 and 20", "", {"gte": 20, "lte": 40}),
    ("between $20 and $40", "", {"gte": 20, "lte": 40}),
    ("20-40", "", {"gte": 20, "lte": 40}),
    ("20 - 40 dollars", "", {"gte": 20, "lte": 40}),
    ("$20 to $40", "", {"gte": 20, "lte": 40}),
    ("$20-$40 mouse", "mouse", {"gte": 20, "lte": 40}),
    ("from 20 to 40", "", {"gte": 20, "lte": 40}),
    ("price 20 to 40", "", {"gte": 20, "lte": 40}),
    ("price: 20-40", "", {"gte": 20, "lte": 40}),
    ("around 300", "", {"gte": 240, "lte": 360}),
    ("about 300", "", {"gte": 240, "lte": 360}),
    ("phone for about $300", "phone", {"gte": 240, "lte": 360}),
    ("price 500", "", {"gte": 400, "lte": 600}),
    ("gifts for under 30", "gifts", {"lt": 30}),
    ("budget laptop under 500", "laptop", {"lt": 500}),
    ("very cheap shoes under 20", "shoes", {"lt": 20}),
    ("cheapest tv under 500", "cheapest tv", {"lt": 500}),
    ("tv 55 inch under 500", "tv 55 inch", {"lt": 500}),
    ("4k tv under 500", "4k tv", {"lt": 500}),
    ("2-pack under 30", "2-pack", {"lt": 30}),
    ("iphone 15 pro max under $1,200", "iphone 15 pro max", {"lt": 1200}),
    ("under 2k", "", {"lt": 2000}),
    ("UNDER $30", "", {"lt": 30}),
    ("kids under $5", "kids", {"lt": 5}),
    ("over 20 under 50", "", {"gt": 20, "lt": 50}),
    ("at least 20 and at most 50", "", {"gte": 20, "lte": 50}),
    ("over 20, under 50 shoes", "shoes", {"gt": 20, "lt": 50}),
    ("over 50 under 20", "", {"gt": 50}),  # contradiction: the first stated wins
    ("under 30 under 20", "", {"lt": 20}),
    # Decimals and thousands separators
    ("under 29.99", "", {"lt": 29.99}),
    ("menos de 29,99 €", "", {"lt": 29.99}),
    ("under 1,299", "", {"lt": 1299}),
    ("under 1.299€", "", {"lt": 1299}),
    ("under $1,299.99", "", {"lt": 1299.99}),
    ("hasta 1.299,99 euros", "", {"lte": 1299.99}),
    # Spanish
    ("menos de 50 euros", "", {"lt": 50}),
    ("Menos De 50", "", {"lt": 50}),
    ("zapatillas running menos de 50 euros", "zapatillas running", {"lt": 50}),
    ("por debajo de 50€", "", {"lt": 50}),
    ("más barato que 50", "", {"lt": 50}),
    ("hasta 80", "", {"lte": 80}),
    ("máximo 80", "", {"lte": 80}),
    ("no más de 80 pesos", "", {"lte": 80}),
    ("30€ o menos", "", {"lte": 30}),
    ("más de 200", "", {"gt": 200}),
    ("mas de 200", "", {"gt": 200}),
    ("más caro que 50", "", {"gt": 50}),
    ("mínimo 20", "", {"gte": 20}),
    ("al menos 20 euros", "", {"gte": 20}),
    ("a partir de 20 euros", "", {"gte": 20}),
    ("desde 20€", "", {"gte": 20}),
    ("100€ o más", "", {"gte": 100}),
    ("entre 20 y 40 euros", "", {"gte": 20, "lte": 40}),
    ("de 20 a 40", "", {"gte": 20, "lte": 40}),
    ("desde 20 hasta 40 euros", "", {"gte": 20, "lte": 40}),
    ("alrededor de 300", "", {"gte": 240, "lte": 360}),
    ("en torno a 300", "", {"gte": 240, "lte": 360}),
    ("más o menos 300", "", {"gte": 240, "lte": 360}),
    ("sobre 300€", "", {"gte": 240, "lte": 360}),
    ("unos 300 euros", "", {"gte": 240, "lte": 360}),
    ("precio menos de 50", "", {"lt": 50}),
    ("zapatillas muy baratas menos de 30 euros", "zapatillas", {"lt": 30}),
    ("lo más barato menos de 50", "lo más barato", {"lt": 50}),
    # Chinese
    ("500元以下", "", {"lte": 500}),
    ("500以内", "", {"lte": 500}),
    ("500 元 以下", "", {"lte": 500}),
    ("不超过500块", "", {"lte": 500}),
    ("预算500", "", {"lte": 500}),
    ("低于500", "", {"lt": 500}),
    ("不到500元", "", {"lt": 500}),
    ("500元不到", "", {"lt": 500}),
    ("500元以上", "", {"gte": 500}),
    ("200元起", "", {"gte": 200}),
    ("200元起步", "", {"gte": 200}),
    ("高于200", "", {"gt": 200}),
    ("超过200", "", {"gt": 200}),
    ("价格30到60元", "", {"gte": 30, "lte": 60}),
    ("价格：30-60元", "", {"gte": 30, "lte": 60}),
    ("30-60元", "", {"gte": 30, "lte": 60}),
    ("30至60元", "", {"gte": 30, "lte": 60}),
    ("30~60元", "", {"gte": 30, "lte": 60}),
    ("30～60元", "", {"gte": 30, "lte": 60}),
    ("手机 1000-2000元", "手机", {"gte": 1000, "lte": 2000}),
    ("价格在30到60元之间的耳机", "耳机", {"gte": 30, "lte": 60}),
    ("500元左右", "", {"gte": 400, "lte": 600}),
    ("耳机 500元左右", "耳机", {"gte": 400, "lte": 600}),
    ("500块左右", "", {"gte": 400, "lte": 600}),
    ("预算500元左右", "", {"gte": 400, "lte": 600}),
    ("价位1000左右", "", {"gte": 800, "lte": 1200}),
    ("价格500", "", {"gte": 400, "lte": 600}),
    ("500元以下的耳机", "耳机", {"lte": 500}),
    ("耳机500元以下蓝牙", "耳机 蓝牙", {"lte": 500}),
    ("三星手机 3000元以内", "三星手机", {"lte": 3000}),
    ("500元以上、1000元以下的手机", "手机", {"gte": 500, "lte": 1000}),
    ("便宜耳机 100元以下", "耳机", {"lte": 100}),
    ("最便宜的耳机 100元以下", "最便宜的耳机", {"lte": 100}),
    # Chinese numerals and multipliers; full-width digits and currency
    ("五百元以下", "", {"lte": 500}),
    ("两千左右", "", {"gte": 1600, "lte": 2400}),
    ("三千五以内", "", {"lte": 3500}),
    ("一千元以下的手机", "手机", {"lte": 1000}),
    ("两千到三千元", "", {"gte": 2000, "lte": 3000}),
    ("1.5万以内", "", {"lte": 15000}),
    ("５００元以下", "", {"lte": 500}),
    ("耳机 ５００元左右", "耳机", {"gte": 400, "lte": 600}),
    ("低于￥500", "", {"lt": 500}),
    ("低于¥500", "", {"lt": 500}),
    ("500rmb以下", "", {"lte": 500}),
    ("RMB 500以内", "", {"lte": 500}),
    ("ｕｎｄｅｒ　３０ ｂａｇ", "ｂａｇ", {"lt": 30}),
    ("under ＄30", "", {"lt": 30}),
    # Chinese wording seen in web queries (QBQTC), and magnitude units that a range's second number carries
    ("2000以内的智能手机推荐", "智能手机推荐", {"lte": 2000}),
    ("价格2500电脑配置", "电脑配置", {"gte": 2000, "lte": 3000}),
    ("东风风神4万以内", "东风风神", {"lte": 40000}),
    ("2016年插电车有8万左右的吗", "2016年插电车有 吗", {"gte": 64000, "lte": 96000}),
    ("裸车价格5-6万的车哪个最好", "裸车 车哪个最好", {"gte": 50000, "lte": 60000}),
    ("女性开100-150万之间什么车子好", "女性开 什么车子好", {"gte": 1000000, "lte": 1500000}),
    ("5-6万", "", {"gte": 50000, "lte": 60000}),
    ("100-150万", "", {"gte": 1000000, "lte": 1500000}),
    ("2-3千元", "", {"gte": 2000, "lte": 3000}),
    ("5万-6万的车", "车", {"gte": 50000, "lte": 60000}),
    ("1.5-2万", "", {"gte": 15000, "lte": 20000}),
    ("500-1万", "", {"gte": 500, "lte": 10000}),  # 500 is already whole: 5,000,000 would pass 10,000
    ("从5到6万", "", {"gte": 50000, "lte": 60000}),
    ("从500到1000元", "", {"gte": 500, "lte": 1000}),
    ("两千-三千", "", {"gte": 2000, "lte": 3000}),
    ("耳机100-200元", "耳机", {"gte": 100, "lte": 200}),
    # "about" words that begin a word (jieba) are "about"
    ("手机约2000", "手机", {"gte": 1600, "lte": 2400}),
    ("约500元", "", {"gte": 400, "lte": 600}),
    ("价格约500", "", {"gte": 400, "lte": 600}),
    ("大约500的耳机", "耳机", {"gte": 400, "lte": 600}),
    ("差不多300的耳机", "耳机", {"gte": 240, "lte": 360}),
    # Bare ranges between Latin words, or alone, stay prices
    ("headphones 20-40", "headphones", {"gte": 20, "lte": 40}),
    ("耳机 sony 20-40", "耳机 sony", {"gte": 20, "lte": 40}),
    ("1000-20000", "", {"gte": 1000, "lte": 20000}),
    ("0-50", "", {"gte": 0, "lte": 50}),
]

NEGATIVES = [
    "rtx 2060",
    "iphone 15 pro",
    "iphone 15 pro max 256",
    "air max 90",
    "dv7-1211ea",
    "350ml bottle",
    "3.5mm jack",
    "usb 3.0 hub",
    "usb 3.0-3.1",
    "2 tb disk",
    "2-pack",
    "500",
    "29.99",
    "29,99€",
    "$30 case",
    "耳机 500元",
    "20 to 40",
    "40-20",
    "2019-2020",
    "size 38-40",
    "talla 38-40",
    "30 - 40 - 50",
    "kids under 5",
    "women over 50",
    "up to 30 hours",
    "up to 50% off",
    "de 2 a 4 años",
    "sobre 300",
    "cerca de 300",
    "unos 300",
    "30 or less",
    "3 and up",
    "200起",
    "1000到2000",
    "rtx 2060以上",
    "低于500毫升",
    "一次性手套",
    "超过三千五百毫升",
    "2块电池",
    "cheap",
    "barato",
    "便宜",
    "cheap laptop",
    "wireless headphones",
    # Phone numbers and codes: a leading zero, 7+ digits, or B two or more digits longer than A (5+)
    "0371-69575856",
    "0755-66607001",
    "010-52262798",
    "029-68803975",
    "0000-1129",
    "371-69575856",
    "100-15000",
    "jjg交通093-2009",
    # Bare ranges in Chinese wording: levels, episodes, seasons, sizes, focal lengths
    "佳能镜头18-135",
    "开心消消乐16-30关四星关卡",
    "小女霓裳电视剧免费1-45",
    "奇迹暖暖少女级7-8",
    "破云广播剧1-3季百度网盘",
    "配合比中1-2石子能和1-3石子互换吗",
    "诗佳1-2作者chjsh031096",
    "耳机 20-40",
    "16-30之间",
    "28-622(700x28c)自行车外胎",
    "1-2万字",
    "3-5万公里",
    "从0到1开公司",
    # Maths
    "2mn4m^2-9与2m-32m+3怎么通分",
    "m^2-9 factor",
    "x = 2-9",
    "10以内加法练习在线",
    "20以内的加减法",
    # An "about" word that is the tail of another word
    "纽约39大道飞达饼屋",
    "预约300元",
    "签约500",
    # Readings of a measured quantity, and more units
    "血糖超过11如何降糖",
    "我国面积大于30万的省份",
    "身高180以上",
    "设置数值不能超过100",
    "柜子宽40以内",
    "不超过500字",
    "时速不超过30里",
]


def _as_filter(query: str) -> dict[str, float] | None:
    parsed = parse_price(query)
    return None if parsed.price is None else parsed.price.as_filter()


@pytest.mark.parametrize("query, text, bounds", EXAMPLES)
def test_examples(query, text, bounds):
    parsed = parse_price(query)
    assert parsed.price is not None, query
    assert parsed.price.as_filter() == pytest.approx(bounds), query
    assert parsed.text == text, query
    _check_spans(query, parsed)


@pytest.mark.parametrize("query", NEGATIVES)
def test_negatives_are_left_alone(query):
    assert parse_price(query) == PriceParse(query, None, ())


def test_spans_index_the_original_query():
    query = "耳机 ５００元左右 蓝牙"
    parsed = parse_price(query)
    assert parsed.spans == ((3, 9),)
    assert query[3:9] == "５００元左右"
    assert parse_price("cheap laptop below 100").spans == ((0, 5), (13, 22))


def test_around_tolerance_is_a_parameter():
    assert _bounds(parse_price("500元左右", around=0.1)) == {"gte": 450, "lte": 550}
    assert _bounds(parse_price("around 300", around=0)) == {"gte": 300, "lte": 300}
    assert _bounds(parse_price("around 300", around=2)) == {"gte": 0, "lte": 900}  # clamped at 0
    with pytest.raises(ValueError):
        parse_price("around 300", around=-0.1)
    with pytest.raises(ValueError):
        parse_price("around 300", around=float("nan"))


def test_price_range_accessors():
    r = PriceRange(gt=20.0, lte=50.0)
    assert r.as_filter() == {"gt": 20.0, "lte": 50.0}
    assert (r.low, r.high) == (20.0, 50.0)
    assert PriceRange(gte=1.0, lt=2.0).as_filter() == {"gte": 1.0, "lt": 2.0}
    assert (PriceRange().low, PriceRange().high, PriceRange().as_filter()) == (None, None, {})


def test_no_price_text_is_tidied():
    assert parse_price("  rtx   2060 ") == PriceParse("rtx 2060", None, ())
    assert parse_price("  wireless\theadphones ") == PriceParse("wireless headphones", None, ())


def test_long_queries_take_linear_time():
    # Nested optional runs (numerals, whitespace, separators) must not backtrack through every split.
    for query in ["一百" * 4000, "五" * 5000 + "元以下", " ".join(["1"] * 5000), "-".join(["12"] * 3000),
                  "under" + " " * 5000 + "30", "20" + " " * 3000 + "-" + " " * 3000 + "x"]:
        start = time.perf_counter()
        parse_price(query)
        assert time.perf_counter() - start < 1.0, query[:20]


def _bounds(parsed: PriceParse) -> dict[str, float]:
    assert parsed.price is not None
    return parsed.price.as_filter()


def _check_spans(query: str, parsed: PriceParse) -> None:
    check_price_spans(query, parsed)
    for start, end in parsed.spans:
        assert query[start:end] == query[start:end].strip(), parsed.spans  # no stray whitespace removed
    if parsed.price is not None:
        low, high = parsed.price.low, parsed.price.high
        assert not (parsed.price.gte is not None and parsed.price.gt is not None)
        assert not (parsed.price.lte is not None and parsed.price.lt is not None)
        if low is not None and high is not None:
            assert low <= high
            if low == high:
                assert parsed.price.gte is not None and parsed.price.lte is not None  # not empty


# -- property tests ---------------------------------------------------------------------------------

# Words that are not price wording, units, or words that change how a number next to them reads.
LATIN_WORDS = [
    "laptop", "bag", "black", "usb-c", "charger", "headphones", "wireless", "rtx", "2060", "iphone", "15",
    "dv7-1211ea", "350ml", "bottle", "zapatillas", "negras", "mochila", "running", "4k", "tv", "hdmi", "cable",
    "3.5mm", "jack", "samsung", "galaxy", "s23", "2-pack", "usb", "3.0", "gaming", "mouse", "keyboard", "red",
]
CN_WORDS = ["耳机", "蓝牙", "手机壳", "运动鞋", "充电宝", "华为", "小米", "键盘", "无线", "三星"]
CONSONANTS = "bcdfghjklmnpqrstvwxz"

plain_numbers = st.one_of(
    st.integers(0, 99999).map(str),
    st.builds(lambda a, b: f"{a}.{b:02d}", st.integers(0, 9999), st.integers(0, 99)),
    st.builds(lambda a, b: f"{a},{b:03d}", st.integers(1, 999), st.integers(0, 999)),
)
model_codes = st.builds(
    lambda a, n, b: f"{a}{n}{b}", st.text(CONSONANTS, min_size=1, max_size=3), st.integers(0, 9999),
    st.text(CONSONANTS, max_size=2),
)
safe_token = st.one_of(
    st.sampled_from(LATIN_WORDS + CN_WORDS),
    st.text(CONSONANTS, min_size=2, max_size=8),  # no vowels: never an English or Spanish price word
    plain_numbers,
    model_codes,
)
safe_query = st.lists(safe_token, min_size=1, max_size=8).map(" ".join)


def _amount(n: int) -> st.SearchStrategy[str]:
    return st.sampled_from([f"{n}", f"${n}", f"{n} euros", f"{n}€", f"{n} dollars"])


latin_phrase = st.one_of(
    st.builds(lambda op, a: f"{op} {a}",
              st.sampled_from(["under", "below", "less than", "over", "more than", "above", "up to", "at most",
                               "at least", "max", "min", "around", "about", "menos de", "más de", "hasta",
                               "máximo", "mínimo", "alrededor de", "por debajo de"]),
              st.integers(1, 5000).flatmap(_amount)),
    st.builds(lambda a, b: f"between {a} and {b}", st.integers(1, 500), st.integers(501, 5000)),
    st.builds(lambda a, b: f"entre {a} y {b} euros", st.integers(1, 500), st.integers(501, 5000)),
    st.builds(lambda a, b: f"from ${a} to ${b}", st.integers(1, 500), st.integers(501, 5000)),
    st.builds(lambda a, b: f"{a}-{b}", st.integers(1, 500), st.integers(501, 5000)),
    st.builds(lambda a: f"${a} or less", st.integers(1, 5000)),
)
cn_phrase = st.one_of(
    st.builds(lambda a, cur, op: f"{a}{cur}{op}", st.integers(1, 5000), st.sampled_from(["元", "块", ""]),
              st.sampled_from(["以下", "以内", "以上", "左右"])),
    st.builds(lambda op, a, cur: f"{op}{a}{cur}", st.sampled_from(["不超过", "低于", "高于", "超过", "预算"]),
              st.integers(1, 5000), st.sampled_from(["元", "块", ""])),
    st.builds(lambda a, b: f"价格{a}到{b}元", st.integers(1, 500), st.integers(501, 5000)),
    st.builds(lambda a, b: f"{a}-{b}元", st.integers(1, 500), st.integers(501, 5000)),
)
# "rtx 20-40" reads as a model range, by design, so "rtx" does not go right before a phrase.
latin_words = st.lists(st.sampled_from([w for w in LATIN_WORDS if w != "rtx"]), min_size=1, max_size=4)
cn_words = st.lists(st.sampled_from(CN_WORDS), min_size=1, max_size=3)
combo = st.one_of(
    st.tuples(latin_words, latin_phrase, st.booleans()),
    st.tuples(cn_words, cn_phrase, st.booleans()),
)
# Anything: phrases and words in any order and number, full-width forms, and arbitrary text.
anything = st.one_of(
    st.lists(st.one_of(safe_token, latin_phrase, cn_phrase, st.sampled_from(["cheap", "barato", "便宜", "and", "y"])),
             max_size=8).map(" ".join),
    st.lists(st.one_of(latin_phrase, cn_phrase), min_size=1, max_size=3).map(
        lambda ps: " ".join(ps).translate({c: c + 0xFEE0 for c in range(0x21, 0x7F)})),
    st.text(max_size=40),
    st.text(alphabet="0123456789 .,-~$€元以下上左右到至不超过低于 undermaxinbtwe", max_size=30),
)
PROPERTY = settings(max_examples=200, deadline=None)


@PROPERTY
@given(safe_query)
def test_queries_without_price_wording_are_unchanged(query):
    assert parse_price(query) == PriceParse(query, None, ())


@PROPERTY
@given(anything)
def test_ranges_are_never_empty(query):
    parsed = parse_price(query)
    if parsed.price is not None:
        low, high = parsed.price.low, parsed.price.high
        assert low is not None or high is not None
        if low is not None and high is not None:
            assert low <= high
            if low == high:
                assert parsed.price.gte is not None and parsed.price.lte is not None


@PROPERTY
@given(combo)
def test_removing_the_price_keeps_the_other_words(case):
    words, phrase, phrase_first = case
    query = " ".join([phrase, *words] if phrase_first else [*words, phrase])
    parsed = parse_price(query)
    assert parsed.price is not None, query
    assert parsed.text == " ".join(words), query


@PROPERTY
@given(anything)
def test_spans_are_sorted_disjoint_and_give_the_text(query):
    _check_spans(query, parse_price(query))
