//! The `shirabe` command line where it handles secrets.

use std::io::Write;
use std::process::{Command, Stdio};

/// `hash-token` reads the token from standard input (not argv, which `ps` and shell history
/// keep) and prints the sha256 the users file stores.
#[test]
fn hash_token_reads_standard_input() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_shirabe"))
        .arg("hash-token")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run shirabe hash-token");
    child.stdin.take().expect("stdin").write_all(b"dev-ippan\n").expect("write the token");
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), shirabe::govern::access::token_hash("dev-ippan"));

    let empty = Command::new(env!("CARGO_BIN_EXE_shirabe")).arg("hash-token").stdin(Stdio::null()).output().expect("run");
    assert!(!empty.status.success(), "an empty token is refused");
    assert!(String::from_utf8_lossy(&empty.stderr).contains("pipe"), "{}", String::from_utf8_lossy(&empty.stderr));
}
