//! Helpers for the tests of crates built on this one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Every file under `dir` with its bytes: compare two snapshots to show that a refused run
/// wrote nothing.
pub fn dir_snapshot(dir: &Path) -> std::io::Result<BTreeMap<PathBuf, Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.clone(), std::fs::read(&p)?);
            }
        }
    }
    Ok(out)
}

/// FNV-1a (32 bit) of `s`: the per-tensor salt of [`formula`].
fn fnv1a32(s: &str) -> u64 {
    let mut h: u32 = 0x811C_9DC5;
    for b in s.bytes() {
        h ^= b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    h as u64
}

/// `n` values of the tensor called `name`, uniform in `[lo, hi)` by a formula that
/// scripts/efficientnet_reference.py and scripts/resnet_reference.py evaluate exactly:
/// value i is `lo + (hi − lo)·u_i`, `u_i = (splitmix64((fnv1a32(name) << 32) ^ i) >> 11) / 2⁵³`,
/// rounded to f32. Reference tests set weights and inputs this way, so no weight file is
/// committed.
pub fn formula(name: &str, n: usize, lo: f64, hi: f64) -> Vec<f32> {
    let h = fnv1a32(name) << 32;
    (0..n as u64)
        .map(|i| {
            let u = (crate::rng::mix64(h ^ i) >> 11) as f64 / 2f64.powi(53);
            (lo + (hi - lo) * u) as f32
        })
        .collect()
}

/// The range [`set_formula_weights`] draws a variable from, by its torchvision name and shape:
/// running variances 0.6–1.4, running means and biases ±0.1, batch-norm scales 0.8–1.2,
/// kernels ±√(3 / fan-in) (unit-variance outputs for unit-variance inputs).
pub fn formula_range(name: &str, dims: &[usize]) -> (f64, f64) {
    if name.ends_with("running_var") {
        (0.6, 1.4)
    } else if name.ends_with("running_mean") || name.ends_with("bias") {
        (-0.1, 0.1)
    } else if dims.len() == 1 {
        (0.8, 1.2)
    } else {
        let fan_in: usize = dims[1..].iter().product();
        let b = (3.0 / fan_in as f64).sqrt();
        (-b, b)
    }
}

/// Sets every variable of `map` from [`formula`] over [`formula_range`].
pub fn set_formula_weights(map: &crate::SeededVarMap) -> candle_core::Result<()> {
    for (name, var) in map.named_vars() {
        let (lo, hi) = formula_range(&name, var.dims());
        let t = candle_core::Tensor::from_vec(
            formula(&name, var.elem_count(), lo, hi),
            var.shape(),
            var.device(),
        )?
        .to_dtype(var.dtype())?;
        var.set(&t)?;
    }
    Ok(())
}

/// Largest `|ours − theirs|` over a matrix and the largest `|theirs|` (the scale to judge it
/// by); `theirs` is a JSON array of rows. A shape mismatch is an error.
pub fn max_abs_diff_json(
    ours: &candle_core::Tensor,
    theirs: &serde_json::Value,
) -> Result<(f64, f64), String> {
    let ours: Vec<Vec<f32>> = ours
        .to_dtype(candle_core::DType::F32)
        .and_then(|t| t.to_vec2())
        .map_err(|e| e.to_string())?;
    let (mut worst, mut scale) = (0.0f64, 0.0f64);
    let rows = theirs
        .as_array()
        .ok_or("reference is not an array of rows")?;
    if rows.len() != ours.len() {
        return Err(format!("{} rows, reference has {}", ours.len(), rows.len()));
    }
    for (row, reference) in ours.iter().zip(rows) {
        let reference = reference
            .as_array()
            .ok_or("reference row is not an array")?;
        if reference.len() != row.len() {
            return Err(format!(
                "{} columns, reference has {}",
                row.len(),
                reference.len()
            ));
        }
        for (v, t) in row.iter().zip(reference) {
            let t = t.as_f64().ok_or("reference value is not a number")?;
            worst = worst.max((*v as f64 - t).abs());
            scale = scale.max(t.abs());
        }
    }
    Ok((worst, scale))
}

/// Prints each `(what, max_abs_diff_json result)` and panics unless every difference is within
/// `rel` of its reference's scale (at least 1): the verdict of the torchvision and Keras reference tests.
pub fn assert_matches_reference(checks: Vec<(&str, Result<(f64, f64), String>)>, rel: f64) {
    for (what, diff) in checks {
        let (worst, scale) = diff.unwrap_or_else(|e| panic!("{what}: {e}"));
        eprintln!("{what}: max |ours − reference| = {worst:.2e} (values up to {scale:.3})");
        assert!(worst <= rel * scale.max(1.0), "{what}: {worst}");
    }
}

/// The reference tests' verdict on one forward pass (`out` asked for the taps `tap` and
/// `avg_pool`): logits, `tap` averaged over space and `avg_pool` against the reference's
/// `logits`, `<tap>_mean` and `avg_pool`, each within `rel` of its scale.
pub fn assert_forward_matches(
    out: &crate::backbone::Forward,
    tap: &str,
    reference: &serde_json::Value,
    rel: f64,
) {
    let spatial = out.taps[tap].mean((2, 3)).map_err(|e| e.to_string());
    let tap_label = format!("{tap} (spatial mean)");
    assert_matches_reference(
        vec![
            (
                "logits",
                max_abs_diff_json(&out.logits, &reference["logits"]),
            ),
            (
                &tap_label,
                spatial.and_then(|t| max_abs_diff_json(&t, &reference[format!("{tap}_mean")])),
            ),
            (
                "avg_pool",
                max_abs_diff_json(&out.taps["avg_pool"], &reference["avg_pool"]),
            ),
        ],
        rel,
    );
}
