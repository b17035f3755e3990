//! Thread counts, fixed once per process.

/// Call once at the start of `main`, before any thread starts.
///
/// candle 0.11 on Linux asks for the number of physical cores on every matrix product unless
/// `RAYON_NUM_THREADS` is set, and `num_cpus::get_physical` parses /proc/cpuinfo each time:
/// 3–4 % of an EfficientNet-B0 training step went to the kernel formatting that file. This sets
/// the variable to that same count, so candle's products keep the threads they had, and builds
/// rayon's global pool at the size rayon chooses without the variable (the available
/// parallelism), which the variable would otherwise change. Nothing changes where the variable
/// is already set (the user's choice stands) or the pool already exists.
pub fn fix_thread_counts() {
    if std::env::var_os("RAYON_NUM_THREADS").is_some() {
        return;
    }
    let logical = std::thread::available_parallelism().map_or(1, |n| n.get());
    // Edition 2021: `set_var` is safe to call; it is sound here because no other thread exists
    // yet to read the environment (the documented precondition of this function).
    std::env::set_var(
        "RAYON_NUM_THREADS",
        num_cpus::get_physical().max(1).to_string(),
    );
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(logical)
        .build_global();
}
