//! Identifiers of the manager's own records. Host-side ids are plain `i64`.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! string_id {
    ($(#[$meta:meta])* $name:ident, $prefix:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The prefix of every id of this kind.
            pub const PREFIX: &'static str = $prefix;

            /// Builds a new id from random bytes supplied by the caller
            /// (the domain does no I/O): `<prefix>_<hex>`.
            pub fn from_random(bytes: &[u8]) -> Self {
                $name(format!("{}_{}", $prefix, crate::keys::hex(bytes)))
            }

            /// Wraps an id read back from storage or a request.
            pub fn new(value: impl Into<String>) -> Self {
                $name(value.into())
            }

            /// The id as a string.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                $name(value.to_string())
            }
        }
    };
}

string_id!(
    /// A registered host.
    HostId, "host"
);
string_id!(
    /// An import batch.
    BatchId, "batch"
);
string_id!(
    /// A reconcile run.
    ReconcileRunId, "rec"
);
string_id!(
    /// A batch auto-import run ("URL + key").
    RunId, "run"
);
string_id!(
    /// One line (item) of a batch auto-import run.
    RunItemId, "item"
);

/// A pack id from `pack.json` (`pack_id`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PackId(pub String);

/// A provider id from a provider manifest (`provider_id`), unique within its pack.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProviderId(pub String);

impl PackId {
    /// A pack id.
    pub fn new(id: impl Into<String>) -> Self {
        PackId(id.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl ProviderId {
    /// A provider id.
    pub fn new(id: impl Into<String>) -> Self {
        ProviderId(id.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PackId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for ProviderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_ids_have_prefix_and_hex() {
        let id = BatchId::from_random(&[0xab, 0x01]);
        assert_eq!(id.as_str(), "batch_ab01");
        assert_eq!(HostId::from_random(&[1]).to_string(), "host_01");
    }
}
