//! The `writ ask` prompt and the schema that holds the model to proposals.
//!
//! Both are pure functions of recorded inputs (question, cited passages,
//! chat format, limits), so `writ show` can rebuild a stored prompt and
//! check it against the recorded hash.

use serde_json::{json, Value};
use writ_llm::{ChatTemplate, Message};

/// Template id, recorded with every proposal.
pub const TEMPLATE_ID: &str = "writ-ask";
/// Bumped on any change to the text below or to [`schema`].
pub const TEMPLATE_VERSION: u32 = 2;

/// A retrieved chunk as the model sees it.
pub struct Passage<'a> {
    pub chunk: i64,
    pub path: &'a str,
    pub start_line: usize,
    pub end_line: usize,
    pub symbol: Option<&'a str>,
    pub language: &'a str,
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
    pub max_proposals: usize,
}

/// The JSON Schema generation is held to: `{"proposals": [...]}` with
/// note, edit and command proposals whose citations can only be chunks of
/// this run. A model edit is `path` (only files of this run), `find` and
/// `replace`: small models cannot count hunk lines, so writ itself turns
/// an edit into the unified diff of the proposal record (see
/// `ask::edit_to_diff`). Lengths are bounded so an answer ends. Rule
/// changes are not offered to the model.
pub fn schema(passages: &[Passage<'_>], limits: &Limits) -> Value {
    let ids: Vec<i64> = passages.iter().map(|p| p.chunk).collect();
    let mut paths: Vec<&str> = passages.iter().map(|p| p.path).collect();
    paths.sort_unstable();
    paths.dedup();
    let proposal = |kind: &str, fields: Value| {
        let mut properties = json!({
            "kind": { "const": kind },
            "title": { "type": "string", "minLength": 3, "maxLength": 80 },
            "citations": citations(&ids, 3),
            "rationale": { "type": "string", "minLength": 3, "maxLength": 240 },
        });
        let mut required = vec![
            json!("kind"),
            json!("title"),
            json!("citations"),
            json!("rationale"),
        ];
        if let (Some(props), Some(extra)) = (properties.as_object_mut(), fields.as_object()) {
            for (k, v) in extra {
                props.insert(k.clone(), v.clone());
                required.push(json!(k));
            }
        }
        json!({
            "type": "object",
            "additionalProperties": false,
            "required": required,
            "properties": properties,
        })
    };
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["proposals"],
        "properties": {
            "proposals": {
                "type": "array",
                "minItems": 1,
                "maxItems": limits.max_proposals.max(1),
                "items": { "anyOf": [
                    proposal("note", json!({ "text": { "type": "string", "minLength": 3, "maxLength": 600 } })),
                    proposal("edit", json!({
                        "path": { "enum": paths },
                        "find": { "type": "string", "minLength": 1, "maxLength": 600 },
                        "replace": { "type": "string", "maxLength": 1000 },
                    })),
                    proposal("command", json!({ "argv": {
                        "type": "array", "minItems": 1, "maxItems": 8,
                        "items": { "type": "string", "minLength": 1, "maxLength": 80 },
                    }})),
                ]},
            }
        }
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
    fn the_schema_allows_only_this_runs_chunks_and_files() {
        let p = [passage(7, "a.py"), passage(9, "b/c-d.py")];
        let s = schema(&p, &Limits { max_proposals: 2 });
        let items = &s["properties"]["proposals"]["items"]["anyOf"];
        let branches = items[0]["properties"]["citations"]["anyOf"]
            .as_array()
            .unwrap();
        // [7|9], [7, 9]: increasing, so never the same chunk twice.
        assert_eq!(branches.len(), 2);
        assert_eq!(branches[0]["prefixItems"], json!([{ "enum": [7, 9] }]));
        assert_eq!(
            branches[1]["prefixItems"],
            json!([{ "const": 7 }, { "enum": [9] }])
        );
        // prefixItems alone would also accept [].
        assert_eq!(branches[0]["minItems"], 1);
        assert_eq!(branches[1]["minItems"], 2);
        assert_eq!(
            items[1]["properties"]["path"]["enum"],
            json!(["a.py", "b/c-d.py"])
        );
        assert_eq!(
            items[1]["required"],
            json!([
                "kind",
                "title",
                "citations",
                "rationale",
                "path",
                "find",
                "replace"
            ])
        );
        assert_eq!(s["properties"]["proposals"]["maxItems"], 2);
    }
}
