"""The review queue of one server: what `curate.suggest` proposes, built once per catalog
generation and gone through one item at a time, each decision applied through the people
repository at once and undoable.

Built again when a stage that places faces started or a curation was applied or undone since
(`people.generation()`: what was shown before is stale, and a decision on it is dropped, not
applied), or when a view asks (a face drawn on a photo). Between builds every item is checked
against the catalog again before it is shown or applied (the face still where it was, its
people still there, not hidden, not ruled out), so changes made on other pages are honoured.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace

from facesets.catalog import Catalog
from facesets.curate.suggest import Item, cuts, order, proposals

DEFAULT_MIN = 0.9      # accept-all: suggestions at least this confident


@dataclass
class Undo:
    """What one decision changed, as it was before."""
    items: list[Item]
    generation: str
    faces: list[int] = field(default_factory=list)
    assignments: list[dict] = field(default_factory=list)
    exclusions: set = field(default_factory=set)
    people: list[dict] = field(default_factory=list)
    apart: tuple[int, int] | None = None
    skipped: bool = False


@dataclass(frozen=True)
class Outcome:
    message: str
    applied: bool = True


class ReviewQueue:
    def __init__(self):
        self._lock = threading.RLock()
        self.items: list[Item] = []
        self.generation: str | None = None
        self.band: float | None = None       # faces in nobody are proposed within this of a person
        self.stale = True                 # build again on the next look
        self.done: set[str] = set()       # decided or dropped since the build
        self.skipped: list[str] = []
        self.undo_stack: list[Undo] = []
        self.dropped = 0

    def invalidate(self) -> None:
        """Build again on the next look (people shown again: their items come back)."""
        self.stale = True

    def add_photos(self, catalog: Catalog, file_ids) -> None:
        """Propose the faces in nobody of these photos too (a face drawn on one, faces removed
        from a person), without building everything again."""
        with self._lock:
            if self.generation is None or self.stale:
                return                                  # the next build sees them anyway
            found = {item.key: item for item in proposals(catalog, tuple(file_ids))}
            self.done -= set(found)
            self.items = sorted([item for item in self.items if item.key not in found] + list(found.values()), key=order)

    def drop_people(self, person_ids) -> None:
        """Hidden people leave every item (an item left without a choice goes)."""
        gone = {int(p) for p in person_ids}
        with self._lock:
            kept = []
            for item in self.items:
                if item.was in gone:     # a hidden person's weak member, or a merge with one
                    continue
                choices = tuple(c for c in item.choices if c.person_id not in gone)
                if self._stands(item, choices):
                    kept.append(item if choices == item.choices else replace(item, choices=choices))
            self.items = sorted(kept, key=order)

    # -- looking ----------------------------------------------------------------------------
    def refresh(self, catalog: Catalog) -> str:
        """Build the items again when the catalog's generation moved on (or a view asked);
        returns the generation they belong to."""
        with self._lock:
            generation = catalog.people.generation()
            if self.stale or generation != self.generation:
                if generation != self.generation:
                    self.undo_stack.clear()   # undoing over a re-cluster would undo the re-cluster
                self.items = proposals(catalog)
                self.band = cuts(catalog).review if self.items else None
                self.generation, self.stale = generation, False
                self.done = set()
            return self.generation

    def current(self, catalog: Catalog, prefer: str | None = None) -> Item | None:
        """The first item not decided and still standing (stale ones dropped on the way);
        skipped items come back when nothing else is left. `prefer`: that item first, when it
        is in the queue (a face just drawn on a photo)."""
        with self._lock:
            self.refresh(catalog)
            hidden = catalog.people.hidden_ids()
            preferred = [i for i, item in enumerate(self.items) if item.key == prefer]
            for pass_skipped in (None, False, True):
                for index in (preferred if pass_skipped is None else range(len(self.items))):
                    item = self.items[index]
                    if item.key in self.done or (pass_skipped is not None and (item.key in self.skipped) != pass_skipped):
                        continue
                    checked = self._checked(catalog, item, hidden)
                    if checked is None:
                        self.done.add(item.key)
                        self.dropped += 1
                        continue
                    self.items[index] = checked
                    return checked
            return None

    def left(self) -> int:
        """Items not decided yet (a few may still drop as stale when their turn comes)."""
        return sum(1 for item in self.items if item.key not in self.done)

    def after(self, item: Item | None) -> Item | None:
        """The item likely to come after `item` (not checked: its pictures are fetched early)."""
        keys = {item.key} if item else set()
        return next((other for other in self.items
                     if other.key not in self.done and other.key not in self.skipped and other.key not in keys), None)

    def same_person(self, item: Item, minimum: float) -> list[Item]:
        """The other items not decided nor skipped whose first choice is this item's, at
        least `minimum` confident (what accept-all takes with it)."""
        if item.kind == "merge" or not item.choices:
            return []
        person = item.choices[0].person_id
        return [other for other in self.items
                if other.kind != "merge" and other.key != item.key and other.key not in self.done
                and other.key not in self.skipped and other.choices and other.choices[0].person_id == person
                and other.confidence >= minimum]

    def find(self, key: str) -> Item | None:
        return next((item for item in self.items if item.key == key), None)

    def _checked(self, catalog: Catalog, item: Item, hidden: set[int]) -> Item | None:
        """The item as the catalog stands now (choices no longer possible removed), or None
        when it no longer stands."""
        people = catalog.people
        if item.kind == "merge":
            a, b = item.was, item.choices[0].person_id
            ok = all(people.resolve(p) == p and people.get(p) is not None and p not in hidden for p in (a, b))
            return item if ok and (min(a, b), max(a, b)) not in people.apart_pairs() else None
        if catalog.faces.person_of(item.face_id) != item.was or (item.was is not None and item.was in hidden):
            return None
        ruled_out = people.exclusions_of([item.face_id])
        choices = tuple(c for c in item.choices
                        if c.person_id not in hidden and (item.face_id, c.person_id) not in ruled_out
                        and people.resolve(c.person_id) == c.person_id
                        and (c.person_id == item.was or not catalog.faces.person_in_photo(item.photo, c.person_id)))
        if not self._stands(item, choices):
            return None
        return item if choices == item.choices else replace(item, choices=choices)

    def _stands(self, item: Item, choices: tuple) -> bool:
        """Whether a face item left with these choices is still proposed: some choice is left,
        and for a face in nobody the nearest one still lies within the band."""
        if not choices:
            return False
        return item.kind != "face" or self.band is None or choices[0].distance <= self.band

    # -- deciding ----------------------------------------------------------------------------
    def decide(self, catalog: Catalog, key: str, stamp: str, decision: str, minimum: float = DEFAULT_MIN) -> Outcome:
        """Apply one decision on the item `key` shown at generation `stamp`: accept:PERSON,
        reject:PERSON, all:PERSON (this and every remaining suggestion for that person at least
        `minimum` confident), merge, apart, skip."""
        with self._lock:
            if stamp != self.refresh(catalog):
                return Outcome("the catalog was re-clustered since that item was shown: it was dropped, not applied",
                               applied=False)
            item = self.find(key)
            if item is None or key in self.done:
                return Outcome("that item was already decided", applied=False)
            if decision == "skip":
                self.skipped = [k for k in self.skipped if k != key] + [key]
                self.undo_stack.append(Undo([item], self.generation, skipped=True))
                return Outcome("skipped: it comes back at the end")
            item = self._checked(catalog, item, catalog.people.hidden_ids())
            if item is None:
                self.done.add(key)
                self.dropped += 1
                return Outcome("that item no longer stands (changed elsewhere): dropped", applied=False)
            verb, _, target = decision.partition(":")
            if verb not in (("merge", "apart") if item.kind == "merge" else ("accept", "reject", "all")):
                return Outcome(f"unknown decision {decision!r}", applied=False)
            if item.kind == "merge":
                return self._merge(catalog, item, keep_apart=verb == "apart")
            person = int(target) if target.isdigit() else item.choices[0].person_id
            if person not in {c.person_id for c in item.choices}:
                return Outcome(f"person {person} is not among this face's suggestions", applied=False)
            batch = [item] + (self.same_person(item, minimum) if verb == "all" else [])
            if verb == "all":
                batch = [checked for checked in (self._checked(catalog, b, catalog.people.hidden_ids()) for b in batch)
                         if checked is not None and checked.choices[0].person_id == person]
            return self._faces(catalog, batch, person, reject=verb == "reject")

    def _faces(self, catalog: Catalog, batch: list[Item], person: int, reject: bool) -> Outcome:
        faces = [item.face_id for item in batch]
        undo = Undo(batch, self.generation, faces,
                    catalog.faces.assignments([], faces), catalog.people.exclusions_of(faces))
        with catalog.transaction():
            if reject:
                catalog.people.remove_faces(faces, person)   # remembered; unassigned if it was there
            else:
                catalog.people.move_faces(faces, person)
        self._decided(undo)
        label = catalog.people.labels([person]).get(person, f"person {person}")
        if reject:
            return Outcome(f"face {faces[0]} is not {label}: it will not be proposed for {label} again")
        return Outcome(f"{len(faces)} face(s) now belong to {label}" if len(faces) > 1
                       else f"face {faces[0]} now belongs to {label}")

    def _merge(self, catalog: Catalog, item: Item, keep_apart: bool) -> Outcome:
        a, b = item.was, item.choices[0].person_id
        labels = catalog.people.labels([a, b])
        if keep_apart:
            with catalog.transaction():
                catalog.people.keep_apart(a, b)
            self._decided(Undo([item], self.generation, apart=(a, b)))
            return Outcome(f"{labels[a]} and {labels[b]} are kept apart: never proposed as one again")
        with catalog.transaction():
            into = catalog.people.merge_winner([a, b]).id
            undo = Undo([item], self.generation, people=catalog.people.snapshot([a, b]),
                        assignments=catalog.faces.assignments([a, b], []))
            catalog.people.merge([a, b], into)
        self._decided(undo)
        return Outcome(f"merged {labels[b if into == a else a]} into {labels[into]}")

    def _decided(self, undo: Undo) -> None:
        keys = {item.key for item in undo.items}
        self.done |= keys
        self.skipped = [k for k in self.skipped if k not in keys]
        self.undo_stack.append(undo)

    def undo(self, catalog: Catalog) -> Outcome:
        """Put back what the last decision changed; its item is shown again."""
        with self._lock:
            self.refresh(catalog)
            if not self.undo_stack:
                return Outcome("nothing to undo", applied=False)
            last = self.undo_stack.pop()
            keys = {item.key for item in last.items}
            if last.skipped:
                self.skipped = [k for k in self.skipped if k not in keys]
                return Outcome("skip undone")
            with catalog.transaction():
                catalog.faces.restore_assignments(last.assignments)
                if last.faces:
                    catalog.people.restore_exclusions(last.faces, last.exclusions)
                catalog.people.restore(last.people)
                if last.apart:
                    catalog.people.keep_apart(*last.apart, apart=False)
            self.done -= keys
            known = {item.key for item in self.items}
            self.items[:0] = [item for item in last.items if item.key not in known]   # built again since
            return Outcome(f"undone ({len(keys)} item{'s' if len(keys) > 1 else ''} back in the queue)")
