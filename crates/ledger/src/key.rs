//! The ledger's key: a secret kept outside the repository that
//! authenticates every event (a keyed blake3 of the event's hash).
//!
//! Hashes alone let anyone who can write the database recompute a chain
//! (append a forged approval, say). The key lives in a folder the caller
//! names (writ uses `$XDG_DATA_HOME/writ/keys`), in a file named by the
//! blake3 of the ledger's canonical path, mode 0600, so an agent confined
//! to the repository cannot read or replace it. Events from the key's
//! `keyed_from` on must carry a valid MAC; older events (a ledger from
//! before keys) are covered by the chain only.

use crate::types::LedgerError;
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A ledger's key file.
#[derive(Serialize, Deserialize)]
struct KeyFile {
    /// The ledger it belongs to (for people reading the folder).
    ledger: String,
    /// 32 bytes, hex.
    key: String,
    /// The first event the key authenticates.
    keyed_from: i64,
    /// The hash of the event before `keyed_from` (the chain's genesis for
    /// a ledger keyed from its start): the history the key was adopted
    /// over cannot be cut or rewritten under it.
    #[serde(default = "genesis")]
    anchor: String,
}

fn genesis() -> String {
    crate::GENESIS.to_string()
}

/// Where the key of the ledger at `ledger` lives in `dir`.
fn key_path(dir: &Path, ledger: &Path) -> PathBuf {
    let canonical = ledger
        .canonicalize()
        .unwrap_or_else(|_| ledger.to_path_buf());
    let name = blake3::hash(canonical.to_string_lossy().as_bytes()).to_hex();
    dir.join(format!("{}.key", &name[..32]))
}

fn key_error(path: &Path, why: impl std::fmt::Display) -> LedgerError {
    LedgerError::Key(format!("`{}`: {why}", path.display()))
}

/// How a ledger is opened, for its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Reading: a missing key is never created; a ledger without MACs is
    /// read unkeyed.
    Read,
    /// Writing: a new (empty) ledger gets a key; a ledger with events and
    /// no key is refused until adopted.
    Write,
    /// The user adopts the ledger's history as it is: a key is made that
    /// covers events from the next one on.
    Adopt,
}

/// Loads this ledger's key from `dir` (creating it as `mode` allows) and
/// makes it the connection's key. Serialised with other writers by an
/// IMMEDIATE transaction, so two first uses cannot make two keys.
pub(crate) fn attach(
    conn: &Connection,
    ledger: &Path,
    dir: &Path,
    mode: Mode,
) -> Result<(), LedgerError> {
    if mode == Mode::Read {
        return attach_in(conn, ledger, dir, mode);
    }
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let result = attach_in(conn, ledger, dir, mode);
    conn.execute_batch(if result.is_ok() { "COMMIT" } else { "ROLLBACK" })?;
    result
}

fn attach_in(conn: &Connection, ledger: &Path, dir: &Path, mode: Mode) -> Result<(), LedgerError> {
    let path = key_path(dir, ledger);
    let events: i64 = conn.query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))?;
    let macs: i64 = conn.query_row(
        "SELECT COUNT(*) FROM events WHERE mac IS NOT NULL",
        [],
        |r| r.get(0),
    )?;
    let existing = match std::fs::symlink_metadata(&path) {
        Ok(m) if !m.is_file() => return Err(key_error(&path, "is not a regular file")),
        Ok(_) => Some(read(&path)?),
        Err(_) => None,
    };
    let file = match (existing, mode) {
        (Some(mut file), _) => {
            if events == 0 && file.keyed_from != 1 && mode != Mode::Read {
                // A new ledger in the same place: every event is keyed.
                file.keyed_from = 1;
                file.anchor = genesis();
                replace(&path, &file)?;
            }
            file
        }
        (None, Mode::Read) if macs == 0 => return Ok(()),
        (None, Mode::Read | Mode::Write) if macs > 0 => {
            return Err(key_error(
                &path,
                "this ledger's events carry MACs but its key is missing: restore the key file (a ledger moved or copied needs its key moved with it), or accept its history as it is with `writ verify --adopt-key`",
            ))
        }
        (None, Mode::Write) if events > 0 => {
            return Err(key_error(
                &path,
                format!("this ledger has {events} events and no key (it is from before keys, or was copied in): check it with `writ verify`, then adopt it with `writ verify --adopt-key`"),
            ))
        }
        (None, _) => {
            let (last, anchor): (i64, String) = conn
                .query_row("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()?
                .unwrap_or((0, genesis()));
            let file = KeyFile {
                ledger: ledger.display().to_string(),
                key: hex(&rand_key()?),
                keyed_from: last + 1,
                anchor,
            };
            std::fs::create_dir_all(dir).map_err(|e| key_error(dir, e))?;
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
            publish(&path, &file)?
        }
    };
    let key = unhex(&file.key).ok_or_else(|| key_error(&path, "the key is not 32 hex bytes"))?;
    conn.execute_batch("CREATE TEMP TABLE IF NOT EXISTS writ_key (key BLOB NOT NULL, keyed_from INTEGER NOT NULL, anchor TEXT NOT NULL); DELETE FROM temp.writ_key;")?;
    conn.execute(
        "INSERT INTO temp.writ_key (key, keyed_from, anchor) VALUES (?1, ?2, ?3)",
        params![key.to_vec(), file.keyed_from, file.anchor],
    )?;
    Ok(())
}

