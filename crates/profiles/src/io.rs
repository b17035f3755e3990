//! Reading and writing profile tables: CSV, TSV, their `.gz`, and CMap GCT 1.2/1.3.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use rayon::prelude::*;

use crate::error::{ProfileError, Result};
use crate::table::{ProfileTable, NA_STRINGS};

/// Which columns are metadata. Everything else must be numeric.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MetadataColumns {
    /// Columns whose name starts with this prefix (pycytominer: `Metadata_`).
    Prefix(String),
    /// Exactly these columns.
    Named(Vec<String>),
    /// Columns whose name starts with any of these prefixes (CellProfiler single-cell tables:
    /// `Metadata_` and `Image_`).
    Prefixes(Vec<String>),
}

impl Default for MetadataColumns {
    fn default() -> Self {
        MetadataColumns::Prefix("Metadata_".to_string())
    }
}

impl MetadataColumns {
    pub(crate) fn is_metadata(&self, name: &str) -> bool {
        match self {
            MetadataColumns::Prefix(p) => name.starts_with(p.as_str()),
            MetadataColumns::Named(names) => names.iter().any(|n| n == name),
            MetadataColumns::Prefixes(ps) => ps.iter().any(|p| name.starts_with(p.as_str())),
        }
    }
}

/// Options for [`read_table`].
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Which columns are metadata (text) rather than features.
    pub metadata: MetadataColumns,
    /// Field delimiter; `None` infers it from the extension (`.tsv`, `.txt`, `.gct` → tab).
    pub delimiter: Option<u8>,
}

pub(crate) fn delimiter_for(path: &Path) -> u8 {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    if name.ends_with(".tsv") || name.ends_with(".txt") || name.ends_with(".tab") {
        b'\t'
    } else {
        b','
    }
}

