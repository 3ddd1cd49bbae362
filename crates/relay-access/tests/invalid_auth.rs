//! The gateway's invalid-auth limiter (sub2api 0.1.179: 120 failed key checks per
//! client IP within 60 s block the IP for 60 s, `429 INVALID_AUTH_RATE_LIMITED`):
//! the probe says so at once instead of retrying through the warm-up window.

use relay_core::*;
use relay_domain::ModeProof;
use relay_sub2api::{subscription_type, HostAdapter};
use relay_testkit::access::{settings, Env};
use sub2api_mock::HostKnobs;

fn block_the_client(env: &Env) {
    env.host.set_knobs(HostKnobs {
        invalid_auth_threshold: 2,
        ..HostKnobs::default()
    });
    for _ in 0..2 {
        let r = env.client.gateway_reachability().unwrap();
        if r.invalid_auth_limited {
            break;
        }
    }
}

#[test]
fn a_blocked_client_ip_is_reported_clearly_and_not_retried() {
    let env = Env::start();
    let (group, _) =
        env.group_with_account("crm-t-ia", subscription_type::STANDARD, "sk-good-ia", true);
    let (_, key) = env.user_with_key("ia@example.com", Some(group.id), 5.0);
    block_the_client(&env);

    let reach = check_reachability(&env.client, &NoObserver);
    assert!(!reach.reachable);
    assert_eq!(reach.models_status, Some(429));
    assert_eq!(reach.code.as_deref(), Some("INVALID_AUTH_RATE_LIMITED"));
    let message = reach.message.unwrap();
    assert!(message.starts_with(INVALID_AUTH_BLOCK_MESSAGE), "{message}");
    assert!(message.contains("retry after "), "{message}");

    let proof = probe_gateway(
        &env.ports(),
        &key.key,
        relay_domain::AccessMode::SelfService,
        ProbeKeySource::SuppliedKey,
        &settings(),
        None,
    )
    .unwrap();
    assert_eq!(proof.proof, ModeProof::Broken);
    assert_eq!(proof.attempts, 1, "a blocked IP is not retried");
    assert_eq!(proof.models_status, Some(429));
    assert_eq!(proof.message.as_deref(), Some(INVALID_AUTH_BLOCK_MESSAGE));

    // The limiter off (the block over): the same key works.
    env.host.set_knobs(HostKnobs {
        invalid_auth_threshold: 0,
        ..HostKnobs::default()
    });
    let proof = probe_gateway(
        &env.ports(),
        &key.key,
        relay_domain::AccessMode::SelfService,
        ProbeKeySource::SuppliedKey,
        &settings(),
        None,
    )
    .unwrap();
    assert!(proof.is_ready(), "{proof:#?}");
}
