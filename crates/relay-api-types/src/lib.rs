//! The HTTP contract of the relay manager: every request and response body of the
//! API of `relay-server` as typed serde structs and enums.
//!
//! This crate is the contract's one owner. `relay-api` parses every request body into
//! these types and builds every answer from them; the `relay` CLI sends and reads the
//! same types; `docs/openapi.yaml` is checked against them by this crate's
//! `tests/openapi.rs` (every schema property against a field, required against always
//! present, nullable against `Option`, enums against variants; [`JsonSchema`] gives
//! their shape), and the running server against the document by `cargo xtask contract`
//! (schemathesis).
//!
//! Conventions of the wire (see `docs/api-contract.md`):
//! - timestamps are integers, milliseconds since the Unix epoch (UTC);
//! - host object ids (groups, accounts, users, keys) are integers;
//! - keys never appear: only their SHA-256 `fingerprint` and a `mask` (`sk-a…9f3c`);
//! - in answers an absent value is `null` (the field is always there) unless a field's
//!   doc says it is left out;
//! - in requests unknown fields are refused and `null` means the field is absent.
//!
//! Our own status vocabularies come from `relay-domain` and are re-exported here
//! ([`BatchStatus`], [`AccessStatus`], …); the vocabularies of reports and records are
//! in [`vocab`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// Declares a vocabulary of the contract: a snake_case string enum with serde, its
/// JSON Schema, `ALL`, `as_str` and `Display`.
macro_rules! contract_enum {
    ($(#[$meta:meta])* $name:ident, $kind:literal { $($(#[$vmeta:meta])* $variant:ident => $s:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, ::serde::Serialize, ::serde::Deserialize, ::schemars::JsonSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $s)] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire form.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $s),+
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub mod access;
pub mod audit;
pub mod batch_import;
pub mod batches;
pub mod error;
pub mod hosts;
pub mod keys;
pub mod models;
pub mod packs;
pub mod preview;
pub mod reconcile;
pub mod reports;
pub mod requests;
pub mod vocab;
pub mod whole;

pub use access::*;
pub use audit::*;
pub use batch_import::*;
pub use batches::*;
pub use error::*;
pub use hosts::*;
pub use keys::*;
pub use models::*;
pub use packs::*;
pub use preview::*;
pub use reconcile::*;
pub use relay_domain::{
    AccessMode, AccessStatus, BatchStatus, HostStatus, ImportMode, ItemStatus, KeyPlan, ModeProof,
    ProviderEvent, ProviderStatus, ResourceAction, ResourceState, ResourceType, Verdict,
};
pub use reports::*;
pub use requests::*;
pub use schemars::JsonSchema;
pub use vocab::*;
