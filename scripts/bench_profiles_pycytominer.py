"""pycytominer / pandas counterpart of `cargo xtask bench profiles`: the same seeded
10,000 × 1,000 plate (target/bench/profiles_input.csv, written by our side of the benchmark),
read, written as CSV, as .csv.gz and as Parquet (pycytominer's `output`), Parquet read back, mad_robustize on all wells, and
variance + correlation threshold feature selection; seconds for each.
pip install pycytominer; python3 scripts/bench_profiles_pycytominer.py [input.csv]"""
import json, os, sys, tempfile, time

import pandas as pd
from pycytominer import feature_select, normalize
from pycytominer.cyto_utils import output

path = sys.argv[1] if len(sys.argv) > 1 else "target/bench/profiles_input.csv"
result = {"table": "", "threads": 1}

t = time.perf_counter()
df = pd.read_csv(path)
result["read_csv_s"] = time.perf_counter() - t
features = [c for c in df.columns if not c.startswith("Metadata_")]
result["table"] = f"{len(df)} rows × {len(features)} features, seeded"

with tempfile.TemporaryDirectory() as tmp:
    t = time.perf_counter()
    df.to_csv(os.path.join(tmp, "out.csv"), index=False)
    result["write_csv_s"] = time.perf_counter() - t
    gz = os.path.join(tmp, "out.csv.gz")
    t = time.perf_counter()
    output(df, gz, output_type="csv")  # pycytominer's default: gzip (level 9) inferred from .gz
    result["write_csv_gz_s"] = time.perf_counter() - t
    result["csv_gz_mb"] = os.path.getsize(gz) / 1e6
    pq = os.path.join(tmp, "out.parquet")
    t = time.perf_counter()
    output(df, pq, output_type="parquet")  # pandas' to_parquet: pyarrow, snappy
    result["write_parquet_s"] = time.perf_counter() - t
    t = time.perf_counter()
    back = pd.read_parquet(pq)
    result["read_parquet_s"] = time.perf_counter() - t
    assert len(back) == len(df)
    result["parquet_mb"] = os.path.getsize(pq) / 1e6

t = time.perf_counter()
normalize(profiles=df, features=features, samples="all", method="mad_robustize")
result["normalize_s"] = time.perf_counter() - t

t = time.perf_counter()
selected = feature_select(
    profiles=df, features=features, operation=["variance_threshold", "correlation_threshold"]
)
result["feature_select_s"] = time.perf_counter() - t
result["features_kept"] = len([c for c in selected.columns if not c.startswith("Metadata_")])
print(json.dumps(result))
