//! Unified diffs: split into files, parsed and applied with `diffy`.

use serde::Serialize;

/// One file's part of a unified diff.
#[derive(Debug, Clone)]
pub struct FilePatch {
    /// Path before (`None` for a new file), `a/` prefix removed.
    pub old_path: Option<String>,
    /// Path after (`None` for a deleted file), `b/` prefix removed.
    pub new_path: Option<String>,
    /// This file's patch text (`---`, `+++` and hunks).
    pub text: String,
    /// Lines added.
    pub added: usize,
    /// Lines removed.
    pub removed: usize,
}

impl FilePatch {
    /// The paths this patch touches (one, or two for a rename).
    pub fn paths(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for p in [&self.old_path, &self.new_path].into_iter().flatten() {
            if !out.contains(&p.as_str()) {
                out.push(p);
            }
        }
        out
    }

    /// Applies this patch to `base` (the file's current text; empty for a
    /// new file); `None` when it does not apply cleanly.
    pub fn apply(&self, base: &str) -> Option<String> {
        let patch = diffy::Patch::from_str(&self.text).ok()?;
        diffy::apply(base, &patch).ok()
    }
}

/// Size of a diff, for rules.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DiffStats {
    /// Files touched.
    pub files: usize,
    /// Lines added.
    pub added: usize,
    /// Lines removed.
    pub removed: usize,
}

fn strip_prefix(name: &str) -> Option<String> {
    let name = name.split('\t').next().unwrap_or(name).trim();
    if name == "/dev/null" {
        return None;
    }
    let name = name
        .strip_prefix("a/")
        .or_else(|| name.strip_prefix("b/"))
        .unwrap_or(name);
    Some(name.to_string())
}

/// Splits and parses a unified diff; an error names what is malformed.
pub fn parse_diff(text: &str) -> Result<Vec<FilePatch>, String> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut starts = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.starts_with("--- ") && lines.get(i + 1).is_some_and(|n| n.starts_with("+++ ")) {
            starts.push(i);
        }
    }
    if starts.is_empty() {
        return Err("no `--- a/PATH` / `+++ b/PATH` file header".into());
    }
    let mut patches = Vec::new();
    for (n, &start) in starts.iter().enumerate() {
        let end = starts.get(n + 1).copied().unwrap_or(lines.len());
        // Drop trailing `diff --git`/`index` lines that belong to the next file.
        let mut section: Vec<&str> = lines[start..end].to_vec();
        while section.last().is_some_and(|l| {
            l.starts_with("diff ") || l.starts_with("index ") || l.trim().is_empty()
        }) {
            section.pop();
        }
        let body: String = section.concat();
        let body = if body.ends_with('\n') {
            body
        } else {
            format!("{body}\n")
        };
        let parsed = diffy::Patch::from_str(&body)
            .map_err(|e| format!("file {} of the diff does not parse: {e}", n + 1))?;
        if parsed.hunks().is_empty() {
            return Err(format!("file {} of the diff has no hunks", n + 1));
        }
        let (mut added, mut removed) = (0, 0);
        for hunk in parsed.hunks() {
            for line in hunk.lines() {
                match line {
                    diffy::Line::Insert(_) => added += 1,
                    diffy::Line::Delete(_) => removed += 1,
                    diffy::Line::Context(_) => {}
                }
            }
        }
        let old_path = strip_prefix(lines[start].trim_start_matches("--- "));
        let new_path = strip_prefix(lines[start + 1].trim_start_matches("+++ "));
        if old_path.is_none() && new_path.is_none() {
            return Err(format!("file {} of the diff names no path", n + 1));
        }
        patches.push(FilePatch {
            old_path,
            new_path,
            text: body,
            added,
            removed,
        });
    }
    Ok(patches)
}

/// Totals over the file patches.
pub fn stats(patches: &[FilePatch]) -> DiffStats {
    DiffStats {
        files: patches.len(),
        added: patches.iter().map(|p| p.added).sum(),
        removed: patches.iter().map(|p| p.removed).sum(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_two_files_with_git_headers() {
        let d = "diff --git a/x.md b/x.md\nindex 1..2 100644\n--- a/x.md\n+++ b/x.md\n@@ -1,2 +1,2 @@\n a\n-b\n+c\ndiff --git a/y.md b/y.md\n--- /dev/null\n+++ b/y.md\n@@ -0,0 +1 @@\n+new\n";
        let p = parse_diff(d).unwrap_or_default();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].paths(), ["x.md"]);
        assert_eq!((p[0].added, p[0].removed), (1, 1));
        assert_eq!(p[1].old_path, None);
        assert_eq!(p[1].apply("").as_deref(), Some("new\n"));
        assert_eq!(p[0].apply("a\nb\n").as_deref(), Some("a\nc\n"));
        assert_eq!(p[0].apply("a\nz\n"), None);
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse_diff("hello").is_err());
        assert!(parse_diff("--- a/x\n+++ b/x\n@@ -1 +1 @@ broken\n").is_err());
    }
}
