//! Where a rule set comes from: a rules folder, or writ's built-in rules.
//! One function, [`discover`], decides, for every front end alike.

use crate::{RuleError, RuleErrors, RuleSet, TestReport};
use std::path::{Path, PathBuf};

/// writ's built-in rule set, for repositories without a `rules/` folder.
pub const DEFAULT_RULES: &str = include_str!("../../../rules/default.toml");

/// The fixtures of [`DEFAULT_RULES`], run by `writ rules test` when the
/// built-in rules are in force.
pub const DEFAULT_RULE_TESTS: &str = include_str!("../../../rules/tests/default.toml");

/// The name [`DEFAULT_RULES`] goes by in messages and [`RuleSet::sources`].
pub const DEFAULT_RULES_NAME: &str = "<built-in rules/default.toml>";

/// The name [`DEFAULT_RULE_TESTS`] goes by in messages.
pub const DEFAULT_RULE_TESTS_NAME: &str = "<built-in rules/tests/default.toml>";

/// Where the rules in force come from, as [`discover`] found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleSource {
    /// writ's built-in rules ([`DEFAULT_RULES`]): no folder was named and
    /// the repository has no `rules/` folder.
    BuiltIn,
    /// Every `*.toml` directly in this folder (canonical where it could
    /// be made so); `tests/` beneath it holds the fixtures.
    Dir(PathBuf),
}

/// Finds the rules in force for `repo`: `explicit` (`--rules DIR`) if
/// given; else `<repo>/rules` if it is a folder; else the built-in rules.
///
/// A folder that is chosen must hold rule files: a named folder that does
/// not exist, or a chosen one that cannot be listed or has no `*.toml`,
/// is an error naming the folder and the fix, never a silent fallback to
/// the built-in rules.
pub fn discover(repo: &Path, explicit: Option<&Path>) -> Result<RuleSource, RuleErrors> {
    let dir = match explicit {
        Some(dir) => {
            if !dir.is_dir() {
                let what = if dir.exists() {
                    "is not a folder"
                } else {
                    "does not exist"
                };
                return Err(folder_error(
                    dir,
                    format!("the rules folder {what}"),
                    "name a folder of *.toml rule files with --rules, or leave --rules out to use <repo>/rules or the built-in rules",
                ));
            }
            dir.to_path_buf()
        }
        None => {
            let dir = repo.join("rules");
            match std::fs::symlink_metadata(&dir) {
                Err(_) => return Ok(RuleSource::BuiltIn),
                // A linked folder would let an edit of its target (a "doc"
                // to every path rule) change the rules in force.
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(folder_error(
                        &dir,
                        "the rules folder is a symbolic link".into(),
                        "make `rules` a real folder in the repository (rules reached through a link could be edited as another file)",
                    ))
                }
                Ok(m) if !m.is_dir() => {
                    return Err(folder_error(
                        &dir,
                        "`rules` is not a folder".into(),
                        "make it a folder of *.toml rule files, or remove it to use the built-in rules",
                    ))
                }
                Ok(_) => dir,
            }
        }
    };
    let dir = dir.canonicalize().unwrap_or(dir);
    rule_files(&dir)?;
    Ok(RuleSource::Dir(dir))
}

impl RuleSource {
    /// The rules folder, if it is one.
    pub fn dir(&self) -> Option<&Path> {
        match self {
            RuleSource::BuiltIn => None,
            RuleSource::Dir(dir) => Some(dir),
        }
    }

    /// The rule files as (name, text), sorted by name: what
    /// [`RuleSet::parse_many`] reads. An unreadable `*.toml` is an error.
    pub fn sources(&self) -> Result<Vec<(String, String)>, RuleErrors> {
        let dir = match self {
            RuleSource::BuiltIn => {
                return Ok(vec![(DEFAULT_RULES_NAME.into(), DEFAULT_RULES.into())])
            }
            RuleSource::Dir(dir) => dir,
        };
        let mut sources = Vec::new();
        for file in rule_files(dir)? {
            let text = std::fs::read_to_string(&file).map_err(|e| {
                folder_error(
                    &file,
                    format!("cannot read this rule file: {e}"),
                    "make it a readable UTF-8 file, or move it out of the rules folder",
                )
            })?;
            sources.push((file.display().to_string(), text));
        }
        Ok(sources)
    }

    /// Reads and validates the rule set.
    pub fn load(&self) -> Result<RuleSet, RuleErrors> {
        RuleSet::parse_many(&self.sources()?)
    }

    /// Runs the fixtures against `rules` (loaded from this source): the
    /// built-in ones for [`RuleSource::BuiltIn`], else `<dir>/tests/*.toml`.
    pub fn run_tests(&self, rules: &RuleSet) -> Result<TestReport, String> {
        match self {
            RuleSource::BuiltIn => crate::run_test_sources(
                rules,
                &[(DEFAULT_RULE_TESTS_NAME.into(), DEFAULT_RULE_TESTS.into())],
            ),
            RuleSource::Dir(dir) => crate::run_tests(rules, &dir.join("tests")),
        }
    }
}

impl std::fmt::Display for RuleSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RuleSource::BuiltIn => f.write_str("writ's built-in rules"),
            RuleSource::Dir(dir) => write!(f, "the rules folder `{}`", dir.display()),
        }
    }
}

/// The `*.toml` entries directly in `dir`, sorted; an error when the folder
/// cannot be listed, an entry cannot be read, or there is none.
fn rule_files(dir: &Path) -> Result<Vec<PathBuf>, RuleErrors> {
    let fix = "make the folder readable, or name another with --rules";
    let entries = std::fs::read_dir(dir)
        .map_err(|e| folder_error(dir, format!("cannot list the rules folder: {e}"), fix))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| folder_error(dir, format!("cannot list the rules folder: {e}"), fix))?
            .path();
        if path.extension().is_some_and(|x| x == "toml") {
            if path.is_symlink() {
                return Err(folder_error(
                    &path,
                    "a rule file that is a symbolic link".into(),
                    "make it a real file in the rules folder (a linked rule file could be edited as another file)",
                ));
            }
            if path.is_dir() {
                return Err(folder_error(
                    &path,
                    "a folder named like a rule file".into(),
                    "rename it, or move it out of the rules folder",
                ));
            }
            files.push(path);
        }
    }
    if files.is_empty() {
        return Err(folder_error(
            dir,
            "the rules folder has no rule files (*.toml), so nothing could be decided".into(),
            "add rule files (writ's defaults are rules/default.toml in its repository), or remove the folder to use the built-in rules",
        ));
    }
    files.sort();
    Ok(files)
}

fn folder_error(path: &Path, message: String, hint: &str) -> RuleErrors {
    RuleErrors(vec![RuleError {
        file: path.display().to_string(),
        line: 0,
        col: 0,
        message,
        hint: Some(hint.into()),
    }])
}
