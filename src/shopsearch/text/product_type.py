"""What a product is, read from its own record: the head noun of its title's type phrase.

Shop titles put the type after the brand and the model: "HP Pavilion dv7-1211ea Notebook
Silver 43.2 cm", "Logitech M185 Wireless Mouse Grey", "Kensington Gel Mouse Pad". The type
phrase is the run of words after the leading model code (or the first run of words when
there is none), less trailing words that are the product's own attribute values (its colour,
"Original"); its head is the run's last word: "notebook", "mouse", "pad". So "Gel Mouse Pad"
is a pad *for* a mouse, not a mouse, which is what a query for "mouse" needs to know.

A category, where a catalogue has one, says it better: `type_key` uses it first.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from .analyzer import whole_words

_LEADING = 5  # a model code further into the title is a spec of the type, not the model
# Words that end a type phrase: what follows says what the product is for or comes with.
_CONNECTORS = frozenset({"for", "to", "with", "and", "of", "in", "para", "de", "con", "y", "适用", "适用于", "用于", "的"})


def _is_word(token: str) -> bool:
    return token.isalpha() and len(token) >= 2 and token not in _CONNECTORS


def _is_code(token: str) -> bool:
    return any(c.isdigit() for c in token)


def title_head(title: str, brand: str = "", attribute_words: Iterable[str] = ()) -> str | None:
    """The head noun of a title's type phrase (folded), or None when the title has no word run."""
    tokens = whole_words(title)
    brand_words = whole_words(brand) if brand else []
    if brand_words and tokens[:len(brand_words)] == brand_words:
        tokens = tokens[len(brand_words):]
    start = 0
    for i, token in enumerate(tokens[:_LEADING]):
        if token in _CONNECTORS:  # codes after "for" are what it fits, not its model
            break
        if _is_code(token) and i + 1 < len(tokens) and _is_word(tokens[i + 1]):
            start = i + 1
            break
    while start < len(tokens) and not _is_word(tokens[start]):
        start += 1
    end = start
    while end < len(tokens) and _is_word(tokens[end]):
        end += 1
    run = tokens[start:end]
    own = set(attribute_words)
    while len(run) > 1 and run[-1] in own:
        run.pop()
    return run[-1] if run else None


def attribute_words(record: Mapping[str, Any], skip: Iterable[str] = ("id", "title", "description", "brand", "category")) -> set[str]:
    """The single words among a record's attribute values ("Grey", "Original"): not a type."""
    skipped = set(skip)
    words: set[str] = set()
    for name, value in record.items():
        if name in skipped:
            continue
        for v in value if isinstance(value, list) else [value]:
            if isinstance(v, str) and v and " " not in v.strip() and len(v) <= 30:
                words.update(whole_words(v))
    return words


def type_key(record: Mapping[str, Any]) -> str | None:
    """A record's product type as a folded word or phrase: its category, else its title's head noun."""
    category = record.get("category")
    if isinstance(category, str) and category.strip():
        return " ".join(whole_words(category)) or None
    title = record.get("title")
    if not isinstance(title, str):
        return None
    brand = record.get("brand")
    return title_head(title, brand if isinstance(brand, str) else "", attribute_words(record))
