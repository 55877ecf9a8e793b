"""What a face brings beyond its box and embedding, written right after its file's faces: the
video frame it was cut from, and the name an XMP face region gave it.

A named face seeds its person: the person of that name (created, name pinned, when there is
none), with the face placed as an import places it, so clustering keeps it there and the
cluster around it joins that person.
"""
from __future__ import annotations

from facesets.catalog import AssignedBy, Catalog

REGION_SOURCE = "xmp"   # people.source of a person an XMP region named first


def commit_extras(catalog: Catalog, file_id: int, faces: list[dict], run_id: int | None) -> None:
    """`faces` in the order embed wrote them (list index = face index)."""
    frames = {index: face["frame"] for index, face in enumerate(faces) if face.get("frame") is not None}
    if frames:
        catalog.faces.set_frames(file_id, frames)
    named = {index: face for index, face in enumerate(faces) if face.get("name")}
    if named:
        seed_people(catalog, file_id, named, run_id)


def seed_people(catalog: Catalog, file_id: int, named: dict[int, dict], run_id: int | None) -> None:
    """Each named face joins the person of its name (one face per person in a photo)."""
    ids = catalog.faces.ids_by_index(file_id)
    placed: set[int] = set()
    for index, face in sorted(named.items()):
        person = person_named(catalog, face["name"], run_id)
        if person in placed or index not in ids:
            continue   # a second region of one name in one photo: the same person twice cannot be
        placed.add(person)
        catalog.people.assign([ids[index]], person, AssignedBy.IMPORT, run_id)
        catalog.faces.set_origin(ids[index], {"region": face["name"], "from": face.get("region_from"),
                                              "detected": bool(face.get("region_detected"))})


def person_named(catalog: Catalog, name: str, run_id: int | None) -> int:
    """The person called `name` (the oldest, when several are), else a new one, name pinned."""
    found = catalog.people.by_name(name)
    if found:
        return catalog.people.resolve(found[0])
    return catalog.people.create(name=name, pinned=True, run_id=run_id, source=REGION_SOURCE)
