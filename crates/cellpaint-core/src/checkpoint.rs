//! Checkpoints: tensors as safetensors plus a JSON sidecar, both written atomically.
//!
//! `NAME.safetensors` is written first (temp file + rename), then `NAME.json`, which records
//! the tensor file's byte length. A checkpoint counts only when its JSON exists and the
//! length matches, so a crash mid-write leaves the previous checkpoint in force, and a
//! truncated or foreign file is reported rather than loaded. The sidecar also records the
//! tensor file's SHA-256, checked on load, so bytes changed in place (same length) are caught.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::error::{CoreError, Result};

#[derive(Serialize, Deserialize)]
struct Sidecar<M> {
    format: String,
    tensors_file: String,
    tensors_bytes: u64,
    /// SHA-256 of the tensor file (absent in checkpoints written before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tensors_sha256: Option<String>,
    meta: M,
}

const FORMAT: &str = "cellpaint-checkpoint-v1";

fn paths(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("{name}.safetensors")),
        dir.join(format!("{name}.json")),
    )
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CoreError + '_ {
    move |source| CoreError::Io {
        path: path.to_path_buf(),
        cause: source,
    }
}

/// Saves `tensors` and `meta` as checkpoint `name` in `dir`.
pub fn save_checkpoint<M: Serialize>(
    dir: &Path,
    name: &str,
    tensors: &HashMap<String, Tensor>,
    meta: &M,
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let (st, js) = paths(dir, name);
    // A killed save leaves its temporary tensor file (possibly hundreds of MB): remove those
    // of earlier processes before writing a new one.
    let own = format!(".{name}.safetensors.{}.tmp", std::process::id());
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let f = e.file_name().to_string_lossy().into_owned();
            if f != own && f.starts_with(&format!(".{name}.safetensors.")) && f.ends_with(".tmp") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    let tmp = dir.join(own);
    // Tensors may live on a GPU; safetensors wants them on the host.
    let host: HashMap<String, Tensor> = tensors
        .iter()
        .map(|(k, t)| Ok((k.clone(), t.to_device(&Device::Cpu)?)))
        .collect::<Result<_>>()?;
    if let Err(e) = candle_core::safetensors::save(&host, &tmp) {
        let _ = std::fs::remove_file(&tmp);
        // candle's message ("File too large", "No space left on device") names no file.
        return Err(CoreError::Checkpoint {
            path: st.clone(),
            message: format!("cannot write ({e})"),
        });
    }
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(io(&tmp))?;
    let bytes = std::fs::metadata(&tmp).map_err(io(&tmp))?.len();
    let sha = crate::fingerprint::sha256_file(&tmp)?;
    std::fs::rename(&tmp, &st).map_err(io(&st))?;
    let sidecar = Sidecar {
        format: FORMAT.into(),
        tensors_file: format!("{name}.safetensors"),
        tensors_bytes: bytes,
        tensors_sha256: Some(sha),
        meta,
    };
    profiles::write_json(&js, &sidecar)?;
    Ok(())
}

/// Loads checkpoint `name` from `dir`: `Ok(None)` when there is none, an error naming the file
/// when it is truncated, modified (checksum), inconsistent or unreadable.
pub fn load_checkpoint<M: DeserializeOwned>(
    dir: &Path,
    name: &str,
    device: &Device,
) -> Result<Option<(HashMap<String, Tensor>, M)>> {
    let (st, js) = paths(dir, name);
    if !js.exists() {
        return Ok(None);
    }
    let bad = |path: &Path, message: String| CoreError::Checkpoint {
        path: path.to_path_buf(),
        message: profiles::one_line(&message),
    };
    let text = std::fs::read_to_string(&js).map_err(io(&js))?;
    let sidecar: Sidecar<M> = serde_json::from_str(&text)
        .map_err(|e| bad(&js, format!("unreadable sidecar JSON ({e})")))?;
    if sidecar.format != FORMAT {
        return Err(bad(
            &js,
            format!("format '{}', expected '{FORMAT}'", sidecar.format),
        ));
    }
    let len = std::fs::metadata(&st)
        .map_err(|e| bad(&st, format!("tensor file missing ({e})")))?
        .len();
    if len != sidecar.tensors_bytes {
        return Err(bad(
            &st,
            format!(
                "{len} bytes on disk but {} were written: the file is truncated or was replaced",
                sidecar.tensors_bytes
            ),
        ));
    }
    if let Some(want) = &sidecar.tensors_sha256 {
        let got = crate::fingerprint::sha256_file(&st)?;
        if &got != want {
            return Err(bad(
                &st,
                format!(
                    "content checksum {got} differs from the {want} recorded when it was \
                     written: the file was modified or corrupted"
                ),
            ));
        }
    }
    let tensors = candle_core::safetensors::load(&st, device)
        .map_err(|e| bad(&st, format!("not a readable safetensors file ({e})")))?;
    Ok(Some((tensors, sidecar.meta)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::DType;

    #[test]
    fn round_trip_and_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let t = HashMap::from([(
            "w".to_string(),
            Tensor::arange(0f32, 12.0, &Device::Cpu)
                .unwrap()
                .reshape((3, 4))
                .unwrap(),
        )]);
        assert!(load_checkpoint::<u32>(dir.path(), "last", &Device::Cpu)
            .unwrap()
            .is_none());
        let stale = dir.path().join(".last.safetensors.999999.tmp");
        std::fs::write(&stale, b"left by a killed save").unwrap();
        save_checkpoint(dir.path(), "last", &t, &42u32).unwrap();
        assert!(!stale.exists());
        let (back, meta) = load_checkpoint::<u32>(dir.path(), "last", &Device::Cpu)
            .unwrap()
            .unwrap();
        assert_eq!(meta, 42);
        assert_eq!(
            back["w"]
                .to_dtype(DType::F32)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()[11],
            11.0
        );
        // Flip one byte of a weight in place (same length): the checksum catches it.
        let st = dir.path().join("last.safetensors");
        let bytes = std::fs::read(&st).unwrap();
        let mut flipped = bytes.clone();
        let n = flipped.len();
        flipped[n - 3] ^= 0x40;
        std::fs::write(&st, &flipped).unwrap();
        let e = load_checkpoint::<u32>(dir.path(), "last", &Device::Cpu)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("last.safetensors") && e.contains("checksum"),
            "{e}"
        );
        // Truncate the tensor file: a clear error naming it, not a panic.
        std::fs::write(&st, &bytes[..bytes.len() / 2]).unwrap();
        let e = load_checkpoint::<u32>(dir.path(), "last", &Device::Cpu)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("last.safetensors") && e.contains("truncated"),
            "{e}"
        );
        // Garbage of the right length is caught too.
        std::fs::write(&st, vec![7u8; bytes.len()]).unwrap();
        let e = load_checkpoint::<u32>(dir.path(), "last", &Device::Cpu)
            .unwrap_err()
            .to_string();
        assert!(e.contains("checksum"), "{e}");
        std::fs::write(dir.path().join("last.json"), "{oops").unwrap();
        let e = load_checkpoint::<u32>(dir.path(), "last", &Device::Cpu)
            .unwrap_err()
            .to_string();
        assert!(e.contains("last.json") && e.contains("sidecar"), "{e}");
    }
}
