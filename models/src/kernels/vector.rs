//! The inner loops every kernel here is built from, written so that the
//! compiler vectorizes them without fast-math: elementwise, with no
//! reduction to reorder.
//!
//! The crate is built for baseline x86-64 (SSE2, four lanes). Each loop is
//! also compiled for AVX2 and AVX-512F and picked at run time, as burn-flex
//! picks its own SIMD kernels; the three versions run the same operations in
//! the same order, so they give the same results.

/// Compiles `$body` (a function of the listed arguments) three times and
/// calls the widest version the CPU supports.
macro_rules! multiversion {
    ($(#[$doc:meta])* pub fn $name:ident($($arg:ident: $ty:ty),*) $(-> $ret:ty)? $body:block) => {
        $(#[$doc])*
        #[inline]
        pub fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn generic($($arg: $ty),*) $(-> $ret)? $body

            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                fn avx512($($arg: $ty),*) $(-> $ret)? { generic($($arg),*) }
                #[target_feature(enable = "avx2")]
                fn avx2($($arg: $ty),*) $(-> $ret)? { generic($($arg),*) }

                if std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU supports AVX-512F (checked above).
                    return unsafe { avx512($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU supports AVX2 (checked above).
                    return unsafe { avx2($($arg),*) };
                }
            }
            generic($($arg),*)
        }
    };
}

multiversion! {
    /// `y += alpha · x`, over the shorter of the two.
    pub fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
        for (yi, xi) in y.iter_mut().zip(x) {
            *yi += alpha * xi;
        }
    }
}

multiversion! {
    /// Running maximum with its tap: where `src_i > best_i`, `best_i = src_i`
    /// and `tap_i = t` (strict, so the earliest tap of equal values wins).
    pub fn max_select(t: u32, src: &[f32], best: &mut [f32], tap: &mut [u32]) {
        for ((b, k), &v) in best.iter_mut().zip(tap.iter_mut()).zip(src) {
            let gt = v > *b;
            *b = if gt { v } else { *b };
            *k = if gt { t } else { *k };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_loops_match_their_definitions() {
        for len in [0, 1, 7, 8, 9, 31, 784] {
            let a: Vec<f32> = (0..len).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..len).map(|i| (i as f32 * 0.11).cos()).collect();
            let mut y = b.clone();
            axpy(0.5, &a, &mut y);
            for i in 0..len {
                assert_eq!(y[i], b[i] + 0.5 * a[i], "axpy[{i}], len {len}");
            }
            let (mut best, mut tap) = (b.clone(), vec![0u32; len]);
            max_select(3, &a, &mut best, &mut tap);
            for i in 0..len {
                let taken = a[i] > b[i];
                assert_eq!(best[i], if taken { a[i] } else { b[i] }, "max[{i}]");
                assert_eq!(tap[i], if taken { 3 } else { 0 }, "tap[{i}]");
            }
        }
    }
}
