#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| cellpaint_fuzz::keras_h5(data));
