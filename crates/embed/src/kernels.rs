//! Row kernels for the fused BERT forward: layer norm, softmax, GELU, and a
//! bounds-checked wrapper around the `gemm` crate (candle's own CPU matmul).
//!
//! Every kernel is plain Rust written so that LLVM vectorises it (eight-lane
//! accumulators, no libm calls): `exp` and `erf` are polynomial and rational
//! approximations accurate to a few ulp, checked against the standard library
//! in the tests below. Callers run them inside [`pulp::Arch::dispatch`], which
//! compiles them for the widest instruction set the CPU has.

/// A strided read-only matrix: element `(i, j)` is `data[i * rs + j * cs]`.
#[derive(Clone, Copy)]
pub(crate) struct Mat<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
}

impl Mat<'_> {
    fn fits(&self) -> bool {
        self.rows == 0
            || self.cols == 0
            || (self.rows - 1) * self.rs + (self.cols - 1) * self.cs < self.data.len()
    }
}

/// `dst = (accumulate ? dst : 0) + scale * lhs * rhs`, where `dst` is
/// row-major with row stride `dst_rs`.
///
/// # Panics
/// If the shapes disagree or a view reaches outside its slice: a bug in the
/// caller, never a property of the input text.
pub(crate) fn matmul(
    dst: &mut [f32],
    dst_rs: usize,
    lhs: Mat<'_>,
    rhs: Mat<'_>,
    accumulate: bool,
    scale: f32,
) {
    let (m, k, n) = (lhs.rows, lhs.cols, rhs.cols);
    assert_eq!(k, rhs.rows, "matmul: inner dimensions differ");
    assert!(lhs.fits() && rhs.fits(), "matmul: operand out of bounds");
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        (m - 1) * dst_rs + n <= dst.len(),
        "matmul: dst out of bounds"
    );
    // gemm takes raw pointers and strides (an unsafe site listed in
    // tests/tidy.rs).
    // SAFETY: the three views were checked above to lie inside their slices,
    // `dst` is borrowed mutably so it cannot alias `lhs` or `rhs`, and gemm
    // reads and writes exactly the elements those strides describe.
    #[allow(
        unsafe_code,
        reason = "the one unsafe block: gemm takes raw pointers (SAFETY above)"
    )]
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_rs as isize,
            accumulate,
            lhs.data.as_ptr(),
            lhs.cs as isize,
            lhs.rs as isize,
            rhs.data.as_ptr(),
            rhs.cs as isize,
            rhs.rs as isize,
            1.0,
            scale,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// Sum of `xs` with eight independent accumulators (vectorises).
#[inline(always)]
fn sum(xs: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let chunks = xs.chunks_exact(8);
    let rest: f32 = chunks.remainder().iter().sum();
    for c in chunks {
        for i in 0..8 {
            acc[i] += c[i];
        }
    }
    acc.iter().sum::<f32>() + rest
}

/// Sum of squared deviations from `mean` (vectorises).
#[inline(always)]
fn sum_sq_dev(xs: &[f32], mean: f32) -> f32 {
    let mut acc = [0f32; 8];
    let chunks = xs.chunks_exact(8);
    let rest: f32 = chunks
        .remainder()
        .iter()
        .map(|x| (x - mean) * (x - mean))
        .sum();
    for c in chunks {
        for i in 0..8 {
            let d = c[i] - mean;
            acc[i] += d * d;
        }
    }
    acc.iter().sum::<f32>() + rest
}

/// Largest element of a non-empty slice (vectorises).
#[inline(always)]
fn max(xs: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; 8];
    let chunks = xs.chunks_exact(8);
    let rest = chunks
        .remainder()
        .iter()
        .fold(f32::NEG_INFINITY, |m, &x| m.max(x));
    for c in chunks {
        for i in 0..8 {
            acc[i] = acc[i].max(c[i]);
        }
    }
    acc.iter().fold(rest, |m, &x| m.max(x))
}

