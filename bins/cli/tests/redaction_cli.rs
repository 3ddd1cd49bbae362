//! The CLI against a chatty host (the mock's `echo_secrets`): whatever the host
//! quoted, no output of `relay` (the import, the batch, its evidence, doctor, a
//! refused registration) shows a secret.

use crate::common::*;
use sub2api_mock::HostKnobs;

const GOOD: &str = "sk-cli-redact-good-0123456789abcdef";
const INVALID: &str = "sk-cli-redact-invalid-0123456789ab";
const REFUSED: &str = "sk-cli-redact-echo-0123456789abcdef";
const WRONG_ADMIN_KEY: &str = "admin-0badc0de0badc0de0badc0de0badc0de0badc0de0badc0de0badc0de0bad";

#[test]
fn no_output_shows_a_secret_the_host_quoted() {
    let setup = setup("redaction");
    let Setup { mock, server, dir } = &setup;
    mock.set_knobs(HostKnobs {
        echo_secrets: true,
        ..HostKnobs::default()
    });
    let mut runs = Vec::new();

    let wrong = write(dir, "wrong.key", WRONG_ADMIN_KEY);
    runs.push(server.relay(&[
        "host",
        "add",
        "other",
        "--url",
        &mock.base_url(),
        "--api-key-file",
        s(&wrong),
    ]));
    assert_ne!(runs[0].code(), Some(0), "a wrong key is refused");

    let keys = write(dir, "keys.txt", &format!("{GOOD}\n{INVALID}\n{REFUSED}\n"));
    let import = server.relay(&[
        "--output",
        "json",
        "import",
        "deepseek",
        "--host",
        "main",
        "--keys-file",
        s(&keys),
        "--mode",
        "partial",
        "--subscriber",
        "echo-bob@example.com",
    ]);
    let batch = import.json()["batch"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no batch id in\n{}\n{}", import.stdout(), import.stderr()))
        .to_string();
    runs.push(import);
    let shown = server.relay(&["batch", "show", &batch]).expect(0);
    let text = shown.stdout();
    assert!(text.contains("is not accepted"), "{text}");
    assert!(text.contains("Incorrect API key provided: sk-c…"), "{text}");
    runs.push(shown);
    runs.push(
        server
            .relay(&["--output", "json", "batch", "show", &batch])
            .expect(0),
    );
    runs.push(server.relay(&["evidence", "batch", &batch]).expect(0));
    runs.push(server.relay(&["doctor", "deepseek", "--host", "main"]));

    let mut secrets = vec![
        GOOD.to_string(),
        INVALID.to_string(),
        REFUSED.to_string(),
        WRONG_ADMIN_KEY.to_string(),
        TOKEN.to_string(),
    ];
    secrets.extend(mock.secrets());
    for run in &runs {
        for secret in &secrets {
            run.assert_hides(secret);
        }
    }
}
