//! Contract tests: the adapter against an HTTP mock that answers with bodies
//! shaped exactly like the real host's (`fixtures/host/`). Each test asserts the
//! request the adapter sends (method, path, headers, JSON field names) and what it
//! makes of the answer.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use httpmock::prelude::*;
use relay_domain::Secret;
use relay_sub2api::*;
use serde_json::json;

const ADMIN_KEY: &str = "admin-9f1c2b7e0d4a5f6e8c3b1a2d4e6f8091a3b5c7d9e1f2a4b6c8d0e2f4a6b8c0d2";
const UPSTREAM_KEY: &str = "sk-upstream-secret-7d3f9a0c12";
const USER_JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjoyM30.c2lnbmF0dXJl";
const USER_KEY: &str = "crm-probe-kimi-0123456789abcdef";

fn fx(name: &str) -> String {
    let path = format!("{}/../../fixtures/host/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
}

fn config(base: String) -> HostConfig {
    HostConfig {
        base_url: base,
        auth: AdminAuth::ApiKey(Secret::new(ADMIN_KEY)),
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(5),
        max_read_retries: 2,
    }
}

fn client(server: &MockServer) -> Sub2ApiClient {
    Sub2ApiClient::new(config(server.base_url())).expect("client")
}

fn json_ok(then: httpmock::Then, fixture: &str) {
    then.status(200)
        .header("content-type", "application/json; charset=utf-8")
        .body(fx(fixture));
}

// ---------------------------------------------------------------------------
// Host facts

#[test]
fn version_uses_the_admin_key_header() {
    let server = MockServer::start();
    let m = server.mock(|when, then| {
        when.method(GET)
            .path("/api/v1/admin/system/version")
            .header("x-api-key", ADMIN_KEY)
            .header_missing("authorization");
        json_ok(then, "version.json");
    });
    assert_eq!(client(&server).version().unwrap(), "0.1.131");
    m.assert();
}

#[test]
fn public_settings_are_read_without_credentials() {
    let server = MockServer::start();
    let m = server.mock(|when, then| {
        when.method(GET)
            .path("/api/v1/settings/public")
            .header_missing("x-api-key")
            .header_missing("authorization");
        json_ok(then, "settings_public.json");
    });
    let s = client(&server).public_settings().unwrap();
    m.assert();
    assert_eq!(s.version.as_deref(), Some("0.1.131"));
    assert!(!s.backend_mode_enabled);
    assert!(!s.turnstile_enabled);
    assert_eq!(s.login_captcha, None);
    assert!(s.totp_enabled);
    assert!(s.payment_enabled);
}

fn guard_no_writes(server: &MockServer) -> httpmock::Mock<'_> {
    server.mock(|when, then| {
        when.is_true(|req| {
            let m = req.method().to_string();
            (m == "POST" || m == "PUT" || m == "DELETE") && req.uri().path().starts_with("/api/")
        });
        then.status(500).body("write during a read-only probe");
    })
}

fn mock_list<'a>(server: &'a MockServer, path: &str) -> httpmock::Mock<'a> {
    let path = path.to_owned();
    server.mock(move |when, then| {
        when.method(GET)
            .path(path)
            .query_param("page", "1")
            .query_param("page_size", "1")
            .header("x-api-key", ADMIN_KEY);
        then.status(200).body(
            r#"{"code":0,"message":"success","data":{"items":[],"total":0,"page":1,"page_size":1,"pages":1}}"#,
        );
    })
}

#[test]
fn capabilities_on_a_new_host_use_reads_only() {
    let server = MockServer::start();
    let writes = guard_no_writes(&server);
    let lists: Vec<_> = [
        "/api/v1/admin/groups",
        "/api/v1/admin/channels",
        "/api/v1/admin/accounts",
        "/api/v1/admin/subscriptions",
        "/api/v1/admin/users",
    ]
    .iter()
    .map(|p| mock_list(&server, p))
    .collect();
    let plans = server.mock(|when, then| {
        when.method(GET).path("/api/v1/admin/payment/plans");
        json_ok(then, "plans_list.json");
    });
    let models = server.mock(|when, then| {
        when.method(GET).path("/api/v1/admin/accounts/0/models");
        then.status(404)
            .body(r#"{"code":404,"message":"account not found","reason":"ACCOUNT_NOT_FOUND"}"#);
    });
    let keys = server.mock(|when, then| {
        when.method(GET)
            .path("/api/v1/keys")
            .header_missing("authorization");
        then.status(401).body(fx("error_unauthorized_jwt.json"));
    });
    let gw_models = server.mock(|when, then| {
        when.method(GET)
            .path("/v1/models")
            .header_missing("authorization");
        then.status(401)
            .body(fx("gateway_error_api_key_required.json"));
    });
    let gw_chat = server.mock(|when, then| {
        when.method(POST)
            .path("/v1/chat/completions")
            .header_missing("authorization");
        then.status(401)
            .body(fx("gateway_error_api_key_required.json"));
    });
    let caps = client(&server).capabilities().unwrap();
    assert_eq!(
        caps,
        Capabilities {
            groups: true,
            channels: true,
            plans: true,
            accounts: true,
            account_test: true,
            account_models: true,
            subscriptions: true,
            users: true,
            user_keys: true,
            chat_completions: true,
        }
    );
    for m in &lists {
        m.assert();
    }
    plans.assert();
    models.assert();
    keys.assert();
    gw_models.assert();
    gw_chat.assert();
    writes.assert_calls(0);
}

#[test]
fn capabilities_on_an_old_host_see_plain_text_404_as_absent() {
    let server = MockServer::start();
    let writes = guard_no_writes(&server);
    for p in [
        "/api/v1/admin/groups",
        "/api/v1/admin/accounts",
        "/api/v1/admin/subscriptions",
        "/api/v1/admin/users",
    ] {
        mock_list(&server, p);
    }
    for p in ["/api/v1/admin/channels", "/api/v1/admin/payment/plans"] {
        server.mock(|when, then| {
            when.method(GET).path(p);
            then.status(404)
                .header("content-type", "text/plain")
                .body(fx("error_plain_404.txt"));
        });
    }
    server.mock(|when, then| {
        when.method(GET).path("/api/v1/admin/accounts/0/models");
        then.status(400)
            .body(r#"{"code":400,"message":"Invalid account ID"}"#);
    });
    server.mock(|when, then| {
        when.method(GET).path("/api/v1/keys");
        then.status(401).body(fx("error_unauthorized_jwt.json"));
    });
    server.mock(|when, then| {
        when.method(GET).path("/v1/models");
        then.status(401)
            .body(fx("gateway_error_api_key_required.json"));
    });
    server.mock(|when, then| {
        when.method(POST).path("/v1/chat/completions");
        then.status(404).body(fx("error_plain_404.txt"));
    });
    let caps = client(&server).capabilities().unwrap();
    assert!(caps.groups && caps.accounts && caps.account_test && caps.account_models);
    assert!(caps.subscriptions && caps.users && caps.user_keys);
    assert!(!caps.channels, "plain-text 404 means no channels");
    assert!(!caps.plans, "plain-text 404 means no plans");
    assert!(!caps.chat_completions);
    writes.assert_calls(0);
}

#[test]
fn capabilities_propagate_a_refused_admin_key() {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.path_prefix("/api/v1/admin/");
        then.status(401).body(fx("error_invalid_admin_key.json"));
    });
    let err = client(&server).capabilities().unwrap_err();
    assert!(matches!(err, HostError::Unauthorized(_)), "{err:?}");
    assert_eq!(err.code().as_deref(), Some("INVALID_ADMIN_KEY"));
}

#[test]
fn gateway_reachability_without_a_key() {
    let server = MockServer::start();
    let m = server.mock(|when, then| {
        when.method(GET)
            .path("/v1/models")
            .header_missing("authorization");
        then.status(401)
            .body(fx("gateway_error_api_key_required.json"));
    });
    let c = server.mock(|when, then| {
        when.method(POST)
            .path("/v1/chat/completions")
            .header_missing("authorization");
        then.status(401)
            .body(fx("gateway_error_api_key_required.json"));
    });
    let r = client(&server).gateway_reachability().unwrap();
    m.assert();
    c.assert();
    assert_eq!(r.models_status, 401);
    assert_eq!(r.models_code.as_deref(), Some("API_KEY_REQUIRED"));
    assert!(r.api_key_required);
    assert!(r.chat_completions);
}

// ---------------------------------------------------------------------------
// Errors

#[test]
fn handler_error_with_reason_maps_to_not_found() {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(DELETE).path("/api/v1/admin/groups/99");
        then.status(404).body(fx("error_group_not_found.json"));
    });
    let err = client(&server).delete_group(99).unwrap_err();
    assert!(err.is_not_found());
    assert_eq!(err.code().as_deref(), Some("GROUP_NOT_FOUND"));
    assert_eq!(err.status(), Some(404));
}

#[test]
fn validation_error_without_reason_has_no_code() {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(POST).path("/api/v1/admin/groups");
        then.status(400).body(fx("error_validation.json"));
    });
    let err = client(&server)
        .create_group(&NewGroup {
            name: String::new(),
            description: None,
            platform: "openai".into(),
            rate_multiplier: 1.0,
            is_exclusive: false,
            subscription_type: "standard".into(),
            daily_limit_usd: None,
            weekly_limit_usd: None,
            monthly_limit_usd: None,
        })
        .unwrap_err();
    match err {
        HostError::Host {
            status,
            code,
            message,
            ..
        } => {
            assert_eq!(status, 400);
            assert_eq!(code, None);
            assert!(message.starts_with("Invalid request:"));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn middleware_error_with_string_code_maps_to_unauthorized() {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(GET).path("/api/v1/admin/system/version");
        then.status(401).body(fx("error_invalid_admin_key.json"));
    });
    let err = client(&server).version().unwrap_err();
    match &err {
        HostError::Unauthorized(d) => {
            assert_eq!(d.code.as_deref(), Some("INVALID_ADMIN_KEY"));
            assert_eq!(d.message, "Invalid admin API key");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(!err.to_string().contains(ADMIN_KEY));
}

#[test]
fn plain_text_404_on_an_admin_route_is_an_unsupported_route() {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(GET).path("/api/v1/admin/channels/5");
        then.status(404).body(fx("error_plain_404.txt"));
    });
    let err = client(&server).get_channel(5).unwrap_err();
    assert_eq!(
        err,
        HostError::UnsupportedRoute {
            method: "GET".into(),
            path: "/api/v1/admin/channels/5".into()
        }
    );
    assert!(!err.is_not_found());
}