fn read(path: &Path) -> Result<KeyFile, LedgerError> {
    let text = std::fs::read_to_string(path).map_err(|e| key_error(path, e))?;
    serde_json::from_str(&text).map_err(|e| key_error(path, format!("not a key file: {e}")))
}

/// Writes a new key file whole and links it into place only if none is
/// there; when another process won, its key is the key.
fn publish(path: &Path, file: &KeyFile) -> Result<KeyFile, LedgerError> {
    let tmp = temp(path, file)?;
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => read(path),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read(path),
        Err(e) => Err(key_error(path, e)),
    }
}

/// Replaces a key file whole.
fn replace(path: &Path, file: &KeyFile) -> Result<(), LedgerError> {
    let tmp = temp(path, file)?;
    std::fs::rename(&tmp, path).map_err(|e| key_error(path, e))
}

/// Writes a key file to a fresh temporary name beside `path`, mode 0600,
/// never through a link; returns that name.
fn temp(path: &Path, file: &KeyFile) -> Result<PathBuf, LedgerError> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| key_error(&tmp, e))?;
    let text = serde_json::to_string(file).unwrap_or_default();
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| key_error(&tmp, e))?;
    Ok(tmp)
}

/// The connection's key, if it has one.
pub(crate) struct Key {
    /// The secret.
    pub bytes: [u8; 32],
    /// The first event it covers.
    pub from: i64,
    /// The hash of the event before `from` (genesis when `from` is 1).
    pub anchor: String,
}

/// The connection's key, if it has one.
pub(crate) fn current(conn: &Connection) -> Result<Option<Key>, rusqlite::Error> {
    let has: bool = conn.query_row(
        "SELECT COUNT(*) FROM temp.sqlite_master WHERE name = 'writ_key'",
        [],
        |r| r.get::<_, i64>(0).map(|n| n > 0),
    )?;
    if !has {
        return Ok(None);
    }
    let row: Option<(Vec<u8>, i64, String)> = conn
        .query_row(
            "SELECT key, keyed_from, anchor FROM temp.writ_key",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    Ok(row.and_then(|(k, from, anchor)| {
        <[u8; 32]>::try_from(k.as_slice()).ok().map(|bytes| Key {
            bytes,
            from,
            anchor,
        })
    }))
}

/// The MAC of an event's hash.
pub(crate) fn mac(key: &[u8; 32], hash: &str) -> String {
    blake3::keyed_hash(key, hash.as_bytes())
        .to_hex()
        .to_string()
}

fn rand_key() -> Result<[u8; 32], LedgerError> {
    let mut key = [0u8; 32];
    let mut f = std::fs::File::open("/dev/urandom")
        .map_err(|e| LedgerError::Key(format!("/dev/urandom: {e}")))?;
    std::io::Read::read_exact(&mut f, &mut key)
        .map_err(|e| LedgerError::Key(format!("/dev/urandom: {e}")))?;
    Ok(key)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<[u8; 32]> {
    let bytes: Option<Vec<u8>> = (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect();
    bytes.and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
}
