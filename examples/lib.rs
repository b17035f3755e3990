//! Examples only; run them with `cargo run --release -p cellpaint-examples --example NAME`.
