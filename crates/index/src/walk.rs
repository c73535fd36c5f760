//! Walking a repository: which files writ indexes, and why it skips others.
//!
//! Filter order: (1) `.gitignore`, `.ignore`, `.writignore` and git's
//! excludes, via the `ignore` crate (these files are not listed: they are
//! the repository's own choice); (2) hidden files and folders, unless
//! [`WalkOptions::hidden`]; (3) writ's defaults below, each recorded as a
//! [`Skipped`] with its reason. Symbolic links are never followed, so a
//! link loop cannot hang the walk and no link leads outside the repository.
//!
//! Paths are the catalog's keys, so they must name one file each: a file
//! or folder whose name is not valid UTF-8 is skipped (reason
//! [`NOT_UTF8`]) and listed under an escaped form, never under the lossy
//! U+FFFD form that would merge `a\xff.py` with `a\xfe.py`. Proposals are
//! UTF-8 JSON and could never name such a file anyway.

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::Serialize;
use std::io::Read;
use std::path::{Path, PathBuf};
use writ_core::Language;

/// Folders that hold other people's code or build output; skipped whole.
const VENDORED_DIRS: &[&str] = &[
    "node_modules",
    "vendor",
    "third_party",
    "third-party",
    "bower_components",
    "target",
    "dist",
    "__pycache__",
    ".venv",
    "venv",
    "site-packages",
];

/// Generated files that say nothing about the code.
const DEFAULT_EXCLUDES: &[(&str, &str)] = &[
    ("**/*.lock", "lock file"),
    ("**/package-lock.json", "lock file"),
    ("**/pnpm-lock.yaml", "lock file"),
    ("**/go.sum", "lock file"),
    ("**/*.min.js", "minified"),
    ("**/*.min.css", "minified"),
    ("**/*.map", "source map"),
];

/// The skip reason of a file or folder whose name is not valid UTF-8.
pub const NOT_UTF8: &str = "name is not valid UTF-8 (shown with \\xNN escapes)";

/// Options of [`walk`]; [`Default`] documents each default. The options of
/// the last index run are stored in the catalog, so `status` walks alike.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct WalkOptions {
    /// Index hidden files and folders. Default: false.
    pub hidden: bool,
    /// Largest file indexed, in bytes. Default: 1 MiB.
    pub max_file_size: u64,
    /// Folder names never walked (besides `.git` and the index folder).
    /// Default: the usual vendored and build folders.
    pub vendored_dirs: Vec<String>,
    /// Index generated files (a "generated … do not edit" marker in a
    /// comment among their first lines) and large data files (JSON and XML
    /// over 64 KiB).
    /// Default: false: they fill the index and its time, and a person
    /// searching means the code that generates them.
    #[serde(default)]
    pub generated: bool,
}

/// Data files larger than this are skipped unless `generated` is set.
const MAX_DATA_FILE: u64 = 64 << 10;
/// Lines at the top of a file looked at for a generated-code marker.
const MARKER_LINES: usize = 10;

impl Default for WalkOptions {
    fn default() -> Self {
        WalkOptions {
            hidden: false,
            max_file_size: 1 << 20,
            vendored_dirs: VENDORED_DIRS.iter().map(|s| s.to_string()).collect(),
            generated: false,
        }
    }
}

/// A file the walk found worth indexing.
#[derive(Debug, Clone)]
pub struct WalkedFile {
    /// Path relative to the root, with `/` separators.
    pub rel: String,
    /// Absolute path.
    pub abs: PathBuf,
    /// Its language.
    pub language: Language,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the epoch (0 when unknown).
    pub mtime_ns: i64,
}

/// A file or folder the walk passed over, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// Path relative to the root.
    pub path: String,
    /// Why: `lock file`, `binary`, `too large (N bytes > M)`, `vendored folder`…
    pub reason: String,
}

/// Everything a walk found.
#[derive(Debug, Default)]
pub struct WalkResult {
    /// Files to index, sorted by path.
    pub files: Vec<WalkedFile>,
    /// Files and folders passed over, sorted by path.
    pub skipped: Vec<Skipped>,
}

