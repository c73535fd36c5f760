//! Facts: what writ computed about a proposal, the only input of a rule.

use serde::{Deserialize, Serialize};
use writ_proposal::Kind;

/// How a proposal reached writ. writ knows this from the front end that
/// received it, never from the proposal's words, so unlike
/// [`Facts::proposer`] it cannot be claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// `writ propose` or `writ rules suggest` on the command line, by the
    /// local user.
    Cli,
    /// `writ serve`'s HTTP API.
    Http,
    /// `writ mcp`, the Model Context Protocol server agents talk to.
    Mcp,
    /// writ's own local model, through `writ ask`, whatever the front end.
    Model,
}

impl Channel {
    /// The wire name: `cli`, `http`, `mcp` or `model`.
    pub fn name(self) -> &'static str {
        match self {
            Channel::Cli => "cli",
            Channel::Http => "http",
            Channel::Mcp => "mcp",
            Channel::Model => "model",
        }
    }
}

impl std::fmt::Display for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Everything rules may look at. writ computes each fact from the proposal,
/// the repository and the retrieval run; `None` means writ could not
/// compute it, and `errors` says why. A predicate on an unavailable fact
/// does not match.
///
/// Round-trips through JSON exactly (the ledger stores facts and replays
/// decisions from them): a non-finite `min_citation_score` is written as the
/// string `"nan"`, `"inf"` or `"-inf"`, since JSON has no such numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Facts {
    /// The proposal's kind.
    pub kind: Kind,
    /// Repository-relative paths an edit touches (empty otherwise).
    pub targets: Vec<String>,
    /// Files the diff touches.
    pub files: usize,
    /// Lines added.
    pub added: usize,
    /// Lines removed.
    pub removed: usize,
    /// Number of citations.
    pub citations: usize,
    /// Whether every cited chunk was among the retrieval run's hits.
    pub citations_in_run: Option<bool>,
    /// Lowest retrieval score (cosine similarity) among cited chunks.
    #[serde(with = "score")]
    pub min_citation_score: Option<f32>,
    /// Identity of the embedding model whose cosine gave
    /// `min_citation_score`. Informational: no predicate reads it.
    pub similarity_model: Option<String>,
    /// Whether the diff applies cleanly to the working tree.
    pub applies_cleanly: Option<bool>,
    /// Whether every target is tracked by git.
    pub targets_tracked: Option<bool>,
    /// How the proposal reached writ.
    pub channel: Option<Channel>,
    /// Who proposed: `model:<sha256>`, `external:<name>`, `human:<name>`.
    /// Outside the `model` channel this is a name the proposer gives
    /// itself.
    pub proposer: String,
    /// Why a fact is `None`: (fact name, reason).
    pub errors: Vec<(String, String)>,
}

impl Default for Facts {
    fn default() -> Self {
        Facts {
            kind: Kind::Note,
            targets: Vec::new(),
            files: 0,
            added: 0,
            removed: 0,
            citations: 0,
            citations_in_run: None,
            min_citation_score: None,
            similarity_model: None,
            applies_cleanly: None,
            targets_tracked: None,
            channel: None,
            proposer: String::new(),
            errors: Vec::new(),
        }
    }
}

impl Facts {
    /// Why `fact` is missing, for decisions.
    pub(crate) fn missing(&self, fact: &str) -> String {
        self.errors
            .iter()
            .find(|(f, _)| f == fact)
            .map(|(_, why)| format!("fact `{fact}` is unavailable: {why}"))
            .unwrap_or_else(|| format!("fact `{fact}` is unavailable"))
    }
}

/// `Option<f32>` in JSON and TOML, non-finite values included: a number,
/// or the string `nan`, `inf` or `-inf`; `null` (or absent) is `None`.
mod score {
    use serde::de::{self, Deserializer, Visitor};
    use serde::Serializer;
    use std::fmt;

    pub fn serialize<S: Serializer>(v: &Option<f32>, s: S) -> Result<S::Ok, S::Error> {
        match *v {
            None => s.serialize_none(),
            Some(x) if x.is_finite() => s.serialize_some(&x),
            Some(x) if x.is_nan() => s.serialize_some("nan"),
            Some(x) if x > 0.0 => s.serialize_some("inf"),
            Some(_) => s.serialize_some("-inf"),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f32>, D::Error> {
        d.deserialize_option(Opt)
    }

    struct Opt;
    struct Score;

    impl<'de> Visitor<'de> for Opt {
        type Value = Option<f32>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a number, \"nan\", \"inf\", \"-inf\" or null")
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(Score).map(Some)
        }
    }

