"""shopsearch: self-hosted multilingual semantic product search."""

from .config import EngineConfig
from .index.items import Item
from .search.engine import DataDirError, Engine, InvalidRequest, SearchResponse

__all__ = ["Engine", "EngineConfig", "Item", "SearchResponse", "InvalidRequest", "DataDirError"]
__version__ = "0.1.0"
