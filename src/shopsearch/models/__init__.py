from .base import Embedder, InputTooLong, ModelUnavailable, Reranker, l2_normalize
from .factory import EMBEDDERS, create_embedder, create_reranker

__all__ = ["Embedder", "InputTooLong", "Reranker", "ModelUnavailable", "l2_normalize", "EMBEDDERS", "create_embedder", "create_reranker"]
