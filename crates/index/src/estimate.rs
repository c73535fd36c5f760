//! `writ index --estimate`: how big a first (or next) index run is and
//! roughly how long it takes, before committing hours to it. The tree is
//! walked and chunked as `run` would (one file at a time, nothing kept
//! but counts and a fixed-size sample), the chunks whose vectors the index
//! already holds are set aside, and a sample of the rest is embedded and
//! timed. Nothing is written.

use crate::indexer::{embed_text, Indexer};
use crate::store::Catalog;
use crate::walk::{read_walked, walk};
use crate::Result;
use serde::Serialize;
use std::collections::HashSet;
use std::time::Instant;

/// Chunks embedded to time the model, at most.
pub const SAMPLE_CHUNKS: usize = 64;

/// What an index run would do, and a measured guess of its time.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Estimate {
    /// Files the walk would index.
    pub files: usize,
    /// Chunks they cut into.
    pub chunks: usize,
    /// Tokens of those chunks as embedded (headers included, truncation
    /// applied).
    pub tokens: u64,
    /// Chunks whose vectors the index does not hold yet (all of them
    /// without an index, or when its model differs).
    pub to_embed: usize,
    /// Their tokens.
    pub tokens_to_embed: u64,
    /// Chunks embedded to time the model.
    pub sample_chunks: usize,
    /// Tokens per second the model embedded the sample at (0 without one).
    pub tokens_per_second: f64,
    /// Estimated embedding time for `to_embed`, seconds (walking, chunking
    /// and writing add to it; embedding is most of a first run).
    pub embed_seconds: f64,
    /// Seconds this estimate took to walk and chunk the tree.
    pub scan_seconds: f64,
}

impl Indexer<'_> {
    /// Walks and chunks the tree without writing anything, and times the
    /// model on a sample of the chunks still to embed.
    pub fn estimate(&self) -> Result<Estimate> {
        let started = Instant::now();
        let known = self.known_vectors()?;
        let walked = walk(&self.root, Some(&self.dir), &self.options.walk);
        let max_tokens = self.embedder.info().max_tokens;
        let mut e = Estimate::default();
        // A reservoir of texts to time, chosen evenly over the whole tree
        // by a fixed pseudo-random sequence (the same tree, the same sample).
        let mut sample: Vec<(String, u64)> = Vec::with_capacity(SAMPLE_CHUNKS);
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        for file in &walked.files {
            let Ok(Some(bytes)) = read_walked(&file.abs, self.options.walk.max_file_size) else {
                continue;
            };
            e.files += 1;
            let update = self.chunk(file, &bytes, String::new());
            for chunk in &update.chunks {
                let text = embed_text(&file.rel, chunk);
                let tokens = self.embedder.count_tokens(&text).min(max_tokens) as u64;
                e.chunks += 1;
                e.tokens += tokens;
                if known.contains(&chunk.content_hash) {
                    continue;
                }
                e.to_embed += 1;
                e.tokens_to_embed += tokens;
                if sample.len() < SAMPLE_CHUNKS {
                    sample.push((text, tokens));
                } else {
                    state = splitmix(state);
                    let slot = (state % e.to_embed as u64) as usize;
                    if let Some(s) = sample.get_mut(slot) {
                        *s = (text, tokens);
                    }
                }
            }
        }
        e.scan_seconds = started.elapsed().as_secs_f64();
        if !sample.is_empty() {
            let texts: Vec<&str> = sample.iter().map(|(t, _)| t.as_str()).collect();
            let timer = Instant::now();
            self.embedder.embed(&texts)?;
            let seconds = timer.elapsed().as_secs_f64().max(1e-6);
            let tokens: u64 = sample.iter().map(|(_, n)| n).sum();
            e.sample_chunks = sample.len();
            e.tokens_per_second = tokens as f64 / seconds;
            e.embed_seconds = e.tokens_to_embed as f64 / e.tokens_per_second.max(1e-6);
        }
        Ok(e)
    }

    /// The content hashes the index already holds vectors for, when it was
    /// built with this embedder; empty otherwise.
    fn known_vectors(&self) -> Result<HashSet<String>> {
        if !self.dir.join(crate::CATALOG_FILE).exists() {
            return Ok(HashSet::new());
        }
        let catalog = Catalog::open_read_only(&self.dir)?;
        let same_model = catalog
            .manifest()?
            .is_some_and(|m| m.model.same_vectors(self.embedder.info()));
        if same_model {
            catalog.vector_hashes()
        } else {
            Ok(HashSet::new())
        }
    }
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
