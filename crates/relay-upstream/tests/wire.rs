//! Wire contracts against scripted vendors (httpmock): each support class from
//! each status, the body limit, timeouts, redirects, unreachable vendors, and the
//! exact requests.

use std::time::Duration;

use httpmock::prelude::*;
use relay_domain::Secret;
use relay_upstream::{profile, ProfileLimits, ProfileRequest, UpstreamProfile, UpstreamSupport};

const KEY: &str = "sk-wire0123456789abcdef0123";

fn models_ok(server: &MockServer) {
    server.mock(|when, then| {
        when.method(GET).path("/v1/models");
        then.status(200)
            .header("content-type", "application/json")
            .body(r#"{"object":"list","data":[{"id":"m"}]}"#);
    });
}

fn run_with(server: &MockServer, limits: ProfileLimits) -> UpstreamProfile {
    profile(
        &ProfileRequest::new(server.url("/v1"), Secret::new(KEY))
            .with_models(["m"])
            .with_limits(limits),
    )
}

fn run(server: &MockServer) -> UpstreamProfile {
    run_with(server, ProfileLimits::default())
}

#[test]
fn each_status_of_a_chat_has_its_class() {
    use UpstreamSupport::*;
    let rows: &[(u16, &str, UpstreamSupport)] = &[
        (
            401,
            r#"{"error":{"message":"Authentication Fails","type":"authentication_error"}}"#,
            AuthFailed,
        ),
        (403, r#"{"error":{"message":"forbidden"}}"#, AuthFailed),
        (
            402,
            r#"{"error":{"message":"Insufficient Balance","type":"unknown_error"}}"#,
            Quota,
        ),
        (
            429,
            r#"{"error":{"message":"Your account is suspended due to insufficient balance","type":"exceeded_current_quota_error"}}"#,
            Quota,
        ),
        (
            429,
            r#"{"error":{"message":"rate limit reached","type":"rate_limit_error"}}"#,
            RateLimited,
        ),
        (404, "404 page not found", Unsupported),
        (405, "", Unsupported),
        (501, "", Unsupported),
        (
            400,
            r#"{"error":{"message":"Invalid URL (POST /v1/chat/completions)"}}"#,
            Unsupported,
        ),
        (400, r#"{"error":{"message":"Model Not Exist"}}"#, Rejected),
        (
            422,
            r#"{"error":{"message":"max_tokens too small"}}"#,
            Rejected,
        ),
        (500, r#"{"error":{"message":"internal"}}"#, UpstreamError),
        (502, "<html>bad gateway</html>", UpstreamError),
        (503, "", UpstreamError),
        (
            200,
            r#"{"base_resp":{"status_code":2049,"status_msg":"invalid api key"}}"#,
            AuthFailed,
        ),
        (200, "<!doctype html><html></html>", Unsupported),
    ];
    for (status, body, class) in rows {
        let server = MockServer::start();
        models_ok(&server);
        server.mock(|when, then| {
            when.method(POST).path("/v1/chat/completions");
            then.status(*status).body(*body);
        });
        let p = run(&server);
        let chat = &p.models[0].chat;
        assert_eq!(chat.support, *class, "{status} {body}: {chat:?}");
        assert_eq!(chat.http_status, Some(*status));
        assert_eq!(p.transport.chat_completions, *chat);
    }
}

#[test]
fn the_model_list_and_the_other_endpoints_have_their_classes() {
    use UpstreamSupport::*;
    for (status, class) in [
        (401, AuthFailed),
        (403, AuthFailed),
        (404, Unsupported),
        (500, UpstreamError),
    ] {
        let server = MockServer::start();
        server.mock(|when, then| {
            when.method(GET).path("/v1/models");
            then.status(status).body("{}");
        });
        let p = run(&server);
        assert_eq!(p.transport.models.support, class, "{status}");
        assert_eq!(p.models[0].listed, None);
        assert_eq!(p.key_rejected(), class == AuthFailed, "{status}");
    }
    // /responses: a 400 naming the route is "unsupported", another 400 "rejected".
    for (body, class) in [
        (
            r#"{"error":{"message":"Invalid URL (POST /v1/responses)"}}"#,
            Unsupported,
        ),
        (r#"{"error":{"message":"input must be a list"}}"#, Rejected),
    ] {
        let server = MockServer::start();
        models_ok(&server);
        server.mock(|when, then| {
            when.method(POST).path("/v1/chat/completions");
            then.status(200)
                .body(r#"{"choices":[{"message":{"content":"pong"}}]}"#);
        });
        server.mock(|when, then| {
            when.method(POST).path("/v1/responses");
            then.status(400).body(body);
        });
        let p = run(&server);
        assert_eq!(p.transport.responses.support, class, "{body}");
        assert!(p.chat_completions_only());
    }
}

#[test]
fn the_exact_requests() {
    let server = MockServer::start();
    let bearer = format!("Bearer {KEY}");
    let models = server.mock(|when, then| {
        when.method(GET)
            .path("/v1/models")
            .header("authorization", bearer.as_str())
            .header_missing("x-api-key");
        then.status(200).body(r#"{"data":[{"id":"m"}]}"#);
    });
    let plain = server.mock(|when, then| {
        when.method(POST)
            .path("/v1/chat/completions")
            .header("authorization", bearer.as_str())
            .json_body_includes(r#"{"model":"m","max_tokens":2,"stream":false}"#)
            .is_false(|req| req.body_string().contains("tools"));
        then.status(200).body(r#"{"choices":[]}"#);
    });
    let stream = server.mock(|when, then| {
        when.method(POST)
            .path("/v1/chat/completions")
            .json_body_includes(r#"{"model":"m","max_tokens":2,"stream":true}"#);
        then.status(200)
            .header("content-type", "text/event-stream")
            .body("data: {\"choices\":[{\"delta\":{\"content\":\"p\"}}]}\n\ndata: [DONE]\n\n");
    });
    let tools = server.mock(|when, then| {
        when.method(POST)
            .path("/v1/chat/completions")
            .json_body_includes(r#"{"model":"m","max_tokens":2,"tools":[{"type":"function"}]}"#);
        then.status(200).body(r#"{"choices":[]}"#);
    });
    let responses = server.mock(|when, then| {
        when.method(POST)
            .path("/v1/responses")
            .header("authorization", bearer.as_str())
            .json_body_includes(r#"{"model":"m","max_output_tokens":16}"#);
        then.status(200)
            .body(r#"{"object":"response","output":[]}"#);
    });
    // No Anthropic base given: on an unknown host it is {base without /v1}/anthropic.
    let messages = server.mock(|when, then| {
        when.method(POST)
            .path("/anthropic/v1/messages")
            .header("x-api-key", KEY)
            .header("anthropic-version", "2023-06-01")
            .header_missing("authorization")
            .json_body_includes(r#"{"model":"m","max_tokens":2}"#);
        then.status(200).body(r#"{"type":"message","content":[]}"#);
    });
    let p = run_with(
        &server,
        ProfileLimits {
            max_tokens: 2,
            ..ProfileLimits::default()
        },
    );
    for (mock, name) in [
        (&models, "models"),
        (&plain, "plain"),
        (&stream, "stream"),
        (&tools, "tools"),
        (&responses, "responses"),
        (&messages, "messages"),
    ] {
        assert_eq!(mock.calls(), 1, "{name}");
    }
    assert!(p.checks().iter().all(|c| c.is_supported()), "{p:#?}");
    assert_eq!(p.anthropic_base_url, Some(server.url("/anthropic")));
    assert_eq!(p.requests, 6);
}

#[test]
fn an_unreachable_vendor_costs_one_request() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let p = profile(
        &ProfileRequest::new(format!("http://127.0.0.1:{port}/v1"), Secret::new(KEY))
            .with_models(["m"]),
    );
    assert_eq!(p.transport.models.support, UpstreamSupport::Unreachable);
    assert_eq!(p.transport.models.http_status, None);
    assert!(p.transport.models.note.is_some());
    assert_eq!(p.requests, 1);
    assert_eq!(p.models[0].chat.support, UpstreamSupport::Skipped);
    assert!(!p.key_rejected());
    assert!(!p.chat_completions_only());
}

#[test]
fn a_slow_vendor_times_out() {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(GET).path("/v1/models");
        then.status(200)
            .delay(Duration::from_secs(3))
            .body(r#"{"data":[]}"#);
    });
    let started = std::time::Instant::now();
    let p = run_with(
        &server,
        ProfileLimits {
            timeout: Duration::from_millis(300),
            ..ProfileLimits::default()
        },
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(p.transport.models.support, UpstreamSupport::Unreachable);
    assert!(
        p.transport
            .models
            .note
            .as_deref()
            .unwrap()
            .contains("timeout"),
        "{:?}",
        p.transport.models.note
    );
    assert_eq!(p.requests, 1);
}

#[test]
fn answers_are_read_to_the_body_limit_only() {
    let server = MockServer::start();
    let ids: Vec<String> = (0..2000)
        .map(|i| format!(r#"{{"id":"model-{i:05}"}}"#))
        .collect();
    let huge_list = format!(r#"{{"data":[{}]}}"#, ids.join(","));
    assert!(huge_list.len() > 20_000);
    server.mock(|when, then| {
        when.method(GET).path("/v1/models");
        then.status(200)
            .header("content-type", "application/json")
            .body(huge_list.as_str());
    });
    // An error body that quotes the key, longer than the limit.
    let echo = format!(
        r#"{{"error":{{"message":"bad key {KEY} {}"}}}}"#,
        "x".repeat(8000)
    );
    server.mock(|when, then| {
        when.method(POST).path("/v1/chat/completions");
        then.status(500).body(echo.as_str());
    });
    let p = run_with(
        &server,
        ProfileLimits {
            max_body_bytes: 4096,
            ..ProfileLimits::default()
        },
    );
    let models = &p.transport.models;
    assert_eq!(models.support, UpstreamSupport::Supported);
    assert!(models.note.as_deref().unwrap().contains("body limit"));
    assert!(p.listed_models.is_empty());
    assert_eq!(p.models[0].listed, None);
    assert_eq!(p.models[0].chat.support, UpstreamSupport::UpstreamError);
    let stored = serde_json::to_string(&p).unwrap();
    assert!(!stored.contains(KEY));
    assert!(!stored.contains(&KEY[..12]), "no part of the key: {stored}");
}

#[test]
fn redirects_are_not_followed() {
    let elsewhere = MockServer::start();
    let caught = elsewhere.mock(|when, then| {
        when.any_request();
        then.status(200).body(r#"{"data":[{"id":"m"}]}"#);
    });
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(GET).path("/v1/models");
        then.status(302)
            .header("location", elsewhere.url("/v1/models").as_str());
    });
    let p = run(&server);
    assert_eq!(p.transport.models.support, UpstreamSupport::Unsupported);
    assert_eq!(p.transport.models.http_status, Some(302));
    assert_eq!(caught.calls(), 0);
}

#[test]
fn a_refused_base_url_sends_nothing() {
    for url in [
        "http://api.vendor.example/v1",
        "ftp://x.example/v1",
        "https://user:pw@x.example/v1",
        "not a url",
    ] {
        let p = profile(&ProfileRequest::new(url, Secret::new(KEY)).with_models(["m"]));
        assert_eq!(p.requests, 0, "{url}");
        assert!(p.problem.is_some(), "{url}");
        assert!(p
            .checks()
            .iter()
            .all(|c| c.support == UpstreamSupport::Skipped));
        assert!(!p.key_rejected());
    }
    // A refused Anthropic base URL skips that endpoint only.
    let server = MockServer::start();
    models_ok(&server);
    let p = profile(
        &ProfileRequest::new(server.url("/v1"), Secret::new(KEY))
            .with_models(["m"])
            .with_anthropic_base_url("http://anthropic.vendor.example"),
    );
    assert!(p.problem.as_deref().unwrap().contains("Anthropic"));
    assert_eq!(
        p.transport.anthropic_messages.support,
        UpstreamSupport::Skipped
    );
    assert!(p.transport.models.is_supported());
}

#[test]
fn a_short_echoed_key_is_masked_too() {
    let short = "k9z1x";
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(GET).path("/v1/models");
        then.status(401).body(format!(
            r#"{{"error":{{"message":"key {short} is invalid"}}}}"#
        ));
    });
    let p = profile(&ProfileRequest::new(server.url("/v1"), Secret::new(short)));
    assert!(p.key_rejected());
    let stored = serde_json::to_string(&p).unwrap();
    assert!(!stored.contains(short), "{stored}");
}
