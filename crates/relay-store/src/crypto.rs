//! Sealing of secrets at rest (SPEC §8).
//!
//! Host admin credentials, operator-supplied probe keys, user keys created for
//! managed subscribers and managed subscriber passwords are sealed with
//! XChaCha20-Poly1305 under a 32-byte master key. A sealed value is
//! `v2:<key id>:` + base64(nonce ‖ ciphertext+tag) with a fresh random 192-bit
//! nonce; the key id ([`MasterKey::key_id`]) names the key that sealed it, so a
//! store that knows several keys (during a rotation) opens each value with the
//! right one. Values of earlier releases (`v1:` + base64, no key id) still open.
//! The caller's *associated data* names the row and purpose the value belongs to,
//! so a sealed value copied into another row does not open.
//!
//! The master key comes from `RELAY_MASTER_KEY` (base64, passed in by the caller)
//! or from the key file `master.key` in the data directory, created atomically with
//! mode `0600` when absent (and never when the database already holds sealed
//! values). Upstream keys are never sealed nor stored: only their fingerprint and
//! mask are kept. Key material is zeroized when dropped.

use std::fmt;
use std::path::Path;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use relay_domain::Secret;
use sha2::{Digest, Sha256};
use zeroize::Zeroize;

use crate::error::{CryptoError, StoreError};
use crate::files;

/// Name of the key file in the data directory.
pub const KEY_FILE_NAME: &str = "master.key";

/// Name of the next key file while a master-key rotation is under way.
pub const NEXT_KEY_FILE_NAME: &str = "master.key.next";

const SEALED_PREFIX_V1: &str = "v1:";
const SEALED_PREFIX_V2: &str = "v2:";
const KEY_ID_HEX: usize = 16;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// A 32-byte master key. `Debug` never prints the key; the bytes are zeroized on drop.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl Drop for MasterKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl PartialEq for MasterKey {
    fn eq(&self, other: &Self) -> bool {
        // Constant time is not needed (never compared with attacker input), but cheap.
        self.0
            .iter()
            .zip(other.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

impl Eq for MasterKey {}

impl MasterKey {
    /// A new random key from the operating system's generator.
    pub fn generate() -> MasterKey {
        let mut key = XChaCha20Poly1305::generate_key(&mut OsRng);
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(&key);
        key.zeroize();
        MasterKey(bytes)
    }

    /// Decodes a base64 (standard alphabet, padded or not) key of exactly 32 bytes.
    /// Surrounding white space is ignored.
    pub fn from_base64(value: &str) -> Result<MasterKey, CryptoError> {
        let trimmed = value.trim();
        let mut decoded = B64
            .decode(trimmed)
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(trimmed))
            .map_err(|_| CryptoError::InvalidMasterKey {
                reason: "not valid base64".into(),
            })?;
        let key = match <[u8; 32]>::try_from(decoded.as_slice()) {
            Ok(bytes) => Ok(MasterKey(bytes)),
            Err(_) => Err(CryptoError::InvalidMasterKey {
                reason: format!("decodes to {} bytes, expected 32", decoded.len()),
            }),
        };
        decoded.zeroize();
        key
    }

    /// The key as base64, e.g. to write a key file.
    pub fn to_base64(&self) -> Secret {
        Secret::new(B64.encode(self.0))
    }

    /// The key's id: the first 16 hex characters of a domain-separated SHA-256 of
    /// the key. It tells keys apart (which key sealed a value, which backup holds
    /// the right key) and reveals nothing usable about a 256-bit random key.
    pub fn key_id(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(b"relay-store master key id v1\0");
        hasher.update(self.0);
        let digest = hasher.finalize();
        relay_domain::hex(&digest)[..KEY_ID_HEX].to_string()
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(***)")
    }
}

/// Where the master key of an open store came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// Supplied by the caller (normally from `RELAY_MASTER_KEY`).
    Supplied,
    /// Generated for an in-memory store; lost with it.
    Ephemeral,
    /// Read from, or created as, the key file.
    KeyFile {
        /// Path of the key file.
        path: std::path::PathBuf,
        /// True when this open created the file.
        created: bool,
    },
}

/// Reads a key file: `Ok(None)` when absent; refused when group or others can
/// access it ([`StoreError::LoosePermissions`]) or when it does not hold a key.
pub fn read_key_file(path: &Path) -> Result<Option<MasterKey>, StoreError> {
    let Some(mut text) = files::read_private_file(path)? else {
        return Ok(None);
    };
    let key = MasterKey::from_base64(&text).map_err(|e| CryptoError::KeyFile {
        path: path.display().to_string(),
        reason: e.to_string(),
    });
    text.zeroize();
    Ok(Some(key?))
}

