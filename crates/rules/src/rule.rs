//! A rule: its effect, its predicates, and how its globs are compiled.

use crate::Channel;
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};
use writ_proposal::Kind;

/// What a matching rule asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    /// The proposal becomes a recorded action.
    Allow,
    /// The proposal is refused; only a rule change can alter that.
    Forbid,
    /// A person decides (`writ review`).
    Hold,
}

/// The predicates of a rule; all that are present must hold. A closed set:
/// any other key is refused at load.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct When {
    /// The proposal's kind is one of these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<Vec<Kind>>,
    /// Some target matches one of these globs (no targets: no match).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paths_any: Option<Vec<String>>,
    /// Every target matches one of these globs (no targets: no match).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paths_all: Option<Vec<String>>,
    /// At most this many files touched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_files: Option<usize>,
    /// At most this many lines added plus removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_lines: Option<usize>,
    /// At most this many lines added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_added: Option<usize>,
    /// At most this many lines removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_removed: Option<usize>,
    /// At least this many citations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_citations: Option<usize>,
    /// At most this many citations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_citations: Option<usize>,
    /// Every cited chunk was in the retrieval run (or, with `false`, not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub citations_in_run: Option<bool>,
    /// Every cited chunk scored at least this (cosine, computed by writ).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_citation_score: Option<f32>,
    /// The diff applies cleanly to the working tree (or, with `false`, not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applies_cleanly: Option<bool>,
    /// Every target is tracked by git (or, with `false`, some is not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets_tracked: Option<bool>,
    /// The proposal arrived through one of these channels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<Vec<Channel>>,
    /// The proposer matches one of these globs (`model:*`, `external:ci`).
    /// Outside the `model` channel the proposer names itself: pair it with
    /// `channel` in an allow rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proposer: Option<Vec<String>>,
}

impl When {
    /// Predicates that read a fact writ may fail to compute (`None` in
    /// [`crate::Facts`]), and which then do not match.
    pub(crate) fn fallible(&self) -> Vec<&'static str> {
        [
            ("citations_in_run", self.citations_in_run.is_some()),
            ("min_citation_score", self.min_citation_score.is_some()),
            ("applies_cleanly", self.applies_cleanly.is_some()),
            ("targets_tracked", self.targets_tracked.is_some()),
            ("channel", self.channel.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, used)| used.then_some(name))
        .collect()
    }

    /// Whether some proposal kind satisfies both `kind` predicates.
    pub(crate) fn kinds_overlap(&self, other: &When) -> bool {
        match (&self.kind, &other.kind) {
            (Some(a), Some(b)) => a.iter().any(|k| b.contains(k)),
            _ => true,
        }
    }
}

/// One rule, validated.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Unique id, named in decisions.
    pub id: String,
    /// What a match asks for.
    pub effect: Effect,
    /// Shown with every decision this rule determines.
    pub why: String,
    /// The predicates.
    pub when: When,
    /// `file:line` of the rule, for messages.
    pub origin: String,
    pub(crate) any: Option<GlobSet>,
    pub(crate) all: Option<GlobSet>,
    pub(crate) proposers: Option<GlobSet>,
}

/// The compiled globs of a rule: (paths_any, paths_all, proposer).
pub(crate) type Globs = (Option<GlobSet>, Option<GlobSet>, Option<GlobSet>);

/// Compiles a rule's globs, each read the strict way for its effect:
/// those of `forbid` and `hold` rules ignore case (`**/*.pem` catches
/// `SERVER.PEM`) and let `*` and `?` cross `/`; those of `allow` rules
/// respect case and keep `*` and `?` within one path segment, so
/// `docs/*.md` does not admit `docs/a/b.md`. `\` escapes the next
/// character on every platform.
pub(crate) fn compile(when: &When, effect: Effect) -> Result<Globs, String> {
    let strict = effect == Effect::Allow;
    let paths = |globs: &Option<Vec<String>>| {
        globs
            .as_deref()
            .map(|g| globset(g, !strict, strict))
            .transpose()
    };
    let proposer = when
        .proposer
        .as_deref()
        .map(|g| globset(g, !strict, false))
        .transpose()?;
    Ok((paths(&when.paths_any)?, paths(&when.paths_all)?, proposer))
}

fn globset(globs: &[String], ignore_case: bool, one_segment: bool) -> Result<GlobSet, String> {
    let mut b = GlobSetBuilder::new();
    for g in globs {
        let glob = GlobBuilder::new(g)
            .case_insensitive(ignore_case)
            .literal_separator(one_segment)
            .backslash_escape(true)
            .build()
            .map_err(|e| format!("bad glob `{g}`: {}", e.kind()))?;
        b.add(glob);
    }
    b.build().map_err(|e| e.to_string())
}

/// `path` as a glob that matches exactly that path, in any rule: each of
/// `* ? [ ] { } \` becomes a one-character class (`[*]`), so a rule
/// drafted for a file literally named `src/*.rs` matches only that file.
///
/// ```
/// assert_eq!(writ_rules::glob_escape("src/*.rs"), "src/[*].rs");
/// ```
pub fn glob_escape(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '{' | '}' | '\\') {
            out.push('[');
            out.push(c);
            out.push(']');
        } else {
            out.push(c);
        }
    }
    out
}

/// Why a `when` is refused, if it is: it can never match, or its score
/// bar is not a number a cosine can be compared with.
pub(crate) fn refused(w: &When) -> Option<String> {
    if let Some(s) = w.min_citation_score.filter(|s| !s.is_finite()) {
        // NaN and inf never match; -inf matches any score, which is no bar.
        return Some(format!(
            "has `min_citation_score` {s}, not a finite number (a cosine is between -1 and 1)"
        ));
    }
    never_matches(w).map(|why| format!("can never match: {why}"))
}

/// Why a `when` can never match, if it cannot.
fn never_matches(w: &When) -> Option<String> {
    let empty = [
        ("kind", w.kind.as_ref().map(Vec::len)),
        ("paths_any", w.paths_any.as_ref().map(Vec::len)),
        ("paths_all", w.paths_all.as_ref().map(Vec::len)),
        ("proposer", w.proposer.as_ref().map(Vec::len)),
        ("channel", w.channel.as_ref().map(Vec::len)),
    ];
    if let Some((name, _)) = empty.iter().find(|(_, len)| *len == Some(0)) {
        return Some(format!("`{name}` is an empty list"));
    }
    if let (Some(lo), Some(hi)) = (w.min_citations, w.max_citations) {
        if lo > hi {
            return Some(format!("`min_citations` {lo} exceeds `max_citations` {hi}"));
        }
    }
    let edit_only = w.paths_any.is_some()
        || w.paths_all.is_some()
        || w.applies_cleanly == Some(true)
        || w.targets_tracked.is_some();
    if edit_only
        && w.kind
            .as_ref()
            .is_some_and(|k| !k.iter().any(|k| k.has_diff()))
    {
        return Some(
            "path and diff predicates only match `edit` and `rule-change` proposals, which `kind` excludes"
                .into(),
        );
    }
    None
}
