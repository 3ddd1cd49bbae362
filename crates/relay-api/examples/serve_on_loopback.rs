//! Embedding `relay-api` in another Rust tool: serve the manager's whole HTTP API
//! for an [`App`] on a loopback port, then drive it as a client would, with the
//! contract's typed bodies (`relay-api-types`): register a host and list it back.
//! The host is `sub2api-mock`, started in process, and the store lives in memory.
//!
//! Run with `cargo run -p relay-api --example serve_on_loopback`.

use std::sync::Arc;

use relay_api::{router, serve, RouterOptions, ServerConfig};
use relay_api_types as api;
use relay_app::{App, AppConfig};
use relay_domain::Secret;
use relay_store::Store;
use sub2api_mock::{MockConfig, MockHost};

/// Runs the example; `pub` so the crate's tests can run it too.
pub fn main() {
    let host = MockHost::start(MockConfig::default()).expect("start the mock host");
    let app = Arc::new(App::new(
        Store::open_in_memory().expect("in-memory store"),
        AppConfig::default(),
    ));

    // The edge is async (hyper on tokio); use-cases run on its blocking threads.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("loopback port");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let token = "an-operator-token-of-at-least-32-chars";
    let (_handle, server) = serve(
        listener,
        router(app, RouterOptions::default()),
        ServerConfig::new(Secret::new(token)),
    );
    runtime.spawn(server);
    println!("serving on {base}");

    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();

    // Open routes need no token.
    let health: api::Health = agent
        .get(format!("{base}/healthz"))
        .call()
        .expect("healthz")
        .body_mut()
        .read_json()
        .expect("a health body");
    println!("healthz: {}", health.status);

    // Every /api route needs the operator token; without it the answer is 401.
    let refused = agent.get(format!("{base}/api/hosts")).call().expect("call");
    assert_eq!(refused.status(), 401);

    // Register the host with a typed request body; the admin key is write-only.
    let create = api::CreateHostRequest {
        name: "main".into(),
        base_url: host.base_url(),
        auth: api::HostAuth::ApiKey {
            api_key: host.admin_api_key().to_string(),
        },
    };
    let mut answer = agent
        .post(format!("{base}/api/hosts"))
        .header("authorization", &format!("Bearer {token}"))
        .send_json(&create)
        .expect("register the host");
    assert_eq!(answer.status(), 201, "registration answers 201 Created");
    let created: api::Host = answer.body_mut().read_json().expect("a host body");
    println!(
        "registered {} ({}): {}",
        created.record.name, created.record.id, created.record.status
    );

    let hosts: api::HostList = agent
        .get(format!("{base}/api/hosts"))
        .header("authorization", &format!("Bearer {token}"))
        .call()
        .expect("list hosts")
        .body_mut()
        .read_json()
        .expect("a host list");
    assert_eq!(hosts.hosts.len(), 1);
    let text = serde_json::to_string(&hosts).expect("json");
    assert!(
        !text.contains(host.admin_api_key()),
        "the admin key is never answered"
    );
    println!(
        "{} host(s) registered; the admin key is not in any answer",
        hosts.hosts.len()
    );
}