/// Opens a file for reading, decompressing gzip when its first bytes say so.
pub fn open_maybe_gz(path: &Path) -> Result<Box<dyn BufRead>> {
    let mut file = File::open(path).map_err(|e| ProfileError::io(path, e))?;
    let mut magic = [0u8; 2];
    let n = read_up_to(&mut file, &mut magic).map_err(|e| ProfileError::io(path, e))?;
    let file = File::open(path).map_err(|e| ProfileError::io(path, e))?;
    if n == 2 && magic == [0x1f, 0x8b] {
        Ok(Box::new(BufReader::new(MultiGzDecoder::new(file))))
    } else {
        Ok(Box::new(BufReader::new(file)))
    }
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Parses one feature cell: numbers, or pandas' missing-value strings as NaN.
pub(crate) fn parse_feature(s: &str) -> Option<f64> {
    let t = s.trim();
    match t.parse::<f64>() {
        Ok(v) => Some(v),
        Err(_) if NA_STRINGS.contains(&t) => Some(f64::NAN),
        Err(_) => match t {
            "inf" | "Inf" | "+inf" | "Infinity" => Some(f64::INFINITY),
            "-inf" | "-Inf" | "-Infinity" => Some(f64::NEG_INFINITY),
            _ => None,
        },
    }
}

/// Reads a table by its name: Parquet (`.parquet`, or a folder of `.parquet` parts read as one
/// table, see [`crate::parquet_io`]), GCT (`.gct[.gz]`), GCTX (`.gctx`, see [`crate::gctx`]), or a delimited table (CSV/TSV, gzipped
/// or not).
pub fn read_table(path: impl AsRef<Path>, options: &ReadOptions) -> Result<ProfileTable> {
    let path = path.as_ref();
    let lower = path.to_string_lossy().to_lowercase();
    if lower.ends_with(".gct") || lower.ends_with(".gct.gz") {
        return crate::gct::read_gct(path);
    }
    if crate::parquet_io::is_parquet(path) {
        return crate::parquet_io::read_parquet(path, &options.metadata);
    }
    if lower.ends_with(".gctx") {
        return crate::gctx::read_gctx(path);
    }
    if lower.ends_with(".h5") || lower.ends_with(".hdf5") {
        return Err(ProfileError::invalid(
            &path.display().to_string(),
            "an HDF5 file that is not named .gctx: cellpaint reads HDF5 tables only in CMap's \
             GCTX layout (name the file .gctx), else convert it to CSV/TSV or Parquet",
        ));
    }
    let delimiter = options.delimiter.unwrap_or_else(|| delimiter_for(path));
    let reader = open_maybe_gz(path)?;
    read_delimited(
        reader,
        &path.display().to_string(),
        delimiter,
        &options.metadata,
    )
}

pub use crate::delimited::read_delimited;

/// `line` is the 1-based line being read, for errors csv cannot place (a truncated or corrupt
/// gzip stream is an I/O error with no position).
pub(crate) fn csv_error(label: &str, e: csv::Error, line: usize) -> ProfileError {
    let line = e
        .position()
        .map(|p| p.line() as usize)
        .filter(|&l| l > 0)
        .unwrap_or(line);
    ProfileError::Parse {
        path: label.to_string(),
        line,
        message: e.to_string(),
    }
}

/// A user's text (a cell, a column name) as it is put into a one-line message: control
/// characters escaped (a quoted CSV field may hold a newline) and at most 80 characters.
pub fn shown(text: &str) -> String {
    match text.char_indices().nth(80) {
        Some((cut, _)) => format!("{}…", escaped(&text[..cut])),
        None => escaped(text),
    }
}

/// `text` with its control characters escaped (`\n`, `\t`, `\u{1b}`), whatever its length:
/// for messages of other libraries that quote the user's text raw (serde's unknown-field
/// message quotes the key as written).
pub fn escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Another library's message made one line: every run of whitespace (newlines included, as in
/// a parser's multi-line diagnostic) becomes one space.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Formats a float so that it reads back to the same `f64` (shortest round-trip digits).
pub fn format_f64(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v.is_infinite() {
        if v > 0.0 { "inf" } else { "-inf" }.to_string()
    } else if v != 0.0 && (v.abs() < 1e-5 || v.abs() >= 1e16) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

/// The gzip level of `.gz` tables: zlib's default, 6 (pandas and pycytominer write 9, which
/// takes ≈ 3× as long for files ≈ 3 % smaller on profile tables).
pub const GZIP_LEVEL: u32 = 6;

/// About this many bytes of text per chunk of rows: each chunk is formatted (and, for `.gz`,
/// compressed as its own gzip member) on its own thread.
const CHUNK_BYTES: usize = 4 << 20;

/// Writes a table: metadata columns first, then features. The delimiter and gzip follow the
/// extension (`.tsv[.gz]` tab, else comma). The write is atomic: a temporary file in the same
/// folder is renamed over `path` only once complete, so a crash never leaves half a table.
///
/// Rows are formatted in chunks of ≈ 4 MB in parallel; a `.gz` file is one gzip member per
/// chunk (RFC 1952 allows several; gzip, zcat, Python's gzip and pandas read them as one
/// stream), compressed in parallel at [`GZIP_LEVEL`]. The bytes depend only on the table, not
/// on the number of threads.
///
/// A `.parquet` name writes Parquet instead (snappy; see [`crate::parquet_io`]).
pub fn write_table(table: &ProfileTable, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    if path.to_string_lossy().to_lowercase().ends_with(".parquet") {
        let bytes = crate::parquet_io::parquet_bytes(table).map_err(|e| {
            ProfileError::invalid(&path.display().to_string(), format!("writing Parquet: {e}"))
        })?;
        return write_atomic(path, |w| w.write_all(&bytes));
    }
    let delimiter = delimiter_for(path);
    let gz = path.to_string_lossy().to_lowercase().ends_with(".gz");
    write_atomic(path, |w| {
        let mut header = Vec::new();
        write_header(table, &mut header, delimiter)?;
        let header = if gz { gzip(&header)? } else { header };
        w.write_all(&header)?;
        let chunks = row_chunks(table);
        // A few chunks per thread at a time bounds the memory held.
        let window = 2 * rayon::current_num_threads().max(1);
        for group in chunks.chunks(window) {
            let parts: Vec<std::io::Result<Vec<u8>>> = group
                .par_iter()
                .map(|rows| {
                    let mut text = Vec::with_capacity(CHUNK_BYTES + CHUNK_BYTES / 4);
                    write_rows(table, rows.clone(), &mut text, delimiter)?;
                    if gz {
                        gzip(&text)
                    } else {
                        Ok(text)
                    }
                })
                .collect();
            for part in parts {
                w.write_all(&part?)?;
            }
        }
        Ok(())
    })
}

fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut enc = GzEncoder::new(
        Vec::with_capacity(bytes.len() / 3),
        flate2::Compression::new(GZIP_LEVEL),
    );
    enc.write_all(bytes)?;
    enc.finish()
}

/// Row ranges of about [`CHUNK_BYTES`] of text each (estimated from the first row).
fn row_chunks(table: &ProfileTable) -> Vec<std::ops::Range<usize>> {
    let n = table.n_rows();
    if n == 0 {
        return Vec::new();
    }
    let mut first = Vec::new();
    let _ = write_rows(table, 0..1, &mut first, b',');
    let per_chunk = (CHUNK_BYTES / first.len().max(1)).max(1);
    (0..n)
        .step_by(per_chunk)
        .map(|start| start..(start + per_chunk).min(n))
        .collect()
}

fn write_header(table: &ProfileTable, w: &mut dyn Write, delimiter: u8) -> std::io::Result<()> {
    let mut wtr = csv::WriterBuilder::new()
        .delimiter(delimiter)
        .from_writer(w);
    let header = table.metadata_names().iter().chain(table.feature_names());
    wtr.write_record(header)?;
    wtr.flush()?;
    Ok(())
}

/// Appends `rows` as delimited records: metadata quoted as CSV needs, numbers as
/// [`format_f64`] writes them (without a string per value).
fn write_rows(
    table: &ProfileTable,
    rows: std::ops::Range<usize>,
    w: &mut dyn Write,
    delimiter: u8,
) -> std::io::Result<()> {
    let mut wtr = csv::WriterBuilder::new()
        .delimiter(delimiter)
        .from_writer(w);
    let meta: Vec<&[String]> = table
        .metadata_names()
        .iter()
        .map(|n| table.metadata(n).expect("own column"))
        .collect();
    let feats = table.features();
    let mut number = Vec::with_capacity(32);
    for r in rows {
        for c in &meta {
            wtr.write_field(&c[r])?;
        }
        for &v in feats.row(r) {
            number.clear();
            push_f64(&mut number, v);
            wtr.write_field(&number)?;
        }
        wtr.write_record(None::<&[u8]>)?;
    }
    wtr.flush()?;
    Ok(())
}

/// [`format_f64`] into a buffer.
fn push_f64(buf: &mut Vec<u8>, v: f64) {
    if v.is_nan() {
        buf.extend_from_slice(b"NaN");
    } else if v.is_infinite() {
        buf.extend_from_slice(if v > 0.0 { b"inf" } else { b"-inf" });
    } else if v != 0.0 && (v.abs() < 1e-5 || v.abs() >= 1e16) {
        let _ = write!(buf, "{v:e}");
    } else {
        let _ = write!(buf, "{v}");
    }
}

/// Writes a table as delimited text to any writer (one thread, no compression).
pub fn write_delimited(
    table: &ProfileTable,
    w: &mut dyn Write,
    delimiter: u8,
) -> std::io::Result<()> {
    write_header(table, w, delimiter)?;
    write_rows(table, 0..table.n_rows(), w, delimiter)
}

/// Writes a file atomically: `write` fills a temporary file beside `path`, which is synced and
/// renamed over `path` only if `write` succeeds. A failure leaves any previous file untouched.
pub fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(|e| ProfileError::io(&dir, e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    remove_stale_temp_files(&dir, &name);
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".cellpaint-{}-{name}-", std::process::id()))
        .suffix(".tmp")
        .tempfile_in(&dir)
        .map_err(|e| ProfileError::io(&dir, e))?;
    {
        let mut buf = std::io::BufWriter::new(tmp.as_file_mut());
        write(&mut buf).map_err(|e| ProfileError::io(path, e))?;
        buf.flush().map_err(|e| ProfileError::io(path, e))?;
    }
    tmp.as_file()
        .sync_all()
        .map_err(|e| ProfileError::io(path, e))?;
    // Temporary files are created private (0600); the result should be an ordinary file.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(|e| ProfileError::io(path, e))?;
    }
    tmp.persist(path)
        .map_err(|e| ProfileError::io(path, e.error))?;
    Ok(())
}

