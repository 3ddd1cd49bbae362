//! `relay host add|probe` against a host whose admin API is locked by its compliance
//! gate (sub2api ≥ ≈0.1.136): the operator learns what to accept and as which admin;
//! the manager never accepts it.

use crate::common::*;
use sub2api_mock::{HostKnobs, MockConfig, MockHost};

const DOC_EN: &str =
    "https://github.com/Wei-Shaw/sub2api/blob/main/docs/legal/admin-compliance.en.md";

fn lock(mock: &MockHost, on: bool) {
    mock.set_knobs(HostKnobs {
        compliance_required: on,
        ..HostKnobs::default()
    });
}

fn assert_never_accepted(mock: &MockHost) {
    let state = mock.state();
    assert_eq!(state["compliance_accepted_by"], serde_json::json!([]));
    assert!(
        state["counters"]["by_route"]
            .get("POST /api/v1/admin/compliance/accept")
            .is_none(),
        "the manager called the accept route"
    );
}

#[test]
fn a_locked_host_names_what_to_accept_and_as_whom() {
    let config = MockConfig::default();
    let mock = MockHost::start(config.clone()).unwrap();
    let server = Server::start("compliance");
    let dir = temp_dir("compliance-files");
    let key_file = write(&dir, "admin.key", &format!("{}\n", mock.admin_api_key()));
    let add = |name: &str| {
        server.relay(&[
            "host",
            "add",
            name,
            "--url",
            &mock.base_url(),
            "--api-key-file",
            s(&key_file),
        ])
    };

    // Registration of a locked host: refused, nothing stored.
    lock(&mock, true);
    let out = add("main").expect(1);
    let err = out.stderr();
    assert!(
        err.starts_with("error: host_compliance_required: "),
        "{err}"
    );
    for needle in [
        "v2026.06.10",
        DOC_EN,
        "lowest-id active admin",
        "POST /api/v1/admin/compliance/accept",
        "I have read, understood, and agree to the Sub2API Deployment and Operation Compliance Commitment",
        "never accepts it",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in {err}");
    }
    out.assert_hides(mock.admin_api_key());
    let list = server.relay(&["host", "list"]).expect(0).stdout();
    assert!(!list.contains("main"), "{list}");

    // Accepted (by the operator, outside the manager): registration works.
    lock(&mock, false);
    let out = add("main").expect(0);
    assert!(out.stdout().contains("status:        supported\n"));

    // An upgrade to a new commitment locks the admin API again: the probe says so
    // and marks the host unsupported.
    lock(&mock, true);
    let out = server.relay(&["host", "probe", "main"]).expect(1);
    let err = out.stderr();
    assert!(
        err.starts_with("error: host_compliance_required: "),
        "{err}"
    );
    assert!(err.contains("lowest-id active admin"), "{err}");
    assert!(err.contains(DOC_EN), "{err}");
    let doc = server
        .relay(&["--output", "json", "host", "probe", "main"])
        .expect(1)
        .json();
    assert_eq!(doc["error"]["code"], "host_compliance_required");
    let shown = server.relay(&["host", "show", "main"]).expect(0).stdout();
    assert!(shown.contains("status:        unsupported\n"), "{shown}");
    assert!(shown.contains("compliance commitment"), "{shown}");
    let doc = server
        .relay(&["--output", "json", "host", "show", "main"])
        .expect(0)
        .json();
    assert_eq!(doc["capabilities"]["admin_compliance"], false);
    assert_eq!(doc["capabilities"]["groups"], true, "earlier findings kept");

    assert_never_accepted(&mock);

    // Accepted again: the next probe clears it.
    lock(&mock, false);
    let out = server.relay(&["host", "probe", "main"]).expect(0);
    let text = out.stdout();
    assert!(text.contains("status:        supported\n"), "{text}");
    assert!(!text.contains("compliance"), "{text}");
    assert!(!server.log().contains(mock.admin_api_key()));
}

#[test]
fn with_a_login_the_registered_admin_must_accept() {
    let config = MockConfig::default();
    let mock = MockHost::start(config.clone()).unwrap();
    let server = Server::start("compliance-login");
    lock(&mock, true);
    let out = server
        .relay_with(
            &[
                "host",
                "add",
                "by-login",
                "--url",
                &mock.base_url(),
                "--email",
                &config.admin_email,
                "--password-file",
                "-",
            ],
            &[],
            Some(&format!("{}\n", config.admin_password)),
        )
        .expect(1);
    let err = out.stderr();
    assert!(
        err.starts_with("error: host_compliance_required: "),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "Accept it as {} (the admin this host is registered with)",
            config.admin_email
        )),
        "{err}"
    );
    out.assert_hides(&config.admin_password);
    assert_never_accepted(&mock);
}
