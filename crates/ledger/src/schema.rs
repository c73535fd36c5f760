//! The ledger's tables and the triggers that guard them.
//!
//! `events` is the truth; `proposals` holds what each first event binds;
//! `state` and `actions` are caches of the chain that writ re-derives before
//! every write and `verify` compares row by row. The triggers make the
//! caches agree with the chain at write time, so a plain `UPDATE` or
//! `INSERT` cannot forge a state or an action; someone who drops the
//! triggers is caught by `verify` and by the replay every write does.

/// Creates the tables and triggers (idempotent; adds new triggers to old
/// ledgers).
pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS proposals (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    provenance TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    proposal_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('transition', 'refused-transition')),
    from_state TEXT,
    to_state TEXT NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT NOT NULL,
    payload TEXT NOT NULL,
    payload_hash TEXT NOT NULL,
    at INTEGER NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    mac TEXT
);
CREATE INDEX IF NOT EXISTS events_proposal ON events(proposal_id);
CREATE TABLE IF NOT EXISTS state (proposal_id TEXT PRIMARY KEY, state TEXT NOT NULL, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS actions (
    id TEXT PRIMARY KEY,
    proposal_id TEXT NOT NULL UNIQUE,
    seq INTEGER NOT NULL,
    basis_seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS rulesets (
    hash TEXT PRIMARY KEY,
    sources TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS events_append_only_u BEFORE UPDATE ON events BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
CREATE TRIGGER IF NOT EXISTS events_append_only_d BEFORE DELETE ON events BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
CREATE TRIGGER IF NOT EXISTS proposals_append_only_u BEFORE UPDATE ON proposals BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
CREATE TRIGGER IF NOT EXISTS proposals_append_only_d BEFORE DELETE ON proposals BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
CREATE TRIGGER IF NOT EXISTS actions_append_only_u BEFORE UPDATE ON actions BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
CREATE TRIGGER IF NOT EXISTS actions_append_only_d BEFORE DELETE ON actions BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
CREATE TRIGGER IF NOT EXISTS rulesets_append_only_u BEFORE UPDATE ON rulesets BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
CREATE TRIGGER IF NOT EXISTS rulesets_append_only_d BEFORE DELETE ON rulesets BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
CREATE TRIGGER IF NOT EXISTS events_chained BEFORE INSERT ON events
WHEN NEW.seq IS NOT (SELECT COALESCE(MAX(seq), 0) + 1 FROM events)
  OR NEW.prev_hash IS NOT COALESCE((SELECT hash FROM events ORDER BY seq DESC LIMIT 1),
                                   '0000000000000000000000000000000000000000000000000000000000000000')
BEGIN SELECT RAISE(ABORT, 'an event must extend the chain'); END;
CREATE TRIGGER IF NOT EXISTS state_from_chain_i BEFORE INSERT ON state
WHEN NOT EXISTS (SELECT 1 FROM events e WHERE e.seq = NEW.seq AND e.proposal_id = NEW.proposal_id
                 AND e.kind = 'transition' AND e.to_state = NEW.state)
BEGIN SELECT RAISE(ABORT, 'the state cache must follow the chain'); END;
CREATE TRIGGER IF NOT EXISTS state_from_chain_u BEFORE UPDATE ON state
WHEN NEW.proposal_id IS NOT OLD.proposal_id OR NEW.seq <= OLD.seq
  OR NOT EXISTS (SELECT 1 FROM events e WHERE e.seq = NEW.seq AND e.proposal_id = NEW.proposal_id
                 AND e.kind = 'transition' AND e.to_state = NEW.state)
BEGIN SELECT RAISE(ABORT, 'the state cache must follow the chain'); END;
CREATE TRIGGER IF NOT EXISTS state_from_chain_d BEFORE DELETE ON state BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
CREATE TRIGGER IF NOT EXISTS actions_from_chain BEFORE INSERT ON actions
WHEN NOT EXISTS (SELECT 1 FROM events e WHERE e.seq = NEW.seq AND e.proposal_id = NEW.proposal_id
                 AND e.kind = 'transition' AND e.to_state = 'recorded')
  OR NOT EXISTS (SELECT 1 FROM events e WHERE e.seq = NEW.basis_seq AND e.proposal_id = NEW.proposal_id
                 AND e.kind = 'transition' AND e.to_state IN ('allowed', 'approved'))
BEGIN SELECT RAISE(ABORT, 'an action must rest on its recorded event and an allow or approval'); END;
";
