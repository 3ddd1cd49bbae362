//! Ports for the secrets of managed subscribers, and for randomness.

use relay_domain::{hex, Secret};
use relay_sub2api::ObjectId;

/// A managed subscriber: a host user whose password the manager holds (sealed).
#[derive(Debug, Clone, PartialEq)]
pub struct ManagedSubscriber {
    /// E-mail (lowercase), the login name on the host.
    pub email: String,
    /// The generated password (sealed by the application; never shown).
    pub password: Secret,
    /// The host user id, once known.
    pub host_user_id: Option<ObjectId>,
}

/// Why the vault failed. The application maps its storage errors here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    /// The sealed store could not be read or written.
    #[error("the secret vault is unavailable: {0}")]
    Storage(String),
}

/// Sealed secrets of managed subscribers on **one host** (the application builds a
/// vault per host). E-mails are passed in lowercase.
///
/// The vault never invents secrets: the closure generates passwords and keys with
/// a [`Randomness`] and hands them in.
pub trait SubscriberVault: Send + Sync {
    /// The subscriber with this e-mail, if the vault knows it.
    fn subscriber(&self, email: &str) -> Result<Option<ManagedSubscriber>, VaultError>;

    /// The subscriber with this e-mail, storing `candidate_password` as its
    /// password when the vault does not know it yet (an existing password wins).
    fn get_or_create(
        &self,
        email: &str,
        candidate_password: Secret,
    ) -> Result<ManagedSubscriber, VaultError>;

    /// Remembers the host user id of a subscriber.
    fn set_host_user_id(&self, email: &str, host_user_id: ObjectId) -> Result<(), VaultError>;

    /// The user key stored for (subscriber, group), if any.
    fn user_key(&self, email: &str, group_id: ObjectId) -> Result<Option<Secret>, VaultError>;

    /// Stores (or replaces) the user key of (subscriber, group). Called **before**
    /// the key is created on the host, so a crash never loses a key value.
    fn put_user_key(&self, email: &str, group_id: ObjectId, key: &Secret)
        -> Result<(), VaultError>;

    /// Forgets the user key of (subscriber, group) (after the host key is deleted).
    fn remove_user_key(&self, email: &str, group_id: ObjectId) -> Result<(), VaultError>;
}

/// A source of random bytes, provided by the application (the domain crates do no
/// I/O and carry no RNG). Implementations must be cryptographically secure in
/// production: the bytes become passwords and user keys.
pub trait Randomness: Send + Sync {
    /// Fills `buf` with random bytes.
    fn fill(&self, buf: &mut [u8]);
}

/// Prefix of every user key the manager chooses with `custom_key`.
pub const USER_KEY_PREFIX: &str = "sk-crm-";

/// A new user key: `sk-crm-` followed by 48 lowercase hex characters.
pub fn generate_user_key(random: &dyn Randomness) -> Secret {
    let mut bytes = [0u8; 24];
    random.fill(&mut bytes);
    Secret::new(format!("{USER_KEY_PREFIX}{}", hex(&bytes)))
}

/// A new subscriber password: `crm-` followed by 40 lowercase hex characters.
pub fn generate_password(random: &dyn Randomness) -> Secret {
    let mut bytes = [0u8; 20];
    random.fill(&mut bytes);
    Secret::new(format!("crm-{}", hex(&bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(u8);
    impl Randomness for Fixed {
        fn fill(&self, buf: &mut [u8]) {
            buf.fill(self.0);
        }
    }

    #[test]
    fn generated_secrets_have_the_documented_shape() {
        let key = generate_user_key(&Fixed(0xab));
        assert_eq!(key.expose().len(), USER_KEY_PREFIX.len() + 48);
        assert!(key.expose().starts_with("sk-crm-abab"));
        assert!(key
            .expose()
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-'));
        let pw = generate_password(&Fixed(1));
        assert_eq!(pw.expose(), format!("crm-{}", "01".repeat(20)));
    }
}
