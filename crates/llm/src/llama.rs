//! The dense llama family (Llama 2/3, SmolLM) and Qwen2, on candle ops
//! with writ's batch-aware weights ([`Linear`]): a prompt runs through
//! f32 GEMM, single tokens through quantized dot products. The token
//! embedding stays quantized where rows can be decoded one by one.
//! Mixtures of experts are left to candle's own model.

use crate::blocks::{attend, mask, metadata, Embedding, KvCache, Rope, Stepper};
use crate::linear::Linear;
use candle_core::quantized::{gguf_file, QMatMul};
use candle_core::{Device, IndexOp, Module, Result, Tensor};
use candle_transformers::quantized_nn::RmsNorm;
use std::io::{Read, Seek};

/// Most layers a file may declare.
const MAX_BLOCKS: usize = 512;

struct Layer {
    wq: Linear,
    wk: Linear,
    wv: Linear,
    wo: Linear,
    /// Qwen2's query, key and value biases.
    bias: Option<(Tensor, Tensor, Tensor)>,
    attn_norm: RmsNorm,
    ffn_norm: RmsNorm,
    gate: Linear,
    up: Linear,
    down: Linear,
    cache: KvCache,
}

/// Weights and state (the KV cache) of a llama-family model.
pub(crate) struct Llama {
    embedding: Embedding,
    layers: Vec<Layer>,
    norm: RmsNorm,
    output: QMatMul,
    rope: Rope,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    device: Device,
    /// The position the next token takes (`usize::MAX` after a failed
    /// call: only a fresh start at 0 is accepted then).
    next: usize,
}

impl Llama {
    /// Whether writ's forward runs this file (`arch` is `llama` or
    /// `qwen2`, without experts).
    pub(crate) fn runs(content: &gguf_file::Content, arch: &str) -> bool {
        let experts = content
            .metadata
            .get(&format!("{arch}.expert_count"))
            .and_then(|v| v.to_u32().ok())
            .unwrap_or(0);
        matches!(arch, "llama" | "qwen2") && experts <= 1
    }

