"""Reference measurements of the real NF1 fields, for crates/cell-measure/tests/reference.rs.

Two peers on the same pixels and objects:
* cp_measure 0.3.0 (CellProfiler's measurements as a Python package): AreaShape, Intensity and
  Correlation (Pearson, slope, overlap, K, Manders, RWC; threshold 15 %) and Texture
  (Haralick, scale 3, 4 directions, 256 levels), Granularity (CellProfiler's defaults:
  subsample 0.25, background subsample 0.25, element radius 10, 16 steps) and
  RadialDistribution (4 scaled rings, the objects' own centres) of every object of the objects listed in OBJECTS below. Objects are the 4-connected components
  of CellProfiler's binary masks (scipy.ndimage.label, numbered in raster order). Intensity uses
  CellProfiler's quantile convention (`legacy=True`).
* CellProfiler itself: the one cell per well of the shrunken parquet file, where our component
  is CellProfiler's object (same area and centre): its AreaShape values. CellProfiler measured
  other pixels than the staged images (their MD5 differs; illumination-corrected), so only shape
  features are compared with it.

Run (not in CI):
    pip install cp_measure==0.3.0 pyarrow tifffile imagecodecs
    python3 scripts/nf1_measure_reference.py [DATA_DIR]
Writes fixtures/nf1_measure_reference.json.
"""
import importlib.metadata, json, math, os, sys

import numpy as np
import pyarrow.parquet as pq
import scipy.ndimage as ndi
import tifffile
from cp_measure.core.measureobjectintensity import get_intensity
from cp_measure.core.measuretexture import get_texture
from cp_measure.core.measurecolocalization import (get_correlation_manders_fold,
                                                   get_correlation_overlap,
                                                   get_correlation_pearson, get_correlation_rwc)
from cp_measure.bulk import get_core_measurements
from cp_measure.core.measuregranularity import get_granularity
from cp_measure.core.measureobjectintensitydistribution import get_radial_distribution

DATA = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("CELLPAINT_DATA", "../shared/data")
NF1 = os.path.join(DATA, "images/nf1_schwann_3ch")
# (mask file, image measured, second image for Correlation) — kept small: the fixture is
# committed.
OBJECTS = [
    ("D7_01_1_1_DAPI_001_MaskNuclei.tiff", "D7_01_1_1_DAPI_001.tif", "D7_01_3_1_RFP_001.tif"),
    ("B7_01_1_3_DAPI_001_MaskNuclei.tiff", "B7_01_1_3_DAPI_001.tif", "B7_01_2_3_GFP_001.tif"),
    ("D7_01_3_1_RFP_001_MaskCells.tiff", "D7_01_3_1_RFP_001.tif", "D7_01_2_1_GFP_001.tif"),
]
SHAPE = ["Area", "Perimeter", "FormFactor", "Compactness", "Eccentricity", "MajorAxisLength",
         "MinorAxisLength", "Orientation", "Solidity", "ConvexArea", "Extent", "EulerNumber",
         "EquivalentDiameter", "Center_X", "Center_Y", "BoundingBoxArea", "BoundingBoxMinimum_X",
         "BoundingBoxMinimum_Y", "BoundingBoxMaximum_X", "BoundingBoxMaximum_Y",
         "MaximumRadius", "MeanRadius", "MedianRadius", "MinFeretDiameter", "MaxFeretDiameter"]


def finite_or_null(v):
    """JSON has no infinity: a non-finite value (FormFactor of a one-pixel object) is null."""
    v = float(v)
    return v if math.isfinite(v) else None


def labels_of(mask_file):
    mask = tifffile.imread(os.path.join(NF1, "Plate_2_masks", mask_file)) > 0
    labels, _ = ndi.label(mask)
    return labels


def main():
    out = {"cp_measure_version": importlib.metadata.version("cp_measure"),
           "fields": [], "cellprofiler": []}
    core = get_core_measurements()
    sizeshape = lambda labels, pixels: {**core["sizeshape"](labels, pixels), **core["feret"](labels, pixels)}
    for mask_file, image_file, other_file in OBJECTS:
        labels = labels_of(mask_file)
        read = lambda f: tifffile.imread(os.path.join(NF1, "Plate_2_images", f)).astype(np.float64) / 65535.0
        pixels, other = read(image_file), read(other_file)
        # Texture for the D7 fields only (52 values per object keep the fixture small).
        texture = get_texture(labels, pixels, scale=3) if mask_file.startswith("D7") else {}
        corr = {}
        for get in (get_correlation_pearson, get_correlation_overlap, get_correlation_manders_fold,
                    get_correlation_rwc):
            corr.update(get(pixels, other, labels))
        shape = sizeshape(labels, pixels)
        inten = get_intensity(labels, pixels, legacy=True)
        granularity = get_granularity(labels, pixels)
        radial = get_radial_distribution(labels, pixels)
        n = int(labels.max())
        out["fields"].append({
            "mask": mask_file, "image": image_file, "other_image": other_file, "objects": n,
            "correlation": {k: [finite_or_null(v) for v in vals] for k, vals in sorted(corr.items())},
            "texture": {k: [finite_or_null(v) for v in vals] for k, vals in sorted(texture.items())},
            "shape": {k: [finite_or_null(v) for v in shape[k]] for k in SHAPE},
            "intensity": {k: [finite_or_null(v) for v in inten[k]] for k in sorted(inten)
                          if not k.endswith("_Z")},
            "granularity": {k: [finite_or_null(v) for v in vals] for k, vals in granularity.items()},
            "radial": {k: [finite_or_null(v) for v in vals] for k, vals in sorted(radial.items())},
        })
    table = pq.read_table(os.path.join(NF1, "Plate_2_with_image_data_shrunken.parquet")).to_pydict()
    for i in range(len(table["ImageNumber"])):
        well, site = table["Image_Metadata_Well_x"][i], table["Image_Metadata_Site_x"][i]
        for compartment, pattern in [("Nuclei", f"{well}_01_1_{site}_DAPI_001_MaskNuclei.tiff"),
                                     ("Cells", f"{well}_01_3_{site}_RFP_001_MaskCells.tiff")]:
            labels = labels_of(pattern)
            x = table[f"{compartment}_Location_Center_X"][i]
            y = table[f"{compartment}_Location_Center_Y"][i]
            label = int(labels[int(round(y)), int(round(x))])
            if label == 0:
                continue
            ys, xs = np.nonzero(labels == label)
            same = (len(ys) == table[f"{compartment}_AreaShape_Area"][i]
                    and abs(xs.mean() - x) < 1e-9 and abs(ys.mean() - y) < 1e-9)
            if not same:
                continue  # CellProfiler's object touches another in the binary mask
            out["cellprofiler"].append({
                "mask": pattern, "label": label, "compartment": compartment,
                "shape": {k: float(table[f"{compartment}_AreaShape_{k}"][i]) for k in SHAPE},
            })
    path = os.path.join(os.path.dirname(__file__), "..", "fixtures", "nf1_measure_reference.json")
    with open(path, "w") as f:
        json.dump(out, f, separators=(",", ":"))
    print(f"wrote {path}: {[fl['objects'] for fl in out['fields']]} objects, "
          f"{len(out['cellprofiler'])} CellProfiler objects")


if __name__ == "__main__":
    main()
