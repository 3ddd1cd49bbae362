//! The adapter's redaction step: a host (or a vendor through it) that quotes a
//! secret in its answer never gets that secret past the adapter — not in an error,
//! an account-test message, a gateway error, a batch item error or a plain-text body.

use std::time::Duration;

use httpmock::prelude::*;
use relay_domain::{mask, Secret};
use relay_sub2api::*;
use serde_json::json;

/// An admin key in a shape no pattern knows: only the client's own knowledge masks it.
const ADMIN_KEY: &str = "AdminKeyWithoutAnyKnownShape-0123456789";
const ADMIN_PASSWORD: &str = "correct horse battery staple";
/// An upstream key no pattern knows either (a GLM-style key).
const UPSTREAM_KEY: &str = "0123456789abcdef0123456789abcdef.ABCDEFGHijklmnop";
const SK_KEY: &str = "sk-0957beb1f3bdf4a9ee786475a5a168d9";
const PASSWORD: &str = "crm-476a3c4ae426f70c38f498a95be880817981ea84";
const USER_KEY: &str = "custom-user-key-without-shape-42";
const USER_JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjoyM30.c2lnbmF0dXJl";
const ADMIN_JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjoxfQ.YWRtaW4tc2lnbmF0dXJl";

fn client_with(server: &MockServer, auth: AdminAuth) -> Sub2ApiClient {
    Sub2ApiClient::new(HostConfig {
        base_url: server.base_url(),
        auth,
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(5),
        max_read_retries: 0,
    })
    .expect("client")
}

fn client(server: &MockServer) -> Sub2ApiClient {
    client_with(server, AdminAuth::ApiKey(Secret::new(ADMIN_KEY)))
}

fn account(key: &str, name: &str) -> NewAccount {
    NewAccount {
        name: name.into(),
        notes: None,
        platform: "openai".into(),
        account_type: "apikey".into(),
        credentials: AccountCredentials {
            api_key: Some(Secret::new(key)),
            base_url: Some("https://api.vendor.example/v1".into()),
            ..AccountCredentials::default()
        },
        extra: serde_json::Map::new(),
        group_ids: vec![7],
        concurrency: None,
        priority: None,
    }
}

/// Every secret of this file is absent from `text`.
fn assert_clean(text: &str) {
    for s in [
        ADMIN_KEY,
        ADMIN_PASSWORD,
        UPSTREAM_KEY,
        SK_KEY,
        PASSWORD,
        USER_KEY,
        USER_JWT,
        ADMIN_JWT,
    ] {
        assert!(!text.contains(s), "{s} leaked in: {text}");
    }
}

#[test]
fn admin_errors_quoting_the_admin_key_are_redacted() {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(POST).path("/api/v1/admin/groups");
        then.status(500).json_body(json!({
            "code": 500,
            "message": format!("db error for caller x-api-key={ADMIN_KEY}"),
            "reason": format!("KEY_{ADMIN_KEY}"),
            "metadata": {"caller": ADMIN_KEY},
        }));
    });
    let err = client(&server)
        .create_group(&NewGroup {
            name: "g".into(),
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
    let text = format!("{err} {err:?}");
    assert_clean(&text);
    assert!(text.contains(&mask(ADMIN_KEY)), "{text}");
    let detail = err.detail().expect("detail");
    assert_eq!(detail.status, 500);
    assert_eq!(detail.metadata["caller"], mask(ADMIN_KEY));
}

#[test]
fn plain_text_bodies_are_redacted_before_they_are_cut() {
    let server = MockServer::start();
    // The key straddles the 120-character cut of the excerpt: redacting after
    // cutting would leave its head behind.
    let body = format!(
        "{}rejected x-api-key {ADMIN_KEY} and {SK_KEY}",
        "x".repeat(95)
    );
    server.mock(|when, then| {
        when.method(GET).path("/api/v1/admin/system/version");
        then.status(500)
            .header("content-type", "text/plain")
            .body(body.clone());
    });
    let err = client(&server).version().unwrap_err();
    let text = err.to_string();
    assert_clean(&text);
    assert!(!text.contains("AdminKeyWithout"), "{text}");
    assert!(text.contains("rejected x-api-key Admi…"), "{text}");
}

#[test]
fn a_login_admin_password_and_its_jwt_are_redacted() {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(POST).path("/api/v1/auth/login");
        then.status(200).json_body(json!({
            "code": 0,
            "data": {"access_token": ADMIN_JWT, "refresh_token": "opaque-refresh-token-77", "user": {"id": 1, "email": "admin@example.com"}},
        }));
    });
    server.mock(|when, then| {
        when.method(GET).path("/api/v1/admin/groups/9");
        then.status(404).json_body(json!({
            "code": 404,
            "message": format!("group 9 not found (session Bearer {ADMIN_JWT}, password {ADMIN_PASSWORD}, refresh opaque-refresh-token-77)"),
        }));
    });
    let c = client_with(
        &server,
        AdminAuth::Login {
            email: "admin@example.com".into(),
            password: Secret::new(ADMIN_PASSWORD),
        },
    );
    let err = c.get_group(9).unwrap_err();
    assert!(err.is_not_found());
    let text = err.to_string();
    assert_clean(&text);
    assert!(!text.contains("opaque-refresh-token-77"), "{text}");
    assert!(text.contains(&mask(ADMIN_PASSWORD)), "{text}");
}

