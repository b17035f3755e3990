//! Row similarities, computed blockwise so that large N never needs an N × N matrix.

use ndarray::{Array2, ArrayView2, Axis};
use rayon::prelude::*;

/// How two profiles are compared. Larger is more similar for all of them (Euclidean is the
/// negated distance).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Similarity {
    /// Cosine of the angle between the rows (the default).
    #[default]
    Cosine,
    /// Pearson correlation of the rows' values.
    Pearson,
    /// Pearson correlation of the rows' ranks.
    Spearman,
    /// Negated Euclidean distance.
    Euclidean,
}

impl std::str::FromStr for Similarity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "cosine" => Ok(Self::Cosine),
            "pearson" => Ok(Self::Pearson),
            "spearman" => Ok(Self::Spearman),
            "euclidean" => Ok(Self::Euclidean),
            _ => Err(format!(
                "unknown similarity '{s}' (cosine, pearson, spearman, euclidean)"
            )),
        }
    }
}

/// Profiles transformed once so that similarities are dot products (plus, for Euclidean,
/// squared norms): cosine → unit rows; Pearson → centred unit rows; Spearman → Pearson of ranks.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The similarity the rows were prepared for.
    pub kind: Similarity,
    /// The transformed rows: unit rows (cosine), centred unit rows of the values (Pearson) or
    /// of their ranks (Spearman), the rows as given (Euclidean).
    pub rows: Array2<f64>,
    sq_norms: Vec<f64>,
}

impl Prepared {
    /// Transforms the rows of `x` (samples × features) for `kind`.
    pub fn new(x: ArrayView2<'_, f64>, kind: Similarity) -> Prepared {
        // Row-major whatever the input's layout (a column selection can be column-major):
        // `block` reads the rows as one slice.
        let mut rows = x.as_standard_layout().into_owned();
        match kind {
            Similarity::Cosine => unit_rows(&mut rows),
            Similarity::Pearson => {
                centre_rows(&mut rows);
                unit_rows(&mut rows);
            }
            Similarity::Spearman => {
                rows.axis_iter_mut(Axis(0))
                    .into_par_iter()
                    .for_each(|mut r| {
                        let ranks = profiles::stats::average_ranks(&r.to_vec());
                        r.assign(&ndarray::Array1::from(ranks));
                    });
                centre_rows(&mut rows);
                unit_rows(&mut rows);
            }
            Similarity::Euclidean => {}
        }
        let sq_norms = rows.axis_iter(Axis(0)).map(|r| r.dot(&r)).collect();
        Prepared {
            kind,
            rows,
            sq_norms,
        }
    }

    /// Rows prepared.
    pub fn n(&self) -> usize {
        self.rows.nrows()
    }

    /// Similarity of rows `i` and `j`.
    pub fn pair(&self, i: usize, j: usize) -> f64 {
        let d = self.rows.row(i).dot(&self.rows.row(j));
        self.finish(i, j, d)
    }

    fn finish(&self, i: usize, j: usize, dot: f64) -> f64 {
        match self.kind {
            Similarity::Euclidean => -(self.sq_norms[i] + self.sq_norms[j] - 2.0 * dot)
                .max(0.0)
                .sqrt(),
            _ => dot,
        }
    }

    /// Similarities of rows `start..end` to every row: a `(end − start) × n` block.
    pub fn block(&self, start: usize, end: usize) -> Array2<f64> {
        let (n, d) = self.rows.dim();
        let all = self
            .rows
            .as_slice()
            .expect("prepared rows are standard layout");
        let lhs = faer::MatRef::from_row_major_slice(&all[start * d..end * d], end - start, d);
        let rhs = faer::MatRef::from_row_major_slice(all, n, d);
        let mut out = Array2::<f64>::zeros((end - start, n));
        {
            let dst = faer::MatMut::from_row_major_slice_mut(
                out.as_slice_mut().expect("fresh array"),
                end - start,
                n,
            );
            // faer's GEMM (sequential: blocks already run in parallel) is several times faster
            // than ndarray's generic dot here.
            faer::linalg::matmul::matmul(
                dst,
                faer::Accum::Replace,
                lhs,
                rhs.transpose(),
                1.0,
                faer::Par::Seq,
            );
        }
        if self.kind == Similarity::Euclidean {
            for (bi, mut row) in out.axis_iter_mut(Axis(0)).enumerate() {
                for (j, v) in row.iter_mut().enumerate() {
                    *v = self.finish(start + bi, j, *v);
                }
            }
        }
        out
    }

    /// Calls `f(i, similarities of row i to all rows)` for every row, in parallel blocks of
    /// `block` rows: memory stays at `block × n` per thread, whatever n is.
    pub fn for_each_row<F>(&self, block: usize, f: F)
    where
        F: Fn(usize, &[f64]) + Sync,
    {
        let n = self.n();
        let block = block.max(1);
        (0..n.div_ceil(block)).into_par_iter().for_each(|b| {
            let (start, end) = (b * block, ((b + 1) * block).min(n));
            let sims = self.block(start, end);
            for (k, row) in sims.axis_iter(Axis(0)).enumerate() {
                f(start + k, row.as_slice().expect("row-major block"));
            }
        });
    }

