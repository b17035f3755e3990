//! What defines a training run, recorded in its run directory (`fingerprint.json`) so that a
//! directory belongs to exactly one run.
//!
//! A method builds a [`Fingerprint`] from its resolved config, its seed and the identity of its
//! data (a [`DataHasher`] digest of the index, labels and split: cheap, not every pixel), and hands
//! it to the [`Trainer`](crate::Trainer). Started again in the same directory, a run with the same
//! fingerprint resumes; with another, it is refused before anything is written, naming the first
//! setting that differs and both values, unless the caller asks to restart.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{CoreError, Result};

/// Version of the run-directory format (checkpoint layout, fingerprint keys). Part of every
/// fingerprint: a directory written by another version is not silently resumed.
pub const RUN_FORMAT: &str = "cellpaint-run-v2";

/// Settings that define a run, flattened to dotted keys (`config.learning_rate`, `data`, …).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Fingerprint(pub BTreeMap<String, serde_json::Value>);

impl Fingerprint {
    /// No settings yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `value` under `key`; objects and arrays of objects are flattened to dotted keys, so
    /// a mismatch names the exact setting.
    pub fn with(mut self, key: &str, value: &impl Serialize) -> Result<Self> {
        let v = serde_json::to_value(value)
            .map_err(|e| CoreError::Config(format!("fingerprint of '{key}': {e}")))?;
        flatten(key, v, &mut self.0);
        Ok(self)
    }

    /// Drops `key`: for settings a run may change when it resumes (the number of epochs or
    /// iterations, which a resumed run may extend; the resolved schedule stays in).
    pub fn without(mut self, key: &str) -> Self {
        self.0.remove(key);
        self
    }

    /// Adds every entry of `other` (its keys win on a clash).
    pub fn merge(mut self, other: &Fingerprint) -> Self {
        self.0
            .extend(other.0.iter().map(|(k, v)| (k.clone(), v.clone())));
        self
    }

    /// The first key (in sorted order) whose value differs, with the recorded and new values
    /// as JSON text ("absent" for a missing key).
    pub fn first_difference(&self, new: &Fingerprint) -> Option<(String, String, String)> {
        let keys: std::collections::BTreeSet<&String> = self.0.keys().chain(new.0.keys()).collect();
        let show = |v: Option<&serde_json::Value>| {
            v.map(|v| v.to_string()).unwrap_or_else(|| "absent".into())
        };
        keys.into_iter().find_map(|k| {
            let (a, b) = (self.0.get(k), new.0.get(k));
            (a != b).then(|| (k.clone(), show(a), show(b)))
        })
    }

    /// Reads `fingerprint.json` of `dir`, if present.
    pub fn read(dir: &Path) -> Result<Option<Fingerprint>> {
        let path = dir.join(FILE);
        if !path.exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path).map_err(|cause| CoreError::Io {
            path: path.clone(),
            cause,
        })?;
        serde_json::from_str(&text).map(Some).map_err(|e| {
            CoreError::Config(format!(
                "{}: line {}, column {}: not a run fingerprint ({})",
                path.display(),
                e.line(),
                e.column(),
                profiles::escaped(&e.to_string())
            ))
        })
    }

    /// Writes `fingerprint.json` into `dir` (atomically).
    pub fn write(&self, dir: &Path) -> Result<()> {
        profiles::write_json(&dir.join(FILE), self)?;
        Ok(())
    }
}

/// Name of the fingerprint file in a run directory.
pub const FILE: &str = "fingerprint.json";

fn flatten(prefix: &str, value: serde_json::Value, out: &mut BTreeMap<String, serde_json::Value>) {
    match value {
        serde_json::Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                flatten(&format!("{prefix}.{k}"), v, out);
            }
        }
        v => {
            out.insert(prefix.to_string(), v);
        }
    }
}

/// SHA-256 of a data set's identity: feed it what defines the data (paths, labels, shapes,
/// splits) in a fixed order; [`DataHasher::hex`] is the digest for a [`Fingerprint`].
#[derive(Default, Clone)]
pub struct DataHasher(Sha256);

impl DataHasher {
    /// An empty digest.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a string (length-prefixed, so `["ab", "c"]` and `["a", "bc"]` differ).
    pub fn str(&mut self, s: &str) -> &mut Self {
        self.0.update((s.len() as u64).to_le_bytes());
        self.0.update(s.as_bytes());
        self
    }

