//! writ's embeddings match sentence-transformers' (the reference vectors in
//! `tests/data`, made with sentence-transformers 6.2 from the same weights):
//! cosine >= 0.999 on every row, over-length, Unicode and whitespace included;
//! int8 dense layers within 0.99 of them and of writ's own f32 vectors.

use std::path::PathBuf;
use writ_core::Embedder;

fn model_dir() -> PathBuf {
    let cache = writ_core::model_cache_dir(None);
    cache.join("all-minilm-l6-v2")
}

type TestResult<T> = Result<T, Box<dyn std::error::Error>>;

fn load(forward: writ_embed::Forward, batch_tokens: usize) -> TestResult<writ_embed::MiniLm> {
    load_in(forward, batch_tokens, writ_embed::Precision::F32)
}

fn load_in(
    forward: writ_embed::Forward,
    batch_tokens: usize,
    precision: writ_embed::Precision,
) -> TestResult<writ_embed::MiniLm> {
    let model = writ_embed::MiniLm::load_with(
        &model_dir(),
        writ_embed::MiniLmOptions {
            workers: 2,
            batch_tokens,
            forward,
            precision,
            ..Default::default()
        },
    )
    .map_err(|e| format!("{e}; the test command fetches models first (models/fetch.sh)"))?;
    assert_eq!(
        model.forward(),
        forward,
        "the requested forward pass was not used"
    );
    Ok(model)
}

#[test]
fn fused_forward_matches_sentence_transformers() -> TestResult<()> {
    if writ_testkit::skip_slow_test() {
        return Ok(());
    }
    matches_reference(load(writ_embed::Forward::Fused, 512)?, 0.999)?;
    Ok(())
}

/// The quality bar for int8: cosine >= 0.99 on every reference row,
/// against sentence-transformers and against writ's own f32 vectors, and
/// the manifest identity says int8.
#[test]
fn int8_forward_stays_close_to_f32() -> TestResult<()> {
    if writ_testkit::skip_slow_test() {
        return Ok(());
    }
    let int8 = load_in(writ_embed::Forward::Fused, 512, writ_embed::Precision::Int8)?;
    assert_eq!(int8.info().precision, writ_embed::Precision::Int8);
    let f32 = load(writ_embed::Forward::Fused, 512)?;
    assert_eq!(f32.info().precision, writ_embed::Precision::F32);
    assert!(
        !int8.info().same_vectors(f32.info()),
        "an int8 index must refuse f32 vectors"
    );
    let worst = matches_reference(int8, 0.99)?;
    eprintln!("int8: least cosine to sentence-transformers {worst:.5}");
    let (texts, _) = reference_rows()?;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let int8 = load_in(writ_embed::Forward::Fused, 512, writ_embed::Precision::Int8)?;
    let (a, b) = (int8.embed(&refs)?, f32.embed(&refs)?);
    for (i, (x, y)) in a.chunks(384).zip(b.chunks(384)).enumerate() {
        let cos: f32 = x.iter().zip(y).map(|(p, q)| p * q).sum();
        assert!(cos >= 0.99, "row {i}: int8 against f32 cosine {cos}");
    }
    Ok(())
}

#[test]
fn candle_forward_matches_sentence_transformers() -> TestResult<()> {
    if writ_testkit::skip_slow_test() {
        return Ok(());
    }
    matches_reference(load(writ_embed::Forward::Candle, 512)?, 0.999)?;
    Ok(())
}

