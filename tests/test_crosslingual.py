"""Cross-lingual search: languages measured, query words translated into the catalogue's words, offline."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from shopsearch import Engine
from shopsearch.models.base import EmbedderBase
from shopsearch.text.crosslingual import gloss_phrases, nearest_terms, weighted
from shopsearch.text.glossaries import glossary, inverted, parse_cedict
from shopsearch.text.languages import UNDETERMINED, detect, is_function_word, shares

# -- languages ------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, language", [
    ("蓝牙音箱", "zh"), ("brother tn-2110 碳粉", "zh"), ("ノートパソコン", "ja"), ("노트북", "ko"),
    ("funda para portátil", "es"), ("pila AA", UNDETERMINED), ("cámara", "es"), ("case for the laptop", "en"),
    ("laptop bag", UNDETERMINED), ("tn-2110", UNDETERMINED), ("la bolsa de la cámara", "es"),
])
def test_detect(text, language):
    assert detect(text) == language


@given(st.text(max_size=40))
def test_detect_reads_any_text_and_han_means_chinese(text):
    language = detect(text)
    assert language in {"zh", "ja", "ko", "es", "en", UNDETERMINED}
    if any("\u4e00" <= c <= "\u9fff" for c in text) and language not in ("ja", "ko"):
        assert language == "zh"


def test_counts_and_shares():
    texts = ["Wireless mouse for the office", "Ratón inalámbrico para la oficina", "无线鼠标", "XYZ-100"]
    counted = Counter(detect(text) for text in texts)
    assert counted == {"en": 1, "es": 1, "zh": 1, UNDETERMINED: 1}
    assert shares(counted) == pytest.approx({"en": 1 / 3, "es": 1 / 3, "zh": 1 / 3})
    assert is_function_word("para") and is_function_word("The") and not is_function_word("mochila")


# -- the pure translation steps -------------------------------------------------------------------


def unit(rows):
    rows = np.asarray(rows, dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(1, 5), st.floats(-1, 1), st.floats(0, 0.5))
def test_nearest_terms_keeps_the_best_and_those_within_the_margin(seed, limit, threshold, margin):
    rng = np.random.default_rng(seed)
    terms, queries = unit(rng.standard_normal((30, 8))), unit(rng.standard_normal((4, 8)))
    for query, found in zip(queries, nearest_terms(queries, terms, limit, threshold, margin)):
        cosines = terms @ query
        assert len(found) <= limit
        if cosines.max() < threshold:
            assert found == []
            continue
        assert found[0][0] == int(np.argmax(cosines))
        scores = [score for _, score in found]
        assert scores == sorted(scores, reverse=True) and all(s >= scores[0] - margin - 1e-6 for s in scores)
        assert all(abs(cosines[i] - s) < 1e-5 for i, s in found)


def test_gloss_phrases_keep_what_the_catalogue_uses():
    known = {"speaker": 50, "loudspeaker": 3, "box": 400, "sound": 80}.get
    glosses = ["loudspeaker box", "speaker (audio equipment)", "resonating chamber of a musical instrument", "CL:個|个"]
    assert gloss_phrases(glosses, lambda w: known(w) or 0) == {"loudspeaker box": 3, "box": 400, "speaker": 50}
    assert gloss_phrases(["键盘"], lambda w: 7 if w == "键盘" else 0) == {"键盘": 7}


@given(st.dictionaries(st.text("abc", min_size=1, max_size=4), st.integers(1, 10_000), max_size=8), st.integers(1, 4))
def test_weighted_ranks_by_use_from_one_down(counted, limit):
    ranked = weighted(counted, limit)
    assert len(ranked) == min(limit, len(counted))
    if ranked:
        assert ranked[0][1] == 1.0
        weights = [w for _, w in ranked]
        assert weights == sorted(weights, reverse=True) and all(0 < w <= 1 for w in weights)


def test_cedict_lines_and_their_inversion():
    lines = ["# CC-CEDICT", "音箱 音箱 [yin1 xiang1] /loudspeaker box/speaker (audio equipment)/CL:個|个[ge4]/",
             "鍵盤 键盘 [jian4 pan2] /keyboard/", "not an entry"]
    parsed = parse_cedict(lines)
    assert parsed["音箱"] == ["loudspeaker box", "speaker (audio equipment)"]
    assert parsed["键盘"] == parsed["鍵盤"] == ["keyboard"]
    assert inverted(parsed)["keyboard"] == ["键盘", "鍵盤"] and inverted(parsed)["speaker"] == ["音箱"]


def test_the_installed_cedict_translates_product_words():
    zh = glossary("zh", "en")
    assert len(zh) > 100_000
    assert "Bluetooth" in zh["蓝牙"] and any("keyboard" in g for g in zh["键盘"])
    assert "键盘" in glossary("en", "zh")["keyboard"]
    assert glossary("es", "en") == {} and glossary("en", "en") == {}


# -- in a search ------------------------------------------------------------------------------------


class PairedEmbedder(EmbedderBase):
    """Words of a pair share a vector ("teclado" and "keyboard"); every other word its own. Counts texts embedded."""

    name, dim = "paired-test", 16
    PAIRS = {"teclado": "keyboard", "raton": "mouse"}

    def __init__(self):
        self.embedded = 0
        self.fail = False

    def _vector(self, word):
        word = self.PAIRS.get(word, word)
        return np.random.default_rng(sum(ord(c) * 31**i for i, c in enumerate(word)) % 2**32).standard_normal(self.dim)

    def _embed(self, texts):
        if self.fail:
            raise ConnectionError("model server unreachable")
        self.embedded += len(texts)
        return unit([sum(self._vector(w) for w in t.lower().split()) + 1e-3 for t in texts])

    def embed_queries(self, texts, dimensions=None):
        return self._embed(texts)

    def embed_documents(self, texts, dimensions=None):
        return self._embed(texts)


ENGLISH = [
    {"id": "speaker", "title": "Bluetooth speaker with deep bass", "description": "A portable wireless speaker"},
    {"id": "keyboard", "title": "Wireless keyboard for the office", "description": "A quiet keyboard with a numeric pad"},
    {"id": "keyboard-2", "title": "Mechanical keyboard", "description": "A keyboard with RGB lights"},
    {"id": "mouse", "title": "Optical mouse", "description": "A wireless mouse for the office"},
    {"id": "mouse-2", "title": "Gaming mouse", "description": "A mouse with six buttons"},
    {"id": "lamp", "title": "Desk lamp with a dimmer", "description": "A lamp for the desk"},
]


@pytest.fixture
def english(tmp_path):
    embedder = PairedEmbedder()
    with Engine.open(tmp_path / "en", embedder=embedder) as engine:
        engine.upsert(ENGLISH)
        yield engine, embedder


def ids(response):
    return [hit.id for hit in response.hits]


def test_a_chinese_query_finds_english_products_through_the_lexicon(english):
    engine, _ = english
    response = engine.search("蓝牙音箱", mode="keyword")
    assert ids(response)[0] == "speaker"
    understood = response.understood
    assert understood.language == "zh"
    assert {t["from"]: t["source"] for t in understood.translations} == {"蓝牙": "lexicon", "音箱": "lexicon"}
    assert "bluetooth" in [t["to"][0] for t in understood.translations]
    assert ids(engine.search("蓝牙音箱", mode="keyword", translate=False)) == []
    # An English query over an English catalogue is not translated.
    assert engine.search("bluetooth speaker", mode="keyword").understood.translations == []


def test_a_word_no_lexicon_has_is_translated_by_the_models_nearest_terms(english, tmp_path):
    engine, embedder = english
    response = engine.search("teclado", mode="keyword")
    assert response.understood.translations == [{"from": "teclado", "to": ["keyboard"], "source": "embedding"}]
    assert set(ids(response)) == {"keyboard", "keyboard-2"}
    # The catalogue's terms were embedded once and saved; a new engine on the directory reuses them.
    assert list((engine.data_dir / "terms").glob("*.npz"))
    engine.close()
    again = PairedEmbedder()
    with Engine.open(engine.data_dir, embedder=again) as reopened:
        before = again.embedded
        assert set(ids(reopened.search("raton", mode="keyword"))) == {"mouse", "mouse-2"}
        assert again.embedded - before <= 2  # the query word (and the query), not the vocabulary


def test_translation_with_the_model_down_still_answers(english):
    engine, embedder = english
    engine.search("teclado", mode="keyword")  # the vocabulary embedded while the model was up
    embedder.fail = True
    response = engine.search("raton keyboard", mode="keyword")
    assert "keyboard" in ids(response)
    assert response.understood.translations == []


def test_an_english_query_over_a_chinese_catalogue(tmp_path):
    items = [{"id": "kb", "title": "无线键盘", "description": "办公室用的静音键盘"},
             {"id": "sp", "title": "蓝牙音箱", "description": "便携式无线音箱"},
             {"id": "lamp", "title": "护眼台灯", "description": "可调光台灯"}]
    with Engine.open(tmp_path / "zh", embedder=PairedEmbedder()) as engine:
        engine.upsert(items)
        assert engine.stats()["languages"]["title"] == {"zh": 3}
        response = engine.search("keyboard", mode="keyword")
        assert ids(response)[0] == "kb"
        assert response.understood.translations[0]["source"] == "lexicon"


def test_stats_count_the_catalogues_languages(english):
    engine, _ = english
    engine.upsert([{"id": "es-1", "title": "Ratón inalámbrico para la oficina"}])
    languages = engine.stats()["languages"]
    assert languages["title"]["es"] == 1 and languages["title"]["en"] >= 2


def test_a_model_down_before_the_terms_are_embedded_leaves_the_lexicon(tmp_path):
    embedder = PairedEmbedder()
    with Engine.open(tmp_path / "down", embedder=embedder) as engine:
        engine.upsert(ENGLISH)
        embedder.fail = True
        response = engine.search("蓝牙音箱 teclado", mode="keyword")
        assert ids(response)[0] == "speaker"
        assert [t["source"] for t in response.understood.translations] == ["lexicon", "lexicon"]


def test_in_hybrid_search_the_models_candidates_come_from_the_querys_own_nearest_products(english):
    engine, embedder = english
    engine.search("teclado", mode="hybrid")  # the catalogue's terms embedded
    before = embedder.embedded
    response = engine.search("raton", mode="hybrid")
    assert response.understood.translations == [{"from": "raton", "to": ["mouse"], "source": "embedding"}]
    assert ids(response)[:2] in (["mouse", "mouse-2"], ["mouse-2", "mouse"])
    assert embedder.embedded - before == 2  # the word and the query, whose vector the vector leg reuses