#[test]
fn internal_error_is_a_host_error() {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(DELETE).path("/api/v1/admin/channels/5");
        then.status(500).body(fx("error_internal.json"));
    });
    let err = client(&server).delete_channel(5).unwrap_err();
    assert!(
        matches!(
            err,
            HostError::Host {
                status: 500,
                code: None,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn transport_error_when_the_host_is_unreachable() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let mut cfg = config(format!("http://127.0.0.1:{port}"));
    cfg.max_read_retries = 0;
    let err = Sub2ApiClient::new(cfg).unwrap().version().unwrap_err();
    assert!(matches!(err, HostError::Transport(_)), "{err:?}");
    assert!(err.is_transient());
}

#[test]
fn config_is_validated_and_debug_hides_secrets() {
    let cfg = config("https://host.example/".into());
    assert!(!format!("{cfg:?}").contains(ADMIN_KEY));
    let c = Sub2ApiClient::new(cfg).unwrap();
    assert_eq!(c.base_url(), "https://host.example");
    assert!(!format!("{c:?}").contains(ADMIN_KEY));
    assert!(matches!(
        Sub2ApiClient::new(config("https://host.example/?x=1".into())),
        Err(HostError::Config(_))
    ));
    assert!(matches!(
        Sub2ApiClient::new(config("ws://host.example".into())),
        Err(HostError::Config(_))
    ));
}

// ---------------------------------------------------------------------------
// Groups

#[test]
fn list_groups_searches_by_name_and_matches_exactly() {
    let server = MockServer::start();
    let m = server.mock(|when, then| {
        when.method(GET)
            .path("/api/v1/admin/groups")
            .query_param("search", "crm-openai-cn-deepseek-subscription")
            .query_param("platform", "openai")
            .query_param("page", "1")
            .query_param("page_size", "100")
            .header("x-api-key", ADMIN_KEY);
        json_ok(then, "groups_list.json");
    });
    let groups = client(&server)
        .list_groups(&GroupFilter {
            name: Some("crm-openai-cn-deepseek-subscription".into()),
            platform: Some("openai".into()),
        })
        .unwrap();
    m.assert();
    assert_eq!(groups.len(), 1, "substring match '-old' must be dropped");
    let g = &groups[0];
    assert_eq!(g.id, 7);
    assert_eq!(g.subscription_type, "subscription");
    assert_eq!(g.monthly_limit_usd, Some(50.0));
    assert_eq!(g.daily_limit_usd, None);
    assert_eq!(g.account_count, Some(2));
}

#[test]
fn list_groups_reads_every_page() {
    let server = MockServer::start();
    let item = |id: i64| json!({"id": id, "name": format!("g{id}"), "platform": "openai", "status": "active", "subscription_type": "standard", "rate_multiplier": 1, "is_exclusive": false});
    let p1 = server.mock(|when, then| {
        when.method(GET).path("/api/v1/admin/groups").query_param("page", "1");
        then.status(200).json_body(json!({"code":0,"message":"success","data":{"items":[item(1), item(2)],"total":3,"page":1,"page_size":2,"pages":2}}));
    });
    let p2 = server.mock(|when, then| {
        when.method(GET).path("/api/v1/admin/groups").query_param("page", "2");
        then.status(200).json_body(json!({"code":0,"message":"success","data":{"items":[item(3)],"total":3,"page":2,"page_size":2,"pages":2}}));
    });
    let groups = client(&server)
        .list_groups(&GroupFilter::default())
        .unwrap();
    p1.assert();
    p2.assert();
    assert_eq!(
        groups.iter().map(|g| g.id).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
}

#[test]
fn create_group_sends_the_host_field_names() {
    let server = MockServer::start();
    let m = server.mock(|when, then| {
        when.method(POST)
            .path("/api/v1/admin/groups")
            .header("x-api-key", ADMIN_KEY)
            .header_prefix("content-type", "application/json")
            .json_body(json!({
                "name": "crm-openai-cn-kimi-subscription",
                "description": "managed by relay manager",
                "platform": "openai",
                "rate_multiplier": 1.0,
                "is_exclusive": false,
                "subscription_type": "subscription",
                "daily_limit_usd": 10.0,
                "monthly_limit_usd": 100.0
            }));
        json_ok(then, "group_create.json");
    });
    let g = client(&server)
        .create_group(&NewGroup {
            name: "crm-openai-cn-kimi-subscription".into(),
            description: Some("managed by relay manager".into()),
            platform: "openai".into(),
            rate_multiplier: 1.0,
            is_exclusive: false,
            subscription_type: subscription_type::SUBSCRIPTION.into(),
            daily_limit_usd: Some(10.0),
            weekly_limit_usd: None,
            monthly_limit_usd: Some(100.0),
        })
        .unwrap();
    m.assert();
    assert_eq!(g.id, 9);
    assert_eq!(g.rate_multiplier, 1.0);
}

#[test]
fn create_group_conflict() {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(POST).path("/api/v1/admin/groups");
        then.status(409).body(fx("error_group_exists.json"));
    });
    let err = client(&server)
        .create_group(&NewGroup {
            name: "dup".into(),
            description: None,
            platform: "openai".into(),
            rate_multiplier: 1.0,
            is_exclusive: false,
            subscription_type: "standard".into(),
            daily_limit_usd: None,
            weekly_limit_usd: None,
            monthly_limit_usd: None,
        })
        .unwrap_err();
    assert!(
        matches!(&err, HostError::Conflict(d) if d.has_code("GROUP_EXISTS")),
        "{err:?}"
    );
}

#[test]
fn update_group_sends_only_changed_fields() {
    let server = MockServer::start();
    let m = server.mock(|when, then| {
        when.method(PUT)
            .path("/api/v1/admin/groups/9")
            .json_body(json!({"status": "inactive", "rate_multiplier": 2.0}));
        json_ok(then, "group_create.json");
    });
    client(&server)
        .update_group(
            9,
            &GroupUpdate {
                status: Some("inactive".into()),
                rate_multiplier: Some(2.0),
                ..GroupUpdate::default()
            },
        )
        .unwrap();
    m.assert();
}

#[test]
fn get_and_delete_group() {
    let server = MockServer::start();
    let get = server.mock(|when, then| {
        when.method(GET).path("/api/v1/admin/groups/9");
        json_ok(then, "group_create.json");
    });
    let del = server.mock(|when, then| {
        when.method(DELETE)
            .path("/api/v1/admin/groups/9")
            .header("x-api-key", ADMIN_KEY);
        then.status(200).body(
            r#"{"code":0,"message":"success","data":{"message":"Group deleted successfully"}}"#,
        );
    });
    let c = client(&server);
    assert_eq!(
        c.get_group(9).unwrap().name,
        "crm-openai-cn-kimi-subscription"
    );
    c.delete_group(9).unwrap();
    get.assert();
    del.assert();
}

// ---------------------------------------------------------------------------
// Channels and plans

#[test]
fn list_channels_by_name() {
    let server = MockServer::start();
    let m = server.mock(|when, then| {
        when.method(GET)
            .path("/api/v1/admin/channels")
            .query_param("search", "crm-openai-cn-deepseek");
        json_ok(then, "channels_list.json");
    });
    let chans = client(&server)
        .list_channels(Some("crm-openai-cn-deepseek"))
        .unwrap();
    m.assert();
    assert_eq!(chans.len(), 1);
    let c = &chans[0];
    assert_eq!(c.group_ids, vec![7]);
    assert!(c.restrict_models);
    assert_eq!(c.model_mapping["openai"]["deepseek-v3"], "deepseek-chat");
    assert_eq!(
        c.model_pricing[0].models,
        vec!["deepseek-chat", "deepseek-reasoner"]
    );
    assert_eq!(c.model_pricing[0].input_price, Some(0.00000027));
    assert_eq!(c.billing_model_source, "channel_mapped");
}

#[test]
fn create_update_delete_channel() {
    let server = MockServer::start();
    let create = server.mock(|when, then| {
        when.method(POST)
            .path("/api/v1/admin/channels")
            .json_body(json!({
                "name": "crm-openai-cn-kimi",
                "description": "managed",
                "group_ids": [9],
                "model_mapping": {"openai": {"kimi 2.6": "kimi-k2.6"}},
                "model_pricing": [{
                    "platform": "openai", "models": ["kimi-k2.6"], "billing_mode": "token",
                    "input_price": 0.0000006, "output_price": 0.0000025
                }],
                "restrict_models": true,
                "billing_model_source": "channel_mapped"
            }));
        json_ok(then, "channel_create.json");
    });
    let update = server.mock(|when, then| {
        when.method(PUT)
            .path("/api/v1/admin/channels/4")
            .json_body(json!({"group_ids": [9, 10], "restrict_models": false}));
        json_ok(then, "channel_create.json");
    });
    let delete = server.mock(|when, then| {
        when.method(DELETE).path("/api/v1/admin/channels/4");
        then.status(200).body(
            r#"{"code":0,"message":"success","data":{"message":"Channel deleted successfully"}}"#,
        );
    });
    let c = client(&server);
    let mut mapping = ChannelModelMapping::new();
    mapping.insert(
        "openai".into(),
        [("kimi 2.6".to_owned(), "kimi-k2.6".to_owned())]
            .into_iter()
            .collect(),
    );
    let ch = c
        .create_channel(&NewChannel {
            name: "crm-openai-cn-kimi".into(),
            description: Some("managed".into()),
            group_ids: vec![9],
            model_mapping: mapping,
            model_pricing: vec![ModelPricing {
                platform: "openai".into(),
                models: vec!["kimi-k2.6".into()],
                billing_mode: "token".into(),
                input_price: Some(0.0000006),
                output_price: Some(0.0000025),
                ..ModelPricing::default()
            }],
            restrict_models: true,
            billing_model_source: Some("channel_mapped".into()),
        })
        .unwrap();
    assert_eq!(ch.id, 4);
    c.update_channel(
        4,
        &ChannelUpdate {
            group_ids: Some(vec![9, 10]),
            restrict_models: Some(false),
            ..ChannelUpdate::default()
        },
    )
    .unwrap();
    c.delete_channel(4).unwrap();
    create.assert();
    update.assert();
    delete.assert();
}

#[test]
fn plans_list_is_a_bare_array_and_create_answers_201() {
    let server = MockServer::start();
    let list = server.mock(|when, then| {
        when.method(GET).path("/api/v1/admin/payment/plans");
        json_ok(then, "plans_list.json");
    });
    let create = server.mock(|when, then| {
        when.method(POST)
            .path("/api/v1/admin/payment/plans")
            .json_body(json!({
                "group_id": 9, "name": "Kimi monthly", "description": "managed",
                "price": 39.0, "original_price": 59.0, "validity_days": 30,
                "validity_unit": "day", "for_sale": true
            }));
        then.status(201).body(fx("plan_create.json"));
    });
    let update = server.mock(|when, then| {
        when.method(PUT)
            .path("/api/v1/admin/payment/plans/5")
            .json_body(json!({"for_sale": false}));
        json_ok(then, "plan_create.json");
    });
    let delete = server.mock(|when, then| {
        when.method(DELETE).path("/api/v1/admin/payment/plans/5");
        then.status(200)
            .body(r#"{"code":0,"message":"success","data":{"message":"deleted"}}"#);
    });
    let c = client(&server);
    let plans = c.list_plans().unwrap();
    assert_eq!(plans.len(), 2);
    assert_eq!(plans[1].description, "", "omitted zero values default");
    assert!(!plans[1].for_sale);
    assert_eq!(plans[0].validity_unit, "month");
    let p = c
        .create_plan(&NewPlan {
            group_id: 9,
            name: "Kimi monthly".into(),
            description: Some("managed".into()),
            price: 39.0,
            original_price: Some(59.0),
            validity_days: 30,
            validity_unit: "day".into(),
            for_sale: Some(true),
        })
        .unwrap();
    assert_eq!(p.id, 5);
    assert_eq!(p.original_price, Some(59.0));
    c.update_plan(
        5,
        &PlanUpdate {
            for_sale: Some(false),
            ..PlanUpdate::default()
        },
    )
    .unwrap();
    c.delete_plan(5).unwrap();
    list.assert();
    create.assert();
    update.assert();
    delete.assert();
}

// ---------------------------------------------------------------------------
// Accounts

fn new_account() -> NewAccount {
    let mut extra = serde_json::Map::new();
    extra.insert(
        "openai_responses_mode".into(),
        json!("force_chat_completions"),
    );
    extra.insert("openai_responses_supported".into(), json!(false));
    NewAccount {
        name: "deepseek-3f9a0c12".into(),
        notes: None,
        platform: "openai".into(),
        account_type: "apikey".into(),
        credentials: AccountCredentials {
            api_key: Some(Secret::new(UPSTREAM_KEY)),
            base_url: Some("https://api.deepseek.com/v1".into()),
            model_mapping: [
                ("deepseek-chat".to_owned(), "deepseek-chat".to_owned()),
                (
                    "deepseek-reasoner".to_owned(),
                    "deepseek-reasoner".to_owned(),
                ),
            ]
            .into_iter()
            .collect(),
            other: serde_json::Map::new(),
        },
        extra,
        group_ids: vec![7],
        concurrency: Some(3),
        priority: None,
    }
}

fn new_account_json() -> serde_json::Value {
    json!({
        "name": "deepseek-3f9a0c12",
        "platform": "openai",
        "type": "apikey",
        "credentials": {
            "api_key": UPSTREAM_KEY,
            "base_url": "https://api.deepseek.com/v1",
            "model_mapping": {"deepseek-chat": "deepseek-chat", "deepseek-reasoner": "deepseek-reasoner"}
        },
        "extra": {"openai_responses_mode": "force_chat_completions", "openai_responses_supported": false},
        "group_ids": [7],
        "concurrency": 3
    })
}

#[test]
fn create_account_sends_idempotency_key_and_reads_redacted_credentials() {
    let server = MockServer::start();
    let m = server.mock(|when, then| {
        when.method(POST)
            .path("/api/v1/admin/accounts")
            .header("x-api-key", ADMIN_KEY)
            .header("Idempotency-Key", "crm-batch-1-3f9a0c12")
            .json_body(new_account_json());
        json_ok(then, "account_create.json");
    });
    let a = client(&server)
        .create_account(&new_account(), Some("crm-batch-1-3f9a0c12"))
        .unwrap();
    m.assert();
    assert_eq!(a.id, 41);
    assert_eq!(a.account_type, "apikey");
    assert!(a.credential_status.has_api_key);
    assert_eq!(a.base_url.as_deref(), Some("https://api.deepseek.com/v1"));
    assert_eq!(a.model_mapping.len(), 2);
    assert_eq!(a.group_ids, vec![7]);
    assert_eq!(a.extra["openai_responses_mode"], "force_chat_completions");
    assert_eq!(a.error_message, None);
    assert!(a.schedulable);
}

#[test]
fn create_account_without_idempotency_key_sends_no_header() {
    let server = MockServer::start();
    let m = server.mock(|when, then| {
        when.method(POST)
            .path("/api/v1/admin/accounts")
            .header_missing("Idempotency-Key");
        json_ok(then, "account_create.json");
    });
    client(&server)
        .create_account(&new_account(), None)
        .unwrap();
    m.assert();
}

#[test]
fn errors_never_echo_the_upstream_key() {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(POST).path("/api/v1/admin/accounts");
        then.status(500).body(fx("error_internal.json"));
    });
    let err = client(&server)
        .create_account(&new_account(), None)
        .unwrap_err();
    assert!(!format!("{err} {err:?}").contains(UPSTREAM_KEY));
    assert!(!format!("{:?}", new_account()).contains(UPSTREAM_KEY));
}

