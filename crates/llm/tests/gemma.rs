//! The pinned Gemma 3 270M (Q4_K_M, SentencePiece tokenizer) for real,
//! against llama.cpp on the same file: token ids, the next-token logits
//! and greedy continuations. A second family and quant path beside
//! SmolLM2's (tests/smollm.rs).
//!
//! The reference figures came from llama-cpp-python 0.3.36 on this file:
//! `Llama(model_path, n_ctx=512, logits_all=True)`, `tokenize(text.encode(),
//! add_bos=True, special=True)`, `eval(ids)`, `scores[n-1]` and 16 steps of
//! `sample(temp=0.0)`; `scripts/llm_reference.py` reruns them.

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
    let p = writ_core::model_cache_dir(None).join("gemma3-270m-q4_k_m/model.gguf");
    assert!(
        p.is_file(),
        "`{}` is missing: the test command fetches it (models/fetch.sh)",
        p.display()
    );
    p
}

struct Case {
    text: &'static str,
    ids: &'static [u32],
    /// llama.cpp's five most likely next tokens and their logits.
    top: [(u32, f32); 5],
    greedy: &'static [u32],
}

const CASES: [Case; 2] = [
    Case {
        text: "The capital of France is",
        ids: &[2, 818, 5279, 529, 7001, 563],
        top: [(506, 18.999), (496, 18.492), (9079, 18.324), (886, 18.103), (3224, 17.701)],
        greedy: &[
            506, 5279, 529, 506, 2891, 529, 7001, 236761, 1030, 563, 506, 7488, 3207, 528, 7001,
            236761,
        ],
    },
    Case {
        text: "<start_of_turn>user\nFix the bug in parse_config() at line 2024, please!  Two  spaces, tabs\there, café ünïcode 日本語 and emoji 🎉.<end_of_turn>\n<start_of_turn>model\n",
        ids: &[
            2, 105, 2364, 107, 36819, 506, 13582, 528, 11299, 236779, 3762, 825, 657, 1757,
            236743, 236778, 236771, 236778, 236812, 236764, 5091, 236888, 138, 11634, 138, 35220,
            236764, 42364, 255968, 8472, 236764, 33443, 174898, 238527, 3970, 33375, 238582, 532,
            64334, 204906, 236761, 106, 107, 105, 4368, 107,
        ],
        top: [(36819, 12.57), (9462, 10.65), (818, 10.298), (2094, 9.603), (9366, 9.274)],
        greedy: &[
            36819, 506, 13582, 528, 11299, 236779, 3762, 825, 657, 1757, 236743, 236778, 236771,
            236778, 236812, 236764,
        ],
    },
];

#[test]
fn gemma3_matches_llama_cpp_on_ids_logits_and_greedy_tokens() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    // The file's own encoding, as llama.cpp runs it (by default writ
    // re-encodes its Q5_0 tensors as Q8_0 for speed: checked below).
    let exact = LoadOptions { requantize: false };
    let mut llm = LocalLlm::load_with(&model_path(), exact).unwrap();
    let mut fast = LocalLlm::load(&model_path()).unwrap();
    assert_eq!(llm.info().architecture, "gemma3");
    // A base model's file has no chat template: its family's is used.
    assert_eq!(llm.info().template, ChatTemplate::Gemma);
    assert_eq!(llm.info().tokenizer, "gguf");
    for case in &CASES {
        let ids = llm.encode(case.text).unwrap();
        assert_eq!(
            ids, case.ids,
            "ids differ from llama.cpp's for {:?}",
            case.text
        );
        // Decoding gives the text back (BOS is a control token, skipped).
        assert_eq!(
            llm.tokenizer().decode(&ids, true).unwrap(),
            case.text
                .replace("<start_of_turn>", "")
                .replace("<end_of_turn>", "")
        );

        let logits = llm.logits(&ids).unwrap();
        let mut order: Vec<usize> = (0..logits.len()).collect();
        order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
        assert_eq!(
            order[0] as u32, case.top[0].0,
            "top token differs from llama.cpp's"
        );
        let ours: Vec<u32> = order[..8].iter().map(|&i| i as u32).collect();
        for (id, want) in case.top {
            let got = logits[id as usize];
            // Both quantize activations for the k-quant dot products, each
            // its own way: logits agree to a fraction of a unit.
            assert!(
                (got - want).abs() < 0.5,
                "logit of {id}: {got} here, {want} in llama.cpp"
            );
            assert!(ours.contains(&id), "{id} is not in our top 8 {ours:?}");
        }

        let g = common::follows_llama_cpp(&mut llm, case.text, &ids, case.greedy);
        assert_eq!(g.stop, StopReason::MaxTokens);

        // Re-encoded as Q8_0, the weights still predict as llama.cpp does.
        let quick = fast.logits(&ids).unwrap();
        let top = (0..quick.len()).max_by(|&a, &b| quick[a].total_cmp(&quick[b]));
        assert_eq!(top, Some(case.top[0].0 as usize));
        for (id, want) in case.top {
            let got = quick[id as usize];
            assert!(
                (got - want).abs() < 0.5,
                "requantized logit of {id}: {got}, llama.cpp {want}"
            );
        }
    }
}

#[test]
fn gemma3_local_layers_hold_past_their_window() {
    if writ_testkit::skip_slow_test() {
        return;
    }
    // A prompt longer than the 512-token sliding window, then decoding
    // past it: each token the decode steps pick (through the local
    // layers' trimmed caches) is the one a prefill of everything before
    // it picks (through the window mask).
    let mut llm = LocalLlm::load(&model_path()).unwrap();
    let line = "def handler_{i}(request): return process(request, level={i})\n";
    let text: String = (0..60)
        .map(|i| line.replace("{i}", &i.to_string()))
        .collect();
    let ids = llm.encode(&text).unwrap();
    assert!(ids.len() > 600, "{} tokens", ids.len());
    let opts = GenerateOptions {
        max_tokens: 4,
        ..GenerateOptions::default()
    };
    let g = llm.generate(&text, &opts, &mut |_| {}).unwrap();
    assert_eq!(g.tokens.len(), 4);
    let argmax = |l: Vec<f32>| {
        l.iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(i, _)| i as u32)
            .unwrap()
    };
    let mut all = ids.clone();
    all.extend(&g.tokens[..3]);
    assert_eq!(argmax(llm.logits(&all).unwrap()), g.tokens[3]);
    // And the chat format renders as llama.cpp's `gemma` template does.
    let prompt = llm.render(&[Message::new("system", "s"), Message::new("user", "u")]);
    assert_eq!(
        prompt,
        "<start_of_turn>user\ns\n\nu<end_of_turn>\n<start_of_turn>model\n"
    );
}
