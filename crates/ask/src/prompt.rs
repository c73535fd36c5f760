//! The `writ ask` prompt and the schema that holds the model to proposals.
//!
//! Both are pure functions of recorded inputs (question, cited passages,
//! chat format, limits), so `writ show` can rebuild a stored prompt and
//! check it against the recorded hash.

use serde_json::{json, Value};
use writ_llm::{ChatTemplate, Message};

/// Template id, recorded with every proposal.
pub const TEMPLATE_ID: &str = "writ-ask";
/// Bumped on any change to the text below or to [`grammar`].
pub const TEMPLATE_VERSION: u32 = 3;

/// A retrieved chunk as the model sees it.
pub struct Passage<'a> {
    /// Chunk id (the number the model cites).
    pub chunk: i64,
    /// Path relative to the repository.
    pub path: &'a str,
    /// First line.
    pub start_line: usize,
    /// Last line.
    pub end_line: usize,
    /// Qualified symbol.
    pub symbol: Option<&'a str>,
    /// Language name (the code fence's tag).
    pub language: &'a str,
    /// The chunk's text.
    pub text: &'a str,
}

const SYSTEM: &str = "You are writ, an assistant for a code repository. You cannot change anything: you only write proposals that rules and people review.
Read the context chunks, then answer the question as JSON: {\"proposals\":[...]}.
Each proposal has a kind:
- \"note\": an answer or explanation, in \"text\".
- \"edit\": a change to one file: its \"path\" as shown, the exact lines to \"find\" in it (copied from the context) and what to \"replace\" them with.
- \"command\": a command a person may run, as \"argv\".
Give a short \"title\", a \"rationale\" saying why, and the numbers of the chunks you used in \"citations\". Be brief and specific.";

/// The conversation for `question` over `passages` (best first).
pub fn messages(question: &str, passages: &[Passage<'_>]) -> Vec<Message> {
    let mut user = String::from("Context:\n");
    for p in passages {
        let symbol = p.symbol.map(|s| format!(" ({s})")).unwrap_or_default();
        user.push_str(&format!(
            "\n[{}] {} lines {}-{}{}\n```{}\n{}\n```\n",
            p.chunk,
            p.path,
            p.start_line,
            p.end_line,
            symbol,
            p.language,
            p.text.trim_end()
        ));
    }
    user.push_str(&format!("\nQuestion: {question}"));
    vec![Message::new("system", SYSTEM), Message::new("user", &user)]
}

/// The full prompt text in `chat` format.
pub fn render(chat: ChatTemplate, question: &str, passages: &[Passage<'_>]) -> String {
    chat.render(&messages(question, passages))
}

/// Limits on what one answer may hold.
pub struct Limits {
    /// Most proposals in one answer.
    pub max_proposals: usize,
}

/// A schema written without free whitespace between JSON tokens.
fn compact(mut schema: Value) -> Value {
    if let Some(obj) = schema.as_object_mut() {
        obj.insert("x-guidance".into(), json!({ "whitespace_flexible": false }));
    }
    schema
}

/// A Lark string literal (llguidance reads them as JSON strings).
fn lit(text: &str) -> String {
    Value::String(text.to_string()).to_string()
}

/// The grammar generation is held to (llguidance's Lark dialect):
/// `{"proposals":[...]}` with one to `max_proposals` notes, commands and
/// edits. Citations can only be this run's chunk ids, distinct. An edit is
/// `path` (a file of this run), `find` and `replace`, and `find` can only
/// be a piece of a retrieved chunk of that file, so it is text the file
/// holds; writ turns the edit into the record's unified diff itself
/// (`pipeline::wire`: small models cannot count hunk lines) and refuses it when
/// the text is not there exactly once. Lengths are bounded so an answer
/// ends. Rule changes are not offered to the model.
pub fn grammar(passages: &[Passage<'_>], limits: &Limits) -> String {
    let ids: Vec<i64> = passages.iter().map(|p| p.chunk).collect();
    let string = |min: usize, max: usize| {
        compact(json!({ "type": "string", "minLength": min, "maxLength": max }))
    };
    let argv = compact(json!({
        "type": "array", "minItems": 1, "maxItems": 8,
        "items": { "type": "string", "minLength": 1, "maxLength": 80 },
    }));
    let mut g = String::from("%llguidance {}\n");
    // One to max_proposals items, as nested optionals.
    let mut items = String::from("item");
    for _ in 1..limits.max_proposals.max(1) {
        items = format!("item ({} {items})?", lit(","));
    }
    g += &format!("start: {} {items} {}\n", lit("{\"proposals\":["), lit("]}"));
    // Every item is written out field by field (the fixed JSON as
    // literals, the values as JSON Schemas), so the three kinds share one
    // lexer context and branch on the kind.
    let common = format!(
        "title {} cites {} rationale",
        lit(",\"citations\":"),
        lit(",\"rationale\":")
    );
    g += &format!(
        "item: {} (note | command | edit) {}\n",
        lit("{\"kind\":"),
        lit("}")
    );
    g += &format!(
        "note: {} {common} {} text\n",
        lit("\"note\",\"title\":"),
        lit(",\"text\":")
    );
    g += &format!(
        "command: {} {common} {} argv\n",
        lit("\"command\",\"title\":"),
        lit(",\"argv\":")
    );
    g += &format!(
        "edit: {} {common} {} target {} replace\n",
        lit("\"edit\",\"title\":"),
        lit(","),
        lit(",\"replace\":")
    );
    g += &format!("title: %json {}\n", string(3, 80));
    g += &format!("cites: %json {}\n", compact(citations(&ids, 3)));
    g += &format!("rationale: %json {}\n", string(3, 240));
    g += &format!("text: %json {}\n", string(3, 600));
    g += &format!("argv: %json {argv}\n");
    g += &format!("replace: %json {}\n", string(0, 1000));
    let mut paths: Vec<&str> = passages.iter().map(|p| p.path).collect();
    paths.sort_unstable();
    paths.dedup();
    let targets: Vec<String> = (0..paths.len()).map(|i| format!("target_{i}")).collect();
    g += &format!("target: {}\n", targets.join(" | "));
    for (i, path) in paths.iter().enumerate() {
        let head = format!("\"path\":{},\"find\":\"", lit(path));
        let mut finds = Vec::new();
        for (j, p) in passages.iter().filter(|p| p.path == *path).enumerate() {
            // Each character JSON-escaped as one piece, so any run of
            // pieces is valid JSON string content that decodes to text
            // of the chunk.
            let pieces: Vec<String> = p
                .text
                .chars()
                .map(|c| {
                    let quoted = Value::String(c.to_string()).to_string();
                    quoted[1..quoted.len() - 1].to_string()
                })
                .collect();
            let name = format!("FIND_{i}_{j}");
            g += &format!("{name}: %regex {}\n", json!({ "substring_chunks": pieces }));
            finds.push(name);
        }
        g += &format!(
            "target_{i}: {} ({}) {}\n",
            lit(&head),
            finds.join(" | "),
            lit("\"")
        );
    }
    g
}

/// The same shape as [`grammar`] as a plain JSON Schema, for servers that
/// take one (OpenAI's `response_format`, llama.cpp's `json_schema`,
/// Ollama's `format`): kinds, fields, lengths, this run's chunk ids and
/// file paths. Looser than the grammar where JSON Schema cannot say it or
/// servers cannot take it (citations may repeat; `find` is any text,
/// checked against the file after; string lengths are not bounded), so
/// what comes back is validated and wired the same way.
pub fn schema(passages: &[Passage<'_>], limits: &Limits) -> Value {
    let mut ids: Vec<i64> = passages.iter().map(|p| p.chunk).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut paths: Vec<&str> = passages.iter().map(|p| p.path).collect();
    paths.sort_unstable();
    paths.dedup();
    // No `maxLength`: converters that spell it as nested optionals
    // (llama-cpp-python's) build grammars too deep to parse; max_tokens
    // bounds the answer, and validation checks each field after.
    let string = |min: usize, _max: usize| json!({ "type": "string", "minLength": min });
    let item = |kind: &str, extra: Vec<(&str, Value)>| {
        let mut props = serde_json::Map::new();
        props.insert("kind".into(), json!({ "type": "string", "enum": [kind] }));
        props.insert("title".into(), string(3, 80));
        props.insert(
            "citations".into(),
            json!({ "type": "array", "items": { "type": "integer", "enum": ids }, "minItems": 1, "maxItems": 3 }),
        );
        props.insert("rationale".into(), string(3, 240));
        for (k, v) in extra {
            props.insert(k.into(), v);
        }
        let required: Vec<&String> = props.keys().collect();
        json!({ "type": "object", "properties": props, "required": required, "additionalProperties": false })
    };
    let note = item("note", vec![("text", string(3, 600))]);
    let command = item(
        "command",
        vec![(
            "argv",
            json!({ "type": "array", "items": string(1, 80), "minItems": 1, "maxItems": 8 }),
        )],
    );
    let edit = item(
        "edit",
        vec![
            ("path", json!({ "type": "string", "enum": paths })),
            ("find", string(1, 2000)),
            ("replace", string(0, 1000)),
        ],
    );
    json!({
        "type": "object",
        "properties": {
            "proposals": {
                "type": "array",
                "items": { "anyOf": [note, command, edit] },
                "minItems": 1,
                "maxItems": limits.max_proposals.max(1),
            }
        },
        "required": ["proposals"],
        "additionalProperties": false,
    })
}

/// Citations as a schema: one to `max` distinct chunk ids of this run,
/// in ascending order (JSON Schema has no `uniqueItems` that constrained
/// decoding can enforce, so distinctness is spelled out as increasing
/// sequences: every prefix is a `const`, the last item an `enum` of the
/// larger ids).
fn citations(ids: &[i64], max: usize) -> Value {
    let mut sorted = ids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut branches = Vec::new();
    let mut prefixes: Vec<Vec<i64>> = vec![Vec::new()];
    for _ in 0..max.max(1) {
        let mut longer = Vec::new();
        for prefix in &prefixes {
            let rest: Vec<i64> = sorted
                .iter()
                .copied()
                .filter(|id| prefix.last().is_none_or(|last| id > last))
                .collect();
            if rest.is_empty() {
                continue;
            }
            let mut items: Vec<Value> = prefix.iter().map(|id| json!({ "const": id })).collect();
            items.push(json!({ "enum": rest }));
            let len = items.len();
            branches.push(json!({
                "type": "array", "prefixItems": items, "items": false, "minItems": len,
            }));
            longer.extend(rest.iter().map(|id| {
                let mut p = prefix.clone();
                p.push(*id);
                p
            }));
        }
        prefixes = longer;
    }
    json!({ "anyOf": branches })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail by panicking")]
    use super::*;

    fn passage(chunk: i64, path: &'static str) -> Passage<'static> {
        Passage {
            chunk,
            path,
            start_line: 1,
            end_line: 2,
            symbol: Some("f"),
            language: "python",
            text: "def f():\n    pass\n",
        }
    }

    #[test]
    fn the_prompt_numbers_chunks_by_id_and_ends_with_the_question() {
        let p = [passage(7, "a.py"), passage(9, "b/c.py")];
        let text = render(ChatTemplate::ChatMl, "why?", &p);
        assert!(text.contains("[7] a.py lines 1-2 (f)\n```python\ndef f():\n    pass\n```"));
        assert!(text.contains("[9] b/c.py"));
        assert!(text.ends_with("Question: why?<|im_end|>\n<|im_start|>assistant\n"));
    }

    #[test]
    fn the_grammar_allows_only_this_runs_chunks_files_and_text() {
        let p = [passage(7, "a.py"), passage(9, "b/c-d.py")];
        let g = grammar(&p, &Limits { max_proposals: 2 });
        let accepts = |text: &str| writ_llm::grammar_accepts(&g, text).unwrap();
        let note = r#"{"kind":"note","title":"why f","citations":[7,9],"rationale":"it is so","text":"f passes"}"#;
        assert!(accepts(&format!(r#"{{"proposals":[{note}]}}"#)));
        assert!(accepts(&format!(r#"{{"proposals":[{note},{note}]}}"#)));
        // Not three (max 2), not empty, not the same chunk twice, not a
        // chunk of another run.
        assert!(!accepts(&format!(
            r#"{{"proposals":[{note},{note},{note}]}}"#
        )));
        assert!(!accepts(r#"{"proposals":[]}"#));
        assert!(!accepts(&note.replace("[7,9]", "[7,7]")));
        assert!(!accepts(&format!(
            r#"{{"proposals":[{}]}}"#,
            note.replace("[7,9]", "[8]")
        )));
        // An edit finds text of a retrieved chunk of its file, escaped as JSON.
        let edit = |path: &str, find: &str| {
            format!(
                r#"{{"proposals":[{{"kind":"edit","title":"fix f","citations":[7],"rationale":"because","path":"{path}","find":"{find}","replace":"    return 1\n"}}]}}"#
            )
        };
        assert!(accepts(&edit("a.py", r"    pass\n")));
        assert!(accepts(&edit("b/c-d.py", r"def f():\n    pass")));
        assert!(
            !accepts(&edit("a.py", r"    return 2\n")),
            "text not in the chunk"
        );
        assert!(
            !accepts(&edit("z.py", r"    pass\n")),
            "a file outside the run"
        );
        let command = r#"{"kind":"command","title":"run it","citations":[9],"rationale":"to see","argv":["python","a.py"]}"#;
        assert!(accepts(&format!(r#"{{"proposals":[{command}]}}"#)));
        assert!(!accepts(&format!(
            r#"{{"proposals":[{}]}}"#,
            note.replace(r#""note""#, r#""rule-change""#)
        )));
    }
}
