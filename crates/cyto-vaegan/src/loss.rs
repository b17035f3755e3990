//! The losses of the reference code, each a batch mean of per-image sums.

use cellpaint_core::candle::{Result, Tensor};

/// Pixel reconstruction: batch mean of ½Σ(x − x̂)² over channels and pixels.
pub fn rgb_loss(x: &Tensor, reconstruction: &Tensor) -> Result<Tensor> {
    let n = x.dim(0)? as f64;
    (x - reconstruction)?.sqr()?.sum_all()? * (0.5 / n)
}

/// KL(q(z|x) ‖ N(0, I)): batch mean of ½Σ(e^{log σ²} + μ² − 1 − log σ²).
pub fn kl_loss(mu: &Tensor, logvar: &Tensor) -> Result<Tensor> {
    let n = mu.dim(0)? as f64;
    ((logvar.exp()? + mu.sqr()?)? - logvar)?
        .affine(1.0, -1.0)?
        .sum_all()?
        * (0.5 / n)
}

/// One discriminator layer's reconstruction loss: ½·`image_size`·mean(D_i(x) − D_i(x̂))²,
/// i.e. the layer's mean squared difference rescaled to the input's element count
/// (`image_size` = H·W·C), so every layer weighs like the pixel loss; batch mean.
pub fn feature_loss(real: &Tensor, reconstructed: &Tensor, image_size: usize) -> Result<Tensor> {
    (real - reconstructed)?.sqr()?.mean_all()? * (0.5 * image_size as f64)
}

/// A term whose gradient with respect to everything `value` depends on is the gradient
/// `grad` (∂L/∂value, computed elsewhere) carried back through `value`'s graph: Σ value·grad
/// with `grad` held constant. Its value is not L's.
pub fn carried_gradient(value: &Tensor, grad: &Tensor) -> Result<Tensor> {
    (value * grad.detach())?.sum_all()
}

/// Sigmoid binary cross-entropy of logits against a constant target, averaged; the stable
/// form max(l, 0) − l·t + log(1 + e^{−|l|}).
pub fn bce_with_logits(logits: &Tensor, target: f64) -> Result<Tensor> {
    let soft = (logits.abs()?.neg()?.exp()? + 1.0)?.log()?;
    ((logits.relu()? - (logits * target)?)? + soft)?.mean_all()
}

/// Weight decay as an L2 loss term: wd·½Σw² over the kernels.
pub fn l2_penalty(kernels: &[Tensor], weight_decay: f64) -> Result<Option<Tensor>> {
    if weight_decay == 0.0 || kernels.is_empty() {
        return Ok(None);
    }
    let mut total: Option<Tensor> = None;
    for k in kernels {
        let s = k.sqr()?.sum_all()?;
        total = Some(match total {
            None => s,
            Some(t) => (t + s)?,
        });
    }
    total.map(|t| t * (0.5 * weight_decay)).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use cellpaint_core::candle::Device;
    use cellpaint_core::gradcheck::check_gradients;

    fn t(v: &[f64], shape: &[usize]) -> Tensor {
        Tensor::from_vec(v.to_vec(), shape, &Device::Cpu).unwrap()
    }
    fn scalar(x: Tensor) -> f64 {
        x.to_scalar::<f64>().unwrap()
    }

    #[test]
    fn losses_on_hand_checked_input() {
        // Two 1×1×2 images: squared errors (1, 4) and (0, 9) → ½·5 and ½·9 → mean 3.5.
        let x = t(&[1., 2., 0., 3.], &[2, 1, 1, 2]);
        let y = t(&[0., 0., 0., 0.], &[2, 1, 1, 2]);
        assert_eq!(scalar(rgb_loss(&x, &y).unwrap()), 3.5);
        // KL is 0 at μ = 0, log σ² = 0; for μ = 1, log σ² = 0 it is ½ per dimension.
        let z = t(&[0., 0.], &[1, 2]);
        assert_eq!(scalar(kl_loss(&z, &z).unwrap()), 0.0);
        let mu = t(&[1., 1., 0., 0.], &[2, 2]);
        let lv = t(&[0., 0., 0., 0.], &[2, 2]);
        assert_eq!(scalar(kl_loss(&mu, &lv).unwrap()), 0.5);
        // log σ² = ln 2, μ = 0: ½(2 − 1 − ln 2) per dimension.
        let lv2 = t(&[2f64.ln()], &[1, 1]);
        let k = scalar(kl_loss(&t(&[0.], &[1, 1]), &lv2).unwrap());
        assert!((k - 0.5 * (1.0 - 2f64.ln())).abs() < 1e-12);
        // Feature loss: mean squared difference 2.5 over 4 elements, rescaled to 100 pixels.
        let a = t(&[1., 2., 0., 3.], &[2, 2, 1, 1]);
        let b = t(&[0., 0., 0., 1.], &[2, 2, 1, 1]);
        assert_eq!(
            scalar(feature_loss(&a, &b, 100).unwrap()),
            0.5 * 100.0 * (1. + 4. + 0. + 4.) / 4.0
        );
        // BCE: logit 0 → ln 2 for either target; large logits are stable.
        let l = t(&[0.0], &[1]);
        assert!((scalar(bce_with_logits(&l, 1.0).unwrap()) - 2f64.ln()).abs() < 1e-12);
        let big = t(&[800.0, -800.0], &[2]);
        assert!((scalar(bce_with_logits(&big, 1.0).unwrap()) - 400.0).abs() < 1e-9);
        assert!(scalar(bce_with_logits(&t(&[800.0], &[1]), 1.0).unwrap()) < 1e-12);
        // L2: ½·wd·Σw² = ½·0.1·(1 + 4 + 9).
        let w = [t(&[1., 2.], &[2]), t(&[3.], &[1])];
        let p = scalar(l2_penalty(&w, 0.1).unwrap().unwrap());
        assert!((p - 0.7).abs() < 1e-12);
        assert!(l2_penalty(&w, 0.0).unwrap().is_none());
    }

    #[test]
    fn loss_gradients_match_finite_differences() {
        let x = t(&[0.3, -0.2, 0.9, 0.1, 0.5, -0.7], &[2, 1, 1, 3]);
        let target = t(&[0.1, 0.2, 0.3, 0.4, 0.5, 0.6], &[2, 1, 1, 3]);
        let checks = [
            check_gradients(|v| rgb_loss(&target, v), &x, 1e-5).unwrap(),
            check_gradients(|v| feature_loss(&target, v, 12), &x, 1e-5).unwrap(),
            check_gradients(
                |v| kl_loss(&v.flatten_from(1)?, &target.flatten_from(1)?),
                &x,
                1e-5,
            )
            .unwrap(),
            check_gradients(
                |v| kl_loss(&target.flatten_from(1)?, &v.flatten_from(1)?),
                &x,
                1e-5,
            )
            .unwrap(),
            check_gradients(|v| bce_with_logits(v, 1.0), &x, 1e-5).unwrap(),
            check_gradients(|v| bce_with_logits(v, 0.0), &x, 1e-5).unwrap(),
        ];
        for c in checks {
            assert!(c.max_abs_error < 1e-8, "{c:?}");
        }
    }
}
