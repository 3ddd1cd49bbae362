//! Profiles against `sub2api-mock`'s mock vendor: what each kind of vendor and key
//! yields, what was sent, and how many requests it took.

use relay_domain::{Fingerprint, Secret};
use relay_upstream::{
    profile, request_bound, ProfileLimits, ProfileRequest, UpstreamProfile, UpstreamSupport,
    MAX_TOKENS_CEILING, RESPONSES_MAX_OUTPUT_TOKENS,
};
use sub2api_mock::{MockVendor, MockVendorConfig};

const GOOD_KEY: &str = "sk-good0123456789abcdef0123";

fn vendor(config: MockVendorConfig) -> MockVendor {
    MockVendor::start(config).expect("mock vendor starts")
}

fn run(v: &MockVendor, key: &str, models: &[&str]) -> UpstreamProfile {
    profile(
        &ProfileRequest::new(v.base_url(), Secret::new(key))
            .with_models(models.iter().copied())
            .with_anthropic_base_url(v.anthropic_base_url()),
    )
}

#[test]
fn a_full_vendor_supports_everything() {
    let v = vendor(MockVendorConfig::default());
    let p = run(&v, GOOD_KEY, &["deepseek-flash"]);
    let t = &p.transport;
    for check in [
        &t.models,
        &t.chat_completions,
        &t.responses,
        &t.anthropic_messages,
    ] {
        assert_eq!(check.support, UpstreamSupport::Supported, "{check:?}");
        assert_eq!(check.http_status, Some(200));
    }
    assert_eq!(p.listed_models, ["deepseek-flash", "kimi-k2.6"]);
    let m = p.model("deepseek-flash").expect("profiled");
    assert_eq!(m.listed, Some(true));
    for check in [&m.chat, &m.stream, &m.tools, &m.responses] {
        assert_eq!(check.support, UpstreamSupport::Supported, "{check:?}");
    }
    assert!(!p.chat_completions_only());
    assert!(!p.key_rejected());
    assert!(!p.quota_exhausted());
    assert_eq!(p.requests, 6);
    assert_eq!(v.request_count(), 6);
    assert_eq!(p.base_url, v.base_url());
    assert_eq!(
        p.anthropic_base_url.as_deref(),
        Some(v.anthropic_base_url().as_str())
    );
    assert_eq!(p.problem, None);
}

#[test]
fn the_requests_are_tiny_and_shaped_as_each_api_wants() {
    let v = vendor(MockVendorConfig::default());
    let p = run(&v, GOOD_KEY, &["deepseek-flash"]);
    assert_eq!(p.requests, 6);
    let sent = v.requests();
    let seen: Vec<(String, String)> = sent
        .iter()
        .map(|r| (r.method.clone(), r.path.clone()))
        .collect();
    let expected = [
        ("GET", "/v1/models"),
        ("POST", "/v1/chat/completions"),
        ("POST", "/v1/chat/completions"),
        ("POST", "/v1/chat/completions"),
        ("POST", "/v1/responses"),
        ("POST", "/anthropic/v1/messages"),
    ];
    assert_eq!(
        seen,
        expected
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect::<Vec<_>>()
    );
    let bearer = format!("Bearer {GOOD_KEY}");
    for r in &sent[..5] {
        assert_eq!(
            r.header("authorization"),
            Some(bearer.as_str()),
            "{}",
            r.path
        );
        assert_eq!(r.header("x-api-key"), None, "{}", r.path);
    }
    let anthropic = &sent[5];
    assert_eq!(anthropic.header("x-api-key"), Some(GOOD_KEY));
    assert_eq!(anthropic.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(anthropic.header("authorization"), None);
    // The key is in a header only: never in a path, a query or a body.
    for r in &sent {
        assert!(!r.path.contains(GOOD_KEY));
        assert_eq!(r.query, None);
        assert!(!r.body.to_string().contains(GOOD_KEY));
    }
    // One short user message and the token caps.
    for r in [&sent[1], &sent[2], &sent[3], &sent[5]] {
        assert_eq!(r.body["model"], "deepseek-flash");
        assert_eq!(r.body["max_tokens"], MAX_TOKENS_CEILING);
        let messages = r.body["messages"].as_array().expect("messages");
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0]["role"], "user");
        assert!(messages[0]["content"].as_str().unwrap().len() < 64);
    }
    assert_eq!(sent[1].body["stream"], false);
    assert_eq!(sent[1].body.get("tools"), None);
    assert_eq!(sent[2].body["stream"], true);
    assert_eq!(sent[3].body["stream"], false);
    assert_eq!(sent[3].body["tools"].as_array().map(Vec::len), Some(1));
    assert_eq!(sent[3].body["tools"][0]["type"], "function");
    assert_eq!(sent[4].body["model"], "deepseek-flash");
    assert_eq!(
        sent[4].body["max_output_tokens"],
        RESPONSES_MAX_OUTPUT_TOKENS
    );
    assert!(sent[4].body["input"].as_str().unwrap().len() < 64);
    assert_eq!(sent[4].body.get("max_tokens"), None);
}

