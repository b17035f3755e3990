//! `fix_thread_counts` in a process of its own (it sets an environment variable).

#[test]
fn thread_counts_are_fixed_without_changing_rayons_pool() {
    if std::env::var_os("RAYON_NUM_THREADS").is_some() {
        return; // the user's setting stands; nothing to check
    }
    cellpaint_core::threads::fix_thread_counts();
    let set: usize = std::env::var("RAYON_NUM_THREADS").unwrap().parse().unwrap();
    assert_eq!(set, num_cpus::get_physical().max(1));
    let logical = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(rayon::current_num_threads(), logical);
    // candle's products run (and agree) with the count fixed.
    let dev = cellpaint_core::candle::Device::Cpu;
    let a =
        cellpaint_core::candle::Tensor::ones((64, 32), cellpaint_core::candle::DType::F32, &dev)
            .unwrap();
    let b = a.t().unwrap().contiguous().unwrap();
    let c = a.matmul(&b).unwrap();
    assert_eq!(
        c.sum_all().unwrap().to_scalar::<f32>().unwrap(),
        64.0 * 64.0 * 32.0
    );
}