    /// Reads the model of architecture `arch` from a GGUF file; `positions`
    /// bounds the rotary tables.
    pub(crate) fn from_gguf<R: Read + Seek>(
        arch: &str,
        content: &gguf_file::Content,
        reader: &mut R,
        positions: usize,
        device: &Device,
    ) -> Result<Llama> {
        let md = |k: &str| metadata(content, arch, k);
        let heads = md("attention.head_count")?.to_u32()? as usize;
        let kv_heads = md("attention.head_count_kv")?.to_u32()? as usize;
        let blocks = md("block_count")?.to_u32()? as usize;
        let width = md("embedding_length")?.to_u32()? as usize;
        let eps = f64::from(md("attention.layer_norm_rms_epsilon")?.to_f32()?);
        let base = md("rope.freq_base")
            .and_then(|v| v.to_f32())
            .unwrap_or(10_000.0);
        if heads == 0 || kv_heads == 0 || !heads.is_multiple_of(kv_heads) {
            candle_core::bail!("{arch}: {heads} heads over {kv_heads} KV heads");
        }
        if blocks == 0 || blocks > MAX_BLOCKS {
            candle_core::bail!("{arch}: {blocks} blocks (at most {MAX_BLOCKS})");
        }
        if !width.is_multiple_of(heads) {
            candle_core::bail!("{arch}: a width of {width} over {heads} heads");
        }
        let head_dim = width / heads;
        let rope_dim = md("rope.dimension_count")
            .and_then(|v| v.to_u32())
            .map_or(head_dim, |v| v as usize);
        if rope_dim != head_dim || head_dim == 0 || !head_dim.is_multiple_of(2) {
            candle_core::bail!("{arch}: rotary dimension {rope_dim} for heads of {head_dim}");
        }
        let mut tensor = |name: &str| content.tensor(reader, name, device);
        let factors = if content.tensor_infos.contains_key("rope_freqs.weight") {
            Some(
                tensor("rope_freqs.weight")?
                    .dequantize(device)?
                    .flatten_all()?
                    .to_vec1::<f32>()?,
            )
        } else {
            None
        };
        let embd = tensor("token_embd.weight")?;
        let embedding = Embedding::new(&embd, device)?;
        let output = match tensor("output.weight") {
            Ok(q) => q,
            Err(_) => embd,
        };
        let mut layers = Vec::new();
        for i in 0..blocks {
            let mut t = |n: &str| tensor(&format!("blk.{i}.{n}"));
            let bias = if arch == "qwen2" {
                let mut b = |n: &str| t(n).and_then(|q| q.dequantize(device));
                Some((b("attn_q.bias")?, b("attn_k.bias")?, b("attn_v.bias")?))
            } else {
                None
            };
            layers.push(Layer {
                wq: Linear::new(t("attn_q.weight")?)?,
                wk: Linear::new(t("attn_k.weight")?)?,
                wv: Linear::new(t("attn_v.weight")?)?,
                wo: Linear::new(t("attn_output.weight")?)?,
                bias,
                attn_norm: RmsNorm::from_qtensor(t("attn_norm.weight")?, eps)?,
                ffn_norm: RmsNorm::from_qtensor(t("ffn_norm.weight")?, eps)?,
                gate: Linear::new(t("ffn_gate.weight")?)?,
                up: Linear::new(t("ffn_up.weight")?)?,
                down: Linear::new(t("ffn_down.weight")?)?,
                cache: KvCache::default(),
            });
        }
        let norm = RmsNorm::from_qtensor(tensor("output_norm.weight")?, eps)?;
        Ok(Llama {
            embedding,
            layers,
            norm,
            output: QMatMul::from_qtensor(output)?,
            // llama.cpp's mapping: Llama's weights are laid out for
            // interleaved pairs, Qwen's for halves.
            rope: Rope::new(
                head_dim,
                base,
                positions,
                arch == "llama",
                factors.as_deref(),
                device,
            )?,
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
            candle_core::bail!("one sequence at a time");
        }
        let ids = x.flatten_all()?.to_vec1::<u32>()?;
        let mut h = self.embedding.forward(&ids, &self.device)?.unsqueeze(0)?;
        for i in 0..self.layers.len() {
            let a = self.layers[i].attn_norm.forward(&h)?;
            let a = self.attention(i, &a, start)?;
            let h1 = (a + &h)?;
            let layer = &self.layers[i];
            let f = layer.ffn_norm.forward(&h1)?;
            let f = (candle_nn::ops::silu(&layer.gate.forward(&f)?)? * layer.up.forward(&f)?)?;
            h = (layer.down.forward(&f)? + h1)?;
        }
        let last = h.i((.., len - 1, ..))?;
        self.output.forward(&self.norm.forward(&last)?)
    }

    fn attention(&mut self, i: usize, x: &Tensor, start: usize) -> Result<Tensor> {
        let (b, len, _) = x.dims3()?;
        let (heads, kv_heads, hd) = (self.heads, self.kv_heads, self.head_dim);
        let layer = &mut self.layers[i];
        let (mut q, mut k, mut v) = (
            layer.wq.forward(x)?,
            layer.wk.forward(x)?,
            layer.wv.forward(x)?,
        );
        if let Some((bq, bk, bv)) = &layer.bias {
            q = q.broadcast_add(bq)?;
            k = k.broadcast_add(bk)?;
            v = v.broadcast_add(bv)?;
        }
        let shape = |t: Tensor, n: usize| t.reshape((b, len, n, hd))?.transpose(1, 2);
        let q = self.rope.apply(&shape(q, heads)?, start)?;
        let k = self.rope.apply(&shape(k, kv_heads)?, start)?;
        let v = shape(v, kv_heads)?;
        let (k, v) = layer.cache.append(&k, &v.contiguous()?)?;
        let past = k.dim(2)? - len;
        let mask = mask(len, past, start - past, start, None, &self.device)?;
        let out = attend(&q, &k, &v, mask.as_ref())?;
        layer.wo.forward(&out)
    }
}

impl Stepper for Llama {
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
