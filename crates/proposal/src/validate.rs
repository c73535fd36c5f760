//! Validation: the one door from [`Proposal`] to [`ValidProposal`].

use crate::diff::{parse_diff, stats, DiffStats, FilePatch};
use crate::{Kind, Proposal, PROPOSAL_VERSION};
use std::path::{Component, Path};

/// What validation needs to know about the world.
pub struct ValidationContext<'a> {
    /// The repository root (diff paths must stay inside it).
    pub repo: &'a Path,
    /// Whether a chunk id names a real chunk (of this retrieval run, for a
    /// model; of the index, for other proposers).
    pub known_chunk: &'a dyn Fn(i64) -> bool,
}

/// Why a proposal was refused: every reason found, not just the first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// One line per problem.
    pub reasons: Vec<String>,
}

/// A proposal that passed validation.
///
/// INVARIANT (validated): only [`validate`] constructs this type; its
/// fields are private, so holding one proves the checks ran.
#[derive(Debug, Clone)]
pub struct ValidProposal {
    proposal: Proposal,
    patches: Vec<FilePatch>,
    targets: Vec<String>,
    stats: DiffStats,
}

impl ValidProposal {
    /// The proposal as received.
    pub fn proposal(&self) -> &Proposal {
        &self.proposal
    }

    /// The parsed diff, one entry per file (empty unless `edit`).
    pub fn patches(&self) -> &[FilePatch] {
        &self.patches
    }

    /// Normalised repository-relative paths the diff touches, one per
    /// file patch and in the same order as [`ValidProposal::patches`].
    pub fn targets(&self) -> &[String] {
        &self.targets
    }

    /// Diff size.
    pub fn stats(&self) -> DiffStats {
        self.stats
    }
}

/// Validates `proposal` in `cx`; a refusal carries every reason.
pub fn validate(proposal: Proposal, cx: &ValidationContext<'_>) -> Result<ValidProposal, Refusal> {
    let mut reasons = Vec::new();
    if proposal.version != PROPOSAL_VERSION {
        reasons.push(format!(
            "version {} is not supported (this writ reads version {PROPOSAL_VERSION})",
            proposal.version
        ));
    }
    if proposal.title.trim().is_empty() {
        reasons.push("`title` is empty".into());
    }
    if proposal.title.chars().count() > 200 {
        reasons.push("`title` is longer than 200 characters".into());
    }
    if proposal.rationale.trim().is_empty() {
        reasons.push("`rationale` is empty".into());
    }
    let (needs, present) = match proposal.kind {
        Kind::Edit | Kind::RuleChange => ("diff", proposal.diff.is_some()),
        Kind::Note => ("text", proposal.text.is_some()),
        Kind::Command => ("argv", proposal.argv.is_some()),
    };
    if !present {
        reasons.push(format!(
            "a `{}` proposal needs `{needs}`",
            proposal.kind.name()
        ));
    }
    for (field, set) in [
        ("diff", proposal.diff.is_some()),
        ("text", proposal.text.is_some()),
        ("argv", proposal.argv.is_some()),
    ] {
        if set && field != needs {
            reasons.push(format!(
                "`{field}` does not belong in a `{}` proposal",
                proposal.kind.name()
            ));
        }
    }
    if let Some(argv) = &proposal.argv {
        if argv.is_empty() || argv[0].trim().is_empty() {
            reasons.push("`argv` is empty".into());
        }
    }
    if proposal
        .text
        .as_deref()
        .is_some_and(|t| t.trim().is_empty())
    {
        reasons.push("`text` is empty".into());
    }
    let mut seen = std::collections::BTreeSet::new();
    for &id in &proposal.citations {
        if !seen.insert(id) {
            reasons.push(format!("citation {id} is listed twice"));
        } else if !(cx.known_chunk)(id) {
            reasons.push(format!(
                "citation {id} names no chunk of the retrieval run or index"
            ));
        }
    }
    let mut patches = Vec::new();
    let mut targets = Vec::new();
    if let (true, Some(diff)) = (proposal.kind.has_diff(), &proposal.diff) {
        match parse_diff(diff) {
            Err(e) => reasons.push(format!("the diff is malformed: {e}")),
            Ok(parsed) => {
                for patch in &parsed {
                    for path in patch.paths() {
                        match normalise(path, cx.repo) {
                            Ok(p) if !targets.contains(&p) => targets.push(p),
                            // One entry per file, in diff order: the gate
                            // pairs each patch with its target.
                            Ok(p) => reasons.push(format!(
                                "diff path `{path}` names `{p}` again: one part per file"
                            )),
                            Err(e) => reasons.push(format!("diff path `{path}` {e}")),
                        }
                    }
                }
                patches = parsed;
            }
        }
    }
    if !reasons.is_empty() {
        return Err(Refusal { reasons });
    }
    let stats = stats(&patches);
    // INVARIANT (validated): the only construction site.
    Ok(ValidProposal {
        proposal,
        patches,
        targets,
        stats,
    })
}

