//! Fuzz targets for every parser that reads a user's file: delimited tables (CSV/TSV, gzipped or
//! not), GCT, TIFF (integer and float pages), PNG, NumPy `.npz` crop packs, JSON configs (each
//! training command's, sphering models, run fingerprints), safetensors checkpoints with their
//! sidecars, LoadData/DeepProfiler image indexes and nucleus-location CSVs.
//!
//! Each target takes arbitrary bytes and checks the workspace's input contract
//! (docs/reliability.md): no panic, no abort, no allocation beyond the documented limits, and
//! an error is one line that names the file. A table that parses must also survive a write and
//! read-back unchanged.
//!
//! The same functions run three ways: under libFuzzer (`fuzz_targets/`, `scripts/fuzz.sh`),
//! over the committed regression inputs in `fuzz/regressions/<target>/`, and over the
//! generated seeds, both in the normal `cargo test` (crates/cellpaint-cli/tests/fuzz_corpus.rs
//! includes this file).

use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Every target by name, in the order `scripts/fuzz.sh` runs them.
pub const TARGETS: &[(&str, fn(&[u8]))] = &[
    ("delimited", delimited),
    ("gct", gct),
    ("gctx", gctx),
    ("keras_h5", keras_h5),
    ("tiff", tiff),
    ("png", png),
    ("npz", npz),
    ("config_json", config_json),
    ("checkpoint", checkpoint),
    ("image_index", image_index),
    ("locations", locations),
];

fn scratch_root() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("a temporary directory"))
        .path()
}

/// A fresh directory per call, so that replaying on several threads never shares a file.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = scratch_root().join(NEXT.fetch_add(1, Ordering::Relaxed).to_string());
        std::fs::create_dir_all(&dir).expect("scratch directory");
        Scratch(dir)
    }

    fn file(&self, name: &str, data: &[u8]) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, data).expect("scratch file");
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The error contract: one line, naming the file it is about.
fn check_error(e: impl Display, file: &Path) {
    let msg = e.to_string();
    let name = file.file_name().unwrap().to_string_lossy();
    assert!(!msg.contains('\n'), "a multi-line error: {msg:?}");
    assert!(
        msg.contains(&*name),
        "the error does not name {name}: {msg:?}"
    );
}

fn same_table(a: &profiles::ProfileTable, b: &profiles::ProfileTable) {
    assert_eq!(a.metadata_names(), b.metadata_names());
    assert_eq!(a.feature_names(), b.feature_names());
    for name in a.metadata_names() {
        assert_eq!(
            a.metadata(name).unwrap(),
            b.metadata(name).unwrap(),
            "column {name}"
        );
    }
    let (x, y) = (a.features(), b.features());
    assert_eq!(x.dim(), y.dim());
    for (u, v) in x.iter().zip(y.iter()) {
        assert!(
            u.to_bits() == v.to_bits() || (u.is_nan() && v.is_nan()),
            "{u} became {v}"
        );
    }
}

/// CSV/TSV tables, gzipped or not (the first byte picks the extension; gzip is recognised by
/// its magic bytes, as on the command line). A table that parses is written and read back.
pub fn delimited(data: &[u8]) {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let name = ["t.csv", "t.tsv", "t.txt"][pick as usize % 3];
    let s = Scratch::new();
    let path = s.file(name, body);
    match profiles::io::read_table(&path, &Default::default()) {
        Err(e) => check_error(e, &path),
        Ok(table) => {
            let back = s.0.join(format!("back.{}", &name[2..]));
            profiles::io::write_table(&table, &back).expect("a parsed table writes");
            let again = profiles::io::read_table(&back, &Default::default())
                .unwrap_or_else(|e| panic!("a written table reads back: {e}"));
            same_table(&table, &again);
        }
    }
}

/// GCT 1.2 / 1.3 text files.
pub fn gct(data: &[u8]) {
    let s = Scratch::new();
    let path = s.file("t.gct", data);
    if let Err(e) = profiles::io::read_table(&path, &Default::default()) {
        check_error(e, &path);
    }
}

/// GCTX (HDF5, CMap's layout) through our own HDF5 reader.
pub fn gctx(data: &[u8]) {
    let s = Scratch::new();
    let path = s.file("t.gctx", data);
    if let Err(e) = profiles::io::read_table(&path, &Default::default()) {
        check_error(e, &path);
    }
}

