//! SQLite state store of the relay manager.
#![forbid(unsafe_code)]

mod crypto;
mod error;
pub mod migrate;
mod records;
pub mod repo;
mod sql;
mod store;

pub use crypto::{load_or_create_key_file, KeySource, MasterKey, Sealer, KEY_FILE_NAME};
pub use error::{CryptoError, Result, StoreError};
pub use records::*;
pub use repo::*;
pub use store::{ConnectionPragmas, Store, BUSY_TIMEOUT, DB_FILE_NAME};