/// Removes temporary files that an interrupted write of `name` into `dir` left behind: those
/// named `.cellpaint-PID-NAME-….tmp` whose process is gone (Linux: no `/proc/PID`). Best
/// effort: a file it cannot remove is left.
fn remove_stale_temp_files(dir: &Path, name: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let file = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = file
            .strip_prefix(".cellpaint-")
            .filter(|_| file.ends_with(".tmp"))
        else {
            continue;
        };
        let Some((pid, tail)) = rest.split_once('-') else {
            continue;
        };
        let (Ok(pid), true) = (pid.parse::<u32>(), tail.starts_with(&format!("{name}-"))) else {
            continue;
        };
        if pid != std::process::id() && !process_alive(pid) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

fn process_alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new(&format!("/proc/{pid}")).exists()
    } else {
        true // cannot tell: keep the file
    }
}

/// Parses a JSON config that must be an object: serde also builds a struct from an array of
/// its fields in order (`[32, 0.25]`) or from `[]` with every default, which no user means.
/// Errors name `source`, the 1-based line and column, and what was expected.
pub fn parse_json_object<T: serde::de::DeserializeOwned>(text: &str, source: &str) -> Result<T> {
    let start = text.len() - text.trim_start().len();
    let at = |offset: usize| {
        let before = &text[..offset];
        let line = before.matches('\n').count() + 1;
        let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
        (line, column)
    };
    match text[start..].chars().next() {
        Some('{') => {}
        found => {
            let (line, column) = at(start);
            return Err(ProfileError::Parse {
                path: source.to_string(),
                line,
                message: format!(
                    "column {column}: a config must be a JSON object ({{\"key\": value, …}}), found {}",
                    found.map_or("nothing".to_string(), |c| format!("'{c}'"))
                ),
            });
        }
    }
    serde_json::from_str(text).map_err(|e| ProfileError::Parse {
        path: source.to_string(),
        line: e.line(),
        message: format!("column {}: {}", e.column(), escaped(&e.to_string())),
    })
}