#[test]
fn batch_create_accounts() {
    let server = MockServer::start();
    let m = server.mock(|when, then| {
        when.method(POST)
            .path("/api/v1/admin/accounts/batch")
            .header("Idempotency-Key", "crm-batch-1")
            .json_body(json!({"accounts": [new_account_json()]}));
        json_ok(then, "account_batch.json");
    });
    let r = client(&server)
        .create_accounts_batch(&[new_account()], Some("crm-batch-1"))
        .unwrap();
    m.assert();
    assert_eq!((r.success, r.failed), (1, 1));
    assert_eq!(r.results[0].id, Some(41));
    assert!(!r.results[1].success);
    assert_eq!(
        r.results[1].error.as_deref(),
        Some("ent: constraint failed: pq: insert or update on table \"account_groups\" violates foreign key constraint \"account_groups_group_id_fkey\"")
    );
    assert!(!r.replayed);
}

#[test]
fn get_account_round_trips_extra_and_state() {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(GET).path("/api/v1/admin/accounts/41");
        json_ok(then, "account_get.json");
    });
    let a = client(&server).get_account(41).unwrap();
    assert_eq!(a.status, "error");
    assert_eq!(
        a.error_message.as_deref(),
        Some("API returned 401: invalid api key")
    );
    assert!(!a.schedulable);
    assert_eq!(a.notes.as_deref(), Some("imported"));
    assert_eq!(a.extra["custom_flag"], json!({"nested": [1, 2]}));
    assert_eq!(a.extra["base_rpm"], json!(60));
    assert_eq!(
        a.temp_unschedulable_until.as_deref(),
        Some("2026-04-20T10:42:00+08:00")
    );
    assert_eq!(
        a.rate_limit_reset_at.as_deref(),
        Some("2026-04-20T11:00:00+08:00")
    );
}

#[test]
fn old_build_accounts_with_raw_credentials_are_redacted() {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(GET).path("/api/v1/admin/accounts/12");
        json_ok(then, "account_old_build.json");
    });
    let a = client(&server).get_account(12).unwrap();
    assert!(a.credential_status.has_api_key);
    assert!(!a.credentials.contains_key("api_key"));
    assert!(!format!("{a:?}").contains("sk-legacy-plaintext"));
}

#[test]
fn list_accounts_by_prefix_and_group() {
    let server = MockServer::start();
    let m = server.mock(|when, then| {
        when.method(GET)
            .path("/api/v1/admin/accounts")
            .query_param("search", "deepseek-")
            .query_param("group", "7")
            .query_param("page", "1")
            .query_param("page_size", "100");
        json_ok(then, "accounts_list.json");
    });
    let accounts = client(&server)
        .list_accounts(&AccountFilter {
            name_prefix: Some("deepseek-".into()),
            group_id: Some(7),
            platform: None,
        })
        .unwrap();
    m.assert();
    let ids: Vec<_> = accounts.iter().map(|a| a.id).collect();
    assert_eq!(
        ids,
        vec![41, 42],
        "'my-deepseek-manual' only contains the prefix"
    );
}

#[test]
fn update_account_sends_whole_extra_and_keeps_key_out_when_absent() {
    let server = MockServer::start();
    let m = server.mock(|when, then| {
        when.method(PUT).path("/api/v1/admin/accounts/41").json_body(json!({
            "credentials": {"base_url": "https://api.deepseek.com/v1", "model_mapping": {"deepseek-chat": "deepseek-chat"}},
            "extra": {"openai_responses_mode": "force_chat_completions", "openai_responses_supported": false, "base_rpm": 60},
            "group_ids": [7, 8],
            "status": "active"
        }));
        json_ok(then, "account_get.json");
    });
    let mut extra = serde_json::Map::new();
    extra.insert(
        "openai_responses_mode".into(),
        json!("force_chat_completions"),
    );
    extra.insert("openai_responses_supported".into(), json!(false));
    extra.insert("base_rpm".into(), json!(60));
    client(&server)
        .update_account(
            41,
            &AccountUpdate {
                credentials: Some(AccountCredentials {
                    api_key: None,
                    base_url: Some("https://api.deepseek.com/v1".into()),
                    model_mapping: [("deepseek-chat".to_owned(), "deepseek-chat".to_owned())]
                        .into_iter()
                        .collect(),
                    other: serde_json::Map::new(),
                }),
                extra: Some(extra),
                group_ids: Some(vec![7, 8]),
                status: Some("active".into()),
                ..AccountUpdate::default()
            },
        )
        .unwrap();
    m.assert();
}

/// The real host's clear-error leaves an account it had put into `error` out of
/// scheduling (`schedulable: false`, captured from 0.1.179); the adapter then calls
/// `POST /accounts/:id/schedulable` so a cleared account serves again.
#[test]
fn clear_error_puts_the_account_back_into_scheduling() {
    let server = MockServer::start();
    let clear = server.mock(|when, then| {
        when.method(POST)
            .path("/api/v1/admin/accounts/13/clear-error")
            .header("x-api-key", ADMIN_KEY);
        json_ok(then, "account_clear_error_unschedulable.json");
    });
    let schedulable = server.mock(|when, then| {
        when.method(POST)
            .path("/api/v1/admin/accounts/13/schedulable")
            .header("x-api-key", ADMIN_KEY)
            .json_body(json!({"schedulable": true}));
        json_ok(then, "account_set_schedulable.json");
    });
    let a = client(&server).clear_account_error(13).unwrap();
    clear.assert();
    schedulable.assert();
    assert_eq!((a.status.as_str(), a.schedulable), ("active", true));
    assert_eq!(a.error_kind(), None);
}

#[test]
fn clear_error_and_temp_unschedulable() {
    let server = MockServer::start();
    let clear = server.mock(|when, then| {
        when.method(POST)
            .path("/api/v1/admin/accounts/41/clear-error")
            .header("x-api-key", ADMIN_KEY);
        json_ok(then, "account_create.json");
    });
    let temp = server.mock(|when, then| {
        when.method(DELETE)
            .path("/api/v1/admin/accounts/41/temp-unschedulable");
        json_ok(then, "account_clear_temp.json");
    });
    let old = server.mock(|when, then| {
        when.method(DELETE)
            .path("/api/v1/admin/accounts/42/temp-unschedulable");
        then.status(404).body(fx("error_plain_404.txt"));
    });
    let gone = server.mock(|when, then| {
        when.method(DELETE)
            .path("/api/v1/admin/accounts/43/temp-unschedulable");
        then.status(404)
            .body(r#"{"code":404,"message":"account not found","reason":"ACCOUNT_NOT_FOUND"}"#);
    });
    let c = client(&server);
    assert_eq!(c.clear_account_error(41).unwrap().status, "active");
    assert!(c.clear_account_temp_unschedulable(41).unwrap());
    assert!(
        !c.clear_account_temp_unschedulable(42).unwrap(),
        "old host: no route"
    );
    assert!(c
        .clear_account_temp_unschedulable(43)
        .unwrap_err()
        .is_not_found());
    clear.assert();
    temp.assert();
    old.assert();
    gone.assert();
}

#[test]
fn delete_account() {
    let server = MockServer::start();
    let m = server.mock(|when, then| {
        when.method(DELETE).path("/api/v1/admin/accounts/41");
        json_ok(then, "delete_ok.json");
    });
    client(&server).delete_account(41).unwrap();
    m.assert();
}

#[test]
fn account_models_reads_ids_only() {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(GET).path("/api/v1/admin/accounts/41/models");
        json_ok(then, "account_models.json");
    });
    assert_eq!(
        client(&server).account_models(41).unwrap(),
        vec!["deepseek-chat", "deepseek-reasoner"]
    );
}

