//! `reproduce <paper> [--data DIR] [--quick] [--out DIR] [--seed N] [--quiet] [--device cpu|cuda]`

use std::path::PathBuf;

use clap::Parser;

#[global_allocator]
static GLOBAL: cellpaint_core::Allocator = cellpaint_core::Allocator;

#[derive(Parser)]
#[command(about = "Regenerate a paper's figures, tables and claims end to end")]
struct Cli {
    /// Which paper (cell-painting-vae).
    paper: String,
    /// Data directory (default: $CELLPAINT_DATA, else ../shared/data).
    #[arg(long)]
    data: Option<PathBuf>,
    /// A few minutes on 2 cores (what CI runs); the same as `--tier quick`.
    #[arg(long)]
    quick: bool,
    /// quick (CI, minutes), cpu (≤ 1 h on 2 cores, sized so the networks learn; cytovae,
    /// deepprofiler, moa-profiler) or paper (the paper's settings; the default).
    #[arg(long, value_enum)]
    tier: Option<reproduce::Tier>,
    /// Output directory (default: target/reproduce/<paper>).
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// No progress lines.
    #[arg(long)]
    quiet: bool,
    /// Device for the convolutional models: cpu, cuda or cuda:N (needs `--features cuda`).
    #[arg(long, default_value = "cpu")]
    device: cellpaint_core::DeviceChoice,
    /// cytovae: training iterations per model (quick 60, full 40,000); T scales with them.
    #[arg(long)]
    iterations: Option<usize>,
    /// moa-profiler: training epochs per network (quick 6, full 30); milestones scale with them.
    #[arg(long)]
    epochs: Option<usize>,
    /// Discard a network's earlier run whose settings or data differ (by default such a run
    /// directory is refused; the same settings resume).
    #[arg(long)]
    restart: bool,
}

fn main() -> anyhow::Result<()> {
    // Before any thread starts (candle otherwise re-reads /proc/cpuinfo per matrix product).
    cellpaint_core::threads::fix_thread_counts();
    let cli = Cli::parse();
    let tier = match (cli.quick, cli.tier) {
        (true, Some(t)) if t != reproduce::Tier::Quick => {
            anyhow::bail!("--quick and --tier {} disagree; give one", t.name())
        }
        (true, _) => reproduce::Tier::Quick,
        (false, t) => t.unwrap_or(reproduce::Tier::Paper),
    };
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| PathBuf::from("target"), PathBuf::from);
    let opts = reproduce::Options {
        out: cli
            .out
            .unwrap_or_else(|| target.join("reproduce").join(&cli.paper)),
        data: cli.data,
        quick: tier == reproduce::Tier::Quick,
        tier,
        seed: cli.seed,
        quiet: cli.quiet,
        device: cli.device,
        iterations: cli.iterations,
        epochs: cli.epochs,
        restart: cli.restart,
    };
    reproduce::reproduce(&cli.paper, &opts)
}