/// Serialises a value as pretty JSON, atomically.
pub fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<()> {
    write_atomic(path, |w| {
        serde_json::to_writer_pretty(&mut *w, value).map_err(std::io::Error::other)?;
        w.write_all(b"\n")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interrupted_write_leaves_no_temp_file_behind_the_next_one() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.csv");
        // What a killed writer (a process that no longer exists) left, and one of another target.
        let dead = u32::MAX - 1;
        let stale = dir
            .path()
            .join(format!(".cellpaint-{dead}-out.csv-abc123.tmp"));
        let other = dir
            .path()
            .join(format!(".cellpaint-{dead}-other.csv-abc123.tmp"));
        std::fs::write(&stale, "half").unwrap();
        std::fs::write(&other, "half").unwrap();
        write_atomic(&target, |w| w.write_all(b"x\n")).unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "x\n");
        assert!(
            !stale.exists(),
            "the stale temp file of this target is removed"
        );
        assert!(other.exists(), "another target's is left to its own writer");
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left.len(), 2, "{left:?}");
    }

    #[test]
    fn a_truncated_gzip_names_a_real_line() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let body: String = std::iter::once("Metadata_Well,f1\n".to_string())
            .chain((0..5000).map(|i| format!("A{i},{i}.5\n")))
            .collect();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(body.as_bytes()).unwrap();
        let bytes = gz.finish().unwrap();
        let p = dir.path().join("cut.csv.gz");
        std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
        let e = read_table(&p, &ReadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("cut.csv.gz, line ") && !e.contains("line 0"),
            "{e}"
        );
    }

    #[test]
    fn hdf5_inputs_get_a_clear_message() {
        // A missing .gctx is an I/O error naming it; a .h5 is not a table layout we know.
        let e = read_table("x.gctx", &ReadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("x.gctx"), "{e}");
        let e = read_table("x.h5", &ReadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("x.h5") && e.contains("GCTX layout"), "{e}");
    }

    #[test]
    fn configs_must_be_json_objects() {
        #[derive(serde::Deserialize, Debug, Default)]
        #[serde(default)]
        #[allow(dead_code)]
        struct Cfg {
            size: usize,
            width: f64,
        }
        // serde alone takes both of these as a Cfg.
        assert!(serde_json::from_str::<Cfg>("[]").is_ok());
        assert!(serde_json::from_str::<Cfg>("[32, 0.25]").is_ok());
        for (text, line, col) in [
            ("[]", 1, 1),
            ("\n  [32, 0.25]", 2, 3),
            ("", 1, 1),
            ("7", 1, 1),
        ] {
            let e = parse_json_object::<Cfg>(text, "cfg.json")
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(&format!(
                    "cfg.json, line {line}: column {col}: a config must be a JSON object"
                )),
                "{e}"
            );
        }
        let e = parse_json_object::<Cfg>("{\n\"size\": \"big\"}", "cfg.json")
            .unwrap_err()
            .to_string();
        assert!(e.contains("cfg.json, line 2: column"), "{e}");
        assert_eq!(
            parse_json_object::<Cfg>(" {\"size\": 3}", "c")
                .unwrap()
                .size,
            3
        );
    }

    fn read_str(s: &str) -> Result<ProfileTable> {
        read_delimited(s.as_bytes(), "mem.csv", b',', &MetadataColumns::default())
    }

    #[test]
    fn reads_metadata_and_features() {
        let t =
            read_str("Metadata_Well,f1,Metadata_Plate,f2\nA01,1.5,P1,NaN\nA02,-2,P1,\n").unwrap();
        assert_eq!(t.metadata_names(), &["Metadata_Well", "Metadata_Plate"]);
        assert_eq!(t.feature_names(), &["f1", "f2"]);
        assert_eq!(t.features()[[1, 0]], -2.0);
        assert!(t.features()[[0, 1]].is_nan() && t.features()[[1, 1]].is_nan());
    }

    #[test]
    fn ragged_rows_name_line() {
        let e = read_str("Metadata_Well,f1\nA01,1\nA02\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("mem.csv, line 3") && e.contains("expected 2"),
            "{e}"
        );
    }

    #[test]
    fn non_numeric_names_line_and_column() {
        let e = read_str("Metadata_Well,f1,f2\nA01,1,2\nA02,3,oops\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("line 3") && e.contains("'f2'") && e.contains("'oops'"),
            "{e}"
        );
    }

    #[test]
    fn duplicate_header_is_an_error() {
        let e = read_str("Metadata_Well,f1,f1\nA01,1,2\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("'f1' appears twice") && e.contains("columns 2 and 3"),
            "{e}"
        );
    }

    #[test]
    fn empty_and_featureless_files_are_errors() {
        assert!(read_str("").unwrap_err().to_string().contains("empty"));
        assert!(read_str("Metadata_A\nx\n")
            .unwrap_err()
            .to_string()
            .contains("no feature"));
    }

    #[test]
    fn round_trips_csv_tsv_and_gz() {
        let t = read_str("Metadata_Well,f1,f2\nA01,0.1,1e-300\nA02,3.25,NaN\n").unwrap();
        let dir = tempfile::tempdir().unwrap();
        for name in ["t.csv", "t.tsv", "t.csv.gz", "t.tsv.gz"] {
            let p = dir.path().join(name);
            write_table(&t, &p).unwrap();
            let back = read_table(&p, &ReadOptions::default()).unwrap();
            assert_eq!(
                back.metadata("Metadata_Well").unwrap(),
                t.metadata("Metadata_Well").unwrap()
            );
            assert_eq!(back.features()[[0, 0]], 0.1);
            assert_eq!(back.features()[[0, 1]], 1e-300);
            assert!(back.features()[[1, 1]].is_nan());
        }
    }

    #[test]
    fn failed_write_keeps_previous_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("keep.txt");
        std::fs::write(&p, "old").unwrap();
        let r = write_atomic(&p, |w| {
            w.write_all(b"partial")?;
            Err(std::io::Error::other("disk full"))
        });
        assert!(r.is_err());
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "old");
        let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 1, "temporary file was cleaned up");
    }
}
