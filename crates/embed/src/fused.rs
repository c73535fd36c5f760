//! writ's own forward pass for BERT encoders, on the weights candle loads.
//!
//! candle-transformers' `BertModel` pads every batch to its longest text,
//! allocates a tensor per operation and spends a fifth of its time in scalar
//! `erf` and `exp`. This forward computes the same function (it is checked
//! against `BertModel` in the tests) with:
//! - no padding: the texts of a batch are laid end to end, the dense layers
//!   run over real tokens only, and attention runs per text and head on
//!   strided views of one fused Q|K|V projection, so no mask is needed;
//! - biases folded into the matmuls, and the residual add into layer norm;
//! - vectorised `exp`/`erf` ([`crate::kernels`]), dispatched with `pulp` to
//!   the widest instruction set the CPU has;
//! - one reusable [`Workspace`] per worker: no allocation per operation.
//!
//! Matmuls go through the `gemm` crate, the kernel candle itself uses on CPU.

use crate::int8::{Kernel, QLinear, QuantRows};
use crate::kernels::{self, Mat};
use candle_core::Tensor;
use std::collections::HashMap;
use writ_core::Precision;

/// A dense layer's weights: f32 (PyTorch layout, `[out, in]`, row-major)
/// or quantised to int8.
enum Dense {
    /// `biased`: `b` has a non-zero entry (an all-zero bias costs no pass).
    F32 {
        w: Vec<f32>,
        b: Vec<f32>,
        biased: bool,
    },
    Int8(QLinear),
}

impl Dense {
    fn new(w: Vec<f32>, b: Vec<f32>, precision: Precision) -> Dense {
        match precision {
            Precision::F32 => Dense::F32 {
                biased: b.iter().any(|&v| v != 0.0),
                w,
                b,
            },
            Precision::Int8 => Dense::Int8(QLinear::new(&w, &b)),
        }
    }

    /// `out = x * w^T + b` for `x` of `rows` rows.
    #[inline(always)]
    fn forward(&self, out: &mut [f32], x: &[f32], rows: usize, q: &mut QuantRows, kernel: Kernel) {
        match self {
            Dense::F32 { w, b, biased } => {
                let (n, k) = (b.len(), w.len() / b.len());
                if *biased {
                    kernels::fill_rows(&mut out[..rows * n], b);
                }
                kernels::matmul(
                    out,
                    n,
                    Mat {
                        data: x,
                        rows,
                        cols: k,
                        rs: k,
                        cs: 1,
                    },
                    Mat {
                        data: w,
                        rows: k,
                        cols: n,
                        rs: 1,
                        cs: k,
                    },
                    *biased,
                    1.0,
                );
            }
            Dense::Int8(l) => l.forward(out, x, rows, q, kernel),
        }
    }
}

/// One encoder layer's weights.
struct Layer {
    /// Query, key and value projections stacked: `[3d, d]`.
    qkv: Dense,
    out: Dense,
    ln1: (Vec<f32>, Vec<f32>),
    /// Without its bias, which the GELU pass adds.
    up: Dense,
    up_b: Vec<f32>,
    down: Dense,
    ln2: (Vec<f32>, Vec<f32>),
}

/// A BERT encoder with mean pooling and L2 normalisation.
pub(crate) struct Encoder {
    word: Vec<f32>,
    position: Vec<f32>,
    token_type: Vec<f32>,
    embed_ln: (Vec<f32>, Vec<f32>),
    layers: Vec<Layer>,
    dim: usize,
    heads: usize,
    inter: usize,
    vocab: usize,
    max_positions: usize,
    eps: f32,
    arch: pulp::Arch,
    kernel: Kernel,
}

/// Buffers reused from batch to batch.
#[derive(Default)]
pub(crate) struct Workspace {
    hidden: Vec<f32>,
    qkv: Vec<f32>,
    context: Vec<f32>,
    delta: Vec<f32>,
    inter: Vec<f32>,
    scores: Vec<f32>,
    quant: QuantRows,
}

fn grow(buf: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if buf.len() < len {
        buf.resize(len, 0.0);
    }
    &mut buf[..len]
}

/// The shape facts [`Encoder::load`] needs from `config.json`.
pub(crate) struct Shape {
    pub dim: usize,
    pub heads: usize,
    pub layers: usize,
    pub inter: usize,
    pub eps: f64,
}