/// Writes `key` as a new key file (mode `0600`, atomically). Returns the key in
/// the file: `key`, or the one of a file that appeared meanwhile.
pub(crate) fn create_key_file(
    path: &Path,
    key: MasterKey,
) -> Result<(MasterKey, bool), StoreError> {
    let encoded = key.to_base64();
    let line = format!("{}\n", encoded.expose());
    let created = files::create_private_file(path, line.as_bytes());
    drop(Secret::new(line));
    if created? {
        return Ok((key, true));
    }
    let existing = read_key_file(path)?.ok_or_else(|| CryptoError::KeyFile {
        path: path.display().to_string(),
        reason: "vanished while being created".into(),
    })?;
    Ok((existing, false))
}

#[derive(Clone)]
struct RingKey {
    id: String,
    cipher: XChaCha20Poly1305,
}

/// Seals with one master key (the primary) and opens values sealed with any key
/// of its ring, choosing the key by the value's key id.
#[derive(Clone)]
pub struct Sealer {
    // The primary key first.
    keys: Vec<RingKey>,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealer")
            .field("key_ids", &self.key_ids())
            .finish_non_exhaustive()
    }
}

/// What a sealed value says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealedFormat<'a> {
    /// `v1:` (no key id: sealed by a release before key ids).
    V1,
    /// `v2:<key id>:`.
    V2 {
        /// The id of the key that sealed it.
        key_id: &'a str,
    },
}

impl Sealer {
    /// A sealer for `key` alone.
    pub fn new(key: &MasterKey) -> Sealer {
        Sealer::with_ring(key, &[])
    }

    /// A sealer that seals with `primary` and also opens values sealed with `others`.
    pub fn with_ring(primary: &MasterKey, others: &[MasterKey]) -> Sealer {
        let mut keys = vec![ring_key(primary)];
        for k in others {
            let rk = ring_key(k);
            if keys.iter().all(|have| have.id != rk.id) {
                keys.push(rk);
            }
        }
        Sealer { keys }
    }

    /// Id of the key this sealer seals with.
    pub fn key_id(&self) -> &str {
        &self.keys[0].id
    }

    /// Ids of every key of the ring, the sealing key first.
    pub fn key_ids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.id.as_str()).collect()
    }

    /// The format (and key id) of a sealed value, without opening it.
    pub fn format_of(sealed: &str) -> Result<SealedFormat<'_>, CryptoError> {
        if sealed.starts_with(SEALED_PREFIX_V1) {
            return Ok(SealedFormat::V1);
        }
        let rest = sealed
            .strip_prefix(SEALED_PREFIX_V2)
            .ok_or(CryptoError::Malformed {
                reason: "unknown format version",
            })?;
        let (key_id, _) = rest.split_once(':').ok_or(CryptoError::Malformed {
            reason: "no key id",
        })?;
        Ok(SealedFormat::V2 { key_id })
    }

    /// Seals `secret` bound to `aad` (the row and purpose it belongs to).
    /// Returns `v2:<key id>:` + base64(nonce ‖ ciphertext).
    pub fn seal(&self, secret: &Secret, aad: &str) -> Result<String, CryptoError> {
        let primary = &self.keys[0];
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ciphertext = primary
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: secret.expose().as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::SealFailed)?;
        let mut out = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        Ok(format!(
            "{SEALED_PREFIX_V2}{}:{}",
            primary.id,
            B64.encode(out)
        ))
    }

    /// Opens a value produced by [`Sealer::seal`] (or a `v1:` value of an earlier
    /// release) with the same `aad`.
    pub fn open(&self, sealed: &str, aad: &str) -> Result<Secret, CryptoError> {
        self.open_with_key_id(sealed, aad).map(|(secret, _)| secret)
    }

    /// Like [`Sealer::open`], also naming the id of the key that opened the value.
    pub fn open_with_key_id(
        &self,
        sealed: &str,
        aad: &str,
    ) -> Result<(Secret, String), CryptoError> {
        let (candidates, body): (Vec<&RingKey>, &str) = match Sealer::format_of(sealed)? {
            SealedFormat::V1 => (
                self.keys.iter().collect(),
                &sealed[SEALED_PREFIX_V1.len()..],
            ),
            SealedFormat::V2 { key_id } => {
                let key = self.keys.iter().find(|k| k.id == key_id).ok_or_else(|| {
                    CryptoError::UnknownKeyId {
                        key_id: key_id.to_string(),
                    }
                })?;
                (
                    vec![key],
                    &sealed[SEALED_PREFIX_V2.len() + key_id.len() + 1..],
                )
            }
        };
        let raw = B64.decode(body).map_err(|_| CryptoError::Malformed {
            reason: "not valid base64",
        })?;
        if raw.len() < NONCE_LEN + TAG_LEN {
            return Err(CryptoError::Malformed {
                reason: "too short",
            });
        }
        let (nonce, ciphertext) = raw.split_at(NONCE_LEN);
        for key in candidates {
            if let Ok(plain) = key.cipher.decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: aad.as_bytes(),
                },
            ) {
                return match String::from_utf8(plain) {
                    Ok(s) => Ok((Secret::new(s), key.id.clone())),
                    Err(e) => {
                        e.into_bytes().zeroize();
                        Err(CryptoError::OpenFailed)
                    }
                };
            }
        }
        Err(CryptoError::OpenFailed)
    }
}

