//! Objects of a label image: each label's pixels and bounding box.

use ndarray::{Array2, ArrayView2};

/// One object: its label and pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    /// Its value in the label image (≥ 1).
    pub label: u32,
    /// `(row, column)` of each pixel, in raster order.
    pub pixels: Vec<(usize, usize)>,
    /// First row and column of its bounding box.
    pub min: (usize, usize),
    /// One past its last row and column (CellProfiler's `BoundingBoxMaximum`).
    pub max: (usize, usize),
}

impl Object {
    /// `(height, width)` of the bounding box.
    pub fn box_shape(&self) -> (usize, usize) {
        (self.max.0 - self.min.0, self.max.1 - self.min.1)
    }

    /// The object as a boolean image of its bounding box.
    pub fn mask(&self) -> Array2<bool> {
        let mut m = Array2::from_elem(self.box_shape(), false);
        for &(r, c) in &self.pixels {
            m[[r - self.min.0, c - self.min.1]] = true;
        }
        m
    }
}

/// A label image (0 = background) and its objects, in increasing label order.
#[derive(Debug, Clone)]
pub struct Objects {
    labels: Array2<u32>,
    objects: Vec<Object>,
}

impl Objects {
    /// The 4-connected components of `mask`, numbered 1, 2, … in the raster order of their
    /// first pixel (as `scipy.ndimage.label` numbers them). CellProfiler saves its objects as
    /// binary masks too; objects that touch there become one component.
    pub fn from_mask(mask: ArrayView2<'_, bool>) -> Self {
        let (h, w) = mask.dim();
        let mut labels = Array2::<u32>::zeros((h, w));
        let mut next = 0u32;
        let mut stack = Vec::new();
        for r in 0..h {
            for c in 0..w {
                if !mask[[r, c]] || labels[[r, c]] != 0 {
                    continue;
                }
                next += 1;
                labels[[r, c]] = next;
                stack.push((r, c));
                while let Some(p) = stack.pop() {
                    for q in neighbours4(p, (h, w)) {
                        if mask[q] && labels[q] == 0 {
                            labels[q] = next;
                            stack.push(q);
                        }
                    }
                }
            }
        }
        Self::from_labels(labels)
    }

    /// The objects of a label image as given (a segmentation's own numbering; labels need not
    /// be contiguous, and an object need not be connected).
    pub fn from_labels(labels: Array2<u32>) -> Self {
        let max_label = labels.iter().copied().max().unwrap_or(0) as usize;
        let mut slots: Vec<Option<Object>> = vec![None; max_label + 1];
        for ((r, c), &l) in labels.indexed_iter() {
            if l == 0 {
                continue;
            }
            let o = slots[l as usize].get_or_insert_with(|| Object {
                label: l,
                pixels: Vec::new(),
                min: (r, c),
                max: (r + 1, c + 1),
            });
            o.pixels.push((r, c));
            o.min = (o.min.0.min(r), o.min.1.min(c));
            o.max = (o.max.0.max(r + 1), o.max.1.max(c + 1));
        }
        Self {
            labels,
            objects: slots.into_iter().flatten().collect(),
        }
    }

    /// An error unless an image of size `dim` fits this label image.
    pub(crate) fn check_size(&self, dim: (usize, usize)) -> crate::Result<()> {
        if self.labels.dim() == dim {
            Ok(())
        } else {
            Err(crate::MeasureError::ShapeMismatch {
                labels: self.labels.dim(),
                pixels: dim,
            })
        }
    }

    /// Number of objects.
    pub fn count(&self) -> usize {
        self.objects.len()
    }

    /// The objects, in increasing label order.
    pub fn objects(&self) -> &[Object] {
        &self.objects
    }

