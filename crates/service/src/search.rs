//! Search requests, and the one response shape every front end gives (the
//! CLI's `--json`, HTTP and MCP): the index generation and when it was
//! built, hits with their text, each engine's rank, the cosine similarity
//! and a `stale` flag, cut to a token budget with a cursor for the rest.

use crate::ServiceError;
use serde::{Deserialize, Serialize};
use writ_core::Language;
use writ_index::{Hit, SearchMode, SearchOptions, Searcher};

/// Default number of hits.
pub const DEFAULT_K: usize = 10;
/// Largest `k`.
pub const MAX_K: usize = writ_ask::MAX_K;
/// The token budget an MCP client gets when it names none: well under the
/// 25,000 tokens Claude Code accepts from a tool.
pub const MCP_DEFAULT_TOKENS: usize = 8_000;
/// The largest token budget a caller may ask for.
pub const MAX_BUDGET: usize = 100_000;
/// The smallest token budget: a hit's metadata and a snippet of it.
pub const MIN_BUDGET: usize = 500;
/// The longest query, in characters (the embedder reads 256 tokens of it;
/// the lexical engine would match every word of a longer one).
pub const MAX_QUERY_CHARS: usize = 2_000;
/// Lines of a hit kept in snippet mode.
const SNIPPET_LINES: usize = 8;
/// Bytes of a hit kept in snippet mode, at most.
const SNIPPET_BYTES: usize = 600;
/// Tokens `json` costs a client, estimated from above: one per three
/// bytes of the serialised JSON (escapes included; tokenizers of current
/// models average three and a half to four bytes a token on code and
/// JSON), so an answer within the budget by this count is within it by
/// the client's on the text it reads.
pub fn estimate_tokens(json: &str) -> usize {
    json.len().div_ceil(3)
}

/// [`estimate_tokens`] of one hit as it is sent.
fn cost(hit: &SearchHit) -> usize {
    estimate_tokens(&serde_json::to_string(hit).unwrap_or_default())
}

/// A search request (HTTP body, MCP arguments, the CLI's flags).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    /// The query (not empty).
    pub query: String,
    /// How many hits (1 to [`MAX_K`]).
    #[serde(default = "default_k")]
    pub k: usize,
    /// Path globs to search within.
    #[serde(default)]
    pub paths: Vec<String>,
    /// Languages to search within.
    #[serde(default)]
    pub langs: Vec<String>,
    /// Drop hits whose cosine similarity is below this (-1 to 1).
    #[serde(default)]
    pub threshold: Option<f32>,
    /// The response's token budget: hits are cut to snippets, then left
    /// for the next page, to stay within it.
    #[serde(default)]
    pub max_tokens: Option<usize>,
    /// Snippets only, never whole chunks.
    #[serde(default)]
    pub snippets: bool,
    /// Rank tests like other code (by default they rank a little lower
    /// unless the query speaks of tests).
    #[serde(default)]
    pub tests: bool,
    /// Where to continue (a previous response's `next_cursor`).
    #[serde(default)]
    pub cursor: Option<String>,
}

fn default_k() -> usize {
    DEFAULT_K
}

impl SearchRequest {
    /// A request for `query` with every default.
    pub fn new(query: impl Into<String>) -> SearchRequest {
        SearchRequest {
            query: query.into(),
            k: DEFAULT_K,
            paths: Vec::new(),
            langs: Vec::new(),
            threshold: None,
            max_tokens: None,
            snippets: false,
            tests: false,
            cursor: None,
        }
    }
}

/// Refuses an empty or blank query (it would match nothing in particular
/// and return arbitrary hits).
pub fn validate_query(query: &str) -> Result<(), ServiceError> {
    if query.trim().is_empty() {
        return Err(ServiceError::bad_input_hint(
            "the query is empty",
            "search for words or an identifier, e.g. `writ search \"parse the config\"`",
        ));
    }
    let chars = query.chars().count();
    if chars > MAX_QUERY_CHARS {
        return Err(ServiceError::bad_input(format!(
            "the query is {chars} characters; at most {MAX_QUERY_CHARS} are searched"
        )));
    }
    Ok(())
}