fn sse_mock<'a>(
    server: &'a MockServer,
    id: i64,
    fixture: &str,
    content_type: &str,
) -> httpmock::Mock<'a> {
    let body = fx(fixture);
    let content_type = content_type.to_owned();
    server.mock(move |when, then| {
        when.method(POST)
            .path(format!("/api/v1/admin/accounts/{id}/test"))
            .header("x-api-key", ADMIN_KEY)
            .json_body(json!({"model_id": "deepseek-chat"}));
        then.status(200)
            .header("content-type", content_type)
            .header("cache-control", "no-cache")
            .body(body);
    })
}

#[test]
fn account_test_success() {
    let server = MockServer::start();
    let m = sse_mock(
        &server,
        41,
        "sse/account_test_success.txt",
        "text/event-stream",
    );
    let r = client(&server)
        .test_account(41, Some("deepseek-chat"))
        .unwrap();
    m.assert();
    assert_eq!(r.outcome, ProbeOutcome::Passed);
    assert_eq!(r.model_tested.as_deref(), Some("deepseek-chat"));
    assert_eq!(r.content_preview, "pong");
    assert_eq!(r.http_status, None);
}

#[test]
fn account_test_failure_keeps_the_host_message() {
    let server = MockServer::start();
    sse_mock(
        &server,
        41,
        "sse/account_test_failure.txt",
        "text/event-stream",
    );
    let r = client(&server)
        .test_account(41, Some("deepseek-chat"))
        .unwrap();
    assert_eq!(r.outcome, ProbeOutcome::Failed);
    assert_eq!(r.message, "API returned 403: Forbidden");
    assert_eq!(r.http_status, Some(403));
}

/// Account-test streams captured from a real 0.1.179 host (vendor stand-in on
/// loopback): the HTTP status is read from each path's own wording, the host's
/// message is kept verbatim, and the extra `status` events change nothing.
#[test]
fn account_test_real_host_forms_carry_the_upstream_status() {
    let cases: &[(&str, Option<u16>, &str)] = &[
        (
            "sse/account_test_chat_401.txt",
            Some(401),
            "Chat Completions API (/v1/chat/completions) returned 401: ",
        ),
        (
            "sse/account_test_chat_402.txt",
            Some(402),
            "Chat Completions API (/v1/chat/completions) returned 402: ",
        ),
        (
            "sse/account_test_chat_403.txt",
            Some(403),
            "Chat Completions API (/v1/chat/completions) returned 403: ",
        ),
        (
            "sse/account_test_chat_404.txt",
            Some(404),
            "Chat Completions API (/v1/chat/completions) returned 404: ",
        ),
        (
            "sse/account_test_chat_429.txt",
            Some(429),
            "Chat Completions API (/v1/chat/completions) returned 429: ",
        ),
        (
            "sse/account_test_chat_503.txt",
            Some(503),
            "Chat Completions API (/v1/chat/completions) returned 503: ",
        ),
        (
            "sse/account_test_chat_request_failed.txt",
            None,
            "Chat Completions API (/v1/chat/completions) request failed: ",
        ),
        (
            "sse/account_test_responses_401.txt",
            Some(401),
            "API returned 401: ",
        ),
        (
            "sse/account_test_responses_404.txt",
            Some(404),
            "API returned 404: ",
        ),
        (
            "sse/account_test_responses_request_failed.txt",
            None,
            "Request failed: ",
        ),
    ];
    for (fixture, status, prefix) in cases {
        let server = MockServer::start();
        sse_mock(&server, 41, fixture, "text/event-stream");
        let r = client(&server)
            .test_account(41, Some("deepseek-chat"))
            .unwrap();
        assert_eq!(r.outcome, ProbeOutcome::Failed, "{fixture}");
        assert_eq!(r.http_status, *status, "{fixture}");
        assert!(r.message.starts_with(prefix), "{fixture}: {}", r.message);
        assert_eq!(r.model_tested.as_deref(), Some("deepseek-chat"));
        assert_eq!(r.content_preview, "", "{fixture}");
    }
}

/// Accounts the real host put into `error` after an upstream 402 (gateway) and 401
/// (Chat Completions account test): the reason is typed, the key never returned.
#[test]
fn account_error_kinds_from_the_real_host() {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(GET).path("/api/v1/admin/accounts/34");
        json_ok(then, "account_error_quota.json");
    });
    server.mock(|when, then| {
        when.method(GET).path("/api/v1/admin/accounts/2");
        json_ok(then, "account_error_key_invalid.json");
    });
    let c = client(&server);
    let quota = c.get_account(34).unwrap();
    assert_eq!(quota.status, "error");
    assert!(!quota.schedulable);
    assert_eq!(quota.error_kind(), Some(AccountErrorKind::QuotaExhausted));
    assert!(!quota.takes_responses_path());
    assert!(quota.credential_status.has_api_key);
    let invalid = c.get_account(2).unwrap();
    assert_eq!(invalid.error_kind(), Some(AccountErrorKind::KeyInvalid));
    // The host's probe flag says "supported", but the forced mode wins.
    assert_eq!(
        invalid.extra.get("openai_responses_supported"),
        Some(&json!(true))
    );
    assert!(!invalid.takes_responses_path());
}

/// A `deepseek` account the real host (0.1.179) benched after a vendor 402 through the
/// gateway: active and schedulable, temp-unschedulable with `cn_balance_low: …`, the
/// host's own `extra` (no Responses path whatever it says), the key never returned.
#[test]
fn a_native_account_benched_for_a_low_balance_from_the_real_host() {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(GET).path("/api/v1/admin/accounts/2");
        json_ok(then, "account_cn_balance_low.json");
    });
    let a = client(&server).get_account(2).unwrap();
    assert_eq!(a.platform, "deepseek");
    assert_eq!((a.status.as_str(), a.schedulable), ("active", true));
    assert_eq!(a.error_kind(), None);
    assert_eq!(
        a.temp_unschedulable_until.as_deref(),
        Some("2026-12-04T21:50:06.982773Z")
    );
    assert_eq!(
        a.temp_unschedulable_reason.as_deref(),
        Some("cn_balance_low: Insufficient Balance")
    );
    assert_eq!(
        a.temp_unschedulable_cause(),
        Some(TempUnschedulableCause::VendorBalanceLow)
    );
    assert_eq!(a.extra.get("deepseek_balance_low"), Some(&json!(true)));
    assert_eq!(a.extra.get("openai_responses_mode"), Some(&json!("auto")));
    assert!(!a.takes_responses_path());
    assert!(a.credential_status.has_api_key);
    assert!(a.credentials.get("api_key").is_none());
    assert_eq!(a.group_ids, vec![3]);
}

#[test]
fn account_test_truncated_stream_is_a_failure() {
    let server = MockServer::start();
    sse_mock(
        &server,
        41,
        "sse/account_test_truncated.txt",
        "text/event-stream",
    );
    let r = client(&server)
        .test_account(41, Some("deepseek-chat"))
        .unwrap();
    assert_eq!(r.outcome, ProbeOutcome::Failed);
    assert_eq!(r.message, STREAM_ENDED_WITHOUT_RESULT);
    assert_eq!(r.content_preview, "po");
}

#[test]
fn account_test_error_line_without_sse_content_type() {
    let server = MockServer::start();
    sse_mock(
        &server,
        99,
        "sse/account_test_not_found.txt",
        "text/plain; charset=utf-8",
    );
    let r = client(&server)
        .test_account(99, Some("deepseek-chat"))
        .unwrap();
    assert_eq!(r.outcome, ProbeOutcome::Failed);
    assert_eq!(r.message, "Account not found");
}

#[test]
fn account_test_without_model_sends_an_empty_object() {
    let server = MockServer::start();
    let m = server.mock(|when, then| {
        when.method(POST)
            .path("/api/v1/admin/accounts/41/test")
            .json_body(json!({}));
        then.status(200)
            .header("content-type", "text/event-stream")
            .body(fx("sse/account_test_success.txt"));
    });
    assert_eq!(
        client(&server).test_account(41, None).unwrap().outcome,
        ProbeOutcome::Passed
    );
    m.assert();
}

#[test]
fn account_test_bad_id_is_an_envelope_error() {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(POST).path("/api/v1/admin/accounts/0/test");
        then.status(400)
            .body(r#"{"code":400,"message":"Invalid account ID"}"#);
    });
    let err = client(&server).test_account(0, None).unwrap_err();
    assert!(
        matches!(err, HostError::Host { status: 400, .. }),
        "{err:?}"
    );
}

// ---------------------------------------------------------------------------
// Users

#[test]
fn find_user_by_email_matches_exactly() {
    let server = MockServer::start();
    let m = server.mock(|when, then| {
        when.method(GET)
            .path("/api/v1/admin/users")
            .query_param("search", "probe+deepseek@relay.example");
        json_ok(then, "users_list.json");
    });
    let c = client(&server);
    let u = c
        .find_user_by_email("probe+deepseek@relay.example")
        .unwrap()
        .unwrap();
    m.assert();
    assert_eq!(u.id, 21);
    assert_eq!(u.allowed_groups, vec![7]);
    let none = server.mock(|when, then| {
        when.method(GET).path("/api/v1/admin/users").query_param("search", "nobody@relay.example");
        then.status(200).body(r#"{"code":0,"message":"success","data":{"items":[],"total":0,"page":1,"page_size":100,"pages":1}}"#);
    });
    assert_eq!(c.find_user_by_email("nobody@relay.example").unwrap(), None);
    none.assert();
}

#[test]
fn create_update_balance_delete_user() {
    let server = MockServer::start();
    let create = server.mock(|when, then| {
        when.method(POST)
            .path("/api/v1/admin/users")
            .json_body(json!({
                "email": "probe+kimi@relay.example",
                "password": "generated-Pa55word",
                "username": "relay-probe-kimi",
                "allowed_groups": [9]
            }));
        json_ok(then, "user_create.json");
    });
    let update = server.mock(|when, then| {
        when.method(PUT)
            .path("/api/v1/admin/users/23")
            .json_body(json!({"allowed_groups": [9, 10]}));
        json_ok(then, "user_create.json");
    });
    let balance = server.mock(|when, then| {
        when.method(POST)
            .path("/api/v1/admin/users/23/balance")
            .header("Idempotency-Key", "bal-1")
            .json_body(json!({"balance": 5.0, "operation": "set", "notes": "relay probe"}));
        json_ok(then, "user_create.json");
    });
    let delete = server.mock(|when, then| {
        when.method(DELETE).path("/api/v1/admin/users/23");
        then.status(200).body(
            r#"{"code":0,"message":"success","data":{"message":"User deleted successfully"}}"#,
        );
    });
    let c = client(&server);
    let u = c
        .create_user(&NewUser {
            email: "probe+kimi@relay.example".into(),
            password: Secret::new("generated-Pa55word"),
            username: Some("relay-probe-kimi".into()),
            notes: None,
            balance: None,
            concurrency: None,
            allowed_groups: vec![9],
        })
        .unwrap();
    assert_eq!(u.id, 23);
    assert_eq!(u.role, "user");
    c.update_user(
        23,
        &UserUpdate {
            allowed_groups: Some(vec![9, 10]),
            ..UserUpdate::default()
        },
    )
    .unwrap();
    c.set_user_balance(
        23,
        &BalanceChange {
            amount: 5.0,
            operation: BalanceOperation::Set,
            notes: Some("relay probe".into()),
        },
        Some("bal-1"),
    )
    .unwrap();
    c.delete_user(23).unwrap();
    create.assert();
    update.assert();
    balance.assert();
    delete.assert();
}

#[test]
fn admin_lists_a_users_keys() {
    let server = MockServer::start();
    let m = server.mock(|when, then| {
        when.method(GET)
            .path("/api/v1/admin/users/23/api-keys")
            .header("x-api-key", ADMIN_KEY);
        json_ok(then, "keys_list.json");
    });
    let keys = client(&server).list_user_keys_admin(23).unwrap();
    m.assert();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0].key.expose(), USER_KEY);
    assert_eq!(keys[0].group_id, Some(9));
    assert_eq!(keys[1].group_id, None);
    assert!(!format!("{keys:?}").contains(USER_KEY));
}

