//! Unified diffs, parsed strictly and applied exactly.
//!
//! One parse, one patch: what a reviewer is shown ([`FilePatch::render`])
//! is rendered from the same parsed hunks that [`FilePatch::apply`] applies,
//! never from the proposer's raw text. The parser refuses what `git apply
//! --check` would call corrupt: a hunk whose lines do not match its header's
//! counts, text after a hunk that is not another hunk or file, renames,
//! mode changes, binary patches, quoted or control-character paths. The
//! applier takes no offset and no fuzz: a hunk applies at the line its
//! header names, with every context and removed line equal, or not at all.

use serde::Serialize;

/// One line of a hunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HunkLine {
    /// Kept as is.
    Context(String),
    /// Removed.
    Delete(String),
    /// Added.
    Insert(String),
}

/// One hunk: where it applies and its lines, each with its line ending
/// (`\n`, or none where the diff said "No newline at end of file").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hunk {
    /// First old line (1-based; for an insertion with no old lines, the
    /// line after which it goes, 0 for the start).
    pub old_start: usize,
    /// Old lines covered (context + removed).
    pub old_count: usize,
    /// First new line.
    pub new_start: usize,
    /// New lines (context + added).
    pub new_count: usize,
    /// The lines, in order.
    pub lines: Vec<HunkLine>,
}

/// One file's part of a unified diff.
#[derive(Debug, Clone)]
pub struct FilePatch {
    /// Path before (`None` for a new file), `a/` prefix removed.
    pub old_path: Option<String>,
    /// Path after (`None` for a deleted file), `b/` prefix removed.
    pub new_path: Option<String>,
    /// The hunks, in file order.
    pub hunks: Vec<Hunk>,
    /// Lines added.
    pub added: usize,
    /// Lines removed.
    pub removed: usize,
}

impl FilePatch {
    /// The paths this patch touches (one: renames are refused at parse).
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
    /// new file) exactly; `None` when any hunk does not match at its line.
    pub fn apply(&self, base: &str) -> Option<String> {
        if self.old_path.is_none() && !base.is_empty() {
            return None;
        }
        let old: Vec<&str> = base.split_inclusive('\n').collect();
        let mut out = String::with_capacity(base.len());
        let mut next = 0usize; // index of the next old line not yet copied
        for hunk in &self.hunks {
            let start = if hunk.old_count == 0 {
                hunk.old_start
            } else {
                hunk.old_start.checked_sub(1)?
            };
            if start < next || start > old.len() {
                return None;
            }
            for line in &old[next..start] {
                push(&mut out, line)?;
            }
            let mut at = start;
            for line in &hunk.lines {
                match line {
                    HunkLine::Context(t) | HunkLine::Delete(t) => {
                        if old.get(at) != Some(&t.as_str()) {
                            return None;
                        }
                        if let HunkLine::Context(t) = line {
                            push(&mut out, t)?;
                        }
                        at += 1;
                    }
                    HunkLine::Insert(t) => push(&mut out, t)?,
                }
            }
            next = at;
        }
        for line in &old[next..] {
            push(&mut out, line)?;
        }
        if self.new_path.is_none() && !out.is_empty() {
            return None;
        }
        Some(out)
    }

    /// The patch as writ will apply it, rendered from the parsed hunks:
    /// canonical headers, no section text, "No newline" markers where a
    /// line has no ending.
    pub fn render(&self) -> String {
        let old = self
            .old_path
            .as_ref()
            .map_or("/dev/null".to_string(), |p| format!("a/{p}"));
        let new = self
            .new_path
            .as_ref()
            .map_or("/dev/null".to_string(), |p| format!("b/{p}"));
        let mut s = format!("--- {old}\n+++ {new}\n");
        for h in &self.hunks {
            s += &format!(
                "@@ -{},{} +{},{} @@\n",
                h.old_start, h.old_count, h.new_start, h.new_count
            );
            for line in &h.lines {
                let (sign, text) = match line {
                    HunkLine::Context(t) => (' ', t),
                    HunkLine::Delete(t) => ('-', t),
                    HunkLine::Insert(t) => ('+', t),
                };
                s.push(sign);
                s.push_str(text);
                if !text.ends_with('\n') {
                    s.push_str("\n\\ No newline at end of file\n");
                }
            }
        }
        s
    }
}

