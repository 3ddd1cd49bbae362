//! Fuzz targets (property-based, `proptest`) for the adapter's private parsers: the
//! two SSE streams (`sse`) and the host envelope and error bodies (`envelope`).
//!
//! They live inside the crate because the parsers are private. Every target runs
//! `RELAY_FUZZ_CASES` cases (default [`DEFAULT_CASES`], so `cargo test` stays quick);
//! `RELAY_FUZZ_SEED` fixes the random seed. `cargo xtask fuzz` runs them for a time
//! budget with fresh seeds. Inputs are bounded, so no case can hang.

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

/// Cases per target when `RELAY_FUZZ_CASES` is unset.
const DEFAULT_CASES: u32 = 256;

fn config() -> Config {
    let cases = std::env::var("RELAY_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    let mut config = Config::with_cases(cases);
    // A fixed seed unless `RELAY_FUZZ_SEED` gives one: `cargo test` is reproducible, and
    // `cargo xtask fuzz` explores with fresh seeds.
    let seed = std::env::var("RELAY_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed);
    config.rng_seed = RngSeed::Fixed(seed);
    config
}

/// One edit of a valid sample: what a broken host, proxy or stream can do to it.
#[derive(Debug, Clone)]
enum Mutation {
    Truncate(usize),
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Remove(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let noise = prop_oneof![
        Just(b"\"".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\0".to_vec()),
        Just(b"\\".to_vec()),
        Just(b"99999999999999999999999999999999".to_vec()),
        Just(b"-1e400".to_vec()),
        Just(b"{".repeat(200)),
        Just(b"[".repeat(200)),
        Just("\u{feff}".as_bytes().to_vec()),
        Just(vec![0xff, 0xfe, 0xc3]),
        Just(b"data: ".to_vec()),
        Just(b"event: error\n".to_vec()),
        prop::collection::vec(any::<u8>(), 1..16),
    ];
    prop_oneof![
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (any::<usize>(), noise).prop_map(|(i, n)| Mutation::Insert(i, n)),
        (any::<usize>(), 0usize..16).prop_map(|(i, n)| Mutation::Remove(i, n)),
    ]
}

fn mutate(sample: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut out = sample.to_vec();
    for m in mutations {
        let at = |i: usize, len: usize| i % (len + 1);
        match m {
            Mutation::Truncate(i) => out.truncate(at(*i, out.len())),
            Mutation::Flip(i, b) if !out.is_empty() => {
                let i = i % out.len();
                out[i] ^= b | 1;
            }
            Mutation::Flip(..) => {}
            Mutation::Insert(i, bytes) => {
                let i = at(*i, out.len());
                out.splice(i..i, bytes.iter().copied());
            }
            Mutation::Remove(i, n) => {
                let i = at(*i, out.len());
                let end = (i + n).min(out.len());
                out.drain(i..end);
            }
        }
    }
    out
}

fn mutated(samples: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    (
        prop::sample::select(samples),
        prop::collection::vec(mutation(), 0..6),
    )
        .prop_map(|(sample, ms)| mutate(sample.as_bytes(), &ms))
}

/// Splits `bytes` at `cuts` (taken modulo the length).
fn chunked(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    points.sort_unstable();
    let mut out = Vec::new();
    let mut last = 0;
    for p in points {
        out.push(bytes[last..p].to_vec());
        last = p;
    }
    out.push(bytes[last..].to_vec());
    out
}

/// A secret as the adapter may hold one (an admin key, an upstream key, a JWT).
fn secret() -> impl Strategy<Value = String> {
    prop_oneof![
        "sk-[A-Za-z0-9]{24,40}",
        "admin-[0-9a-f]{32}",
        "[A-Za-z0-9]{20,32}",
        "eyJ[A-Za-z0-9_-]{20,30}\\.[A-Za-z0-9_-]{20,30}\\.[A-Za-z0-9_-]{10,20}",
    ]
}

mod sse {
    use super::*;
    use crate::sse::{
        parse_account_test, parse_chat_stream, parse_test_status, AccountTestParser,
        ChatStreamParser, PREVIEW_CHARS,
    };
    use crate::types::{ProbeOutcome, STREAM_ENDED_WITHOUT_RESULT};

    const ACCOUNT_SAMPLES: &[&str] = &[
        "data: {\"type\":\"test_start\",\"model\":\"deepseek-chat\"}\n\n\
         data: {\"type\":\"content\",\"text\":\"po\"}\n\n\
         data: {\"type\":\"content\",\"text\":\"ng\"}\n\n\
         data: {\"type\":\"test_complete\",\"success\":true}\n\n",
        "data: {\"type\":\"test_start\",\"model\":\"gpt-5.4\"}\n\n\
         data: {\"type\":\"error\",\"error\":\"API returned 403: Forbidden\",\"code\":\"403\"}\n\n",
        "data: {\"type\":\"test_start\",\"model\":\"模型-k2\"}\r\n\r\n\
         data: {\"type\":\"status\",\"text\":\"正在通过 /v1/chat/completions 测试连接\"}\r\n\r\n\
         data: {\"type\":\"error\",\"error\":\"Chat Completions API (/v1/chat/completions) returned 429: {\\\"error\\\": {}}\"}\r\n",
        "data:{\"type\":\"test_complete\",\"success\":false,\"error\":\"Responses API returned 502\"}",
    ];

    const CHAT_SAMPLES: &[&str] = &[
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"deepseek-chat\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"po\"},\"finish_reason\":null}]}\n\n\
         data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"deepseek-chat\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"ng\"},\"finish_reason\":\"stop\"}]}\n\n\
         data: [DONE]\n\n",
        "data: {\"choices\":[{\"delta\":{\"content\":\"p\"}}]}\n\n\
         event: error\ndata: {\"error\":{\"type\":\"upstream_error\",\"message\":\"Upstream request failed\"}}\n\n",
        ": keep-alive\n\nevent: message\ndata: {\"choices\":[{\"delta\":{\"content\":\"多\"}}]}\ndata: \n\n\
         data: {\"error\":{\"code\":401,\"message\":\"bad key\",\"status\":\"UNAUTHENTICATED\"}}\n\n",
    ];

    fn check_account(bytes: &[u8]) -> Result<(), TestCaseError> {
        let whole = parse_account_test(bytes);
        prop_assert!(whole.content_preview.chars().count() <= PREVIEW_CHARS);
        if let Some(status) = whole.http_status {
            prop_assert!((100..=599).contains(&status), "{status}");
            prop_assert_eq!(whole.outcome, ProbeOutcome::Failed);
        }
        if whole.outcome == ProbeOutcome::Passed {
            prop_assert_ne!(whole.message.as_str(), STREAM_ENDED_WITHOUT_RESULT);
        }
        prop_assert!(whole.model_tested.as_deref() != Some(""));
        Ok(())
    }

    fn check_chat(bytes: &[u8]) -> Result<(), TestCaseError> {
        let report = parse_chat_stream(bytes);
        prop_assert!(report.preview.chars().count() <= PREVIEW_CHARS);
        prop_assert!(report.model.as_deref() != Some(""));
        if report.finished || !report.preview.is_empty() || report.model.is_some() {
            prop_assert!(report.chunks > 0);
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn account_test_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
            check_account(&bytes)?;
        }

        #[test]
        fn account_test_mutated_streams(bytes in mutated(ACCOUNT_SAMPLES)) {
            check_account(&bytes)?;
        }

        #[test]
        fn account_test_chunking_never_matters(
            bytes in prop_oneof![mutated(ACCOUNT_SAMPLES), prop::collection::vec(any::<u8>(), 0..512)],
            cuts in prop::collection::vec(any::<usize>(), 0..16),
        ) {
            let whole = parse_account_test(&bytes);
            let mut parser = AccountTestParser::default();
            for chunk in chunked(&bytes, &cuts) {
                parser.push(&chunk);
            }
            prop_assert_eq!(parser.finish(), whole);
        }

        #[test]
        fn test_status_is_an_http_status(message in "(?s).{0,80}(returned )?[0-9]{0,5}.{0,20}") {
            if let Some(status) = parse_test_status(&message) {
                prop_assert!((100..=599).contains(&status));
            }
        }

        #[test]
        fn chat_stream_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
            check_chat(&bytes)?;
        }

        #[test]
        fn chat_stream_mutated_streams(bytes in mutated(CHAT_SAMPLES)) {
            check_chat(&bytes)?;
        }

        #[test]
        fn chat_stream_chunking_never_matters(
            bytes in prop_oneof![mutated(CHAT_SAMPLES), prop::collection::vec(any::<u8>(), 0..512)],
            cuts in prop::collection::vec(any::<usize>(), 0..16),
        ) {
            let whole = parse_chat_stream(&bytes);
            let mut parser = ChatStreamParser::default();
            for chunk in chunked(&bytes, &cuts) {
                parser.push(&chunk);
            }
            prop_assert_eq!(parser.finish(), whole);
        }
    }
}

mod envelope {
    use super::*;
    use crate::client::decode_envelope;
    use crate::error::HostError;
    use crate::sse::parse_gateway_error;
    use crate::upstream::parse_vendor_error;
    use crate::wire::{error_detail, TEXT_EXCERPT_CHARS};
    use relay_domain::{Redactor, Secret};

    const WHAT: &str = "POST /api/v1/admin/groups";

    const SAMPLES: &[&str] = &[
        r#"{"code":0,"message":"success","data":{"id":7,"name":"deepseek-pool"}}"#,
        r#"{"code":0,"message":"success"}"#,
        r#"{"code":400,"message":"invalid group","reason":"GROUP_INVALID","metadata":{"field":"name","limit":3}}"#,
        r#"{"code":"API_KEY_REQUIRED","message":"API key is required"}"#,
        r#"{"error":"rate_limited","message":"too many requests"}"#,
        r#"{"error":{"type":"api_error","message":"Service temporarily unavailable","code":"x"}}"#,
        r#"{"type":"error","error":{"type":"permission_error","message":"not assigned"}}"#,
        r#"{"error":{"code":401,"message":"bad key","status":"UNAUTHENTICATED"}}"#,
        r#"{"base_resp":{"status_code":1004,"status_msg":"login fail (1004)"}}"#,
        "404 page not found",
        "<html><body>502 Bad Gateway</body></html>",
    ];

    /// A body quoting `secret` where a chatty host would: message, code, reason,
    /// metadata key and value, data, plain text; sometimes JSON-escaped.
    fn leaky_body() -> impl Strategy<Value = (String, String)> {
        (secret(), 0usize..8, any::<bool>(), -3i64..500).prop_map(|(s, place, escape, code)| {
            let quoted = if escape {
                // `\u0073` is `s`: the same text once decoded.
                s.replacen('s', "\\u0073", 1)
            } else {
                s.clone()
            };
            let body = match place {
                0 => format!(r#"{{"code":{code},"message":"key {quoted} refused"}}"#),
                1 => format!(r#"{{"code":{code},"message":"m","reason":"R_{quoted}"}}"#),
                2 => format!(r#"{{"code":{code},"message":"m","metadata":{{"{quoted}":"v"}}}}"#),
                3 => format!(r#"{{"code":{code},"message":"m","metadata":{{"k":["{quoted}"]}}}}"#),
                4 => format!(r#"{{"code":"{quoted}","message":"m"}}"#),
                5 => format!(r#"{{"error":"e","message":"{quoted}"}}"#),
                6 => format!("upstream said: invalid key {s}\n"),
                _ => format!(r#"{{"code":{code},"message":"x","data":"{quoted}"#),
            };
            (body, s)
        })
    }

    fn texts_of(err: &HostError) -> String {
        format!("{err} {err:?}")
    }

    fn check_envelope(status: u16, body: &str, redactor: &Redactor) -> Result<(), TestCaseError> {
        match decode_envelope(WHAT, status, body, redactor) {
            Ok(_) => {}
            Err(HostError::Decode(text)) => {
                prop_assert!(text.starts_with(WHAT), "{text}");
            }
            Err(HostError::Host {
                status: s, code, ..
            }) => {
                prop_assert_eq!(s, status);
                prop_assert!(code.is_some());
            }
            Err(other) => prop_assert!(false, "untyped envelope error {other:?}"),
        }
        Ok(())
    }

    fn check_error_detail(
        status: u16,
        body: &str,
        redactor: &Redactor,
    ) -> Result<(), TestCaseError> {
        let (detail, is_json) = error_detail(status, body, redactor);
        prop_assert_eq!(detail.status, status);
        if !is_json {
            prop_assert!(detail.message.chars().count() <= TEXT_EXCERPT_CHARS + 1);
            prop_assert!(!detail.message.chars().any(char::is_control));
        }
        Ok(())
    }

    fn bodies() -> impl Strategy<Value = String> {
        prop_oneof![
            "(?s).{0,300}",
            mutated(SAMPLES).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        ]
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn envelope_any_body(status in 200u16..300, body in bodies()) {
            check_envelope(status, &body, &Redactor::new())?;
        }

        #[test]
        fn envelope_data_round_trips(data in "[a-z0-9 ]{0,20}", id in any::<i64>()) {
            let body = serde_json::json!({"code": 0, "message": "success", "data": {"id": id, "name": data}});
            let got = decode_envelope(WHAT, 200, &body.to_string(), &Redactor::new());
            prop_assert_eq!(got, Ok(body["data"].clone()));
        }

        #[test]
        fn error_detail_any_body(status in 100u16..600, body in bodies()) {
            check_error_detail(status, &body, &Redactor::new())?;
        }

        #[test]
        fn no_secret_leaks_from_host_errors(status in 200u16..600, (body, s) in leaky_body()) {
            let redactor = Redactor::new().with(&Secret::new(s.clone()));
            if let Err(err) = decode_envelope(WHAT, status, &body, &redactor) {
                let text = texts_of(&err);
                prop_assert!(!text.contains(&s), "{text}");
            }
            let (detail, _) = error_detail(status, &body, &redactor);
            let text = format!("{detail} {detail:?}");
            prop_assert!(!text.contains(&s), "{text}");
        }

        #[test]
        fn gateway_and_vendor_errors_any_body(status in 100u16..600, body in bodies()) {
            let g = parse_gateway_error(&body);
            if serde_json::from_str::<serde_json::Value>(body.trim()).is_err() {
                prop_assert!(g.message.chars().count() <= crate::sse::PREVIEW_CHARS);
            }
            if let Some(v) = parse_vendor_error(status, &body) {
                prop_assert!(v.message.chars().count() <= crate::upstream::MESSAGE_CHARS, "{}", v.message.len());
            }
        }
    }
}
