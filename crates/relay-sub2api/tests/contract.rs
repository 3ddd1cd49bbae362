//! Contract tests: the adapter against an HTTP mock that answers with bodies
//! shaped exactly like the real host's (`fixtures/host/`). Each row names the
//! requests the adapter must send (method, path, query, headers, JSON field names)
//! with the sample the host answers, the adapter call, and what the adapter must
//! make of the answer; [`harness`] sets up the mock and checks the requests. The
//! few sequences `httpmock` cannot express (a dropped connection, a timed
//! `Retry-After`, a token refresh) use a scripted loopback server below.

mod harness;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use httpmock::prelude::*;
use relay_domain::Secret;
use relay_sub2api::*;
use serde_json::json;

use harness::{
    client, config, contract_cases, delete, fx, get, post, put, run, under, writes, Exchange,
    ADMIN_KEY,
};

const UPSTREAM_KEY: &str = "sk-upstream-secret-7d3f9a0c12";
const USER_JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjoyM30.c2lnbmF0dXJl";
const USER_KEY: &str = "crm-probe-kimi-0123456789abcdef";

/// An empty first page of one item, as the host lists a kind it has none of.
const EMPTY_PAGE_OF_ONE: &str = r#"{"code":0,"message":"success","data":{"items":[],"total":0,"page":1,"page_size":1,"pages":1}}"#;

/// The capability probe's read of a list: the first page of one item.
fn list_probe(path: &str) -> Exchange {
    get(path)
        .query("page", "1")
        .query("page_size", "1")
        .admin_key()
        .answer_text(200, EMPTY_PAGE_OF_ONE)
}

/// A group with the host's defaults, for rows where only the answer matters.
fn standard_group(name: &str) -> NewGroup {
    NewGroup {
        name: name.into(),
        description: None,
        platform: "openai".into(),
        rate_multiplier: 1.0,
        is_exclusive: false,
        subscription_type: subscription_type::STANDARD.into(),
        daily_limit_usd: None,
        weekly_limit_usd: None,
        monthly_limit_usd: None,
    }
}

// ---------------------------------------------------------------------------
// Host facts

