//! Where rules come from: `discover`, its errors, and sources that reload
//! to the same rule set.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

use std::path::Path;
use writ_proposal::Kind;
use writ_rules::{discover, Facts, RuleSet, RuleSource, DEFAULT_RULES, DEFAULT_RULES_NAME};

const ONE: &str =
    "[[rule]]\nid = \"a\"\neffect = \"hold\"\nwhy = \"w\"\nwhen = { kind = [\"edit\"] }\n";

fn error(repo: &Path, explicit: Option<&Path>) -> String {
    discover(repo, explicit)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_else(|| panic!("{} was accepted", explicit.unwrap_or(repo).display()))
}

#[test]
fn a_repository_without_rules_gets_the_built_in_set() {
    let repo = tempfile::tempdir().unwrap();
    let source = discover(repo.path(), None).unwrap();
    assert_eq!(source, RuleSource::BuiltIn);
    assert_eq!(source.dir(), None);
    assert_eq!(source.to_string(), "writ's built-in rules");
    assert_eq!(
        source.sources().unwrap(),
        [(DEFAULT_RULES_NAME.to_string(), DEFAULT_RULES.to_string())]
    );
    let set = source.load().unwrap();
    assert!(set.rules().len() >= 5);
    let report = source.run_tests(&set).unwrap();
    assert!(
        report.passed() && report.unexercised.is_empty(),
        "{report:?}"
    );
    // A file called `rules` is not a rules folder, and not a reason to
    // fall back to the built-in rules either: it is refused, with the fix.
    std::fs::write(repo.path().join("rules"), "not a folder").unwrap();
    let e = discover(repo.path(), None).unwrap_err().to_string();
    assert!(e.contains("not a folder"), "{e}");
    std::fs::remove_file(repo.path().join("rules")).unwrap();
    // Nor is a link to a folder: an edit of its target would change the
    // rules without being a rule change.
    std::fs::create_dir(repo.path().join("policy")).unwrap();
    std::os::unix::fs::symlink("policy", repo.path().join("rules")).unwrap();
    let e = discover(repo.path(), None).unwrap_err().to_string();
    assert!(e.contains("symbolic link"), "{e}");
}

#[test]
fn the_built_in_rules_are_the_repositorys_default_toml() {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(
        || env!("CARGO_MANIFEST_DIR").into(),
        std::path::PathBuf::from,
    );
    let file = std::fs::read_to_string(manifest_dir.join("../../rules/default.toml")).unwrap();
    assert_eq!(DEFAULT_RULES, file);
}

#[test]
fn the_repository_folder_is_used_and_an_explicit_one_wins() {
    let repo = tempfile::tempdir().unwrap();
    let dir = repo.path().join("rules");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("a.toml"), ONE).unwrap();
    std::fs::write(dir.join("README.md"), "not a rule").unwrap();
    let found = discover(repo.path(), None).unwrap();
    assert_eq!(found, RuleSource::Dir(dir.canonicalize().unwrap()));
    assert_eq!(found.load().unwrap().rules()[0].id, "a");

    let other = tempfile::tempdir().unwrap();
    std::fs::write(other.path().join("b.toml"), ONE.replace("\"a\"", "\"b\"")).unwrap();
    let found = discover(repo.path(), Some(other.path())).unwrap();
    assert_eq!(
        found.dir(),
        Some(other.path().canonicalize().unwrap().as_path())
    );
    assert_eq!(found.load().unwrap().rules()[0].id, "b");
}

#[test]
fn a_folder_without_readable_rule_files_is_an_error_naming_it_and_the_fix() {
    let repo = tempfile::tempdir().unwrap();
    let dir = repo.path().join("rules");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("notes.txt"), "x").unwrap();
    let e = error(repo.path(), None);
    let shown = dir.canonicalize().unwrap().display().to_string();
    assert!(
        e.starts_with(&format!(
            "{shown}: the rules folder has no rule files (*.toml)"
        )) && e.contains("remove the folder to use the built-in rules"),
        "{e}"
    );
    assert!(error(repo.path(), Some(&dir)).contains("has no rule files"));

    let missing = repo.path().join("nowhere");
    let e = error(repo.path(), Some(&missing));
    assert!(
        e.contains(&missing.display().to_string())
            && e.contains("does not exist")
            && e.contains("hint: name a folder"),
        "{e}"
    );
    let e = error(repo.path(), Some(&dir.join("notes.txt")));
    assert!(e.contains("is not a folder"), "{e}");

    std::fs::create_dir(dir.join("old.toml")).unwrap();
    let e = error(repo.path(), None);
    assert!(
        e.contains("old.toml: a folder named like a rule file"),
        "{e}"
    );
    std::fs::remove_dir(dir.join("old.toml")).unwrap();

    std::fs::write(dir.join("a.toml"), ONE).unwrap();
    std::fs::write(dir.join("b.toml"), b"\xff\xfe not UTF-8").unwrap();
    let source = discover(repo.path(), None).unwrap();
    let e = source.load().unwrap_err().to_string();
    assert!(
        e.contains("b.toml: cannot read this rule file") && e.contains("hint:"),
        "{e}"
    );
    assert!(RuleSet::load_dir(&dir).is_err());
    std::fs::remove_file(dir.join("b.toml")).unwrap();
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(dir.join("gone"), dir.join("c.toml")).unwrap();
        let e = source.load().unwrap_err().to_string();
        assert!(e.contains("c.toml") && e.contains("symbolic link"), "{e}");
        std::fs::remove_file(dir.join("c.toml")).unwrap();
    }
    assert_eq!(source.load().unwrap().rules().len(), 1);
}

#[test]
fn a_rule_sets_sources_reload_to_the_same_hash_and_decisions() {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(
        || env!("CARGO_MANIFEST_DIR").into(),
        std::path::PathBuf::from,
    );
    let from_dir = RuleSet::load_dir(&manifest_dir.join("../../rules")).unwrap();
    let built_in = RuleSource::BuiltIn.load().unwrap();
    let two = RuleSet::parse_many(&[
        ("x.toml".into(), ONE.into()),
        ("y.toml".into(), ONE.replace("\"a\"", "\"b\"")),
    ])
    .unwrap();
    for set in [from_dir, built_in, two] {
        let again = RuleSet::parse_many(set.sources()).unwrap();
        assert_eq!(again.hash(), set.hash());
        assert_eq!(again.sources(), set.sources());
        let facts = Facts {
            kind: Kind::Edit,
            targets: vec!["docs/a.md".into()],
            added: 1,
            citations: 1,
            applies_cleanly: Some(true),
            ..Facts::default()
        };
        let (a, b) = (set.decide(&facts), again.decide(&facts));
        assert_eq!(
            serde_json::to_value(&a).unwrap(),
            serde_json::to_value(&b).unwrap()
        );
    }
}
