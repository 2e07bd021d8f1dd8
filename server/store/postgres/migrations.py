"""The PostgreSQL store's schema, versioned in the database itself (table ``livejobs_schema``).

``migrate`` runs at open inside one transaction under an advisory lock, so that servers
opening the same database at once apply each migration once; ``migrations.plan`` decides what
to run and refuses a schema newer than this livejobs knows, as for the other stores.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from livejobs import search
from livejobs.store.migrations import Migration, plan
from livejobs.store.postgres.rollups import SCHEMA as SCHEMA_ROLLUPS

MIGRATIONS = [
    Migration(1, "create the jobs, records, requests, flow and changes tables"),
    Migration(2, "count jobs by type, status and owner in job_counts, kept by triggers"),
    Migration(3, "the change log keeps each document as JSON bytes, not JSONB"),
    Migration(4, "lifo: the claim orders by rank (created, negated for a LIFO job)"),
    Migration(5, "history rollups per type, minute and hour"),
    Migration(6, "indexes for live windows (newest first) and search (tsvector)"),
    Migration(7, "the change log is read by snapshot: no append lock, no NOTIFY in writes"),
    Migration(8, "search words in job_words, written only when they change; no jobs_status"),
    Migration(9, "finished jobs indexed by type and status (jobs.clean, types.set_keep)"),
    Migration(10, "a create's request is locked and looked up in one call"),
]

#: pg_advisory_xact_lock key held while migrating (any constant: one per database)
MIGRATE_LOCK = 0x6C6A_6D69  # "ljmi"

SCHEMA_1 = """
CREATE TABLE jobs (
    id text COLLATE "C" PRIMARY KEY,
    type text COLLATE "C",
    status text COLLATE "C",
    priority float8,
    created float8,
    due float8,
    owner text COLLATE "C",
    version int8,
    live_key text COLLATE "C" UNIQUE,
    target text COLLATE "C",
    exclude jsonb,
    doc jsonb NOT NULL
);
CREATE INDEX jobs_claim ON jobs (type, priority, created, id) WHERE status = 'ready';
CREATE INDEX jobs_running ON jobs (type) WHERE status = 'running';
CREATE INDEX jobs_due ON jobs (due) WHERE due IS NOT NULL;
CREATE INDEX jobs_created ON jobs (created, id);
CREATE INDEX jobs_status ON jobs (status, type);
CREATE TABLE records (
    kind text COLLATE "C" NOT NULL,
    id text COLLATE "C" NOT NULL,
    doc jsonb NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE TABLE requests (
    owner text COLLATE "C" NOT NULL,
    id text COLLATE "C" NOT NULL,
    expires float8 NOT NULL,
    answer jsonb NOT NULL,
    PRIMARY KEY (owner, id)
);
CREATE INDEX requests_expires ON requests (expires);
CREATE TABLE flow_starts (type text COLLATE "C" NOT NULL, at float8 NOT NULL);
CREATE INDEX flow_starts_type ON flow_starts (type, at);
CREATE TABLE changes (
    seq bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT clock_timestamp(),
    op text NOT NULL,
    id text NOT NULL,
    doc jsonb
);
CREATE TABLE changes_trimmed (upto int8 NOT NULL);
INSERT INTO changes_trimmed VALUES (0);
-- the appends of a transaction: serialised until its commit, then announced (see feed.py)
CREATE FUNCTION livejobs_changes_lock() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_advisory_xact_lock(1819961702); RETURN NULL; END $$;
CREATE FUNCTION livejobs_changes_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_notify('livejobs_changes', ''); RETURN NULL; END $$;
CREATE TRIGGER changes_lock BEFORE INSERT ON changes
    FOR EACH STATEMENT EXECUTE FUNCTION livejobs_changes_lock();
CREATE TRIGGER changes_notify AFTER INSERT ON changes
    FOR EACH STATEMENT EXECUTE FUNCTION livejobs_changes_notify();
"""

# Counts as deltas, appended by statement triggers (one row per group a statement moved, never
# an update of a shared row, which would make concurrent writers wait for each other's
# commits); ``counts.compact`` folds them from time to time. See counts.py.
_GROUPED = "WHERE type IS NOT NULL AND status IS NOT NULL AND owner IS NOT NULL GROUP BY 1, 2, 3"
SCHEMA_2 = f"""
CREATE TABLE job_counts (
    type text COLLATE "C" NOT NULL,
    status text COLLATE "C" NOT NULL,
    owner text COLLATE "C" NOT NULL,
    n int8 NOT NULL
);
CREATE INDEX job_counts_groups ON job_counts (type, status, owner);
INSERT INTO job_counts SELECT type, status, owner, count(*) FROM jobs {_GROUPED};
CREATE FUNCTION livejobs_count_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO job_counts SELECT type, status, owner, count(*) FROM new_rows {_GROUPED};
RETURN NULL; END $$;
CREATE FUNCTION livejobs_count_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO job_counts SELECT type, status, owner, -count(*) FROM old_rows {_GROUPED};
RETURN NULL; END $$;
CREATE FUNCTION livejobs_count_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO job_counts SELECT type, status, owner, sum(n) FROM (
    SELECT type, status, owner, -1 AS n FROM old_rows
    UNION ALL SELECT type, status, owner, 1 FROM new_rows) d
  {_GROUPED} HAVING sum(n) <> 0;
RETURN NULL; END $$;
CREATE TRIGGER jobs_count_insert AFTER INSERT ON jobs REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION livejobs_count_insert();
CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION livejobs_count_delete();
CREATE TRIGGER jobs_count_update AFTER UPDATE ON jobs
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION livejobs_count_update();
"""

# The log's documents are only ever read back whole, by the feed: bytes written as the server
# encoded them cost PostgreSQL no JSONB parse on the way in and no rendering on the way out
# (about a third of the append's time, and of the feed's read, per 1,000 changes).
SCHEMA_3 = """
ALTER TABLE changes ALTER COLUMN doc TYPE bytea USING convert_to(doc::text, 'UTF8');
"""

# ``lifecycle.claim_rank`` as a generated column: no write path has to know of it (each
# statement may run again on a database an earlier step was re-applied to)
SCHEMA_LIFO = """
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS rank float8
    GENERATED ALWAYS AS (CASE WHEN doc->'lifo' = 'true' THEN -created ELSE created END) STORED;
CREATE INDEX IF NOT EXISTS jobs_claim_rank ON jobs (type, priority, rank, id)
    WHERE status = 'ready';
DROP INDEX IF EXISTS jobs_claim;
"""

SCHEMA_WINDOWS = """
CREATE INDEX IF NOT EXISTS jobs_window ON jobs ((doc -> 'created') DESC NULLS LAST, id);
CREATE OR REPLACE FUNCTION livejobs_search_text(doc jsonb) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT concat_ws(' ', doc ->> 'id', right(doc ->> 'id', 10),
        (SELECT string_agg(v #>> '{}', ' ') FROM jsonb_path_query(doc,
            'strict $.reason.** ? (@.type() == "string")') AS v),
        (SELECT string_agg(v #>> '{}', ' ') FROM jsonb_path_query(doc,
            'strict $.data.** ? (@.type() == "string" || @.type() == "number")') AS v
            WHERE length(v #>> '{}') <= 256),
        (SELECT string_agg(v #>> '{}', ' ') FROM jsonb_path_query(doc,
            'strict $.failures.** ? (@.type() == "string")') AS v),
        (SELECT string_agg(v #>> '{}', ' ') FROM jsonb_path_query(doc,
            'lax $.log[*] ? (!(@.kind == "audit")).message ? (@.type() == "string")') AS v))
$$;
CREATE INDEX IF NOT EXISTS jobs_search ON jobs
    USING gin (to_tsvector('simple', livejobs_search_text(doc)));
"""
"""The live windows' default order (newest first), as ``sql.order_by`` writes it; search
(``livejobs.search``) as a GIN index of a ``tsvector`` expression (no extension needed)."""

# Each row of the log names its transaction; readers follow snapshots (feed.py), so the appends
# no longer take a lock held through the commit, and the NOTIFY (whose own lock would serialise
# the commits just the same) is sent after the commit instead of by a trigger.
SCHEMA_SNAPSHOTS = """
ALTER TABLE changes ADD COLUMN IF NOT EXISTS xid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX IF NOT EXISTS changes_xid ON changes (xid);
ALTER TABLE changes_trimmed ADD COLUMN IF NOT EXISTS upto_xid xid8 NOT NULL DEFAULT '0';
DROP TRIGGER IF EXISTS changes_lock ON changes;
DROP TRIGGER IF EXISTS changes_notify ON changes;
DROP FUNCTION IF EXISTS livejobs_changes_lock();
DROP FUNCTION IF EXISTS livejobs_changes_notify();
"""

# The words of each job in a table of their own (``sql.words_of``): an expression index on
# ``doc`` took a new GIN entry, and the search text's computation, at every claim and
# completion, about a quarter of PostgreSQL's work per job. Existing jobs get their words from
# ``fill_words`` (in Python, as the server writes them) before the index is built; a statement
# trigger forgets the words of deleted jobs. The index on (status, type) goes too: no query
# reads it (counts come from job_counts, the claim and the running count from partial
# indexes), and every write paid for it; so does the search text's SQL function.
SCHEMA_WORDS_TABLE = """
CREATE TABLE IF NOT EXISTS job_words (id text COLLATE "C" PRIMARY KEY, words tsvector NOT NULL);
"""
SCHEMA_WORDS = """
CREATE INDEX IF NOT EXISTS job_words_search ON job_words USING gin (words);
DROP INDEX IF EXISTS jobs_search;
DROP FUNCTION IF EXISTS livejobs_search_text(jsonb);
DROP INDEX IF EXISTS jobs_status;
CREATE OR REPLACE FUNCTION livejobs_words_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN DELETE FROM job_words WHERE id IN (SELECT id FROM old_rows); RETURN NULL; END $$;
CREATE OR REPLACE TRIGGER jobs_words_delete AFTER DELETE ON jobs REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION livejobs_words_delete();
"""

# The finished jobs of a type and status, for what reads them by filter: the trimming of
# ``types.set_keep`` (every few completions of a kept type), ``jobs.clean``, the dashboard's
# lists by status. Only finished rows: a claim's update adds no entry, a completion one.
SCHEMA_FINISHED = """
CREATE INDEX IF NOT EXISTS jobs_finished ON jobs (type, status)
    WHERE status IN ('cancelled', 'completed', 'failed');
"""

# A create with a request id locks the request, then reads its answer: two statements, since
# a statement sees what was committed before it began, not what the lock waited for. A
# VOLATILE function's statements each take a snapshot of their own, so one call does both.
SCHEMA_REQUEST_ANSWER = """
CREATE OR REPLACE FUNCTION livejobs_request_answer(name text, who text, rid text, at float8)
    RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended(name, 7));
    RETURN (SELECT answer FROM requests WHERE owner = who AND id = rid AND expires > at);
END $$;
"""

BACKFILL_BATCH = 500
"""Jobs ``fill_words`` reads at a time: a million jobs are a few thousand round trips, and
only this many documents are in memory at once."""

_FIRST_JOBS = "SELECT id, doc::text FROM jobs ORDER BY id LIMIT $1"
_NEXT_JOBS = "SELECT id, doc::text FROM jobs WHERE id > $1 ORDER BY id LIMIT $2"
_FILL_WORDS = """
INSERT INTO job_words (id, words)
    SELECT id, array_to_tsvector(string_to_array(words, ' '))
    FROM unnest($1::text[], $2::text[]) AS t(id, words)
ON CONFLICT (id) DO NOTHING
"""


async def fill_words(conn: Any) -> None:
    """Every stored job's words in ``job_words``, made by ``search.lexemes`` as the server
    makes them when it writes a job (``sql.words_of``): SQL's ``[[:alnum:]]`` and ``lower()``
    follow the database's locale, and under LC_CTYPE=C split or keep the case of any non-ASCII
    letter. The jobs are read in batches in the order of their ids (the primary key)."""
    rows = await conn.fetch(_FIRST_JOBS, BACKFILL_BATCH)
    while rows:
        ids = [row[0] for row in rows]
        words = [" ".join(search.lexemes(msgspec.json.decode(row[1]))) for row in rows]
        await conn.execute(_FILL_WORDS, ids, words)
        rows = await conn.fetch(_NEXT_JOBS, ids[-1], BACKFILL_BATCH)


Step = str | Callable[[Any], Awaitable[None]]
"""A part of a migration: SQL to execute, or a function of the connection to await."""

STEPS: dict[int, tuple[Step, ...]] = {
    1: (SCHEMA_1,),
    2: (SCHEMA_2,),
    3: (SCHEMA_3,),
    4: (SCHEMA_LIFO,),
    5: (SCHEMA_ROLLUPS,),
    6: (SCHEMA_WINDOWS,),
    7: (SCHEMA_SNAPSHOTS,),
    8: (SCHEMA_WORDS_TABLE, fill_words, SCHEMA_WORDS),
    9: (SCHEMA_FINISHED,),
    10: (SCHEMA_REQUEST_ANSWER,),
}

VERSION_TABLE = "CREATE TABLE IF NOT EXISTS livejobs_schema (version integer NOT NULL)"


async def recorded(conn: Any) -> int:
    """The schema version the database records (0: none, an empty database)."""
    exists = await conn.fetchval("SELECT to_regclass('livejobs_schema') IS NOT NULL")
    if not exists:
        return 0
    version = await conn.fetchval("SELECT max(version) FROM livejobs_schema")
    return int(version or 0)


async def pending(conn: Any, where: str) -> list[Migration]:
    """What ``migrate`` would apply, read without changing anything."""
    return plan(await recorded(conn), MIGRATIONS, where)


async def apply(conn: Any, parts: tuple[Step, ...]) -> None:
    for part in parts:
        if isinstance(part, str):
            await conn.execute(part)
        else:
            await part(conn)


async def migrate(conn: Any, where: str) -> None:
    """Bring the database to the newest schema (refusing a newer one)."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATE_LOCK)
        await conn.execute(VERSION_TABLE)
        steps = plan(await recorded(conn), MIGRATIONS, where)
        for step in steps:
            await apply(conn, STEPS[step.version])
        if steps:
            await conn.execute("DELETE FROM livejobs_schema")
            await conn.execute("INSERT INTO livejobs_schema VALUES ($1)", steps[-1].version)