/// writ's fused forward and candle-transformers' `BertModel` give the same
/// vectors on texts of every length up to the cap, batched differently.
#[test]
fn fused_forward_matches_candle_transformers() -> TestResult<()> {
    if writ_testkit::skip_slow_test() {
        return Ok(());
    }
    let fused = load(writ_embed::Forward::Fused, 2048)?;
    let candle = load(writ_embed::Forward::Candle, 700)?;
    let texts: Vec<String> = (0..40)
        .map(|i| {
            (0..i * 7)
                .map(|j| format!("fn f{j}(x: u32) -> u32 {{ x * {i} + {j} }} // ünïcode {j}\n"))
                .collect()
        })
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let a = fused.embed(&refs)?;
    let b = candle.embed(&refs)?;
    let mut worst = 1f32;
    for (x, y) in a.chunks(384).zip(b.chunks(384)) {
        worst = worst.min(x.iter().zip(y).map(|(p, q)| p * q).sum());
    }
    assert!(
        worst >= 0.99999,
        "fused and candle forwards differ: cosine {worst}"
    );
    Ok(())
}

type Rows = (Vec<String>, Vec<serde_json::Value>);

fn reference_rows() -> TestResult<Rows> {
    let data = include_str!("data/all-MiniLM-L6-v2.jsonl");
    let rows: Vec<serde_json::Value> = data
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    assert!(rows.len() >= 10, "reference file too short");
    let texts: Vec<String> = rows
        .iter()
        .map(|r| {
            r["text"]
                .as_str()
                .map(str::to_string)
                .ok_or("row without text")
        })
        .collect::<Result<_, _>>()?;
    Ok((texts, rows))
}

/// Checks every reference row at cosine `least` or more; returns the
/// least cosine seen.
fn matches_reference(model: writ_embed::MiniLm, least: f32) -> TestResult<f32> {
    let (texts, rows) = reference_rows()?;
    let mut worst = 1f32;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    // Batched (and length-sorted inside) exactly as indexing embeds.
    let got = model.embed(&refs)?;
    let dim = model.info().dim;
    assert_eq!(dim, 384);
    for (i, row) in rows.iter().enumerate() {
        let want: Vec<f32> = row["embedding"]
            .as_array()
            .ok_or("row without embedding")?
            .iter()
            .map(|v| v.as_f64().unwrap_or(f64::NAN) as f32)
            .collect();
        let v = &got[i * dim..(i + 1) * dim];
        let dot: f32 = v.iter().zip(&want).map(|(a, b)| a * b).sum();
        let norm = |x: &[f32]| x.iter().map(|a| a * a).sum::<f32>().sqrt();
        let cos = dot / (norm(v) * norm(&want));
        worst = worst.min(cos);
        assert!(
            cos >= least,
            "row {i} ({:?}…): cosine {cos}",
            texts[i].chars().take(40).collect::<String>()
        );
        // One at a time must agree with batched (padding must not leak).
        let single = model.embed(&[refs[i]])?;
        let agree: f32 = single.iter().zip(v).map(|(a, b)| a * b).sum();
        assert!(
            agree >= 0.9999,
            "row {i}: batched and single differ ({agree})"
        );
    }
    Ok(worst)
}

/// A checkpoint the fused pass does not cover (another activation) loads
/// with candle-transformers' model instead of failing or computing the
/// wrong function.
#[test]
fn an_uncovered_checkpoint_falls_back_to_candle_transformers() -> TestResult<()> {
    if writ_testkit::skip_slow_test() {
        return Ok(());
    }
    let dir = std::env::temp_dir().join(format!("writ-embed-relu-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let src = model_dir();
    for name in ["tokenizer.json", "model.safetensors"] {
        let _ = std::fs::remove_file(dir.join(name));
        std::os::unix::fs::symlink(src.join(name), dir.join(name))?;
    }
    let config = std::fs::read_to_string(src.join("config.json"))?;
    assert!(config.contains("\"hidden_act\": \"gelu\""), "{config}");
    std::fs::write(
        dir.join("config.json"),
        config.replace("\"hidden_act\": \"gelu\"", "\"hidden_act\": \"relu\""),
    )?;
    let model = writ_embed::MiniLm::load(&dir)?;
    assert_eq!(model.forward(), writ_embed::Forward::Candle);
    assert_eq!(model.embed(&["fn main() {}"])?.len(), 384);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
