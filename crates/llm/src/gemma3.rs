//! Gemma 3 on candle's quantized matmuls, written for writ.
//!
//! candle-transformers 0.11's `quantized_gemma3` is wrong for these files
//! in three ways, each checked against llama.cpp on the pinned Gemma 3
//! 270M (tests/gemma.rs): its feed-forward uses SiLU where Gemma uses
//! tanh-approximated GELU (logits differ by several units, greedy text
//! diverges at the second token); its sliding-window layers attend to the
//! whole cache once a decode step has no mask (past 512 tokens the
//! local layers see too far); and it builds rotary tables for 131,072
//! positions in every layer (about 2.4 GB). Here the GELU is right, a
//! local layer's cache keeps only its window, the two rotary tables
//! (local and global frequency) are shared and sized to the context, and
//! the token embedding stays quantized (rows are decoded on lookup)
//! instead of taking 670 MB as f32.

use crate::blocks::{attend, mask, metadata, Embedding, KvCache, Rope, Stepper};
use crate::linear::Linear;
use candle_core::quantized::{gguf_file, QMatMul, QTensor};
use candle_core::{Device, IndexOp, Module, Result, Tensor};
use candle_transformers::quantized_nn::RmsNorm;
use std::io::{Read, Seek};

/// Most layers a file may declare.
const MAX_BLOCKS: usize = 512;
/// Every sixth layer is global; the others see a local window.
const DEFAULT_PATTERN: usize = 6;
const DEFAULT_LOCAL_BASE: f32 = 10_000.0;
const DEFAULT_GLOBAL_BASE: f32 = 1_000_000.0;

struct Layer {
    wq: Linear,
    wk: Linear,
    wv: Linear,
    wo: Linear,
    q_norm: RmsNorm,
    k_norm: RmsNorm,
    attn_norm: RmsNorm,
    post_attn_norm: RmsNorm,
    ffn_norm: RmsNorm,
    post_ffn_norm: RmsNorm,
    gate: Linear,
    up: Linear,
    down: Linear,
    /// `Some(window)` for a local layer.
    window: Option<usize>,
    cache: KvCache,
}

/// Gemma 3 weights and state (the KV cache).
pub(crate) struct Gemma3 {
    embedding: Embedding,
    scale: f64,
    layers: Vec<Layer>,
    norm: RmsNorm,
    output: QMatMul,
    local: Rope,
    global: Rope,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    device: Device,
    /// The position the next token takes (`usize::MAX` after a failed
    /// call: only a fresh start at 0 is accepted then).
    next: usize,
}

