//! A quantized weight that picks its matmul by batch size.
//!
//! One token at a time (decoding), candle's quantized dot products read
//! the weight in its compact encoding: memory traffic is what limits
//! them. A whole prompt at once (prefill) is compute: there, decoding the
//! weight to f32 once and running candle's blocked f32 GEMM over every
//! row is 2-3x faster on this CPU than one quantized dot product per row
//! pair (measured in `writ bench llm`). The f32 copy of one weight lives
//! only for the one call: memory is the quantized file's plus the largest
//! single weight in f32, never a second copy of the model. Results differ
//! from the one-token path in the last bits (f32 activations here, Q8
//! activations there, as in llama.cpp), within the tolerances the tests
//! against llama.cpp hold both paths to.

use candle_core::quantized::{QMatMul, QTensor};
use candle_core::{Module, Result, Tensor};
use std::sync::Arc;

/// Rows from which a call decodes the weight and uses f32 GEMM.
pub(crate) const GEMM_ROWS: usize = 16;

/// A weight `[out, in]`, applied as `x · Wᵀ`.
pub(crate) struct Linear {
    q: Arc<QTensor>,
    quantized: QMatMul,
}

impl Linear {
    pub(crate) fn new(q: QTensor) -> Result<Linear> {
        let q = Arc::new(q);
        Ok(Linear {
            quantized: QMatMul::from_arc(Arc::clone(&q))?,
            q,
        })
    }

    /// `x · Wᵀ` for `x` of shape `[.., rows, in]`.
    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let dims = x.dims().to_vec();
        let rows: usize = dims[..dims.len().saturating_sub(1)].iter().product();
        if rows < GEMM_ROWS || !x.device().is_cpu() {
            return self.quantized.forward(x);
        }
        let inner = *dims.last().unwrap_or(&0);
        let w = self.q.dequantize(x.device())?;
        let out = x.reshape((rows, inner))?.matmul(&w.t()?)?;
        let mut shape = dims;
        if let Some(last) = shape.last_mut() {
            *last = out.dim(1)?;
        }
        out.reshape(shape)
    }
}