/// The walker both [`walk`] and [`count_files`] use: the repository's
/// ignore rules and `.writignore`, no links followed, hidden files as
/// `options` says.
fn walker(root: &Path, options: &WalkOptions) -> ignore::WalkBuilder {
    let mut builder = ignore::WalkBuilder::new(root);
    builder
        .hidden(!options.hidden)
        .follow_links(false)
        .git_ignore(true)
        .git_exclude(true)
        .git_global(false)
        .ignore(true)
        .parents(false)
        .require_git(false)
        .add_custom_ignore_filename(".writignore");
    builder
}

/// Counts the files under `root` the walk would consider (ignore rules
/// applied, hidden files as `options` says), stopping at `cap`: a cheap
/// look at a folder's size before indexing it.
pub fn count_files(root: &Path, options: &WalkOptions, cap: usize) -> usize {
    let mut builder = walker(root, options);
    builder.filter_entry(|e| e.file_name() != ".git" && e.file_name() != ".writ");
    builder
        .build()
        .filter_map(std::result::Result::ok)
        .filter(|e| e.file_type().is_some_and(|t| t.is_file()))
        .take(cap)
        .count()
}

/// Walks `root`, never entering `exclude_dir` (the index folder).
pub fn walk(root: &Path, exclude_dir: Option<&Path>, options: &WalkOptions) -> WalkResult {
    let excludes = default_excludes();
    let exclude_dir = exclude_dir.and_then(DirIdentity::of);
    let mut result = WalkResult::default();
    let mut builder = walker(root, options);
    builder.sort_by_file_path(|a, b| a.cmp(b));
    let vendored = options.vendored_dirs.clone();
    let skip_dir = exclude_dir;
    let pruned = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Skipped>::new()));
    let pruned_in = std::sync::Arc::clone(&pruned);
    let root_owned = root.to_path_buf();
    builder.filter_entry(move |entry| {
        if !entry.file_type().is_some_and(|t| t.is_dir()) || entry.depth() == 0 {
            return true;
        }
        let name = entry.file_name();
        if name == ".git" || name == ".writ" {
            return false;
        }
        if skip_dir.as_ref().is_some_and(|skip| skip.is(entry)) {
            return false;
        }
        let prune = |reason: &str| {
            if let Ok(mut list) = pruned_in.lock() {
                list.push(Skipped {
                    path: format!("{}/", shown_relative(&root_owned, entry.path())),
                    reason: reason.into(),
                });
            }
            false
        };
        let Some(name) = name.to_str() else {
            return prune(NOT_UTF8);
        };
        if vendored.iter().any(|v| v == name) {
            return prune("vendored or build folder");
        }
        true
    });
    for entry in builder.build() {
        let entry = match entry {
            Ok(entry) => entry,
            Err(err) => {
                result.skipped.extend(walk_error(root, &err));
                continue;
            }
        };
        let Some(file_type) = entry.file_type() else {
            continue;
        };
        if entry.depth() == 0 || file_type.is_dir() {
            continue;
        }
        let rel = relative(root, entry.path());
        if file_type.is_symlink() {
            result.skipped.push(Skipped {
                path: rel.unwrap_or_else(|| shown_relative(root, entry.path())),
                reason: "symbolic link (not followed)".into(),
            });
            continue;
        }
        if !file_type.is_file() {
            continue;
        }
        let Some(rel) = rel else {
            result.skipped.push(Skipped {
                path: shown_relative(root, entry.path()),
                reason: NOT_UTF8.into(),
            });
            continue;
        };
        let skip = |reason: String, result: &mut WalkResult| {
            result.skipped.push(Skipped {
                path: rel.clone(),
                reason,
            })
        };
        if let Some(i) = excludes.0.matches(&rel).first() {
            skip(excludes.1[*i].to_string(), &mut result);
            continue;
        }
        let Ok(meta) = entry.metadata() else {
            skip("unreadable metadata".into(), &mut result);
            continue;
        };
        if meta.len() > options.max_file_size {
            skip(
                format!(
                    "too large ({} bytes > {})",
                    meta.len(),
                    options.max_file_size
                ),
                &mut result,
            );
            continue;
        }
        let Some(language) = Language::from_path(&rel) else {
            skip("not a recognised text or code file".into(), &mut result);
            continue;
        };
        if !options.generated && meta.len() > MAX_DATA_FILE && is_data_file(&rel) {
            skip(
                format!(
                    "large data file ({} bytes > {MAX_DATA_FILE}; --generated indexes it)",
                    meta.len()
                ),
                &mut result,
            );
            continue;
        }
        match sniff(entry.path()) {
            Ok(Sniff::Text) => {}
            Ok(Sniff::Binary) => {
                skip("binary (NUL byte in the first 8 KiB)".into(), &mut result);
                continue;
            }
            Ok(Sniff::Generated) if !options.generated => {
                skip(
                    "generated (a do-not-edit marker in its first lines; --generated indexes it)"
                        .into(),
                    &mut result,
                );
                continue;
            }
            Ok(Sniff::Generated) => {}
            Err(e) => {
                skip(format!("unreadable: {e}"), &mut result);
                continue;
            }
        }
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
        result.files.push(WalkedFile {
            rel,
            abs: entry.path().to_path_buf(),
            language,
            size: meta.len(),
            mtime_ns,
        });
    }
    if let Ok(mut list) = pruned.lock() {
        result.skipped.append(&mut list);
    }
    result.files.sort_by(|a, b| a.rel.cmp(&b.rel));
    result.skipped.sort_by(|a, b| a.path.cmp(&b.path));
    result
}

