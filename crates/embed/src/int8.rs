//! int8 dense layers for the fused forward: weights quantised once per
//! output row (symmetric, `i8`), activations per input row (asymmetric,
//! `u8` with a zero point), products summed exactly in `i32`.
//!
//! `y[i][j] = sa[i] * sw[j] * (sum_k qa[i][k] * qw[j][k] - za[i] * colsum[j]) + b[j]`
//!
//! The integer sum is exact, so every kernel gives the same bits for the
//! same input: the AVX-512 VNNI one (`vpdpbusd`: 64 `u8 x i8` products an
//! instruction) and the portable one any CPU runs. (The f32 parts of the
//! forward, attention and layer norm, differ in their last bits between
//! instruction sets as f32 does, so vectors from two CPUs are close, not
//! identical.)
//!
//! Weights are packed for VNNI: block `b` holds outputs `16b..16b+16`, and
//! its entry for input group `g` is 64 bytes, output `o`'s inputs
//! `4g..4g+4` at bytes `4o..4o+4`. An activation row is one `u32` per group
//! (four `u8`), broadcast to every lane.

/// Widest input a layer may have: 255 * 127 * k must stay inside i32 for
/// the sums to be exact (the loader refuses int8 for wider models).
pub(crate) const MAX_INPUTS: usize = 1 << 16;

/// Outputs per packed block: one 512-bit register of `i32` sums.
const LANES: usize = 16;
/// Rows and blocks per VNNI tile: 6 x 4 accumulators plus 4 weight
/// registers fit the 32 vector registers.
#[cfg(target_arch = "x86_64")]
const TILE_ROWS: usize = 6;
// `rows_tile` has an arm for every count of rows below a full tile.
#[cfg(target_arch = "x86_64")]
const _: () = assert!(TILE_ROWS == 6);
#[cfg(target_arch = "x86_64")]
const TILE_BLOCKS: usize = 4;

/// Which integer kernel runs: chosen once from the CPU's features.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kernel {
    /// AVX-512 VNNI (Zen 4, Ice Lake and later).
    #[cfg(target_arch = "x86_64")]
    Vnni512,
    /// Plain Rust, the reference every other kernel equals.
    Portable,
}

impl Kernel {
    /// The fastest kernel this CPU runs.
    pub(crate) fn detect() -> Kernel {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512vnni")
        {
            return Kernel::Vnni512;
        }
        Kernel::Portable
    }

    /// Whether this kernel makes int8 faster than f32 (the default
    /// precision of a new index follows it).
    pub(crate) fn accelerated(self) -> bool {
        self != Kernel::Portable
    }
}

/// A dense layer `y = x w^T + b` with `w` quantised to `i8`.
pub(crate) struct QLinear {
    n: usize,
    k: usize,
    groups: usize,
    packed: Vec<[i8; 64]>,
    /// Per output, padded to whole blocks with zeros.
    scale: Vec<f32>,
    colsum: Vec<i32>,
    bias: Vec<f32>,
}

/// One batch's activations, quantised row by row.
#[derive(Default)]
pub(crate) struct QuantRows {
    data: Vec<u32>,
    scale: Vec<f32>,
    zero: Vec<i32>,
    /// One row's codes before packing, reused from call to call.
    bytes: Vec<u8>,
}

