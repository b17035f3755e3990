//! The CUDA kernels of the depthwise convolution (depthwise.cu, compiled to PTX by build.rs).

use candle_core::backend::BackendStorage;
use candle_core::cuda_backend::cudarc::driver::{LaunchConfig, PushKernelArg};
use candle_core::cuda_backend::WrapErr;
use candle_core::{CudaStorage, Layout, Result};

use super::Geom;

const PTX: &str = include_str!(concat!(env!("OUT_DIR"), "/depthwise.ptx"));
const MODULE: &str = "cellpaint_depthwise";
/// Threads per block of the weight gradient (GRAD_WEIGHT_THREADS in depthwise.cu).
const GRAD_WEIGHT_THREADS: u32 = 256;

#[derive(Clone, Copy)]
pub(super) enum Kernel {
    Forward,
    GradInput,
    GradWeight,
}

/// Runs `kernel` on two contiguous f32 storages; returns its output storage.
pub(super) fn launch(
    kernel: Kernel,
    g: Geom,
    a: (&CudaStorage, &Layout),
    b: (&CudaStorage, &Layout),
) -> Result<CudaStorage> {
    if !a.1.is_contiguous() || !b.1.is_contiguous() {
        candle_core::bail!("depthwise (CUDA): non-contiguous input");
    }
    let dev = a.0.device().clone();
    let sa = a.0.as_cuda_slice::<f32>()?.slice(a.1.start_offset()..);
    let sb = b.0.as_cuda_slice::<f32>()?.slice(b.1.start_offset()..);
    let (name, len) = match kernel {
        Kernel::Forward => ("depthwise_fwd", g.n * g.c * g.oh * g.ow),
        Kernel::GradInput => ("depthwise_grad_input", g.n * g.c * g.h * g.w),
        Kernel::GradWeight => ("depthwise_grad_weight", g.c * g.k * g.k),
    };
    let cfg = match kernel {
        Kernel::GradWeight => LaunchConfig {
            grid_dim: (len as u32, 1, 1),
            block_dim: (GRAD_WEIGHT_THREADS, 1, 1),
            shared_mem_bytes: 0,
        },
        // Grid-stride loops: enough blocks to fill the GPU, not one thread per element.
        _ => LaunchConfig {
            grid_dim: (len.div_ceil(256).clamp(1, 65_535) as u32, 1, 1),
            block_dim: (256, 1, 1),
            shared_mem_bytes: 0,
        },
    };
    let dims = [g.n, g.c, g.h, g.w, g.k, g.s, g.p, g.oh, g.ow].map(|v| v as i32);
    let func = dev.get_or_load_custom_func(name, MODULE, PTX)?;
    // SAFETY: every element is written by the kernel before it is read.
    let out = unsafe { dev.alloc::<f32>(len)? };
    let mut builder = func.builder();
    builder.arg(&sa);
    builder.arg(&sb);
    builder.arg(&out);
    for d in &dims {
        builder.arg(d);
    }
    // SAFETY: the arguments match the kernel's signature in depthwise.cu.
    unsafe { builder.launch(cfg) }.w()?;
    Ok(CudaStorage::wrap_cuda_slice(out, dev))
}
