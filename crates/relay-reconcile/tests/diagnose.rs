//! Upstream diagnosis against a fake vendor served over HTTP on loopback (a tiny
//! `std::net::TcpListener` server with canned vendor answers), compared with
//! host-side results — one taken from a real reconcile run against the mock.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use relay_domain::Secret;
use relay_reconcile::*;
use relay_sub2api::{
    AccountCredentials, AccountUpdate, HostAdapter, UpstreamTimeouts, UpstreamUrlError,
};
use relay_testkit::reconcile::*;
use relay_testkit::*;

/// Canned answers by the key in `Authorization: Bearer`.
fn answer(key: &str, path: &str) -> (u16, String) {
    let chat = path.ends_with("/chat/completions");
    let pick = |s: &str| key.contains(s);
    if pick("invalid") {
        (401, r#"{"error":{"message":"Authentication Fails, Your api key is invalid","type":"authentication_error","param":null,"code":"invalid_request_error"}}"#.into())
    } else if pick("quota") {
        (402, r#"{"error":{"message":"Insufficient Balance","type":"unknown_error","param":null,"code":"invalid_request_error"}}"#.into())
    } else if pick("kimi") {
        (429, r#"{"error":{"message":"Your account is not active, please check your billing details","type":"exceeded_current_quota_error"}}"#.into())
    } else if pick("glm") {
        (429, r#"{"error":{"code":"1113","message":"Insufficient balance or no resource package. Please recharge."}}"#.into())
    } else if pick("throttle") {
        (429, r#"{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"Throttling.AllocationQuota"}}"#.into())
    } else if pick("ratelimit") {
        (429, r#"{"error":{"message":"Rate limit reached","type":"rate_limit_error","code":"rate_limit_exceeded"}}"#.into())
    } else if pick("boom") {
        (
            503,
            r#"{"error":{"message":"Service is too busy","type":"server_error"}}"#.into(),
        )
    } else if chat {
        (200, r#"{"id":"c","object":"chat.completion","model":"deepseek-flash","choices":[{"index":0,"message":{"role":"assistant","content":"pong"},"finish_reason":"stop"}]}"#.into())
    } else {
        (
            200,
            r#"{"object":"list","data":[{"id":"deepseek-flash","object":"model"}]}"#.into(),
        )
    }
}

fn serve(stream: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
    let (mut key, mut length) = (String::new(), 0usize);
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" {
            break;
        }
        let (name, value) = h.split_once(':').unwrap_or((h.as_str(), ""));
        match name.to_ascii_lowercase().as_str() {
            "authorization" => {
                key = value.trim().trim_start_matches("Bearer ").to_string();
            }
            "content-length" => length = value.trim().parse().unwrap_or(0),
            _ => {}
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    let (status, text) = answer(&key, &path);
    let mut out = stream;
    write!(
        out,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    )?;
    out.flush()
}

/// Starts the fake vendor; returns its base URL (`http://127.0.0.1:PORT/v1`).
fn fake_vendor() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for s in listener.incoming().flatten() {
            let _ = serve(s);
        }
    });
    format!("http://127.0.0.1:{port}/v1")
}

fn timeouts() -> UpstreamTimeouts {
    UpstreamTimeouts {
        connect: Duration::from_secs(2),
        read: Duration::from_secs(5),
    }
}

fn host(ok: bool) -> HostObservation {
    HostObservation {
        source: HostObservationSource::GatewayProbe,
        subject: "key:sk-c…9f3c".into(),
        ok,
        http_status: Some(if ok { 200 } else { 502 }),
        message: (!ok).then(|| "Upstream request failed".to_string()),
    }
}

fn diag(base: &str, key: &str, host: Option<&HostObservation>) -> UpstreamDiagnosis {
    let d = diagnose_key(base, &Secret::new(key), SMOKE, &timeouts(), host).expect("probe");
    let json = serde_json::to_string(&d).unwrap();
    assert!(!json.contains(key), "key leaked: {json}");
    d
}

#[test]
fn each_vendor_answer_gets_its_class() {
    let base = fake_vendor();
    let failing = host(false);
    let cases = [
        (
            "sk-invalid-000000000000000000000000",
            UpstreamClass::UpstreamKeyInvalid,
        ),
        (
            "sk-quota-0000000000000000000000000",
            UpstreamClass::UpstreamQuotaExhausted,
        ),
        (
            "sk-kimi-00000000000000000000000000",
            UpstreamClass::UpstreamQuotaExhausted,
        ),
        (
            "sk-glm-000000000000000000000000000",
            UpstreamClass::UpstreamQuotaExhausted,
        ),
        (
            "sk-throttle-000000000000000000000000",
            UpstreamClass::UpstreamRateLimited,
        ),
        (
            "sk-ratelimit-00000000000000000000000",
            UpstreamClass::UpstreamRateLimited,
        ),
        (
            "sk-boom-000000000000000000000000000",
            UpstreamClass::UpstreamUnreachable,
        ),
    ];
    for (key, want) in cases {
        let d = diag(&base, key, Some(&failing));
        assert_eq!(d.class, want, "{key}: {d:#?}");
        assert!(!d.fix.is_empty());
        assert!(d.summary.contains(&d.vendor.key_mask));
        // The vendor's codes and messages are kept verbatim as evidence.
        assert!(d.vendor.chat.error.is_some(), "{key}");
        assert!(d.vendor.chat.http_status.is_some());
    }
    let d = diag(&base, "sk-glm-000000000000000000000000000", None);
    let e = d.vendor.chat.error.as_ref().unwrap();
    assert_eq!(e.code.as_deref(), Some("1113"));
    assert_eq!(
        e.message,
        "Insufficient balance or no resource package. Please recharge."
    );
}

#[test]
fn a_working_vendor_against_a_failing_host_is_a_host_compatibility_gap() {
    let base = fake_vendor();
    let key = "sk-valid-0000000000000000000000000";
    let gap = diag(&base, key, Some(&host(false)));
    assert_eq!(gap.class, UpstreamClass::HostCompatibilityGap);
    assert!(gap.summary.contains("Upstream request failed"));
    assert!(gap.fix.contains("relay reconcile"));
    assert_eq!(gap.vendor.chat.http_status, Some(200));
    assert!(gap.vendor.model_listed);

    assert_eq!(diag(&base, key, Some(&host(true))).class, UpstreamClass::Ok);
    let alone = diag(&base, key, None);
    assert_eq!(alone.class, UpstreamClass::Ok);
    assert!(alone.summary.contains("no host-side result"));
}

#[test]
fn an_unreachable_vendor_and_a_plain_http_vendor() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let d = diag(
        &format!("http://127.0.0.1:{port}/v1"),
        "sk-valid-0000000000000000000000000",
        Some(&host(false)),
    );
    assert_eq!(d.class, UpstreamClass::UpstreamUnreachable);
    assert!(d.vendor.chat.transport_error.is_some());

    let err = diagnose_key(
        "http://api.deepseek.com",
        &Secret::new("sk-valid-0000000000000000000000000"),
        SMOKE,
        &timeouts(),
        None,
    )
    .unwrap_err();
    assert!(
        matches!(err, UpstreamUrlError::InsecureScheme { .. }),
        "{err:?}"
    );
}

#[test]
fn a_reconcile_account_result_is_the_host_side_of_a_diagnosis() {
    let env = Env::start();
    env.import(&[GOOD_1]);
    let id = env.account_id(GOOD_1);
    let target = env.target();
    env.client()
        .update_account(
            id,
            &AccountUpdate {
                credentials: Some(AccountCredentials {
                    api_key: Some(Secret::new(INVALID)),
                    base_url: Some(target.provider.base_url.clone()),
                    model_mapping: target.account_model_mapping(),
                    ..AccountCredentials::default()
                }),
                ..AccountUpdate::default()
            },
        )
        .unwrap();
    let journal = env.provider_journal();
    let report = reconcile(&env.ports(&journal), &target, &request()).unwrap();
    let host_side = HostObservation::from_account_check(&report.accounts[0]).expect("tested");
    assert!(!host_side.ok);
    assert_eq!(host_side.http_status, Some(401));
    assert_eq!(host_side.subject, format!("account:{id}"));

    let base = fake_vendor();
    let d = diag(&base, INVALID, Some(&host_side));
    assert_eq!(d.class, UpstreamClass::UpstreamKeyInvalid);
    assert_eq!(d.host.as_ref(), Some(&host_side));
    // A failing host account test next to a vendor that accepts its key points
    // at the host.
    let result = env.client().test_account(id, Some(SMOKE)).unwrap();
    let obs = HostObservation::from_account_test(id, &result);
    assert_eq!(obs.source, HostObservationSource::AccountTest);
    assert!(!obs.ok);
    let d = diag(&base, "sk-valid-0000000000000000000000000", Some(&obs));
    assert_eq!(d.class, UpstreamClass::HostCompatibilityGap);
    no_secret_in(&env, &d);
}