#[test]
fn admin_lists_a_groups_keys_with_their_values() {
    let server = MockServer::start();
    let m = server.mock(|when, then| {
        when.method(GET)
            .path("/api/v1/admin/groups/9/api-keys")
            .query_param("page", "1")
            .header("x-api-key", ADMIN_KEY);
        json_ok(then, "group_keys_list.json");
    });
    let keys = client(&server).list_group_keys(9).unwrap();
    m.assert();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0].id, 61);
    assert_eq!(keys[0].user_id, 23);
    assert_eq!(keys[0].key.expose(), USER_KEY);
    assert_eq!(keys[0].status, "active");
    assert!(keys.iter().all(|k| k.group_id == Some(9)));
    assert_eq!(keys[1].user_id, 31);
    assert_eq!(keys[1].status, "inactive");
    assert!(!format!("{keys:?}").contains(USER_KEY));
}

#[test]
fn group_keys_of_a_missing_group_is_not_found() {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(GET).path("/api/v1/admin/groups/404/api-keys");
        then.status(404).body(fx("error_group_not_found.json"));
    });
    let err = client(&server).list_group_keys(404).unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert_eq!(err.code().as_deref(), Some("GROUP_NOT_FOUND"));
}

// ---------------------------------------------------------------------------
// Login and user keys

fn login_mock<'a>(server: &'a MockServer, status: u16, fixture: &str) -> httpmock::Mock<'a> {
    let body = fx(fixture);
    server.mock(move |when, then| {
        when.method(POST)
            .path("/api/v1/auth/login")
            .header_missing("x-api-key")
            .json_body(
                json!({"email": "probe+kimi@relay.example", "password": "generated-Pa55word"}),
            );
        then.status(status).body(body);
    })
}

fn login(server: &MockServer) -> LoginOutcome {
    client(server)
        .login_user(
            "probe+kimi@relay.example",
            &Secret::new("generated-Pa55word"),
        )
        .unwrap()
}

#[test]
fn login_returns_a_session() {
    let server = MockServer::start();
    let m = login_mock(&server, 200, "login_ok.json");
    let LoginOutcome::LoggedIn(session) = login(&server) else {
        panic!("expected a session");
    };
    m.assert();
    assert_eq!(session.user_id, 23);
    assert_eq!(session.access_token.expose(), USER_JWT);
    assert_eq!(session.expires_in, Some(86400));
    assert!(!format!("{session:?}").contains(USER_JWT));
}

#[test]
fn login_blocked_outcomes() {
    let cases = [
        (200, "login_2fa.json", LoginBlocked::TwoFactorRequired),
        (
            403,
            "login_backend_mode.json",
            LoginBlocked::BackendMode {
                message: "Backend mode is active. Only admin login is allowed.".into(),
            },
        ),
        (401, "login_invalid.json", LoginBlocked::InvalidCredentials),
        (
            400,
            "login_turnstile.json",
            LoginBlocked::TurnstileRequired {
                message: "turnstile verification failed".into(),
            },
        ),
        (
            400,
            "login_tencent_captcha.json",
            LoginBlocked::CaptchaRequired {
                provider: "tencent".into(),
                message: "tencent captcha verification failed".into(),
            },
        ),
        (
            503,
            "login_captcha_conflict.json",
            LoginBlocked::CaptchaRequired {
                provider: "captcha".into(),
                message: "multiple captcha providers are enabled".into(),
            },
        ),
    ];
    for (status, fixture, expected) in cases {
        let server = MockServer::start();
        login_mock(&server, status, fixture);
        assert_eq!(login(&server), LoginOutcome::Blocked(expected), "{fixture}");
    }
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(POST).path("/api/v1/auth/login");
        then.status(403)
            .body(r#"{"code":403,"message":"user is not active","reason":"USER_NOT_ACTIVE"}"#);
    });
    assert_eq!(
        login(&server),
        LoginOutcome::Blocked(LoginBlocked::UserNotActive)
    );
}

fn session() -> UserSession {
    UserSession {
        user_id: 23,
        email: "probe+kimi@relay.example".into(),
        access_token: Secret::new(USER_JWT),
        expires_in: None,
    }
}

#[test]
fn user_keys_use_the_user_session() {
    let server = MockServer::start();
    let bearer = format!("Bearer {USER_JWT}");
    let create = server.mock(|when, then| {
        when.method(POST)
            .path("/api/v1/keys")
            .header("authorization", bearer.clone())
            .header("idempotency-key", "crm-key-23-9-abc")
            .header_missing("x-api-key")
            .json_body(json!({"name": "relay-probe", "group_id": 9, "custom_key": USER_KEY}));
        json_ok(then, "key_create.json");
    });
    let list = server.mock(|when, then| {
        when.method(GET)
            .path("/api/v1/keys")
            .header("authorization", bearer.clone());
        json_ok(then, "keys_list.json");
    });
    let delete = server.mock(|when, then| {
        when.method(DELETE)
            .path("/api/v1/keys/62")
            .header("authorization", bearer.clone());
        then.status(200).body(
            r#"{"code":0,"message":"success","data":{"message":"API key deleted successfully"}}"#,
        );
    });
    let c = client(&server);
    let s = session();
    let k = c
        .create_user_key(
            &s,
            &NewUserKey {
                name: "relay-probe".into(),
                group_id: 9,
                custom_key: Some(Secret::new(USER_KEY)),
            },
            Some("crm-key-23-9-abc"),
        )
        .unwrap();
    assert_eq!(k.id, 61);
    assert_eq!(k.key.expose(), USER_KEY);
    assert_eq!(k.group_id, Some(9));
    assert_eq!(c.list_user_keys(&s).unwrap().len(), 2);
    c.delete_user_key(&s, 62).unwrap();
    create.assert();
    list.assert();
    delete.assert();
}

#[test]
fn expired_user_session_is_unauthorized() {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(GET).path("/api/v1/keys");
        then.status(401)
            .body(r#"{"code":"TOKEN_EXPIRED","message":"Token has expired"}"#);
    });
    let err = client(&server).list_user_keys(&session()).unwrap_err();
    assert!(matches!(&err, HostError::Unauthorized(d) if d.has_code("TOKEN_EXPIRED")));
    assert!(!err.to_string().contains(USER_JWT));
}

// ---------------------------------------------------------------------------
// Subscriptions

fn assignment() -> SubscriptionAssignment {
    SubscriptionAssignment {
        user_id: 23,
        group_id: 9,
        validity_days: Some(30),
        notes: Some("relay-manager".into()),
    }
}

#[test]
fn assign_subscription() {
    let server = MockServer::start();
    let m = server.mock(|when, then| {
        when.method(POST)
            .path("/api/v1/admin/subscriptions/assign")
            .json_body(json!({"user_id": 23, "group_id": 9, "validity_days": 30, "notes": "relay-manager"}));
        json_ok(then, "subscription_assign.json");
    });
    let AssignOutcome::Assigned(s) = client(&server).assign_subscription(&assignment()).unwrap()
    else {
        panic!("expected assigned");
    };
    m.assert();
    assert_eq!((s.id, s.user_id, s.group_id), (71, 23, 9));
    assert_eq!(s.status, "active");
    assert_eq!(s.expires_at.as_deref(), Some("2026-05-21T08:00:06+08:00"));
}

#[test]
fn assign_subscription_conflict_carries_the_reason() {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(POST).path("/api/v1/admin/subscriptions/assign");
        then.status(409).body(fx("subscription_conflict.json"));
    });
    let out = client(&server).assign_subscription(&assignment()).unwrap();
    assert_eq!(
        out,
        AssignOutcome::Conflict {
            reason: "validity_days_mismatch".into(),
            message: "subscription already exists with different validity".into(),
        }
    );
}

#[test]
fn list_and_revoke_subscriptions() {
    let server = MockServer::start();
    let list = server.mock(|when, then| {
        when.method(GET)
            .path("/api/v1/admin/subscriptions")
            .query_param("user_id", "23")
            .query_param("group_id", "9");
        json_ok(then, "subscriptions_list.json");
    });
    let revoke = server.mock(|when, then| {
        when.method(DELETE).path("/api/v1/admin/subscriptions/71");
        then.status(200).body(r#"{"code":0,"message":"success","data":{"message":"Subscription revoked successfully"}}"#);
    });
    let c = client(&server);
    let subs = c
        .list_subscriptions(&SubscriptionFilter {
            user_id: Some(23),
            group_id: Some(9),
        })
        .unwrap();
    // The revoked row (id 70) the host still lists is left out.
    assert_eq!(subs.len(), 1, "{subs:?}");
    assert_eq!(subs[0].id, 71);
    assert_eq!(subs[0].notes.as_deref(), Some("relay-manager"));
    c.revoke_subscription(71).unwrap();
    list.assert();
    revoke.assert();
}

// ---------------------------------------------------------------------------
// Gateway

fn chat(stream: bool) -> ChatProbeRequest {
    ChatProbeRequest {
        model: "deepseek-chat".into(),
        max_tokens: 8,
        stream,
    }
}

#[test]
fn gateway_models_with_a_bearer_key() {
    let server = MockServer::start();
    let m = server.mock(|when, then| {
        when.method(GET)
            .path("/v1/models")
            .header("authorization", format!("Bearer {USER_KEY}"))
            .header_missing("x-api-key");
        json_ok(then, "gateway_models.json");
    });
    let p = client(&server)
        .gateway_models(&Secret::new(USER_KEY))
        .unwrap();
    m.assert();
    assert_eq!(p.http_status, 200);
    assert!(p.lists("deepseek-chat"));
    assert!(!p.lists("kimi-k2.6"));
}

#[test]
fn gateway_models_error_is_data() {
    let server = MockServer::start();
    let m = server.mock(|when, then| {
        when.method(GET).path("/v1/models");
        then.status(401).body(fx("gateway_error_invalid_key.json"));
    });
    let p = client(&server)
        .gateway_models(&Secret::new("sk-unknown"))
        .unwrap();
    m.assert();
    assert_eq!(p.http_status, 401);
    assert_eq!(p.error.unwrap().code.as_deref(), Some("INVALID_API_KEY"));
}

#[test]
fn gateway_chat_sends_a_tiny_pong_request() {
    let server = MockServer::start();
    let m = server.mock(|when, then| {
        when.method(POST)
            .path("/v1/chat/completions")
            .header("authorization", format!("Bearer {USER_KEY}"))
            .json_body(json!({
                "model": "deepseek-chat",
                "messages": [{"role": "user", "content": "reply with pong only"}],
                "max_tokens": 8
            }));
        json_ok(then, "gateway_chat.json");
    });
    let p = client(&server)
        .gateway_chat(&Secret::new(USER_KEY), &chat(false))
        .unwrap();
    m.assert();
    assert!(p.ok);
    assert_eq!(p.http_status, 200);
    assert_eq!(p.preview, "pong");
    assert_eq!(p.model.as_deref(), Some("deepseek-chat"));
    assert!(p.error.is_none());
}

#[test]
fn gateway_chat_errors_are_data_in_every_shape() {
    // (status, fixture, flat code, error.type, error.code)
    type Case<'a> = (
        u16,
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
    );
    let cases: [Case; 5] = [
        (
            503,
            "gateway_error_no_accounts.json",
            None,
            Some("api_error"),
            None,
        ),
        (
            502,
            "gateway_error_upstream.json",
            None,
            Some("upstream_error"),
            None,
        ),
        (
            403,
            "gateway_error_ungrouped.json",
            None,
            Some("permission_error"),
            None,
        ),
        (
            401,
            "gateway_error_invalid_key.json",
            Some("INVALID_API_KEY"),
            None,
            None,
        ),
        (
            403,
            "gateway_error_quota.json",
            None,
            Some("insufficient_quota"),
            Some("insufficient_user_quota"),
        ),
    ];
    for (status, fixture, code, error_type, error_code) in cases {
        let server = MockServer::start();
        let body = fx(fixture);
        let m = server.mock(move |when, then| {
            when.method(POST).path("/v1/chat/completions");
            then.status(status).body(body);
        });
        let p = client(&server)
            .gateway_chat(&Secret::new(USER_KEY), &chat(false))
            .unwrap();
        m.assert_calls(1);
        assert!(!p.ok, "{fixture}");
        assert_eq!(p.http_status, status, "{fixture}");
        let e = p.error.expect(fixture);
        assert_eq!(e.code.as_deref(), code, "{fixture}");
        assert_eq!(e.error_type.as_deref(), error_type, "{fixture}");
        assert_eq!(e.error_code.as_deref(), error_code, "{fixture}");
        assert!(!e.message.is_empty());
    }
}