/// Unicode format characters (category Cf) and other invisible marks a
/// terminal or page may not show: bidi controls, zero-width characters,
/// the BOM, soft hyphen, Mongolian vowel separator, tag characters.
fn invisible(c: char) -> bool {
    matches!(c,
        '\u{00ad}' | '\u{061c}' | '\u{180e}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}'
        | '\u{2060}'..='\u{206f}' | '\u{feff}' | '\u{fff9}'..='\u{fffb}' | '\u{e0000}'..='\u{e007f}')
}

/// Folders no edit may reach, in any letter case: git's state (also of a
/// nested repository or submodule) and writ's own.
const OFF_LIMITS: [&str; 2] = [".git", ".writ"];

/// A relative path with no `.`/`..`, inside `repo`, through no symbolic
/// link and naming no `.git` or `.writ` folder, whose existing parts are
/// folders and whose target, if it exists, is a regular file.
///
/// A path through a symlink is refused rather than followed: rules and
/// apply must see the same file, and the string a rule matches is the path
/// apply opens (apply itself opens beneath the repository without
/// following links, so a link swapped in later fails there too).
fn normalise(path: &str, repo: &Path) -> Result<String, String> {
    if path.is_empty() {
        return Err("is empty".into());
    }
    if path.chars().any(char::is_control) {
        return Err("has control characters".into());
    }
    // Characters that change how a name reads without changing how it looks
    // (bidi overrides, zero-width and other format characters), and names
    // with leading or trailing white space (`setup.py ` beside `setup.py`):
    // a reviewer and a path rule must read the name the file system uses.
    if path.chars().any(invisible) {
        return Err("has invisible or direction-changing characters".into());
    }
    if path
        .split('/')
        .any(|part| part != part.trim() || part.chars().any(|c| c != ' ' && c.is_whitespace()))
    {
        return Err("has a name with leading, trailing or non-space white space".into());
    }
    let p = Path::new(path);
    let mut parts = Vec::new();
    for c in p.components() {
        match c {
            Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
            Component::CurDir => {}
            Component::ParentDir => return Err("leaves the repository (`..`)".into()),
            Component::RootDir | Component::Prefix(_) => {
                return Err("is absolute; diff paths are relative to the repository".into())
            }
        }
    }
    if parts.is_empty() {
        return Err("names the repository itself".into());
    }
    if let Some(part) = parts
        .iter()
        .find(|p| OFF_LIMITS.iter().any(|o| p.eq_ignore_ascii_case(o)))
    {
        return Err(format!(
            "reaches `{part}`: git's and writ's own state never change through a proposal"
        ));
    }
    let mut here = repo.to_path_buf();
    for (n, part) in parts.iter().enumerate() {
        here.push(part);
        let last = n + 1 == parts.len();
        match std::fs::symlink_metadata(&here) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(format!(
                    "goes through a symbolic link (`{}`): writ edits only real files beneath the repository",
                    parts[..=n].join("/")
                ))
            }
            Ok(meta) if !last && !meta.is_dir() => {
                return Err(format!("`{}` is not a folder", parts[..=n].join("/")))
            }
            Ok(meta) if last && !meta.is_file() => {
                return Err("is not a regular file (a folder, FIFO, socket or device)".into())
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
            Err(e) => return Err(format!("cannot be checked: {e}")),
        }
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit(diff: &str, citations: Vec<i64>) -> Proposal {
        Proposal {
            version: 1,
            kind: Kind::Edit,
            title: "t".into(),
            rationale: "r".into(),
            citations,
            diff: Some(diff.into()),
            text: None,
            argv: None,
        }
    }

    fn check(p: Proposal, repo: &Path) -> Result<ValidProposal, Refusal> {
        let known = |id: i64| id == 7;
        validate(
            p,
            &ValidationContext {
                repo,
                known_chunk: &known,
            },
        )
    }

    fn diff_for(path: &str) -> String {
        format!("--- a/{path}\n+++ b/{path}\n@@ -1 +1 @@\n-a\n+b\n")
    }

    #[test]
    fn refuses_bad_paths_citations_and_diffs() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        std::os::unix::fs::symlink("/etc", dir.path().join("out"))?;
        let reason = |p: Proposal| {
            check(p, dir.path())
                .err()
                .map(|r| r.reasons.join("; "))
                .unwrap_or_default()
        };
        assert!(reason(edit(&diff_for("../x"), vec![])).contains("leaves the repository"));
        assert!(reason(edit(
            "--- /etc/passwd\n+++ /etc/passwd\n@@ -1 +1 @@\n-a\n+b\n",
            vec![]
        ))
        .contains("is absolute"));
        assert!(reason(edit(&diff_for("out/passwd"), vec![])).contains("symbolic link"));
        std::fs::create_dir(dir.path().join("src"))?;
        std::os::unix::fs::symlink("../src", dir.path().join("docs-api"))?;
        assert!(reason(edit(&diff_for("docs-api/lib.rs"), vec![])).contains("symbolic link"));
        for sly in [
            "docs/conf.py ",
            " docs/a.md",
            "docs/\u{202e}dm.txt",
            "docs/a\u{200b}.md",
            "docs/a\u{a0}b.md",
        ] {
            let why = reason(edit(&diff_for(sly), vec![]));
            assert!(
                why.contains("white space") || why.contains("invisible"),
                "{sly:?}: {why}"
            );
        }
        for off in [
            ".git/config",
            ".GIT/config",
            "sub/.git/config",
            ".writ/notes.md",
            ".Writ/x",
        ] {
            assert!(
                reason(edit(&diff_for(off), vec![])).contains("never change"),
                "{off}"
            );
        }
        assert!(reason(edit(&diff_for("ok.md"), vec![99])).contains("citation 99 names no chunk"));
        assert!(reason(edit("not a diff", vec![])).contains("the diff is malformed"));
        let ok = check(
            edit(
                &diff_for("./docs/../docs/ok.md").replace("../docs/", ""),
                vec![7],
            ),
            dir.path(),
        );
        assert_eq!(
            ok.map(|v| v.targets().to_vec()).map_err(|r| r.reasons),
            Ok(vec!["docs/ok.md".to_string()])
        );
        Ok(())
    }

    #[test]
    fn kind_fields_must_match() {
        let mut p = edit("x", vec![]);
        p.kind = Kind::Command;
        p.diff = None;
        p.text = Some("hi".into());
        let r = check(p, Path::new("."))
            .err()
            .map(|r| r.reasons)
            .unwrap_or_default();
        assert!(
            r.contains(&"a `command` proposal needs `argv`".to_string()),
            "{r:?}"
        );
        assert!(
            r.contains(&"`text` does not belong in a `command` proposal".to_string()),
            "{r:?}"
        );
    }

    #[test]
    fn unknown_fields_are_refused_at_parse() {
        let e = Proposal::from_json(
            r#"{"kind":"note","title":"t","rationale":"r","citations":[],"text":"x","confidence":0.99}"#,
        );
        assert!(e
            .err()
            .is_some_and(|e| e.message.contains("unknown field `confidence`")));
    }
}
