//! The pinned SmolLM2-135M-Instruct GGUF, for real: tokenizer ids as the
//! model was trained (checked against llama.cpp's tokenizer), round trips,
//! and reproducible greedy generation.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

mod common;

use std::path::PathBuf;
use writ_llm::{ChatTemplate, GenerateOptions, LoadOptions, LocalLlm, Message, StopReason};

fn model_path() -> PathBuf {
    let cache = writ_core::model_cache_dir(None);
    let p = cache.join("smollm2-135m-instruct-q4_1/model.gguf");
    assert!(
        p.is_file(),
        "`{}` is missing: the test command fetches it (models/fetch.sh)",
        p.display()
    );
    p
}

/// A fixed text and its ids from llama.cpp (llama-cpp-python 0.3,
/// `Llama(vocab_only=True).tokenize(text, add_bos=False, special=True)`).
const TEXT: &str =
    "<|im_start|>user\nFix the bug in parse_config() at line 2024, please!<|im_end|>";
const LLAMA_CPP_IDS: &[u32] = &[
    1, 4093, 198, 54, 1088, 260, 15630, 281, 12865, 79, 3797, 1000, 418, 1761, 216, 34, 32, 34, 36,
    28, 5361, 17, 2,
];

#[test]
fn tokenizer_matches_llama_cpp_and_round_trips() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let llm = LocalLlm::load(&model_path()).unwrap();
    assert_eq!(llm.info().template, ChatTemplate::ChatMl);
    assert_eq!(llm.info().architecture, "llama");
    let ids = llm.encode(TEXT).unwrap();
    assert_eq!(ids, LLAMA_CPP_IDS, "ids differ from llama.cpp's");
    // Special tokens are single ids; digits are split one by one.
    assert_eq!(llm.encode("<|im_start|>").unwrap().len(), 1);
    assert_eq!(llm.encode("2024").unwrap().len(), 4);
    // No prefix space: "hello" alone is not " hello".
    assert_ne!(llm.encode("hello").unwrap(), llm.encode(" hello").unwrap());
    let back = llm.tokenizer().decode(&ids, false).unwrap();
    assert_eq!(back, TEXT);
}

#[test]
fn greedy_generation_is_reproducible_and_bounded() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let mut llm = LocalLlm::load(&model_path()).unwrap();
    let prompt = llm.render(&[Message::new(
        "user",
        "What is the capital of France? Answer in one sentence.",
    )]);
    let options = GenerateOptions {
        max_tokens: 24,
        ..Default::default()
    };
    let mut streamed = String::new();
    let a = llm
        .generate(&prompt, &options, &mut |t| streamed.push_str(t))
        .unwrap();
    let b = llm.generate(&prompt, &options, &mut |_| {}).unwrap();
    assert_eq!(a.tokens, b.tokens, "greedy decoding must be deterministic");
    assert_eq!(a.text, b.text);
    assert_eq!(streamed, a.text, "streamed pieces add up to the text");
    assert!(a.text.contains("Paris"), "{}", a.text);
    assert!(a.tokens.len() <= 24);
    let short = llm
        .generate(
            &prompt,
            &GenerateOptions {
                max_tokens: 3,
                ..Default::default()
            },
            &mut |_| {},
        )
        .unwrap();
    assert_eq!((short.tokens.len(), short.stop), (3, StopReason::MaxTokens));
}

#[test]
fn requantized_weights_predict_like_the_files_own() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    // A fixed paragraph of real third-party code (requests' utils.py).
    // Measured: 109 of 116 next-token predictions agree (0.94).
    let text = "def get_encoding_from_headers(headers):\n    content_type = headers.get(\"content-type\")\n    if not content_type:\n        return None\n    content_type, params = _parse_content_type_header(content_type)\n    if \"charset\" in params:\n        return params[\"charset\"].strip(\"'\\\"\")\n    if \"text\" in content_type:\n        return \"ISO-8859-1\"\n    if \"application/json\" in content_type:\n        return \"utf-8\"\n";
    let mut fast = LocalLlm::load(&model_path()).unwrap();
    let mut exact = LocalLlm::load_with(&model_path(), LoadOptions { requantize: false }).unwrap();
    let ids = fast.encode(text).unwrap();
    assert!(ids.len() > 60);
    let a = fast.predictions(&ids).unwrap();
    let b = exact.predictions(&ids).unwrap();
    let same = a.iter().zip(&b).filter(|(x, y)| x == y).count();
    let agreement = same as f64 / ids.len() as f64;
    eprintln!(
        "top-1 agreement Q8_0 vs Q4_1: {same}/{} = {agreement:.3}",
        ids.len()
    );
    assert!(
        agreement >= 0.9,
        "requantization changed {} of {} predictions",
        ids.len() - same,
        ids.len()
    );
}

