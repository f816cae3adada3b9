"""Heading-aware chunking: bounded size, nothing lost, headings carried."""

from __future__ import annotations

import re

from hypothesis import given, settings, strategies as st

from shopsearch.text.chunking import approximate_tokens, chunk_text, sections

WORD = re.compile(r"\w+")


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("abc xyz 12.\n#:轻便透气") ), max_size=600), st.integers(3, 40))
def test_chunks_are_bounded_and_keep_every_word_in_order(text, max_tokens):
    chunks = chunk_text(text, max_tokens)
    assert all(approximate_tokens(c.text) <= max_tokens for c in chunks)
    parts = sections(text)
    assert "".join(w for _, body in parts for w in WORD.findall(body)) == "".join(w for c in chunks for w in WORD.findall(c.text))
    assert [h for h, _ in parts if h] == list(dict.fromkeys(c.heading for c in chunks if c.heading))


def test_headings_split_and_label_sections():
    text = ("Great headphones for travel.\n\n## Battery\nUp to 30 hours of playback. Fast charge: 10 min for 5 h.\n\n"
            "<h3>Comfort</h3><p>Memory foam ear cushions.</p>\nConnectivity:\nBluetooth 5.3 and a 3.5 mm jack.")
    chunks = chunk_text(text, 200)
    assert [c.heading for c in chunks] == ["", "Battery", "Comfort", "Connectivity"]
    assert chunks[1].text.startswith("Up to 30 hours") and chunks[2].text == "Memory foam ear cushions."
    assert chunks[3].embedding_text("Sony WH-1000XM5") == "Sony WH-1000XM5. Connectivity: Bluetooth 5.3 and a 3.5 mm jack."


def test_long_paragraphs_split_at_sentences_and_short_ones_pack_together():
    sentence = "This sentence has exactly eight words in it."
    chunks = chunk_text(" ".join([sentence] * 6), 20)
    assert [approximate_tokens(c.text) for c in chunks] == [18, 18, 18]
    assert chunk_text("one.\n\ntwo.\n\nthree.", 50)[0].text == "one.\ntwo.\nthree."


def test_chinese_without_spaces_is_cut_by_characters():
    chunks = chunk_text("轻便透气的夏季运动鞋" * 10, 30)
    assert len(chunks) == 4 and all(approximate_tokens(c.text) <= 30 for c in chunks)