/// Keras HDF5 weights (EfficientNet-B0 layer names), as `deepprofiler profile --weights`
/// reads them.
pub fn keras_h5(data: &[u8]) {
    let s = Scratch::new();
    let path = s.file("w.h5", data);
    if let Err(e) = cellpaint_core::efficientnet::weights::read_keras_h5(&path) {
        check_error(e, &path);
    }
}

/// TIFF: every page as integers, then as float32 pages (illumination functions).
pub fn tiff(data: &[u8]) {
    let s = Scratch::new();
    let path = s.file("t.tif", data);
    if let Err(e) = cell_images::io::read_tiff_pages(&path, None) {
        check_error(e, &path);
    }
    if let Err(e) = cell_images::io::read_tiff_f32(&path) {
        check_error(e, &path);
    }
}

/// PNG, 8/16-bit, any colour type.
pub fn png(data: &[u8]) {
    let s = Scratch::new();
    let path = s.file("t.png", data);
    if let Err(e) = cell_images::io::read_image(&path) {
        check_error(e, &path);
    }
}

/// `.npz` crop packs (zip + deflate + NumPy headers).
pub fn npz(data: &[u8]) {
    let s = Scratch::new();
    let path = s.file("t.npz", data);
    if let Err(e) = cell_images::npz::read_npz_crops(&path, "crops") {
        check_error(e, &path);
    }
}

/// JSON the user hands us: both training configs (ours and DeepProfiler's), a fitted sphering
/// model and a run's fingerprint.json.
pub fn config_json(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let s = Scratch::new();
    let path = s.file("config.json", data);
    let source = path.display().to_string();
    if let Err(e) = deepprofiler_wsl::config::DeepProfilerConfig::from_json(text, &source) {
        check_error(e, &path);
    }
    if let Err(e) =
        deepprofiler_wsl::config::DeepProfilerConfig::from_deepprofiler_json(text, &source)
    {
        check_error(e, &path);
    }
    if let Err(e) = moa_profiler::config::MoaProfilerConfig::from_json_file(&path) {
        check_error(e, &path);
    }
    // A sphering model has no file name of its own here: the CLI adds it; one line is the rule.
    if let Err(e) = sphering::FittedSphering::from_json(text) {
        assert!(!e.to_string().contains('\n'), "a multi-line error: {e}");
    }
    let fp = s.file("fingerprint.json", data);
    if let Err(e) = cellpaint_core::Fingerprint::read(&s.0) {
        check_error(e, &fp);
    }
}

const CHECKPOINT_FORMAT: &str = "cellpaint-checkpoint-v1";

/// Checkpoints. Odd first byte: the rest is the tensor file, under a sidecar that matches it
/// (length and SHA-256), so the fuzzer reaches the safetensors parser. Even: the rest is the
/// sidecar, over a valid tensor file.
pub fn checkpoint(data: &[u8]) {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let s = Scratch::new();
    if pick % 2 == 1 {
        s.file("ck.safetensors", body);
        let sidecar = serde_json::json!({
            "format": CHECKPOINT_FORMAT,
            "tensors_file": "ck.safetensors",
            "tensors_bytes": body.len(),
            "tensors_sha256": cellpaint_core::fingerprint::sha256_hex(body),
            "meta": {},
        });
        s.file("ck.json", sidecar.to_string().as_bytes());
    } else {
        s.file("ck.safetensors", &valid_safetensors());
        s.file("ck.json", body);
    }
    let device = cellpaint_core::candle::Device::Cpu;
    if let Err(e) = cellpaint_core::load_checkpoint::<serde_json::Value>(&s.0, "ck", &device) {
        let msg = e.to_string();
        assert!(!msg.contains('\n'), "a multi-line error: {msg:?}");
        assert!(
            msg.contains("ck.safetensors") || msg.contains("ck.json"),
            "the error names neither checkpoint file: {msg:?}"
        );
    }
}

fn valid_safetensors() -> Vec<u8> {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES
        .get_or_init(|| {
            let s = Scratch::new();
            save_small_checkpoint(&s.0);
            std::fs::read(s.0.join("ck.safetensors")).expect("written")
        })
        .clone()
}