#[test]
fn guided_generation_follows_the_schema() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    // Unconstrained, this model answers in prose; held to the schema, the
    // output parses and every value is one the schema allows.
    let mut llm = LocalLlm::load(&model_path()).unwrap();
    let schema = serde_json::json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["city", "cited", "year"],
        "properties": {
            "city": { "type": "string", "minLength": 1, "maxLength": 20 },
            "cited": { "type": "array", "minItems": 1, "maxItems": 2, "items": { "enum": [3, 7] } },
            "year": { "type": "string", "pattern": "^[12][0-9]{3}$" },
        }
    });
    let prompt = llm.render(&[Message::new(
        "user",
        "What is the capital of France, and when was the Eiffel Tower built?",
    )]);
    let options = GenerateOptions {
        max_tokens: 64,
        ..Default::default()
    };
    let mut guide = llm.json_guide(&schema).unwrap();
    let g = llm
        .generate_guided(&prompt, &options, Some(&mut guide), &mut |_| {})
        .unwrap();
    assert_eq!(g.stop, StopReason::Complete, "{}", g.text);
    let v: serde_json::Value = serde_json::from_str(&g.text).unwrap();
    let city = v["city"].as_str().unwrap();
    assert!(!city.is_empty() && city.chars().count() <= 20, "{v}");
    for c in v["cited"].as_array().unwrap() {
        assert!(c == 3 || c == 7, "{v}");
    }
    let year = v["year"].as_str().unwrap();
    assert!(
        year.len() == 4 && year.chars().all(|c| c.is_ascii_digit()),
        "{v}"
    );
    eprintln!("guided: {}", g.text);

    // A fresh guide, the same prompt: the same bytes.
    let mut again = llm.json_guide(&schema).unwrap();
    let h = llm
        .generate_guided(&prompt, &options, Some(&mut again), &mut |_| {})
        .unwrap();
    assert_eq!(g.text, h.text);
}

#[test]
fn a_tokenizer_json_beside_the_gguf_overrides_its_own() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let llm = LocalLlm::load(&model_path()).unwrap();
    assert_eq!(llm.info().tokenizer, "gguf");
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(model_path(), dir.path().join("model.gguf")).unwrap();
    let beside = dir.path().join("tokenizer.json");
    llm.tokenizer().save(&beside, false).unwrap();
    drop(llm);
    let other = LocalLlm::load(&dir.path().join("model.gguf")).unwrap();
    assert_eq!(other.info().tokenizer, beside.display().to_string());
    assert_eq!(other.encode(TEXT).unwrap(), LLAMA_CPP_IDS);
    // A broken one is refused by name, not silently replaced.
    std::fs::write(&beside, "{ not json").unwrap();
    let err = LocalLlm::load(&dir.path().join("model.gguf"))
        .err()
        .unwrap();
    assert!(err.to_string().contains("tokenizer.json"), "{err}");
}

#[test]
fn a_lark_grammar_holds_the_model_to_pieces_of_given_text() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    let mut llm = LocalLlm::load(&model_path()).unwrap();
    let source = "def total(prices):\n    return sum(prices)\n";
    let pieces: Vec<String> = source.chars().map(|c| c.to_string()).collect();
    let grammar = format!(
        "start: \"quote: \" PIECE\nPIECE: %regex {}\n",
        serde_json::json!({ "substring_chunks": pieces })
    );
    let prompt = llm.render(&[Message::new("user", "Quote the line that adds the prices.")]);
    let options = GenerateOptions {
        max_tokens: 40,
        ..Default::default()
    };
    let mut guide = llm.lark_guide(&grammar).unwrap();
    let g = llm
        .generate_guided(&prompt, &options, Some(&mut guide), &mut |_| {})
        .unwrap();
    let quoted = g
        .text
        .strip_prefix("quote: ")
        .unwrap_or_else(|| panic!("{:?}", g.text));
    assert!(
        source.contains(quoted),
        "{quoted:?} is not a piece of the source"
    );
    assert!(writ_llm::grammar_accepts(&grammar, &g.text).unwrap());
    assert!(!writ_llm::grammar_accepts(&grammar, "quote: return max(prices)").unwrap());
}

/// writ's own llama forward against llama.cpp on the file's own weights:
/// a prompt long enough for the f32 GEMM path and one short enough for
/// the quantized dot products, top logits and 16 greedy tokens each
/// (llama-cpp-python 0.3.36, `Llama(n_ctx=512, logits_all=True)`,
/// `tokenize(text, add_bos=True, special=True)`, `scores[n-1]`, then
/// `sample(temp=0.0)`; `scripts/llm_reference.py` reruns it).
#[test]
fn the_llama_forward_matches_llama_cpp() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    struct Case {
        text: &'static str,
        top: [(u32, f32); 5],
        greedy: [u32; 16],
    }
    let cases = [
        Case {
            text: "<|im_start|>user\nWhat does the function parse_config(path) return when the file is missing?<|im_end|>\n<|im_start|>assistant\n",
            top: [(504, 36.131), (2427, 34.355), (2068, 32.962), (1348, 32.571), (2683, 32.03)],
            greedy: [
                504, 1517, 2179, 7178, 79, 3797, 24, 1537, 37387, 6765, 253, 9125, 351, 260,
                26259, 9696,
            ],
        },
        Case {
            text: "The capital of France is",
            top: [(7042, 17.344), (260, 14.804), (4528, 13.208), (1315, 13.149), (5145, 13.121)],
            greedy: [7042, 30, 198, 198, 504, 1797, 1918, 553, 253, 2155, 282, 4723, 216, 35, 33, 33],
        },
    ];
    let mut llm = LocalLlm::load_with(&model_path(), LoadOptions { requantize: false }).unwrap();
    for case in &cases {
        let ids = llm.encode(case.text).unwrap();
        let logits = llm.logits(&ids).unwrap();
        let top = (0..logits.len()).max_by(|&a, &b| logits[a].total_cmp(&logits[b]));
        assert_eq!(top, Some(case.top[0].0 as usize), "{:?}", case.text);
        for (id, want) in case.top {
            let got = logits[id as usize];
            assert!(
                (got - want).abs() < 0.75,
                "logit of {id}: {got} here, {want} in llama.cpp"
            );
        }
        common::follows_llama_cpp(&mut llm, case.text, &ids, &case.greedy);
    }
}
