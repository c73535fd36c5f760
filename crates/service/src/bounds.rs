//! The bounds of every request field, defined once: the HTTP server and
//! MCP check requests with them and publish them in their schemas
//! (OpenAPI, MCP `inputSchema`), so what is documented is what is enforced.
//!
//! A request arrives as JSON and is read by [`AskRequest::from_json`] or
//! [`SearchRequest::from_json`]: integer fields are checked on the JSON
//! value itself, so `41.0` (an integer to JSON Schema) is taken as 41 and
//! `-1`, `1e9` or `"5"` are refused naming the field and its bounds, not
//! with a serde message about `usize`. The typed request is then checked
//! as a whole ([`AskRequest::check`], [`SearchRequest::check`]); the
//! service checks again before it does any work, so no front end reaches
//! the index or the model with input out of bounds.

use crate::search::SearchRequest;
use crate::service::AskRequest;
use crate::ServiceError;
use serde::de::DeserializeOwned;
use serde_json::{json, Map, Value};

/// Inclusive bounds of an integer field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bound {
    /// The field's name in requests.
    pub field: &'static str,
    /// Smallest value accepted.
    pub min: usize,
    /// Largest value accepted.
    pub max: usize,
}

/// `k`: hits to return (search) or to retrieve as context (ask).
pub const K: Bound = Bound {
    field: "k",
    min: 1,
    max: writ_ask::MAX_K,
};

/// `max_proposals` of ask.
pub const MAX_PROPOSALS: Bound = Bound {
    field: "max_proposals",
    min: 1,
    max: writ_ask::MAX_PROPOSALS,
};

/// `max_tokens` of ask: the model's answer budget.
pub const MAX_TOKENS: Bound = Bound {
    field: "max_tokens",
    min: 16,
    max: writ_ask::MAX_TOKENS,
};

/// Characters of the `source` naming an external proposer (HTTP).
pub const SOURCE_CHARS: Bound = Bound {
    field: "source",
    min: 1,
    max: 100,
};

/// `k` of search when none is given.
pub const DEFAULT_SEARCH_K: usize = crate::search::DEFAULT_K;
/// `k` of ask when none is given.
pub const DEFAULT_ASK_K: usize = writ_ask::AskParams::K;
/// `max_proposals` of ask when none is given.
pub const DEFAULT_MAX_PROPOSALS: usize = writ_ask::AskParams::PROPOSALS;
/// `max_tokens` of ask when none is given.
pub const DEFAULT_MAX_TOKENS: usize = writ_ask::AskParams::TOKENS;

/// The integer fields of an ask request.
pub const ASK_INTEGERS: &[Bound] = &[K, MAX_PROPOSALS, MAX_TOKENS];

/// `max_tokens` of search: the answer's token budget.
pub const SEARCH_BUDGET: Bound = Bound {
    field: "max_tokens",
    min: crate::search::MIN_BUDGET,
    max: crate::search::MAX_BUDGET,
};

/// The integer fields of a search request.
pub const SEARCH_INTEGERS: &[Bound] = &[K, SEARCH_BUDGET];

impl Bound {
    /// Refuses `value` outside the bounds, naming the field.
    pub fn check(self, value: usize) -> Result<(), ServiceError> {
        if !(self.min..=self.max).contains(&value) {
            return Err(self.refusal(&value.to_string()));
        }
        Ok(())
    }

    /// The error for a value that is not an integer within the bounds.
    fn refusal(self, got: &str) -> ServiceError {
        ServiceError::bad_input(format!(
            "`{}` must be an integer between {} and {}, got {got}",
            self.field, self.min, self.max
        ))
    }

    /// The JSON Schema of the field: an integer within the bounds.
    pub fn schema(self, description: &str) -> Value {
        json!({
            "type": "integer",
            "minimum": self.min,
            "maximum": self.max,
            "description": description,
        })
    }

    /// The field's value in `value`, checked and made a plain integer:
    /// `41.0` becomes `41`; anything that is not an integer within the
    /// bounds is refused.
    pub fn normalise(self, value: &mut Value) -> Result<(), ServiceError> {
        let n = integral(value).ok_or_else(|| self.refusal(&value.to_string()))?;
        let n = usize::try_from(n).map_err(|_| self.refusal(&value.to_string()))?;
        self.check(n)?;
        *value = Value::from(n);
        Ok(())
    }
}