impl QLinear {
    /// Quantises `w` (`[n, k]`, row-major) with bias `b` (`n` long).
    ///
    /// # Panics
    /// If `w` is not `n * k` long: a bug in the loader, which checks shapes.
    pub(crate) fn new(w: &[f32], b: &[f32]) -> QLinear {
        let n = b.len();
        assert!(n > 0 && w.len().is_multiple_of(n), "QLinear: shape");
        let k = w.len() / n;
        assert!(
            k <= MAX_INPUTS,
            "QLinear: {k} inputs is too wide for i32 sums"
        );
        let groups = k.div_ceil(4);
        let blocks = n.div_ceil(LANES);
        let mut packed = vec![[0i8; 64]; blocks * groups];
        let mut scale = vec![0f32; blocks * LANES];
        let mut colsum = vec![0i32; blocks * LANES];
        let mut bias = vec![0f32; blocks * LANES];
        bias[..n].copy_from_slice(b);
        for (j, row) in w.chunks_exact(k).enumerate() {
            let amax = row.iter().fold(0f32, |m, x| m.max(x.abs()));
            let s = if amax > 0.0 { amax / 127.0 } else { 1.0 };
            scale[j] = s;
            let (blk, o) = (j / LANES, j % LANES);
            for (i, &x) in row.iter().enumerate() {
                let q = (x / s).round_ties_even().clamp(-127.0, 127.0) as i8;
                colsum[j] += i32::from(q);
                packed[blk * groups + i / 4][4 * o + i % 4] = q;
            }
        }
        QLinear {
            n,
            k,
            groups,
            packed,
            scale,
            colsum,
            bias,
        }
    }

    /// `out = x w^T + b` for the first `rows` rows of `x` (`k` wide, as
    /// the weights); `out` is `rows * n`, row-major.
    ///
    /// # Panics
    /// If the buffers are shorter than the shapes say: a caller's bug.
    #[inline(always)]
    pub(crate) fn forward(
        &self,
        out: &mut [f32],
        x: &[f32],
        rows: usize,
        q: &mut QuantRows,
        kernel: Kernel,
    ) {
        let k = self.k;
        assert!(x.len() >= rows * k, "QLinear: input too short");
        assert!(out.len() >= rows * self.n, "QLinear: output too short");
        q.quantize(&x[..rows * k], rows, k, self.groups);
        match kernel {
            #[cfg(target_arch = "x86_64")]
            Kernel::Vnni512 => {
                // SAFETY: `Kernel::Vnni512` is only returned by `detect`
                // after the CPU reported avx512f and avx512vnni.
                #[allow(
                    unsafe_code,
                    reason = "calling a target_feature function after runtime detection (SAFETY above)"
                )]
                unsafe {
                    vnni::forward(self, out, rows, q);
                }
            }
            Kernel::Portable => self.forward_portable(out, rows, q),
        }
    }

    fn forward_portable(&self, out: &mut [f32], rows: usize, q: &QuantRows) {
        let blocks = self.n.div_ceil(LANES);
        for r in 0..rows {
            let a = &q.data[r * self.groups..][..self.groups];
            for blk in 0..blocks {
                let w = &self.packed[blk * self.groups..][..self.groups];
                let mut acc = [0i32; LANES];
                for (&a4, w4) in a.iter().zip(w) {
                    let a4 = a4.to_le_bytes();
                    for (o, sum) in acc.iter_mut().enumerate() {
                        for t in 0..4 {
                            *sum += i32::from(a4[t]) * i32::from(w4[4 * o + t]);
                        }
                    }
                }
                self.finish(out, r, blk, &acc, q);
            }
        }
    }

    /// Scales one block of exact sums into `out`: the same operations, in
    /// the same order, as the vector epilogues (no fused multiply-add), so
    /// every kernel writes the same bits.
    #[inline(always)]
    fn finish(&self, out: &mut [f32], r: usize, blk: usize, acc: &[i32; LANES], q: &QuantRows) {
        let (sa, za) = (q.scale[r], q.zero[r]);
        let base = blk * LANES;
        let width = LANES.min(self.n - base);
        let dst = &mut out[r * self.n + base..][..width];
        for (o, d) in dst.iter_mut().enumerate() {
            let j = base + o;
            let exact = acc[o] - za * self.colsum[j];
            *d = exact as f32 * (sa * self.scale[j]) + self.bias[j];
        }
    }
}

/// Round to nearest, ties to even, for `|x| < 2^22` (quantised values are
/// within +-256): adding and taking away 1.5 * 2^23 leaves no fraction
/// bits. Plain arithmetic, so it vectorises (`round_ties_even` is a libm
/// call on x86 without SSE 4.1 in the baseline) and is the same on every
/// CPU.
#[inline(always)]
fn round(x: f32) -> f32 {
    (x + MAGIC) - MAGIC
}