/// The gateway's failure answers as the real host 0.1.179 wrote them (vendor
/// stand-in behind it), and what each means.
#[test]
fn gateway_failures_of_the_real_host_are_typed() {
    let cases: [(u16, &str, GatewayFailure); 8] = [
        (
            503,
            "gateway_error_no_accounts.json",
            GatewayFailure::NoAvailableAccount,
        ),
        (
            404,
            "gateway_error_model_not_found.json",
            GatewayFailure::ModelNotSupported,
        ),
        (
            502,
            "gateway_error_upstream.json",
            GatewayFailure::UpstreamFailed,
        ),
        (
            502,
            "gateway_error_upstream_auth.json",
            GatewayFailure::UpstreamFailed,
        ),
        (
            502,
            "gateway_error_upstream_unavailable.json",
            GatewayFailure::UpstreamFailed,
        ),
        (
            429,
            "gateway_error_upstream_rate_limited.json",
            GatewayFailure::RateLimited,
        ),
        (
            404,
            "gateway_error_responses_not_found.json",
            GatewayFailure::UpstreamRejected,
        ),
        (
            403,
            "gateway_error_subscription_not_found.json",
            GatewayFailure::SubscriptionMissing,
        ),
    ];
    for (status, fixture, failure) in cases {
        let server = MockServer::start();
        let body = fx(fixture);
        server.mock(move |when, then| {
            when.method(POST).path("/v1/chat/completions");
            then.status(status)
                .header("content-type", "application/json; charset=utf-8")
                .body(body);
        });
        let p = client(&server)
            .gateway_chat(&Secret::new(USER_KEY), &chat(false))
            .unwrap();
        assert_eq!(p.failure(), Some(failure), "{fixture}");
        assert!(!p.error.expect(fixture).message.is_empty());
    }
    // The same 403 on `/v1/models` (the middleware runs first there too).
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(GET).path("/v1/models");
        then.status(403)
            .body(fx("gateway_error_subscription_not_found.json"));
    });
    let m = client(&server)
        .gateway_models(&Secret::new(USER_KEY))
        .unwrap();
    assert_eq!(m.failure(), Some(GatewayFailure::SubscriptionMissing));
    assert!(m.models.is_empty());
}

#[test]
fn gateway_chat_stream_to_done() {
    let server = MockServer::start();
    let m = server.mock(|when, then| {
        when.method(POST)
            .path("/v1/chat/completions")
            .json_body(json!({
                "model": "deepseek-chat",
                "messages": [{"role": "user", "content": "reply with pong only"}],
                "max_tokens": 8,
                "stream": true
            }));
        then.status(200)
            .header("content-type", "text/event-stream")
            .body(fx("sse/chat_stream.txt"));
    });
    let p = client(&server)
        .gateway_chat(&Secret::new(USER_KEY), &chat(true))
        .unwrap();
    m.assert();
    assert!(p.ok);
    assert_eq!(p.preview, "pong");
    assert!(p.error.is_none());
}

#[test]
fn gateway_chat_stream_error_event() {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(POST).path("/v1/chat/completions");
        then.status(200)
            .header("content-type", "text/event-stream")
            .body(fx("sse/chat_stream_error.txt"));
    });
    let p = client(&server)
        .gateway_chat(&Secret::new(USER_KEY), &chat(true))
        .unwrap();
    assert!(!p.ok);
    assert_eq!(p.http_status, 200);
    assert_eq!(
        p.error.unwrap().error_type.as_deref(),
        Some("upstream_error")
    );
}

#[test]
fn probe_gateway_is_ready_only_with_model_and_completion() {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(GET).path("/v1/models");
        json_ok(then, "gateway_models.json");
    });
    server.mock(|when, then| {
        when.method(POST).path("/v1/chat/completions");
        then.status(503).body(fx("gateway_error_no_accounts.json"));
    });
    let p = client(&server)
        .probe_gateway(&Secret::new(USER_KEY), &chat(false))
        .unwrap();
    assert!(p.models.lists("deepseek-chat"));
    assert!(!p.is_ready("deepseek-chat"), "models-only is never ready");
}

// ---------------------------------------------------------------------------
// Retries, rate limits, admin login

#[test]
fn idempotent_reads_are_retried_on_503() {
    let server = MockServer::start();
    let m = server.mock(|when, then| {
        when.method(GET).path("/api/v1/admin/groups/9");
        then.status(503)
            .body(r#"{"code":503,"message":"service unavailable"}"#);
    });
    let err = client(&server).get_group(9).unwrap_err();
    m.assert_calls(3);
    assert!(matches!(err, HostError::Host { status: 503, .. }));
    assert!(err.is_transient());
}

#[test]
fn writes_are_never_retried() {
    let server = MockServer::start();
    let m = server.mock(|when, then| {
        when.method(POST).path("/api/v1/admin/accounts");
        then.status(503)
            .body(r#"{"code":503,"message":"service unavailable"}"#);
    });
    let err = client(&server)
        .create_account(&new_account(), Some("k"))
        .unwrap_err();
    m.assert_calls(1);
    assert_eq!(err.status(), Some(503));
    let put = server.mock(|when, then| {
        when.method(PUT).path("/api/v1/admin/groups/9");
        then.status(502).body("bad gateway");
    });
    client(&server)
        .update_group(9, &GroupUpdate::default())
        .unwrap_err();
    put.assert_calls(1);
}

#[test]
fn long_retry_after_is_not_waited_out() {
    let server = MockServer::start();
    let m = server.mock(|when, then| {
        when.method(GET).path("/api/v1/admin/system/version");
        then.status(429)
            .header("Retry-After", "120")
            .body(fx("error_rate_limited.json"));
    });
    let started = Instant::now();
    let err = client(&server).version().unwrap_err();
    m.assert_calls(1);
    assert!(started.elapsed() < Duration::from_secs(5));
    match err {
        HostError::RateLimited {
            retry_after,
            detail,
        } => {
            assert_eq!(retry_after, Some(Duration::from_secs(120)));
            assert_eq!(detail.code.as_deref(), Some("rate limit exceeded"));
            assert_eq!(detail.message, "Too many requests, please try again later");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn write_rate_limit_is_returned_not_retried() {
    let server = MockServer::start();
    let m = server.mock(|when, then| {
        when.method(POST).path("/api/v1/admin/subscriptions/assign");
        then.status(429)
            .header("Retry-After", "1")
            .body(fx("error_rate_limited.json"));
    });
    let err = client(&server)
        .assign_subscription(&assignment())
        .unwrap_err();
    m.assert_calls(1);
    assert!(matches!(err, HostError::RateLimited { .. }));
}

// A tiny scripted HTTP server for sequences httpmock cannot express.

#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    at: Instant,
}

impl Recorded {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

enum Reply {
    Respond(u16, Vec<(&'static str, &'static str)>, String),
    Drop,
}

fn scripted(replies: Vec<Reply>) -> (String, Arc<Mutex<Vec<Recorded>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let log = Arc::new(Mutex::new(Vec::new()));
    let log2 = Arc::clone(&log);
    thread::spawn(move || {
        for reply in replies {
            let Ok((stream, _)) = listener.accept() else {
                return;
            };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let mut parts = line.split_whitespace();
            let method = parts.next().unwrap_or("").to_owned();
            let path = parts.next().unwrap_or("").to_owned();
            let mut headers = Vec::new();
            let mut length = 0usize;
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                let h = h.trim_end();
                if h.is_empty() {
                    break;
                }
                if let Some((k, v)) = h.split_once(':') {
                    if k.eq_ignore_ascii_case("content-length") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                    headers.push((k.trim().to_owned(), v.trim().to_owned()));
                }
            }
            let mut body = vec![0u8; length];
            reader.read_exact(&mut body).unwrap();
            log2.lock().unwrap().push(Recorded {
                method,
                path,
                headers,
                at: Instant::now(),
            });
            match reply {
                Reply::Drop => drop(stream),
                Reply::Respond(status, extra, body) => {
                    let mut out = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
                        body.len()
                    );
                    for (k, v) in extra {
                        out.push_str(&format!("{k}: {v}\r\n"));
                    }
                    out.push_str("\r\n");
                    out.push_str(&body);
                    let mut stream = stream;
                    stream.write_all(out.as_bytes()).unwrap();
                    stream.flush().unwrap();
                }
            }
        }
    });
    (base, log)
}

#[test]
fn retry_after_is_honoured_on_reads() {
    let (base, log) = scripted(vec![
        Reply::Respond(
            429,
            vec![("Retry-After", "1")],
            fx("error_rate_limited.json"),
        ),
        Reply::Respond(200, vec![], fx("version.json")),
    ]);
    let c = Sub2ApiClient::new(config(base)).unwrap();
    assert_eq!(c.version().unwrap(), "0.1.131");
    let log = log.lock().unwrap();
    assert_eq!(log.len(), 2);
    let waited = log[1].at.duration_since(log[0].at);
    assert!(
        waited >= Duration::from_millis(950),
        "waited only {waited:?}"
    );
}

#[test]
fn reads_are_retried_after_a_transport_error() {
    let (base, log) = scripted(vec![
        Reply::Drop,
        Reply::Respond(200, vec![], fx("version.json")),
    ]);
    let c = Sub2ApiClient::new(config(base)).unwrap();
    assert_eq!(c.version().unwrap(), "0.1.131");
    assert_eq!(log.lock().unwrap().len(), 2);
}

fn login_config(base: String) -> HostConfig {
    HostConfig {
        auth: AdminAuth::Login {
            email: "admin@relay.example".into(),
            password: Secret::new("admin-Pa55"),
        },
        ..config(base)
    }
}

fn admin_login_body(token: &str) -> String {
    format!(
        r#"{{"code":0,"message":"success","data":{{"access_token":"{token}","token_type":"Bearer","expires_in":86400,"user":{{"id":1,"email":"admin@relay.example","role":"admin","status":"active"}}}}}}"#
    )
}

#[test]
fn admin_login_is_refreshed_once_on_401() {
    let (base, log) = scripted(vec![
        Reply::Respond(200, vec![], admin_login_body("jwt-one")),
        Reply::Respond(
            401,
            vec![],
            r#"{"code":"TOKEN_EXPIRED","message":"Token has expired"}"#.into(),
        ),
        Reply::Respond(200, vec![], admin_login_body("jwt-two")),
        Reply::Respond(200, vec![], fx("version.json")),
    ]);
    let c = Sub2ApiClient::new(login_config(base)).unwrap();
    assert_eq!(c.version().unwrap(), "0.1.131");
    let log = log.lock().unwrap();
    let seen: Vec<_> = log
        .iter()
        .map(|r| {
            (
                r.method.as_str(),
                r.path.as_str(),
                r.header("authorization"),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            ("POST", "/api/v1/auth/login", None),
            (
                "GET",
                "/api/v1/admin/system/version",
                Some("Bearer jwt-one")
            ),
            ("POST", "/api/v1/auth/login", None),
            (
                "GET",
                "/api/v1/admin/system/version",
                Some("Bearer jwt-two")
            ),
        ]
    );
    assert!(log.iter().all(|r| r.header("x-api-key").is_none()));
}

#[test]
fn admin_login_token_is_cached_and_refresh_happens_only_once() {
    let server = MockServer::start();
    let login = server.mock(|when, then| {
        when.method(POST)
            .path("/api/v1/auth/login")
            .json_body(json!({"email": "admin@relay.example", "password": "admin-Pa55"}));
        then.status(200).body(admin_login_body("jwt-cached"));
    });
    let ok = server.mock(|when, then| {
        when.method(GET)
            .path("/api/v1/admin/system/version")
            .header("authorization", "Bearer jwt-cached");
        json_ok(then, "version.json");
    });
    let refused = server.mock(|when, then| {
        when.method(GET)
            .path("/api/v1/admin/groups/1")
            .header("authorization", "Bearer jwt-cached");
        then.status(401)
            .body(r#"{"code":"TOKEN_REVOKED","message":"Token has been revoked"}"#);
    });
    let c = Sub2ApiClient::new(login_config(server.base_url())).unwrap();
    c.version().unwrap();
    c.version().unwrap();
    login.assert_calls(1);
    ok.assert_calls(2);
    let err = c.get_group(1).unwrap_err();
    assert!(matches!(&err, HostError::Unauthorized(d) if d.has_code("TOKEN_REVOKED")));
    refused.assert_calls(2);
    login.assert_calls(2);
}

#[test]
fn the_adapter_is_usable_as_a_shared_trait_object() {
    let server = MockServer::start();
    let m = server.mock(|when, then| {
        when.method(GET).path("/api/v1/admin/system/version");
        json_ok(then, "version.json");
    });
    let c = client(&server);
    let adapter: &dyn HostAdapter = &c;
    thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| assert_eq!(adapter.version().unwrap(), "0.1.131"));
        }
    });
    m.assert_calls(4);
}

// ---------------------------------------------------------------------------
// Idempotency (real host 0.1.179: `service/idempotency.go`, verified on a running host)

#[test]
fn a_retry_backoff_is_a_pending_error_with_its_retry_after() {
    let server = MockServer::start();
    let m = server.mock(|when, then| {
        when.method(POST)
            .path("/api/v1/admin/accounts")
            .header("Idempotency-Key", "k-1");
        then.status(409)
            .header("Retry-After", "4")
            .header("content-type", "application/json; charset=utf-8")
            .body(fx("error_idempotency_backoff.json"));
    });
    let err = client(&server)
        .create_account(&new_account(), Some("k-1"))
        .unwrap_err();
    m.assert_calls(1);
    match &err {
        HostError::IdempotencyPending {
            retry_after,
            detail,
        } => {
            assert_eq!(*retry_after, Some(Duration::from_secs(4)));
            assert!(detail.has_code(IDEMPOTENCY_RETRY_BACKOFF));
        }
        other => panic!("{other:?}"),
    }
    assert!(err.is_transient());
}

#[test]
fn an_in_progress_answer_without_header_takes_the_metadata_retry_after() {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(POST).path("/api/v1/admin/accounts/batch");
        then.status(409)
            .body(fx("error_idempotency_in_progress.json"));
    });
    let err = client(&server)
        .create_accounts_batch(&[new_account()], Some("k-2"))
        .unwrap_err();
    assert!(matches!(
        &err,
        HostError::IdempotencyPending { retry_after: Some(d), detail }
            if *d == Duration::from_secs(29) && detail.has_code(IDEMPOTENCY_IN_PROGRESS)
    ));
}

