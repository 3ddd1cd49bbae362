//! The relay manager's HTTP edge on hyper 1: a `matchit` route table of blocking
//! handlers, operator-token bearer auth on every `/api/*` route (constant-time
//! comparison) with per-address throttling of failed checks, request body limits
//! answering `413 request_too_large`, JSON errors `{"error":{"code","message"}}` that
//! never repeat submitted values, request ids, and the listener's defences against
//! hostile clients (header and body read timeouts, a connection cap, an accept loop
//! that backs off on errors), and the web console at `/console/` (embedded assets, a
//! session cookie accepted on `/api/*` in place of the token). Handlers parse and map
//! only; use-cases live in relay-app.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod audit;
pub mod auth;
pub mod batch_import;
pub mod batch_view;
pub mod console;
pub mod contract;
pub mod error;
pub mod json_error;
pub mod listener;
pub mod router;
pub mod routes;
pub mod server;
pub mod stream;
pub mod throttle;

pub use error::ApiError;
pub use listener::Limits;
pub use router::{Access, ApiRequest, ApiResponse, Handler, Router};
pub use routes::{router, RouterOptions, PACK_UPLOAD_LIMIT};
pub use server::{serve, ServerConfig, ServerHandle, DEFAULT_BODY_LIMIT};