contract_cases! {
    version_uses_the_admin_key_header: [
        get("/api/v1/admin/system/version").admin_key().without("authorization").ok("version.json"),
    ] => |c| c.version(), |v| assert_eq!(v.unwrap(), "0.1.131");

    public_settings_are_read_without_credentials: [
        get("/api/v1/settings/public")
            .without("x-api-key")
            .without("authorization")
            .ok("settings_public.json"),
    ] => |c| c.public_settings().unwrap(), |s| {
        assert_eq!(s.version.as_deref(), Some("0.1.131"));
        assert!(!s.backend_mode_enabled);
        assert!(!s.turnstile_enabled);
        assert_eq!(s.login_captcha, None);
        assert!(s.totp_enabled);
        assert!(s.payment_enabled);
    };

    capabilities_on_a_new_host_use_reads_only: [
        writes().calls(0),
        list_probe("/api/v1/admin/groups"),
        list_probe("/api/v1/admin/channels"),
        list_probe("/api/v1/admin/accounts"),
        list_probe("/api/v1/admin/subscriptions"),
        list_probe("/api/v1/admin/users"),
        get("/api/v1/admin/payment/plans").ok("plans_list.json"),
        get("/api/v1/admin/accounts/0/models").answer_text(
            404,
            r#"{"code":404,"message":"account not found","reason":"ACCOUNT_NOT_FOUND"}"#,
        ),
        get("/api/v1/keys").without("authorization").answer(401, "error_unauthorized_jwt.json"),
        get("/v1/models")
            .without("authorization")
            .answer(401, "gateway_error_api_key_required.json"),
        post("/v1/chat/completions")
            .without("authorization")
            .answer(401, "gateway_error_api_key_required.json"),
    ] => |c| c.capabilities().unwrap(), |caps| assert_eq!(
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

    capabilities_on_an_old_host_see_plain_text_404_as_absent: [
        writes().calls(0),
        list_probe("/api/v1/admin/groups"),
        list_probe("/api/v1/admin/accounts"),
        list_probe("/api/v1/admin/subscriptions"),
        list_probe("/api/v1/admin/users"),
        get("/api/v1/admin/channels")
            .reply_header("content-type", "text/plain")
            .answer(404, "error_plain_404.txt"),
        get("/api/v1/admin/payment/plans")
            .reply_header("content-type", "text/plain")
            .answer(404, "error_plain_404.txt"),
        get("/api/v1/admin/accounts/0/models")
            .answer_text(400, r#"{"code":400,"message":"Invalid account ID"}"#),
        get("/api/v1/keys").answer(401, "error_unauthorized_jwt.json"),
        get("/v1/models").answer(401, "gateway_error_api_key_required.json"),
        post("/v1/chat/completions").answer(404, "error_plain_404.txt"),
    ] => |c| c.capabilities().unwrap(), |caps| {
        assert!(caps.groups && caps.accounts && caps.account_test && caps.account_models);
        assert!(caps.subscriptions && caps.users && caps.user_keys);
        assert!(!caps.channels, "plain-text 404 means no channels");
        assert!(!caps.plans, "plain-text 404 means no plans");
        assert!(!caps.chat_completions);
    };

    capabilities_propagate_a_refused_admin_key: [
        under("/api/v1/admin/").answer(401, "error_invalid_admin_key.json").any_calls(),
    ] => |c| c.capabilities().unwrap_err(), |err| {
        assert!(matches!(err, HostError::Unauthorized(_)), "{err:?}");
        assert_eq!(err.code().as_deref(), Some("INVALID_ADMIN_KEY"));
    };

    gateway_reachability_without_a_key: [
        get("/v1/models")
            .without("authorization")
            .answer(401, "gateway_error_api_key_required.json"),
        post("/v1/chat/completions")
            .without("authorization")
            .answer(401, "gateway_error_api_key_required.json"),
    ] => |c| c.gateway_reachability().unwrap(), |r| {
        assert_eq!(r.models_status, 401);
        assert_eq!(r.models_code.as_deref(), Some("API_KEY_REQUIRED"));
        assert!(r.api_key_required);
        assert!(r.chat_completions);
    };
}

// ---------------------------------------------------------------------------
// Errors

contract_cases! {
    handler_error_with_reason_maps_to_not_found: [
        delete("/api/v1/admin/groups/99").answer(404, "error_group_not_found.json"),
    ] => |c| c.delete_group(99).unwrap_err(), |err| {
        assert!(err.is_not_found());
        assert_eq!(err.code().as_deref(), Some("GROUP_NOT_FOUND"));
        assert_eq!(err.status(), Some(404));
    };

    validation_error_without_reason_has_no_code: [
        post("/api/v1/admin/groups").answer(400, "error_validation.json"),
    ] => |c| c.create_group(&standard_group("")).unwrap_err(), |err| match err {
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
    };

    middleware_error_with_string_code_maps_to_unauthorized: [
        get("/api/v1/admin/system/version").answer(401, "error_invalid_admin_key.json"),
    ] => |c| c.version().unwrap_err(), |err| {
        match &err {
            HostError::Unauthorized(d) => {
                assert_eq!(d.code.as_deref(), Some("INVALID_ADMIN_KEY"));
                assert_eq!(d.message, "Invalid admin API key");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(!err.to_string().contains(ADMIN_KEY));
    };

    plain_text_404_on_an_admin_route_is_an_unsupported_route: [
        get("/api/v1/admin/channels/5").answer(404, "error_plain_404.txt"),
    ] => |c| c.get_channel(5).unwrap_err(), |err| {
        assert_eq!(
            err,
            HostError::UnsupportedRoute {
                method: "GET".into(),
                path: "/api/v1/admin/channels/5".into()
            }
        );
        assert!(!err.is_not_found());
    };

    internal_error_is_a_host_error: [
        delete("/api/v1/admin/channels/5").answer(500, "error_internal.json"),
    ] => |c| c.delete_channel(5).unwrap_err(), |err| assert!(
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

fn group_item(id: i64) -> serde_json::Value {
    json!({"id": id, "name": format!("g{id}"), "platform": "openai", "status": "active",
           "subscription_type": "standard", "rate_multiplier": 1, "is_exclusive": false})
}

/// Page `page` of two pages of groups (three in all, two per page).
fn group_page(items: serde_json::Value, page: u32) -> serde_json::Value {
    json!({"code": 0, "message": "success",
           "data": {"items": items, "total": 3, "page": page, "page_size": 2, "pages": 2}})
}

contract_cases! {
    list_groups_searches_by_name_and_matches_exactly: [
        get("/api/v1/admin/groups")
            .query("search", "crm-openai-cn-deepseek-subscription")
            .query("platform", "openai")
            .query("page", "1")
            .query("page_size", "100")
            .admin_key()
            .ok("groups_list.json"),
    ] => |c| c.list_groups(&GroupFilter {
        name: Some("crm-openai-cn-deepseek-subscription".into()),
        platform: Some("openai".into()),
    }).unwrap(), |groups| {
        assert_eq!(groups.len(), 1, "substring match '-old' must be dropped");
        let g = &groups[0];
        assert_eq!(g.id, 7);
        assert_eq!(g.subscription_type, "subscription");
        assert_eq!(g.monthly_limit_usd, Some(50.0));
        assert_eq!(g.daily_limit_usd, None);
        assert_eq!(g.account_count, Some(2));
    };

    list_groups_reads_every_page: [
        get("/api/v1/admin/groups")
            .query("page", "1")
            .answer_json(200, group_page(json!([group_item(1), group_item(2)]), 1)),
        get("/api/v1/admin/groups")
            .query("page", "2")
            .answer_json(200, group_page(json!([group_item(3)]), 2)),
    ] => |c| c.list_groups(&GroupFilter::default()).unwrap(), |groups| assert_eq!(
        groups.iter().map(|g| g.id).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );

    create_group_sends_the_host_field_names: [
        post("/api/v1/admin/groups")
            .admin_key()
            .header_prefix("content-type", "application/json")
            .json(json!({
                "name": "crm-openai-cn-kimi-subscription",
                "description": "managed by relay manager",
                "platform": "openai",
                "rate_multiplier": 1.0,
                "is_exclusive": false,
                "subscription_type": "subscription",
                "daily_limit_usd": 10.0,
                "monthly_limit_usd": 100.0
            }))
            .ok("group_create.json"),
    ] => |c| c.create_group(&NewGroup {
        name: "crm-openai-cn-kimi-subscription".into(),
        description: Some("managed by relay manager".into()),
        platform: "openai".into(),
        rate_multiplier: 1.0,
        is_exclusive: false,
        subscription_type: subscription_type::SUBSCRIPTION.into(),
        daily_limit_usd: Some(10.0),
        weekly_limit_usd: None,
        monthly_limit_usd: Some(100.0),
    }).unwrap(), |g| {
        assert_eq!(g.id, 9);
        assert_eq!(g.rate_multiplier, 1.0);
    };

    create_group_conflict: [
        post("/api/v1/admin/groups").answer(409, "error_group_exists.json"),
    ] => |c| c.create_group(&standard_group("dup")).unwrap_err(), |err| assert!(
        matches!(&err, HostError::Conflict(d) if d.has_code("GROUP_EXISTS")),
        "{err:?}"
    );

    update_group_sends_only_changed_fields: [
        put("/api/v1/admin/groups/9")
            .json(json!({"status": "inactive", "rate_multiplier": 2.0}))
            .ok("group_create.json"),
    ] => |c| c.update_group(
        9,
        &GroupUpdate {
            status: Some("inactive".into()),
            rate_multiplier: Some(2.0),
            ..GroupUpdate::default()
        },
    ), |r| { r.unwrap(); };

    get_and_delete_group: [
        get("/api/v1/admin/groups/9").ok("group_create.json"),
        delete("/api/v1/admin/groups/9").admin_key().answer_text(
            200,
            r#"{"code":0,"message":"success","data":{"message":"Group deleted successfully"}}"#,
        ),
    ] => |c| (c.get_group(9).unwrap().name, c.delete_group(9)), |(name, deleted)| {
        assert_eq!(name, "crm-openai-cn-kimi-subscription");
        deleted.unwrap();
    };
}

// ---------------------------------------------------------------------------
// Channels and plans

fn kimi_channel() -> NewChannel {
    let mut mapping = ChannelModelMapping::new();
    mapping.insert(
        "openai".into(),
        [("kimi 2.6".to_owned(), "kimi-k2.6".to_owned())]
            .into_iter()
            .collect(),
    );
    NewChannel {
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
    }
}

fn kimi_plan() -> NewPlan {
    NewPlan {
        group_id: 9,
        name: "Kimi monthly".into(),
        description: Some("managed".into()),
        price: 39.0,
        original_price: Some(59.0),
        validity_days: 30,
        validity_unit: "day".into(),
        for_sale: Some(true),
    }
}

contract_cases! {
    list_channels_by_name: [
        get("/api/v1/admin/channels")
            .query("search", "crm-openai-cn-deepseek")
            .ok("channels_list.json"),
    ] => |c| c.list_channels(Some("crm-openai-cn-deepseek")).unwrap(), |chans| {
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
    };

    create_update_delete_channel: [
        post("/api/v1/admin/channels")
            .json(json!({
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
            }))
            .ok("channel_create.json"),
        put("/api/v1/admin/channels/4")
            .json(json!({"group_ids": [9, 10], "restrict_models": false}))
            .ok("channel_create.json"),
        delete("/api/v1/admin/channels/4").answer_text(
            200,
            r#"{"code":0,"message":"success","data":{"message":"Channel deleted successfully"}}"#,
        ),
    ] => |c| {
        let created = c.create_channel(&kimi_channel()).unwrap();
        let updated = c.update_channel(
            4,
            &ChannelUpdate {
                group_ids: Some(vec![9, 10]),
                restrict_models: Some(false),
                ..ChannelUpdate::default()
            },
        );
        (created, updated, c.delete_channel(4))
    }, |(created, updated, deleted)| {
        assert_eq!(created.id, 4);
        updated.unwrap();
        deleted.unwrap();
    };

    plans_list_is_a_bare_array_and_create_answers_201: [
        get("/api/v1/admin/payment/plans").ok("plans_list.json"),
        post("/api/v1/admin/payment/plans")
            .json(json!({
                "group_id": 9, "name": "Kimi monthly", "description": "managed",
                "price": 39.0, "original_price": 59.0, "validity_days": 30,
                "validity_unit": "day", "for_sale": true
            }))
            .answer(201, "plan_create.json"),
        put("/api/v1/admin/payment/plans/5")
            .json(json!({"for_sale": false}))
            .ok("plan_create.json"),
        delete("/api/v1/admin/payment/plans/5")
            .answer_text(200, r#"{"code":0,"message":"success","data":{"message":"deleted"}}"#),
    ] => |c| {
        let plans = c.list_plans().unwrap();
        let created = c.create_plan(&kimi_plan()).unwrap();
        let updated = c.update_plan(
            5,
            &PlanUpdate {
                for_sale: Some(false),
                ..PlanUpdate::default()
            },
        );
        (plans, created, updated, c.delete_plan(5))
    }, |(plans, p, updated, deleted)| {
        assert_eq!(plans.len(), 2);
        assert_eq!(plans[1].description, "", "omitted zero values default");
        assert!(!plans[1].for_sale);
        assert_eq!(plans[0].validity_unit, "month");
        assert_eq!(p.id, 5);
        assert_eq!(p.original_price, Some(59.0));
        updated.unwrap();
        deleted.unwrap();
    };
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

fn account_update() -> AccountUpdate {
    let mut extra = serde_json::Map::new();
    extra.insert(
        "openai_responses_mode".into(),
        json!("force_chat_completions"),
    );
    extra.insert("openai_responses_supported".into(), json!(false));
    extra.insert("base_rpm".into(), json!(60));
    AccountUpdate {
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
    }
}

/// The account test of account `id` with `deepseek-chat`, answered with the stream
/// sample `fixture` under `content_type`.
fn account_test(id: i64, fixture: &str, content_type: &str) -> Exchange {
    post(format!("/api/v1/admin/accounts/{id}/test"))
        .admin_key()
        .json(json!({"model_id": "deepseek-chat"}))
        .reply_header("cache-control", "no-cache")
        .stream(fixture, content_type)
}

const ACCOUNT_NOT_FOUND: &str =
    r#"{"code":404,"message":"account not found","reason":"ACCOUNT_NOT_FOUND"}"#;

contract_cases! {
    create_account_sends_idempotency_key_and_reads_redacted_credentials: [
        post("/api/v1/admin/accounts")
            .admin_key()
            .header("Idempotency-Key", "crm-batch-1-3f9a0c12")
            .json(new_account_json())
            .ok("account_create.json"),
    ] => |c| c.create_account(&new_account(), Some("crm-batch-1-3f9a0c12")).unwrap(), |a| {
        assert_eq!(a.id, 41);
        assert_eq!(a.account_type, "apikey");
        assert!(a.credential_status.has_api_key);
        assert_eq!(a.base_url.as_deref(), Some("https://api.deepseek.com/v1"));
        assert_eq!(a.model_mapping.len(), 2);
        assert_eq!(a.group_ids, vec![7]);
        assert_eq!(a.extra["openai_responses_mode"], "force_chat_completions");
        assert_eq!(a.error_message, None);
        assert!(a.schedulable);
    };

    create_account_without_idempotency_key_sends_no_header: [
        post("/api/v1/admin/accounts").without("Idempotency-Key").ok("account_create.json"),
    ] => |c| c.create_account(&new_account(), None), |r| { r.unwrap(); };

    errors_never_echo_the_upstream_key: [
        post("/api/v1/admin/accounts").answer(500, "error_internal.json"),
    ] => |c| c.create_account(&new_account(), None).unwrap_err(), |err| {
        assert!(!format!("{err} {err:?}").contains(UPSTREAM_KEY));
        assert!(!format!("{:?}", new_account()).contains(UPSTREAM_KEY));
    };

    batch_create_accounts: [
        post("/api/v1/admin/accounts/batch")
            .header("Idempotency-Key", "crm-batch-1")
            .json(json!({"accounts": [new_account_json()]}))
            .ok("account_batch.json"),
    ] => |c| c.create_accounts_batch(&[new_account()], Some("crm-batch-1")).unwrap(), |r| {
        assert_eq!((r.success, r.failed), (1, 1));
        assert_eq!(r.results[0].id, Some(41));
        assert!(!r.results[1].success);
        assert_eq!(
            r.results[1].error.as_deref(),
            Some("ent: constraint failed: pq: insert or update on table \"account_groups\" violates foreign key constraint \"account_groups_group_id_fkey\"")
        );
        assert!(!r.replayed);
    };

    get_account_round_trips_extra_and_state: [
        get("/api/v1/admin/accounts/41").ok("account_get.json"),
    ] => |c| c.get_account(41).unwrap(), |a| {
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
    };

    old_build_accounts_with_raw_credentials_are_redacted: [
        get("/api/v1/admin/accounts/12").ok("account_old_build.json"),
    ] => |c| c.get_account(12).unwrap(), |a| {
        assert!(a.credential_status.has_api_key);
        assert!(!a.credentials.contains_key("api_key"));
        assert!(!format!("{a:?}").contains("sk-legacy-plaintext"));
    };

    list_accounts_by_prefix_and_group: [
        get("/api/v1/admin/accounts")
            .query("search", "deepseek-")
            .query("group", "7")
            .query("page", "1")
            .query("page_size", "100")
            .ok("accounts_list.json"),
    ] => |c| c.list_accounts(&AccountFilter {
        name_prefix: Some("deepseek-".into()),
        group_id: Some(7),
        platform: None,
    }).unwrap(), |accounts| {
        let ids: Vec<_> = accounts.iter().map(|a| a.id).collect();
        assert_eq!(
            ids,
            vec![41, 42],
            "'my-deepseek-manual' only contains the prefix"
        );
    };

    update_account_sends_whole_extra_and_keeps_key_out_when_absent: [
        put("/api/v1/admin/accounts/41").json(json!({
            "credentials": {"base_url": "https://api.deepseek.com/v1", "model_mapping": {"deepseek-chat": "deepseek-chat"}},
            "extra": {"openai_responses_mode": "force_chat_completions", "openai_responses_supported": false, "base_rpm": 60},
            "group_ids": [7, 8],
            "status": "active"
        })).ok("account_get.json"),
    ] => |c| c.update_account(41, &account_update()), |r| { r.unwrap(); };

    /// The real host's clear-error leaves an account it had put into `error` out of
    /// scheduling (`schedulable: false`, captured from 0.1.179); the adapter then calls
    /// `POST /accounts/:id/schedulable` so a cleared account serves again.
    clear_error_puts_the_account_back_into_scheduling: [
        post("/api/v1/admin/accounts/13/clear-error")
            .admin_key()
            .ok("account_clear_error_unschedulable.json"),
        post("/api/v1/admin/accounts/13/schedulable")
            .admin_key()
            .json(json!({"schedulable": true}))
            .ok("account_set_schedulable.json"),
    ] => |c| c.clear_account_error(13).unwrap(), |a| {
        assert_eq!((a.status.as_str(), a.schedulable), ("active", true));
        assert_eq!(a.error_kind(), None);
    };

    clear_error_and_temp_unschedulable: [
        post("/api/v1/admin/accounts/41/clear-error").admin_key().ok("account_create.json"),
        delete("/api/v1/admin/accounts/41/temp-unschedulable").ok("account_clear_temp.json"),
        delete("/api/v1/admin/accounts/42/temp-unschedulable").answer(404, "error_plain_404.txt"),
        delete("/api/v1/admin/accounts/43/temp-unschedulable").answer_text(404, ACCOUNT_NOT_FOUND),
    ] => |c| (
        c.clear_account_error(41).unwrap(),
        c.clear_account_temp_unschedulable(41),
        c.clear_account_temp_unschedulable(42),
        c.clear_account_temp_unschedulable(43),
    ), |(cleared, temp, old, gone)| {
        assert_eq!(cleared.status, "active");
        assert!(temp.unwrap());
        assert!(!old.unwrap(), "old host: no route");
        assert!(gone.unwrap_err().is_not_found());
    };

    delete_account: [
        delete("/api/v1/admin/accounts/41").ok("delete_ok.json"),
    ] => |c| c.delete_account(41), |r| r.unwrap();

    account_models_reads_ids_only: [
        get("/api/v1/admin/accounts/41/models").ok("account_models.json"),
    ] => |c| c.account_models(41).unwrap(), |models| assert_eq!(
        models,
        vec!["deepseek-chat", "deepseek-reasoner"]
    );

    account_test_success: [
        account_test(41, "sse/account_test_success.txt", "text/event-stream"),
    ] => |c| c.test_account(41, Some("deepseek-chat")).unwrap(), |r| {
        assert_eq!(r.outcome, ProbeOutcome::Passed);
        assert_eq!(r.model_tested.as_deref(), Some("deepseek-chat"));
        assert_eq!(r.content_preview, "pong");
        assert_eq!(r.http_status, None);
    };

    account_test_failure_keeps_the_host_message: [
        account_test(41, "sse/account_test_failure.txt", "text/event-stream"),
    ] => |c| c.test_account(41, Some("deepseek-chat")).unwrap(), |r| {
        assert_eq!(r.outcome, ProbeOutcome::Failed);
        assert_eq!(r.message, "API returned 403: Forbidden");
        assert_eq!(r.http_status, Some(403));
    };

    /// Accounts the real host put into `error` after an upstream 402 (gateway) and 401
    /// (Chat Completions account test): the reason is typed, the key never returned.
    account_error_kinds_from_the_real_host: [
        get("/api/v1/admin/accounts/34").ok("account_error_quota.json"),
        get("/api/v1/admin/accounts/2").ok("account_error_key_invalid.json"),
    ] => |c| (c.get_account(34).unwrap(), c.get_account(2).unwrap()), |(quota, invalid)| {
        assert_eq!(quota.status, "error");
        assert!(!quota.schedulable);
        assert_eq!(quota.error_kind(), Some(AccountErrorKind::QuotaExhausted));
        assert!(!quota.takes_responses_path());
        assert!(quota.credential_status.has_api_key);
        assert_eq!(invalid.error_kind(), Some(AccountErrorKind::KeyInvalid));
        // The host's probe flag says "supported", but the forced mode wins.
        assert_eq!(
            invalid.extra.get("openai_responses_supported"),
            Some(&json!(true))
        );
        assert!(!invalid.takes_responses_path());
    };

    /// A `deepseek` account the real host (0.1.179) benched after a vendor 402 through the
    /// gateway: active and schedulable, temp-unschedulable with `cn_balance_low: …`, the
    /// host's own `extra` (no Responses path whatever it says), the key never returned.
    a_native_account_benched_for_a_low_balance_from_the_real_host: [
        get("/api/v1/admin/accounts/2").ok("account_cn_balance_low.json"),
    ] => |c| c.get_account(2).unwrap(), |a| {
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
    };

    account_test_truncated_stream_is_a_failure: [
        account_test(41, "sse/account_test_truncated.txt", "text/event-stream"),
    ] => |c| c.test_account(41, Some("deepseek-chat")).unwrap(), |r| {
        assert_eq!(r.outcome, ProbeOutcome::Failed);
        assert_eq!(r.message, STREAM_ENDED_WITHOUT_RESULT);
        assert_eq!(r.content_preview, "po");
    };

    account_test_error_line_without_sse_content_type: [
        account_test(99, "sse/account_test_not_found.txt", "text/plain; charset=utf-8"),
    ] => |c| c.test_account(99, Some("deepseek-chat")).unwrap(), |r| {
        assert_eq!(r.outcome, ProbeOutcome::Failed);
        assert_eq!(r.message, "Account not found");
    };

    account_test_without_model_sends_an_empty_object: [
        post("/api/v1/admin/accounts/41/test")
            .json(json!({}))
            .stream("sse/account_test_success.txt", "text/event-stream"),
    ] => |c| c.test_account(41, None).unwrap().outcome, |outcome| assert_eq!(
        outcome,
        ProbeOutcome::Passed
    );

    account_test_bad_id_is_an_envelope_error: [
        post("/api/v1/admin/accounts/0/test")
            .answer_text(400, r#"{"code":400,"message":"Invalid account ID"}"#),
    ] => |c| c.test_account(0, None).unwrap_err(), |err| assert!(
        matches!(err, HostError::Host { status: 400, .. }),
        "{err:?}"
    );
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
        let r = run([account_test(41, fixture, "text/event-stream")], |c| {
            c.test_account(41, Some("deepseek-chat")).unwrap()
        });
        assert_eq!(r.outcome, ProbeOutcome::Failed, "{fixture}");
        assert_eq!(r.http_status, *status, "{fixture}");
        assert!(r.message.starts_with(prefix), "{fixture}: {}", r.message);
        assert_eq!(r.model_tested.as_deref(), Some("deepseek-chat"));
        assert_eq!(r.content_preview, "", "{fixture}");
    }
}

// ---------------------------------------------------------------------------
// Users

const EMPTY_USER_PAGE: &str = r#"{"code":0,"message":"success","data":{"items":[],"total":0,"page":1,"page_size":100,"pages":1}}"#;

fn kimi_user() -> NewUser {
    NewUser {
        email: "probe+kimi@relay.example".into(),
        password: Secret::new("generated-Pa55word"),
        username: Some("relay-probe-kimi".into()),
        notes: None,
        balance: None,
        concurrency: None,
        allowed_groups: vec![9],
    }
}

contract_cases! {
    find_user_by_email_matches_exactly: [
        get("/api/v1/admin/users")
            .query("search", "probe+deepseek@relay.example")
            .ok("users_list.json"),
        get("/api/v1/admin/users")
            .query("search", "nobody@relay.example")
            .answer_text(200, EMPTY_USER_PAGE),
    ] => |c| (
        c.find_user_by_email("probe+deepseek@relay.example").unwrap().unwrap(),
        c.find_user_by_email("nobody@relay.example").unwrap(),
    ), |(u, none)| {
        assert_eq!(u.id, 21);
        assert_eq!(u.allowed_groups, vec![7]);
        assert_eq!(none, None);
    };

    create_update_balance_delete_user: [
        post("/api/v1/admin/users")
            .json(json!({
                "email": "probe+kimi@relay.example",
                "password": "generated-Pa55word",
                "username": "relay-probe-kimi",
                "allowed_groups": [9]
            }))
            .ok("user_create.json"),
        put("/api/v1/admin/users/23")
            .json(json!({"allowed_groups": [9, 10]}))
            .ok("user_create.json"),
        post("/api/v1/admin/users/23/balance")
            .header("Idempotency-Key", "bal-1")
            .json(json!({"balance": 5.0, "operation": "set", "notes": "relay probe"}))
            .ok("user_create.json"),
        delete("/api/v1/admin/users/23").answer_text(
            200,
            r#"{"code":0,"message":"success","data":{"message":"User deleted successfully"}}"#,
        ),
    ] => |c| {
        let created = c.create_user(&kimi_user()).unwrap();
        let updated = c.update_user(
            23,
            &UserUpdate {
                allowed_groups: Some(vec![9, 10]),
                ..UserUpdate::default()
            },
        );
        let balance = c.set_user_balance(
            23,
            &BalanceChange {
                amount: 5.0,
                operation: BalanceOperation::Set,
                notes: Some("relay probe".into()),
            },
            Some("bal-1"),
        );
        (created, updated, balance, c.delete_user(23))
    }, |(u, updated, balance, deleted)| {
        assert_eq!(u.id, 23);
        assert_eq!(u.role, "user");
        updated.unwrap();
        balance.unwrap();
        deleted.unwrap();
    };

    admin_lists_a_users_keys: [
        get("/api/v1/admin/users/23/api-keys").admin_key().ok("keys_list.json"),
    ] => |c| c.list_user_keys_admin(23).unwrap(), |keys| {
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0].key.expose(), USER_KEY);
        assert_eq!(keys[0].group_id, Some(9));
        assert_eq!(keys[1].group_id, None);
        assert!(!format!("{keys:?}").contains(USER_KEY));
    };

    admin_lists_a_groups_keys_with_their_values: [
        get("/api/v1/admin/groups/9/api-keys")
            .query("page", "1")
            .admin_key()
            .ok("group_keys_list.json"),
    ] => |c| c.list_group_keys(9).unwrap(), |keys| {
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0].id, 61);
        assert_eq!(keys[0].user_id, 23);
        assert_eq!(keys[0].key.expose(), USER_KEY);
        assert_eq!(keys[0].status, "active");
        assert!(keys.iter().all(|k| k.group_id == Some(9)));
        assert_eq!(keys[1].user_id, 31);
        assert_eq!(keys[1].status, "inactive");
        assert!(!format!("{keys:?}").contains(USER_KEY));
    };

    group_keys_of_a_missing_group_is_not_found: [
        get("/api/v1/admin/groups/404/api-keys").answer(404, "error_group_not_found.json"),
    ] => |c| c.list_group_keys(404).unwrap_err(), |err| {
        assert!(err.is_not_found(), "{err:?}");
        assert_eq!(err.code().as_deref(), Some("GROUP_NOT_FOUND"));
    };
}

// ---------------------------------------------------------------------------
// Login and user keys

/// The user login of `probe+kimi@relay.example`, answered `status` with `fixture`.
fn user_login(status: u16, fixture: &str) -> Exchange {
    post("/api/v1/auth/login")
        .without("x-api-key")
        .json(json!({"email": "probe+kimi@relay.example", "password": "generated-Pa55word"}))
        .answer(status, fixture)
}

fn login(c: &Sub2ApiClient) -> LoginOutcome {
    c.login_user(
        "probe+kimi@relay.example",
        &Secret::new("generated-Pa55word"),
    )
    .unwrap()
}

fn session() -> UserSession {
    UserSession {
        user_id: 23,
        email: "probe+kimi@relay.example".into(),
        access_token: Secret::new(USER_JWT),
        expires_in: None,
    }
}

fn probe_key() -> NewUserKey {
    NewUserKey {
        name: "relay-probe".into(),
        group_id: 9,
        custom_key: Some(Secret::new(USER_KEY)),
    }
}

fn bearer_jwt() -> String {
    format!("Bearer {USER_JWT}")
}

contract_cases! {
    login_returns_a_session: [
        user_login(200, "login_ok.json"),
    ] => login, |outcome| {
        let LoginOutcome::LoggedIn(session) = outcome else {
            panic!("expected a session");
        };
        assert_eq!(session.user_id, 23);
        assert_eq!(session.access_token.expose(), USER_JWT);
        assert_eq!(session.expires_in, Some(86400));
        assert!(!format!("{session:?}").contains(USER_JWT));
    };

    user_keys_use_the_user_session: [
        post("/api/v1/keys")
            .header("authorization", bearer_jwt())
            .header("idempotency-key", "crm-key-23-9-abc")
            .without("x-api-key")
            .json(json!({"name": "relay-probe", "group_id": 9, "custom_key": USER_KEY}))
            .ok("key_create.json"),
        get("/api/v1/keys").header("authorization", bearer_jwt()).ok("keys_list.json"),
        delete("/api/v1/keys/62").header("authorization", bearer_jwt()).answer_text(
            200,
            r#"{"code":0,"message":"success","data":{"message":"API key deleted successfully"}}"#,
        ),
    ] => |c| {
        let s = session();
        (
            c.create_user_key(&s, &probe_key(), Some("crm-key-23-9-abc")).unwrap(),
            c.list_user_keys(&s).unwrap().len(),
            c.delete_user_key(&s, 62),
        )
    }, |(k, listed, deleted)| {
        assert_eq!(k.id, 61);
        assert_eq!(k.key.expose(), USER_KEY);
        assert_eq!(k.group_id, Some(9));
        assert_eq!(listed, 2);
        deleted.unwrap();
    };

    expired_user_session_is_unauthorized: [
        get("/api/v1/keys")
            .answer_text(401, r#"{"code":"TOKEN_EXPIRED","message":"Token has expired"}"#),
    ] => |c| c.list_user_keys(&session()).unwrap_err(), |err| {
        assert!(matches!(&err, HostError::Unauthorized(d) if d.has_code("TOKEN_EXPIRED")));
        assert!(!err.to_string().contains(USER_JWT));
    };
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
        // A 503 is retried as a read would be: the row claims no call count.
        let outcome = run([user_login(status, fixture).any_calls()], login);
        assert_eq!(outcome, LoginOutcome::Blocked(expected), "{fixture}");
    }
    let outcome = run(
        [post("/api/v1/auth/login").answer_text(
            403,
            r#"{"code":403,"message":"user is not active","reason":"USER_NOT_ACTIVE"}"#,
        )],
        login,
    );
    assert_eq!(outcome, LoginOutcome::Blocked(LoginBlocked::UserNotActive));
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

contract_cases! {
    assign_subscription: [
        post("/api/v1/admin/subscriptions/assign")
            .json(json!({"user_id": 23, "group_id": 9, "validity_days": 30, "notes": "relay-manager"}))
            .ok("subscription_assign.json"),
    ] => |c| c.assign_subscription(&assignment()).unwrap(), |outcome| {
        let AssignOutcome::Assigned(s) = outcome else {
            panic!("expected assigned");
        };
        assert_eq!((s.id, s.user_id, s.group_id), (71, 23, 9));
        assert_eq!(s.status, "active");
        assert_eq!(s.expires_at.as_deref(), Some("2026-05-21T08:00:06+08:00"));
    };

    assign_subscription_conflict_carries_the_reason: [
        post("/api/v1/admin/subscriptions/assign").answer(409, "subscription_conflict.json"),
    ] => |c| c.assign_subscription(&assignment()).unwrap(), |out| assert_eq!(
        out,
        AssignOutcome::Conflict {
            reason: "validity_days_mismatch".into(),
            message: "subscription already exists with different validity".into(),
        }
    );

    list_and_revoke_subscriptions: [
        get("/api/v1/admin/subscriptions")
            .query("user_id", "23")
            .query("group_id", "9")
            .ok("subscriptions_list.json"),
        delete("/api/v1/admin/subscriptions/71").answer_text(
            200,
            r#"{"code":0,"message":"success","data":{"message":"Subscription revoked successfully"}}"#,
        ),
    ] => |c| (
        c.list_subscriptions(&SubscriptionFilter {
            user_id: Some(23),
            group_id: Some(9),
        }).unwrap(),
        c.revoke_subscription(71),
    ), |(subs, revoked)| {
        // The revoked row (id 70) the host still lists is left out.
        assert_eq!(subs.len(), 1, "{subs:?}");
        assert_eq!(subs[0].id, 71);
        assert_eq!(subs[0].notes.as_deref(), Some("relay-manager"));
        revoked.unwrap();
    };

    revoked_subscriptions_are_left_out_of_lists: [
        // The host's admin list shows a revoked (soft-deleted) subscription with status
        // `revoked` next to the live one that replaced it.
        get("/api/v1/admin/subscriptions").ok("subscriptions_list_revoked.json"),
    ] => |c| c.list_subscriptions(&SubscriptionFilter {
        user_id: Some(23),
        group_id: None,
    }).unwrap(), |subs| {
        assert_eq!(subs.len(), 1, "{subs:?}");
        assert_eq!(subs[0].status, "active");
    };
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

fn bearer_key() -> String {
    format!("Bearer {USER_KEY}")
}

contract_cases! {
    gateway_models_with_a_bearer_key: [
        get("/v1/models")
            .header("authorization", bearer_key())
            .without("x-api-key")
            .ok("gateway_models.json"),
    ] => |c| c.gateway_models(&Secret::new(USER_KEY)).unwrap(), |p| {
        assert_eq!(p.http_status, 200);
        assert!(p.lists("deepseek-chat"));
        assert!(!p.lists("kimi-k2.6"));
    };

    gateway_models_error_is_data: [
        get("/v1/models").answer(401, "gateway_error_invalid_key.json"),
    ] => |c| c.gateway_models(&Secret::new("sk-unknown")).unwrap(), |p| {
        assert_eq!(p.http_status, 401);
        assert_eq!(p.error.unwrap().code.as_deref(), Some("INVALID_API_KEY"));
    };

    gateway_chat_sends_a_tiny_pong_request: [
        post("/v1/chat/completions")
            .header("authorization", bearer_key())
            .json(json!({
                "model": "deepseek-chat",
                "messages": [{"role": "user", "content": "reply with pong only"}],
                "max_tokens": 8
            }))
            .ok("gateway_chat.json"),
    ] => |c| c.gateway_chat(&Secret::new(USER_KEY), &chat(false)).unwrap(), |p| {
        assert!(p.ok);
        assert_eq!(p.http_status, 200);
        assert_eq!(p.preview, "pong");
        assert_eq!(p.model.as_deref(), Some("deepseek-chat"));
        assert!(p.error.is_none());
    };

    gateway_chat_429_keeps_its_retry_after_for_the_caller: [
        post("/v1/chat/completions")
            .reply_header("Retry-After", "7")
            .answer(429, "gateway_error_upstream_rate_limited.json")
            .calls(1),
    ] => |c| c.gateway_chat(&Secret::new(USER_KEY), &chat(false)).unwrap(), |p| {
        assert!(!p.ok);
        assert_eq!(p.http_status, 429);
        assert_eq!(p.retry_after, Some(Duration::from_secs(7)));
    };

    gateway_chat_stream_to_done: [
        post("/v1/chat/completions")
            .json(json!({
                "model": "deepseek-chat",
                "messages": [{"role": "user", "content": "reply with pong only"}],
                "max_tokens": 8,
                "stream": true
            }))
            .stream("sse/chat_stream.txt", "text/event-stream"),
    ] => |c| c.gateway_chat(&Secret::new(USER_KEY), &chat(true)).unwrap(), |p| {
        assert!(p.ok);
        assert_eq!(p.preview, "pong");
        assert!(p.error.is_none());
    };

    gateway_chat_stream_error_event: [
        post("/v1/chat/completions").stream("sse/chat_stream_error.txt", "text/event-stream"),
    ] => |c| c.gateway_chat(&Secret::new(USER_KEY), &chat(true)).unwrap(), |p| {
        assert!(!p.ok);
        assert_eq!(p.http_status, 200);
        assert_eq!(
            p.error.unwrap().error_type.as_deref(),
            Some("upstream_error")
        );
    };

    probe_gateway_is_ready_only_with_model_and_completion: [
        get("/v1/models").ok("gateway_models.json"),
        post("/v1/chat/completions").answer(503, "gateway_error_no_accounts.json"),
    ] => |c| c.probe_gateway(&Secret::new(USER_KEY), &chat(false)).unwrap(), |p| {
        assert!(p.models.lists("deepseek-chat"));
        assert!(!p.is_ready("deepseek-chat"), "models-only is never ready");
    };
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
        let p = run(
            [post("/v1/chat/completions")
                .answer(status, fixture)
                .calls(1)],
            |c| {
                c.gateway_chat(&Secret::new(USER_KEY), &chat(false))
                    .unwrap()
            },
        );
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
        let p = run(
            [post("/v1/chat/completions")
                .reply_header("content-type", "application/json; charset=utf-8")
                .answer(status, fixture)],
            |c| {
                c.gateway_chat(&Secret::new(USER_KEY), &chat(false))
                    .unwrap()
            },
        );
        assert_eq!(p.failure(), Some(failure), "{fixture}");
        assert!(!p.error.expect(fixture).message.is_empty());
    }
    // The same 403 on `/v1/models` (the middleware runs first there too).
    let m = run(
        [get("/v1/models").answer(403, "gateway_error_subscription_not_found.json")],
        |c| c.gateway_models(&Secret::new(USER_KEY)).unwrap(),
    );
    assert_eq!(m.failure(), Some(GatewayFailure::SubscriptionMissing));
    assert!(m.models.is_empty());
}

// ---------------------------------------------------------------------------
// Retries, rate limits, admin login

const UNAVAILABLE: &str = r#"{"code":503,"message":"service unavailable"}"#;

contract_cases! {
    idempotent_reads_are_retried_on_503: [
        get("/api/v1/admin/groups/9").answer_text(503, UNAVAILABLE).calls(3),
    ] => |c| c.get_group(9).unwrap_err(), |err| {
        assert!(matches!(err, HostError::Host { status: 503, .. }));
        assert!(err.is_transient());
    };

    writes_are_never_retried: [
        post("/api/v1/admin/accounts").answer_text(503, UNAVAILABLE).calls(1),
        put("/api/v1/admin/groups/9").answer_text(502, "bad gateway").calls(1),
    ] => |c| (
        c.create_account(&new_account(), Some("k")).unwrap_err(),
        c.update_group(9, &GroupUpdate::default()),
    ), |(err, put)| {
        assert_eq!(err.status(), Some(503));
        put.unwrap_err();
    };

    long_retry_after_is_not_waited_out: [
        get("/api/v1/admin/system/version")
            .reply_header("Retry-After", "120")
            .answer(429, "error_rate_limited.json")
            .calls(1),
    ] => |c| {
        let started = Instant::now();
        (c.version().unwrap_err(), started.elapsed())
    }, |(err, elapsed)| {
        assert!(elapsed < Duration::from_secs(5));
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
    };

    write_rate_limit_is_returned_not_retried: [
        post("/api/v1/admin/subscriptions/assign")
            .reply_header("Retry-After", "1")
            .answer(429, "error_rate_limited.json")
            .calls(1),
    ] => |c| c.assign_subscription(&assignment()).unwrap_err(), |err| assert!(
        matches!(err, HostError::RateLimited { .. })
    );

    the_adapter_is_usable_as_a_shared_trait_object: [
        get("/api/v1/admin/system/version").ok("version.json").calls(4),
    ] => |c| {
        let adapter: &dyn HostAdapter = c;
        thread::scope(|s| {
            let handles: Vec<_> = (0..4).map(|_| s.spawn(|| adapter.version())).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect::<Vec<_>>()
        })
    }, |versions| {
        for v in versions {
            assert_eq!(v.unwrap(), "0.1.131");
        }
    };
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
    let login = post("/api/v1/auth/login")
        .json(json!({"email": "admin@relay.example", "password": "admin-Pa55"}))
        .answer_text(200, admin_login_body("jwt-cached"))
        .mount(&server);
    let ok = get("/api/v1/admin/system/version")
        .header("authorization", "Bearer jwt-cached")
        .ok("version.json")
        .mount(&server);
    let refused = get("/api/v1/admin/groups/1")
        .header("authorization", "Bearer jwt-cached")
        .answer_text(
            401,
            r#"{"code":"TOKEN_REVOKED","message":"Token has been revoked"}"#,
        )
        .mount(&server);
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

// ---------------------------------------------------------------------------
// Idempotency (real host 0.1.179: `service/idempotency.go`, verified on a running host)

contract_cases! {
    a_retry_backoff_is_a_pending_error_with_its_retry_after: [
        post("/api/v1/admin/accounts")
            .header("Idempotency-Key", "k-1")
            .reply_header("Retry-After", "4")
            .reply_header("content-type", "application/json; charset=utf-8")
            .answer(409, "error_idempotency_backoff.json")
            .calls(1),
    ] => |c| c.create_account(&new_account(), Some("k-1")).unwrap_err(), |err| {
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
    };

    an_in_progress_answer_without_header_takes_the_metadata_retry_after: [
        post("/api/v1/admin/accounts/batch").answer(409, "error_idempotency_in_progress.json"),
    ] => |c| c.create_accounts_batch(&[new_account()], Some("k-2")).unwrap_err(), |err| assert!(matches!(
        &err,
        HostError::IdempotencyPending { retry_after: Some(d), detail }
            if *d == Duration::from_secs(29) && detail.has_code(IDEMPOTENCY_IN_PROGRESS)
    ));

    a_missing_key_and_a_reused_key_are_refusals: [
        post("/api/v1/admin/accounts")
            .without("Idempotency-Key")
            .answer(400, "error_idempotency_required.json"),
        post("/api/v1/admin/accounts")
            .header("Idempotency-Key", "reused")
            .answer(409, "error_idempotency_conflict.json"),
    ] => |c| (
        c.create_account(&new_account(), None).unwrap_err(),
        c.create_account(&new_account(), Some("reused")).unwrap_err(),
    ), |(missing, reused)| {
        assert!(
            matches!(&missing, HostError::Host { status: 400, code: Some(c), .. } if c == IDEMPOTENCY_KEY_REQUIRED)
        );
        assert!(!missing.is_transient());
        assert!(matches!(&reused, HostError::Conflict(d) if d.has_code(IDEMPOTENCY_KEY_CONFLICT)));
        assert!(!reused.is_transient());
    };

    a_replayed_account_create_returns_the_account_as_it_is_now: [
        post("/api/v1/admin/accounts")
            .header("Idempotency-Key", "k-replay")
            .reply_header("X-Idempotency-Replayed", "true")
            .answer(200, "account_create.json"),
        get("/api/v1/admin/accounts/41").ok("account_get.json"),
    ] => |c| c.create_account(&new_account(), Some("k-replay")).unwrap(), |a| {
        assert_eq!(a.id, 41);
        assert_eq!(
            a.status, "error",
            "the current state, not the stored answer"
        );
    };

    a_replayed_create_of_a_deleted_account_needs_a_new_key: [
        post("/api/v1/admin/accounts")
            .reply_header("X-Idempotency-Replayed", "true")
            .answer(200, "account_create.json"),
        get("/api/v1/admin/accounts/41").answer_text(404, ACCOUNT_NOT_FOUND),
    ] => |c| c.create_account(&new_account(), Some("k-old")).unwrap_err(), |err| assert!(
        matches!(&err, HostError::Conflict(d) if d.has_code(REPLAYED_OBJECT_GONE))
    );

    a_replayed_balance_change_reads_the_current_balance: [
        post("/api/v1/admin/users/23/balance")
            .header("Idempotency-Key", "bal-7")
            .json(json!({"balance": 1.0, "operation": "set", "notes": "n"}))
            .reply_header("X-Idempotency-Replayed", "true")
            .answer_text(200, r#"{"code":0,"message":"success","data":{"id":23,"email":"probe+kimi@relay.example","role":"user","balance":1,"status":"active"}}"#),
        get("/api/v1/admin/users/23").ok("user_create.json"),
    ] => |c| c.set_user_balance(
        23,
        &BalanceChange {
            amount: 1.0,
            operation: BalanceOperation::Set,
            notes: Some("n".into()),
        },
        Some("bal-7"),
    ).unwrap(), |u| assert_eq!(u.balance, 0.0, "the balance now, not the replayed one");

    a_replayed_user_key_create_reads_the_key_with_the_session: [
        post("/api/v1/keys")
            .header("idempotency-key", "crm-key-1")
            .reply_header("X-Idempotency-Replayed", "true")
            .answer(200, "key_create.json"),
        get("/api/v1/keys/61").header("authorization", bearer_jwt()).ok("key_create.json"),
    ] => |c| c.create_user_key(&session(), &probe_key(), Some("crm-key-1")).unwrap(), |k| assert_eq!(
        (k.id, k.key.expose()),
        (61, USER_KEY)
    );

    batch_item_errors_are_the_hosts_text_and_the_legacy_placeholder_is_unsupported: [
        post("/api/v1/admin/accounts/batch")
            .header("Idempotency-Key", "new")
            .reply_header("X-Idempotency-Replayed", "true")
            .answer(200, "account_batch.json"),
        post("/api/v1/admin/accounts/batch")
            .header("Idempotency-Key", "old")
            .ok("account_batch_legacy.json"),
    ] => |c| (
        c.create_accounts_batch(&[new_account(), new_account()], Some("new")).unwrap(),
        c.create_accounts_batch(&[new_account()], Some("old")).unwrap_err(),
    ), |(r, err)| {
        assert!(r.replayed);
        assert_eq!(r.results[0].id, Some(41));
        assert!(r.results[1]
            .error
            .as_deref()
            .unwrap()
            .contains("account_groups_group_id_fkey"));
        assert!(matches!(err, HostError::UnsupportedRoute { .. }), "{err:?}");
    };

    the_failed_custom_key_limit_is_rate_limited_without_retry_after: [
        post("/api/v1/keys").answer(429, "error_api_key_rate_limited.json").calls(1),
    ] => |c| c.create_user_key(&session(), &probe_key(), Some("k")).unwrap_err(), |err| assert!(matches!(
        &err,
        HostError::RateLimited { retry_after: None, detail } if detail.has_code("API_KEY_RATE_LIMITED")
    ));
}

#[test]
fn login_waits_out_the_login_limiter() {
    let err = run(
        [post("/api/v1/auth/login")
            .body_includes("limited@relay.example")
            .reply_header("Retry-After", "61")
            .answer(429, "error_rate_limited.json")
            .calls(1)],
        |c| {
            c.login_user("limited@relay.example", &Secret::new("pw-123456"))
                .unwrap_err()
        },
    );
    assert!(
        matches!(&err, HostError::RateLimited { retry_after: Some(d), .. } if *d == Duration::from_secs(61)),
        "a wait beyond the host's 60 s window is not waited: {err:?}"
    );

    // Within the window the adapter waits and logs in (the real wait is the
    // window's rest, up to 60 s; 1 s here).
    let server = MockServer::start();
    let mut limited = post("/api/v1/auth/login")
        .reply_header("Retry-After", "1")
        .answer(429, "error_rate_limited.json")
        .mount(&server);
    let c = client(&server);
    let started = Instant::now();
    let first = thread::scope(|s| {
        let h = s.spawn(|| c.login_user("probe+kimi@relay.example", &Secret::new("pw-123456")));
        thread::sleep(Duration::from_millis(300));
        limited.delete();
        post("/api/v1/auth/login")
            .ok("login_ok.json")
            .mount(&server);
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
    let locked = under("/api/v1/admin/")
        .admin_key()
        .reply_header("content-type", "application/json; charset=utf-8")
        .answer(423, "error_compliance_required.json")
        .mount(&server);
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
    let s = run(
        [
            writes().calls(0),
            get("/api/v1/admin/compliance")
                .admin_key()
                .ok("compliance_required.json"),
        ],
        |c| c.compliance().unwrap().expect("gate present"),
    );
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

    let s = run(
        [get("/api/v1/admin/compliance").ok("compliance_accepted.json")],
        |c| c.compliance().unwrap().unwrap(),
    );
    assert!(!s.required);
    assert_eq!(s.accepted_by, Some(1));
    assert_eq!(
        s.accepted_at.as_deref(),
        Some("2026-12-04T20:21:41.752872943Z")
    );

    // Builds before the gate have no such route.
    let old = run(
        [get("/api/v1/admin/compliance").answer(404, "error_plain_404.txt")],
        |c| c.compliance().unwrap(),
    );
    assert_eq!(old, None);
}

#[test]
fn public_settings_name_a_tencent_or_aliyun_login_captcha() {
    for (flag, provider) in [
        ("tencent_captcha_enabled", "tencent"),
        ("aliyun_captcha_enabled", "aliyun"),
    ] {
        let s = run(
            [get("/api/v1/settings/public").answer_text(
                200,
                json!({"code": 0, "message": "success",
                       "data": {"version": "0.1.179", "turnstile_enabled": false, flag: true}})
                .to_string(),
            )],
            |c| c.public_settings().unwrap(),
        );
        assert_eq!(s.login_captcha.as_deref(), Some(provider));
    }
}

contract_cases! {
    schedulable_has_its_own_route: [
        post("/api/v1/admin/accounts/41/schedulable")
            .admin_key()
            .json(json!({"schedulable": false}))
            .ok("account_get.json"),
    ] => |c| c.set_account_schedulable(41, false).unwrap(), |a| assert_eq!(a.id, 41);

    recover_state_and_batch_clear_error: [
        post("/api/v1/admin/accounts/41/recover-state").admin_key().ok("account_get.json"),
        post("/api/v1/admin/accounts/42/recover-state").answer(404, "error_plain_404.txt"),
        post("/api/v1/admin/accounts/batch-clear-error")
            .json(json!({"account_ids": [41, 999]}))
            .ok("account_batch_clear_error.json")
            .calls(1),
    ] => |c| (
        c.recover_account_state(41).unwrap().id,
        c.recover_account_state(42).unwrap_err(),
        c.clear_account_errors(&[41, 999]).unwrap(),
        // Nothing to clear: no call.
        c.clear_account_errors(&[]).unwrap(),
    ), |(recovered, old, r, nothing)| {
        assert_eq!(recovered, 41);
        assert!(matches!(old, HostError::UnsupportedRoute { .. }));
        assert_eq!((r.total, r.cleared), (2, 1));
        assert_eq!(r.failed.len(), 1);
        assert_eq!(r.failed[0].0, 999);
        assert!(r.failed[0].1.contains("ACCOUNT_NOT_FOUND"));
        assert_eq!(nothing, BatchClearResult::default());
    };

    rebind_user_key_keeps_the_key_and_unescapes_its_name: [
        put("/api/v1/admin/api-keys/61")
            .admin_key()
            .json(json!({"group_id": 12}))
            .ok("key_rebind.json"),
        put("/api/v1/admin/api-keys/62").answer(400, "error_subscription_required.json"),
    ] => |c| (c.rebind_user_key(61, 12).unwrap(), c.rebind_user_key(62, 12).unwrap_err()), |(k, e)| {
        assert_eq!(k.group_id, Some(12));
        assert_eq!(k.key.expose(), USER_KEY);
        assert_eq!(
            k.name, "crm-a&b<c>\"d'e",
            "the host escapes names; the adapter reverses it"
        );
        assert_eq!(e.code().as_deref(), Some("SUBSCRIPTION_REQUIRED"));
    };

    gateway_reachability_reports_the_invalid_auth_block: [
        get("/v1/models")
            .reply_header("retry-after", "60")
            .answer(429, "gateway_error_invalid_auth_limited.json"),
        post("/v1/chat/completions")
            .answer(429, "gateway_error_invalid_auth_limited.json")
            .calls(0),
    ] => |c| c.gateway_reachability().unwrap(), |r| {
        assert!(r.invalid_auth_limited);
        assert_eq!(r.retry_after, Some(Duration::from_secs(60)));
        assert!(!r.api_key_required);
        assert_eq!(r.models_code.as_deref(), Some(INVALID_AUTH_RATE_LIMITED));
    };

    the_admin_panel_limiter_is_rate_limited_with_its_code: [
        post("/api/v1/admin/groups")
            .reply_header("retry-after", "7")
            .answer(429, "error_admin_rate_limited.json"),
    ] => |c| c.create_group(&standard_group("g")).unwrap_err(), |e| match e {
        HostError::RateLimited {
            retry_after,
            detail,
        } => {
            assert_eq!(retry_after, Some(Duration::from_secs(7)));
            assert_eq!(detail.code.as_deref(), Some("RATE_LIMITED"));
        }
        other => panic!("expected RateLimited, got {other:?}"),
    };

    a_missing_plan_is_a_bare_500_on_the_host: [
        delete("/api/v1/admin/payment/plans/77").answer(500, "error_internal.json"),
    ] => |c| c.delete_plan(77).unwrap_err(), |e| {
        assert!(!e.is_not_found());
        assert_eq!((e.status(), e.code()), (Some(500), None));
    };
}

// The vendor reads the host makes for the manager: the upstream model sync and the
// CN-provider balance (answers as sub2api 0.1.179 sends them).
contract_cases! {
    sync_upstream_models_reads_the_models_sorted: [
        post("/api/v1/admin/accounts/42/models/sync-upstream").answer_text(
            200,
            r#"{"code":0,"message":"success","data":{"models":["deepseek-v4-pro","deepseek-flash","deepseek-flash"," "]}}"#,
        ),
    ] => |c| c.sync_upstream_models(42).unwrap(), |models| {
        assert_eq!(models, vec!["deepseek-flash", "deepseek-v4-pro"]);
    };

    sync_upstream_models_of_an_unsupported_platform_is_a_400: [
        post("/api/v1/admin/accounts/42/models/sync-upstream").answer_text(
            400,
            r#"{"code":400,"message":"Unsupported platform for upstream model sync: sora"}"#,
        ),
    ] => |c| c.sync_upstream_models(42).unwrap_err(), |e| {
        assert_eq!(e.status(), Some(400));
        assert!(e.to_string().contains("Unsupported platform"), "{e}");
    };

    sync_upstream_models_of_a_failing_vendor_is_a_502: [
        post("/api/v1/admin/accounts/42/models/sync-upstream").answer_text(
            502,
            r#"{"code":502,"message":"Upstream model list request failed with HTTP 401"}"#,
        ),
    ] => |c| c.sync_upstream_models(42).unwrap_err(), |e| {
        assert_eq!(e.status(), Some(502));
    };

    sync_upstream_models_on_an_old_host_is_an_unsupported_route: [
        post("/api/v1/admin/accounts/42/models/sync-upstream")
            .reply_header("content-type", "text/plain")
            .answer(404, "error_plain_404.txt"),
    ] => |c| c.sync_upstream_models(42).unwrap_err(), |e| {
        assert!(matches!(e, HostError::UnsupportedRoute { .. }), "{e:?}");
    };

    sync_upstream_models_preview_sends_the_credentials_and_redacts_the_key: [
        post("/api/v1/admin/accounts/models/sync-upstream-preview")
            .json(json!({
                "platform": "deepseek", "type": "apikey",
                "base_url": "https://api.deepseek.com", "api_key": UPSTREAM_KEY,
            }))
            .answer_text(
                502,
                format!(r#"{{"code":502,"message":"Upstream model list request failed for {UPSTREAM_KEY}"}}"#),
            ),
    ] => |c| c.sync_upstream_models_preview(&UpstreamModelsPreview {
        platform: Platform::Deepseek,
        account_type: "apikey".into(),
        base_url: "https://api.deepseek.com".into(),
        api_key: Secret::new(UPSTREAM_KEY),
    }).unwrap_err(), |e| {
        assert_eq!(e.status(), Some(502));
        assert!(!e.to_string().contains(UPSTREAM_KEY), "{e}");
    };

    account_balance_reads_every_currency: [
        get("/api/v1/admin/cn-providers/accounts/7/balance").answer_text(
            200,
            r#"{"code":0,"message":"success","data":{"provider":"deepseek","success":true,"balance":110,"currency":"CNY","balances":[{"currency":"CNY","balance":110},{"currency":"USD","balance":2.5}],"available":true,"status_code":200,"fetched_at":1767225600,"persisted":true}}"#,
        ),
    ] => |c| c.account_balance(7).unwrap(), |b| {
        let balance = b.balance.expect("a balance");
        assert_eq!(balance.entries.len(), 2);
        assert_eq!((balance.entries[1].currency.as_str(), balance.entries[1].amount), ("USD", 2.5));
        assert_eq!(balance.available, Some(true));
        assert_eq!(b.vendor_status, Some(200));
        assert_eq!(b.error, None);
    };

    account_balance_refused_by_the_vendor_is_an_answer_with_its_error: [
        get("/api/v1/admin/cn-providers/accounts/7/balance").answer_text(
            200,
            r#"{"code":0,"message":"success","data":{"provider":"kimi","success":false,"balance":0,"available":true,"status_code":401,"fetched_at":1767225600,"persisted":false,"error":"Authentication failed (HTTP 401)"}}"#,
        ),
    ] => |c| c.account_balance(7).unwrap(), |b| {
        assert_eq!(b.balance, None);
        assert_eq!(b.vendor_status, Some(401));
        assert_eq!(b.error.as_deref(), Some("Authentication failed (HTTP 401)"));
    };

    account_balance_of_a_platform_without_a_route_is_a_400_with_its_code: [
        get("/api/v1/admin/cn-providers/accounts/7/balance").answer_text(
            400,
            r#"{"code":400,"message":"account is not a CN provider account","reason":"CN_BALANCE_INVALID_PLATFORM"}"#,
        ),
    ] => |c| c.account_balance(7).unwrap_err(), |e| {
        assert_eq!(e.status(), Some(400));
        assert_eq!(e.code().as_deref(), Some("CN_BALANCE_INVALID_PLATFORM"));
    };
}