/// `e^x`: range reduction to `x = n ln 2 + r`, a degree-6 polynomial for
/// `e^r`, and `2^n` put into the exponent bits. Relative error under 2e-7;
/// inputs below -87 give 0-ish denormal-free results, as softmax wants.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // 1.5 * 2^23: adding it rounds to the nearest integer in the low bits.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let shifted = x * LOG2E + ROUND;
    let n = shifted - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.0 / 720.0;
    let p = p * r + 1.0 / 120.0;
    let p = p * r + 1.0 / 24.0;
    let p = p * r + 1.0 / 6.0;
    let p = p * r + 0.5;
    let p = p * r + 1.0;
    let p = p * r + 1.0;
    // The integer n sits in the low mantissa bits of `shifted`.
    let n_bits = shifted.to_bits().wrapping_sub(ROUND.to_bits()) as i32;
    p * f32::from_bits(((n_bits + 127) << 23) as u32)
}

/// The error function, as a rational function of odd and even polynomials
/// on [-4, 4] (beyond which erf is ±1 in f32); the coefficients are the
/// minimax fit Eigen and XLA use. Absolute error under 1e-6.
#[inline(always)]
pub(crate) fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let p = -2.726_142_3e-10_f32;
    let p = p * x2 + 2.770_681_4e-8;
    let p = p * x2 - 2.101_024e-6;
    let p = p * x2 - 5.692_506_4e-5;
    let p = p * x2 - 7.349_906_3e-4;
    let p = p * x2 - 2.954_6e-3;
    let p = p * x2 - 1.609_603_3e-2;
    let q = -1.456_607_2e-5_f32;
    let q = q * x2 - 2.133_740_6e-4;
    let q = q * x2 - 1.682_827e-3;
    let q = q * x2 - 7.373_329e-3;
    let q = q * x2 - 1.426_474e-2;
    x * p / q
}

/// Adds `bias` to every row of `x` and applies the exact (erf) GELU.
#[inline(always)]
pub(crate) fn bias_gelu(x: &mut [f32], bias: &[f32]) {
    for row in x.chunks_exact_mut(bias.len()) {
        for (v, b) in row.iter_mut().zip(bias) {
            let y = *v + b;
            *v = 0.5 * y * (1.0 + erf(y * std::f32::consts::FRAC_1_SQRT_2));
        }
    }
}

/// Softmax of each of `rows` rows of length `cols` (row stride `cols`).
#[inline(always)]
pub(crate) fn softmax_rows(x: &mut [f32], cols: usize) {
    if cols == 0 {
        return;
    }
    for row in x.chunks_exact_mut(cols) {
        let m = max(row);
        for v in row.iter_mut() {
            *v = exp(*v - m);
        }
        let inv = 1.0 / sum(row);
        for v in row.iter_mut() {
            *v *= inv;
        }
    }
}

/// Layer norm of each row of `x` in place.
#[inline(always)]
pub(crate) fn layer_norm(x: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    let d = gamma.len();
    for row in x.chunks_exact_mut(d) {
        let mean = sum(row) / d as f32;
        let inv = 1.0 / (sum_sq_dev(row, mean) / d as f32 + eps).sqrt();
        for ((v, g), b) in row.iter_mut().zip(gamma).zip(beta) {
            *v = (*v - mean) * inv * g + b;
        }
    }
}

/// `x = layer_norm(x + delta)`, row by row.
#[inline(always)]
pub(crate) fn residual_layer_norm(
    x: &mut [f32],
    delta: &[f32],
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
) {
    for (v, d) in x.iter_mut().zip(delta) {
        *v += d;
    }
    layer_norm(x, gamma, beta, eps);
}