impl Gemma3 {
    /// Reads the model from a GGUF file; `positions` bounds the rotary
    /// tables (the context the caller will use).
    pub(crate) fn from_gguf<R: Read + Seek>(
        content: &gguf_file::Content,
        reader: &mut R,
        positions: usize,
        device: &Device,
    ) -> Result<Gemma3> {
        let md = |k: &str| metadata(content, "gemma3", k);
        let heads = md("attention.head_count")?.to_u32()? as usize;
        let kv_heads = md("attention.head_count_kv")?.to_u32()? as usize;
        let blocks = md("block_count")?.to_u32()? as usize;
        let width = md("embedding_length")?.to_u32()? as usize;
        let head_dim = md("attention.key_length")?.to_u32()? as usize;
        let eps = f64::from(md("attention.layer_norm_rms_epsilon")?.to_f32()?);
        let window = md("attention.sliding_window")?.to_u32()? as usize;
        let pattern = md("attention.sliding_window_type")
            .and_then(|v| v.to_u32())
            .map_or(DEFAULT_PATTERN, |v| v as usize)
            .max(1);
        let global_base = md("rope.freq_base")
            .and_then(|v| v.to_f32())
            .unwrap_or(DEFAULT_GLOBAL_BASE);
        let local_base = md("rope.local_freq_base")
            .and_then(|v| v.to_f32())
            .unwrap_or(DEFAULT_LOCAL_BASE);
        // The file's numbers size what is allocated here: bounded before use.
        if heads == 0 || kv_heads == 0 || !heads.is_multiple_of(kv_heads) {
            candle_core::bail!("gemma3: {heads} heads over {kv_heads} KV heads");
        }
        if blocks == 0 || blocks > MAX_BLOCKS {
            candle_core::bail!("gemma3: {blocks} blocks (at most {MAX_BLOCKS})");
        }
        if window == 0 {
            candle_core::bail!("gemma3: a sliding window of 0 tokens");
        }
        if head_dim == 0 || !head_dim.is_multiple_of(2) || head_dim > 1024 {
            candle_core::bail!("gemma3: a head dimension of {head_dim}");
        }
        let mut tensor = |name: &str| content.tensor(reader, name, device);
        let norm = |q: QTensor| RmsNorm::from_qtensor(q, eps);
        let embd = tensor("token_embd.weight")?;
        let embedding = Embedding::new(&embd, device)?;
        let output = match tensor("output.weight") {
            Ok(q) => q,
            Err(_) => embd,
        };
        let mut layers = Vec::new();
        for i in 0..blocks {
            let mut t = |n: &str| tensor(&format!("blk.{i}.{n}.weight"));
            let mm = Linear::new;
            layers.push(Layer {
                wq: mm(t("attn_q")?)?,
                wk: mm(t("attn_k")?)?,
                wv: mm(t("attn_v")?)?,
                wo: mm(t("attn_output")?)?,
                q_norm: norm(t("attn_q_norm")?)?,
                k_norm: norm(t("attn_k_norm")?)?,
                attn_norm: norm(t("attn_norm")?)?,
                post_attn_norm: norm(t("post_attention_norm")?)?,
                ffn_norm: norm(t("ffn_norm")?)?,
                post_ffn_norm: norm(t("post_ffw_norm")?)?,
                gate: mm(t("ffn_gate")?)?,
                up: mm(t("ffn_up")?)?,
                down: mm(t("ffn_down")?)?,
                window: ((i + 1) % pattern != 0).then_some(window),
                cache: KvCache::default(),
            });
        }
        let norm = norm(tensor("output_norm.weight")?)?;
        Ok(Gemma3 {
            embedding,
            scale: (width as f64).sqrt(),
            layers,
            norm,
            output: QMatMul::from_qtensor(output)?,
            local: Rope::new(head_dim, local_base, positions, false, None, device)?,
            global: Rope::new(head_dim, global_base, positions, false, None, device)?,
            heads,
            kv_heads,
            head_dim,
            device: device.clone(),
            next: 0,
        })
    }

    fn run_at(&mut self, x: &Tensor, start: usize) -> Result<Tensor> {
        let (batch, len) = x.dims2()?;
        if batch != 1 {
            candle_core::bail!("gemma3: one sequence at a time");
        }
        let ids = x.flatten_all()?.to_vec1::<u32>()?;
        let mut h = (self.embedding.forward(&ids, &self.device)? * self.scale)?.unsqueeze(0)?;
        for i in 0..self.layers.len() {
            let residual = h.clone();
            let layer = &self.layers[i];
            let a = layer.attn_norm.forward(&h)?;
            let a = self.attention(i, &a, start)?;
            let layer = &self.layers[i];
            let a = layer.post_attn_norm.forward(&a)?;
            let h1 = (a + residual)?;
            let f = layer.ffn_norm.forward(&h1)?;
            let f = (layer.gate.forward(&f)?.gelu()? * layer.up.forward(&f)?)?;
            let f = layer.post_ffn_norm.forward(&layer.down.forward(&f)?)?;
            h = (f + h1)?;
        }
        let last = h.i((.., len - 1, ..))?;
        self.output.forward(&self.norm.forward(&last)?)
    }