    impl<'de> Visitor<'de> for Score {
        type Value = f32;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a number, \"nan\", \"inf\" or \"-inf\"")
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<f32, E> {
            Ok(v as f32)
        }
        fn visit_f32<E: de::Error>(self, v: f32) -> Result<f32, E> {
            Ok(v)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<f32, E> {
            Ok(v as f32)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<f32, E> {
            Ok(v as f32)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<f32, E> {
            match v {
                "nan" => Ok(f32::NAN),
                "inf" => Ok(f32::INFINITY),
                "-inf" => Ok(f32::NEG_INFINITY),
                other => Err(E::invalid_value(de::Unexpected::Str(other), &self)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic, reason = "tests fail by panicking")]

    use super::*;

    fn round_trip(f: &Facts) -> (String, Facts) {
        let json = serde_json::to_string(f).unwrap();
        let back: Facts = serde_json::from_str(&json).unwrap();
        assert_eq!(serde_json::to_string(&back).unwrap(), json, "{json}");
        (json, back)
    }

    fn full() -> Facts {
        Facts {
            kind: Kind::Edit,
            targets: vec!["docs/a.md".into(), "src/*.rs".into()],
            files: 2,
            added: 3,
            removed: 4,
            citations: 5,
            citations_in_run: Some(true),
            min_citation_score: Some(0.41),
            similarity_model: Some("bge-small-en-v1.5@5c38ec7c".into()),
            applies_cleanly: Some(false),
            targets_tracked: Some(true),
            channel: Some(Channel::Mcp),
            proposer: "external:claude".into(),
            errors: vec![("x".into(), "why".into())],
        }
    }

    #[test]
    fn facts_round_trip_through_json_exactly() {
        let f = full();
        let (json, back) = round_trip(&f);
        assert_eq!(back, f);
        assert!(json.contains(r#""channel":"mcp""#), "{json}");
        assert!(json.contains(r#""min_citation_score":0.41"#), "{json}");
        let (_, back) = round_trip(&Facts::default());
        assert_eq!(back, Facts::default());
        for c in [Channel::Cli, Channel::Http, Channel::Mcp, Channel::Model] {
            let f = Facts {
                channel: Some(c),
                ..Facts::default()
            };
            assert!(round_trip(&f).0.contains(&format!("\"{c}\"")));
            assert_eq!(round_trip(&f).1, f);
        }
    }

    #[test]
    fn every_score_round_trips_bit_for_bit() {
        let mut specials = vec![
            0.0,
            -0.0,
            1.0,
            -1.0,
            f32::MIN_POSITIVE,
            f32::MAX,
            f32::MIN,
            f32::EPSILON,
            f32::from_bits(1),
            f32::from_bits(0x8000_0001),
            0.2,
            0.1 + 0.2,
            16_777_217.0,
        ];
        // A fixed pseudo-random walk over bit patterns (xorshift).
        let mut x: u32 = 0x9E37_79B9;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            specials.push(f32::from_bits(x));
        }
        for s in specials {
            let f = Facts {
                min_citation_score: Some(s),
                ..Facts::default()
            };
            let (json, back) = round_trip(&f);
            let got = back.min_citation_score.unwrap();
            if s.is_nan() {
                assert!(got.is_nan(), "{json}");
            } else {
                assert_eq!(
                    got.to_bits(),
                    s.to_bits(),
                    "{s:e} became {got:e} via {json}"
                );
            }
        }
    }

    #[test]
    fn non_finite_scores_are_strings_in_json_and_floats_in_toml() {
        for (s, text) in [
            (f32::NAN, "\"nan\""),
            (f32::INFINITY, "\"inf\""),
            (f32::NEG_INFINITY, "\"-inf\""),
        ] {
            let f = Facts {
                min_citation_score: Some(s),
                ..Facts::default()
            };
            let (json, _) = round_trip(&f);
            assert!(
                json.contains(&format!("\"min_citation_score\":{text}")),
                "{json}"
            );
        }
        let t: Facts = toml::from_str("min_citation_score = nan\nchannel = \"cli\"").unwrap();
        assert!(t.min_citation_score.unwrap().is_nan());
        assert_eq!(t.channel, Some(Channel::Cli));
        let t: Facts = toml::from_str("min_citation_score = 1").unwrap();
        assert_eq!(t.min_citation_score, Some(1.0));
        let t: Facts = serde_json::from_str(r#"{"min_citation_score": null}"#).unwrap();
        assert_eq!(t.min_citation_score, None);
        assert!(serde_json::from_str::<Facts>(r#"{"min_citation_score": "high"}"#).is_err());
        assert!(serde_json::from_str::<Facts>(r#"{"channel": "email"}"#).is_err());
        assert!(serde_json::from_str::<Facts>(r#"{"trusted": true}"#).is_err());
    }
}
