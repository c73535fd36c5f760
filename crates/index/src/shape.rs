//! What a hit is, from its path and symbol: a test, a type declaration
//! (`.d.ts`), code. Ranking uses it to keep the code a question is about
//! above the files that only test or declare it.

use crate::hit::Hit;

/// True for a file of tests (or benchmarks) by the conventions of writ's
/// languages: under a `tests`, `test`, `__tests__`, `testdata`, `spec` or
/// `benches` folder, or named `test_*.py`, `*_test.py`, `tests.py`,
/// `conftest.py`, `tests.rs`, `test.rs`, `*_test.go`, `*_spec.*`,
/// `*.test.*` or `*.spec.*`.
pub fn is_test_path(path: &str) -> bool {
    let mut parts = path.rsplit('/');
    let name = parts.next().unwrap_or("");
    if parts.any(|d| {
        matches!(
            d,
            "tests" | "test" | "__tests__" | "testdata" | "spec" | "benches"
        )
    }) {
        return true;
    }
    let stem = name.split('.').next().unwrap_or(name);
    (name.starts_with("test_") && name.ends_with(".py"))
        || matches!(name, "tests.py" | "conftest.py" | "tests.rs" | "test.rs")
        || stem.ends_with("_test")
        || stem.ends_with("_spec")
        || name.contains(".test.")
        || name.contains(".spec.")
}

/// True for a TypeScript declaration file (`.d.ts`, `.d.mts`, `.d.cts`):
/// signatures only, no code.
pub fn is_declaration_path(path: &str) -> bool {
    [".d.ts", ".d.mts", ".d.cts"]
        .iter()
        .any(|ext| path.ends_with(ext))
}

/// True for a test: in a test file, or a test by name (Python's
/// `test_x`, Go's `TestX`, a Rust `tests` or `test` module's items).
pub(crate) fn is_test(hit: &Hit) -> bool {
    if is_test_path(&hit.path) {
        return true;
    }
    let Some(symbol) = &hit.symbol else {
        return false;
    };
    symbol
        .split([':', '.', ',', ' '])
        .any(|part| match hit.language.as_str() {
            "python" => part.starts_with("test_"),
            "rust" => part == "tests" || part == "test",
            "go" => part
                .strip_prefix("Test")
                .is_some_and(|rest| rest.chars().next().is_none_or(|c| c.is_uppercase())),
            _ => false,
        })
}

/// `score` lowered for a test: multiplied by `weight` when positive
/// (fused, BM25 and most cosines), moved as far away from zero when
/// negative, so a test never gains.
pub(crate) fn lowered(score: f64, weight: f64) -> f64 {
    if score >= 0.0 {
        score * weight
    } else {
        score * (2.0 - weight)
    }
}

/// True when the query is about tests: it names them (`test`, `tests`,
/// `testing`, `spec`, `fixture`, `mock`…), so they rank like other code.
pub(crate) fn asks_for_tests(query: &str) -> bool {
    query
        .split(|c: char| !c.is_alphanumeric())
        .map(str::to_lowercase)
        .any(|w| {
            w.starts_with("test")
                || matches!(
                    w.as_str(),
                    "spec" | "specs" | "fixture" | "fixtures" | "mock" | "mocks" | "conftest"
                )
        })
}

fn is_script(language: &str) -> bool {
    matches!(language, "javascript" | "typescript" | "tsx")
}

/// Puts the code a TypeScript declaration (`.d.ts`) declares right
/// above it: when JavaScript or TypeScript code with the same symbol ranks
/// anywhere below a declaration, the code takes the declaration's place
/// (and score) and the declaration follows it; the hits between move down
/// one. A declaration says what the code's signature is; the code is what
/// the question is about. Nothing depends on the page size, so every page
/// of a paged search is a prefix of the next, and scores stay in order.
pub(crate) fn declarations_after_code(hits: &mut [Hit]) {
    let mut i = 0;
    while i < hits.len() {
        let declared = hits[i]
            .symbol
            .clone()
            .filter(|_| is_declaration_path(&hits[i].path));
        let code_at = declared.and_then(|symbol| {
            (i + 1..hits.len()).find(|&j| {
                !is_declaration_path(&hits[j].path)
                    && is_script(&hits[j].language)
                    && hits[j].symbol.as_deref() == Some(symbol.as_str())
            })
        });
        match code_at {
            Some(j) => {
                let score = hits[i].score;
                hits[i..=j].rotate_right(1);
                hits[i].score = score;
                i += 2;
            }
            None => i += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(path: &str, symbol: Option<&str>, language: &str, score: f64) -> Hit {
        Hit {
            path: path.into(),
            start_line: 1,
            end_line: 2,
            symbol: symbol.map(str::to_string),
            language: language.into(),
            score,
            chunk_id: 0,
            similarity: None,
            vector_rank: None,
            lexical_rank: None,
            bm25: None,
            text: String::new(),
            text_hash: String::new(),
        }
    }

    #[test]
    fn tests_by_path_and_by_name() {
        for (path, symbol, lang) in [
            ("tests/test_api.py", None, "python"),
            ("pkg/conftest.py", None, "python"),
            ("src/lib.rs", Some("tests::parses"), "rust"),
            ("server_test.go", None, "go"),
            ("x.go", Some("TestServe"), "go"),
            ("src/a.spec.ts", None, "typescript"),
            ("m.py", Some("Suite.test_login"), "python"),
            ("src/parser/tests.rs", None, "rust"),
            ("spec/router_spec.rb", None, "text"),
            ("app/tests.py", None, "python"),
        ] {
            assert!(is_test(&hit(path, symbol, lang, 0.0)), "{path} {symbol:?}");
        }
        for (path, symbol, lang) in [
            ("src/testing.rs", Some("contest"), "rust"),
            ("src/lock.rs", Some("Lock.test_and_set"), "rust"),
            ("x.go", Some("Testament"), "go"),
            ("lib/attest.py", Some("attest"), "python"),
        ] {
            assert!(!is_test(&hit(path, symbol, lang, 0.0)), "{path} {symbol:?}");
        }
    }

    #[test]
    fn queries_that_ask_for_tests() {
        assert!(asks_for_tests("the test for parsing headers"));
        assert!(asks_for_tests("Testing helpers"));
        assert!(!asks_for_tests("parse the latest header"));
    }

    #[test]
    fn a_declaration_follows_the_code_it_declares() {
        let mut hits = vec![
            hit(
                "types/index.d.ts",
                Some("Command.option"),
                "typescript",
                0.9,
            ),
            hit("lib/help.js", Some("Help.format"), "javascript", 0.8),
            hit("lib/command.js", Some("Command.option"), "javascript", 0.7),
            hit("types/index.d.ts", Some("Command.alias"), "typescript", 0.6),
        ];
        declarations_after_code(&mut hits);
        let order: Vec<(&str, f64)> = hits.iter().map(|h| (h.path.as_str(), h.score)).collect();
        assert_eq!(
            order,
            [
                ("lib/command.js", 0.9),
                ("types/index.d.ts", 0.9),
                ("lib/help.js", 0.8),
                ("types/index.d.ts", 0.6)
            ]
        );
    }
}
