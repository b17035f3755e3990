"""pycytominer's feature selection on the real LINCS plate, for
crates/profiles/tests/feature_select_pycytominer.rs.

The plate (SQ00015054, level 4b, 384 wells × 454 features) has no NaN feature, so pycytominer
correlates it with `numpy.corrcoef`; a copy with NaN holes takes its other path (pandas'
pairwise-complete `DataFrame.corr`). Each case runs
every operation alone (pycytominer's functions, default settings unless named) and records the
features it excludes (sorted: the order is not part of pycytominer's API). In pycytominer 1.7
`variance_threshold` is scikit-learn's VarianceThreshold (population variance ≤ min_variance)
and the older frequency / unique-value test is `frequency_threshold`.

Run (not in CI):
    pip install pycytominer==1.7.1
    python3 scripts/feature_select_reference.py [DATA_DIR]
Writes fixtures/feature_select_reference.json.
"""
import importlib.metadata, json, os, sys

import numpy as np
import pandas as pd
from pycytominer.cyto_utils.features import drop_outlier_features
from pycytominer.operations import correlation_threshold, get_na_columns, variance_threshold
from pycytominer.operations.frequency_threshold import frequency_threshold

DATA = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("CELLPAINT_DATA", "../shared/data")
PLATE = os.path.join(DATA, "profiles/lincs_cp/SQ00015054_normalized_feature_select.csv.gz")

plate = pd.read_csv(PLATE)
features = [c for c in plate.columns if not c.startswith("Metadata_")]
# The plate has no NaN feature; a copy gets about 1 % NaN at positions given by a formula (row i,
# feature j: NaN iff (31 i + 17 j) mod 101 = 0) that the Rust test applies too.
holes = plate.copy()
values = holes[features].to_numpy(copy=True)
rows, cols = np.indices(values.shape)
values[(31 * rows + 17 * cols) % 101 == 0] = np.nan
holes[features] = values


def run(df, feats):
    out = {}
    out["variance_threshold"] = variance_threshold(df, features=feats)
    out["variance_threshold min_variance=2"] = variance_threshold(
        df, features=feats, min_variance=2
    )
    out["variance_threshold min_variance=0"] = variance_threshold(df, features=feats, min_variance=0)
    out["frequency_threshold"] = frequency_threshold(df, features=feats)
    out["frequency_threshold freq_cut=0.2 unique_cut=0.5"] = frequency_threshold(
        df, features=feats, freq_cut=0.2, unique_cut=0.5
    )
    out["correlation_threshold"] = correlation_threshold(df, features=feats)
    out["correlation_threshold threshold=0.7"] = correlation_threshold(
        df, features=feats, threshold=0.7
    )
    out["correlation_threshold method=spearman"] = correlation_threshold(
        df, features=feats, method="spearman"
    )
    out["drop_na_columns"] = get_na_columns(df, features=feats, cutoff=0.05)
    out["drop_na_columns na_cutoff=0.009"] = get_na_columns(df, features=feats, cutoff=0.009)
    out["drop_outliers outlier_cutoff=15"] = drop_outlier_features(
        df, features=feats, outlier_cutoff=15
    )
    return {k: sorted(v) for k, v in out.items()}


reference = {
    "source_file": "profiles/lincs_cp/SQ00015054_normalized_feature_select.csv.gz",
    "pycytominer": importlib.metadata.version("pycytominer"),
    "pandas": pd.__version__,
    "numpy": importlib.metadata.version("numpy"),
    "cases": {
        "plate (no NaN: numpy.corrcoef)": run(plate, features),
        "plate with NaN holes (pairwise-complete DataFrame.corr)": run(holes, features),
    },
}
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "feature_select_reference.json")
with open(path, "w") as f:
    json.dump(reference, f, indent=1)
    f.write("\n")
for case, v in reference["cases"].items():
    print(case, {k: len(x) for k, x in v.items()})