/// A `v1:` value as releases before key ids sealed it (for tests of old databases).
#[cfg(test)]
pub(crate) fn seal_v1(key: &MasterKey, secret: &str, aad: &str) -> String {
    let cipher = XChaCha20Poly1305::new(&key.0.into());
    let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
    let ct = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: secret.as_bytes(),
                aad: aad.as_bytes(),
            },
        )
        .expect("sealing succeeds");
    let mut raw = nonce.to_vec();
    raw.extend_from_slice(&ct);
    format!("{SEALED_PREFIX_V1}{}", B64.encode(raw))
}

fn ring_key(key: &MasterKey) -> RingKey {
    RingKey {
        id: key.key_id(),
        cipher: XChaCha20Poly1305::new(&key.0.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_round_trips_and_binds_aad() {
        let sealer = Sealer::new(&MasterKey::generate());
        let sealed = sealer
            .seal(&Secret::new("admin-key-123"), "hosts:h1")
            .unwrap();
        let key_id = sealer.key_id().to_string();
        assert!(sealed.starts_with(&format!("v2:{key_id}:")), "{sealed}");
        assert_eq!(
            Sealer::format_of(&sealed).unwrap(),
            SealedFormat::V2 { key_id: &key_id }
        );
        assert!(!sealed.contains("admin-key-123"));
        assert_eq!(
            sealer.open(&sealed, "hosts:h1").unwrap().expose(),
            "admin-key-123"
        );
        assert_eq!(
            sealer.open(&sealed, "hosts:h2").unwrap_err(),
            CryptoError::OpenFailed
        );
        // Two seals of the same value differ (random nonce).
        assert_ne!(
            sealed,
            sealer
                .seal(&Secret::new("admin-key-123"), "hosts:h1")
                .unwrap()
        );
    }

    #[test]
    fn master_key_base64_is_validated() {
        let key = MasterKey::generate();
        let encoded = key.to_base64();
        let back = MasterKey::from_base64(&format!(" {}\n", encoded.expose())).unwrap();
        assert_eq!(back.0, key.0);
        assert!(matches!(
            MasterKey::from_base64("c2hvcnQ="),
            Err(CryptoError::InvalidMasterKey { reason }) if reason.contains("5 bytes")
        ));
        assert!(MasterKey::from_base64("not base64 !!").is_err());
        assert_eq!(format!("{key:?}"), "MasterKey(***)");
    }

    #[test]
    fn malformed_values_are_typed() {
        let sealer = Sealer::new(&MasterKey::generate());
        assert!(matches!(
            sealer.open("plain", "x"),
            Err(CryptoError::Malformed { .. })
        ));
        assert!(matches!(
            sealer.open("v1:AAAA", "x"),
            Err(CryptoError::Malformed { .. })
        ));
        assert!(matches!(
            sealer.open("v2:AAAA", "x"),
            Err(CryptoError::Malformed { .. })
        ));
        assert!(matches!(
            sealer.open("v2:0123456789abcdef:AAAA", "x"),
            Err(CryptoError::UnknownKeyId { .. })
        ));
    }

    #[test]
    fn a_ring_opens_by_key_id_and_legacy_values_with_any_key() {
        let old = MasterKey::generate();
        let new = MasterKey::generate();
        assert_ne!(old.key_id(), new.key_id());
        assert_eq!(old.key_id().len(), 16);
        let by_old = Sealer::new(&old).seal(&Secret::new("s1"), "a").unwrap();
        let legacy = seal_v1(&old, "s2", "b");
        let ring = Sealer::with_ring(&new, std::slice::from_ref(&old));
        assert_eq!(ring.key_id(), new.key_id());
        assert_eq!(
            ring.key_ids(),
            vec![new.key_id().as_str(), old.key_id().as_str()]
        );
        let (v, by) = ring.open_with_key_id(&by_old, "a").unwrap();
        assert_eq!((v.expose(), by.as_str()), ("s1", old.key_id().as_str()));
        let (v, by) = ring.open_with_key_id(&legacy, "b").unwrap();
        assert_eq!((v.expose(), by.as_str()), ("s2", old.key_id().as_str()));
        // A new seal is under the primary key; the old key alone cannot open it.
        let resealed = ring.seal(&Secret::new("s1"), "a").unwrap();
        assert!(resealed.starts_with(&format!("v2:{}:", new.key_id())));
        assert!(matches!(
            Sealer::new(&old).open(&resealed, "a"),
            Err(CryptoError::UnknownKeyId { .. })
        ));
        // A forged key id does not make the wrong key open it.
        let forged = resealed.replacen(&new.key_id(), &old.key_id(), 1);
        assert_eq!(
            Sealer::new(&old).open(&forged, "a").unwrap_err(),
            CryptoError::OpenFailed
        );
    }
}
