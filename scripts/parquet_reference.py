"""Reference digests of the real Parquet files in ../shared/data, for
crates/profiles/tests/parquet_real.rs: what pandas (pyarrow) reads from each file, in the form
cellpaint's table holds it.

For each file, with metadata = columns starting `Metadata_` or `Image_` (CellProfiler's
single-cell tables as CytoTable writes them) and features = the rest:
* the column names in order (SHA-256 of the names joined by newlines);
* metadata cells as pandas' CSV writes them (`df.to_csv(index=False)`, read back as text), the
  text a CSV input gives; SHA-256 over columns (name, 0x1f, cells joined by 0x1f, 0x1e);
* feature cells as float64, each as Python's repr (NaN as empty text); SHA-256 the same way;
* a few columns' values in clear, so that a failing test says where.

Run (not in CI):
    pip install pandas pyarrow
    python3 scripts/parquet_reference.py [DATA_DIR]
Writes fixtures/parquet_reference.json.

    python3 scripts/parquet_reference.py --check-written OURS.parquet SAME.csv[.gz]
checks that pandas reads a Parquet file cellpaint wrote as the table in the CSV (same columns,
metadata as the CSV's text, features to the bit) and that pycytominer's load_profiles reads it.
"""
import csv, hashlib, io, json, math, os, sys

import numpy as np
import pandas as pd

FILES = [
    "images/nf1_schwann_3ch/Plate_2_with_image_data_shrunken.parquet",
    "images/cellpainting_5ch/pediatric_BR00143976_C03_site3/BR00143976_shrunken.parquet",
    "images/cellpainting_partial/jump_cpjump1_BR00117006_A01_site1/BR00117006_shrunken.parquet",
]
PREFIXES = ("Metadata_", "Image_")


def digest(columns):
    h = hashlib.sha256()
    for name, cells in columns:
        h.update(name.encode())
        h.update(b"\x1f")
        h.update("\x1f".join(cells).encode())
        h.update(b"\x1e")
    return h.hexdigest()


def describe(path):
    df = pd.read_parquet(path)
    text = list(csv.reader(io.StringIO(df.to_csv(index=False))))
    header, rows = text[0], text[1:]
    assert header == list(df.columns)
    meta = [c for c in df.columns if c.startswith(PREFIXES)]
    feat = [c for c in df.columns if not c.startswith(PREFIXES)]
    meta_cells = [(c, [r[header.index(c)] for r in rows]) for c in meta]
    feat_cells = [(c, ["" if math.isnan(v) else repr(float(v))
                       for v in df[c].astype("float64").to_numpy()]) for c in feat]
    sample_meta = meta_cells[:: max(1, len(meta_cells) // 8)]
    sample_feat = feat_cells[:: max(1, len(feat_cells) // 8)]
    return {
        "file": os.path.relpath(path, DATA),
        "rows": len(df),
        "metadata": len(meta),
        "features": len(feat),
        "names_sha256": hashlib.sha256("\n".join(df.columns).encode()).hexdigest(),
        "metadata_sha256": digest(meta_cells),
        "features_sha256": digest(feat_cells),
        "sample": {c: v for c, v in sample_meta + sample_feat},
    }


def check_written(parquet, csv_path):
    import pycytominer
    ours = pd.read_parquet(parquet)
    header = pd.read_csv(csv_path, nrows=0).columns
    meta = [c for c in header if c.startswith("Metadata_")]
    # cellpaint holds metadata as text and writes it as strings: compare with the CSV's text.
    ref = pd.read_csv(csv_path, dtype={c: str for c in meta})
    assert list(ours.columns) == list(ref.columns), "columns differ"
    for c in meta:
        a = ours[c].astype(object).where(ours[c].notna(), None).map(lambda v: None if v is None else str(v))
        b = ref[c].astype(object).where(ref[c].notna(), None).map(lambda v: None if v is None else str(v))
        assert a.tolist() == b.tolist(), f"metadata {c} differs"
    feat = [c for c in ref.columns if c not in meta]
    a = ours[feat].to_numpy(dtype="float64")
    b = ref[feat].to_numpy(dtype="float64")
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    assert same.all(), f"{(~same).sum()} feature values differ"
    loaded = pycytominer.cyto_utils.load_profiles(parquet)
    assert loaded.shape == ref.shape
    version = __import__("importlib.metadata").metadata.version("pycytominer")
    print(f"pandas and pycytominer {version} read {parquet}: "
          f"{ref.shape[0]} rows × {ref.shape[1]} columns equal to {csv_path}")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--check-written":
        check_written(sys.argv[2], sys.argv[3])
        sys.exit(0)
    DATA = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("CELLPAINT_DATA", "../shared/data")
    out = {"pandas": pd.__version__, "pyarrow": __import__("pyarrow").__version__,
           "metadata_prefixes": list(PREFIXES),
           "files": [describe(os.path.join(DATA, f)) for f in FILES]}
    path = os.path.join(os.path.dirname(__file__), "..", "fixtures", "parquet_reference.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
    print(f"wrote {path}: " + ", ".join(f"{d['rows']}×{d['metadata']}+{d['features']}"
                                        for d in out["files"]))