#[test]
fn a_vendor_without_responses_is_chat_completions_only() {
    let v = vendor(MockVendorConfig {
        responses: false,
        ..MockVendorConfig::default()
    });
    let p = run(&v, GOOD_KEY, &["kimi-k2.6"]);
    assert_eq!(p.transport.responses.support, UpstreamSupport::Unsupported);
    assert_eq!(p.transport.responses.http_status, Some(404));
    assert!(p.transport.chat_completions.is_supported());
    assert!(p.chat_completions_only());
    assert!(!p.key_rejected());
}

#[test]
fn missing_anthropic_stream_and_tools_are_unsupported() {
    let v = vendor(MockVendorConfig {
        anthropic: false,
        stream: false,
        tools: false,
        ..MockVendorConfig::default()
    });
    let p = run(&v, GOOD_KEY, &["deepseek-flash"]);
    assert_eq!(
        p.transport.anthropic_messages.support,
        UpstreamSupport::Unsupported
    );
    assert_eq!(p.transport.anthropic_messages.http_status, Some(404));
    let m = &p.models[0];
    assert!(m.chat.is_supported());
    assert_eq!(m.stream.support, UpstreamSupport::Unsupported);
    assert!(m
        .stream
        .note
        .as_deref()
        .unwrap()
        .contains("instead of a stream"));
    assert_eq!(m.tools.support, UpstreamSupport::Unsupported);
    assert_eq!(m.tools.http_status, Some(400));
    assert!(m.responses.is_supported());
}

#[test]
fn a_bad_key_is_rejected_after_one_request() {
    let v = vendor(MockVendorConfig::default());
    let p = run(&v, "sk-bad-0123456789abcdef", &["deepseek-flash"]);
    assert!(p.key_rejected());
    assert_eq!(p.transport.models.support, UpstreamSupport::AuthFailed);
    assert_eq!(p.transport.models.http_status, Some(401));
    assert_eq!(p.requests, 1);
    assert_eq!(v.request_count(), 1);
    for check in p.checks().into_iter().skip(1) {
        assert_eq!(check.support, UpstreamSupport::Skipped);
        assert!(check.note.as_deref().unwrap().contains("auth_failed"));
    }
    assert!(!p.chat_completions_only());
}

#[test]
fn a_key_without_balance_is_quota_not_rejected() {
    let v = vendor(MockVendorConfig::default());
    let p = run(&v, "sk-quota-0123456789abcdef", &["deepseek-flash"]);
    assert!(p.transport.models.is_supported());
    assert_eq!(p.models[0].chat.support, UpstreamSupport::Quota);
    assert_eq!(p.models[0].chat.http_status, Some(402));
    assert!(p.quota_exhausted());
    assert!(!p.key_rejected());
    assert!(!p.chat_completions_only());
    assert_eq!(p.requests, 2);
    assert_eq!(
        p.transport.anthropic_messages.support,
        UpstreamSupport::Skipped
    );
}

