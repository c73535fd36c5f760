//! Reading rule files: TOML in, a validated [`RuleSet`] out, or every
//! problem with `file:line:col` and a hint.

use crate::rule::{compile, refused, Effect, Rule, When};
use serde::Deserialize;
use std::path::Path;
use toml::Spanned;

/// An example a rule carries, checked at load.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Example {
    facts: crate::Facts,
    matches: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: Spanned<String>,
    effect: Effect,
    why: String,
    when: Spanned<When>,
    #[serde(default)]
    example: Vec<Spanned<Example>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawException {
    rule: Spanned<String>,
    why: String,
    when: Spanned<When>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    rule: Vec<RawRule>,
    #[serde(default)]
    exception: Vec<RawException>,
}

/// An exception to a `hold` rule: where its `when` holds, the rule does
/// not match. Written `[[exception]]` with `rule`, `why` and `when`, in
/// any rule file; its globs are read the strict way, as an allow rule's
/// (case respected, `*` within one folder), since it lets things through.
#[derive(Debug, Clone)]
pub struct Exception {
    /// The id of the hold rule it narrows.
    pub rule: String,
    /// Why, shown with every decision it changes.
    pub why: String,
    /// Where it applies.
    pub when: When,
    /// `file:line`, for messages and decisions.
    pub origin: String,
    /// Its predicates, compiled as a rule's are.
    pub(crate) matcher: Rule,
}

/// A problem in a rule file, or with the rules folder.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct RuleError {
    /// The file (or folder).
    pub file: String,
    /// 1-based line; 0 when the problem is the file or folder itself.
    pub line: usize,
    /// 1-based column; 0 with line 0.
    pub col: usize,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
}

impl std::fmt::Display for RuleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file)?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.col)?;
        }
        write!(f, ": {}", self.message)?;
        match &self.hint {
            Some(hint) => write!(f, " (hint: {hint})"),
            None => Ok(()),
        }
    }
}

/// Every problem found in a rule set; one is enough to refuse it whole.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
pub struct RuleErrors(pub Vec<RuleError>);

/// A validated set of rules, with the text it was read from.
#[derive(Debug, Clone)]
pub struct RuleSet {
    pub(crate) rules: Vec<Rule>,
    pub(crate) exceptions: Vec<Exception>,
    pub(crate) hash: String,
    sources: Vec<(String, String)>,
}

fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

impl RuleSet {
    /// Loads every `*.toml` directly in `dir` (not `dir/tests/`); a folder
    /// without one, or an unreadable one, is an error.
    /// [`crate::discover`] chooses the folder the way every front end should.
    pub fn load_dir(dir: &Path) -> Result<RuleSet, RuleErrors> {
        crate::RuleSource::Dir(dir.to_path_buf()).load()
    }

    /// Parses one file's text (`name` is used in messages).
    pub fn parse_str(name: &str, text: &str) -> Result<RuleSet, RuleErrors> {
        RuleSet::parse_many(&[(name.to_string(), text.to_string())])
    }