    /// The label image.
    pub fn labels(&self) -> ArrayView2<'_, u32> {
        self.labels.view()
    }

    /// CellProfiler's tertiary objects (`IdentifyTertiaryObjects`, shrinking the smaller
    /// objects first): each of these objects minus the inside of `inner`'s objects, keeping its
    /// label. "Inside" is a pixel whose 8 neighbours within the image all carry its label, so
    /// an inner object's outline stays with the outer one (Cytoplasm = Cells − Nuclei). Label
    /// images of different sizes are an error.
    pub fn minus_inside_of(&self, inner: &Objects) -> crate::Result<Objects> {
        self.check_size(inner.labels.dim())?;
        let (h, w) = self.labels.dim();
        let n = &inner.labels;
        let inside = |r: usize, c: usize| {
            let l = n[[r, c]];
            l != 0
                && (r.saturating_sub(1)..(r + 2).min(h))
                    .all(|y| (c.saturating_sub(1)..(c + 2).min(w)).all(|x| n[[y, x]] == l))
        };
        let labels =
            Array2::from_shape_fn(
                (h, w),
                |(r, c)| {
                    if inside(r, c) {
                        0
                    } else {
                        self.labels[[r, c]]
                    }
                },
            );
        Ok(Objects::from_labels(labels))
    }

    /// Whether pixel `(r, c)` of `object` is on its edge: a 4-neighbour inside the image has
    /// another label (background or another object). The image's own border is not an edge,
    /// as in CellProfiler's `find_boundaries(mode="inner")`.
    pub fn is_edge(&self, object: &Object, r: usize, c: usize) -> bool {
        let (h, w) = self.labels.dim();
        let l = object.label;
        (r > 0 && self.labels[[r - 1, c]] != l)
            || (r + 1 < h && self.labels[[r + 1, c]] != l)
            || (c > 0 && self.labels[[r, c - 1]] != l)
            || (c + 1 < w && self.labels[[r, c + 1]] != l)
    }
}

/// The 4-connected neighbours of `p` inside an image of size `(h, w)`.
pub(crate) fn neighbours4(
    (r, c): (usize, usize),
    (h, w): (usize, usize),
) -> impl Iterator<Item = (usize, usize)> {
    [
        (r.wrapping_sub(1), c),
        (r + 1, c),
        (r, c.wrapping_sub(1)),
        (r, c + 1),
    ]
    .into_iter()
    .filter(move |&(y, x)| y < h && x < w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn components_are_four_connected_and_numbered_in_raster_order() {
        // A diagonal touch does not join; the U is one object; numbering by first pixel.
        let m = array![
            [0, 0, 0, 1, 0],
            [1, 0, 1, 0, 0],
            [1, 0, 1, 0, 1],
            [1, 1, 1, 0, 0],
        ]
        .mapv(|v| v == 1);
        let o = Objects::from_mask(m.view());
        assert_eq!(o.count(), 3);
        assert_eq!(
            o.labels(),
            array![
                [0, 0, 0, 1, 0],
                [2, 0, 2, 0, 0],
                [2, 0, 2, 0, 3],
                [2, 2, 2, 0, 0],
            ]
        );
        let u = &o.objects()[1];
        assert_eq!((u.min, u.max, u.pixels.len()), ((1, 0), (4, 3), 7));
        assert!(u.is_valid_mask());
    }

    #[test]
    fn given_labels_keep_their_numbers_and_edges_see_other_objects() {
        let o = Objects::from_labels(array![[5, 5, 7], [5, 5, 7], [0, 0, 0]]);
        assert_eq!(
            o.objects().iter().map(|x| x.label).collect::<Vec<_>>(),
            [5, 7]
        );
        let five = &o.objects()[0];
        // (0, 0): neighbours are 5s and the image border, so not an edge; (0, 1) touches 7.
        assert!(!o.is_edge(five, 0, 0));
        assert!(o.is_edge(five, 0, 1));
        assert!(o.is_edge(five, 1, 0));
    }

    #[test]
    fn subtracting_objects_of_another_image_size_is_an_error() {
        let cells = Objects::from_labels(array![[1, 1], [1, 1]]);
        let nuclei = Objects::from_labels(array![[1, 1, 0]]);
        let e = cells.minus_inside_of(&nuclei).unwrap_err().to_string();
        assert!(e.contains("(2, 2)") && e.contains("(1, 3)"), "{e}");
    }

    impl Object {
        fn is_valid_mask(&self) -> bool {
            self.mask().iter().filter(|&&v| v).count() == self.pixels.len()
        }
    }
}
