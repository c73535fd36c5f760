//! The hash chain and its verification.

use crate::replay::{check_all, Tamper};
use crate::types::{event_hash, LedgerError};
use crate::GENESIS;
use rusqlite::Connection;
use serde::{Deserialize, Serialize};

/// The head of the chain, kept outside the database to detect a wholesale
/// rewrite.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Events covered.
    pub count: i64,
    /// Hash of the last covered event.
    pub head: String,
}

/// What `verify` found.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// Events checked.
    pub count: i64,
    /// Hash of the last event.
    pub head: String,
    /// Sequence number of the first event whose hash, link or payload does
    /// not check out.
    pub first_broken: Option<i64>,
    /// What was wrong there.
    pub problem: Option<String>,
    /// The first cache or proposal row that disagrees with the replayed
    /// chain (an illegal sequence, a forged state or action row).
    pub tamper: Option<Tamper>,
}

impl VerifyReport {
    /// True when the whole chain checks out.
    pub fn ok(&self) -> bool {
        self.first_broken.is_none() && self.tamper.is_none()
    }
}

/// Recomputes every hash and link, and each `proposed` event's payload
/// against the stored proposal.
pub fn verify(conn: &Connection) -> Result<VerifyReport, LedgerError> {
    let mut stmt = conn.prepare(
        "SELECT e.seq, e.proposal_id, e.kind, COALESCE(e.from_state, ''), e.to_state, e.actor, e.reason,
                e.payload, e.payload_hash, e.at, e.prev_hash, e.hash,
                -- the proposal's columns only where its first event binds them
                CASE WHEN e.to_state = 'proposed' THEN p.body END,
                CASE WHEN e.to_state = 'proposed' THEN p.provenance END,
                CASE WHEN e.to_state = 'proposed' THEN p.kind END,
                CASE WHEN e.to_state = 'proposed' THEN p.title END, e.mac
         FROM events e LEFT JOIN proposals p ON p.id = e.proposal_id ORDER BY e.seq",
    )?;
    let key = crate::key::current(conn)?;
    // A key made over existing history pins its last event: cutting or
    // rewriting below the key is caught, not only appending above it.
    let mut anchored = key.as_ref().is_none_or(|k| k.from <= 1);
    let mut rows = stmt.query([])?;
    let mut prev = GENESIS.to_string();
    let mut expected_seq = 1;
    let mut report = VerifyReport {
        count: 0,
        head: GENESIS.to_string(),
        first_broken: None,
        problem: None,
        tamper: None,
    };
    while let Some(r) = rows.next()? {
        let seq: i64 = r.get(0)?;
        let (pid, kind, from, to, actor, reason): (String, String, String, String, String, String) = (
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
        );
        let (payload, payload_hash, at, prev_hash, hash): (String, String, i64, String, String) =
            (r.get(7)?, r.get(8)?, r.get(9)?, r.get(10)?, r.get(11)?);
        let body: Option<String> = r.get(12)?;
        let provenance: Option<String> = r.get(13)?;
        let (pkind, title): (Option<String>, Option<String>) = (r.get(14)?, r.get(15)?);
        let mac: Option<String> = r.get(16)?;
        let mut broken = |why: String| {
            if report.first_broken.is_none() {
                report.first_broken = Some(seq);
                report.problem = Some(why);
            }
        };
        if seq != expected_seq {
            broken(format!("sequence jumps from {} to {seq}", expected_seq - 1));
        }
        if prev_hash != prev {
            broken("previous-hash link does not match the event before".into());
        }
        if blake3::hash(payload.as_bytes()).to_hex().as_str() != payload_hash {
            broken("payload does not match its hash".into());
        }
        if to == "proposed" && kind == "transition" {
            if let Err(why) = crate::types::proposal_matches(
                &payload,
                pkind.as_deref().unwrap_or(""),
                title.as_deref().unwrap_or(""),
                body.as_deref().unwrap_or(""),
                provenance.as_deref().unwrap_or(""),
            ) {
                broken(format!(
                    "proposal `{pid}` differs from what its first event recorded: {why}"
                ));
            }
        }
        let recomputed = event_hash(
            seq,
            &pid,
            &kind,
            &from,
            &to,
            &actor,
            &reason,
            &payload_hash,
            at,
            &prev_hash,
        );
        if recomputed != hash {
            broken("event hash does not match its fields".into());
        }
        if let Some(k) = &key {
            if seq == k.from - 1 {
                anchored = hash == k.anchor;
                if !anchored {
                    broken(format!(
                        "event #{seq} is not the history this ledger's key was made over (rewritten below the key)"
                    ));
                }
            }
        }
        match &key {
            Some(k)
                if seq >= k.from
                    && mac.as_deref() != Some(crate::key::mac(&k.bytes, &hash).as_str()) =>
            {
                broken(format!(
                    "event #{seq} is not authenticated by this ledger's key (written outside writ, hashes recomputed)"
                ));
            }
            None if mac.is_some() => broken(format!(
                "event #{seq} carries a MAC but this ledger's key is not available to check it"
            )),
            _ => {}
        }
        prev = hash;
        expected_seq = seq + 1;
        report.count += 1;
    }
    report.head = prev;
    drop(rows);
    if !anchored && report.first_broken.is_none() {
        let from = key.as_ref().map_or(0, |k| k.from);
        report.first_broken = Some(from - 1);
        report.problem = Some(format!(
            "event #{} is missing: the history this ledger's key was made over was cut",
            from - 1
        ));
    }
    report.tamper = check_all(conn)?;
    Ok(report)
}
