//! The server's bearer token file, `<index>/serve-token`.
//!
//! - Made on first start (32 random bytes from the kernel, as hex) in a
//!   temporary file created with mode 0600, then renamed into place, so the
//!   token is never readable by others and never seen half-written.
//! - A token file that others may read (any group or other bit set) is
//!   treated as known to them: writ replaces it with a fresh 0600 token and
//!   says so.
//! - A token path that is a symbolic link, or not a regular file, is
//!   refused: writ never reads or writes a token through a link (a
//!   repository could ship `.writ/serve-token` pointing at any file).

use crate::{Log, ServeError};
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// The shortest token kept; a shorter one is replaced.
const MIN_LEN: usize = 32;

/// The token in `file` (inside the index folder `dir`), made if missing,
/// short, or readable by others.
pub fn load_or_make(dir: &Path, file: &Path, log: &Log) -> Result<String, ServeError> {
    match existing(file)? {
        Existing::Token(t) => Ok(t),
        Existing::Exposed(mode) => {
            log(&format!(
                "`{}` had mode {mode:03o} (readable by others): replaced it with a fresh token, mode 600",
                file.display()
            ));
            make(dir, file)
        }
        Existing::None => make(dir, file),
    }
}

enum Existing {
    None,
    Token(String),
    /// A regular file with these permission bits, some for group or other.
    Exposed(u32),
}

/// Reads the token file without following a link.
fn existing(file: &Path) -> Result<Existing, ServeError> {
    let meta = match std::fs::symlink_metadata(file) {
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Existing::None),
        Err(e) => return Err(io(file, e)),
        Ok(m) => m,
    };
    if !meta.file_type().is_file() {
        return Err(not_regular(file, meta.file_type().is_symlink()));
    }
    // O_NOFOLLOW: a link swapped in since the check above fails to open;
    // O_NONBLOCK: so does a FIFO, instead of blocking.
    let mut f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(file)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => not_regular(file, true),
            _ => io(file, e),
        })?;
    let meta = f.metadata().map_err(|e| io(file, e))?;
    if !meta.is_file() {
        return Err(not_regular(file, false));
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Ok(Existing::Exposed(mode));
    }
    let mut text = String::new();
    // A file that is not UTF-8 is no token of writ's: make a fresh one.
    if f.read_to_string(&mut text).is_err() {
        return Ok(Existing::None);
    }
    let t = text.trim();
    Ok(if t.len() >= MIN_LEN {
        Existing::Token(t.to_string())
    } else {
        Existing::None
    })
}

/// Writes a fresh token: a new 0600 file beside `file`, renamed over it.
fn make(dir: &Path, file: &Path) -> Result<String, ServeError> {
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    writ_index::ignore_self(dir);
    let mut bytes = [0u8; 32];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| io(Path::new("/dev/urandom"), e))?;
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let tmp = dir.join(format!(
        ".serve-token.{}.{}.tmp",
        std::process::id(),
        &token[..8]
    ));
    // create_new: O_EXCL, which never follows a link at `tmp`.
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| {
            // The umask can only narrow 0600; set it exactly anyway.
            f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
            writeln!(f, "{token}")?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, file));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(file, e));
    }
    Ok(token)
}

fn io(path: &Path, e: std::io::Error) -> ServeError {
    ServeError::Token(format!("`{}`: {e}", path.display()))
}

fn not_regular(file: &Path, link: bool) -> ServeError {
    let what = if link {
        "a symbolic link"
    } else {
        "not a regular file"
    };
    ServeError::Token(format!(
        "the token file `{}` is {what}; writ never reads or writes its token through it; remove it (`rm {}`) and writ serve makes a fresh token there, mode 0600",
        file.display(),
        file.display()
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic, reason = "tests fail by panicking")]
    use super::*;

    fn quiet() -> Log {
        std::sync::Arc::new(|_: &str| {})
    }

    fn make_or_panic(dir: &Path, file: &Path) -> String {
        load_or_make(dir, file, &quiet()).unwrap_or_else(|e| panic!("{e}"))
    }

    fn mode(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).unwrap().mode() & 0o777
    }

    #[test]
    fn a_fresh_token_is_private_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("serve-token");
        let t = make_or_panic(dir.path(), &file);
        assert_eq!(t.len(), 64);
        assert_eq!(mode(&file), 0o600);
        assert_eq!(make_or_panic(dir.path(), &file), t);
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(names.iter().all(|n| !n.to_string_lossy().ends_with(".tmp")));
    }

    #[test]
    fn a_token_others_can_read_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("serve-token");
        let old = "a".repeat(64);
        std::fs::write(&file, &old).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let t = make_or_panic(dir.path(), &file);
        assert_ne!(t, old);
        assert_eq!(mode(&file), 0o600);
        assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), t);
    }

    #[test]
    fn links_and_other_files_are_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere");
        std::fs::write(&target, "x").unwrap();
        let file = dir.path().join("serve-token");
        std::os::unix::fs::symlink(&target, &file).unwrap();
        let e = load_or_make(dir.path(), &file, &quiet()).err().unwrap();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert!(e.to_string().contains("rm "));
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "x");
        assert!(std::fs::symlink_metadata(&file)
            .unwrap()
            .file_type()
            .is_symlink());

        let sub = dir.path().join("d");
        std::fs::create_dir(&sub).unwrap();
        let e = load_or_make(dir.path(), &sub, &quiet()).err().unwrap();
        assert!(e.to_string().contains("not a regular file"), "{e}");
    }
}