/// One hit: the same shape on the CLI, HTTP and MCP.
#[derive(Debug, Clone, Serialize)]
pub struct SearchHit {
    /// Location, the fused score, the similarity and each engine's rank.
    #[serde(flatten)]
    pub hit: Hit,
    /// The chunk's text (a snippet of it when `truncated`).
    pub text: String,
    /// The text is a snippet of the chunk, cut to fit the budget.
    pub truncated: bool,
    /// The file changed on disk since it was indexed: this text may no
    /// longer be what the file says (`writ index` refreshes it).
    pub stale: bool,
}

/// A search's answer.
#[derive(Debug, Clone, Serialize)]
pub struct SearchResponse {
    /// The index generation searched.
    pub generation: i64,
    /// When that generation was built (seconds since the Unix epoch).
    pub indexed_at: Option<u64>,
    /// Hits, best first.
    pub hits: Vec<SearchHit>,
    /// Something was cut to fit the budget: a snippet, or hits left for
    /// the next page.
    pub truncated: bool,
    /// Pass as `cursor` to get the hits after these.
    pub next_cursor: Option<String>,
    /// The response's estimated size in tokens ([`estimate_tokens`]).
    pub tokens: usize,
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
        min_similarity: None,
        tests: false,
    })
}

/// The cursor of the hit at `offset` in generation `generation`.
fn cursor(generation: i64, offset: usize) -> String {
    format!("g{generation}.{offset}")
}

/// The pattern of a cursor (also the OpenAPI document's).
pub const CURSOR_PATTERN: &str = r"^g[0-9]{1,18}\.[0-9]{1,9}$";

/// The offset a cursor continues from: refused when it is not one of
/// writ's (bad input), or the index moved on since (a conflict: the ranks
/// it counted are gone).
fn offset_of(cursor: &str, generation: i64) -> Result<usize, ServiceError> {
    let parsed = cursor
        .strip_prefix('g')
        .and_then(|c| c.split_once('.'))
        .and_then(|(g, o)| Some((g.parse::<i64>().ok()?, o.parse::<usize>().ok()?)));
    match parsed {
        Some((g, o)) if g == generation => Ok(o),
        Some(_) => Err(ServiceError::Conflict {
            message: format!(
                "cursor `{cursor}` is from another index generation (now {generation})"
            ),
            hint: Some("search again without a cursor".into()),
        }),
        None => Err(ServiceError::bad_input(format!(
            "cursor `{cursor}` is not one writ gave"
        ))),
    }
}

/// Runs `req` on `searcher` in `mode`: validation, the cursor, the
/// threshold, freshness, and the budget.
pub fn run(
    searcher: &mut Searcher<'_>,
    root: &std::path::Path,
    req: &SearchRequest,
    mode: SearchMode,
) -> Result<SearchResponse, ServiceError> {
    req.check()?;
    let generation = searcher.generation();
    let offset = match &req.cursor {
        Some(c) => offset_of(c, generation)?,
        None => 0,
    };
    // Pages never reach past the engines' ranking depth: deeper, the
    // fusion would rank differently than for the pages already shown.
    let depth = writ_index::DEPTH;
    let k = req.k.min(depth.saturating_sub(offset));
    if k == 0 {
        // Past the engines' depth: nothing more.
        return Ok(SearchResponse {
            generation,
            indexed_at: searcher.indexed_at(),
            hits: Vec::new(),
            truncated: false,
            next_cursor: None,
            tokens: 0,
        });
    }
    let mut options = search_options(offset + k, &req.paths, &req.langs, mode)?;
    options.min_similarity = req.threshold;
    options.tests = req.tests;
    let hits: Vec<Hit> = searcher
        .search(&req.query, &options)?
        .into_iter()
        .skip(offset)
        .collect();
    let stale = searcher.stale(root, &hits)?;
    let budget = req.max_tokens.unwrap_or(usize::MAX);
    let mut used = estimate_tokens(
        r#"{"generation":0,"indexed_at":0,"hits":[],"truncated":false,"next_cursor":"g0.000","tokens":00000}"#,
    );
    let mut truncated = false;
    let mut next_cursor = None;
    let mut out = Vec::with_capacity(hits.len());
    let more_after = k > 0 && hits.len() == k && offset + k < depth;
    for (i, (hit, stale)) in hits.into_iter().zip(stale).enumerate() {
        let full = SearchHit {
            text: hit.text.clone(),
            hit,
            truncated: false,
            stale,
        };
        let fits = |h: &SearchHit, used: usize| used.saturating_add(cost(h)) <= budget;
        let chosen = if !req.snippets && fits(&full, used) {
            full
        } else {
            let text = snippet(&full.text);
            let cut = text.len() < full.text.len();
            let short = SearchHit {
                text,
                truncated: cut,
                ..full
            };
            // The first hit is always given, as a snippet at least, so a
            // cursor always moves on.
            if !fits(&short, used) && !out.is_empty() {
                truncated = true;
                next_cursor = Some(cursor(generation, offset + i));
                break;
            }
            short
        };
        used += cost(&chosen);
        truncated |= chosen.truncated && req.max_tokens.is_some();
        out.push(chosen);
    }
    if next_cursor.is_none() && more_after {
        next_cursor = Some(cursor(generation, offset + out.len()));
    }
    Ok(SearchResponse {
        generation,
        indexed_at: searcher.indexed_at(),
        hits: out,
        truncated,
        next_cursor,
        tokens: used,
    })
}

