//! Deterministic names of the host objects the manager creates (SPEC §4.3–§4.4).

use crate::{AccessMode, Fingerprint};

/// Prefix of every name the manager gives a host object.
pub const NAME_PREFIX: &str = "crm";

/// Name of the group, channel and plan of a provider: `crm-<pack>-<provider>-<mode>`.
pub fn provider_resource_name(pack_id: &str, provider_id: &str, mode: AccessMode) -> String {
    let mode = match mode {
        AccessMode::Subscription => "sub",
        AccessMode::SelfService => "self",
    };
    format!("{NAME_PREFIX}-{pack_id}-{provider_id}-{mode}")
}

/// Name of the account of one key: `<provider>-<fingerprint8>`.
pub fn account_name(provider_id: &str, fingerprint: &Fingerprint) -> String {
    format!("{provider_id}-{}", fingerprint.short())
}

/// First 16 hex digits of the SHA-256 of `parts` joined by newlines.
fn digest16(parts: &[&str]) -> String {
    let digest = Fingerprint::of(&parts.join("\n"));
    digest.as_str()[..16].to_string()
}

/// `Idempotency-Key` of an account create: the batch, the key fingerprint and the
/// journal intent of this create, so that a retried create replays and cannot
/// duplicate, while a later create of the same key (a new intent, e.g. after its
/// account was deleted) is a new write. At most 128 printable characters, as the
/// host requires.
pub fn account_idempotency_key(
    batch_id: &str,
    fingerprint: &Fingerprint,
    intent_id: i64,
) -> String {
    format!(
        "{NAME_PREFIX}-{batch_id}-{}-{intent_id}",
        &fingerprint.as_str()[..16]
    )
}

/// `Idempotency-Key` of a batch account create: the batch and the (intent, key
/// fingerprint) pairs of the chunk, in request order.
pub fn account_batch_idempotency_key(batch_id: &str, items: &[(i64, &Fingerprint)]) -> String {
    let parts: Vec<String> = items
        .iter()
        .map(|(intent, fp)| format!("{intent}:{}", fp.as_str()))
        .collect();
    let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
    let first = items.first().map_or(0, |(intent, _)| *intent);
    format!(
        "{NAME_PREFIX}-{batch_id}-batch-{first}x{}-{}",
        items.len(),
        digest16(&refs)
    )
}

/// `Idempotency-Key` of a user key create: the user, the group and the fingerprint
/// of the chosen key value. The host shares one key space between all users of the
/// route, so the user is part of it.
pub fn user_key_idempotency_key(user_id: i64, group_id: i64, key: &Fingerprint) -> String {
    format!(
        "{NAME_PREFIX}-key-{user_id}-{group_id}-{}",
        &key.as_str()[..16]
    )
}

/// `Idempotency-Key` of a balance top-up of `user_id` to `target` from the balance
/// seen before (`seen`), within `scope` (the batch, when there is one); `attempt`
/// moves to a fresh key when the host replays an older top-up that no longer holds.
pub fn balance_idempotency_key(
    scope: &str,
    user_id: i64,
    target: f64,
    seen: f64,
    attempt: u32,
) -> String {
    let digest = digest16(&[scope, &format!("{target:.6}"), &format!("{seen:.6}")]);
    format!("{NAME_PREFIX}-bal-{user_id}-{digest}-{attempt}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_deterministic() {
        assert_eq!(
            provider_resource_name("openai-cn-pack", "deepseek", AccessMode::Subscription),
            "crm-openai-cn-pack-deepseek-sub"
        );
        let fp = Fingerprint::of("abc");
        assert_eq!(account_name("deepseek", &fp), "deepseek-ba7816bf");
        assert_eq!(
            account_idempotency_key("batch_01", &fp, 7),
            "crm-batch_01-ba7816bf8f01cfea-7"
        );
        let other = Fingerprint::of("abd");
        let a = account_batch_idempotency_key("batch_01", &[(7, &fp), (8, &other)]);
        assert!(a.starts_with("crm-batch_01-batch-7x2-"), "{a}");
        assert_eq!(
            a,
            account_batch_idempotency_key("batch_01", &[(7, &fp), (8, &other)])
        );
        assert_ne!(
            a,
            account_batch_idempotency_key("batch_01", &[(8, &other), (7, &fp)])
        );
        assert_eq!(
            user_key_idempotency_key(3, 9, &fp),
            "crm-key-3-9-ba7816bf8f01cfea"
        );
        let b = balance_idempotency_key("batch_01", 3, 1.0, 0.25, 0);
        assert_eq!(b, balance_idempotency_key("batch_01", 3, 1.0, 0.25, 0));
        assert_ne!(b, balance_idempotency_key("batch_01", 3, 1.0, 0.5, 0));
        assert_ne!(b, balance_idempotency_key("batch_01", 3, 1.0, 0.25, 1));
        for k in [a, b] {
            assert!(
                k.len() <= 128 && k.bytes().all(|c| (33..=126).contains(&c)),
                "{k}"
            );
        }
    }
}
