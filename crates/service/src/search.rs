//! Search requests and the one hit shape every front end returns.

use crate::ServiceError;
use serde::{Deserialize, Serialize};
use writ_core::Language;
use writ_index::{Hit, SearchMode, SearchOptions};

/// Default number of hits.
pub const DEFAULT_K: usize = 10;

/// A search request (HTTP body, MCP arguments).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    /// The query.
    pub query: String,
    /// How many hits.
    #[serde(default = "default_k")]
    pub k: usize,
    /// Path globs to search within.
    #[serde(default)]
    pub paths: Vec<String>,
    /// Languages to search within.
    #[serde(default)]
    pub langs: Vec<String>,
}

fn default_k() -> usize {
    DEFAULT_K
}

/// One hit with its text: the shape the CLI's `--json`, HTTP and MCP give.
#[derive(Debug, Clone, Serialize)]
pub struct SearchHit {
    /// Location, scores and ids.
    #[serde(flatten)]
    pub hit: Hit,
    /// The chunk's text.
    pub text: String,
}

impl From<Hit> for SearchHit {
    fn from(hit: Hit) -> SearchHit {
        let text = hit.text.clone();
        SearchHit { hit, text }
    }
}

/// Search options from a request's parts; an unknown language is refused
/// with the list of known ones.
pub fn search_options(
    k: usize,
    paths: &[String],
    langs: &[String],
    mode: SearchMode,
) -> Result<SearchOptions, ServiceError> {
    let languages = langs
        .iter()
        .map(|l| {
            Language::parse(l).ok_or_else(|| {
                ServiceError::bad_input_hint(
                    format!("unknown language `{l}`"),
                    "one of: rust, python, javascript, typescript, tsx, go, markdown, text",
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(SearchOptions {
        k,
        paths: paths.to_vec(),
        languages,
        mode,
    })
}
