//! Every feature family of one object set in one field, as one table with CellProfiler's
//! column names, and the three compartments of a cell (Nuclei, Cells, Cytoplasm) joined per
//! cell: what `cellpaint measure` writes and what a well profile is aggregated from.

use ndarray::{Array2, ArrayView2};

use crate::{
    measure_correlation, measure_intensity, measure_shapes, measure_texture, AreaShape,
    Correlation, GranularSpectrum, GranularityParams, Intensity, Objects, RadialGeometry,
    RadialParams, Result, Texture,
};

/// Which feature families to measure. `Default` is everything this crate has, each with
/// CellProfiler's default settings (texture at scale 3, granularity 1–16 at subsample 0.25,
/// radial distribution in 4 rings).
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureSet {
    /// AreaShape (`MeasureObjectSizeShape`).
    pub area_shape: bool,
    /// Intensity per channel (`MeasureObjectIntensity`).
    pub intensity: bool,
    /// Correlation per channel pair (`MeasureColocalization`).
    pub correlation: bool,
    /// Haralick texture per channel at this distance in pixels; `None` skips texture.
    pub texture_scale: Option<usize>,
    /// Granular spectrum per channel (`MeasureGranularity`); `None` skips it.
    pub granularity: Option<GranularityParams>,
    /// Radial intensity distribution per channel (`MeasureObjectIntensityDistribution`);
    /// `None` skips it.
    pub radial: Option<RadialParams>,
}

impl Default for FeatureSet {
    fn default() -> Self {
        Self {
            area_shape: true,
            intensity: true,
            correlation: true,
            texture_scale: Some(3),
            granularity: Some(GranularityParams::default()),
            radial: Some(RadialParams::default()),
        }
    }
}

impl FeatureSet {
    /// Column names for objects called `object` measured in `channels`, in the order of
    /// [`ObjectFeatures::values`]: AreaShape, Intensity per channel, Correlation per pair (in
    /// channel order), Texture per channel.
    pub fn names(&self, object: &str, channels: &[&str]) -> Vec<String> {
        let mut names = Vec::new();
        if self.area_shape {
            names.extend(
                AreaShape::NAMES
                    .iter()
                    .map(|n| format!("{object}_AreaShape_{n}")),
            );
        }
        if self.intensity {
            for ch in channels {
                names.extend(
                    Intensity::NAMES
                        .iter()
                        .map(|n| format!("{object}_{n}_{ch}")),
                );
            }
        }
        if self.correlation {
            for (i, a) in channels.iter().enumerate() {
                for b in &channels[i + 1..] {
                    names.extend(
                        Correlation::names(a, b)
                            .iter()
                            .map(|n| format!("{object}_{n}")),
                    );
                }
            }
        }
        if let Some(scale) = self.texture_scale {
            for ch in channels {
                names.extend(
                    Texture::names(ch, scale)
                        .iter()
                        .map(|n| format!("{object}_{n}")),
                );
            }
        }
        if let Some(g) = &self.granularity {
            for ch in channels {
                names.extend(g.names(ch).iter().map(|n| format!("{object}_{n}")));
            }
        }
        if let Some(r) = &self.radial {
            for ch in channels {
                names.extend(r.names(ch).iter().map(|n| format!("{object}_{n}")));
            }
        }
        names
    }