/// A folder the walk could not read (no permission, or a path longer than
/// the system takes: `PATH_MAX` is 4,096 bytes on Linux), listed so that
/// nothing beneath it goes missing silently.
fn walk_error(root: &Path, err: &ignore::Error) -> Option<Skipped> {
    let mut err = err;
    let mut path = None;
    loop {
        match err {
            ignore::Error::WithPath {
                path: p,
                err: inner,
            } => {
                path = Some(p.as_path());
                err = inner;
            }
            ignore::Error::WithDepth { err: inner, .. }
            | ignore::Error::WithLineNumber { err: inner, .. } => err = inner,
            _ => break,
        }
    }
    // The I/O error's text repeats the whole path: keep the system's cause.
    let cause = match err {
        ignore::Error::Io(io) => os_error(io).map_or_else(
            || io.kind().to_string(),
            |code| std::io::Error::from_raw_os_error(code).to_string(),
        ),
        other => other.to_string(),
    };
    Some(Skipped {
        path: shown_relative(root, path?),
        reason: format!("unreadable: {cause}"),
    })
}

/// The system's error code behind `io`, looked for down its sources (the
/// walk wraps the system's error in its own).
fn os_error(io: &std::io::Error) -> Option<i32> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(io);
    while let Some(err) = source {
        if let Some(code) = err
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::raw_os_error)
        {
            return Some(code);
        }
        source = match err.downcast_ref::<std::io::Error>() {
            Some(io) => io.get_ref().map(|inner| inner as _),
            None => err.source(),
        };
    }
    None
}

/// Which folder a path is, to recognise the index folder wherever the walk
/// meets it. On Unix this is the (device, inode) pair: one `lstat` per
/// folder walked, whereas canonicalizing each folder costs a `readlink` per
/// ancestor, each resolved from the root, so cubic work in the depth (a
/// 1,500-deep tree took 40 s).
struct DirIdentity {
    #[cfg(unix)]
    id: (u64, u64),
    #[cfg(not(unix))]
    canonical: PathBuf,
}

impl DirIdentity {
    /// The identity of the folder `dir` names (following links), if it exists.
    fn of(dir: &Path) -> Option<DirIdentity> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let meta = std::fs::metadata(dir).ok()?;
            Some(DirIdentity {
                id: (meta.dev(), meta.ino()),
            })
        }
        #[cfg(not(unix))]
        {
            Some(DirIdentity {
                canonical: dir.canonicalize().ok()?,
            })
        }
    }

    /// True when `entry` (a folder the walk reached without following a
    /// link) is this folder.
    fn is(&self, entry: &ignore::DirEntry) -> bool {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            entry
                .metadata()
                .is_ok_and(|m| (m.dev(), m.ino()) == self.id)
        }
        #[cfg(not(unix))]
        {
            entry
                .path()
                .canonicalize()
                .is_ok_and(|c| c == self.canonical)
        }
    }
}

fn default_excludes() -> (GlobSet, Vec<&'static str>) {
    let mut builder = GlobSetBuilder::new();
    let mut reasons = Vec::new();
    for (glob, reason) in DEFAULT_EXCLUDES {
        // The patterns are constants checked by a test; a bad one is skipped.
        if let Ok(g) = Glob::new(glob) {
            builder.add(g);
            reasons.push(*reason);
        }
    }
    (
        builder.build().unwrap_or_else(|_| GlobSet::empty()),
        reasons,
    )
}

