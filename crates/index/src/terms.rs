//! Lexical terms for FTS5: identifiers are kept whole and also split at
//! camelCase, snake_case and digit boundaries, so `getUserName` is found by
//! `user name` and by `getusername`.

/// The text FTS5 indexes for a chunk: the original words plus the parts of
/// every compound identifier.
pub fn lexical_terms(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 2);
    for word in words(text) {
        push(&mut out, word);
        let parts = split_identifier(word);
        if parts.len() > 1 {
            for part in parts {
                push(&mut out, part);
            }
        }
    }
    out
}

/// An FTS5 query matching any of the query's terms (BM25 ranks the
/// documents matching more and rarer terms first). Every term is quoted, so
/// no user input is read as FTS5 syntax. `None` when there are no terms.
pub fn fts_query(query: &str) -> Option<String> {
    let mut seen = std::collections::BTreeSet::new();
    let mut terms = Vec::new();
    for word in words(query) {
        let mut candidates = vec![word.to_lowercase()];
        let parts = split_identifier(word);
        if parts.len() > 1 {
            candidates.extend(parts.iter().map(|p| p.to_lowercase()));
        }
        for t in candidates {
            if t.chars().count() < 2 || STOPWORDS.contains(&t.as_str()) {
                continue;
            }
            if seen.insert(t.clone()) {
                terms.push(format!("\"{}\"", t.replace('"', "")));
            }
        }
    }
    (!terms.is_empty()).then(|| terms.join(" OR "))
}

/// Common English words that carry no signal in a code search.
const STOPWORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "if", "in", "into", "is", "it",
    "its", "of", "on", "or", "that", "the", "this", "to", "was", "will", "with", "which", "we",
    "you", "do", "does", "how", "what", "where", "when", "why", "can", "should",
];

fn push(out: &mut String, word: &str) {
    if !out.is_empty() {
        out.push(' ');
    }
    out.push_str(word);
}

/// Runs of letters, digits and underscores.
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
}

/// `getUserName` → `get User Name`; `HTTPServer2` → `HTTP Server 2`;
/// `snake_case_name` → `snake case name`.
pub fn split_identifier(word: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    for segment in word.split('_').filter(|s| !s.is_empty()) {
        let chars: Vec<(usize, char)> = segment.char_indices().collect();
        let mut start = 0;
        for i in 1..chars.len() {
            let (pos, c) = chars[i];
            let prev = chars[i - 1].1;
            let next = chars.get(i + 1).map(|x| x.1);
            let boundary = (prev.is_lowercase() && c.is_uppercase())
                || (prev.is_alphabetic() && c.is_ascii_digit())
                || (prev.is_ascii_digit() && c.is_alphabetic())
                || (prev.is_uppercase()
                    && c.is_uppercase()
                    && next.is_some_and(char::is_lowercase));
            if boundary {
                parts.push(&segment[start..pos]);
                start = pos;
            }
        }
        parts.push(&segment[start..]);
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_identifiers() {
        assert_eq!(split_identifier("getUserName"), ["get", "User", "Name"]);
        assert_eq!(split_identifier("HTTPServer2"), ["HTTP", "Server", "2"]);
        assert_eq!(
            split_identifier("snake_case_name"),
            ["snake", "case", "name"]
        );
        assert_eq!(split_identifier("plain"), ["plain"]);
    }

    #[test]
    fn terms_keep_whole_and_parts() {
        assert_eq!(lexical_terms("fn getUser()"), "fn getUser get User");
    }

    #[test]
    fn query_is_quoted_and_deduplicated() {
        assert_eq!(
            fts_query("How does getUser get the user?").as_deref(),
            Some("\"getuser\" OR \"get\" OR \"user\"")
        );
        assert_eq!(fts_query("the a ?"), None);
        assert_eq!(fts_query("\"NEAR(x y)\"").as_deref(), Some("\"near\""));
    }
}
