#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| cellpaint_fuzz::gctx(data));
