//! Pieces the decoder forwards share: rotary tables, a token embedding
//! that stays quantized, and the attention mask.

use candle_core::quantized::{gguf_file, GgmlDType, QTensor};
use candle_core::{DType, Device, Result, Tensor};

/// Cos and sin tables for rotary embeddings at one base frequency.
pub(crate) struct Rope {
    /// Pairs `(2i, 2i+1)` (llama.cpp's "norm" rope, Llama) rather than
    /// `(i, i + d/2)` ("neox": Gemma, Qwen, Phi).
    interleaved: bool,
    cos: Tensor,
    sin: Tensor,
}

impl Rope {
    pub(crate) fn new(
        head_dim: usize,
        base: f32,
        positions: usize,
        interleaved: bool,
        factors: Option<&[f32]>,
        device: &Device,
    ) -> Result<Rope> {
        let mut inv: Vec<f32> = (0..head_dim)
            .step_by(2)
            .map(|i| 1.0 / base.powf(i as f32 / head_dim as f32))
            .collect();
        // Llama 3.1's long-context scaling, as the file states it
        // (`rope_freqs.weight`): each frequency divided by its factor.
        if let Some(f) = factors {
            if f.len() != inv.len() || f.iter().any(|x| !x.is_finite() || *x <= 0.0) {
                candle_core::bail!(
                    "rope_freqs: {} factors for {} frequencies",
                    f.len(),
                    inv.len()
                );
            }
            for (i, x) in inv.iter_mut().zip(f) {
                *i /= x;
            }
        }
        let inv = Tensor::new(inv.as_slice(), device)?.reshape((1, head_dim / 2))?;
        let pos = Tensor::arange(0, positions as u32, device)?
            .to_dtype(DType::F32)?
            .reshape((positions, 1))?;
        let angles = pos.matmul(&inv)?;
        Ok(Rope {
            interleaved,
            cos: angles.cos()?,
            sin: angles.sin()?,
        })
    }

    pub(crate) fn apply(&self, x: &Tensor, start: usize) -> Result<Tensor> {
        let len = x.dim(2)?;
        let cos = self.cos.narrow(0, start, len)?;
        let sin = self.sin.narrow(0, start, len)?;
        if self.interleaved {
            candle_nn::rotary_emb::rope_i(&x.contiguous()?, &cos, &sin)
        } else {
            candle_nn::rotary_emb::rope(&x.contiguous()?, &cos, &sin)
        }
    }
}

/// The token embedding, kept in its file's encoding where rows can be
/// decoded one by one (Q8_0), else decoded whole.
pub(crate) enum Embedding {
    Q8 { data: Vec<u8>, dim: usize },
    Dense(Tensor),
}

/// Bytes of one Q8_0 block: an f16 scale and 32 signed bytes.
const Q8_BLOCK: usize = 34;

impl Embedding {
    pub(crate) fn new(q: &QTensor, device: &Device) -> Result<Embedding> {
        let dim = q.shape().dims().last().copied().unwrap_or(0);
        if q.dtype() == GgmlDType::Q8_0 && dim % 32 == 0 && device.is_cpu() {
            Ok(Embedding::Q8 {
                data: q.data()?.into_owned(),
                dim,
            })
        } else {
            Ok(Embedding::Dense(q.dequantize(device)?))
        }
    }

    pub(crate) fn forward(&self, ids: &[u32], device: &Device) -> Result<Tensor> {
        match self {
            Embedding::Dense(t) => {
                let ids = Tensor::new(ids, device)?;
                t.index_select(&ids, 0)
            }
            Embedding::Q8 { data, dim } => {
                let row_bytes = dim / 32 * Q8_BLOCK;
                let mut out = Vec::with_capacity(ids.len() * dim);
                for &id in ids {
                    let start = id as usize * row_bytes;
                    let row = data.get(start..start + row_bytes).ok_or_else(|| {
                        candle_core::Error::Msg(format!("token id {id} is outside the vocabulary"))
                    })?;
                    for block in row.chunks_exact(Q8_BLOCK) {
                        let scale = half::f16::from_le_bytes([block[0], block[1]]).to_f32();
                        out.extend(block[2..].iter().map(|&q| f32::from(q as i8) * scale));
                    }
                }
                Tensor::from_vec(out, (ids.len(), *dim), device)
            }
        }
    }
}

/// The metadata value `{arch}.{key}` of a GGUF header, or an error naming
/// the missing key.
pub(crate) fn metadata<'c>(
    content: &'c gguf_file::Content,
    arch: &str,
    key: &str,
) -> Result<&'c gguf_file::Value> {
    content
        .metadata
        .get(&format!("{arch}.{key}"))
        .ok_or_else(|| candle_core::Error::Msg(format!("the GGUF has no {arch}.{key}")))
}

/// The additive mask for `len` queries at positions `start..start+len`
/// over keys at positions `first..start+len`: a key is seen when it is not
/// in the future and, in a local layer, less than `window` back. `None`
/// when every key is seen.
pub(crate) fn mask(
    len: usize,
    past: usize,
    first: usize,
    start: usize,
    window: Option<usize>,
    device: &Device,
) -> Result<Option<Tensor>> {
    let keys = past + len;
    let seen = |qi: usize, kj: usize| {
        let (qp, kp) = (start + qi, first + kj);
        kp <= qp && window.is_none_or(|w| qp - kp < w)
    };
    let all = (0..len).all(|qi| (0..keys).all(|kj| seen(qi, kj)));
    if all {
        return Ok(None);
    }
    let m: Vec<f32> = (0..len)
        .flat_map(|qi| (0..keys).map(move |kj| if seen(qi, kj) { 0.0 } else { f32::NEG_INFINITY }))
        .collect();
    Tensor::from_vec(m, (len, keys), device)
        .map(|t| t.unsqueeze(0).and_then(|t| t.unsqueeze(0)))?
        .map(Some)
}

