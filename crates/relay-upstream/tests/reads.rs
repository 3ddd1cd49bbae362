//! Wire contracts of the single vendor reads (httpmock): both balance shapes, the
//! model list, the URLs they call, the key only in the header, and failures as
//! classes with redacted notes.

use httpmock::prelude::*;
use relay_domain::{BaseUrl, Secret};
use relay_upstream::{
    list_models, parse_deepseek_balance, parse_model_list, parse_moonshot_balance, read_balance,
    BalanceRoute, ProfileLimits, UpstreamSupport,
};

const KEY: &str = "sk-reads0123456789abcdef0123";

#[test]
fn deepseek_balance_shape_is_read_with_every_currency() {
    let b = parse_deepseek_balance(
        r#"{"is_available":true,"balance_infos":[
            {"currency":"CNY","total_balance":"110.00","granted_balance":"10.00","topped_up_balance":"100.00"},
            {"currency":"usd","total_balance":"2.5","granted_balance":"0","topped_up_balance":"2.5"}]}"#,
    )
    .unwrap();
    assert_eq!(b.available, Some(true));
    assert_eq!(b.entries.len(), 2);
    assert_eq!(
        (b.entries[0].currency.as_str(), b.entries[0].amount),
        ("CNY", 110.0)
    );
    assert_eq!(
        (b.entries[1].currency.as_str(), b.entries[1].amount),
        ("USD", 2.5)
    );
    let unusable = parse_deepseek_balance(
        r#"{"is_available":false,"balance_infos":[{"currency":"CNY","total_balance":"0.00"}]}"#,
    )
    .unwrap();
    assert_eq!(unusable.available, Some(false));
    assert!(parse_deepseek_balance(r#"{"is_available":true}"#).is_err());
    assert!(parse_deepseek_balance(r#"{"balance_infos":[{"currency":"CNY"}]}"#).is_err());
}

#[test]
fn moonshot_balance_shape_is_read_and_a_failure_code_refused() {
    let b = parse_moonshot_balance(
        r#"{"code":0,"data":{"available_balance":49.58894,"voucher_balance":46.58893,"cash_balance":3.00001},"scode":"0x0","status":true}"#,
    )
    .unwrap();
    assert_eq!(b.entries[0].currency, "CNY");
    assert!((b.entries[0].amount - 49.58894).abs() < 1e-9);
    assert_eq!(b.available, None);
    assert!(parse_moonshot_balance(r#"{"code":1,"data":{}}"#).is_err());
    assert!(parse_moonshot_balance("not json").is_err());
}

#[test]
fn model_lists_of_each_shape_are_read_sorted() {
    assert_eq!(
        parse_model_list(r#"{"object":"list","data":[{"id":"b"},{"id":"a"},{"id":"b"}]}"#).unwrap(),
        vec!["a", "b"]
    );
    assert_eq!(
        parse_model_list(r#"{"models":[{"id":"x"}]}"#).unwrap(),
        vec!["x"]
    );
    assert_eq!(
        parse_model_list(r#"[{"id":"y"}, "z"]"#).unwrap(),
        vec!["y", "z"]
    );
    assert!(parse_model_list(r#"{"data":[]}"#).is_err());
}

#[test]
fn balance_urls_follow_each_vendors_route() {
    let base = |s: &str| BaseUrl::parse(s).unwrap();
    assert_eq!(
        BalanceRoute::DeepSeek.url(&base("https://api.deepseek.com")),
        "https://api.deepseek.com/user/balance"
    );
    assert_eq!(
        BalanceRoute::DeepSeek.url(&base("https://api.deepseek.com/v1")),
        "https://api.deepseek.com/user/balance"
    );
    assert_eq!(
        BalanceRoute::Moonshot.url(&base("https://api.moonshot.cn/v1")),
        "https://api.moonshot.cn/v1/users/me/balance"
    );
    assert_eq!(
        BalanceRoute::for_vendor("moonshot"),
        Some(BalanceRoute::Moonshot)
    );
    assert_eq!(
        BalanceRoute::for_vendor("deepseek"),
        Some(BalanceRoute::DeepSeek)
    );
    assert_eq!(BalanceRoute::for_vendor("glm"), None);
}

#[test]
fn read_balance_sends_the_key_only_in_the_header() {
    let server = MockServer::start();
    let m = server.mock(|when, then| {
        when.method(GET)
            .path("/user/balance")
            .header("authorization", format!("Bearer {KEY}"));
        then.status(200).header("content-type", "application/json").body(
            r#"{"is_available":true,"balance_infos":[{"currency":"CNY","total_balance":"0.50","granted_balance":"0","topped_up_balance":"0.50"}]}"#,
        );
    });
    let b = read_balance(
        BalanceRoute::DeepSeek,
        &server.url(""),
        &Secret::new(KEY),
        &ProfileLimits::default(),
    )
    .unwrap();
    m.assert();
    assert_eq!(b.entries[0].amount, 0.5);
}

#[test]
fn a_refused_key_is_auth_failed_with_the_key_redacted() {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(GET).path("/v1/users/me/balance");
        then.status(401).body(format!(
            r#"{{"error":{{"message":"Invalid key {KEY}","type":"invalid_authentication_error"}}}}"#
        ));
    });
    let err = read_balance(
        BalanceRoute::Moonshot,
        &server.url("/v1"),
        &Secret::new(KEY),
        &ProfileLimits::default(),
    )
    .unwrap_err();
    assert_eq!(err.class, UpstreamSupport::AuthFailed);
    assert_eq!(err.status, Some(401));
    assert!(!err.note.contains(KEY), "{}", err.note);
    assert!(err.note.contains("Invalid key"), "{}", err.note);
}

#[test]
fn list_models_reads_the_vendor_list_and_refuses_plain_http_elsewhere() {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(GET).path("/v1/models");
        then.status(200)
            .body(r#"{"object":"list","data":[{"id":"m2"},{"id":"m1"}]}"#);
    });
    let models = list_models(
        &server.url(""),
        &Secret::new(KEY),
        &ProfileLimits::default(),
    )
    .unwrap();
    assert_eq!(models, vec!["m1", "m2"]);
    let refused = list_models(
        "http://vendor.example.com/v1",
        &Secret::new(KEY),
        &ProfileLimits::default(),
    )
    .unwrap_err();
    assert_eq!(refused.class, UpstreamSupport::Rejected);
    assert_eq!(refused.status, None);
}
