//! The upstream profile: what a vendor's own API offers to a pasted key.
//!
//! [`profile`] calls the vendor directly with the key — never through a host — and
//! records, per endpoint, whether it works: the model list (`GET {base}/models`),
//! Chat Completions (`POST {base}/chat/completions`, plain, streamed and with one
//! tiny function tool), the Responses API (`POST {base}/responses`) and the
//! Anthropic-compatible Messages endpoint (`POST {anthropic base}/v1/messages`),
//! for a few models. The result, an [`UpstreamProfile`], is plain data (serde) for
//! storage; [`UpstreamProfile::chat_completions_only`] tells the caller to set the
//! host account's Responses mode to Chat Completions, and
//! [`UpstreamProfile::key_rejected`] that the vendor refused the key.
//!
//! Every request is tiny and bounded ([`ProfileLimits`]): `max_tokens` at most
//! [`MAX_TOKENS_CEILING`] ([`RESPONSES_MAX_OUTPUT_TOKENS`] for `/responses`, the
//! smallest the API accepts), one short user message, answers read to at most
//! `max_body_bytes`, a per-request timeout, no redirect followed, and at most
//! [`request_bound`]`(models)` requests per profile.
//!
//! Besides the profile, [`list_models`] and [`read_balance`] are single bounded reads
//! of the vendor's model list and balance (DeepSeek, Moonshot), for the model-drift
//! check and the balance pre-flight.
//!
//! The key travels only in the `Authorization: Bearer` (OpenAI surface) or
//! `x-api-key` (Anthropic surface) header. Every vendor text kept in the profile
//! (notes, model ids) passes [`relay_domain::Redactor`] with the key first; the
//! profile holds neither the key nor its fingerprint.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod classify;
#[cfg(test)]
mod fuzz;
mod profile;
mod profiler;
mod reads;
mod request;
mod urls;
mod wire;

pub use profile::{EndpointCheck, ModelProfile, TransportProfile, UpstreamProfile};
pub use profiler::profile;
pub use reads::{
    list_models, parse_deepseek_balance, parse_model_list, parse_moonshot_balance, read_balance,
    BalanceRoute, ReadFailure,
};
pub use relay_domain::vocab::UpstreamSupport;
pub use request::{
    request_bound, ProfileLimits, ProfileRequest, FIXED_REQUESTS, LISTED_MODELS_CAP,
    MAX_BODY_BYTES_CEILING, MAX_MODELS_CEILING, MAX_TOKENS_CEILING, PROFILE_PROMPT,
    REQUESTS_PER_MODEL, RESPONSES_MAX_OUTPUT_TOKENS,
};
pub use urls::{
    anthropic_messages_url, default_anthropic_base_url, openai_root, ProfileEndpoints,
    ANTHROPIC_VERSION,
};
