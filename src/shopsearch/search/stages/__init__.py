"""The stages of a search, in the order search/pipeline.py runs them (one module each)."""

from __future__ import annotations

from typing import Protocol

from ..candidates import Candidates
from ..context import SearchContext


class Stage(Protocol):
    name: str  # its timing is reported as <name>_ms

    def applies(self, candidates: Candidates) -> bool:
        """Whether this search needs the stage at all (a stage that does not apply is not timed)."""

    def run(self, candidates: Candidates, context: SearchContext) -> Candidates: ...
