from .analyzer import Analyzer, fold_accents, normalize, surface_tokens

__all__ = ["Analyzer", "fold_accents", "normalize", "surface_tokens"]