    /// Adds a number.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.0.update(v.to_le_bytes());
        self
    }

    /// Adds raw bytes (length-prefixed).
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.0.update((b.len() as u64).to_le_bytes());
        self.0.update(b);
        self
    }

    /// Adds numbers by their bit patterns (so −0.0 and 0.0, or two NaNs, are told apart).
    pub fn f64s(&mut self, v: impl IntoIterator<Item = f64>) -> &mut Self {
        let mut n = 0u64;
        for x in v {
            self.0.update(x.to_bits().to_le_bytes());
            n += 1;
        }
        self.0.update(n.to_le_bytes());
        self
    }

    /// Adds a stack of images `(N, …)`: its shape and each image's pixel sum (cheap, and it
    /// changes with the images), `pixels` in the stack's logical order.
    pub fn images(&mut self, shape: &[usize], pixels: impl IntoIterator<Item = f32>) -> &mut Self {
        for &d in shape {
            self.u64(d as u64);
        }
        let per_image: usize = shape.iter().skip(1).product();
        let mut sums = Vec::with_capacity(shape.first().copied().unwrap_or(0));
        let (mut sum, mut k) = (0f64, 0usize);
        for v in pixels {
            sum += v as f64;
            k += 1;
            if k == per_image {
                sums.push(sum);
                (sum, k) = (0.0, 0);
            }
        }
        self.f64s(sums)
    }

    /// Adds a table: its metadata (names and values) and its features (names and values).
    pub fn table(&mut self, t: &profiles::ProfileTable) -> &mut Self {
        for name in t.metadata_names() {
            self.str(name);
            for v in t.metadata(name).expect("a listed column") {
                self.str(v);
            }
        }
        for name in t.feature_names() {
            self.str(name);
        }
        self.f64s(t.features().iter().copied())
    }

    /// The digest so far, as lowercase hex.
    pub fn hex(&self) -> String {
        hex(&self.0.clone().finalize())
    }
}

/// SHA-256 of `bytes` as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// SHA-256 of the file at `path` as lowercase hex, read in chunks.
pub fn sha256_file(path: &Path) -> Result<String> {
    use std::io::Read;
    let io = |cause| CoreError::Io {
        path: path.to_path_buf(),
        cause,
    };
    let mut f = std::fs::File::open(path).map_err(io)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

/// SHA-256 of named tensors (names sorted; shapes, dtypes and values as f32 bits): which
/// weights made a derived output.
pub fn tensors_digest(
    tensors: &std::collections::HashMap<String, candle_core::Tensor>,
) -> Result<String> {
    let mut names: Vec<&String> = tensors.keys().collect();
    names.sort();
    let mut h = Sha256::new();
    for name in names {
        let t = &tensors[name];
        h.update((name.len() as u64).to_le_bytes());
        h.update(name.as_bytes());
        h.update(format!("{:?}{:?}", t.dtype(), t.dims()).as_bytes());
        let v: Vec<f32> = t
            .flatten_all()?
            .to_dtype(candle_core::DType::F32)?
            .to_vec1()?;
        for x in v {
            h.update(x.to_bits().to_le_bytes());
        }
    }
    Ok(hex(&h.finalize()))
}

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Cfg {
        lr: f64,
        model: Inner,
    }
    #[derive(Serialize)]
    struct Inner {
        width: f64,
    }

    #[test]
    fn flattened_keys_name_the_setting() {
        let a = Fingerprint::new()
            .with(
                "config",
                &Cfg {
                    lr: 0.1,
                    model: Inner { width: 1.0 },
                },
            )
            .unwrap()
            .with("seed", &3u64)
            .unwrap();
        let b = Fingerprint::new()
            .with(
                "config",
                &Cfg {
                    lr: 0.1,
                    model: Inner { width: 0.5 },
                },
            )
            .unwrap()
            .with("seed", &3u64)
            .unwrap();
        assert_eq!(a.first_difference(&a), None);
        assert_eq!(
            a.first_difference(&b),
            Some(("config.model.width".into(), "1.0".into(), "0.5".into()))
        );
        let c = Fingerprint::new().with("seed", &3u64).unwrap();
        assert_eq!(
            a.first_difference(&c).unwrap().2,
            "absent",
            "a key only one side has is a difference"
        );
    }

    #[test]
    fn data_hash_separates_boundaries() {
        let h = |parts: &[&str]| {
            let mut d = DataHasher::new();
            for p in parts {
                d.str(p);
            }
            d.hex()
        };
        assert_ne!(h(&["ab", "c"]), h(&["a", "bc"]));
        assert_eq!(h(&["x"]), h(&["x"]));
        // Known answer: SHA-256 of "abc".
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
