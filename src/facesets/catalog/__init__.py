"""The catalog: one SQLite database (WAL) per library, the single source of truth, and the only
code that speaks SQL. Open one with `Catalog.open(path)`; its repositories take and give Python
values (see `database.py` for transactions, the writer lock and the stage lifecycle)."""
from facesets.catalog._sql import from_blob, to_blob
from facesets.catalog.database import BatchedWrites, Catalog, CatalogBusy, CatalogError, Run
from facesets.catalog.faces import FaceFilter
from facesets.catalog.people import priority_key
from facesets.catalog.types import (
    KEPT_ASSIGNMENTS, AliasRow, AssignedBy, BulkPhotos, ClusterInput, ExportRow, Face, FaceDetail, FileRow, FileStatus, ModelInfo,
    NewFace, Operation, OperationStatus, Person, PersonStatus, RunRow, RunStatus, person_label,
)

__all__ = [
    "Catalog", "CatalogError", "CatalogBusy", "BatchedWrites", "Run", "FaceFilter", "priority_key",
    "KEPT_ASSIGNMENTS", "AliasRow", "AssignedBy", "BulkPhotos", "ClusterInput", "ExportRow", "Face", "FaceDetail", "FileRow",
    "FileStatus", "ModelInfo", "NewFace", "Operation", "OperationStatus", "Person", "PersonStatus", "RunRow",
    "RunStatus", "person_label", "from_blob", "to_blob",
]
