//! The standalone binary starts, prints its address and answers.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::common::Client;
use serde_json::json;

#[test]
fn binary_starts_and_answers() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sub2api-mock"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--admin-api-key",
            "admin-binary-test-key",
            "--host-version",
            "0.1.99",
            "--disable-channels",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read line");
    let base = line
        .trim()
        .strip_prefix("sub2api-mock listening on ")
        .expect("banner")
        .to_string();
    assert!(
        base.starts_with("http://127.0.0.1:") && !base.ends_with(":0"),
        "{base}"
    );
    let c = Client::new(&base);
    let r = c.call(
        "GET",
        "/api/v1/admin/system/version",
        &[("x-api-key", "admin-binary-test-key")],
        None,
    );
    let result = (r.status, r.json());
    let ch = c.call(
        "GET",
        "/api/v1/admin/channels",
        &[("x-api-key", "admin-binary-test-key")],
        None,
    );
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        result,
        (
            200,
            json!({"code": 0, "message": "success", "data": {"version": "0.1.99"}})
        )
    );
    assert_eq!(ch.status, 404);
}