/// Path of `path` relative to `root`, `/`-separated, or `None` when a
/// name in it is not valid UTF-8 (a lossy form would not be one file's).
pub(crate) fn relative(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_str())
        .collect::<Option<Vec<_>>>()
        .map(|names| names.join("/"))
}

/// Path of `path` relative to `root` for showing a skipped file: valid
/// UTF-8 as it is, each other byte as `\xNN`, and, in a name that has
/// such bytes, each backslash doubled, so distinct names show distinctly.
fn shown_relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components()
        .map(|c| {
            let name = c.as_os_str();
            match name.to_str() {
                Some(name) => name.to_string(),
                None => escape_name(name.as_encoded_bytes()),
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// `bytes` with each byte outside valid UTF-8 as `\xNN` and each
/// backslash doubled.
fn escape_name(bytes: &[u8]) -> String {
    let mut shown = String::new();
    for chunk in bytes.utf8_chunks() {
        shown.push_str(&chunk.valid().replace('\\', "\\\\"));
        for byte in chunk.invalid() {
            shown.push_str(&format!("\\x{byte:02x}"));
        }
    }
    shown
}

/// The bytes of a walked file, at most `max` + 1, read only if it is still
/// a regular file: opened without following a link and without waiting on
/// a FIFO, checked after opening. `Ok(None)` when it is gone or became a
/// link or something else since the walk (a tree can change under writ;
/// it must not lead a read outside the repository or hang it).
pub fn read_walked(path: &Path, max: u64) -> std::io::Result<Option<Vec<u8>>> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
    {
        Ok(f) => f,
        Err(e)
            if e.kind() == std::io::ErrorKind::NotFound
                || matches!(e.raw_os_error(), Some(libc::ELOOP | libc::ENXIO)) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    if !file.metadata()?.file_type().is_file() {
        return Ok(None);
    }
    let mut bytes = Vec::new();
    file.take(max.saturating_add(1)).read_to_end(&mut bytes)?;
    Ok(Some(bytes))
}

/// What the first 8 KiB of a file say about it.
#[derive(Debug, PartialEq, Eq)]
enum Sniff {
    Text,
    /// A NUL byte.
    Binary,
    /// A generated-code marker in the first lines.
    Generated,
}

fn sniff(path: &Path) -> std::io::Result<Sniff> {
    let mut buf = [0u8; 8192];
    let mut file = std::fs::File::open(path)?;
    let n = file.read(&mut buf)?;
    if buf[..n].contains(&0) {
        return Ok(Sniff::Binary);
    }
    let head = String::from_utf8_lossy(&buf[..n]);
    let top: Vec<String> = head
        .lines()
        .take(MARKER_LINES)
        .map(str::to_ascii_lowercase)
        .collect();
    Ok(if generated_marker(&top) {
        Sniff::Generated
    } else {
        Sniff::Text
    })
}

/// True for a comment line: `//`, `#`, `/*`, `*`, `<!--`, `--`, `;`.
fn is_comment(line: &str) -> bool {
    let t = line.trim_start();
    ["//", "#", "/*", "*", "<!--", "--", ";"]
        .iter()
        .any(|p| t.starts_with(p))
}

/// The markers generators write in a comment among a file's first lines
/// (lower-cased): Go's `// Code generated … DO NOT EDIT.`, protoc's and
/// ucd-generate's "do not edit … generated" (on one comment line, or on
/// two adjacent ones), and `@generated` as a comment's own word
/// (Facebook's tools, rust-analyzer's). A `@generated` in a string, or "do
/// not edit" beside unrelated code that mentions generating, is not one.
fn generated_marker(top: &[String]) -> bool {
    let comments: Vec<Option<&str>> = top
        .iter()
        .map(|l| is_comment(l).then_some(l.as_str()))
        .collect();
    comments.iter().enumerate().any(|(i, line)| {
        let Some(line) = line else { return false };
        if line
            .split_whitespace()
            .any(|w| w.trim_matches(['*', '/', '#']) == "@generated")
        {
            return true;
        }
        if !line.contains("do not edit") {
            return false;
        }
        let near = [i.checked_sub(1), Some(i), Some(i + 1)];
        near.into_iter()
            .flatten()
            .filter_map(|j| comments.get(j).copied().flatten())
            .any(|l| l.contains("generated") || l.contains("generator"))
    })
}

/// JSON, CSV, TSV and XML: data, not code or prose.
fn is_data_file(rel: &str) -> bool {
    let ext = rel
        .rsplit_once('.')
        .map_or("", |(_, e)| e)
        .to_ascii_lowercase();
    matches!(
        ext.as_str(),
        "json" | "csv" | "tsv" | "xml" | "ndjson" | "jsonl"
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail by panicking")]
    use super::*;

    #[test]
    fn default_exclude_globs_all_compile() {
        assert_eq!(default_excludes().1.len(), DEFAULT_EXCLUDES.len());
    }

    fn write(root: &Path, rel: &str, text: &str) {
        let path = root.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(path, text).unwrap();
    }

    fn rels(result: &WalkResult) -> Vec<&str> {
        result.files.iter().map(|f| f.rel.as_str()).collect()
    }

    #[test]
    fn the_index_folder_is_never_walked_whatever_its_name() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("repo");
        write(&root, "src/a.py", "def a():\n    return 1\n");
        write(&root, "idx/inner/b.py", "def b():\n    return 2\n");
        let options = WalkOptions::default();
        assert_eq!(
            rels(&walk(&root, None, &options)),
            ["idx/inner/b.py", "src/a.py"]
        );
        assert_eq!(
            rels(&walk(&root, Some(&root.join("idx")), &options)),
            ["src/a.py"]
        );
        // Named through a link, it is still the same folder.
        #[cfg(unix)]
        {
            let link = tmp.path().join("link-to-idx");
            std::os::unix::fs::symlink(root.join("idx"), &link).unwrap();
            assert_eq!(rels(&walk(&root, Some(&link), &options)), ["src/a.py"]);
        }
    }

    #[test]
    fn names_are_escaped_so_that_distinct_names_show_distinctly() {
        assert_eq!(escape_name(b"a\xff.py"), "a\\xff.py");
        assert_eq!(escape_name(b"a\xfe.py"), "a\\xfe.py");
        assert_eq!(escape_name(b"\xc3\xa9t\xc3\xa9\xff"), "\u{e9}t\u{e9}\\xff");
        // A literal backslash beside an invalid byte cannot pose as one.
        assert_ne!(escape_name(b"a\\xfe\xff"), escape_name(b"a\xfe\xff"));
        assert_eq!(escape_name(b"a\\xfe\xff"), "a\\\\xfe\\xff");
    }

    #[cfg(unix)]
    #[test]
    fn names_not_in_utf8_are_skipped_never_merged() {
        use std::os::unix::ffi::OsStrExt;
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let name = |bytes: &[u8]| root.join(std::ffi::OsStr::from_bytes(bytes));
        std::fs::write(name(b"a\xff.py"), "x = 1\n").unwrap();
        std::fs::write(name(b"a\xfe.py"), "x = 2\n").unwrap();
        std::fs::create_dir(name(b"d\xff")).unwrap();
        std::fs::write(name(b"d\xff/inner.py"), "x = 3\n").unwrap();
        std::os::unix::fs::symlink("ok.py", name(b"l\xff.py")).unwrap();
        write(root, "ok.py", "x = 4\n");
        let result = walk(root, None, &WalkOptions::default());
        assert_eq!(rels(&result), ["ok.py"]);
        let skipped: Vec<(&str, &str)> = result
            .skipped
            .iter()
            .map(|s| (s.path.as_str(), s.reason.as_str()))
            .collect();
        assert_eq!(
            skipped,
            [
                ("a\\xfe.py", NOT_UTF8),
                ("a\\xff.py", NOT_UTF8),
                ("d\\xff/", NOT_UTF8),
                ("l\\xff.py", "symbolic link (not followed)"),
            ]
        );
        assert!(!skipped.iter().any(|(p, _)| p.contains('\u{fffd}')));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn folders_past_the_path_limit_are_listed_not_lost() {
        // 20 levels of 250-byte names: 5,000 bytes, past Linux's PATH_MAX.
        let tmp = tempfile::tempdir().unwrap();
        let name = "n".repeat(250);
        let mut dir = std::fs::File::open(tmp.path()).unwrap();
        let mut rel = Vec::new();
        for _ in 0..20 {
            // Made one level at a time, through /proc, as no full path fits.
            let here = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&dir));
            std::fs::create_dir(Path::new(&here).join(&name)).unwrap();
            dir = std::fs::File::open(Path::new(&here).join(&name)).unwrap();
            rel.push(name.as_str());
        }
        let here = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&dir));
        std::fs::write(Path::new(&here).join("a.py"), "x = 1\n").unwrap();
        let result = walk(tmp.path(), None, &WalkOptions::default());
        assert!(result.files.is_empty());
        assert_eq!(result.skipped.len(), 1, "{:?}", result.skipped);
        let skipped = &result.skipped[0];
        assert_eq!(
            skipped.reason,
            "unreadable: File name too long (os error 36)"
        );
        assert!(rel.join("/").starts_with(&skipped.path), "{skipped:?}");
    }

    #[test]
    fn a_deep_tree_is_walked_to_the_bottom() {
        let tmp = tempfile::tempdir().unwrap();
        let rel = format!("{}a.py", "d/".repeat(300));
        write(tmp.path(), &rel, "def a():\n    return 1\n");
        let result = walk(
            tmp.path(),
            Some(&tmp.path().join(".writ")),
            &WalkOptions::default(),
        );
        assert_eq!(rels(&result), [rel.as_str()]);
        assert!(result.skipped.is_empty(), "{:?}", result.skipped);
    }
}