/// Hits as [`SearchHit`]s with their whole text and freshness (no
/// budget): `writ search --batch`.
pub fn full_hits(
    searcher: &Searcher<'_>,
    root: &std::path::Path,
    hits: Vec<Hit>,
) -> Result<Vec<SearchHit>, ServiceError> {
    let stale = searcher.stale(root, &hits)?;
    Ok(hits
        .into_iter()
        .zip(stale)
        .map(|(hit, stale)| SearchHit {
            text: hit.text.clone(),
            hit,
            truncated: false,
            stale,
        })
        .collect())
}

/// The first lines of a chunk, within [`SNIPPET_BYTES`].
fn snippet(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines().take(SNIPPET_LINES) {
        if out.len() + line.len() + 1 > SNIPPET_BYTES {
            let room = SNIPPET_BYTES.saturating_sub(out.len());
            let mut end = room.min(line.len());
            while !line.is_char_boundary(end) {
                end -= 1;
            }
            out.push_str(&line[..end]);
            break;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail by panicking")]
    use super::*;

    #[test]
    fn cursors_belong_to_their_generation() {
        assert_eq!(offset_of(&cursor(4, 10), 4).unwrap(), 10);
        assert!(offset_of(&cursor(4, 10), 5).is_err());
        assert!(offset_of("10", 4).is_err());
        assert_eq!(offset_of("g4.100", 4).unwrap(), 100);
        assert_eq!(
            offset_of(&cursor(3, 10), 4).unwrap_err().kind(),
            crate::ErrorKind::Conflict
        );
        assert_eq!(
            offset_of("", 4).unwrap_err().kind(),
            crate::ErrorKind::BadInput
        );
    }

    #[test]
    fn snippets_are_short_and_cut_on_a_character() {
        let long = "é".repeat(1000);
        let s = snippet(&long);
        assert!(s.len() <= SNIPPET_BYTES);
        let lines = (0..20)
            .map(|i| format!("line {i}"))
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(snippet(&lines).lines().count(), SNIPPET_LINES);
    }

    #[test]
    fn bounds_are_named() {
        let mut r = SearchRequest::new("x");
        r.k = 0;
        assert!(r.check().unwrap_err().to_string().contains("`k`"));
        r.k = 51;
        assert!(r.check().unwrap_err().to_string().contains("50"));
        assert!(SearchRequest::new("  ").check().is_err());
        let mut r = SearchRequest::new("x");
        r.threshold = Some(2.0);
        assert!(r.check().is_err());
        let mut r = SearchRequest::new("x");
        r.max_tokens = Some(5);
        assert!(r.check().unwrap_err().to_string().contains("`max_tokens`"));
    }
}
