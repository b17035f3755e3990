//! With `--features cuda`: compiles our CUDA kernels (src/efficientnet/depthwise.cu) to PTX
//! with the same nvcc candle uses ($NVCC, else `nvcc` on PATH), for the compute capability in
//! CUDA_COMPUTE_CAP (else the first GPU's, from nvidia-smi).
use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=src/efficientnet/depthwise.cu");
    println!("cargo::rerun-if-env-changed=CUDA_COMPUTE_CAP");
    println!("cargo::rerun-if-env-changed=NVCC");
    if std::env::var_os("CARGO_FEATURE_CUDA").is_none() {
        return;
    }
    let cap = std::env::var("CUDA_COMPUTE_CAP").ok().or_else(|| {
        let out = Command::new("nvidia-smi")
            .args(["--query-gpu=compute_cap", "--format=csv,noheader"])
            .output()
            .ok()?;
        let first = String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()?
            .trim()
            .replace('.', "");
        (!first.is_empty()).then_some(first)
    });
    let Some(cap) = cap else {
        panic!(
            "--features cuda: set CUDA_COMPUTE_CAP (e.g. 90 for H100/H200) when no GPU is present"
        );
    };
    let nvcc = std::env::var("NVCC").unwrap_or_else(|_| "nvcc".into());
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("depthwise.ptx");
    let status = Command::new(&nvcc)
        .args(["--ptx", "-O3", "-std=c++17"])
        .arg(format!("--gpu-architecture=compute_{cap}"))
        .arg("-o")
        .arg(&out)
        .arg("src/efficientnet/depthwise.cu")
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("{nvcc} failed ({s}) on src/efficientnet/depthwise.cu"),
        Err(e) => panic!(
            "cannot run {nvcc} ({e}): --features cuda needs nvcc; see scripts/install-cuda-toolkit.sh"
        ),
    }
}