impl Encoder {
    /// Takes the weights of a BERT checkpoint (with or without a `bert.`
    /// prefix). Errors name the missing or misshapen tensor.
    pub(crate) fn load(
        tensors: &HashMap<String, Tensor>,
        shape: &Shape,
        precision: Precision,
    ) -> Result<Encoder, String> {
        let prefix = if tensors.contains_key("bert.embeddings.word_embeddings.weight") {
            "bert."
        } else {
            ""
        };
        let get = |name: &str, dims: &[usize]| -> Result<Vec<f32>, String> {
            let full = format!("{prefix}{name}");
            let t = tensors
                .get(&full)
                .ok_or_else(|| format!("tensor `{full}` is missing"))?;
            if t.dims() != dims {
                return Err(format!(
                    "tensor `{full}` has shape {:?}, expected {dims:?}",
                    t.dims()
                ));
            }
            t.to_dtype(candle_core::DType::F32)
                .and_then(|t| t.flatten_all())
                .and_then(|t| t.to_vec1::<f32>())
                .map_err(|e| format!("tensor `{full}`: {e}"))
        };
        let d = shape.dim;
        if shape.heads == 0 || !d.is_multiple_of(shape.heads) {
            return Err(format!(
                "hidden size {d} is not a multiple of {} heads",
                shape.heads
            ));
        }
        if d == 0 || shape.inter == 0 {
            return Err(format!(
                "hidden size {d} and intermediate size {} must both be positive",
                shape.inter
            ));
        }
        if precision == Precision::Int8 && d.max(shape.inter) > crate::int8::MAX_INPUTS {
            return Err(format!(
                "int8 sums of {} inputs could overflow i32",
                d.max(shape.inter)
            ));
        }
        let word_t = tensors
            .get(&format!("{prefix}embeddings.word_embeddings.weight"))
            .ok_or("tensor `embeddings.word_embeddings.weight` is missing")?;
        let vocab = word_t.dims().first().copied().unwrap_or(0);
        let pos_t = tensors
            .get(&format!("{prefix}embeddings.position_embeddings.weight"))
            .ok_or("tensor `embeddings.position_embeddings.weight` is missing")?;
        let max_positions = pos_t.dims().first().copied().unwrap_or(0);
        let norm = |name: &str| -> Result<(Vec<f32>, Vec<f32>), String> {
            Ok((
                get(&format!("{name}.weight"), &[d])?,
                get(&format!("{name}.bias"), &[d])?,
            ))
        };
        let mut token_type = get("embeddings.token_type_embeddings.weight", &[2, d])
            .or_else(|_| get("embeddings.token_type_embeddings.weight", &[1, d]))?;
        token_type.truncate(d);
        let mut layers = Vec::with_capacity(shape.layers);
        for i in 0..shape.layers {
            let p = format!("encoder.layer.{i}");
            let mut qkv_w = Vec::with_capacity(3 * d * d);
            let mut qkv_b = Vec::with_capacity(3 * d);
            for part in ["query", "key", "value"] {
                qkv_w.extend(get(&format!("{p}.attention.self.{part}.weight"), &[d, d])?);
                qkv_b.extend(get(&format!("{p}.attention.self.{part}.bias"), &[d])?);
            }
            let dense = |w: Vec<f32>, b: Vec<f32>| Dense::new(w, b, precision);
            layers.push(Layer {
                qkv: dense(qkv_w, qkv_b),
                out: dense(
                    get(&format!("{p}.attention.output.dense.weight"), &[d, d])?,
                    get(&format!("{p}.attention.output.dense.bias"), &[d])?,
                ),
                ln1: norm(&format!("{p}.attention.output.LayerNorm"))?,
                up: dense(
                    get(&format!("{p}.intermediate.dense.weight"), &[shape.inter, d])?,
                    vec![0.0; shape.inter],
                ),
                up_b: get(&format!("{p}.intermediate.dense.bias"), &[shape.inter])?,
                down: dense(
                    get(&format!("{p}.output.dense.weight"), &[d, shape.inter])?,
                    get(&format!("{p}.output.dense.bias"), &[d])?,
                ),
                ln2: norm(&format!("{p}.output.LayerNorm"))?,
            });
        }
        Ok(Encoder {
            word: get("embeddings.word_embeddings.weight", &[vocab, d])?,
            position: get("embeddings.position_embeddings.weight", &[max_positions, d])?,
            token_type,
            embed_ln: norm("embeddings.LayerNorm")?,
            layers,
            dim: d,
            heads: shape.heads,
            inter: shape.inter,
            vocab,
            max_positions,
            eps: shape.eps as f32,
            arch: pulp::Arch::new(),
            kernel: Kernel::detect(),
        })
    }

