//! Embedding `relay-sub2api` in another Rust tool: build a [`Sub2ApiClient`] for a
//! host and read it through the [`HostAdapter`] port — version, capabilities,
//! groups and accounts. The host here is `sub2api-mock`, started in process on
//! loopback and given a group and two accounts through its admin API first (as an
//! operator would have done), so the example needs no network and no real host.
//!
//! Run with `cargo run -p relay-sub2api --example list_through_adapter`.

use std::time::Duration;

use relay_domain::Secret;
use relay_sub2api::{
    AccountFilter, AdminAuth, GroupFilter, HostAdapter, HostConfig, Sub2ApiClient,
};
use serde_json::{json, Value};
use sub2api_mock::{MockConfig, MockHost};

/// Seeds the host the way an operator would, straight through its admin API.
fn seed(host: &MockHost) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let post = |path: &str, body: Value| -> Value {
        let request = ureq::http::Request::builder()
            .method("POST")
            .uri(format!("{}/api/v1/admin{path}", host.base_url()))
            .header("x-api-key", host.admin_api_key())
            .header("content-type", "application/json")
            .body(body.to_string())
            .expect("request");
        let mut response = agent.run(request).expect("loopback transport");
        let text = response.body_mut().read_to_string().expect("body");
        assert_eq!(response.status().as_u16(), 200, "{path}: {text}");
        serde_json::from_str::<Value>(&text).expect("JSON")["data"].clone()
    };
    let group = post(
        "/groups",
        json!({"name": "crm-openai-cn-deepseek", "platform": "openai", "rate_multiplier": 1}),
    )["id"]
        .clone();
    for (name, key) in [
        ("deepseek-1", "sk-example-aaaaaaaaaaaaaaaa"),
        ("deepseek-2", "sk-example-bbbbbbbbbbbbbbbb"),
    ] {
        post(
            "/accounts",
            json!({
                "name": name, "platform": "openai", "type": "apikey",
                "credentials": {"api_key": key, "base_url": "https://api.deepseek.com/v1"},
                "group_ids": [group]
            }),
        );
    }
}

/// Runs the example; `pub` so the crate's tests can run it too.
pub fn main() {
    let host = MockHost::start(MockConfig::default()).expect("start the mock host");
    seed(&host);

    // What an embedding tool supplies: the host's URL, its admin credential (always a
    // `Secret`, never printed) and its patience. `AdminAuth::Login` takes an admin
    // e-mail and password instead.
    let client = Sub2ApiClient::new(HostConfig {
        base_url: host.base_url(),
        auth: AdminAuth::ApiKey(Secret::new(host.admin_api_key())),
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(10),
        max_read_retries: 2,
    })
    .expect("a valid host configuration");
    assert!(!format!("{client:?}").contains(host.admin_api_key()));

    // Use-cases hold the port, `&dyn HostAdapter`, so a fake can stand in for tests.
    let adapter: &dyn HostAdapter = &client;
    println!("host version {}", adapter.version().expect("version"));
    let caps = adapter.capabilities().expect("capabilities");
    println!(
        "groups: {}, accounts: {}, channels: {}",
        caps.groups, caps.accounts, caps.channels
    );

    let groups = adapter
        .list_groups(&GroupFilter::default())
        .expect("groups");
    for g in &groups {
        println!(
            "group {} {} ({:?}, {:?})",
            g.id, g.name, g.platform, g.status
        );
    }
    let accounts = adapter
        .list_accounts(&AccountFilter::default())
        .expect("accounts");
    for a in &accounts {
        println!(
            "account {} {} ({:?}) in groups {:?}, vendor {}",
            a.id,
            a.name,
            a.status,
            a.group_ids,
            a.base_url.as_deref().unwrap_or("-")
        );
    }
    assert_eq!(groups.len(), 1);
    assert_eq!(accounts.len(), 2);
    assert!(accounts.iter().all(|a| a.group_ids == vec![groups[0].id]));

    // Host errors are typed: a missing object is `is_not_found`, whatever the route.
    let missing = adapter.get_account(999).expect_err("no account 999");
    assert!(missing.is_not_found(), "{missing:?}");
    println!("account 999: {missing}");
}
