//! The gate: declarative rules decide whether a proposal is allowed,
//! forbidden or held for a person.
//!
//! Precedence is order-independent, in the manner of Cedar and Claude
//! Code's permission rules: any matching `forbid` gives forbid; else any
//! matching `hold` gives hold; else any matching `allow` gives allow; no
//! match gives hold. A predicate on a fact writ could not compute (`None`
//! in [`Facts`]) does not match, so it never allows; the decision lists
//! such facts ([`Decision::unavailable`]) for the rules they stopped. Write
//! what must be known as a requirement of an allow rule
//! (`applies_cleanly = true`), not as a hold rule on its absence
//! (`applies_cleanly = false`), which an unavailable fact would not trip.
//!
//! Rules come from one place, chosen by [`discover`] for every front end:
//! `--rules DIR` if given, else `<repo>/rules` if it is a folder, else the
//! built-in [`DEFAULT_RULES`]. A chosen folder without readable rule files
//! is an error, never a silent fallback. A [`RuleSet`] keeps the text it
//! was read from ([`RuleSet::sources`]), so it can be stored and reloaded
//! to the same [`RuleSet::hash`].
//!
//! Invariant: only this crate constructs a [`Decision`] (private fields, no
//! deserialisation), and it reads nothing but the rules and the [`Facts`],
//! which writ computes itself; a model's words never reach a predicate.
//!
//! ```
//! use writ_rules::{Facts, Outcome, RuleSet};
//! let rules = RuleSet::parse_str("inline.toml", r#"
//! [[rule]]
//! id = "no-commands"
//! effect = "hold"
//! why = "commands are for people to run"
//! when = { kind = ["command"] }
//! "#)?;
//! let facts = Facts { kind: writ_proposal::Kind::Command, ..Facts::default() };
//! assert_eq!(rules.decide(&facts).outcome(), Outcome::Hold);
//! # Ok::<(), writ_rules::RuleErrors>(())
//! ```
#![deny(missing_docs)]

mod decide;
mod facts;
mod load;
mod rule;
mod source;
mod testing;
mod warn;

pub use decide::{Decision, Excepted, Outcome, RuleRef};
pub use facts::{Channel, Facts};
pub use load::{Exception, RuleError, RuleErrors, RuleSet};
pub use rule::{glob_escape, Effect, Rule, When};
pub use source::{
    discover, RuleSource, DEFAULT_RULES, DEFAULT_RULES_NAME, DEFAULT_RULE_TESTS,
    DEFAULT_RULE_TESTS_NAME,
};
pub use testing::{run_test_sources, run_tests, TestReport};

/// The rule crate's version, recorded in every decision.
pub const RULES_VERSION: &str = env!("CARGO_PKG_VERSION");