#[test]
fn a_rate_limited_key_stops_the_profile() {
    let v = vendor(MockVendorConfig::default());
    let p = run(&v, "sk-ratelimit-0123456789ab", &["deepseek-flash"]);
    assert_eq!(p.models[0].chat.support, UpstreamSupport::RateLimited);
    assert_eq!(p.requests, 2);
    assert_eq!(v.request_count(), 2);
}

#[test]
fn an_unknown_model_is_rejected_and_not_listed() {
    let v = vendor(MockVendorConfig::default());
    let p = run(&v, GOOD_KEY, &["kimi-k9"]);
    let m = &p.models[0];
    assert_eq!(m.listed, Some(false));
    assert_eq!(m.chat.support, UpstreamSupport::Rejected);
    assert!(m.chat.note.as_deref().unwrap().contains("Model Not Exist"));
    assert_eq!(m.stream.support, UpstreamSupport::Skipped);
    assert_eq!(m.tools.support, UpstreamSupport::Skipped);
    assert!(!p.chat_completions_only());
}

#[test]
fn without_named_models_the_first_listed_is_profiled() {
    let v = vendor(MockVendorConfig::default());
    let p = run(&v, GOOD_KEY, &[]);
    assert_eq!(p.models.len(), 1);
    assert_eq!(p.models[0].model, "deepseek-flash");
    assert!(p.transport.chat_completions.is_supported());
}

#[test]
fn models_and_requests_are_capped() {
    let v = vendor(MockVendorConfig {
        models: (1..=6).map(|i| format!("m{i}")).collect(),
        ..MockVendorConfig::default()
    });
    let named = ["m1", "m2", "m3", "m4", "m5", "m6"];
    let p = run(&v, GOOD_KEY, &named);
    assert_eq!(p.models.len(), 3, "the default max_models");
    assert_eq!(p.requests as usize, request_bound(3));
    assert_eq!(v.request_count(), request_bound(3));

    let v = vendor(MockVendorConfig::default());
    let capped = profile(
        &ProfileRequest::new(v.base_url(), Secret::new(GOOD_KEY))
            .with_models(["deepseek-flash", "kimi-k2.6"])
            .with_anthropic_base_url(v.anthropic_base_url())
            .with_limits(ProfileLimits {
                max_requests: 3,
                ..ProfileLimits::default()
            }),
    );
    assert_eq!(capped.requests, 3);
    assert_eq!(v.request_count(), 3);
    let m = &capped.models[0];
    assert!(m.chat.is_supported() && m.stream.is_supported());
    assert_eq!(m.tools.support, UpstreamSupport::Skipped);
    assert!(m.tools.note.as_deref().unwrap().contains("request cap (3)"));
    assert_eq!(
        capped.transport.anthropic_messages.support,
        UpstreamSupport::Skipped
    );
}

#[test]
fn a_key_echoed_by_the_vendor_is_nowhere_in_the_stored_profile() {
    let key = "sk-bad-echo-0123456789abcdefABCDEF";
    let v = vendor(MockVendorConfig {
        echo_key: true,
        ..MockVendorConfig::default()
    });
    let p = run(&v, key, &["deepseek-flash"]);
    assert!(p.key_rejected());
    let stored = serde_json::to_string(&p).expect("serialises");
    assert!(!stored.contains(key), "{stored}");
    assert!(!stored.contains(Fingerprint::of(key).as_str()), "{stored}");
    // The vendor's message is kept, with the key masked.
    let note = p.transport.models.note.as_deref().unwrap();
    assert!(note.contains("Incorrect API key provided"), "{note}");
    assert!(note.contains(&relay_domain::mask(key)), "{note}");
    // And it reads back the same.
    let back: UpstreamProfile = serde_json::from_str(&stored).expect("reads back");
    assert_eq!(back, p);
}
