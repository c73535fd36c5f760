//! File access beneath the repository root, by descriptor.
//!
//! Every path is walked one component at a time from a descriptor of the
//! root with `openat(O_NOFOLLOW)`: a symbolic link anywhere on the way, a
//! `..`, or a non-regular file is refused, and a folder swapped for a link
//! between check and use fails the open instead of redirecting it
//! (`RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`, done by hand so it works on
//! every kernel). Writes go to a temporary file in the same folder, are
//! fsynced, then renamed over the target with `renameat` on the folder's
//! descriptor, and the folder is fsynced: a file is either as before or as
//! after, whatever moment the process dies at.

use rustix::fs::{self as rfs, Mode, OFlags};
use std::io::{Error, ErrorKind, Write};
use std::os::fd::OwnedFd;
use std::path::Path;

/// A descriptor of the repository root.
pub(crate) struct Root {
    fd: OwnedFd,
}

/// A folder beneath the root, held open, and one name in it.
pub(crate) struct Entry {
    dir: OwnedFd,
    name: String,
    rel: String,
}

/// A file written next to its target, not yet renamed over it.
pub(crate) struct Staged {
    entry: Entry,
    temp: String,
}

fn refuse(rel: &str, why: &str) -> Error {
    Error::new(ErrorKind::InvalidInput, format!("`{rel}` {why}"))
}

impl Root {
    /// Opens the repository root (the root itself may be reached through a
    /// link: the user named it).
    pub(crate) fn open(repo: &Path) -> std::io::Result<Root> {
        let fd = rfs::open(
            repo,
            OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Root { fd })
    }

    /// Walks to the folder holding `rel`, refusing links and `..`; with
    /// `create`, missing folders are made (mode 0755).
    pub(crate) fn entry(&self, rel: &str, create: bool) -> std::io::Result<Entry> {
        let parts: Vec<&str> = rel.split('/').collect();
        let Some((name, dirs)) = parts.split_last() else {
            return Err(refuse(rel, "is empty"));
        };
        if parts
            .iter()
            .any(|p| p.is_empty() || *p == "." || *p == "..")
        {
            return Err(refuse(rel, "is not a plain relative path"));
        }
        let mut dir = rfs::openat(
            &self.fd,
            ".",
            OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        for part in dirs {
            let flags = OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::RDONLY | OFlags::CLOEXEC;
            let next = match rfs::openat(&dir, *part, flags, Mode::empty()) {
                Err(rustix::io::Errno::NOENT) if create => {
                    match rfs::mkdirat(&dir, *part, Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                        Err(e) => return Err(e.into()),
                    }
                    rfs::openat(&dir, *part, flags, Mode::empty())
                }
                other => other,
            };
            dir = next.map_err(|e| match e {
                rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR => {
                    refuse(rel, "goes through a symbolic link or a non-folder")
                }
                e => e.into(),
            })?;
        }
        Ok(Entry {
            dir,
            name: (*name).to_string(),
            rel: rel.to_string(),
        })
    }

    /// The bytes of the regular file at `rel`; `None` when it does not
    /// exist. A link, FIFO, socket or device is refused without blocking.
    pub(crate) fn read(&self, rel: &str) -> std::io::Result<Option<Vec<u8>>> {
        let entry = match self.entry(rel, false) {
            Ok(e) => e,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        entry.read()
    }
}

impl Entry {
    /// The file's bytes (`None`: absent); only a regular file is read.
    pub(crate) fn read(&self) -> std::io::Result<Option<Vec<u8>>> {
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let fd = match rfs::openat(&self.dir, self.name.as_str(), flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => return Ok(None),
            Err(rustix::io::Errno::LOOP) => return Err(refuse(&self.rel, "is a symbolic link")),
            Err(e) => return Err(e.into()),
        };
        let stat = rfs::fstat(&fd)?;
        if rfs::FileType::from_raw_mode(stat.st_mode) != rfs::FileType::RegularFile {
            return Err(refuse(&self.rel, "is not a regular file"));
        }
        let mut file = std::fs::File::from(fd);
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut file, &mut bytes)?;
        Ok(Some(bytes))
    }

    /// The permission bits of the existing file (0644 for a new one).
    fn mode(&self) -> Mode {
        match rfs::statat(
            &self.dir,
            self.name.as_str(),
            rfs::AtFlags::SYMLINK_NOFOLLOW,
        ) {
            Ok(st) if rfs::FileType::from_raw_mode(st.st_mode) == rfs::FileType::RegularFile => {
                Mode::from_raw_mode(st.st_mode & 0o777)
            }
            _ => Mode::from_raw_mode(0o644),
        }
    }

    /// Writes `bytes` to a new temporary file beside the target, fsynced.
    pub(crate) fn stage(self, bytes: &[u8], tag: &str) -> std::io::Result<Staged> {
        let temp = format!(".writ-apply-{tag}-{}", std::process::id());
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let _ = rfs::unlinkat(&self.dir, temp.as_str(), rfs::AtFlags::empty());
        let fd = rfs::openat(&self.dir, temp.as_str(), flags, self.mode())?;
        let mut file = std::fs::File::from(fd);
        let written = file.write_all(bytes).and_then(|()| file.sync_all());
        if let Err(e) = written {
            let _ = rfs::unlinkat(&self.dir, temp.as_str(), rfs::AtFlags::empty());
            return Err(e);
        }
        Ok(Staged { entry: self, temp })
    }

    /// Removes the file and fsyncs its folder.
    pub(crate) fn remove(&self) -> std::io::Result<()> {
        rfs::unlinkat(&self.dir, self.name.as_str(), rfs::AtFlags::empty())?;
        rfs::fsync(&self.dir)?;
        Ok(())
    }

    /// The path relative to the root.
    pub(crate) fn rel(&self) -> &str {
        &self.rel
    }
}

impl Staged {
    /// Renames the staged file over its target and fsyncs the folder.
    pub(crate) fn commit(&self) -> std::io::Result<()> {
        let e = &self.entry;
        rfs::renameat(&e.dir, self.temp.as_str(), &e.dir, e.name.as_str())?;
        rfs::fsync(&e.dir)?;
        Ok(())
    }

    /// Removes the staged file (after a failure elsewhere).
    pub(crate) fn discard(&self) {
        let _ = rfs::unlinkat(&self.entry.dir, self.temp.as_str(), rfs::AtFlags::empty());
    }

    /// The target, relative to the root.
    pub(crate) fn rel(&self) -> &str {
        self.entry.rel()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]
    use super::*;

    #[test]
    fn links_fifos_and_dotdot_are_refused_and_writes_are_atomic() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("docs")).unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("out")).unwrap();
        std::os::unix::fs::symlink("../x", dir.path().join("docs/link.md")).unwrap();
        let fifo = std::process::Command::new("mkfifo")
            .arg(dir.path().join("docs/pipe.md"))
            .status()
            .unwrap();
        assert!(fifo.success());
        let root = Root::open(dir.path()).unwrap();
        assert!(root.entry("out/x.md", true).is_err());
        assert!(root.entry("docs/../x", false).is_err());
        assert!(root.read("docs/link.md").is_err());
        assert!(root.read("docs/pipe.md").is_err());
        assert_eq!(root.read("docs/none.md").unwrap(), None);
        let staged = root
            .entry("docs/new/a.md", true)
            .unwrap()
            .stage(b"hi\n", "t")
            .unwrap();
        assert!(!dir.path().join("docs/new/a.md").exists());
        staged.commit().unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("docs/new/a.md")).unwrap(),
            b"hi\n"
        );
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    }
}
