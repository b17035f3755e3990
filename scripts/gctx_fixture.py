"""Small GCTX files cut from the real L1000 level-3 plate in ../shared/data, for
crates/profiles/tests/gctx.rs: the test reads each with cellpaint's HDF5 reader and checks it
against cellpaint's reading of the text GCT the cut came from.

Three files, three ways of writing HDF5 that GCTX users meet (all from the same cut: every 9th
of the 377 wells, the first 50 of the 978 genes, 8 column-metadata fields):
* l1000_cut_cmappy.gctx: cmapPy's own write_gctx (contiguous float32 matrix, metadata as
  fixed-length byte strings and int64/float64 arrays, gzip 6 chunked; libhdf5's default format:
  superblock 0, version-1 object headers, symbol-table groups).
* l1000_cut_chunked.gctx: h5py, default format, the matrix big-endian float64 in 3 × 7 chunks
  (edge chunks partial; 112 chunks, so a two-level chunk B-tree) through shuffle, deflate and
  Fletcher-32; sample ids and one field as variable-length strings (global heap); an int32
  field big-endian.
* l1000_cut_latest.gctx: h5py with libver="latest" (superblock 3, version-2 object headers,
  compact link groups), contiguous.

Run (not in CI; commits the three small files under fixtures/):
    pip install h5py cmapPy pandas
    python3 scripts/gctx_fixture.py [DATA_DIR] [--full OUT.gctx]
--full also writes the whole plate with cmapPy's write_gctx (1.6 MB, not committed) for a
manual check: `cellpaint` commands read it as they read the text GCT.

cmapPy 4.0.1 predates numpy 2 and pandas 3: numpy.string_ is aliased to numpy.bytes_ and
to_numeric(errors="ignore") is restored, nothing else changes.
"""
import os, sys

import numpy as np
np.string_ = np.bytes_
import pandas as pd

_to_numeric = pd.to_numeric
def _to_numeric_compat(x, errors="raise", **kw):
    if errors == "ignore":
        try:
            return _to_numeric(x, **kw)
        except (ValueError, TypeError):
            return x
    return _to_numeric(x, errors=errors, **kw)
pd.to_numeric = _to_numeric_compat

import h5py
from cmapPy.pandasGEXpress import parse_gct, write_gctx
from cmapPy.pandasGEXpress.GCToo import GCToo

FIELDS = ["pert_iname", "pert_type", "pert_idose", "det_well", "qc_iqr", "qc_f_logp",
          "count_mean", "pert_time"]

def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    data = args[0] if args else os.environ.get("CELLPAINT_DATA", "../shared/data")
    out = "fixtures"
    g = parse_gct.parse(os.path.join(data, "l1000/cmapPy_LJP005_A375_24H/test_l1000.gct"))
    if "--full" in sys.argv:
        write_gctx.write(g, sys.argv[sys.argv.index("--full") + 1])
    wells = g.data_df.columns[::9]
    genes = g.data_df.index[:50]
    data_df = g.data_df.loc[genes, wells]
    col = g.col_metadata_df.loc[wells, FIELDS]
    row = g.row_metadata_df.loc[genes, ["pr_gene_symbol"]]
    cut = GCToo(data_df=data_df, row_metadata_df=row, col_metadata_df=col)
    write_gctx.write(cut, os.path.join(out, "l1000_cut_cmappy.gctx"))

    def write_h5py(path, libver, chunked):
        with h5py.File(path, "w", libver=libver) as f:
            f.attrs["version"] = np.bytes_("GCTX1.0")
            m = data_df.T.values
            if chunked:
                f.create_dataset("/0/DATA/0/matrix", data=m.astype(">f8"), chunks=(3, 7),
                                 shuffle=True, compression="gzip", compression_opts=4,
                                 fletcher32=True)
            else:
                f.create_dataset("/0/DATA/0/matrix", data=m.astype("<f4"))
            vlen = h5py.string_dtype("utf-8")
            f.create_dataset("/0/META/ROW/id", data=np.array(genes, dtype="S"))
            f.create_dataset("/0/META/COL/id", data=list(wells), dtype=vlen)
            f.create_dataset("/0/META/COL/pert_iname", data=list(col["pert_iname"].astype(str)),
                             dtype=vlen)
            f.create_dataset("/0/META/COL/pert_type", data=np.array(col["pert_type"], dtype="S"))
            f.create_dataset("/0/META/COL/count_mean", data=col["count_mean"].values.astype(">i4"))
            f.create_dataset("/0/META/COL/qc_iqr", data=col["qc_iqr"].values)

    write_h5py(os.path.join(out, "l1000_cut_chunked.gctx"), "earliest", True)
    write_h5py(os.path.join(out, "l1000_cut_latest.gctx"), "latest", False)
    for name in ["cmappy", "chunked", "latest"]:
        p = os.path.join(out, f"l1000_cut_{name}.gctx")
        print(p, os.path.getsize(p), "bytes")

main()
