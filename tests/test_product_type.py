"""A product's type from its own record: the category, else the head noun of its title's type phrase."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from shopsearch.text.analyzer import whole_words
from shopsearch.text.product_type import title_head, type_key


@pytest.mark.parametrize("title, brand, attributes, head", [
    ("HP Bluetooth Laser mouse", "HP", {}, "mouse"),
    ("Kensington Gel Mouse Pad", "Kensington", {}, "pad"),
    ("HP Pavilion dv7-1211ea Notebook Silver 43.2 cm (17\")", "HP", {"attr_t_colour": "Silver"}, "notebook"),
    ("Xerox 006R90321 toner cartridge Original Black 6 pc(s)", "Xerox", {"type": "Original", "colour": "Black"}, "cartridge"),
    ("OKI Cyan Toner Cartridge for C7100 Series", "OKI", {}, "cartridge"),
    ("Logitech M185 Wireless Mouse Grey", "Logitech", {"colour": "Grey"}, "mouse"),
    ("1234-5678", "", {}, None),
])
def test_the_head_noun_of_the_type_phrase(title, brand, attributes, head):
    assert type_key({"title": title, "brand": brand, **attributes}) == head


def test_a_category_is_the_type_where_there_is_one():
    assert type_key({"title": "Gel Mouse Pad", "category": "Mouse Pads"}) == "mouse pads"


WORDS = st.lists(st.sampled_from(["usb", "Mouse", "pad", "dv7-1211ea", "43.2", "cm", "for", "蓝牙耳机", "Black", "x"]),
                 max_size=8)


@settings(max_examples=200, deadline=None)
@given(WORDS, st.sampled_from(["", "HP", "Black"]))
def test_a_head_is_always_one_of_the_titles_own_words(words, brand):
    title = " ".join(words)
    head = title_head(title, brand, {"black"})
    assert head is None or (head in whole_words(title) and head.isalpha())