/// Copies `bias` into every row of `dst` (the start value of a matmul that
/// accumulates, so the bias add costs no extra pass).
#[inline(always)]
pub(crate) fn fill_rows(dst: &mut [f32], bias: &[f32]) {
    for row in dst.chunks_exact_mut(bias.len()) {
        row.copy_from_slice(bias);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// erf in f64: the Taylor series up to 3 (its terms stay below 1e4, so
    /// cancellation costs nothing at 1e-6), the asymptotic series of erfc
    /// beyond (five terms are good to 1e-9 there).
    fn erf_ref(x: f64) -> f64 {
        let a = x.abs();
        let value = if a <= 3.0 {
            let (mut term, mut total, mut n) = (a, a, 0.0);
            while term.abs() > 1e-18 {
                n += 1.0;
                term *= -a * a / n;
                total += term / (2.0 * n + 1.0);
            }
            total * 2.0 / std::f64::consts::PI.sqrt()
        } else {
            let z = 1.0 / (2.0 * a * a);
            let series = 1.0 - z + 3.0 * z * z - 15.0 * z.powi(3) + 105.0 * z.powi(4);
            1.0 - (-a * a).exp() / (a * std::f64::consts::PI.sqrt()) * series
        };
        value * x.signum()
    }

    #[test]
    fn exp_matches_std() {
        let mut worst = 0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let want = (x as f64).exp();
            let got = exp(x) as f64;
            worst = worst.max(((got - want) / want).abs());
            x += 0.0137;
        }
        assert!(worst < 4e-7, "exp relative error {worst}");
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(-1e30) >= 0.0 && exp(-1e30) < 1e-37);
    }

    #[test]
    fn erf_matches_series() {
        let mut worst = 0f64;
        let mut x = -6.0f32;
        while x < 6.0 {
            let want = erf_ref(x as f64);
            worst = worst.max((erf(x) as f64 - want).abs());
            x += 0.001;
        }
        assert!(worst < 1e-6, "erf absolute error {worst}");
    }

    #[test]
    fn softmax_and_layer_norm() {
        let mut rows = vec![1.0, 2.0, 3.0, -1e9, 0.0, 0.0, 0.0, 0.0];
        softmax_rows(&mut rows, 4);
        let e: Vec<f64> = [1.0f64, 2.0, 3.0].iter().map(|v| v.exp()).collect();
        let s: f64 = e.iter().sum();
        for i in 0..3 {
            assert!((rows[i] as f64 - e[i] / s).abs() < 1e-6);
        }
        assert!(rows[3] < 1e-30);
        assert!(rows[4..].iter().all(|v| (v - 0.25).abs() < 1e-7));

        let mut x: Vec<f32> = (0..20).map(|i| i as f32 * 0.5 - 3.0).collect();
        let gamma = vec![2.0; 10];
        let beta = vec![1.0; 10];
        layer_norm(&mut x, &gamma, &beta, 1e-12);
        for row in x.chunks(10) {
            let mean: f32 = row.iter().map(|v| (v - 1.0) / 2.0).sum::<f32>() / 10.0;
            let var: f32 = row.iter().map(|v| ((v - 1.0) / 2.0).powi(2)).sum::<f32>() / 10.0;
            assert!(
                mean.abs() < 1e-6 && (var - 1.0).abs() < 1e-5,
                "{mean} {var}"
            );
        }
    }

    #[test]
    fn matmul_with_strides_and_accumulation() {
        // lhs 2x3, rhs given as its transpose (3x2 read through strides).
        let lhs = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let rhs_t = [1.0, 0.0, -1.0, 2.0, 1.0, 0.0];
        let mut dst = vec![10.0, 20.0, 30.0, 40.0];
        matmul(
            &mut dst,
            2,
            Mat {
                data: &lhs,
                rows: 2,
                cols: 3,
                rs: 3,
                cs: 1,
            },
            Mat {
                data: &rhs_t,
                rows: 3,
                cols: 2,
                rs: 1,
                cs: 3,
            },
            true,
            2.0,
        );
        // lhs * rhs = [[-2, 4], [-2, 13]]
        assert_eq!(dst, vec![6.0, 28.0, 26.0, 66.0]);
    }
}
