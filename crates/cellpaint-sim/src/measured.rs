//! Classical profiles measured from the rendered pixels, as a user's real pipeline makes them:
//! CellProfiler-style features of every cell (cell-measure, on the true segmentation), the
//! median per well (pycytominer's default aggregation). [`Screen::profiles`] stays the
//! latent-derived table, for tests that need the truth.

use cell_measure::{is_positional, measure_cells, FeatureSet, ObjectFeatures, Objects};
use ndarray::{Array2, ArrayView2, Axis};
use rayon::prelude::*;

use crate::{render_site, RenderedSite, Screen, SimError};

/// Every cell of a rendered site with all three compartments (Nuclei, Cells, Cytoplasm),
/// measured on the site's true segmentation in the channels `channels` (indices into
/// [`cell_images::CELL_PAINTING_CHANNELS`]; 16-bit / 65535, CellProfiler's scale). Row labels
/// are `nuclei` indices + 1.
pub fn measure_site(
    site: &RenderedSite,
    channels: &[usize],
    set: &FeatureSet,
) -> Result<ObjectFeatures, SimError> {
    if let Some(&bad) = channels.iter().find(|&&c| c >= site.pixels.dim().0) {
        return Err(SimError::Config(format!(
            "channel index {bad}: a site has {} channels",
            site.pixels.dim().0
        )));
    }
    let nuclei = Objects::from_labels(site.nucleus_labels.clone());
    let cells = Objects::from_labels(site.cell_labels.clone());
    let pixels: Vec<Array2<f64>> = channels
        .iter()
        .map(|&c| {
            site.pixels
                .index_axis(Axis(0), c)
                .mapv(|v| f64::from(v) / 65535.0)
        })
        .collect();
    let named: Vec<(&str, ArrayView2<'_, f64>)> = channels
        .iter()
        .map(|&c| cell_images::CELL_PAINTING_CHANNELS[c])
        .zip(pixels.iter().map(|p| p.view()))
        .collect();
    Ok(measure_cells(&nuclei, &cells, &named, set)?)
}

/// The five channels' indices, DNA, ER, RNA, AGP, Mito.
const ALL_CHANNELS: [usize; 5] = [0, 1, 2, 3, 4];

impl Screen {
    /// Well profiles measured from the pixels: every site of every well rendered, every cell
    /// measured in all five channels ([`measure_site`]), each feature's median over the
    /// well's cells (non-finite values, e.g. a correlation in a flat object, left out of the
    /// median). Positional
    /// columns ([`is_positional`]) are left out, and so is any feature that is not finite in
    /// every well (one without a single defined cell). Metadata as [`Screen::profiles`].
    pub fn measured_profiles(&self, set: &FeatureSet) -> Result<profiles::ProfileTable, SimError> {
        let sites = self.config().sites_per_well;
        // `measure_cells`' columns: the three compartments' in turn.
        let names: Vec<String> = ["Nuclei", "Cells", "Cytoplasm"]
            .iter()
            .flat_map(|o| set.names(o, &cell_images::CELL_PAINTING_CHANNELS))
            .collect();
        let per_well: Vec<Vec<f64>> = (0..self.wells.len())
            .into_par_iter()
            .map(|w| -> Result<_, SimError> {
                let measured = (0..sites)
                    .map(|s| measure_site(&render_site(self, w, s), &ALL_CHANNELS, set))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((0..names.len())
                    .map(|j| {
                        profiles::stats::median(
                            measured
                                .iter()
                                .flat_map(|m| m.values.column(j).into_iter().copied()),
                        )
                    })
                    .collect())
            })
            .collect::<Result<_, _>>()?;
        let keep: Vec<usize> = (0..names.len())
            .filter(|&j| !is_positional(&names[j]) && per_well.iter().all(|r| r[j].is_finite()))
            .collect();
        let x = Array2::from_shape_fn((per_well.len(), keep.len()), |(i, j)| per_well[i][keep[j]]);
        let kept = keep.iter().map(|&j| names[j].clone()).collect();
        Ok(self.profiles()?.with_features(kept, x)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SimConfig;

    fn tiny() -> Screen {
        Screen::design(&SimConfig {
            n_moas: 2,
            compounds_per_moa: 1,
            replicates: 1,
            n_combinations: 0,
            doses: vec![10.0],
            control_wells_per_plate: 2,
            sites_per_well: 1,
            mean_cells_per_site: 8.0,
            image_size: 96,
            ..SimConfig::default()
        })
        .unwrap()
    }

    /// The measured table has the latent table's wells and metadata, CellProfiler's columns
    /// without positional ones, finite values, and a well's value is the median of its cells.
    #[test]
    fn measured_profiles_are_the_median_of_each_wells_cells() {
        let screen = tiny();
        let set = FeatureSet {
            correlation: false,
            texture_scale: None,
            ..FeatureSet::default()
        };
        let t = screen.measured_profiles(&set).unwrap();
        let latent = screen.profiles().unwrap();
        assert_eq!(t.n_rows(), latent.n_rows());
        assert_eq!(
            t.metadata("Metadata_Well").unwrap(),
            latent.metadata("Metadata_Well").unwrap()
        );
        assert!(t.feature_names().iter().all(|n| !is_positional(n)));
        assert!(t.features().iter().all(|v| v.is_finite()));
        let col = t
            .feature_names()
            .iter()
            .position(|n| n == "Nuclei_AreaShape_Area")
            .unwrap();
        let cells = measure_site(&render_site(&screen, 0, 0), &ALL_CHANNELS, &set).unwrap();
        let j = cells
            .names
            .iter()
            .position(|n| n == "Nuclei_AreaShape_Area")
            .unwrap();
        let median = profiles::stats::median(cells.values.column(j).iter().copied());
        assert_eq!(t.features()[[0, col]], median);
        assert!(cells.values.nrows() >= 4, "{} cells", cells.values.nrows());
    }
}