    /// Parses several files as one rule set.
    pub fn parse_many(sources: &[(String, String)]) -> Result<RuleSet, RuleErrors> {
        let mut errors = Vec::new();
        let mut rules: Vec<Rule> = Vec::new();
        // Exceptions name rules of any file: checked once all are read.
        let mut pending: Vec<(RuleError, RawException, String)> = Vec::new();
        for (file, text) in sources {
            let err = |offset: usize, message: String, hint: Option<&str>| {
                let (line, col) = position(text, offset);
                RuleError {
                    file: file.clone(),
                    line,
                    col,
                    message,
                    hint: hint.map(str::to_string),
                }
            };
            let raw: RawFile = match toml::from_str(text) {
                Ok(r) => r,
                Err(e) => {
                    let offset = e.span().map_or(0, |s| s.start);
                    errors.push(err(
                        offset,
                        e.message().trim().to_string(),
                        Some("rules/README.md lists the keys a rule and its `when` may have"),
                    ));
                    continue;
                }
            };
            for r in raw.rule {
                let at = r.id.span().start;
                let id = r.id.get_ref().trim().to_string();
                if id.is_empty() {
                    errors.push(err(at, "rule id is empty".into(), None));
                    continue;
                }
                if let Some(prev) = rules.iter().find(|x| x.id == id) {
                    errors.push(err(
                        at,
                        format!("duplicate rule id `{id}`"),
                        Some(&format!("first defined at {}", prev.origin)),
                    ));
                    continue;
                }
                let when = r.when.get_ref().clone();
                let when_at = r.when.span().start;
                if let Some(why) = refused(&when) {
                    errors.push(err(
                        when_at,
                        format!("rule `{id}` {why}"),
                        Some("fix or delete the rule"),
                    ));
                    continue;
                }
                let (any, all, proposers) = match compile(&when, r.effect) {
                    Ok(sets) => sets,
                    Err(m) => {
                        errors.push(err(
                            when_at,
                            format!("rule `{id}`: {m}"),
                            Some("globs follow globset syntax: `**/*.md`, `docs/**`"),
                        ));
                        continue;
                    }
                };
                let (line, _) = position(text, at);
                let rule = Rule {
                    id: id.clone(),
                    effect: r.effect,
                    why: r.why.trim().to_string(),
                    when,
                    origin: format!("{file}:{line}"),
                    any,
                    all,
                    proposers,
                };
                for ex in &r.example {
                    let got = rule.eval(&ex.get_ref().facts);
                    if got.matched != ex.get_ref().matches {
                        let missing = if got.unavailable.is_empty() {
                            String::new()
                        } else {
                            format!(" ({})", got.unavailable.join("; "))
                        };
                        errors.push(err(
                            ex.span().start,
                            format!(
                                "example of rule `{id}` expects {} but the rule {}{missing}",
                                if ex.get_ref().matches {
                                    "a match"
                                } else {
                                    "no match"
                                },
                                if got.matched {
                                    "matches"
                                } else {
                                    "does not match"
                                },
                            ),
                            Some("fix the rule or its example"),
                        ));
                    }
                }
                rules.push(rule);
            }
            for x in raw.exception {
                let at = err(x.when.span().start, String::new(), None);
                let (line, _) = position(text, x.rule.span().start);
                pending.push((at, x, format!("{file}:{line}")));
            }
        }
        let mut exceptions = Vec::new();
        for (at, x, origin) in pending {
            let fail = |message: String, hint: &str| RuleError {
                message,
                hint: Some(hint.to_string()),
                ..at.clone()
            };
            let id = x.rule.get_ref().trim().to_string();
            match rules.iter().find(|r| r.id == id) {
                None => {
                    errors.push(fail(
                        format!("exception to rule `{id}`, which no rule file defines"),
                        "name the `id` of a hold rule, or delete the exception",
                    ));
                    continue;
                }
                Some(r) if r.effect != Effect::Hold => {
                    errors.push(fail(
                        format!("exception to rule `{id}`, which is not a hold rule"),
                        "only hold rules take exceptions: narrow an allow rule's own `when`, and change a forbid rule itself",
                    ));
                    continue;
                }
                Some(_) => {}
            }
            let when = x.when.get_ref().clone();
            if when == When::default() {
                errors.push(fail(
                    format!("exception to rule `{id}` has an empty `when`, which would switch the rule off"),
                    "say which proposals it lets past the rule, or delete the rule instead",
                ));
                continue;
            }
            if let Some(why) = refused(&when) {
                errors.push(fail(
                    format!("exception to rule `{id}` {why}"),
                    "fix or delete the exception",
                ));
                continue;
            }
            // Strict globs: an exception lets proposals past a hold.
            let (any, all, proposers) = match compile(&when, Effect::Allow) {
                Ok(sets) => sets,
                Err(m) => {
                    errors.push(fail(
                        format!("exception to rule `{id}`: {m}"),
                        "globs follow globset syntax: `**/*.md`, `docs/**`",
                    ));
                    continue;
                }
            };
            let why = x.why.trim().to_string();
            exceptions.push(Exception {
                matcher: Rule {
                    id: format!("exception to `{id}` at {origin}"),
                    effect: Effect::Allow,
                    why: why.clone(),
                    when: when.clone(),
                    origin: origin.clone(),
                    any,
                    all,
                    proposers,
                },
                rule: id,
                why,
                when,
                origin,
            });
        }
        if !errors.is_empty() {
            return Err(RuleErrors(errors));
        }
        rules.sort_by(|a, b| a.id.cmp(&b.id));
        let hash = canonical_hash(&rules, &exceptions);
        Ok(RuleSet {
            rules,
            exceptions,
            hash,
            sources: sources.to_vec(),
        })
    }

    /// The (name, text) sources this set was parsed from, as given: store
    /// them to keep the rule set, and [`RuleSet::parse_many`] on them gives
    /// a set with the same [`RuleSet::hash`] and the same decisions.
    pub fn sources(&self) -> &[(String, String)] {
        &self.sources
    }

    /// The rules, sorted by id.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The exceptions to hold rules, in file order.
    pub fn exceptions(&self) -> &[Exception] {
        &self.exceptions
    }

    /// blake3 of the canonical rule set: rules sorted by id, each as
    /// canonical JSON (id, effect, why, when), then, when there are any,
    /// the exceptions (rule, why, when) sorted. File names, order and
    /// formatting do not change it; any change to a rule or exception does.
    pub fn hash(&self) -> &str {
        &self.hash
    }
}

fn canonical_hash(rules: &[Rule], exceptions: &[Exception]) -> String {
    let canon: Vec<serde_json::Value> = rules
        .iter()
        .map(
            |r| serde_json::json!({ "id": r.id, "effect": r.effect, "why": r.why, "when": r.when }),
        )
        .collect();
    let mut text = String::new();
    write_sorted(&serde_json::Value::Array(canon), &mut text);
    // A set without exceptions hashes as it did before they existed.
    if !exceptions.is_empty() {
        let mut canon: Vec<String> = exceptions
            .iter()
            .map(|x| {
                let mut s = String::new();
                write_sorted(
                    &serde_json::json!({ "rule": x.rule, "why": x.why, "when": x.when }),
                    &mut s,
                );
                s
            })
            .collect();
        canon.sort();
        text.push_str("\nexceptions:[");
        text.push_str(&canon.join(","));
        text.push(']');
    }
    blake3::hash(text.as_bytes()).to_hex().to_string()
}

/// JSON with object keys sorted, whatever map type serde_json was built
/// with (another crate in the build may switch on `preserve_order`, which
/// would otherwise change the hash between builds).
fn write_sorted(value: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (n, k) in keys.into_iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_sorted(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (n, v) in items.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                write_sorted(v, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}