fn save_small_checkpoint(dir: &Path) {
    use cellpaint_core::candle::{Device, Tensor};
    let mut tensors = std::collections::HashMap::new();
    let w = Tensor::from_vec(vec![1f32, -2.0, 3.5, 0.25], (2, 2), &Device::Cpu).unwrap();
    let b = Tensor::from_vec(vec![7u32, 9], 2, &Device::Cpu).unwrap();
    tensors.insert("layer.weight".to_string(), w);
    tensors.insert("step".to_string(), b);
    cellpaint_core::save_checkpoint(dir, "ck", &tensors, &serde_json::json!({"epoch": 3}))
        .expect("checkpoint written");
}

/// LoadData (`FileName_Orig<Ch>`/`PathName_Orig<Ch>`) and DeepProfiler (`<Ch>`) indexes.
pub fn image_index(data: &[u8]) {
    let s = Scratch::new();
    let path = s.file("index.csv", data);
    if let Err(e) = cell_images::index::ImageIndex::read(&path, &["DNA", "RNA"], None) {
        check_error(e, &path);
    }
}

/// CellProfiler-style nucleus locations.
pub fn locations(data: &[u8]) {
    let s = Scratch::new();
    let path = s.file("locations.csv", data);
    if let Err(e) = cell_images::nuclei::read_locations(&path) {
        check_error(e, &path);
    }
}

