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

/// Idempotency key of an account create, derived from the batch and the key
/// fingerprint so that a retried create cannot duplicate.
pub fn account_idempotency_key(batch_id: &str, fingerprint: &Fingerprint) -> String {
    format!("{NAME_PREFIX}-{batch_id}-{}", &fingerprint.as_str()[..16])
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
            account_idempotency_key("batch_01", &fp),
            "crm-batch_01-ba7816bf8f01cfea"
        );
    }
}