/// 1.5 * 2^23: a float this large has no fraction bits.
const MAGIC: f32 = 12_582_912.0;

/// The least and greatest of `xs` and 0, sixteen lanes at a time (a
/// plain fold is one long dependency chain that does not vectorise).
#[inline(always)]
fn range(xs: &[f32]) -> (f32, f32) {
    let (mut lo, mut hi) = ([0f32; 16], [0f32; 16]);
    let chunks = xs.chunks_exact(16);
    let rest = chunks.remainder();
    for c in chunks {
        for i in 0..16 {
            lo[i] = if c[i] < lo[i] { c[i] } else { lo[i] };
            hi[i] = if c[i] > hi[i] { c[i] } else { hi[i] };
        }
    }
    for (i, &v) in rest.iter().enumerate() {
        lo[i] = if v < lo[i] { v } else { lo[i] };
        hi[i] = if v > hi[i] { v } else { hi[i] };
    }
    let lo = lo.iter().fold(0f32, |m, &v| if v < m { v } else { m });
    let hi = hi.iter().fold(0f32, |m, &v| if v > m { v } else { m });
    (lo, hi)
}

impl QuantRows {
    /// Quantises `rows` rows of `k` values to `u8` with a per-row scale and
    /// zero point (the range always holds 0, so 0 is exact), packed four to
    /// a `u32`, `groups` per row (padding is 0 and meets zero weights).
    #[inline(always)]
    fn quantize(&mut self, x: &[f32], rows: usize, k: usize, groups: usize) {
        self.data.clear();
        self.data.resize(rows * groups, 0);
        self.scale.clear();
        self.zero.clear();
        let bytes = &mut self.bytes;
        bytes.clear();
        bytes.resize(groups * 4, 0);
        for (r, row) in x.chunks_exact(k).enumerate() {
            let (lo, hi) = range(row);
            let s = if hi > lo { (hi - lo) / 255.0 } else { 1.0 };
            let inv = 1.0 / s;
            let z = round(-lo * inv).clamp(0.0, 255.0);
            // Clamped to [0, 255] and rounded by the 1.5 * 2^23 trick: the
            // code is then the low byte of the float's bits (vectorises,
            // where `as u8`'s saturation does not).
            for (b, &v) in bytes.iter_mut().zip(row) {
                *b = ((v * inv + z).clamp(0.0, 255.0) + MAGIC).to_bits() as u8;
            }
            for (dst, four) in self.data[r * groups..][..groups]
                .iter_mut()
                .zip(bytes.chunks_exact(4))
            {
                *dst = u32::from_le_bytes([four[0], four[1], four[2], four[3]]);
            }
            self.scale.push(s);
            self.zero.push(z as i32);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod vnni {
    use super::{QLinear, QuantRows, LANES, TILE_BLOCKS, TILE_ROWS};
    use std::arch::x86_64::{
        __m512, __m512i, _mm512_add_ps, _mm512_cvtepi32_ps, _mm512_dpbusd_epi32, _mm512_mul_ps,
        _mm512_mullo_epi32, _mm512_set1_epi32, _mm512_set1_ps, _mm512_setzero_si512,
        _mm512_sub_epi32,
    };

    /// Every row tile, every block tile; tails take narrower tiles.
    #[target_feature(enable = "avx512f,avx512vnni")]
    pub(super) fn forward(l: &QLinear, out: &mut [f32], rows: usize, q: &QuantRows) {
        let blocks = l.n.div_ceil(LANES);
        let full_blocks = blocks / TILE_BLOCKS * TILE_BLOCKS;
        // Blocks outer: a tile of weights (64 outputs) stays in cache while
        // every row passes it.
        let mut b = 0;
        while b < blocks {
            let mut r = 0;
            while r < rows {
                let left = rows - r;
                if b < full_blocks {
                    rows_tile::<TILE_BLOCKS>(l, out, r, left, b, q);
                } else {
                    rows_tile::<1>(l, out, r, left, b, q);
                }
                r += left.min(TILE_ROWS);
            }
            b += if b < full_blocks { TILE_BLOCKS } else { 1 };
        }
    }

    /// One tile of up to [`TILE_ROWS`] rows starting at `r` (`left` rows
    /// remain), `B` blocks starting at `b`.
    #[target_feature(enable = "avx512f,avx512vnni")]
    fn rows_tile<const B: usize>(
        l: &QLinear,
        out: &mut [f32],
        r: usize,
        left: usize,
        b: usize,
        q: &QuantRows,
    ) {
        match left {
            1 => tile::<1, B>(l, out, r, b, q),
            2 => tile::<2, B>(l, out, r, b, q),
            3 => tile::<3, B>(l, out, r, b, q),
            4 => tile::<4, B>(l, out, r, b, q),
            5 => tile::<5, B>(l, out, r, b, q),
            _ => tile::<TILE_ROWS, B>(l, out, r, b, q),
        }
    }

    #[target_feature(enable = "avx512f,avx512vnni")]
    fn tile<const R: usize, const B: usize>(
        l: &QLinear,
        out: &mut [f32],
        r: usize,
        b: usize,
        q: &QuantRows,
    ) {
        let g = l.groups;
        let a: [&[u32]; R] = std::array::from_fn(|i| &q.data[(r + i) * g..][..g]);
        let w: [&[[i8; 64]]; B] = std::array::from_fn(|j| &l.packed[(b + j) * g..][..g]);
        let mut acc = [[_mm512_setzero_si512(); B]; R];
        for k in 0..g {
            let wv: [__m512i; B] = std::array::from_fn(|j| bytemuck::cast(w[j][k]));
            for i in 0..R {
                let av = _mm512_set1_epi32(a[i][k] as i32);
                for j in 0..B {
                    acc[i][j] = _mm512_dpbusd_epi32(acc[i][j], av, wv[j]);
                }
            }
        }
        for (i, sums) in acc.iter().enumerate() {
            let za = _mm512_set1_epi32(q.zero[r + i]);
            let sa = q.scale[r + i];
            for (j, &sum) in sums.iter().enumerate() {
                let base = (b + j) * LANES;
                let colsum: __m512i = bytemuck::cast(lanes_i32(&l.colsum[base..]));
                let scale: __m512 = bytemuck::cast(lanes_f32(&l.scale[base..]));
                let bias: __m512 = bytemuck::cast(lanes_f32(&l.bias[base..]));
                let exact = _mm512_sub_epi32(sum, _mm512_mullo_epi32(za, colsum));
                let factor = _mm512_mul_ps(_mm512_set1_ps(sa), scale);
                let y = _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(exact), factor), bias);
                let y: [f32; LANES] = bytemuck::cast(y);
                let width = LANES.min(l.n - base);
                out[(r + i) * l.n + base..][..width].copy_from_slice(&y[..width]);
            }
        }
    }

    #[inline(always)]
    fn lanes_i32(xs: &[i32]) -> [i32; LANES] {
        std::array::from_fn(|i| xs[i])
    }

    #[inline(always)]
    fn lanes_f32(xs: &[f32]) -> [f32; LANES] {
        std::array::from_fn(|i| xs[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic pseudo-random stream (xorshift), no dependency.
    fn noise(seed: u64, len: usize, spread: f32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 2.0 * spread
            })
            .collect()
    }

    /// The product in f64 from the dequantised operands, the quantity the
    /// kernels compute exactly before scaling.
    fn reference(l: &QLinear, x: &[f32], rows: usize) -> Vec<f64> {
        let mut q = QuantRows::default();
        let k = x.len() / rows;
        q.quantize(x, rows, k, l.groups);
        let mut out = vec![0f64; rows * l.n];
        for r in 0..rows {
            let a: Vec<u8> = q.data[r * l.groups..][..l.groups]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect();
            for j in 0..l.n {
                let (blk, o) = (j / LANES, j % LANES);
                let mut sum = 0f64;
                for (i, &ai) in a.iter().enumerate().take(k) {
                    let w = l.packed[blk * l.groups + i / 4][4 * o + i % 4];
                    sum += (f64::from(ai) - f64::from(q.zero[r])) * f64::from(w);
                }
                out[r * l.n + j] =
                    sum * f64::from(q.scale[r]) * f64::from(l.scale[j]) + f64::from(l.bias[j]);
            }
        }
        out
    }

    #[test]
    fn every_kernel_gives_the_same_bits_as_the_reference_sum() {
        // Odd shapes on purpose: outputs not a multiple of 16 or of a tile,
        // inputs not a multiple of 4, rows not a multiple of the tile.
        for &(rows, k, n) in &[
            (1, 4, 16),
            (7, 13, 37),
            (13, 384, 96),
            (6, 1536, 64),
            (20, 30, 80),
        ] {
            let w = noise(1, n * k, 0.5);
            let b = noise(2, n, 0.1);
            let x = noise(3, rows * k, 4.0);
            let l = QLinear::new(&w, &b);
            let want = reference(&l, &x, rows);
            let mut q = QuantRows::default();
            let mut portable = vec![0f32; rows * n];
            l.forward(&mut portable, &x, rows, &mut q, Kernel::Portable);
            for (got, want) in portable.iter().zip(&want) {
                assert!(
                    (f64::from(*got) - want).abs() <= 1e-5 * (1.0 + want.abs()),
                    "{rows}x{k}x{n}: {got} vs {want}"
                );
            }
            let fast = Kernel::detect();
            let mut other = vec![0f32; rows * n];
            l.forward(&mut other, &x, rows, &mut q, fast);
            assert_eq!(
                portable.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                other.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                "{fast:?} differs from the portable kernel at {rows}x{k}x{n}"
            );
        }
    }

    #[test]
    fn quantisation_error_is_small_against_f32() {
        let (rows, k, n) = (5, 384, 48);
        let w = noise(4, n * k, 0.1);
        let x = noise(5, rows * k, 2.0);
        let l = QLinear::new(&w, &vec![0.0; n]);
        let mut q = QuantRows::default();
        let mut got = vec![0f32; rows * n];
        l.forward(&mut got, &x, rows, &mut q, Kernel::detect());
        let (mut dot, mut gg, mut ff) = (0f64, 0f64, 0f64);
        for r in 0..rows {
            for j in 0..n {
                let f: f64 = (0..k)
                    .map(|i| f64::from(x[r * k + i]) * f64::from(w[j * k + i]))
                    .sum();
                let g = f64::from(got[r * n + j]);
                dot += f * g;
                gg += g * g;
                ff += f * f;
            }
        }
        let cosine = dot / (gg.sqrt() * ff.sqrt());
        assert!(cosine > 0.999, "cosine {cosine}");
    }

    #[test]
    fn rounding_is_to_nearest_even() {
        for x in [
            -255.5f32, -2.5, -1.5, -0.5, -0.49, 0.0, 0.5, 1.5, 2.5, 2.51, 254.5, 255.0,
        ] {
            assert_eq!(round(x), x.round_ties_even(), "{x}");
        }
    }

    #[test]
    fn constant_and_zero_rows_quantise_exactly() {
        let mut q = QuantRows::default();
        q.quantize(&[0.0; 8], 1, 8, 2);
        assert_eq!((q.scale[0], q.zero[0]), (1.0, 0));
        q.quantize(&[3.0; 8], 1, 8, 2);
        // The range is [0, 3]: 3 is the top code, 0 the zero point.
        assert_eq!(q.zero[0], 0);
        assert_eq!(q.data[0], u32::from_le_bytes([255; 4]));
    }
}
