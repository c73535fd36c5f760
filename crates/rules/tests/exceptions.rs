//! `[[exception]]`: narrowing a hold rule for one shape of proposal, the
//! one way a rule change can let through what a hold rule holds
//! (precedence is forbid > hold > allow, so an allow rule never can).

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

use writ_proposal::Kind;
use writ_rules::{Channel, Facts, Outcome, RuleSet, DEFAULT_RULES};

fn model_edit(target: &str, lines: usize) -> Facts {
    Facts {
        kind: Kind::Edit,
        targets: vec![target.into()],
        files: 1,
        added: lines,
        citations: 1,
        citations_in_run: Some(true),
        applies_cleanly: Some(true),
        channel: Some(Channel::Model),
        proposer: "model:abc".into(),
        ..Facts::default()
    }
}

const EXCEPTION: &str = r#"
[[exception]]
rule = "hold-model-edits"
why = "the guide's typos"
when = { kind = ["edit"], channel = ["model"], paths_all = ["docs/guide.md"], max_lines = 2 }

[[rule]]
id = "allow-guide"
effect = "allow"
why = "the guide's typos"
when = { kind = ["edit"], channel = ["model"], paths_all = ["docs/guide.md"], max_lines = 2, min_citations = 1 }
"#;

fn with_exception() -> RuleSet {
    RuleSet::parse_many(&[
        ("default.toml".into(), DEFAULT_RULES.into()),
        ("local.toml".into(), EXCEPTION.into()),
    ])
    .unwrap()
}

#[test]
fn an_allow_rule_alone_never_lifts_a_hold() {
    let allow_only = EXCEPTION.split("[[rule]]").nth(1).unwrap();
    let set = RuleSet::parse_many(&[
        ("default.toml".into(), DEFAULT_RULES.into()),
        ("local.toml".into(), format!("[[rule]]{allow_only}")),
    ])
    .unwrap();
    let d = set.decide(&model_edit("docs/guide.md", 1));
    assert_eq!(d.outcome(), Outcome::Hold);
    assert_eq!(d.determining()[0].id, "hold-model-edits");
}

#[test]
fn an_exception_lifts_its_hold_for_exactly_its_shape() {
    let set = with_exception();
    let d = set.decide(&model_edit("docs/guide.md", 1));
    assert_eq!(d.outcome(), Outcome::Allow, "{}", d.reason());
    assert_eq!(d.determining()[0].id, "allow-guide");
    assert!(!d.matched().contains(&"hold-model-edits".to_string()));
    assert_eq!(d.excepted().len(), 1);
    assert_eq!(d.excepted()[0].rule, "hold-model-edits");
    assert!(
        d.excepted()[0].exception.starts_with("local.toml:"),
        "{:?}",
        d.excepted()
    );
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(json["excepted"][0]["rule"], "hold-model-edits");
    // Outside the shape the hold stands: another file, a bigger edit,
    // another channel, another case (exceptions read globs strictly).
    for facts in [
        model_edit("docs/other.md", 1),
        model_edit("docs/guide.md", 3),
        model_edit("DOCS/guide.md", 1),
        Facts {
            channel: Some(Channel::Mcp),
            ..model_edit("docs/guide.md", 1)
        },
    ] {
        let d = set.decide(&facts);
        assert_eq!(d.outcome(), Outcome::Hold, "{facts:?}");
        assert!(d.excepted().is_empty());
    }
    // A hold keyed on the file still holds inside the shape.
    let d = set.decide(&Facts {
        targets: vec!["docs/conf.py".into()],
        ..model_edit("docs/conf.py", 1)
    });
    assert_eq!(d.outcome(), Outcome::Hold);
}

#[test]
fn an_exception_on_an_unavailable_fact_keeps_the_hold() {
    let src = r#"
[[rule]]
id = "hold-edits"
effect = "hold"
why = "w"
when = { kind = ["edit"] }

[[exception]]
rule = "hold-edits"
why = "w"
when = { applies_cleanly = true }
"#;
    let set = RuleSet::parse_str("t.toml", src).unwrap();
    let mut facts = model_edit("a.md", 1);
    assert_eq!(
        set.decide(&facts).outcome(),
        Outcome::Hold,
        "lifted, then no allow"
    );
    assert_eq!(set.decide(&facts).excepted().len(), 1);
    facts.applies_cleanly = None;
    let d = set.decide(&facts);
    assert!(d.excepted().is_empty());
    assert_eq!(d.determining()[0].id, "hold-edits");
}

#[test]
fn exceptions_are_refused_unless_they_narrow_a_hold_rule() {
    let err = |src: &str| {
        RuleSet::parse_many(&[
            ("default.toml".into(), DEFAULT_RULES.into()),
            ("local.toml".into(), src.into()),
        ])
        .unwrap_err()
        .to_string()
    };
    let e =
        err("[[exception]]\nrule = \"hold-nothing\"\nwhy = \"w\"\nwhen = { kind = [\"edit\"] }\n");
    assert!(
        e.contains("local.toml:4:8: exception to rule `hold-nothing`, which no rule file defines"),
        "{e}"
    );
    let e = err(
        "[[exception]]\nrule = \"forbid-secrets\"\nwhy = \"w\"\nwhen = { kind = [\"edit\"] }\n",
    );
    assert!(e.contains("which is not a hold rule"), "{e}");
    let e = err("[[exception]]\nrule = \"allow-grounded-notes\"\nwhy = \"w\"\nwhen = { kind = [\"note\"] }\n");
    assert!(e.contains("which is not a hold rule"), "{e}");
    let e = err("[[exception]]\nrule = \"hold-commands\"\nwhy = \"w\"\nwhen = {}\n");
    assert!(
        e.contains("empty `when`, which would switch the rule off"),
        "{e}"
    );
    let e = err("[[exception]]\nrule = \"hold-commands\"\nwhy = \"w\"\nwhen = { channel = [] }\n");
    assert!(e.contains("can never match"), "{e}");
    let e = err("[[exception]]\nrule = \"hold-commands\"\nwhy = \"w\"\nwhen = { kind = [\"command\"], unless = true }\n");
    assert!(e.contains("unknown field"), "{e}");
}

#[test]
fn exceptions_change_the_hash_and_a_set_without_them_hashes_as_before() {
    let plain = RuleSet::parse_str("d.toml", DEFAULT_RULES).unwrap();
    let again = RuleSet::parse_many(&[
        ("a.toml".into(), DEFAULT_RULES.into()),
        ("b.toml".into(), "# nothing\n".into()),
    ])
    .unwrap();
    assert_eq!(plain.hash(), again.hash());
    let with = with_exception();
    assert_ne!(with.hash(), plain.hash());
    // Its text round-trips to the same hash (the ledger stores it).
    let back = RuleSet::parse_many(with.sources()).unwrap();
    assert_eq!(back.hash(), with.hash());
    assert_eq!(back.exceptions().len(), 1);
}
