//! Generates from a GGUF model and prints speed:
//! `cargo run --release -p writ-llm --example generate -- MODEL.gguf "QUESTION" [MAX_TOKENS]`,
//! with `WRIT_SCHEMA=FILE.json` to constrain the output to a JSON Schema.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(path), Some(question)) = (args.get(1), args.get(2)) else {
        return Err("usage: generate MODEL.gguf QUESTION [MAX_TOKENS]".into());
    };
    let max_tokens = args.get(3).and_then(|m| m.parse().ok()).unwrap_or(64);
    let requantize = std::env::var("WRIT_NO_REQUANT").is_err();
    let load = std::time::Instant::now();
    let mut llm = writ_llm::LocalLlm::load_with(
        std::path::Path::new(path),
        writ_llm::LoadOptions { requantize },
    )?;
    eprintln!(
        "loaded in {:.2}s (requantize Q4_1/Q5_0/Q5_1 -> Q8_0: {requantize})",
        load.elapsed().as_secs_f64()
    );
    let prompt = llm.render(&[writ_llm::Message::new("user", question)]);
    let options = writ_llm::GenerateOptions {
        max_tokens,
        ..Default::default()
    };
    // WRIT_SCHEMA=FILE.json constrains the output to that JSON Schema.
    let mut guide = match std::env::var_os("WRIT_SCHEMA") {
        Some(f) => Some(llm.json_guide(&serde_json::from_str(&std::fs::read_to_string(f)?)?)?),
        None => None,
    };
    let g = llm.generate_guided(&prompt, &options, guide.as_mut(), &mut |t| eprint!("{t}"))?;
    eprintln!();
    println!(
        "prompt {} tokens: prefill {:.1} tok/s; generated {} tokens: decode {:.1} tok/s ({:?})",
        g.prompt_tokens,
        g.prompt_tokens as f64 / g.prefill_seconds,
        g.tokens.len(),
        g.tokens.len() as f64 / g.decode_seconds.max(1e-9),
        g.stop
    );
    Ok(())
}
