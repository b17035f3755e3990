//! `cellpaint`: image-based profiling from the shell.

// The argument structs' doc comments are the `--help` text, where `<plate>` is a placeholder,
// not an HTML tag.
#![allow(rustdoc::invalid_html_tags)]

mod calibrate;
mod commands;
mod deepprofiler;
mod eval;
mod images;
mod measure;
mod moa_profiler;
mod profile_vae;
mod training;
mod vae_plus;

use std::process::ExitCode;

use clap::Parser;

// Training allocates and frees gigabytes of short-lived tensors; see cellpaint_core::allocator.
#[global_allocator]
static GLOBAL: cellpaint_core::Allocator = cellpaint_core::Allocator;

/// Writes `text` and a newline to standard output. A failed write is an error that `main`
/// reports in one line (a full disk), except a closed pipe (`cellpaint eval … | head`), which
/// ends the command quietly: the reader asked for no more.
pub fn print_line(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush())
        .map_err(|e| anyhow::Error::new(e).context("writing to standard output"))
}

fn main() -> ExitCode {
    // Before any thread starts (candle otherwise re-reads /proc/cpuinfo per matrix product).
    cellpaint_core::threads::fix_thread_counts();
    let cli = commands::Cli::parse();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            // One line: the cause chain joined, so scripts and people see what and where.
            let chain: Vec<String> = e.chain().map(|c| c.to_string()).collect();
            eprintln!("error: {}", chain.join(": "));
            ExitCode::FAILURE
        }
    }
}
