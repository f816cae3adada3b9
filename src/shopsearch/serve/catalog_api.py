"""The catalogue over HTTP: write items (admin), read one, change some of its fields (PATCH), delete one;
snapshots of the data directory (admin, into the configured snapshot directory).

PATCH /v1/catalog/items/{id} takes a JSON merge patch of the item (`{"price": 19.9, "stock": 0}`;
a null removes a field). A change that leaves the text the model reads as it was (price, stock,
attributes) keeps the item's vector: `shopsearch_documents_embedded_total` does not move.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Sequence

from fastapi import APIRouter, Body

from ..index.items import InvalidItem, Item
from ..search.engine import Engine
from .errors import ApiError
from .schemas import DeleteResponse, ItemError, ItemsRequest, ItemsResponse, PatchResponse, SnapshotRequest, SnapshotResponse


def catalog_router(engine: Engine, max_items: int, admin: Sequence[Any], snapshot_dir: str = "") -> APIRouter:
    router = APIRouter(tags=["catalogue"])
    admin = list(admin)

    @router.post("/v1/snapshots", response_model=SnapshotResponse, dependencies=admin)
    def take_snapshot(body: SnapshotRequest) -> SnapshotResponse:
        """A consistent copy of the data directory, every index at the catalogue's sequence (index/snapshot.py),
        into the server's snapshot directory; writes wait while it is taken, searches go on."""
        if not snapshot_dir:
            raise ApiError(400, "no snapshot directory is configured: set SHOPSEARCH_SERVE__SNAPSHOT_DIR", "name",
                           "snapshots_off")
        target = Path(snapshot_dir) / body.name
        if target.exists():
            raise ApiError(409, f"a snapshot named {body.name!r} exists already", "name", "snapshot_exists")
        manifest = engine.snapshot(target)
        return SnapshotResponse(name=body.name, path=str(target), seq=manifest["seq"], items=manifest["items"])

    @router.post("/v1/catalog/items", response_model=ItemsResponse, dependencies=admin)
    def upsert_items(body: ItemsRequest) -> ItemsResponse:
        if len(body.items) > max_items:
            raise ApiError(400, f"{len(body.items)} items, over the limit of {max_items}", "items", "too_many_items")
        valid, problems = [], []
        for i, record in enumerate(body.items):
            try:
                valid.append(Item.from_record(record))
            except (InvalidItem, TypeError, ValueError) as exc:
                problems.append(ItemError(index=i, id=str(record.get("id")) if record.get("id") is not None else None,
                                          message=str(exc)))
        written = engine.upsert(valid).count if valid else 0
        return ItemsResponse(upserted=written, errors=problems, version=engine.version)

    @router.get("/v1/catalog/items/{item_id}")
    def get_item(item_id: str) -> dict[str, Any]:
        item = engine.get(item_id)
        if item is None:
            raise _missing(item_id)
        return item

    @router.patch("/v1/catalog/items/{item_id}", response_model=PatchResponse, dependencies=admin)
    def patch_item(item_id: str,
                   fields: Annotated[dict[str, Any], Body(description="the fields to change; null removes one")]) -> PatchResponse:
        if not fields:
            raise ApiError(400, "the patch names no field", None, "empty_patch")
        try:
            written = engine.patch(item_id, fields)
        except InvalidItem as exc:
            raise ApiError(400, f"the patched item is invalid: {exc}; nothing was changed", None, "invalid_item") from None
        if written is None:
            raise _missing(item_id)
        item = engine.get(item_id)
        assert item is not None  # one writer: nothing deleted it since
        return PatchResponse(id=item_id, item=item, changed=written.unchanged == 0, version=engine.version)

    @router.delete("/v1/catalog/items/{item_id}", response_model=DeleteResponse, dependencies=admin)
    def delete_item(item_id: str) -> DeleteResponse:
        if not engine.delete([item_id]).count:
            raise _missing(item_id)
        return DeleteResponse(id=item_id, deleted=True, version=engine.version)

    return router


def _missing(item_id: str) -> ApiError:
    return ApiError(404, f"no item with id {item_id!r}", "item_id", "item_not_found")
