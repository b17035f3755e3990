//! DeepProfiler's class balancing: every epoch each class contributes the same number of cells,
//! `factor` × the median class size — a random subset when it has more, every cell plus draws
//! with replacement when it has fewer.

use cellpaint_core::rng::Rng;
use rand::seq::SliceRandom;
use rand::Rng as _;

/// One epoch's cell indices (shuffled), balanced over the classes of `labels`.
pub fn balanced_epoch(labels: &[usize], factor: f64, rng: &mut Rng) -> Vec<usize> {
    let n_classes = labels.iter().copied().max().map_or(0, |m| m + 1);
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); n_classes];
    for (i, &l) in labels.iter().enumerate() {
        by_class[l].push(i);
    }
    by_class.retain(|c| !c.is_empty());
    if by_class.is_empty() {
        return Vec::new();
    }
    let mut sizes: Vec<usize> = by_class.iter().map(Vec::len).collect();
    sizes.sort_unstable();
    let mid = sizes.len() / 2;
    let median = if sizes.len() % 2 == 1 {
        sizes[mid] as f64
    } else {
        (sizes[mid - 1] + sizes[mid]) as f64 / 2.0
    };
    let per_class = ((median * factor).round() as usize).max(1);
    let mut out = Vec::with_capacity(per_class * by_class.len());
    for members in &mut by_class {
        members.shuffle(rng);
        if members.len() >= per_class {
            out.extend_from_slice(&members[..per_class]);
        } else {
            out.extend_from_slice(members);
            for _ in members.len()..per_class {
                out.push(members[rng.random_range(0..members.len())]);
            }
        }
    }
    out.shuffle(rng);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use cellpaint_core::rng::seeded_rng;

    #[test]
    fn every_class_gets_the_median_count() {
        // Class sizes 2, 5, 9 → median 5: class 0 drawn with replacement (both cells present),
        // class 2 subsampled without repeats.
        let mut labels = vec![0; 2];
        labels.extend(vec![1; 5]);
        labels.extend(vec![2; 9]);
        let e = balanced_epoch(&labels, 1.0, &mut seeded_rng(1));
        assert_eq!(e.len(), 15);
        for c in 0..3 {
            assert_eq!(
                e.iter().filter(|&&i| labels[i] == c).count(),
                5,
                "class {c}"
            );
        }
        assert!(
            e.contains(&0) && e.contains(&1),
            "a short class keeps every cell"
        );
        let mut big: Vec<usize> = e.iter().copied().filter(|&i| labels[i] == 2).collect();
        big.sort_unstable();
        big.dedup();
        assert_eq!(big.len(), 5, "no repeats when the class is large enough");
        assert_eq!(
            e,
            balanced_epoch(&labels, 1.0, &mut seeded_rng(1)),
            "seeded"
        );
        assert_ne!(e, balanced_epoch(&labels, 1.0, &mut seeded_rng(2)));
        assert_eq!(balanced_epoch(&labels, 2.0, &mut seeded_rng(1)).len(), 30);
        assert!(balanced_epoch(&[], 1.0, &mut seeded_rng(1)).is_empty());
    }
}