/// A layer's keys and values, `[1, kv_heads, positions, head_dim]`, in a
/// buffer that grows by doubling: a decode step writes its one position
/// in place instead of copying the whole cache (as concatenation does).
#[derive(Default)]
pub(crate) struct KvCache {
    k: Option<Tensor>,
    v: Option<Tensor>,
    len: usize,
}

impl KvCache {
    /// Appends `k` and `v` (`[1, kv_heads, new, head_dim]`) and returns
    /// views of everything cached.
    pub(crate) fn append(&mut self, k: &Tensor, v: &Tensor) -> Result<(Tensor, Tensor)> {
        let new = k.dim(2)?;
        let need = self.len + new;
        let cap = self.k.as_ref().map_or(0, |t| t.dim(2).unwrap_or(0));
        if need > cap {
            let grown = need.max(cap * 2).max(256);
            let (b, h, _, d) = k.dims4()?;
            let fresh = |old: &Option<Tensor>| -> Result<Tensor> {
                let t = Tensor::zeros((b, h, grown, d), k.dtype(), k.device())?;
                if let Some(old) = old {
                    if self.len > 0 {
                        t.slice_set(&old.narrow(2, 0, self.len)?.contiguous()?, 2, 0)?;
                    }
                }
                Ok(t)
            };
            self.k = Some(fresh(&self.k)?);
            self.v = Some(fresh(&self.v)?);
        }
        let (Some(ck), Some(cv)) = (&self.k, &self.v) else {
            candle_core::bail!("kv cache: no buffer");
        };
        ck.slice_set(&k.contiguous()?, 2, self.len)?;
        cv.slice_set(&v.contiguous()?, 2, self.len)?;
        self.len = need;
        Ok((ck.narrow(2, 0, need)?, cv.narrow(2, 0, need)?))
    }

    /// Keeps only the last `keep` positions (a sliding-window layer).
    pub(crate) fn keep_last(&mut self, keep: usize) -> Result<()> {
        if self.len <= keep {
            return Ok(());
        }
        let from = self.len - keep;
        for t in [&mut self.k, &mut self.v].into_iter().flatten() {
            // A copy: a view of the same buffer cannot be written into it.
            let tail = t.narrow(2, from, keep)?.copy()?;
            t.slice_set(&tail, 2, 0)?;
        }
        self.len = keep;
        Ok(())
    }

    /// Empties the cache (its buffer is kept for the next generation).
    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }
}

/// Grouped-query attention without copying keys and values per query
/// head: `q` is `[1, heads, len, d]`, `k` and `v` `[1, kv_heads, n, d]`
/// (heads `g*rep .. g*rep+rep` share group `g`, as llama.cpp lays them
/// out), `mask` an additive `[len, n]`. Returns `[1, len, heads * d]`.
pub(crate) fn attend(q: &Tensor, k: &Tensor, v: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
    let (b, heads, len, d) = q.dims4()?;
    let (_, kv_heads, n, _) = k.dims4()?;
    let rep = heads / kv_heads.max(1);
    let q = q.contiguous()?.reshape((b, kv_heads, rep * len, d))?;
    let scores = (q.matmul(&k.t()?)? / (d as f64).sqrt())?;
    let scores = match mask {
        Some(m) => scores
            .reshape((b, kv_heads, rep, len, n))?
            .broadcast_add(&m.reshape((len, n))?)?
            .reshape((b, kv_heads, rep * len, n))?,
        None => scores,
    };
    let p = candle_nn::ops::softmax_last_dim(&scores)?;
    p.matmul(v)?
        .reshape((b, heads, len, d))?
        .transpose(1, 2)?
        .reshape((b, len, heads * d))
}

/// A decoder that keeps a KV cache: the position rule both of writ's own
/// forwards follow, in one place.
pub(crate) trait Stepper {
    /// The position the next token takes (`usize::MAX` after a failed
    /// call: only a fresh start at 0 is accepted then).
    fn next_mut(&mut self) -> &mut usize;

    /// Empties every layer's cache.
    fn clear_caches(&mut self);

    /// The forward pass proper, at a position [`Stepper::forward`] checked.
    fn run(&mut self, x: &Tensor, start: usize) -> Result<Tensor>;

    /// Drops the KV cache.
    fn clear_kv_cache(&mut self) {
        self.clear_caches();
        *self.next_mut() = 0;
    }

    /// Logits of the token after `x` (shape `[1, len]`), whose first token
    /// is at position `start`: 0 (a fresh start) or where the cache ends.
    /// A failed call leaves the cache empty, never half-written.
    fn forward(&mut self, x: &Tensor, start: usize) -> Result<Tensor> {
        if start == 0 {
            self.clear_kv_cache();
        } else if start != *self.next_mut() {
            candle_core::bail!(
                "position {start} does not follow the cache (next is {})",
                *self.next_mut()
            );
        }
        let out = self.run(x, start);
        match &out {
            Ok(_) => *self.next_mut() = start + x.dim(1)?,
            Err(_) => {
                self.clear_kv_cache();
                *self.next_mut() = usize::MAX;
            }
        }
        out
    }
}
