//! Repository traits and their SQLite implementations.
//!
//! Use-cases depend on the traits; the `Sqlite*` types are what [`crate::Store`]
//! hands out. A PostgreSQL backend would implement the same traits.

mod hosts;
mod installs;
mod packs;

pub use hosts::{HostRepository, SqliteHosts};
pub use installs::{InstallRepository, SqliteInstalls};
pub use packs::{PackRepository, ProviderRepository, SqlitePacks, SqliteProviders};