#[test]
fn account_create_and_update_errors_quoting_the_upstream_key_are_redacted() {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(POST).path("/api/v1/admin/accounts");
        then.status(400).json_body(json!({
            "code": 400,
            "message": format!("account validation failed: api_key {UPSTREAM_KEY} is not accepted"),
            "reason": "INVALID_CREDENTIALS",
        }));
    });
    server.mock(|when, then| {
        when.method(PUT).path("/api/v1/admin/accounts/5");
        then.status(400).json_body(json!({
            "code": 400,
            "message": format!("cannot store api_key {UPSTREAM_KEY}"),
        }));
    });
    let c = client(&server);
    let err = c
        .create_account(&account(UPSTREAM_KEY, "a-1"), Some("crm-1"))
        .unwrap_err();
    let text = err.to_string();
    assert_clean(&text);
    assert!(text.contains(&mask(UPSTREAM_KEY)), "{text}");
    assert_eq!(err.code().as_deref(), Some("INVALID_CREDENTIALS"));
    let err = c
        .update_account(
            5,
            &AccountUpdate {
                credentials: Some(AccountCredentials {
                    api_key: Some(Secret::new(UPSTREAM_KEY)),
                    ..AccountCredentials::default()
                }),
                ..AccountUpdate::default()
            },
        )
        .unwrap_err();
    assert_clean(&err.to_string());
}

#[test]
fn batch_item_errors_quoting_the_keys_are_redacted() {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(POST).path("/api/v1/admin/accounts/batch");
        then.status(200).json_body(json!({
            "code": 0,
            "data": {"success": 1, "failed": 1, "results": [
                {"name": "a-1", "id": 41, "success": true},
                {"name": "a-2", "success": false, "error": format!("api_key {UPSTREAM_KEY} is not accepted")},
            ]},
        }));
    });
    let r = client(&server)
        .create_accounts_batch(
            &[account(SK_KEY, "a-1"), account(UPSTREAM_KEY, "a-2")],
            Some("crm-batch"),
        )
        .unwrap();
    let error = r.results[1].error.clone().expect("item error");
    assert_clean(&error);
    assert_eq!(
        error,
        format!("api_key {} is not accepted", mask(UPSTREAM_KEY))
    );
}

#[test]
fn user_create_errors_quoting_the_password_are_redacted() {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(POST).path("/api/v1/admin/users");
        then.status(400).json_body(json!({
            "code": 400,
            "message": format!("password {PASSWORD} for bob@example.com is too weak"),
        }));
    });
    let err = client(&server)
        .create_user(&NewUser {
            email: "bob@example.com".into(),
            password: Secret::new(PASSWORD),
            username: None,
            notes: None,
            balance: None,
            concurrency: None,
            allowed_groups: vec![],
        })
        .unwrap_err();
    let text = err.to_string();
    assert_clean(&text);
    assert!(text.contains("bob@example.com"), "{text}");
}