    /// Each channel's granular spectrum when granularity is measured (one per field and
    /// channel, shared by every object set of the field), else none.
    fn spectra(&self, channels: &[(&str, ArrayView2<'_, f64>)]) -> Result<Vec<GranularSpectrum>> {
        match &self.granularity {
            Some(g) => channels
                .iter()
                .map(|(_, px)| GranularSpectrum::new(*px, g))
                .collect(),
            None => Ok(Vec::new()),
        }
    }
}

/// Whether a column says where an object is rather than what it is (centres, bounding-box
/// corners, intensity-weighted locations; the bounding box's area stays, it is a size): the columns pycytominer's default blocklist keeps out of
/// profiles, since a cell's position in the field carries no biology.
pub fn is_positional(name: &str) -> bool {
    [
        "_Center_",
        "_BoundingBoxMinimum_",
        "_BoundingBoxMaximum_",
        "_Location_",
    ]
    .iter()
    .any(|p| name.contains(p))
}

/// The features of every object of one set in one field.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectFeatures {
    /// Column names ([`FeatureSet::names`]).
    pub names: Vec<String>,
    /// Each row's object label.
    pub labels: Vec<u32>,
    /// `(objects, names)`, objects in the order of [`Objects::objects`].
    pub values: Array2<f64>,
}

/// Every family of `set` for every object of `objects` in `channels` (name, pixels on 0–1),
/// columns named for `object` (e.g. `Nuclei`). To measure several object sets of one field,
/// [`MeasuredField`] computes what they share once.
pub fn measure_objects(
    object: &str,
    objects: &Objects,
    channels: &[(&str, ArrayView2<'_, f64>)],
    set: &FeatureSet,
) -> Result<ObjectFeatures> {
    for (_, px) in channels {
        objects.check_size(px.dim())?;
    }
    MeasuredField::new(channels, set)?.measure(object, objects)
}

/// One field's channels and what every object set measured in them shares (each channel's
/// granular spectrum): build it once per field, then [`Self::measure`] Nuclei, Cells,
/// Cytoplasm, … in turn.
pub struct MeasuredField<'a, 'n, 'p> {
    channels: &'a [(&'n str, ArrayView2<'p, f64>)],
    set: &'a FeatureSet,
    spectra: Vec<GranularSpectrum>,
}

impl<'a, 'n, 'p> MeasuredField<'a, 'n, 'p> {
    /// The field's `channels` (name, pixels on 0–1), to be measured with `set`.
    pub fn new(
        channels: &'a [(&'n str, ArrayView2<'p, f64>)],
        set: &'a FeatureSet,
    ) -> Result<Self> {
        Ok(Self {
            channels,
            set,
            spectra: set.spectra(channels)?,
        })
    }

    /// Every family of the set for every object of `objects`, columns named for `object`.
    pub fn measure(&self, object: &str, objects: &Objects) -> Result<ObjectFeatures> {
        for (_, px) in self.channels {
            objects.check_size(px.dim())?;
        }
        measure_with_spectra(object, objects, self.channels, self.set, &self.spectra)
    }
}

/// [`measure_objects`] with the channels' granular spectra already computed.
fn measure_with_spectra(
    object: &str,
    objects: &Objects,
    channels: &[(&str, ArrayView2<'_, f64>)],
    set: &FeatureSet,
    spectra: &[GranularSpectrum],
) -> Result<ObjectFeatures> {
    let names: Vec<&str> = channels.iter().map(|c| c.0).collect();
    let columns = set.names(object, &names);
    let n = objects.count();
    let mut values = Array2::<f64>::zeros((n, columns.len()));
    let mut col = 0;
    // Each family fills its block of columns, object by object.
    let mut fill = |width: usize, row_values: &dyn Fn(usize) -> Vec<f64>| {
        for i in 0..n {
            let v = row_values(i);
            debug_assert_eq!(v.len(), width);
            for (j, x) in v.into_iter().enumerate() {
                values[[i, col + j]] = x;
            }
        }
        col += width;
    };
    if set.area_shape {
        let shapes = measure_shapes(objects);
        fill(AreaShape::NAMES.len(), &|i| shapes[i].values().to_vec());
    }
    if set.intensity {
        for (_, px) in channels {
            let m = measure_intensity(objects, *px)?;
            fill(Intensity::NAMES.len(), &|i| m[i].values().to_vec());
        }
    }
    if set.correlation {
        for i in 0..channels.len() {
            for j in i + 1..channels.len() {
                let m = measure_correlation(objects, channels[i].1, channels[j].1)?;
                fill(9, &|k| m[k].values().to_vec());
            }
        }
    }
    if let Some(scale) = set.texture_scale {
        for (_, px) in channels {
            let m = measure_texture(objects, *px, scale)?;
            fill(4 * crate::HARALICK.len(), &|k| m[k].flat());
        }
    }
    if let Some(g) = &set.granularity {
        for spectrum in spectra {
            let m = spectrum.of_objects(objects)?;
            fill(g.spectrum_length, &|k| m[k].clone());
        }
    }
    if let Some(r) = &set.radial {
        let geometry = RadialGeometry::of(objects, r)?;
        for (_, px) in channels {
            let m = geometry.values(objects, *px)?;
            fill(3 * r.bins, &|k| m[k].clone());
        }
    }
    Ok(ObjectFeatures {
        names: columns,
        labels: objects.objects().iter().map(|o| o.label).collect(),
        values,
    })
}

/// CellProfiler's three compartments of each cell, one row per cell: `Nuclei_…`, `Cells_…`,
/// `Cytoplasm_…` columns, Cytoplasm = Cells minus the inside of Nuclei (a cell's nucleus
/// shares its label; CellProfiler's tertiary objects keep the nucleus's outline in the
/// cytoplasm). Only cells with all three compartments get a row (a cell lying inside its
/// nucleus's interior has no cytoplasm; a nucleus may be missing), in label order; `labels`
/// says which.
pub fn measure_cells(
    nuclei: &Objects,
    cells: &Objects,
    channels: &[(&str, ArrayView2<'_, f64>)],
    set: &FeatureSet,
) -> Result<ObjectFeatures> {
    let cytoplasm = cells.minus_inside_of(nuclei)?;
    for (_, px) in channels {
        cells.check_size(px.dim())?;
    }
    let field = MeasuredField::new(channels, set)?;
    let parts = [
        field.measure("Nuclei", nuclei)?,
        field.measure("Cells", cells)?,
        field.measure("Cytoplasm", &cytoplasm)?,
    ];
    let row_of = |part: &ObjectFeatures| -> std::collections::HashMap<u32, usize> {
        part.labels
            .iter()
            .enumerate()
            .map(|(i, &l)| (l, i))
            .collect()
    };
    let rows: Vec<_> = parts.iter().map(row_of).collect();
    let mut labels: Vec<u32> = parts[1]
        .labels
        .iter()
        .copied()
        .filter(|l| rows.iter().all(|r| r.contains_key(l)))
        .collect();
    labels.sort_unstable();
    let width: usize = parts.iter().map(|p| p.names.len()).sum();
    let mut values = Array2::<f64>::zeros((labels.len(), width));
    for (i, l) in labels.iter().enumerate() {
        let mut col = 0;
        for (part, at) in parts.iter().zip(&rows) {
            let src = part.values.row(at[l]);
            values
                .row_mut(i)
                .slice_mut(ndarray::s![col..col + src.len()])
                .assign(&src);
            col += src.len();
        }
    }
    Ok(ObjectFeatures {
        names: parts.iter().flat_map(|p| p.names.iter().cloned()).collect(),
        labels,
        values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two cells, each a 7×7 square around a 3×3 nucleus, on a gradient.
    fn two_cells() -> (Objects, Objects, Array2<f64>, Array2<f64>) {
        let mut n = Array2::<u32>::zeros((12, 20));
        let mut c = Array2::<u32>::zeros((12, 20));
        for (label, c0) in [(1u32, 1usize), (2, 11)] {
            for r in 2..9 {
                for k in c0..c0 + 7 {
                    c[[r, k]] = label;
                }
            }
            for r in 4..7 {
                for k in c0 + 2..c0 + 5 {
                    n[[r, k]] = label;
                }
            }
        }
        let a = Array2::from_shape_fn((12, 20), |(r, k)| (r * 20 + k) as f64 / 400.0);
        let b = Array2::from_shape_fn((12, 20), |(r, k)| ((r + 2 * k) % 7) as f64 / 10.0);
        (Objects::from_labels(n), Objects::from_labels(c), a, b)
    }

    #[test]
    fn one_row_per_cell_with_every_compartment_and_family() {
        let (n, c, a, b) = two_cells();
        let ch = [("DNA", a.view()), ("RNA", b.view())];
        let set = FeatureSet::default();
        let t = measure_cells(&n, &c, &ch, &set).unwrap();
        assert_eq!(t.labels, vec![1, 2]);
        // Per compartment: 23 shape + 2 × 19 intensity + 9 correlation + 2 × 52 texture
        // + 2 × 16 granularity + 2 × 12 radial distribution.
        assert_eq!(t.names.len(), 3 * (25 + 38 + 9 + 104 + 32 + 24));
        assert_eq!(t.values.dim(), (2, t.names.len()));
        let col = |name: &str| t.names.iter().position(|x| x == name).unwrap();
        assert_eq!(t.values[[0, col("Nuclei_AreaShape_Area")]], 9.0);
        assert_eq!(t.values[[0, col("Cells_AreaShape_Area")]], 49.0);
        // CellProfiler's tertiary objects keep the nucleus's outline: 49 − the one interior pixel.
        assert_eq!(t.values[[1, col("Cytoplasm_AreaShape_Area")]], 48.0);
        // Each block holds what the family's own function measures.
        let mean = measure_intensity(&c, a.view()).unwrap();
        assert_eq!(
            t.values[[1, col("Cells_Intensity_MeanIntensity_DNA")]],
            mean[1].mean
        );
        let corr = measure_correlation(&n, a.view(), b.view()).unwrap();
        let got = t.values[[0, col("Nuclei_Correlation_Correlation_DNA_RNA")]];
        assert!(got == corr[0].correlation || (got.is_nan() && corr[0].correlation.is_nan()));
        let tex = measure_texture(&c, b.view(), 3).unwrap();
        let got = t.values[[1, col("Cells_Texture_Contrast_RNA_3_02_256")]];
        assert!(got == tex[1].values[2][1] || (got.is_nan() && tex[1].values[2][1].is_nan()));
    }

    #[test]
    fn a_cell_without_cytoplasm_gets_no_row_and_families_can_be_left_out() {
        let (n, c, a, _) = two_cells();
        // Cell 2 shrinks to its nucleus's one interior pixel: no cytoplasm left.
        let mut cl = c.labels().to_owned();
        cl.mapv_inplace(|v| if v == 2 { 0 } else { v });
        cl[[5, 14]] = 2;
        let set = FeatureSet {
            correlation: false,
            texture_scale: None,
            granularity: None,
            radial: None,
            ..FeatureSet::default()
        };
        let t = measure_cells(&n, &Objects::from_labels(cl), &[("DNA", a.view())], &set).unwrap();
        assert_eq!(t.labels, vec![1]);
        assert_eq!(t.names.len(), 3 * (25 + 19));
        assert!(t.names.iter().filter(|x| is_positional(x)).count() == 3 * (6 + 4));
    }

    #[test]
    fn pixels_of_another_size_are_an_error() {
        let (n, c, _, _) = two_cells();
        let small = Array2::<f64>::zeros((5, 5));
        let err = measure_cells(&n, &c, &[("DNA", small.view())], &FeatureSet::default());
        assert!(err.unwrap_err().to_string().contains("label image"));
    }
}
