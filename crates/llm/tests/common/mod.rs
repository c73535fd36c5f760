//! Checks shared by the tests that pin a model against llama.cpp.

use writ_llm::{GenerateOptions, Generation, LocalLlm};

/// llama.cpp's greedy continuation `greedy` of `text` (whose ids are
/// `ids`), token by token: each is our pick too, or (where the two are
/// near a tie, and the kernels' summation order decides: AVX-512 or AVX2
/// GEMM) within half a unit of it; at most two of them are near ties.
/// Then free greedy decoding starts as llama.cpp's does. Returns that
/// generation.
pub fn follows_llama_cpp(
    llm: &mut LocalLlm,
    text: &str,
    ids: &[u32],
    greedy: &[u32],
) -> Generation {
    let mut ctx = ids.to_vec();
    let mut exact = 0;
    for &want in greedy {
        let l = llm.logits(&ctx).unwrap_or_else(|e| panic!("{e}"));
        let best = l.iter().copied().fold(f32::MIN, f32::max);
        let got = l[want as usize];
        assert!(
            best - got < 0.5,
            "after {} tokens llama.cpp picks {want} (here {got}, best {best})",
            ctx.len() - ids.len()
        );
        exact += usize::from(got == best);
        ctx.push(want);
    }
    assert!(
        exact + 2 >= greedy.len(),
        "only {exact} of {} picks are ours exactly",
        greedy.len()
    );
    let opts = GenerateOptions {
        max_tokens: greedy.len(),
        ..GenerateOptions::default()
    };
    let g = llm
        .generate(text, &opts, &mut |_| {})
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        g.tokens[..4],
        greedy[..4],
        "greedy tokens differ from llama.cpp's"
    );
    g
}