    fn attention(&mut self, i: usize, x: &Tensor, start: usize) -> Result<Tensor> {
        let (b, len, _) = x.dims3()?;
        let (heads, kv_heads, hd) = (self.heads, self.kv_heads, self.head_dim);
        let layer = &mut self.layers[i];
        let shape = |t: Tensor, n: usize| t.reshape((b, len, n, hd))?.transpose(1, 2);
        let q = layer
            .q_norm
            .forward(&shape(layer.wq.forward(x)?, heads)?.contiguous()?)?;
        let k = layer
            .k_norm
            .forward(&shape(layer.wk.forward(x)?, kv_heads)?.contiguous()?)?;
        let v = shape(layer.wv.forward(x)?, kv_heads)?.contiguous()?;
        let rope = if layer.window.is_some() {
            &self.local
        } else {
            &self.global
        };
        let q = rope.apply(&q, start)?;
        let k = rope.apply(&k, start)?;
        let (k, v) = layer.cache.append(&k, &v)?;
        let past = k.dim(2)? - len;
        // The positions the keys hold: past + len of them, ending at start + len.
        let first = start + len - k.dim(2)?;
        let mask = mask(len, past, first, start, layer.window, &self.device)?;
        let out = attend(&q, &k, &v, mask.as_ref())?;
        // A local layer never looks further back than its window again.
        if let Some(w) = layer.window {
            layer.cache.keep_last(w - 1)?;
        }
        layer.wo.forward(&out)
    }
}

impl Stepper for Gemma3 {
    fn next_mut(&mut self) -> &mut usize {
        &mut self.next
    }

    fn clear_caches(&mut self) {
        for l in &mut self.layers {
            l.cache.clear();
        }
    }

    fn run(&mut self, x: &Tensor, start: usize) -> Result<Tensor> {
        self.run_at(x, start)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail by panicking")]
    use super::*;

    fn seen(
        len: usize,
        past: usize,
        first: usize,
        start: usize,
        w: Option<usize>,
    ) -> Vec<Vec<bool>> {
        match mask(len, past, first, start, w, &Device::Cpu).unwrap() {
            None => vec![vec![true; past + len]; len],
            Some(m) => m
                .squeeze(0)
                .unwrap()
                .squeeze(0)
                .unwrap()
                .to_vec2::<f32>()
                .unwrap()
                .into_iter()
                .map(|r| r.into_iter().map(|x| x == 0.0).collect())
                .collect(),
        }
    }

    /// A file's numbers are bounded before they size anything: a hostile
    /// header fails to load instead of allocating terabytes.
    #[test]
    fn hostile_metadata_is_refused_before_anything_is_allocated() {
        use gguf_file::Value as V;
        let load = |blocks: u32, window: u32| {
            let meta: Vec<(String, V)> = vec![
                ("gemma3.attention.head_count".into(), V::U32(4)),
                ("gemma3.attention.head_count_kv".into(), V::U32(1)),
                ("gemma3.block_count".into(), V::U32(blocks)),
                ("gemma3.embedding_length".into(), V::U32(640)),
                ("gemma3.attention.key_length".into(), V::U32(256)),
                (
                    "gemma3.attention.layer_norm_rms_epsilon".into(),
                    V::F32(1e-6),
                ),
                ("gemma3.attention.sliding_window".into(), V::U32(window)),
            ];
            let refs: Vec<(&str, &V)> = meta.iter().map(|(k, v)| (k.as_str(), v)).collect();
            let mut buf = std::io::Cursor::new(Vec::new());
            gguf_file::write(&mut buf, &refs, &[]).unwrap();
            buf.set_position(0);
            let content = gguf_file::Content::read(&mut buf).unwrap();
            Gemma3::from_gguf(&content, &mut buf, 1024, &Device::Cpu)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert!(load(u32::MAX, 512).contains("blocks"));
        assert!(load(0, 512).contains("blocks"));
        assert!(load(18, 0).contains("window"));
        // Sane numbers get as far as the (missing) tensors.
        assert!(load(18, 512).contains("token_embd"), "{}", load(18, 512));
    }

    #[test]
    fn masks_are_causal_and_local_layers_see_their_window() {
        // Prefill of 4 from empty: lower triangle.
        let g = seen(4, 0, 0, 0, None);
        assert_eq!(g[0], [true, false, false, false]);
        assert_eq!(g[3], [true, true, true, true]);
        // A window of 2: the query at 3 sees 2 and 3 only.
        let l = seen(4, 0, 0, 0, Some(2));
        assert_eq!(l[3], [false, false, true, true]);
        // One decode step over a trimmed cache of 1 (positions 9, 10): all seen.
        assert!(seen(1, 1, 9, 10, Some(2)).iter().flatten().all(|&s| s));
    }
}