#[test]
fn a_missing_key_and_a_reused_key_are_refusals() {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(POST)
            .path("/api/v1/admin/accounts")
            .header_missing("Idempotency-Key");
        then.status(400).body(fx("error_idempotency_required.json"));
    });
    server.mock(|when, then| {
        when.method(POST)
            .path("/api/v1/admin/accounts")
            .header("Idempotency-Key", "reused");
        then.status(409).body(fx("error_idempotency_conflict.json"));
    });
    let c = client(&server);
    let err = c.create_account(&new_account(), None).unwrap_err();
    assert!(
        matches!(&err, HostError::Host { status: 400, code: Some(c), .. } if c == IDEMPOTENCY_KEY_REQUIRED)
    );
    assert!(!err.is_transient());
    let err = c
        .create_account(&new_account(), Some("reused"))
        .unwrap_err();
    assert!(matches!(&err, HostError::Conflict(d) if d.has_code(IDEMPOTENCY_KEY_CONFLICT)));
    assert!(!err.is_transient());
}

#[test]
fn a_replayed_account_create_returns_the_account_as_it_is_now() {
    let server = MockServer::start();
    let create = server.mock(|when, then| {
        when.method(POST)
            .path("/api/v1/admin/accounts")
            .header("Idempotency-Key", "k-replay");
        then.status(200)
            .header("X-Idempotency-Replayed", "true")
            .body(fx("account_create.json"));
    });
    let get = server.mock(|when, then| {
        when.method(GET).path("/api/v1/admin/accounts/41");
        json_ok(then, "account_get.json");
    });
    let a = client(&server)
        .create_account(&new_account(), Some("k-replay"))
        .unwrap();
    create.assert();
    get.assert();
    assert_eq!(a.id, 41);
    assert_eq!(
        a.status, "error",
        "the current state, not the stored answer"
    );
}

#[test]
fn a_replayed_create_of_a_deleted_account_needs_a_new_key() {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(POST).path("/api/v1/admin/accounts");
        then.status(200)
            .header("X-Idempotency-Replayed", "true")
            .body(fx("account_create.json"));
    });
    server.mock(|when, then| {
        when.method(GET).path("/api/v1/admin/accounts/41");
        then.status(404)
            .body(r#"{"code":404,"message":"account not found","reason":"ACCOUNT_NOT_FOUND"}"#);
    });
    let err = client(&server)
        .create_account(&new_account(), Some("k-old"))
        .unwrap_err();
    assert!(matches!(&err, HostError::Conflict(d) if d.has_code(REPLAYED_OBJECT_GONE)));
}

#[test]
fn a_replayed_balance_change_reads_the_current_balance() {
    let server = MockServer::start();
    let post = server.mock(|when, then| {
        when.method(POST)
            .path("/api/v1/admin/users/23/balance")
            .header("Idempotency-Key", "bal-7")
            .json_body(json!({"balance": 1.0, "operation": "set", "notes": "n"}));
        then.status(200)
            .header("X-Idempotency-Replayed", "true")
            .body(r#"{"code":0,"message":"success","data":{"id":23,"email":"probe+kimi@relay.example","role":"user","balance":1,"status":"active"}}"#);
    });
    let get = server.mock(|when, then| {
        when.method(GET).path("/api/v1/admin/users/23");
        json_ok(then, "user_create.json");
    });
    let u = client(&server)
        .set_user_balance(
            23,
            &BalanceChange {
                amount: 1.0,
                operation: BalanceOperation::Set,
                notes: Some("n".into()),
            },
            Some("bal-7"),
        )
        .unwrap();
    post.assert();
    get.assert();
    assert_eq!(u.balance, 0.0, "the balance now, not the replayed one");
}

#[test]
fn a_replayed_user_key_create_reads_the_key_with_the_session() {
    let server = MockServer::start();
    let bearer = format!("Bearer {USER_JWT}");
    server.mock(|when, then| {
        when.method(POST)
            .path("/api/v1/keys")
            .header("idempotency-key", "crm-key-1");
        then.status(200)
            .header("X-Idempotency-Replayed", "true")
            .body(fx("key_create.json"));
    });
    let get = server.mock(|when, then| {
        when.method(GET)
            .path("/api/v1/keys/61")
            .header("authorization", bearer.clone());
        json_ok(then, "key_create.json");
    });
    let k = client(&server)
        .create_user_key(
            &session(),
            &NewUserKey {
                name: "relay-probe".into(),
                group_id: 9,
                custom_key: Some(Secret::new(USER_KEY)),
            },
            Some("crm-key-1"),
        )
        .unwrap();
    get.assert();
    assert_eq!((k.id, k.key.expose()), (61, USER_KEY));
}

#[test]
fn batch_item_errors_are_the_hosts_text_and_the_legacy_placeholder_is_unsupported() {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(POST)
            .path("/api/v1/admin/accounts/batch")
            .header("Idempotency-Key", "new");
        then.status(200)
            .header("X-Idempotency-Replayed", "true")
            .body(fx("account_batch.json"));
    });
    server.mock(|when, then| {
        when.method(POST)
            .path("/api/v1/admin/accounts/batch")
            .header("Idempotency-Key", "old");
        json_ok(then, "account_batch_legacy.json");
    });
    let c = client(&server);
    let r = c
        .create_accounts_batch(&[new_account(), new_account()], Some("new"))
        .unwrap();
    assert!(r.replayed);
    assert_eq!(r.results[0].id, Some(41));
    assert!(r.results[1]
        .error
        .as_deref()
        .unwrap()
        .contains("account_groups_group_id_fkey"));
    let err = c
        .create_accounts_batch(&[new_account()], Some("old"))
        .unwrap_err();
    assert!(matches!(err, HostError::UnsupportedRoute { .. }), "{err:?}");
}

#[test]
fn the_failed_custom_key_limit_is_rate_limited_without_retry_after() {
    let server = MockServer::start();
    let m = server.mock(|when, then| {
        when.method(POST).path("/api/v1/keys");
        then.status(429).body(fx("error_api_key_rate_limited.json"));
    });
    let err = client(&server)
        .create_user_key(
            &session(),
            &NewUserKey {
                name: "relay-probe".into(),
                group_id: 9,
                custom_key: Some(Secret::new(USER_KEY)),
            },
            Some("k"),
        )
        .unwrap_err();
    m.assert_calls(1);
    assert!(matches!(
        &err,
        HostError::RateLimited { retry_after: None, detail } if detail.has_code("API_KEY_RATE_LIMITED")
    ));
}