#[cfg(test)]
mod generated_tests {
    #![allow(clippy::unwrap_used, reason = "tests fail by panicking")]
    use super::*;

    #[test]
    fn generated_files_and_large_data_are_skipped_with_a_reason_unless_asked() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let files = [
            ("gen.go", "// Code generated by protoc-gen-go. DO NOT EDIT.\npackage x\n".to_string()),
            ("tables.rs", "// DO NOT EDIT THIS FILE. IT WAS AUTOMATICALLY GENERATED BY:\n//\n//   ucd-generate\npub const T: u8 = 1;\n".to_string()),
            ("schema.py", "# @generated by a tool\nX = 1\n".to_string()),
            ("fixture.json", format!("[{}0]", "1,".repeat(40_000))),
            ("small.json", "{\"a\": 1}\n".to_string()),
            ("edit.rs", "// Do not edit the lines below by hand.\nfn f() {}\nfn generate_token() {}\n".to_string()),
            ("gen_src.py", "MARK = '@generated'\n".to_string()),
            ("two.ts", "/*\n * This file was automatically generated.\n * DO NOT EDIT.\n */\nexport const x = 1;\n".to_string()),
            ("late.rs", format!("{}// Code generated. DO NOT EDIT.\n", "fn f() {}\n".repeat(20))),
        ];
        for (rel, text) in &files {
            std::fs::write(root.join(rel), text).unwrap();
        }
        let result = walk(root, None, &WalkOptions::default());
        let kept: Vec<&str> = result.files.iter().map(|f| f.rel.as_str()).collect();
        assert_eq!(kept, ["edit.rs", "gen_src.py", "late.rs", "small.json"]);
        let reasons: Vec<(&str, &str)> = result
            .skipped
            .iter()
            .map(|s| (s.path.as_str(), s.reason.split(' ').next().unwrap_or("")))
            .collect();
        assert_eq!(
            reasons,
            [
                ("fixture.json", "large"),
                ("gen.go", "generated"),
                ("schema.py", "generated"),
                ("tables.rs", "generated"),
                ("two.ts", "generated")
            ]
        );
        let all = WalkOptions {
            generated: true,
            ..WalkOptions::default()
        };
        assert_eq!(walk(root, None, &all).files.len(), files.len());
    }

    #[test]
    fn a_walked_file_turned_link_or_fifo_is_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("a.py"), "x = 1\n").unwrap();
        assert_eq!(
            read_walked(&root.join("a.py"), 1 << 20).unwrap().as_deref(),
            Some(&b"x = 1\n"[..])
        );
        assert_eq!(
            read_walked(&root.join("a.py"), 2).unwrap().map(|b| b.len()),
            Some(3)
        );
        std::os::unix::fs::symlink("/etc/passwd", root.join("link.py")).unwrap();
        assert_eq!(read_walked(&root.join("link.py"), 1 << 20).unwrap(), None);
        let fifo = root.join("fifo.py");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        assert_eq!(
            read_walked(&fifo, 1 << 20).unwrap(),
            None,
            "no hang, no read"
        );
        assert_eq!(read_walked(&root.join("gone.py"), 1 << 20).unwrap(), None);
    }
}
