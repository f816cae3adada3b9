from .base import Embedder, ModelUnavailable, l2_normalize
from .factory import EMBEDDERS, create_embedder

__all__ = ["Embedder", "ModelUnavailable", "l2_normalize", "EMBEDDERS", "create_embedder"]