/// Valid inputs for a target, written by the project's own writers where it has them: the
/// fuzzers start from these (`scripts/fuzz.sh`), and `cargo test` checks that each parses.
pub fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    use ndarray::{Array2, Array4};
    let s = Scratch::new();
    let text = |name: &str, t: &str| (name.to_string(), t.as_bytes().to_vec());
    let gz = |bytes: &[u8]| {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    };
    let csv = "Metadata_Plate,Metadata_Well,Cells_AreaShape_Area,Nuclei_Intensity_Mean\n\
               P1,A01,1.5,0.25\nP1,A02,NaN,-3e-7\n\"P,2\",B01,inf,1e300\n";
    match target {
        "delimited" => {
            let mut z = vec![0u8];
            z.extend(gz(csv.as_bytes()));
            vec![
                ("csv".into(), [b"\0".as_slice(), csv.as_bytes()].concat()),
                ("tsv".into(), [b"\x01".as_slice(), csv.replace(',', "\t").as_bytes()].concat()),
                ("csv_gz".into(), z),
            ]
        }
        // No HDF5 writer here: the files h5py, cmapPy and Keras wrote (scripts/gctx_fixture.py,
        // scripts/keras_reference.py).
        "gctx" => ["cmappy", "chunked", "latest"]
            .iter()
            .map(|n| {
                let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                    .ancestors()
                    .find(|d| d.join("fixtures").is_dir())
                    .expect("the repository's fixtures folder")
                    .join(format!("fixtures/l1000_cut_{n}.gctx"));
                (n.to_string(), std::fs::read(path).expect("a GCTX fixture"))
            })
            .collect(),
        "keras_h5" => {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .ancestors()
                .find(|d| d.join("fixtures").is_dir())
                .expect("the repository's fixtures folder")
                .join("fixtures/keras_efficientnet_tiny.h5.gz");
            let mut h5 = Vec::new();
            std::io::Read::read_to_end(
                &mut flate2::read::GzDecoder::new(std::fs::File::open(path).expect("fixture")),
                &mut h5,
            )
            .expect("gzip");
            vec![("tiny".into(), h5)]
        }
        "gct" => vec![
            text(
                "gct13",
                "#1.3\n2\t3\t1\t1\nid\tpr_gene\tA\tB\tC\ncpd\tna\tx\ty\tz\ng1\tG1\t1\t2\t3\ng2\tG2\t4\tNaN\t6\n",
            ),
            text("gct12", "#1.2\n2\t2\nName\tDescription\tA\tB\ng1\tna\t1\t2\ng2\tna\t3\t4\n"),
        ],
        "tiff" => {
            let a = Array2::<u16>::from_shape_fn((5, 7), |(y, x)| (y * 900 + x * 31) as u16);
            let mut out = Vec::new();
            for c in [
                cell_images::io::TiffCompression::None,
                cell_images::io::TiffCompression::Lzw,
                cell_images::io::TiffCompression::Deflate,
                cell_images::io::TiffCompression::Packbits,
            ] {
                let p = s.0.join(format!("{c:?}.tif"));
                cell_images::io::write_tiff_u16(&p, &[a.view(), a.view()], c).unwrap();
                out.push((format!("u16_{c:?}").to_lowercase(), std::fs::read(&p).unwrap()));
            }
            let f = a.mapv(|v| v as f32 / 7.0);
            let p = s.0.join("f32.tif");
            cell_images::io::write_tiff_f32(&p, &[f.view()]).unwrap();
            out.push(("f32".into(), std::fs::read(&p).unwrap()));
            out
        }
        "png" => {
            let a = Array2::<u16>::from_shape_fn((4, 6), |(y, x)| (y * 5000 + x * 7) as u16);
            let (p8, p16) = (s.0.join("a.png"), s.0.join("b.png"));
            cell_images::io::write_png_u8(&p8, a.mapv(|v| (v >> 8) as u8).view()).unwrap();
            cell_images::io::write_png_u16(&p16, a.view()).unwrap();
            vec![
                ("gray8".into(), std::fs::read(&p8).unwrap()),
                ("gray16".into(), std::fs::read(&p16).unwrap()),
            ]
        }
        "npz" => {
            let a = Array4::<u16>::from_shape_fn((2, 3, 3, 2), |(n, y, x, c)| {
                (n * 1000 + y * 100 + x * 10 + c) as u16
            });
            let p = s.0.join("c.npz");
            let mut w = ndarray_npy::NpzWriter::new_compressed(std::fs::File::create(&p).unwrap());
            w.add_array("crops", &a).unwrap();
            w.finish().unwrap();
            vec![("crops".into(), std::fs::read(&p).unwrap())]
        }
        "config_json" => {
            let dp = serde_json::to_string_pretty(&deepprofiler_wsl::config::DeepProfilerConfig::default())
                .unwrap();
            let moa = serde_json::to_string_pretty(&moa_profiler::config::MoaProfilerConfig::default())
                .unwrap();
            let fp = cellpaint_core::Fingerprint::new()
                .with("train.seed", &5)
                .unwrap()
                .with("config.lr", &0.01)
                .unwrap();
            fp.write(&s.0).unwrap();
            vec![
                ("deepprofiler".into(), dp.into_bytes()),
                ("moa_profiler".into(), moa.into_bytes()),
                (
                    "fingerprint".into(),
                    std::fs::read(s.0.join("fingerprint.json")).unwrap(),
                ),
                text(
                    "deepprofiler_native",
                    r#"{"dataset": {"images": {"channels": ["DNA", "RNA"]}, "locations": {"box_size": 96}},
                        "train": {"model": {"epochs": 3, "params": {"learning_rate": 0.005}},
                                  "comet_ml": {"api_key": "x"}}}"#,
                ),
            ]
        }
        "checkpoint" => {
            save_small_checkpoint(&s.0);
            let t = std::fs::read(s.0.join("ck.safetensors")).unwrap();
            let j = std::fs::read(s.0.join("ck.json")).unwrap();
            vec![
                ("tensors".into(), [b"\x01".as_slice(), &t].concat()),
                ("sidecar".into(), [b"\0".as_slice(), &j].concat()),
            ]
        }
        "image_index" => vec![
            text(
                "loaddata",
                "Metadata_Plate,Metadata_Well,Metadata_Site,FileName_OrigDNA,PathName_OrigDNA,FileName_OrigRNA,Metadata_moa\n\
                 P1,A01,1,a.tif,images,b.tif,DMSO\nP1,A02,2,c.tif,,d.tif,\"tubulin, destabilizer\"\n",
            ),
            text("deepprofiler", "Metadata_Plate,Metadata_Well,Metadata_Site,DNA,RNA\nP1,A01,1,x/a.png,x/b.png\n"),
        ],
        "locations" => vec![
            text("cellprofiler", "Nuclei_Location_Center_X,Nuclei_Location_Center_Y\n10.5,20\n3,4.25\n"),
            text("short", "Location_Center_X,Location_Center_Y,Area\n1,2,30\n"),
        ],
        other => panic!("no target {other}"),
    }
}