/// The integer a JSON number stands for: `41` and `41.0` alike; `None`
/// for fractions, non-numbers and numbers beyond `i128`.
fn integral(value: &Value) -> Option<i128> {
    let n = value.as_number()?;
    if let Some(i) = n.as_i64() {
        return Some(i.into());
    }
    if let Some(u) = n.as_u64() {
        return Some(u.into());
    }
    let f = n.as_f64()?;
    // Beyond 2^100 nothing is within any bound; the guard keeps the cast exact.
    (f.is_finite() && f.fract() == 0.0 && f.abs() < 2f64.powi(100)).then_some(f as i128)
}

/// An integer given as text (a query string or a path segment), read as
/// JSON reads it: `41` and `41.0` alike. `None` for anything else.
pub fn integer_text(text: &str) -> Option<i128> {
    if text.trim() != text {
        return None;
    }
    integral(&serde_json::from_str(text).ok()?)
}

/// True for text with nothing but whitespace (as [`char::is_whitespace`]
/// has it, which is what [`str::trim`] removes).
pub fn is_blank(text: &str) -> bool {
    text.chars().all(char::is_whitespace)
}

/// Refuses blank text, naming the field.
pub fn not_blank(field: &str, text: &str) -> Result<(), ServiceError> {
    if is_blank(text) {
        return Err(ServiceError::bad_input(format!(
            "`{field}` must not be empty or only whitespace"
        )));
    }
    Ok(())
}

/// The whitespace characters [`char::is_whitespace`] knows (Unicode's
/// White_Space), as ranges. A test checks every character against it.
const WHITESPACE: &[(char, char)] = &[
    ('\u{9}', '\u{d}'),
    (' ', ' '),
    ('\u{85}', '\u{85}'),
    ('\u{a0}', '\u{a0}'),
    ('\u{1680}', '\u{1680}'),
    ('\u{2000}', '\u{200a}'),
    ('\u{2028}', '\u{2029}'),
    ('\u{202f}', '\u{202f}'),
    ('\u{205f}', '\u{205f}'),
    ('\u{3000}', '\u{3000}'),
];

/// A JSON Schema `pattern` matching text with at least one character that
/// is not whitespace: the schema's form of [`not_blank`]. Spelled out
/// rather than `\S`, whose meaning differs between regex engines (Python's
/// counts U+001C..U+001F as space, Rust's `trim` does not).
pub fn not_blank_pattern() -> String {
    let mut class = String::from("[^");
    for (from, to) in WHITESPACE {
        class.push_str(&format!("\\u{:04x}", u32::from(*from)));
        if from != to {
            class.push_str(&format!("-\\u{:04x}", u32::from(*to)));
        }
    }
    class.push(']');
    class
}

/// The JSON Schema of a text field that must not be blank.
pub fn text_schema(description: &str) -> Value {
    json!({
        "type": "string",
        "minLength": 1,
        "pattern": not_blank_pattern(),
        "description": description,
    })
}

/// `body` as a request of type `T`: an object whose integer fields
/// (`integers`) are within their bounds, then read strictly (unknown
/// fields are refused).
fn from_json<T: DeserializeOwned>(body: Value, integers: &[Bound]) -> Result<T, ServiceError> {
    let Value::Object(mut map) = body else {
        return Err(ServiceError::bad_input(format!(
            "the request must be a JSON object, got {}",
            kind(&body)
        )));
    };
    normalise_integers(&mut map, integers)?;
    serde_json::from_value(Value::Object(map)).map_err(|e| ServiceError::bad_input(e.to_string()))
}

fn normalise_integers(
    map: &mut Map<String, Value>,
    integers: &[Bound],
) -> Result<(), ServiceError> {
    for bound in integers {
        if let Some(v) = map.get_mut(bound.field) {
            bound.normalise(v)?;
        }
    }
    Ok(())
}

