"""pycytominer's SingleCells on a database written by
`cargo run --release -p cellpaint-profiles --features sqlite --example bench_sqlite -- make DB …`:
well medians of the joined compartments, seconds and peak RSS, and (with a third argument) the
largest difference from cellpaint's well medians in that CSV.
pip install pycytominer; python3 scripts/bench_sqlite_pycytominer.py DB [OURS.csv]"""
import json, resource, sys, time

import numpy as np
import pandas as pd
from pycytominer.cyto_utils.cells import SingleCells

db = sys.argv[1]
t = time.perf_counter()
sc = SingleCells(sql_file=f"sqlite:///{db}", strata=["Metadata_Plate", "Metadata_Well"],
                 image_cols=["TableNumber", "ImageNumber", "Metadata_Site"], aggregation_operation="median",
                 add_image_features=False)
wells = sc.aggregate_profiles()
secs = time.perf_counter() - t
out = {"database": db, "wells": len(wells), "aggregate_s": secs,
       "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
if len(sys.argv) > 2:
    ours = pd.read_csv(sys.argv[2])
    feats = [c for c in wells.columns if not c.startswith("Metadata_")]
    out["features_compared"] = len(feats)
    a = ours.sort_values(["Metadata_Plate", "Metadata_Well"])[feats].to_numpy(dtype="float64")
    b = wells.sort_values(["Metadata_Plate", "Metadata_Well"])[feats].to_numpy(dtype="float64")
    out["max_abs_diff_vs_cellpaint"] = float(np.nanmax(np.abs(a - b)))
print(json.dumps(out))
