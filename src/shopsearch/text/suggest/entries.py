"""The kinds of value, the record kept per suggestible phrase, and the Suggestion made from it."""

from __future__ import annotations

from dataclasses import dataclass

from .phrases import SUFFIX_SEP
from .ranking import Rank

KINDS = ("brand", "category", "title", "query")
KIND_WEIGHTS = {"brand": 1.25, "category": 1.25, "title": 1.0, "query": 1.1}
KIND_INDEX = {kind: i for i, kind in enumerate(KINDS)}
TITLE = KIND_INDEX["title"]
WHOLE_KINDS = tuple(KIND_INDEX[k] for k in ("brand", "category", "query"))
_WEIGHTS = tuple(KIND_WEIGHTS[k] for k in KINDS)


@dataclass(frozen=True)
class Suggestion:
    text: str  # the completion as shown: the original form most values carrying it have
    kind: str  # "brand" | "category" | "title" | "query"
    score: float  # higher first (within exact, then within fuzzy completions)
    fuzzy: bool = False  # found through a typo correction, not by the prefix as typed


class Entry:
    """One suggestible phrase (normalised key), with its per-kind counts and weights."""

    __slots__ = ("key", "score", "weights", "counts", "display", "forms", "starts", "suffixed")

    def __init__(self, key: str, display: str) -> None:
        self.key = key
        self.score = 0.0
        self.weights = [0.0] * len(KINDS)
        self.counts = [0] * len(KINDS)
        self.display = display
        # None while every value carrying the phrase showed it the same way
        # (almost all phrases), so most entries carry no dict.
        self.forms: dict[str, int] | None = None
        # Where the words after the first start in key: whole values match there too.
        self.starts: tuple[int, ...] = ()
        self.suffixed = False

    def rescore(self) -> None:
        w = self.weights
        self.score = max(w[0] * _WEIGHTS[0], w[1] * _WEIGHTS[1], w[2] * _WEIGHTS[2], w[3] * _WEIGHTS[3])

    def rank(self) -> Rank:
        return (-self.score, self.key)

    def kind(self) -> str:
        best = max(range(len(KINDS)), key=lambda i: (self.weights[i] * _WEIGHTS[i], -i))
        return KINDS[best]

    def elements(self) -> tuple[str, ...]:
        if not self.suffixed:
            return (self.key,)
        return (self.key, *(self.key[s:] + SUFFIX_SEP + self.key for s in self.starts))

    def add_form(self, form: str, n: int = 1) -> None:
        if self.forms is None:
            if form == self.display:
                return
            self.forms = {self.display: max(1, sum(self.counts) - n)}
        self.forms[form] = self.forms.get(form, 0) + n
        self._pick_display()

    def remove_form(self, form: str) -> None:
        if self.forms is None or form not in self.forms:
            return
        left = self.forms[form] - 1
        if left > 0:
            self.forms[form] = left
        else:
            del self.forms[form]
        self._pick_display()
        if len(self.forms) <= 1:
            self.forms = None

    def _pick_display(self) -> None:
        if self.forms:
            self.display = min(self.forms.items(), key=lambda item: (-item[1], item[0]))[0]
