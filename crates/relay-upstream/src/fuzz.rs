//! Fuzz targets (property-based, `proptest`) for the direct vendor probe's readers: the
//! first event of a server-sent-event stream and the classification of any answer.
//! Inside the crate as both are private. `RELAY_FUZZ_CASES` cases per target (default
//! [`DEFAULT_CASES`]); `RELAY_FUZZ_SEED` fixes the seed (`cargo xtask fuzz` sets both).

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

use crate::classify::{classify, Expect};
use crate::wire::{first_event, Answer};

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

/// Stream-like text: SSE lines, JSON fragments, noise.
fn stream_text() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        Just("data: [DONE]".to_owned()),
        Just(": keep-alive".to_owned()),
        Just("event: error".to_owned()),
        Just(String::new()),
        Just("data:".to_owned()),
        Just("data: {\"choices\":[{\"delta\":{\"content\":\"p\"}}]}".to_owned()),
        Just(
            "data: {\"error\":{\"type\":\"invalid_request_error\",\"message\":\"bad\"}}".to_owned()
        ),
        "data: ?(?s).{0,40}",
        "(?s).{0,40}",
    ];
    (
        prop::collection::vec(line, 0..10),
        prop_oneof![Just("\n"), Just("\r\n"), Just("\r")],
    )
        .prop_map(|(lines, end)| lines.join(end))
}

fn expect() -> impl Strategy<Value = Expect> {
    prop_oneof![
        Just(Expect::ModelList),
        Just(Expect::Chat),
        Just(Expect::ChatTools),
        Just(Expect::ChatStream),
        Just(Expect::Responses),
        Just(Expect::Messages),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn first_event_is_a_complete_data_line(text in prop_oneof![stream_text(), "(?s).{0,400}"]) {
        if let Some(payload) = first_event(&text) {
            prop_assert!(!payload.is_empty());
            prop_assert_eq!(payload, payload.trim());
            let end = text.rfind('\n').unwrap();
            let at = payload.as_ptr() as usize - text.as_ptr() as usize;
            prop_assert!(at + payload.len() <= end, "{:?} past the last line end", payload);
        }
    }

    #[test]
    fn any_answer_is_classified(
        expect in expect(),
        status in prop_oneof![100u16..600, Just(200u16), Just(401u16), Just(429u16)],
        content_type in prop_oneof![Just(String::new()), Just("application/json".to_owned()), Just("text/event-stream".to_owned()), "[a-z/;= -]{0,30}"],
        body in prop_oneof![stream_text(), "(?s).{0,300}"],
        truncated in any::<bool>(),
    ) {
        let answer = Answer { status, content_type, body, truncated, read_error: None };
        let _ = classify(expect, &answer);
    }
}
