//! Seeds: every random choice takes its generator from (seed, what, index), so plates and wells
//! can be generated in parallel and still be identical run to run.

use ndarray::Array1;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// splitmix64 finaliser.
pub fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A generator for one purpose (`what`) and index under the run seed.
pub fn rng_for(seed: u64, what: &str, index: u64) -> ChaCha8Rng {
    let mut h = mix64(seed);
    for b in what.bytes() {
        h = mix64(h ^ b as u64);
    }
    ChaCha8Rng::seed_from_u64(mix64(h ^ mix64(index)))
}

/// A standard normal draw (Box–Muller).
/// One standard normal draw.
pub fn normal(rng: &mut impl Rng) -> f64 {
    profiles::synthetic::standard_normal(rng)
}

/// `n` independent normal draws with standard deviation `sd`.
pub fn normal_vector(n: usize, sd: f64, rng: &mut impl Rng) -> Array1<f64> {
    Array1::from_shape_fn(n, |_| sd * normal(rng))
}

/// A random direction in `n` dimensions (unit length).
pub fn unit_vector(n: usize, rng: &mut impl Rng) -> Array1<f64> {
    let v = normal_vector(n, 1.0, rng);
    let norm = v.dot(&v).sqrt().max(1e-12);
    v / norm
}

/// Poisson draw (Knuth for small means, normal approximation above 50).
pub fn poisson(mean: f64, rng: &mut impl Rng) -> usize {
    if mean <= 0.0 {
        return 0;
    }
    if mean > 50.0 {
        return (mean + mean.sqrt() * normal(rng)).round().max(0.0) as usize;
    }
    let l = (-mean).exp();
    let (mut k, mut p) = (0usize, 1.0f64);
    loop {
        p *= rng.random::<f64>();
        if p <= l {
            return k;
        }
        k += 1;
    }
}

/// Binomial draw by summing Bernoullis (n is a cell count, small).
pub fn binomial(n: usize, p: f64, rng: &mut impl Rng) -> usize {
    (0..n).filter(|_| rng.random::<f64>() < p).count()
}