#[test]
fn login_waits_out_the_login_limiter() {
    let server = MockServer::start();
    let limited = server.mock(|when, then| {
        when.method(POST)
            .path("/api/v1/auth/login")
            .body_includes("limited@relay.example");
        then.status(429)
            .header("Retry-After", "61")
            .body(fx("error_rate_limited.json"));
    });
    let err = client(&server)
        .login_user("limited@relay.example", &Secret::new("pw-123456"))
        .unwrap_err();
    limited.assert_calls(1);
    assert!(
        matches!(&err, HostError::RateLimited { retry_after: Some(d), .. } if *d == Duration::from_secs(61)),
        "a wait beyond the host's 60 s window is not waited: {err:?}"
    );

    // Within the window the adapter waits and logs in (the real wait is the
    // window's rest, up to 60 s; 1 s here).
    let server = MockServer::start();
    let mut limited = server.mock(|when, then| {
        when.method(POST).path("/api/v1/auth/login");
        then.status(429)
            .header("Retry-After", "1")
            .body(fx("error_rate_limited.json"));
    });
    let c = client(&server);
    let started = Instant::now();
    let first = thread::scope(|s| {
        let h = s.spawn(|| c.login_user("probe+kimi@relay.example", &Secret::new("pw-123456")));
        thread::sleep(Duration::from_millis(300));
        limited.delete();
        server.mock(|when, then| {
            when.method(POST).path("/api/v1/auth/login");
            json_ok(then, "login_ok.json");
        });
        h.join().unwrap()
    });
    assert!(matches!(first, Ok(LoginOutcome::LoggedIn(_))), "{first:?}");
    assert!(started.elapsed() >= Duration::from_secs(1));
}

// ---------------------------------------------------------------------------
// Findings checked on a real 0.1.179 host (docs/host-api-notes.md)

#[test]
fn compliance_lock_is_a_typed_error_and_never_a_present_route() {
    let server = MockServer::start();
    let locked = server.mock(|when, then| {
        when.path_prefix("/api/v1/admin/")
            .header("x-api-key", ADMIN_KEY);
        then.status(423)
            .header("content-type", "application/json; charset=utf-8")
            .body(fx("error_compliance_required.json"));
    });
    let c = client(&server);
    let err = c.version().unwrap_err();
    let lock = err.compliance_lock().expect("compliance lock").clone();
    assert_eq!(lock.version.as_deref(), Some("v2026.06.10"));
    assert_eq!(
        lock.document_url.as_deref(),
        Some("https://github.com/Wei-Shaw/sub2api/blob/main/docs/legal/admin-compliance.en.md")
    );
    assert_eq!(err.status(), Some(423));
    assert!(!err.to_string().contains(ADMIN_KEY));
    assert!(err.to_string().contains("v2026.06.10"), "{err}");
    let caps = c.capabilities().unwrap_err();
    assert!(caps.compliance_lock().is_some(), "{caps:?}");
    // Writes are refused the same way and are not retried.
    let before = locked.calls();
    let w = c.delete_plan(3).expect_err("a locked host refuses writes");
    assert!(w.compliance_lock().is_some());
    assert_eq!(locked.calls(), before + 1);
}

#[test]
fn compliance_status_is_read_without_accepting() {
    let server = MockServer::start();
    let writes = guard_no_writes(&server);
    let m = server.mock(|when, then| {
        when.method(GET)
            .path("/api/v1/admin/compliance")
            .header("x-api-key", ADMIN_KEY);
        json_ok(then, "compliance_required.json");
    });
    let s = client(&server).compliance().unwrap().expect("gate present");
    m.assert();
    assert!(s.required);
    assert_eq!(s.version, "v2026.06.10");
    assert_eq!(
        s.ack_phrase.as_deref(),
        Some("I have read, understood, and agree to the Sub2API Deployment and Operation Compliance Commitment")
    );
    assert!(s
        .document_url
        .as_deref()
        .unwrap()
        .ends_with("admin-compliance.en.md"));
    assert_eq!(s.accepted_by, None);
    assert_eq!(s.lock().version.as_deref(), Some("v2026.06.10"));
    writes.assert_calls(0);

    let accepted = MockServer::start();
    accepted.mock(|when, then| {
        when.method(GET).path("/api/v1/admin/compliance");
        json_ok(then, "compliance_accepted.json");
    });
    let s = client(&accepted).compliance().unwrap().unwrap();
    assert!(!s.required);
    assert_eq!(s.accepted_by, Some(1));
    assert_eq!(
        s.accepted_at.as_deref(),
        Some("2026-12-04T20:21:41.752872943Z")
    );

    // Builds before the gate have no such route.
    let old = MockServer::start();
    old.mock(|when, then| {
        when.method(GET).path("/api/v1/admin/compliance");
        then.status(404).body(fx("error_plain_404.txt"));
    });
    assert_eq!(client(&old).compliance().unwrap(), None);
}

#[test]
fn schedulable_has_its_own_route() {
    let server = MockServer::start();
    let m = server.mock(|when, then| {
        when.method(POST)
            .path("/api/v1/admin/accounts/41/schedulable")
            .header("x-api-key", ADMIN_KEY)
            .json_body(json!({"schedulable": false}));
        json_ok(then, "account_get.json");
    });
    let a = client(&server).set_account_schedulable(41, false).unwrap();
    m.assert();
    assert_eq!(a.id, 41);
}

#[test]
fn recover_state_and_batch_clear_error() {
    let server = MockServer::start();
    let recover = server.mock(|when, then| {
        when.method(POST)
            .path("/api/v1/admin/accounts/41/recover-state")
            .header("x-api-key", ADMIN_KEY);
        json_ok(then, "account_get.json");
    });
    let old = server.mock(|when, then| {
        when.method(POST)
            .path("/api/v1/admin/accounts/42/recover-state");
        then.status(404).body(fx("error_plain_404.txt"));
    });
    let batch = server.mock(|when, then| {
        when.method(POST)
            .path("/api/v1/admin/accounts/batch-clear-error")
            .json_body(json!({"account_ids": [41, 999]}));
        json_ok(then, "account_batch_clear_error.json");
    });
    let c = client(&server);
    assert_eq!(c.recover_account_state(41).unwrap().id, 41);
    recover.assert();
    assert!(matches!(
        c.recover_account_state(42).unwrap_err(),
        HostError::UnsupportedRoute { .. }
    ));
    old.assert();
    let r = c.clear_account_errors(&[41, 999]).unwrap();
    batch.assert();
    assert_eq!((r.total, r.cleared), (2, 1));
    assert_eq!(r.failed.len(), 1);
    assert_eq!(r.failed[0].0, 999);
    assert!(r.failed[0].1.contains("ACCOUNT_NOT_FOUND"));
    // Nothing to clear: no call.
    assert_eq!(
        c.clear_account_errors(&[]).unwrap(),
        BatchClearResult::default()
    );
    batch.assert_calls(1);
}

#[test]
fn rebind_user_key_keeps_the_key_and_unescapes_its_name() {
    let server = MockServer::start();
    let m = server.mock(|when, then| {
        when.method(PUT)
            .path("/api/v1/admin/api-keys/61")
            .header("x-api-key", ADMIN_KEY)
            .json_body(json!({"group_id": 12}));
        json_ok(then, "key_rebind.json");
    });
    let refused = server.mock(|when, then| {
        when.method(PUT).path("/api/v1/admin/api-keys/62");
        then.status(400)
            .body(fx("error_subscription_required.json"));
    });
    let c = client(&server);
    let k = c.rebind_user_key(61, 12).unwrap();
    m.assert();
    assert_eq!(k.group_id, Some(12));
    assert_eq!(k.key.expose(), USER_KEY);
    assert_eq!(
        k.name, "crm-a&b<c>\"d'e",
        "the host escapes names; the adapter reverses it"
    );
    let e = c.rebind_user_key(62, 12).unwrap_err();
    refused.assert();
    assert_eq!(e.code().as_deref(), Some("SUBSCRIPTION_REQUIRED"));
}

#[test]
fn gateway_reachability_reports_the_invalid_auth_block() {
    let server = MockServer::start();
    let m = server.mock(|when, then| {
        when.method(GET).path("/v1/models");
        then.status(429)
            .header("retry-after", "60")
            .body(fx("gateway_error_invalid_auth_limited.json"));
    });
    let chat = server.mock(|when, then| {
        when.method(POST).path("/v1/chat/completions");
        then.status(429)
            .body(fx("gateway_error_invalid_auth_limited.json"));
    });
    let r = client(&server).gateway_reachability().unwrap();
    m.assert();
    chat.assert_calls(0);
    assert!(r.invalid_auth_limited);
    assert_eq!(r.retry_after, Some(Duration::from_secs(60)));
    assert!(!r.api_key_required);
    assert_eq!(r.models_code.as_deref(), Some(INVALID_AUTH_RATE_LIMITED));
}

#[test]
fn the_admin_panel_limiter_is_rate_limited_with_its_code() {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(POST).path("/api/v1/admin/groups");
        then.status(429)
            .header("retry-after", "7")
            .body(fx("error_admin_rate_limited.json"));
    });
    let e = client(&server)
        .create_group(&NewGroup {
            name: "g".into(),
            description: None,
            platform: "openai".into(),
            rate_multiplier: 1.0,
            is_exclusive: false,
            subscription_type: subscription_type::STANDARD.into(),
            daily_limit_usd: None,
            weekly_limit_usd: None,
            monthly_limit_usd: None,
        })
        .unwrap_err();
    match e {
        HostError::RateLimited {
            retry_after,
            detail,
        } => {
            assert_eq!(retry_after, Some(Duration::from_secs(7)));
            assert_eq!(detail.code.as_deref(), Some("RATE_LIMITED"));
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
}

#[test]
fn a_missing_plan_is_a_bare_500_on_the_host() {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(DELETE).path("/api/v1/admin/payment/plans/77");
        then.status(500).body(fx("error_internal.json"));
    });
    let e = client(&server).delete_plan(77).unwrap_err();
    assert!(!e.is_not_found());
    assert_eq!((e.status(), e.code()), (Some(500), None));
}

#[test]
fn revoked_subscriptions_are_left_out_of_lists() {
    // The host's admin list shows a revoked (soft-deleted) subscription with status
    // `revoked` next to the live one that replaced it.
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(GET).path("/api/v1/admin/subscriptions");
        json_ok(then, "subscriptions_list_revoked.json");
    });
    let subs = client(&server)
        .list_subscriptions(&SubscriptionFilter {
            user_id: Some(23),
            group_id: None,
        })
        .unwrap();
    assert_eq!(subs.len(), 1, "{subs:?}");
    assert_eq!(subs[0].status, "active");
}

#[test]
fn public_settings_name_a_tencent_or_aliyun_login_captcha() {
    for (flag, provider) in [
        ("tencent_captcha_enabled", "tencent"),
        ("aliyun_captcha_enabled", "aliyun"),
    ] {
        let server = MockServer::start();
        server.mock(|when, then| {
            when.method(GET).path("/api/v1/settings/public");
            then.status(200).body(
                json!({"code": 0, "message": "success",
                       "data": {"version": "0.1.179", "turnstile_enabled": false, flag: true}})
                .to_string(),
            );
        });
        let s = client(&server).public_settings().unwrap();
        assert_eq!(s.login_captcha.as_deref(), Some(provider));
    }
}
