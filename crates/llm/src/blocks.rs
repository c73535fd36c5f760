//! Pieces the decoder forwards share: rotary tables, a token embedding
//! that stays quantized, and the attention mask.

use candle_core::quantized::{GgmlDType, QTensor};
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
        device: &Device,
    ) -> Result<Rope> {
        let inv: Vec<f32> = (0..head_dim)
            .step_by(2)
            .map(|i| 1.0 / base.powf(i as f32 / head_dim as f32))
            .collect();
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
