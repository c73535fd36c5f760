//! Docs that match a query point at the code they name.
//!
//! Hybrid search ranks docs and code together, and prose about a function
//! often matches a question better than the function's code does (the
//! docs paraphrase it). When a Markdown or text chunk ranks high, the code
//! it names (in backticks, or as a call, attribute or decorator in its
//! examples) is likely what it describes: the best-ranked such code chunk
//! the engines found takes the doc's place and the doc follows it. Only
//! code the engines already found moves, and never above a hit that
//! outranked the doc. No weights: the engines' order decides everything
//! else.

use crate::hit::Hit;
use std::collections::HashSet;

/// True for the languages that are prose rather than code.
pub(crate) fn is_doc(language: &str) -> bool {
    matches!(language, "markdown" | "text")
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The identifiers `text` names as code: every identifier inside a
/// backtick span (`x`, ``x``, :func:`x`), and elsewhere those written as a
/// call `f(`, an attribute `.f` or a decorator `@f`.
pub(crate) fn named<'t>(text: &'t str) -> HashSet<&'t str> {
    let mut out = HashSet::new();
    let mut take = |piece: &'t str, inside: bool| {
        if inside {
            out.extend(
                piece
                    .split(|c: char| !is_ident_char(c))
                    .filter(|w| !w.is_empty()),
            );
        } else {
            usages(piece, &mut out);
        }
    };
    // Each run of backticks opens or closes a span.
    let bytes = text.as_bytes();
    let (mut inside, mut start, mut i) = (false, 0, 0);
    while i < bytes.len() {
        if bytes[i] == b'`' {
            take(&text[start..i], inside);
            while i < bytes.len() && bytes[i] == b'`' {
                i += 1;
            }
            inside = !inside;
            start = i;
        } else {
            i += 1;
        }
    }
    take(&text[start..], inside);
    out
}

/// Identifiers used as a call, attribute or decorator in `text`.
fn usages<'t>(text: &'t str, out: &mut HashSet<&'t str>) {
    let mut start = None;
    let mut before = ' ';
    for (i, c) in text
        .char_indices()
        .chain(std::iter::once((text.len(), ' ')))
    {
        match (is_ident_char(c), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                let word = &text[s..i];
                if c == '(' || before == '.' || before == '@' {
                    out.insert(word);
                }
                start = None;
            }
            _ => {}
        }
        if start.is_none() {
            before = c;
        }
    }
}

/// The part of a qualified symbol a doc would name (`Class.method` ->
/// `method`, `Type::f` -> `f`), when it is distinctive enough to link on:
/// three characters or more and not a dunder like `__init__`.
fn link_name(symbol: &str) -> Option<&str> {
    let last = symbol.rsplit(['.', ':']).next()?;
    (last.chars().count() >= 3 && !last.starts_with("__")).then_some(last)
}

/// Moves, for each doc in the top `depth` of `hits` (in fused order), the
/// best-ranked code chunk it names up to the doc's place, the doc right
/// after it, when the code was lower: code first, then the prose that
/// pointed at it.
///
/// A doc names several functions; the engines know which of them is
/// closest to the query. Nothing rises above a hit that outranked the doc,
/// and the first `n` hits do not depend on `depth >= n`; the promoted
/// chunk's score is set between its new neighbours' so scores stay in
/// order.
pub(crate) fn promote(hits: &mut Vec<Hit>, depth: usize) {
    let mut i = 0;
    while i < hits.len().min(depth) {
        if is_doc(&hits[i].language) {
            let named = named(&hits[i].text);
            let target = hits.iter().position(|h| {
                !is_doc(&h.language)
                    && h.symbol
                        .as_deref()
                        .and_then(link_name)
                        .is_some_and(|n| named.contains(n))
            });
            if let Some(j) = target.filter(|&j| j > i) {
                let mut hit = hits.remove(j);
                let above = if i == 0 {
                    hits[i].score
                } else {
                    hits[i - 1].score
                };
                hit.score = (above + hits[i].score) / 2.0;
                hits.insert(i, hit);
                i += 1;
            }
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_code_spans_and_usages() {
        let text = "Use :func:`pass_context` or ``click.echo``. Then call\n\
                    ctx.invoke(other) and decorate with @click.command() here.\n\
                    Plain words like open and file are not names.";
        let names = named(text);
        for want in [
            "pass_context",
            "click",
            "echo",
            "invoke",
            "command",
            "click",
        ] {
            assert!(names.contains(want), "{want} missing from {names:?}");
        }
        for not in ["open", "file", "Then", "Plain", "ctx", "other"] {
            assert!(
                !names.contains(not),
                "{not} should not be a name: {names:?}"
            );
        }
    }

    #[test]
    fn link_names_skip_short_and_dunder_symbols() {
        assert_eq!(link_name("Context.scope"), Some("scope"));
        assert_eq!(link_name("Type::method"), Some("method"));
        assert_eq!(link_name("echo"), Some("echo"));
        assert_eq!(link_name("Command.__init__"), None);
        assert_eq!(link_name("A.ok"), None);
    }

    fn hit(id: i64, language: &str, symbol: Option<&str>, text: &str, score: f64) -> Hit {
        Hit {
            path: format!("f{id}"),
            start_line: 1,
            end_line: 2,
            symbol: symbol.map(str::to_string),
            language: language.to_string(),
            score,
            chunk_id: id,
            similarity: None,
            vector_rank: None,
            lexical_rank: None,
            bm25: None,
            text: text.to_string(),
            text_hash: String::new(),
        }
    }

    #[test]
    fn a_doc_puts_the_best_ranked_code_it_names_first() {
        let mut hits = vec![
            hit(1, "python", Some("confirm"), "def confirm(): ...", 0.040),
            hit(
                2,
                "text",
                None,
                "Call ``prompt`` or ``Other.prompt``, not ``__init__``",
                0.030,
            ),
            hit(
                3,
                "python",
                Some("Widget.__init__"),
                "def __init__(): ...",
                0.029,
            ),
            hit(4, "python", Some("Term.prompt"), "def prompt(): ...", 0.020),
            hit(
                5,
                "python",
                Some("Other.prompt"),
                "def prompt(): ...",
                0.010,
            ),
            hit(6, "markdown", Some("Confirm"), "see `confirm`", 0.005),
        ];
        promote(&mut hits, 10);
        let order: Vec<i64> = hits.iter().map(|h| h.chunk_id).collect();
        assert_eq!(
            order,
            [1, 4, 2, 3, 5, 6],
            "one chunk per doc, the best-ranked; a dunder never"
        );
        assert!(
            hits.windows(2).all(|w| w[0].score >= w[1].score),
            "scores stay in order"
        );
        assert_eq!(hits[1].score, (0.040 + 0.030) / 2.0);
    }
}