/// What kind of JSON value `v` is, for messages.
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl AskRequest {
    /// An ask request from JSON (an HTTP body, MCP arguments), within its
    /// bounds.
    pub fn from_json(body: Value) -> Result<AskRequest, ServiceError> {
        let req: AskRequest = from_json(body, ASK_INTEGERS)?;
        req.check()?;
        Ok(req)
    }

    /// Refuses a request outside its bounds, naming the field: a blank
    /// question, `k`, `max_proposals` or `max_tokens` out of range.
    pub fn check(&self) -> Result<(), ServiceError> {
        not_blank("question", &self.question)?;
        K.check(self.k)?;
        MAX_PROPOSALS.check(self.max_proposals)?;
        MAX_TOKENS.check(self.max_tokens)
    }
}

impl SearchRequest {
    /// A search request from JSON (an HTTP body, MCP arguments), within
    /// its bounds.
    pub fn from_json(body: Value) -> Result<SearchRequest, ServiceError> {
        let req: SearchRequest = from_json(body, SEARCH_INTEGERS)?;
        req.check()?;
        Ok(req)
    }

    /// Refuses a request outside its bounds, naming the field: a blank
    /// query, `k` or `max_tokens` out of range, a threshold that is not a
    /// cosine.
    pub fn check(&self) -> Result<(), ServiceError> {
        not_blank("query", &self.query)?;
        K.check(self.k)?;
        if let Some(b) = self.max_tokens {
            SEARCH_BUDGET.check(b)?;
        }
        if let Some(t) = self.threshold {
            if !(-1.0..=1.0).contains(&t) {
                return Err(ServiceError::bad_input(format!(
                    "`threshold` must be a cosine similarity between -1 and 1, got {t}"
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pattern_and_is_blank_agree_on_every_character() {
        for c in (0..=0x10ffff_u32).filter_map(char::from_u32) {
            let listed = WHITESPACE.iter().any(|(a, b)| (*a..=*b).contains(&c));
            assert_eq!(listed, c.is_whitespace(), "{c:?}");
        }
        assert!(not_blank_pattern().starts_with("[^\\u0009-\\u000d\\u0020"));
    }

    #[test]
    fn integral_numbers_are_integers_and_nothing_else_is() {
        let ok = |v: Value| {
            let mut v = v;
            K.normalise(&mut v).map(|()| v)
        };
        assert_eq!(ok(json!(41.0)).ok(), Some(json!(41)));
        assert_eq!(ok(json!(50)).ok(), Some(json!(50)));
        assert_eq!(ok(json!(1)).ok(), Some(json!(1)));
        for bad in [
            json!(0),
            json!(51),
            json!(-1),
            json!(41.5),
            json!(1e300),
            json!("5"),
            json!(null),
            json!(true),
            json!([5]),
        ] {
            let e = ok(bad.clone())
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(
                e.contains("`k`") && e.contains("between 1 and 50"),
                "{bad}: {e}"
            );
        }
        assert_eq!(integer_text("41.0"), Some(41));
        assert_eq!(integer_text("-3"), Some(-3));
        for bad in ["", " 4", "4 ", "4.5", "abc", "0x10", "true", "\"4\""] {
            assert_eq!(integer_text(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn requests_name_the_field_and_the_bound() {
        let ask = |v: Value| {
            AskRequest::from_json(v)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert!(ask(json!({ "question": "" })).contains("`question`"));
        assert!(ask(json!({ "question": " \u{3000}\n" })).contains("`question`"));
        assert!(ask(json!({ "question": "q", "max_tokens": 0 })).contains("between 16 and 2048"));
        assert!(ask(json!({ "question": "q", "max_tokens": 99_999 })).contains("`max_tokens`"));
        assert!(ask(json!({ "question": "q", "max_proposals": 0 })).contains("`max_proposals`"));
        assert!(ask(json!({ "question": "q", "k": 0 })).contains("`k`"));
        assert!(ask(json!({ "question": "q", "nope": 1 })).contains("nope"));
        assert!(ask(json!("q")).contains("JSON object"));
        let req = AskRequest::from_json(json!({ "question": "q", "k": 41.0, "max_tokens": 16.0 }));
        assert_eq!(req.ok().map(|r| (r.k, r.max_tokens)), Some((41, 16)));
        let search = SearchRequest::from_json(json!({ "query": "q", "k": 51 }));
        assert!(search
            .err()
            .is_some_and(|e| e.to_string().contains("between 1 and 50")));
    }
}