/// Appends `line`, refusing to join it to a line that has no ending: a
/// "No newline" marker may only end the file, never glue two lines the
/// reviewer reads apart.
fn push(out: &mut String, line: &str) -> Option<()> {
    if !out.is_empty() && !out.ends_with('\n') {
        return None;
    }
    out.push_str(line);
    Some(())
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

/// A path from a `---`/`+++` header, `a/`/`b/` removed; `None` for
/// `/dev/null`.
fn header_path(name: &str, prefix: &str, n: usize) -> Result<Option<String>, String> {
    let name = name.strip_suffix('\n').unwrap_or(name);
    let name = name.strip_suffix('\r').unwrap_or(name);
    let name = name.split('\t').next().unwrap_or(name);
    if name == "/dev/null" {
        return Ok(None);
    }
    if name.starts_with('"') {
        return Err(format!(
            "line {n}: quoted path {name}: writ takes plain paths only"
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(format!("line {n}: the path has control characters"));
    }
    let name = name.strip_prefix(prefix).unwrap_or(name);
    if name.is_empty() {
        return Err(format!("line {n}: the header names no path"));
    }
    Ok(Some(name.to_string()))
}

/// Parses `@@ -a[,b] +c[,d] @@[ section]`.
fn hunk_header(line: &str, n: usize) -> Result<(usize, usize, usize, usize), String> {
    let bad = || format!("line {n}: malformed hunk header `{}`", line.trim_end());
    let rest = line.strip_prefix("@@ -").ok_or_else(bad)?;
    let (ranges, _) = rest.split_once(" @@").ok_or_else(bad)?;
    let (old, new) = ranges.split_once(" +").ok_or_else(bad)?;
    let range = |r: &str| -> Result<(usize, usize), String> {
        let (start, count) = r.split_once(',').unwrap_or((r, "1"));
        let num = |s: &str| {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || s.len() > 9 {
                Err(bad())
            } else {
                s.parse::<usize>().map_err(|_| bad())
            }
        };
        Ok((num(start)?, num(count)?))
    };
    let (a, b) = range(old)?;
    let (c, d) = range(new)?;
    Ok((a, b, c, d))
}

/// Extended git header lines allowed between files, and what each means.
fn extended_header(line: &str, n: usize) -> Result<(), String> {
    let l = line.trim_end();
    let ok = l.starts_with("diff --git ")
        || l.starts_with("index ")
        || l == "new file mode 100644"
        || l == "deleted file mode 100644";
    if ok {
        return Ok(());
    }
    let why = if l.starts_with("new file mode")
        || l.starts_with("deleted file mode")
        || l.starts_with("old mode")
        || l.starts_with("new mode")
    {
        "writ does not change file modes"
    } else if l.starts_with("rename ") || l.starts_with("copy ") || l.starts_with("similarity ") {
        "renames and copies are not supported; delete the old file and add the new one"
    } else if l.starts_with("Binary files") || l.starts_with("GIT binary patch") {
        "binary patches are not supported"
    } else {
        "text outside a hunk (a hunk's lines must match its header's counts)"
    };
    Err(format!("line {n}: `{l}`: {why}"))
}

/// Splits and parses a unified diff strictly; an error names the line and
/// what is wrong with it.
pub fn parse_diff(text: &str) -> Result<Vec<FilePatch>, String> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut patches: Vec<FilePatch> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let n = i + 1;
        let line = lines[i];
        if line.trim().is_empty() && lines[i..].iter().all(|l| l.trim().is_empty()) {
            break; // trailing blank lines
        }
        if !line.starts_with("--- ") {
            extended_header(line, n)?;
            i += 1;
            continue;
        }
        let plus = lines
            .get(i + 1)
            .filter(|l| l.starts_with("+++ "))
            .ok_or_else(|| format!("line {n}: `---` without a `+++` line after it"))?;
        let old_path = header_path(&line[4..], "a/", n)?;
        let new_path = header_path(&plus[4..], "b/", n + 1)?;
        match (&old_path, &new_path) {
            (None, None) => return Err(format!("line {n}: the file header names no path")),
            (Some(a), Some(b)) if a != b => {
                return Err(format!(
                    "line {n}: `{a}` -> `{b}`: renames are not supported; delete the old file and add the new one"
                ))
            }
            _ => {}
        }
        i += 2;
        let mut hunks = Vec::new();
        let (mut added, mut removed) = (0, 0);
        // New lines minus old lines of the hunks so far: where each hunk's
        // new range must start (a reviewer reads `+N` as where it lands).
        let mut delta: isize = 0;
        while let Some(line) = lines.get(i).filter(|l| l.starts_with("@@")) {
            let (old_start, old_count, new_start, new_count) = hunk_header(line, i + 1)?;
            let expected = old_start as isize
                + delta
                + match (old_count, new_count) {
                    (0, _) => 1,
                    (_, 0) => -1,
                    _ => 0,
                };
            if new_start as isize != expected.max(0) {
                return Err(format!(
                    "line {}: the hunk's new range starts at {new_start}, but its old range and the hunks before put it at {}",
                    i + 1,
                    expected.max(0)
                ));
            }
            delta += new_count as isize - old_count as isize;
            i += 1;
            let (mut olds, mut news) = (0, 0);
            let mut body: Vec<HunkLine> = Vec::new();
            while olds < old_count || news < new_count {
                let n = i + 1;
                let Some(raw) = lines.get(i) else {
                    return Err(format!(
                        "line {n}: the diff ends inside a hunk (its header promises {old_count} old and {new_count} new lines)"
                    ));
                };
                let (sign, text) = match raw.chars().next() {
                    Some(c @ (' ' | '-' | '+')) => (c, &raw[1..]),
                    // An empty line is an empty context line (editors strip
                    // the space).
                    Some('\n') => (' ', "\n"),
                    _ => {
                        return Err(format!(
                            "line {n}: `{}` is not a context, removed or added line, but the hunk header promises more lines",
                            raw.trim_end()
                        ))
                    }
                };
                if text
                    .trim_end_matches('\n')
                    .trim_end_matches('\r')
                    .contains('\r')
                {
                    return Err(format!(
                        "line {n}: a carriage return inside the line (it would show as two lines to a reviewer)"
                    ));
                }
                let text = text.to_string();
                match sign {
                    ' ' => {
                        olds += 1;
                        news += 1;
                        body.push(HunkLine::Context(text));
                    }
                    '-' => {
                        olds += 1;
                        removed += 1;
                        body.push(HunkLine::Delete(text));
                    }
                    _ => {
                        news += 1;
                        added += 1;
                        body.push(HunkLine::Insert(text));
                    }
                }
                if olds > old_count || news > new_count {
                    return Err(format!(
                        "line {n}: the hunk has more lines than its header's counts (-{old_start},{old_count} +{new_start},{new_count})"
                    ));
                }
                i += 1;
                if let Some(marker) = lines.get(i).filter(|l| l.starts_with('\\')) {
                    if !marker.starts_with("\\ No newline at end of file") {
                        return Err(format!(
                            "line {}: unknown marker `{}`",
                            i + 1,
                            marker.trim_end()
                        ));
                    }
                    // Only the file's last old line and last new line can
                    // lack an ending: a marker anywhere else would join
                    // two lines the reviewer reads apart.
                    let last = match body.last() {
                        Some(HunkLine::Context(_)) => olds == old_count && news == new_count,
                        Some(HunkLine::Delete(_)) => olds == old_count,
                        Some(HunkLine::Insert(_)) => news == new_count,
                        None => false,
                    };
                    if !last {
                        return Err(format!(
                            "line {}: \"No newline at end of file\" in the middle of a hunk",
                            i + 1
                        ));
                    }
                    strip_newline(body.last_mut());
                    i += 1;
                }
            }
            if body.iter().all(|l| matches!(l, HunkLine::Context(_))) {
                return Err(format!("line {}: a hunk that changes nothing", i));
            }
            if let Some(prev) = hunks.last() {
                let prev: &Hunk = prev;
                if old_start < prev.old_start + prev.old_count {
                    return Err(format!("line {i}: hunks overlap or are out of order"));
                }
            }
            hunks.push(Hunk {
                old_start,
                old_count,
                new_start,
                new_count,
                lines: body,
            });
        }
        if hunks.is_empty() {
            return Err(format!(
                "file {} of the diff has no hunks",
                patches.len() + 1
            ));
        }
        let unended = |h: &Hunk| {
            h.lines.iter().any(|l| match l {
                HunkLine::Context(t) | HunkLine::Delete(t) | HunkLine::Insert(t) => {
                    !t.ends_with('\n')
                }
            })
        };
        if hunks[..hunks.len() - 1].iter().any(unended) {
            return Err(format!(
                "file {}: \"No newline at end of file\" before the last hunk",
                patches.len() + 1
            ));
        }
        if old_path.is_none() && hunks.iter().any(|h| h.old_count != 0) {
            return Err(format!(
                "a new file's hunks cannot remove or keep lines (file {})",
                patches.len() + 1
            ));
        }
        if new_path.is_none() && hunks.iter().any(|h| h.new_count != 0) {
            return Err(format!(
                "a deleted file's hunks cannot add or keep lines (file {})",
                patches.len() + 1
            ));
        }
        let path = new_path.clone().or(old_path.clone()).unwrap_or_default();
        if patches.iter().any(|p| p.paths().contains(&path.as_str())) {
            return Err(format!("`{path}` appears twice in the diff"));
        }
        patches.push(FilePatch {
            old_path,
            new_path,
            hunks,
            added,
            removed,
        });
    }
    if patches.is_empty() {
        return Err("no `--- a/PATH` / `+++ b/PATH` file header".into());
    }
    Ok(patches)
}

fn strip_newline(line: Option<&mut HunkLine>) {
    if let Some(HunkLine::Context(t) | HunkLine::Delete(t) | HunkLine::Insert(t)) = line {
        if t.ends_with('\n') {
            t.pop();
        }
    }
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
mod tests;
