"""The errors shopsearch raises to its users: one root, so a caller (the CLI, the server) can catch them all."""

from __future__ import annotations


class ShopsearchError(Exception):
    """Something the user can act on; the message says what and how."""


class InvalidRequest(ShopsearchError, ValueError):
    """A search or write request that cannot be served; `param` names the culprit."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class DataDirError(ShopsearchError, RuntimeError):
    """The data directory cannot be used as asked (locked, other model, missing)."""


class InvalidConfig(ShopsearchError, ValueError):
    """A setting has a value it cannot take; the message names the setting (or its variable)."""


class IndexUnavailable(ShopsearchError, RuntimeError):
    """An index on a server (Milvus) cannot be reached: a search answers without it where it can, and a
    write is refused with nothing applied (the catalogue unchanged)."""


class StorageFull(ShopsearchError, RuntimeError):
    """The data directory's disk is full, or a write would leave less free than min_free_mb: the write is
    refused or failed, and every batch committed before it is intact. Searches go on."""
