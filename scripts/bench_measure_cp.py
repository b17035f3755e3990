"""cp_measure 0.3.0 on the same work as crates/cell-measure/examples/bench_measure.rs: AreaShape
(sizeshape) and Intensity on 3 channels of the NF1 nuclei and cell components, 5 fields, images
decoded before the clock starts; separately Granularity (CellProfiler's defaults) and
RadialDistribution (4 rings) on the 3 channels. Prints JSON with objects_per_s and
granularity_radial_objects_per_s.

Run by `cargo xtask bench measure` with CELLPAINT_TORCH_PYTHON pointing at a Python that has
cp_measure==0.3.0, tifffile and imagecodecs.
"""
import json, os, time

import numpy as np
import scipy.ndimage as ndi
import tifffile
from cp_measure.bulk import get_core_measurements
from cp_measure.core.measureobjectintensity import get_intensity
from cp_measure.core.measuregranularity import get_granularity
from cp_measure.core.measureobjectintensitydistribution import get_radial_distribution

DATA = os.environ.get("CELLPAINT_DATA", "../shared/data")
NF1 = os.path.join(DATA, "images/nf1_schwann_3ch")
FIELDS = [("B7", "3"), ("D6", "2"), ("D7", "1"), ("F7", "2"), ("H12", "1")]


def main():
    work = []
    for well, site in FIELDS:
        channels = [tifffile.imread(os.path.join(NF1, "Plate_2_images", f"{well}_01_{c}_{site}_{s}_001.tif"))
                    .astype(np.float64) / 65535.0 for c, s in [("1", "DAPI"), ("2", "GFP"), ("3", "RFP")]]
        for mask in [f"{well}_01_1_{site}_DAPI_001_MaskNuclei.tiff", f"{well}_01_3_{site}_RFP_001_MaskCells.tiff"]:
            work.append((tifffile.imread(os.path.join(NF1, "Plate_2_masks", mask)) > 0, channels))
    sizeshape = get_core_measurements()["sizeshape"]
    rounds, objects = 2, 0
    start = time.perf_counter()
    for _ in range(rounds):
        for mask, channels in work:
            labels, n = ndi.label(mask)
            sizeshape(labels, channels[0])
            for ch in channels:
                get_intensity(labels, ch, legacy=True)
            objects += n
    seconds = time.perf_counter() - start
    start = time.perf_counter()
    for mask, channels in work:
        labels, n = ndi.label(mask)
        for ch in channels:
            get_granularity(labels, ch)
            get_radial_distribution(labels, ch)
    seconds_gr = time.perf_counter() - start
    print(json.dumps({"work": "AreaShape + Intensity (3 channels) of the NF1 nuclei and cell components, 5 fields; "
                              "separately Granularity + RadialDistribution (3 channels)",
                      "threads": 1, "objects": objects // rounds, "objects_per_s": objects / seconds,
                      "granularity_radial_objects_per_s": objects // rounds / seconds_gr}))


if __name__ == "__main__":
    main()
