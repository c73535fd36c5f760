//! The ask pipeline with a scripted model, no model files and no network:
//! hits from a real `Searcher` over an index built with the fake
//! `HashEmbedder`, `answer` run with `Scripted`. A note and an edit become
//! records (the edit a diff, held for a model), the provenance records the
//! run and `check::ask_record` finds it matching; an answer that is not a
//! proposal list is recorded refused; an edit whose text is not in the
//! file is refused with that reason; an answer the grammar does not accept
//! fails when constrained and records nothing.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use writ_ask::{answer, Answer, AskError, AskParams, Scripted};
use writ_gate::{Gate, State};
use writ_index::{Hit, Searcher};
use writ_testkit::HashEmbedder;

const SHOP: &str = "def total(prices):\n    \"\"\"Sum of prices.\"\"\"\n    return sum(prices)\n\n\ndef mean(xs):\n    \"\"\"Average of xs.\"\"\"\n    return sum(xs) / len(xs)\n";
const README: &str = "# shop\n\nAdds up prices and averages them.\n";
const QUESTION: &str = "how is the mean of prices computed";

/// An indexed temp repository, its gate (keys beside it, outside it), and
/// the hits for [`QUESTION`].
struct Repo {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    index: PathBuf,
    gate: Gate,
    hits: Vec<Hit>,
    generation: i64,
}

fn repo() -> Repo {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().canonicalize().unwrap();
    let (root, keys) = (base.join("repo"), base.join("keys"));
    std::fs::create_dir_all(root.join("src")).unwrap();
    std::fs::write(root.join("src/shop.py"), SHOP).unwrap();
    std::fs::write(root.join("README.md"), README).unwrap();
    let index = root.join(".writ");
    let embedder = HashEmbedder::new();
    writ_index::Indexer::new(&root, &index, &embedder, Default::default())
        .run(&AtomicBool::new(false), &|_| {})
        .unwrap();
    let mut searcher = Searcher::open(&index, &embedder).unwrap();
    let hits = searcher.search(QUESTION, &Default::default()).unwrap();
    assert!(hits.len() >= 2, "{hits:?}");
    let generation = searcher.generation();
    let gate = Gate::new(root.clone(), index.clone(), None).with_keys(keys);
    Repo {
        _tmp: tmp,
        root,
        index,
        gate,
        hits,
        generation,
    }
}

impl Repo {
    /// The hit of `path` whose text holds `text`.
    fn hit(&self, path: &str, text: &str) -> &Hit {
        let found = self
            .hits
            .iter()
            .find(|h| h.path == path && h.text.contains(text));
        found.unwrap_or_else(|| panic!("no hit of {path} holds {text:?}: {:?}", self.hits))
    }

    /// Runs the pipeline with a model that answers `text`.
    fn ask(&self, params: &AskParams, text: &str) -> Result<Answer, AskError> {
        let mut model = Scripted::new(vec![text.to_string()]);
        let mut streamed = String::new();
        let result = answer(
            params,
            &self.gate,
            &self.index,
            self.hits.clone(),
            self.generation,
            &mut model,
            &mut |t| streamed.push_str(t),
        );
        if result.is_ok() {
            assert!(text.starts_with(&streamed), "streamed {streamed:?}");
        }
        result
    }

    /// The recorded proposal `id`.
    fn record(&self, id: &str) -> writ_gate::ProposalRow {
        self.gate.proposal(id).unwrap()
    }
}

/// JSON text of a string.
fn s(text: &str) -> String {
    Value::String(text.to_string()).to_string()
}

/// A note item, its fields in the grammar's order.
fn note(cites: &[i64], text: &str) -> String {
    format!(
        r#"{{"kind":"note","title":"how mean works","citations":{},"rationale":"the code says so","text":{}}}"#,
        json!(cites),
        s(text)
    )
}

/// An edit item, its fields in the grammar's order.
fn edit(cites: &[i64], path: &str, find: &str, replace: &str) -> String {
    format!(
        r#"{{"kind":"edit","title":"guard empty input","citations":{},"rationale":"an empty list divides by zero","path":{},"find":{},"replace":{}}}"#,
        json!(cites),
        s(path),
        s(find),
        s(replace)
    )
}

