//! What the CLI tests share: the binary, and a run that must succeed.

use std::process::Command;

/// The `cellpaint` binary under test.
pub fn cellpaint() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cellpaint"))
}

/// Runs `cellpaint args…`, fails the test with its stderr unless it succeeds, and returns
/// (stdout, stderr).
#[allow(dead_code)] // not every test file runs commands this way
pub fn run(args: &[&str]) -> (String, String) {
    let out = cellpaint().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{:?}: {}",
        args,
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `cellpaint args…`, fails the test unless it exits non-zero, and returns its stderr.
#[allow(dead_code)] // not every test file checks failures
pub fn fails(args: &[&str]) -> String {
    let out = cellpaint().args(args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{args:?} succeeded: {err}");
    err
}