#[test]
fn user_login_and_key_create_errors_are_redacted() {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(POST).path("/api/v1/auth/login");
        then.status(400).json_body(json!({
            "code": 400,
            "message": format!("password {PASSWORD} rejected"),
            "reason": "TURNSTILE_VERIFICATION_FAILED",
        }));
    });
    server.mock(|when, then| {
        when.method(POST).path("/api/v1/keys");
        then.status(400).json_body(json!({
            "code": 400,
            "message": format!("key {USER_KEY} refused for session {USER_JWT}"),
            "reason": "API_KEY_INVALID_CHARS",
        }));
    });
    let c = client(&server);
    match c
        .login_user("bob@example.com", &Secret::new(PASSWORD))
        .unwrap()
    {
        LoginOutcome::Blocked(LoginBlocked::TurnstileRequired { message }) => {
            assert_clean(&message);
            assert!(message.contains(&mask(PASSWORD)), "{message}");
        }
        other => panic!("unexpected {other:?}"),
    }
    let err = c
        .create_user_key(
            &UserSession {
                user_id: 23,
                email: "bob@example.com".into(),
                access_token: Secret::new(USER_JWT),
                expires_in: None,
            },
            &NewUserKey {
                name: "relay-probe".into(),
                group_id: 9,
                custom_key: Some(Secret::new(USER_KEY)),
            },
            Some("crm-key-23-9"),
        )
        .unwrap_err();
    assert_clean(&err.to_string());
}

#[test]
fn account_test_messages_quoting_the_vendor_key_are_redacted() {
    let server = MockServer::start();
    let event = json!({
        "type": "error",
        "error": format!("Chat Completions API (/v1/chat/completions) returned 401: {{\"error\":{{\"message\":\"Incorrect API key provided: {SK_KEY}.\"}}}}"),
    });
    server.mock(|when, then| {
        when.method(POST).path("/api/v1/admin/accounts/5/test");
        then.status(200)
            .header("content-type", "text/event-stream")
            .body(format!(
                "data: {}\n\ndata: {event}\n\n",
                json!({"type": "test_start", "model": "deepseek-chat"})
            ));
    });
    let r = client(&server)
        .test_account(5, Some("deepseek-chat"))
        .unwrap();
    assert_eq!(r.outcome, ProbeOutcome::Failed);
    assert_eq!(r.http_status, Some(401));
    assert_clean(&r.message);
    assert!(r.message.contains(&mask(SK_KEY)), "{}", r.message);
}

#[test]
fn gateway_errors_quoting_the_bearer_key_are_redacted() {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(GET).path("/v1/models");
        then.status(401).json_body(json!({
            "code": "INVALID_API_KEY",
            "message": format!("Invalid API key {USER_KEY}"),
        }));
    });
    server.mock(|when, then| {
        when.method(POST).path("/v1/chat/completions");
        then.status(503).json_body(json!({
            "error": {"type": "api_error", "message": format!("Service temporarily unavailable (Authorization: Bearer {USER_KEY})")},
        }));
    });
    let c = client(&server);
    let key = Secret::new(USER_KEY);
    let models = c.gateway_models(&key).unwrap();
    let error = models.error.expect("error");
    assert_clean(&error.message);
    assert_eq!(error.code.as_deref(), Some("INVALID_API_KEY"));
    let chat = c
        .gateway_chat(
            &key,
            &ChatProbeRequest {
                model: "deepseek-chat".into(),
                max_tokens: 8,
                stream: false,
            },
        )
        .unwrap();
    let error = chat.error.clone().expect("error");
    assert_clean(&error.message);
    assert!(error.message.contains(&mask(USER_KEY)), "{}", error.message);
    assert_eq!(chat.failure(), Some(GatewayFailure::NoAvailableAccount));
}

#[test]
fn account_error_messages_read_from_the_host_are_redacted_by_pattern() {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(GET).path("/api/v1/admin/accounts/5");
        then.status(200).json_body(json!({
            "code": 0,
            "data": {"id": 5, "name": "a", "platform": "openai", "type": "apikey", "status": "error",
                     "error_message": format!("Authentication failed (401): Incorrect API key provided: {SK_KEY}")},
        }));
    });
    let a = client(&server).get_account(5).unwrap();
    let message = a.error_message.clone().expect("message");
    assert_clean(&message);
    assert_eq!(a.error_kind(), Some(AccountErrorKind::KeyInvalid));
}
