"""shopsearch: self-hosted multilingual semantic product search."""

from .config import EngineConfig
from .errors import DataDirError, InvalidConfig, InvalidRequest, ShopsearchError
from .index.items import Item
from .search.engine import Engine
from .search.response import SearchResponse

__all__ = ["Engine", "EngineConfig", "Item", "SearchResponse", "ShopsearchError", "InvalidRequest", "InvalidConfig",
           "DataDirError"]
__version__ = "0.1.0"
