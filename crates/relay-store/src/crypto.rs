//! Sealing of secrets at rest (SPEC §8).
//!
//! Host admin credentials, operator-supplied probe keys, user keys created for
//! managed subscribers and managed subscriber passwords are sealed with
//! XChaCha20-Poly1305 under a 32-byte master key. A sealed value is
//! `v1:` + base64(nonce ‖ ciphertext+tag) with a fresh random 192-bit nonce. The
//! caller's *associated data* names the row and purpose the value belongs to, so
//! a sealed value copied into another row does not open.
//!
//! The master key comes from `RELAY_MASTER_KEY` (base64, passed in by the caller)
//! or from the key file `master.key` in the data directory, created with mode
//! `0600` when absent. Upstream keys are never sealed nor stored: only their
//! fingerprint and mask are kept.

use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use relay_domain::Secret;

use crate::error::CryptoError;

/// Name of the key file in the data directory.
pub const KEY_FILE_NAME: &str = "master.key";

const SEALED_PREFIX: &str = "v1:";
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// A 32-byte master key. `Debug` never prints the key.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl MasterKey {
    /// A new random key from the operating system's generator.
    pub fn generate() -> MasterKey {
        let key = XChaCha20Poly1305::generate_key(&mut OsRng);
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(&key);
        MasterKey(bytes)
    }

    /// Decodes a base64 (standard alphabet, padded or not) key of exactly 32 bytes.
    /// Surrounding white space is ignored.
    pub fn from_base64(value: &str) -> Result<MasterKey, CryptoError> {
        let trimmed = value.trim();
        let decoded = B64
            .decode(trimmed)
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(trimmed))
            .map_err(|_| CryptoError::InvalidMasterKey {
                reason: "not valid base64".into(),
            })?;
        let bytes: [u8; 32] =
            decoded
                .as_slice()
                .try_into()
                .map_err(|_| CryptoError::InvalidMasterKey {
                    reason: format!("decodes to {} bytes, expected 32", decoded.len()),
                })?;
        Ok(MasterKey(bytes))
    }

    /// The key as base64, e.g. to print once for `RELAY_MASTER_KEY`.
    pub fn to_base64(&self) -> Secret {
        Secret::new(B64.encode(self.0))
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
        path: PathBuf,
        /// True when this open created the file.
        created: bool,
        /// True when the file is readable or writable by group or others
        /// (the caller should warn and `chmod 600` it).
        loose_permissions: bool,
    },
}

/// Loads the key file of `data_dir`, creating it (mode `0600`) with a random key
/// when absent.
pub fn load_or_create_key_file(data_dir: &Path) -> Result<(MasterKey, KeySource), CryptoError> {
    let path = data_dir.join(KEY_FILE_NAME);
    let key_file_err = |reason: String| CryptoError::KeyFile {
        path: path.display().to_string(),
        reason,
    };
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(&path) {
        Ok(mut file) => {
            let key = MasterKey::generate();
            let encoded = key.to_base64();
            file.write_all(encoded.expose().as_bytes())
                .and_then(|()| file.write_all(b"\n"))
                .and_then(|()| file.sync_all())
                .map_err(|e| key_file_err(format!("cannot write: {}", e.kind())))?;
            Ok((
                key,
                KeySource::KeyFile {
                    path,
                    created: true,
                    loose_permissions: false,
                },
            ))
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = fs::read_to_string(&path)
                .map_err(|e| key_file_err(format!("cannot read: {}", e.kind())))?;
            let key = MasterKey::from_base64(&text).map_err(|e| key_file_err(e.to_string()))?;
            let loose_permissions = has_loose_permissions(&path);
            Ok((
                key,
                KeySource::KeyFile {
                    path,
                    created: false,
                    loose_permissions,
                },
            ))
        }
        Err(e) => Err(key_file_err(format!("cannot create: {}", e.kind()))),
    }
}

#[cfg(unix)]
fn has_loose_permissions(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o077 != 0)
        .unwrap_or(false)
}

#[cfg(not(unix))]
fn has_loose_permissions(_path: &Path) -> bool {
    false
}

/// Seals and opens secrets under one master key.
#[derive(Clone)]
pub struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sealer(***)")
    }
}

impl Sealer {
    /// A sealer for `key`.
    pub fn new(key: &MasterKey) -> Sealer {
        Sealer {
            cipher: XChaCha20Poly1305::new(&key.0.into()),
        }
    }

    /// Seals `secret` bound to `aad` (the row and purpose it belongs to).
    /// Returns `v1:` + base64(nonce ‖ ciphertext).
    pub fn seal(&self, secret: &Secret, aad: &str) -> Result<String, CryptoError> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ciphertext = self
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
        Ok(format!("{SEALED_PREFIX}{}", B64.encode(out)))
    }

    /// Opens a value produced by [`Sealer::seal`] with the same `aad`.
    pub fn open(&self, sealed: &str, aad: &str) -> Result<Secret, CryptoError> {
        let body = sealed
            .strip_prefix(SEALED_PREFIX)
            .ok_or(CryptoError::Malformed {
                reason: "unknown format version",
            })?;
        let raw = B64.decode(body).map_err(|_| CryptoError::Malformed {
            reason: "not valid base64",
        })?;
        if raw.len() < NONCE_LEN + TAG_LEN {
            return Err(CryptoError::Malformed {
                reason: "too short",
            });
        }
        let (nonce, ciphertext) = raw.split_at(NONCE_LEN);
        let plain = self
            .cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::OpenFailed)?;
        String::from_utf8(plain)
            .map(Secret::new)
            .map_err(|_| CryptoError::OpenFailed)
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
        assert!(sealed.starts_with("v1:"));
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
    }
}
