//! Embeds the texts of a JSONL file (`{"text": ...}` per line) and prints
//! throughput: `cargo run --release --example embed_texts -- MODEL_DIR TEXTS.jsonl [BATCH_TOKENS]`.

use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use writ_core::Embedder;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(dir), Some(path)) = (args.get(1), args.get(2)) else {
        return Err("usage: embed_texts MODEL_DIR TEXTS.jsonl [BATCH_TOKENS]".into());
    };
    let batch_tokens = args.get(3).and_then(|b| b.parse().ok()).unwrap_or(2048);
    let workers = args.get(4).and_then(|b| b.parse().ok()).unwrap_or(1);
    let model = writ_embed::MiniLm::load_with(
        std::path::Path::new(dir),
        writ_embed::MiniLmOptions {
            batch_tokens,
            workers,
            ..Default::default()
        },
    )?;
    let texts: Vec<String> = std::fs::read_to_string(path)?
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v.get("text").and_then(|t| t.as_str()).map(str::to_string))
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let tokens: usize = refs.iter().map(|t| model.count_tokens(t).min(256)).sum();
    let start = Instant::now();
    model.embed(&refs)?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "batch_tokens {batch_tokens} workers {workers}: {} texts, {tokens} tokens, {secs:.2} s, {:.1} texts/s, {:.0} tokens/s",
        refs.len(),
        refs.len() as f64 / secs,
        tokens as f64 / secs
    );
    Ok(())
}
