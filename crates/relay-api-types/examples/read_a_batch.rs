//! Using `relay-api-types` as the client side of the manager's HTTP contract: read an
//! answer into its typed body, build a request body, and print the JSON Schema a
//! type is documented with in `docs/openapi.yaml`. No server is needed: the answer is
//! a literal, as a client would receive it from `GET /api/hosts`.
//!
//! Run with `cargo run -p relay-api-types --example read_a_batch`.

use relay_api_types as api;
use serde_json::json;

/// Runs the example; `pub` so the crate's tests can run it too.
pub fn main() {
    // An answer of `GET /api/health`-style open routes and of `GET /api/hosts`.
    let health: api::Health =
        serde_json::from_value(json!({"status": "ok"})).expect("a health body");
    println!("health: {}", health.status);

    // A request body: the types refuse what the server would refuse in shape (an
    // unknown field, a missing credential) before anything is sent.
    let create = api::CreateHostRequest {
        name: "main".into(),
        base_url: "https://gw.example.com".into(),
        auth: api::HostAuth::Login {
            email: "admin@example.com".into(),
            password: "not-a-real-password".into(),
        },
    };
    let body = serde_json::to_value(&create).expect("json");
    assert_eq!(body["auth"]["kind"], "login");
    println!(
        "POST /api/hosts body has fields: {:?}",
        body.as_object().map(|o| o.keys().collect::<Vec<_>>())
    );
    let refused = serde_json::from_value::<api::HostAuth>(json!({"kind": "api_key"}));
    assert!(
        refused.is_err(),
        "an api_key credential without its key is refused"
    );

    // Our status vocabularies are typed: a batch status the contract does not
    // know is an error, not a string passed along.
    let status: api::BatchStatus = serde_json::from_value(json!("succeeded")).expect("a status");
    println!(
        "batch status {status} is terminal: {}",
        status.is_terminal()
    );
    assert!(serde_json::from_value::<api::BatchStatus>(json!("great")).is_err());

    // The JSON Schema of a body, as docs/openapi.yaml documents it.
    let schema = schemars::schema_for!(api::HostList);
    let text = serde_json::to_string(&schema).expect("schema json");
    assert!(text.contains("\"hosts\""));
    println!("HostList schema: {} bytes", text.len());
}
