//! Finite-difference gradient checks for model crates: does backward agree with the function?

use candle_core::{DType, Device, Result, Tensor, Var};

/// How far the analytic gradient is from central differences.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GradCheck {
    /// max |analytic − numeric| over the checked elements.
    pub max_abs_error: f64,
    /// max |a − n| / max(|a|, |n|, 1)
    pub max_rel_error: f64,
    /// Elements compared.
    pub n_checked: usize,
}

/// Compares `∂ sum(f(x)) / ∂x` from backward with central differences of step `eps`, in f64
/// on the CPU. Checks every element up to 4,096, else an evenly spaced subset of them.
pub fn check_gradients<F>(f: F, x: &Tensor, eps: f64) -> Result<GradCheck>
where
    F: Fn(&Tensor) -> Result<Tensor>,
{
    let x = x.to_dtype(DType::F64)?.to_device(&Device::Cpu)?;
    let shape = x.shape().clone();
    let var = Var::from_tensor(&x)?;
    let grads = f(var.as_tensor())?.sum_all()?.backward()?;
    let analytic: Vec<f64> = match grads.get(&var) {
        Some(g) => g.flatten_all()?.to_vec1()?,
        None => vec![0.0; shape.elem_count()],
    };
    let base: Vec<f64> = x.flatten_all()?.to_vec1()?;
    let eval = |values: Vec<f64>| -> Result<f64> {
        let t = Tensor::from_vec(values, shape.clone(), &Device::Cpu)?;
        f(&t)?.sum_all()?.to_scalar::<f64>()
    };
    let n = base.len();
    let step = n.div_ceil(4096).max(1);
    let (mut max_abs, mut max_rel, mut checked) = (0.0f64, 0.0f64, 0);
    for i in (0..n).step_by(step) {
        let mut plus = base.clone();
        plus[i] += eps;
        let mut minus = base.clone();
        minus[i] -= eps;
        let numeric = (eval(plus)? - eval(minus)?) / (2.0 * eps);
        let err = (analytic[i] - numeric).abs();
        max_abs = max_abs.max(err);
        max_rel = max_rel.max(err / analytic[i].abs().max(numeric.abs()).max(1.0));
        checked += 1;
    }
    Ok(GradCheck {
        max_abs_error: max_abs,
        max_rel_error: max_rel,
        n_checked: checked,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catches_a_wrong_gradient() {
        let x = Tensor::new(&[0.3f64, -1.2, 2.0], &Device::Cpu).unwrap();
        let ok = check_gradients(|t| t.sqr()?.sin(), &x, 1e-5).unwrap();
        assert!(ok.max_abs_error < 1e-7 && ok.n_checked == 3, "{ok:?}");
        // A function whose forward and backward disagree: value x², gradient of 3x (detach trick).
        let wrong = check_gradients(
            |t| t.sqr()?.detach() + (t * 3.0)? - (t.detach() * 3.0)?,
            &x,
            1e-5,
        )
        .unwrap();
        assert!(wrong.max_abs_error > 0.5, "{wrong:?}");
    }
}

/// Largest absolute element-wise difference of two same-shaped tensors, in f64 — for tests that
/// compare a custom op with the plain candle composition it replaces.
pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> Result<f64> {
    (a.to_dtype(DType::F64)? - b.to_dtype(DType::F64)?)?
        .abs()?
        .flatten_all()?
        .max(0)?
        .to_scalar::<f64>()
}