    /// `f(i, similarities of row i to all rows)` for every row, results in row order; computed
    /// in parallel blocks of `block` rows so memory stays at `block × n` per thread.
    pub fn map_rows<T, F>(&self, block: usize, f: F) -> Vec<T>
    where
        T: Send,
        F: Fn(usize, &[f64]) -> T + Sync,
    {
        let n = self.n();
        let block = block.max(1);
        let parts: Vec<Vec<T>> = (0..n.div_ceil(block))
            .into_par_iter()
            .map(|b| {
                let (start, end) = (b * block, ((b + 1) * block).min(n));
                let sims = self.block(start, end);
                sims.axis_iter(Axis(0))
                    .enumerate()
                    .map(|(k, row)| f(start + k, row.as_slice().expect("row-major block")))
                    .collect()
            })
            .collect();
        parts.into_iter().flatten().collect()
    }

    /// The full N × N matrix (for small N and for metrics defined on it).
    pub fn matrix(&self) -> Array2<f64> {
        self.block(0, self.n())
    }
}

fn centre_rows(x: &mut Array2<f64>) {
    x.axis_iter_mut(Axis(0)).into_par_iter().for_each(|mut r| {
        let m = r.mean().unwrap_or(0.0);
        r -= m;
    });
}

fn unit_rows(x: &mut Array2<f64>) {
    x.axis_iter_mut(Axis(0)).into_par_iter().for_each(|mut r| {
        let n = r.dot(&r).sqrt();
        if n > 0.0 {
            r /= n;
        } else {
            // A constant (or zero) profile has no direction: its similarity is undefined.
            r.fill(f64::NAN);
        }
    });
}

/// Similarity between two profiles.
pub fn similarity(a: &[f64], b: &[f64], kind: Similarity) -> f64 {
    let x = ndarray::stack![
        Axis(0),
        ndarray::ArrayView1::from(a),
        ndarray::ArrayView1::from(b)
    ];
    Prepared::new(x.view(), kind).pair(0, 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn column_major_input_gives_the_same_block() {
        let x = array![[1.0, 2.0, 0.5], [0.3, -1.0, 2.0], [4.0, 0.0, 1.0]];
        let f = x.t().as_standard_layout().into_owned().reversed_axes(); // same values, F-order
        assert!(f.as_slice().is_none());
        for kind in [
            Similarity::Cosine,
            Similarity::Pearson,
            Similarity::Euclidean,
        ] {
            assert_eq!(
                Prepared::new(f.view(), kind).block(0, 3),
                Prepared::new(x.view(), kind).block(0, 3)
            );
        }
    }

    #[test]
    fn similarities_by_hand() {
        // a = [1, 0, 1], b = [1, 1, 0]: cosine = 1/2; Pearson: centred a = [1/3, −2/3, 1/3],
        // b = [1/3, 1/3, −2/3] → (1/9 − 2/9 − 2/9)/(6/9) = −1/2; Euclidean distance √2.
        let (a, b) = ([1.0, 0.0, 1.0], [1.0, 1.0, 0.0]);
        assert!((similarity(&a, &b, Similarity::Cosine) - 0.5).abs() < 1e-15);
        assert!((similarity(&a, &b, Similarity::Pearson) + 0.5).abs() < 1e-15);
        assert!((similarity(&a, &b, Similarity::Euclidean) + 2f64.sqrt()).abs() < 1e-15);
        assert!(
            (similarity(&[1.0, 2.0, 3.0], &[1.0, 8.0, 27.0], Similarity::Spearman) - 1.0).abs()
                < 1e-15
        );
    }

    #[test]
    fn blocks_equal_the_full_matrix() {
        let x = array![
            [1.0, 2.0, 0.5],
            [0.0, 1.0, 3.0],
            [2.0, 2.0, 2.1],
            [5.0, -1.0, 0.0],
            [0.3, 0.2, 0.1]
        ];
        for kind in [
            Similarity::Cosine,
            Similarity::Pearson,
            Similarity::Spearman,
            Similarity::Euclidean,
        ] {
            let p = Prepared::new(x.view(), kind);
            let full = p.matrix();
            let seen = std::sync::Mutex::new(Array2::<f64>::zeros((5, 5)));
            p.for_each_row(2, |i, row| {
                seen.lock()
                    .unwrap()
                    .row_mut(i)
                    .assign(&ndarray::ArrayView1::from(row))
            });
            let seen = seen.into_inner().unwrap();
            assert!((&full - &seen).iter().all(|v| v.abs() < 1e-15), "{kind:?}");
            assert!((full[[1, 3]] - p.pair(1, 3)).abs() < 1e-12);
        }
    }
}
