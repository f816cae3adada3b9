"""A catalogue item: canonical fields plus free attributes, validated once."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

CANONICAL_FIELDS = ("id", "title", "description", "brand", "category", "price")

# A lone surrogate (a JSON "\ud800" escape, a str built in Python) is no Unicode text: the stores
# encode every string as UTF-8, so it is refused here rather than failing a write.
_SURROGATE = re.compile("[\ud800-\udfff]")


class InvalidItem(ValueError):
    """A record that cannot be indexed; the message says which field and why."""


@dataclass(frozen=True)
class Item:
    id: str
    title: str
    description: str = ""
    brand: str = ""
    category: str = ""
    price: float | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        """Flat JSON-able form: canonical fields first, then attributes."""
        record: dict[str, Any] = {"id": self.id, "title": self.title}
        for name in ("description", "brand", "category"):
            if getattr(self, name):
                record[name] = getattr(self, name)
        if self.price is not None:
            record["price"] = self.price
        record.update(self.attributes)
        return record

    def embedding_text(self, description_chars: int = 200) -> str:
        """What the vector leg embeds: the title, brand and category where the
        title leaves them out, and the start of the description. Measured on
        Icecat with the default model: title + description prefix retrieves
        better than the title alone (dense nDCG@10 0.39 vs 0.31)."""
        extra = [part for part in (self.brand, self.category) if part and part.lower() not in self.title.lower()]
        text = " ".join([self.title, *extra])
        if self.description:
            text += ". " + self.description[:description_chars]
        return text

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> "Item":
        if not isinstance(record, Mapping):
            raise InvalidItem(f"a record must be an object, not {type(record).__name__}")
        item_id = _scalar_text(record.get("id"), "id")
        if not item_id:
            raise InvalidItem("missing id")
        title = _scalar_text(record.get("title"), "title")
        if not title:
            raise InvalidItem("missing title")
        attributes = {}
        for key, value in record.items():
            if key in CANONICAL_FIELDS or value is None or value == "":
                continue
            if not isinstance(key, str) or not key:
                raise InvalidItem(f"attribute names must be non-empty strings, got {key!r}")
            if _SURROGATE.search(key):
                raise InvalidItem(f"attribute name {key!r} is not valid Unicode (a lone surrogate)")
            attributes[key] = _attribute_value(key, value)
        return cls(
            id=item_id,
            title=title,
            description=_scalar_text(record.get("description"), "description"),
            brand=_scalar_text(record.get("brand"), "brand"),
            category=_scalar_text(record.get("category"), "category"),
            price=parse_price(record.get("price")),
            attributes=attributes,
        )


def _scalar_text(value: Any, name: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise InvalidItem(f"{name} must be text, got {type(value).__name__}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidItem(f"{name} must be text, got {value}")
        if value.is_integer():  # CSV/Parquet ids often arrive as 123.0
            value = int(value)
    try:
        text = str(value).strip()
    except ValueError:  # an int past sys.get_int_max_str_digits()
        raise InvalidItem(f"{name} is a number too long to write as text") from None
    if _SURROGATE.search(text):
        raise InvalidItem(f"{name} is not valid Unicode (a lone surrogate)")
    return text


_PRICE = re.compile(r"^[+]?(\d+(?:\.\d+)?|\.\d+)$")


def parse_price(value: Any) -> float | None:
    """A non-negative number; numeric strings ("12.50") are accepted, anything else is an error."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise InvalidItem(f"unparsable price {value!r}")
    if isinstance(value, (int, float)):
        try:
            price = float(value)
        except OverflowError:  # an int no float can hold
            raise InvalidItem("unparsable price: a number too large") from None
    elif isinstance(value, str) and _PRICE.match(value.strip()):
        price = float(value.strip())
    else:
        raise InvalidItem(f"unparsable price {value!r}")
    if not math.isfinite(price) or price < 0:
        raise InvalidItem(f"unparsable price {value!r}")
    return price


def _attribute_value(key: str, value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)):
        _check_scalar(key, value)
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(v, (str, int, float, bool)) for v in value):
        for v in value:
            _check_scalar(key, v)
        return list(value)
    raise InvalidItem(f"attribute {key} must be a string, number, boolean or a list of them")


def _check_scalar(key: str, value: str | int | float | bool) -> None:
    """What the stores cannot hold: NaN or infinity (not JSON), an int no float can hold (filters
    compare numbers as floats), a lone surrogate (not UTF-8)."""
    if isinstance(value, str):
        if _SURROGATE.search(value):
            raise InvalidItem(f"attribute {key} is not valid Unicode (a lone surrogate)")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidItem(f"attribute {key} is {value}")
    elif not isinstance(value, bool):
        try:
            float(value)
        except OverflowError:
            raise InvalidItem(f"attribute {key} is a number too large") from None


def document_text(record: Mapping[str, Any], description_chars: int = 2000) -> str:
    """What a reranker reads for a stored product: title, brand, category, price and description."""
    parts = [str(record.get("title") or "")]
    for label in ("brand", "category"):
        if record.get(label):
            parts.append(f"{label.capitalize()}: {record[label]}")
    if record.get("price") is not None:
        parts.append(f"Price: {record['price']}")
    text = "\n".join(parts)
    description = str(record.get("description") or "")
    return text + ("\n" + description[:description_chars] if description else "")