    /// Embeds each token sequence of `texts` (already truncated, special
    /// tokens included): mean pooling over its tokens, L2 normalised.
    /// Returns `texts.len() * dim` floats.
    pub(crate) fn forward(&self, texts: &[&[u32]], ws: &mut Workspace) -> Result<Vec<f32>, String> {
        let d = self.dim;
        let total: usize = texts.iter().map(|t| t.len()).sum();
        for t in texts {
            if t.len() > self.max_positions {
                return Err(format!(
                    "a text of {} tokens exceeds the model's {} positions",
                    t.len(),
                    self.max_positions
                ));
            }
            if let Some(id) = t.iter().find(|&&id| id as usize >= self.vocab) {
                return Err(format!(
                    "token id {id} is outside the vocabulary of {}",
                    self.vocab
                ));
            }
        }
        let longest = texts.iter().map(|t| t.len()).max().unwrap_or(0);
        let Workspace {
            hidden,
            qkv,
            context,
            delta,
            inter,
            scores,
            quant,
        } = ws;
        let hidden = grow(hidden, total * d);
        let qkv = grow(qkv, total * 3 * d);
        let context = grow(context, total * d);
        let delta = grow(delta, total * d);
        let inter = grow(inter, total * self.inter);
        let scores = grow(scores, longest * longest);
        self.arch.dispatch(|| {
            self.embed_tokens(texts, hidden);
            for layer in &self.layers {
                self.layer(
                    layer, texts, hidden, qkv, context, delta, inter, scores, quant,
                );
            }
        });
        Ok(self.pool(texts, hidden))
    }

    #[inline(always)]
    fn embed_tokens(&self, texts: &[&[u32]], hidden: &mut [f32]) {
        let d = self.dim;
        let mut rows = hidden.chunks_exact_mut(d);
        for text in texts {
            for (pos, &id) in text.iter().enumerate() {
                let Some(row) = rows.next() else { return };
                let word = &self.word[id as usize * d..][..d];
                let position = &self.position[pos * d..][..d];
                for (((r, w), p), t) in row.iter_mut().zip(word).zip(position).zip(&self.token_type)
                {
                    *r = w + p + t;
                }
            }
        }
        kernels::layer_norm(hidden, &self.embed_ln.0, &self.embed_ln.1, self.eps);
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "one argument per strided view of the fused kernel"
    )]
    #[inline(always)]
    fn layer(
        &self,
        layer: &Layer,
        texts: &[&[u32]],
        hidden: &mut [f32],
        qkv: &mut [f32],
        context: &mut [f32],
        delta: &mut [f32],
        inter: &mut [f32],
        scores: &mut [f32],
        quant: &mut QuantRows,
    ) {
        let d = self.dim;
        let rows = hidden.len() / d;
        let head = d / self.heads;
        let scale = 1.0 / (head as f32).sqrt();
        layer.qkv.forward(qkv, hidden, rows, quant, self.kernel);
        let mut start = 0;
        for text in texts {
            let len = text.len();
            let q_rows = &qkv[start * 3 * d..];
            for h in 0..self.heads {
                let view = |offset: usize| Mat {
                    data: &q_rows[offset + h * head..],
                    rows: len,
                    cols: head,
                    rs: 3 * d,
                    cs: 1,
                };
                let (q, k, v) = (view(0), view(d), view(2 * d));
                let kt = Mat {
                    rows: head,
                    cols: len,
                    rs: 1,
                    cs: 3 * d,
                    ..k
                };
                let s = &mut scores[..len * len];
                kernels::matmul(s, len, q, kt, false, scale);
                kernels::softmax_rows(s, len);
                let p = Mat {
                    data: s,
                    rows: len,
                    cols: len,
                    rs: len,
                    cs: 1,
                };
                kernels::matmul(&mut context[start * d + h * head..], d, p, v, false, 1.0);
            }
            start += len;
        }
        layer.out.forward(delta, context, rows, quant, self.kernel);
        kernels::residual_layer_norm(hidden, delta, &layer.ln1.0, &layer.ln1.1, self.eps);
        layer.up.forward(inter, hidden, rows, quant, self.kernel);
        kernels::bias_gelu(inter, &layer.up_b);
        layer.down.forward(delta, inter, rows, quant, self.kernel);
        kernels::residual_layer_norm(hidden, delta, &layer.ln2.0, &layer.ln2.1, self.eps);
    }

    fn pool(&self, texts: &[&[u32]], hidden: &[f32]) -> Vec<f32> {
        let d = self.dim;
        let mut out = vec![0f32; texts.len() * d];
        let mut start = 0;
        for (text, dst) in texts.iter().zip(out.chunks_exact_mut(d)) {
            for row in hidden[start * d..(start + text.len()) * d].chunks_exact(d) {
                for (o, v) in dst.iter_mut().zip(row) {
                    *o += v;
                }
            }
            start += text.len();
            let n = text.len().max(1) as f32;
            let norm = dst
                .iter()
                .map(|v| (v / n) * (v / n))
                .sum::<f32>()
                .sqrt()
                .max(1e-12);
            for o in dst.iter_mut() {
                *o = *o / n / norm;
            }
        }
        out
    }
}
