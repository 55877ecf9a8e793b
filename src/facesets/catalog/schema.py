"""Catalog schema, as an ordered list of migrations.

`PRAGMA user_version` holds how many have been applied; opening a catalog applies the rest
in one transaction each, so an old catalog is upgraded in place and never rebuilt.
"""
from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: files, their other locations, faces and embeddings, runs.
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

    CREATE TABLE models (
        id INTEGER PRIMARY KEY,
        engine TEXT NOT NULL,          -- 'dlib' | 'insightface'
        model TEXT NOT NULL,           -- e.g. 'resnet_v1' or 'buffalo_l/w600k_r50.onnx'
        dim INTEGER NOT NULL,
        detector TEXT NOT NULL,
        landmark_scheme TEXT NOT NULL, -- arcface5 (eyes, nose, mouth corners) | dlib5 (eye corners, nose)
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
        UNIQUE (engine, model, detector)
    );

    CREATE TABLE files (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL UNIQUE,     -- first location seen; other locations are aliases
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        sha256 TEXT UNIQUE,            -- NULL when the bytes could not be read, or (pending) are not read yet
        width INTEGER,                 -- after EXIF orientation
        height INTEGER,
        taken_at TEXT,                 -- EXIF DateTimeOriginal, ISO 8601
        status TEXT NOT NULL DEFAULT 'pending',  -- pending | done | noface | multiface | error | missing
        error TEXT,                    -- one-line reason when status = 'error'
        model_id INTEGER REFERENCES models(id),
        input_mode TEXT,               -- photos | crops | aligned
        n_faces INTEGER,
        seen_run INTEGER,
        done_run INTEGER
    );
    CREATE INDEX files_status ON files(status);

    CREATE TABLE aliases (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL UNIQUE,
        file_id INTEGER NOT NULL REFERENCES files(id),
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        seen_run INTEGER
    );
    CREATE INDEX aliases_file ON aliases(file_id);

    CREATE TABLE faces (
        id INTEGER PRIMARY KEY,
        file_id INTEGER NOT NULL REFERENCES files(id),
        face_index INTEGER NOT NULL,   -- order within the file (largest first)
        x1 REAL NOT NULL, y1 REAL NOT NULL, x2 REAL NOT NULL, y2 REAL NOT NULL,  -- original pixels
        landmarks BLOB,                -- float32 (5, 2), original pixels
        det_score REAL NOT NULL,
        short_edge REAL NOT NULL,      -- face box short edge, original pixels
        sharpness REAL,                -- variance of the Laplacian of the aligned face
        embedding BLOB NOT NULL,       -- float32, L2-normalised
        model_id INTEGER NOT NULL REFERENCES models(id),
        input_mode TEXT NOT NULL DEFAULT 'photos',
        created_run INTEGER,
        UNIQUE (file_id, face_index)
    );
    CREATE INDEX faces_file ON faces(file_id);

    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        command TEXT NOT NULL,
        params TEXT NOT NULL,          -- JSON
        started_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
        finished_at TEXT,
        status TEXT NOT NULL DEFAULT 'running',  -- running | done | interrupted | failed
        stats TEXT                     -- JSON
    );
    """,
    # 2: people. Numbers are never reused (AUTOINCREMENT), faces point at their person.
    """
    CREATE TABLE people (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT,
        pinned INTEGER NOT NULL DEFAULT 0,
        imported INTEGER NOT NULL DEFAULT 0,
        source TEXT,                   -- where an imported person came from
        merged_into INTEGER REFERENCES people(id),
        created_run INTEGER,
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
    );
    ALTER TABLE faces ADD COLUMN person_id INTEGER REFERENCES people(id);
    ALTER TABLE faces ADD COLUMN assigned_by TEXT;   -- cluster | extend | user | import
    ALTER TABLE faces ADD COLUMN clustered_run INTEGER;
    CREATE INDEX faces_person ON faces(person_id);

    -- A face the user removed from a person never joins that person again.
    CREATE TABLE face_exclusions (
        face_id INTEGER NOT NULL REFERENCES faces(id),
        person_id INTEGER NOT NULL REFERENCES people(id),
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
        PRIMARY KEY (face_id, person_id)
    );
    """,
    # 3: refine's verdicts. A face keeps its person; `gate` says why refine left it out
    # of that person's faceset (NULL: in). `faceset` marks people big enough to export.
    """
    ALTER TABLE faces ADD COLUMN gate TEXT;
    ALTER TABLE people ADD COLUMN faceset INTEGER NOT NULL DEFAULT 0;
    """,
    # 4: enrich (dense landmarks, pose, composite quality), imports, curation, eras.
    """
    ALTER TABLE faces ADD COLUMN landmarks_dense BLOB;  -- float32 (n, 2), original pixels
    ALTER TABLE faces ADD COLUMN pitch REAL;
    ALTER TABLE faces ADD COLUMN yaw REAL;
    ALTER TABLE faces ADD COLUMN roll REAL;
    ALTER TABLE faces ADD COLUMN enriched_run INTEGER;
    ALTER TABLE faces ADD COLUMN q_frontal REAL;        -- every quality component in [0, 1]
    ALTER TABLE faces ADD COLUMN q_det REAL;
    ALTER TABLE faces ADD COLUMN q_symmetry REAL;
    ALTER TABLE faces ADD COLUMN q_size REAL;
    ALTER TABLE faces ADD COLUMN q_sharp REAL;
    ALTER TABLE faces ADD COLUMN quality REAL;          -- composite
    ALTER TABLE faces ADD COLUMN origin TEXT;           -- JSON: imported crop's original photo + box
    ALTER TABLE people ADD COLUMN status TEXT NOT NULL DEFAULT 'active';  -- active | masked | merged | thin
    ALTER TABLE people ADD COLUMN parent_id INTEGER REFERENCES people(id); -- era set of a person
    ALTER TABLE people ADD COLUMN era TEXT;
    ALTER TABLE people ADD COLUMN cluster_run INTEGER;

    -- Curation plans: analyze writes one (status planned), apply executes it and records a
    -- journal of reversible steps, undo replays the journal backwards.
    CREATE TABLE operations (
        id INTEGER PRIMARY KEY,
        command TEXT NOT NULL,
        plan TEXT NOT NULL,            -- JSON
        journal TEXT,                  -- JSON list of steps, filled by apply
        status TEXT NOT NULL DEFAULT 'planned',  -- planned | applied | undone
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
        applied_at TEXT,
        undone_at TEXT
    );

    -- Every export, so the web UI and curation find the latest tree.
    CREATE TABLE exports (
        id INTEGER PRIMARY KEY,
        out TEXT NOT NULL,
        targets TEXT NOT NULL,         -- JSON list
        params TEXT NOT NULL,          -- JSON
        run_id INTEGER,
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
    );
    """,
    # 5: video frames. A face seen in a video points at the frame it was cut from: two faces of
    # one frame are different people (cannot-link keys on the frame), faces of different frames
    # of one video may be the same person. Photos' faces have no frame.
    """
    CREATE TABLE frames (
        id INTEGER PRIMARY KEY,
        file_id INTEGER NOT NULL REFERENCES files(id),
        frame_index INTEGER NOT NULL,  -- in decode order, 0: the first frame
        t_ms REAL NOT NULL,            -- presentation time, milliseconds from the start
        UNIQUE (file_id, frame_index)
    );
    ALTER TABLE faces ADD COLUMN frame_id INTEGER REFERENCES frames(id);
    CREATE INDEX faces_frame ON faces(frame_id);
    """,
    # 6 (review): what the user says about a person outside curation, in a table of its own so
    # curation snapshots and undo never touch it: hidden (out of the grid, the review queue,
    # exports and XMP tags until shown again) and a birth date (ages on faces, eras named by
    # age). And two people the user said are not one (a proposed merge rejected), a < b.
    """
    CREATE TABLE person_facts (
        person_id INTEGER PRIMARY KEY REFERENCES people(id) ON DELETE CASCADE,
        hidden INTEGER NOT NULL DEFAULT 0,
        birth_date TEXT                -- YYYY-MM-DD
    );
    CREATE TABLE people_apart (
        a INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
        b INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
        PRIMARY KEY (a, b)
    );
    """,
    # 7 (scale): person centroids, kept up to date as faces join and leave people
    # (catalog/centroids.py): extend reads one row per person, not every assigned face, and finds
    # its new faces by index. Sums are int64 fixed point (units of 2^-32), so updates equal a recomputation exactly. An older catalog gets them
    # computed once, in this migration's transaction (the meta mark asks for it).
    """
    CREATE TABLE person_centroids (
        person_id INTEGER PRIMARY KEY REFERENCES people(id),
        n INTEGER NOT NULL,            -- faces the person holds (with a usable embedding)
        total BLOB NOT NULL,           -- int64 (dim,): the sum of their embeddings
        n_out INTEGER NOT NULL DEFAULT 0,  -- of those, faces refine left out (faces.gate set)
        out_total BLOB                 -- int64 (dim,): their sum; NULL when n_out = 0
    );
    INSERT OR REPLACE INTO meta(key, value) VALUES ('centroids_stale', 'migration');
    -- the faces no clustering has seen yet (extend's new faces), found without a scan
    CREATE INDEX faces_unclustered ON faces(person_id) WHERE clustered_run IS NULL;
    """,
    # 8: what export's re-detection found in a crop, by the digest of the crop's PNG bytes and
    # the detector that looked: an unchanged crop (a re-run after new photos, a second export)
    # is not looked at again. Only a memo: dropping its rows changes nothing but time.
    """
    CREATE TABLE crop_checks (
        digest TEXT NOT NULL,          -- sha256 of the crop's PNG bytes
        detector TEXT NOT NULL,        -- the detector and rule that counted (export.crops.checker_key)
        faces INTEGER NOT NULL,        -- faces it found
        PRIMARY KEY (digest, detector)
    );
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)
