//! The one place a device is chosen: `--device cpu|cuda[:N]`.

use candle_core::Device;

use crate::error::{CoreError, Result};

/// Where tensors live. Parsed from `cpu`, `cuda` or `cuda:N`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum DeviceChoice {
    #[default]
    /// The CPU (the default).
    Cpu,
    /// The CUDA GPU with this ordinal (needs the `cuda` feature).
    Cuda(usize),
}

/// True when this build can use CUDA (cargo feature `cuda`).
pub const fn cuda_compiled() -> bool {
    cfg!(feature = "cuda")
}

/// Whether our own CUDA kernels run (the depthwise convolution) instead of their candle
/// compositions: `CELLPAINT_CUDA_KERNELS=1|on` (the default) or `0|off`, read once. The kernels
/// were compared with the CPU ops (values and gradients) on an H200 (docs/gpu.md); a new kernel
/// goes behind its own switch, off, until `scripts/gpu-check.sh` has done the same for it.
pub fn cuda_kernels() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| {
        match std::env::var("CELLPAINT_CUDA_KERNELS")
            .as_deref()
            .map(str::trim)
        {
            Ok("1") | Ok("on") | Err(_) => true,
            Ok("0") | Ok("off") => false,
            Ok(other) => {
                eprintln!("CELLPAINT_CUDA_KERNELS={other}: expected 1, on, 0 or off; using on");
                true
            }
        }
    })
}

impl DeviceChoice {
    /// The candle device; a CUDA choice in a build without the `cuda` feature is a clear error.
    pub fn device(self) -> Result<Device> {
        match self {
            DeviceChoice::Cpu => Ok(Device::Cpu),
            DeviceChoice::Cuda(ordinal) => {
                if !cuda_compiled() {
                    return Err(CoreError::Device(
                        "this build has no CUDA support; rebuild with `--features cuda` (no CUDA toolkit? see scripts/install-cuda-toolkit.sh) or use `--device cpu`".into(),
                    ));
                }
                Device::new_cuda(ordinal).map_err(|e| {
                    CoreError::Device(format!("cannot open CUDA device {ordinal}: {e}"))
                })
            }
        }
    }
}

impl std::str::FromStr for DeviceChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" | "gpu" => Ok(DeviceChoice::Cuda(0)),
            other => match other.strip_prefix("cuda:").map(str::parse::<usize>) {
                Some(Ok(n)) => Ok(DeviceChoice::Cuda(n)),
                _ => Err(format!("unknown device '{s}' (cpu, cuda or cuda:N)")),
            },
        }
    }
}

impl std::fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeviceChoice::Cpu => f.write_str("cpu"),
            DeviceChoice::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

impl TryFrom<String> for DeviceChoice {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}
impl From<DeviceChoice> for String {
    fn from(d: DeviceChoice) -> String {
        d.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_reports_missing_cuda() {
        assert_eq!("CPU".parse::<DeviceChoice>().unwrap(), DeviceChoice::Cpu);
        assert_eq!(
            "cuda:1".parse::<DeviceChoice>().unwrap(),
            DeviceChoice::Cuda(1)
        );
        assert!("tpu".parse::<DeviceChoice>().is_err());
        assert!(DeviceChoice::Cpu.device().unwrap().is_cpu());
        if !cuda_compiled() {
            let e = DeviceChoice::Cuda(0).device().unwrap_err().to_string();
            assert!(e.contains("--features cuda"), "{e}");
        }
        let json = serde_json::to_string(&DeviceChoice::Cuda(2)).unwrap();
        assert_eq!(json, "\"cuda:2\"");
    }
}
