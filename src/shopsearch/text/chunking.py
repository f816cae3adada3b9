"""Heading-aware, token-bounded chunks of long product descriptions.

A description is cut at its headings (Markdown "#" lines, HTML <h1>-<h6>, or
short lines ending in ":"), then at paragraphs, then at sentences, then at
words, packing whole pieces into chunks of at most `max_tokens`. Each chunk
carries the heading it sits under, so "Battery: 20 h" stays findable as
battery life even when it is far from the title.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

_HTML_HEADING = re.compile(r"<h[1-6][^>]*>(.*?)</h[1-6]>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$")
_SENTENCE_END = re.compile(r"(?<=[.!?。！？;；])\s+|(?<=[。！？；])")
_TOKEN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]|\w+|[^\w\s]", re.UNICODE)


def approximate_tokens(text: str) -> int:
    """A model-free token count: words, punctuation marks, and each CJK character (close to subword counts)."""
    return len(_TOKEN.findall(text))


@dataclass(frozen=True)
class Chunk:
    heading: str
    text: str

    def embedding_text(self, title: str) -> str:
        return ". ".join(part for part in (title, ": ".join(p for p in (self.heading, self.text) if p)) if part)


def sections(text: str) -> list[tuple[str, str]]:
    """(heading, body) pairs in order; text before the first heading has heading ""."""
    text = _HTML_HEADING.sub(lambda m: "\n# " + _TAG.sub("", m.group(1)).strip() + "\n", text)
    text = re.sub(r"</?(p|div|br|li|ul|ol)[^>]*>", "\n", text, flags=re.IGNORECASE)
    text = _TAG.sub("", text)
    out: list[tuple[str, list[str]]] = [("", [])]
    for line in text.splitlines():
        heading = _heading(line)
        if heading is not None:
            out.append((heading, []))
        else:
            out[-1][1].append(line)
    return [(h, "\n".join(body).strip()) for h, body in out if "\n".join(body).strip() or h]


def _heading(line: str) -> str | None:
    match = _MD_HEADING.match(line)
    if match:
        return match.group(1).strip()
    stripped = line.strip()
    if stripped.endswith(":") and 0 < len(stripped) <= 60 and stripped.count(" ") <= 6:
        return stripped[:-1].strip()
    return None


def chunk_text(text: str, max_tokens: int, count: Callable[[str], int] = approximate_tokens) -> list[Chunk]:
    """Chunks of at most max_tokens each (by `count`), in reading order, covering every word of the text."""
    if max_tokens < 1:
        raise ValueError("max_tokens must be at least 1")
    chunks: list[Chunk] = []
    for heading, body in sections(text):
        pieces = [p.strip() for p in re.split(r"\n\s*\n", body) if p.strip()]
        for text_piece in _pack(_split_to_fit(pieces, max_tokens, count), max_tokens, count):
            chunks.append(Chunk(heading, text_piece))
        if not pieces and heading:  # a heading with nothing under it still says something
            chunks.append(Chunk(heading, ""))
    return chunks


def _split_to_fit(pieces: Sequence[str], max_tokens: int, count) -> list[str]:
    out = []
    for piece in pieces:
        if count(piece) <= max_tokens:
            out.append(piece)
            continue
        sentences = [s for s in _SENTENCE_END.split(piece) if s.strip()]
        if len(sentences) > 1:
            out.extend(_split_to_fit(sentences, max_tokens, count))
            continue
        out.extend(_split_words(piece, max_tokens, count))
    return out


def _split_words(piece: str, max_tokens: int, count) -> list[str]:
    units: list[str] = []
    for word in piece.split():
        # A run with no spaces (Chinese text, a long part number) is cut into its tokens.
        units.extend(_TOKEN.findall(word) if count(word) > max_tokens else [word])
    out: list[str] = []
    current: list[str] = []
    for unit in units:
        if current and count(" ".join(current + [unit])) > max_tokens:
            out.append(" ".join(current))
            current = [unit]
        else:
            current.append(unit)
    if current:
        out.append(" ".join(current))
    return out


def _pack(pieces: Sequence[str], max_tokens: int, count) -> list[str]:
    out: list[str] = []
    for piece in pieces:
        if out and count(out[-1] + "\n" + piece) <= max_tokens:
            out[-1] = out[-1] + "\n" + piece
        else:
            out.append(piece)
    return out


def truncate_to_tokens(text: str, max_tokens: int) -> str:
    """The text cut after its first max_tokens tokens (as approximate_tokens counts them)."""
    for i, match in enumerate(_TOKEN.finditer(text)):
        if i == max_tokens:
            return text[: match.start()].rstrip()
    return text