fn proposals(items: &[String]) -> String {
    format!(r#"{{"proposals":[{}]}}"#, items.join(","))
}

const FIND: &str = "    return sum(xs) / len(xs)";
const REPLACE: &str = "    return sum(xs) / max(len(xs), 1)";

#[test]
fn a_note_and_an_edit_become_records_with_the_run_as_provenance() {
    let r = repo();
    let shop = r.hit("src/shop.py", FIND).chunk_id;
    let readme = r.hit("README.md", "Adds up").chunk_id;
    let mut cites = [shop, readme];
    cites.sort_unstable();
    let text = proposals(&[
        note(&cites, "mean divides the sum by the count"),
        edit(&[shop], "src/shop.py", FIND, REPLACE),
    ]);
    let params = AskParams::new(QUESTION);
    let got = r.ask(&params, &text).unwrap();
    assert_eq!(got.used, r.hits.len(), "every hit fits the scripted window");
    assert_eq!(got.results.len(), 2, "{:?}", got.results);
    let (n, e) = (&got.results[0], &got.results[1]);
    // What front ends show is what was recorded: the edit as writ's diff,
    // not the model's find/replace.
    let shown: serde_json::Value = serde_json::from_str(&got.bodies[1]).unwrap();
    assert!(
        shown["diff"]
            .as_str()
            .is_some_and(|d| d.starts_with("--- a/")),
        "{shown}"
    );
    assert!(shown.get("find").is_none(), "{shown}");
    assert_eq!(n.state, State::Held, "a model's note is held: {n:?}");
    assert_eq!(e.state, State::Held, "{e:?}");
    let decided = serde_json::to_string(&e.decision).unwrap();
    assert!(decided.contains("hold-model-edits"), "{decided}");
    assert_eq!(got.stats.stop, "complete");

    // The edit was recorded as a diff writ wrote, not as find/replace.
    let rec = r.record(&e.id);
    assert_eq!(rec.kind, "edit");
    assert!(rec.source.starts_with("model:"), "{}", rec.source);
    let body: Value = serde_json::from_str(&rec.body).unwrap();
    assert!(
        body.get("find").is_none() && body.get("path").is_none(),
        "{body}"
    );
    let diff = body["diff"].as_str().unwrap();
    assert!(
        diff.starts_with("--- a/src/shop.py\n+++ b/src/shop.py\n@@ "),
        "{diff}"
    );
    assert!(
        diff.contains(&format!("-{FIND}")) && diff.contains(&format!("+{REPLACE}")),
        "{diff}"
    );
    assert_eq!(
        std::fs::read_to_string(r.root.join("src/shop.py")).unwrap(),
        SHOP,
        "nothing applied"
    );

    // The provenance records the run, and the record checks out.
    let prov = &r.record(&n.id).provenance;
    assert_eq!(prov["via"], "writ ask");
    assert_eq!(prov["question"], QUESTION);
    assert_eq!(prov["retrieval"]["index_generation"], r.generation);
    let recorded: Vec<i64> = prov["retrieval"]["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["chunk"].as_i64().unwrap())
        .collect();
    let retrieved: Vec<i64> = r.hits.iter().map(|h| h.chunk_id).collect();
    assert_eq!(recorded, retrieved);
    assert!(prov["retrieval"]["embedder"]
        .as_str()
        .unwrap()
        .starts_with(writ_testkit::HASH_EMBEDDER_ID));
    for hash in [
        &prov["prompt"]["sha256"],
        &prov["sampling"]["grammar_sha256"],
    ] {
        assert_eq!(hash.as_str().map(str::len), Some(64), "{prov}");
    }
    assert_eq!(prov["model"]["name"], "scripted");
    assert_eq!(prov["model"]["sha256"], "0".repeat(64));
    assert_eq!(prov["sampling"]["constrained"], true);
    assert_eq!(prov["output"]["raw"], text.as_str());
    assert_eq!(prov["output"]["proposal"], 0);
    assert_eq!(r.record(&e.id).provenance["output"]["proposal"], 1);
    let (prompt, grammar) = writ_ask::check::ask_record(prov, &r.index);
    assert!(prompt.starts_with("matches (sha256 "), "{prompt}");
    assert!(
        grammar.starts_with("matches") && grammar.ends_with("the raw output is a sentence of it"),
        "{grammar}"
    );
    assert!(r.gate.verify(false).unwrap().ok());
}

#[test]
fn an_answer_that_is_not_a_proposal_list_is_recorded_refused() {
    let r = repo();
    let unconstrained = AskParams {
        unconstrained: true,
        ..AskParams::new(QUESTION)
    };
    for (text, why) in [
        ("The mean is the sum divided by the count.", "not JSON"),
        (r#"{"proposals":[]}"#, "at least one proposal"),
        (r#"{"answer":"mean"}"#, "at least one proposal"),
    ] {
        let got = r.ask(&unconstrained, text).unwrap();
        assert_eq!(got.results.len(), 1, "{text}");
        let refused = &got.results[0];
        assert_eq!(refused.state, State::Refused, "{text}: {refused:?}");
        assert!(
            refused.reasons.iter().any(|w| w.contains(why)),
            "{text}: {:?}",
            refused.reasons
        );
        let rec = r.record(&refused.id);
        assert_eq!(rec.body, text, "what failed is kept");
        assert_eq!(rec.provenance["output"]["raw"], text);
        assert_eq!(rec.provenance["sampling"]["constrained"], false);
    }

    // A grammatical answer cut off by max_tokens is refused, saying so.
    let shop = r.hit("src/shop.py", FIND).chunk_id;
    let short = AskParams {
        max_tokens: 3,
        ..AskParams::new(QUESTION)
    };
    let got = r
        .ask(
            &short,
            &proposals(&[note(&[shop], "mean divides the sum by the count")]),
        )
        .unwrap();
    assert_eq!(got.stats.stop, "max-tokens");
    let refused = &got.results[0];
    assert_eq!(refused.state, State::Refused);
    assert!(
        refused.reasons.iter().any(|w| w.contains("max_tokens 3")),
        "{:?}",
        refused.reasons
    );
}

#[test]
fn an_edit_whose_text_is_not_in_the_file_is_refused_with_that_reason() {
    let r = repo();
    let shop = r.hit("src/shop.py", FIND).chunk_id;
    // Unconstrained, the model can name text the file does not hold.
    let unconstrained = AskParams {
        unconstrained: true,
        ..AskParams::new(QUESTION)
    };
    let text = proposals(&[edit(&[shop], "src/shop.py", "    return 42\n", REPLACE)]);
    let got = r.ask(&unconstrained, &text).unwrap();
    let refused = &got.results[0];
    assert_eq!(refused.state, State::Refused, "{refused:?}");
    assert_eq!(
        refused.reasons,
        ["the text to find does not occur in `src/shop.py`"]
    );
    assert_eq!(
        r.record(&refused.id).title,
        "guard empty input",
        "listed under its title"
    );

    // Constrained, `find` is text of a retrieved chunk: when the file has
    // changed since it was indexed, the edit is refused all the same.
    std::fs::write(
        r.root.join("src/shop.py"),
        SHOP.replace(FIND, "    return statistics.mean(xs)"),
    )
    .unwrap();
    let text = proposals(&[edit(&[shop], "src/shop.py", FIND, REPLACE)]);
    let got = r.ask(&AskParams::new(QUESTION), &text).unwrap();
    let refused = &got.results[0];
    assert_eq!(refused.state, State::Refused, "{refused:?}");
    assert!(
        refused.reasons[0].contains("does not occur in `src/shop.py`"),
        "{:?}",
        refused.reasons
    );

    // An edit outside the repository never reaches the gate.
    let text = proposals(&[edit(&[shop], "../shop.py", FIND, REPLACE)]);
    let got = r.ask(&unconstrained, &text).unwrap();
    assert!(
        got.results[0].reasons[0].contains("not inside the repository"),
        "{:?}",
        got.results
    );
}

#[test]
fn an_answer_the_grammar_does_not_accept_is_recorded_refused() {
    let r = repo();
    let shop = r.hit("src/shop.py", FIND).chunk_id;
    let outside = r.hits.iter().map(|h| h.chunk_id).max().unwrap() + 1000;
    let params = AskParams::new(QUESTION);
    for text in [
        proposals(&[note(&[outside], "mean divides the sum by the count")]),
        proposals(&[note(&[shop, shop], "the same chunk twice")]),
        proposals(&[edit(&[shop], "src/shop.py", "    return 42\n", REPLACE)]),
        proposals(&[edit(&[shop], "src/other.py", FIND, REPLACE)]),
        proposals(&[
            note(&[shop], "one"),
            note(&[shop], "two"),
            note(&[shop], "three"),
        ]),
        "The mean is the sum divided by the count.".to_string(),
    ] {
        // A model that fails is an attempt recorded refused, with why;
        // never an action.
        let answer = r.ask(&params, &text).unwrap();
        assert_eq!(answer.stats.stop, "error");
        assert_eq!(answer.results.len(), 1);
        let result = &answer.results[0];
        assert_eq!(result.state, writ_gate::State::Refused, "{text}");
        assert!(
            result.reasons[0].contains("grammar"),
            "{:?}",
            result.reasons
        );
    }
    assert_eq!(r.gate.proposals(None).unwrap().len(), 6);
}
