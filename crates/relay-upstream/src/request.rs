//! What to profile and the bounds of every request.

use std::time::Duration;

use relay_domain::Secret;

/// The largest `max_tokens` a profile request asks for (Chat Completions and
/// Anthropic Messages).
pub const MAX_TOKENS_CEILING: u32 = 8;
/// `max_output_tokens` of the `/responses` request: the smallest value the
/// Responses API accepts.
pub const RESPONSES_MAX_OUTPUT_TOKENS: u32 = 16;
/// The most models one profile may cover.
pub const MAX_MODELS_CEILING: usize = 8;
/// The largest answer body a profile may be allowed to read.
pub const MAX_BODY_BYTES_CEILING: u64 = 1024 * 1024;
/// The smallest answer body limit (below it no error body fits).
const MIN_BODY_BYTES: u64 = 1024;
/// The longest per-request timeout.
const MAX_TIMEOUT: Duration = Duration::from_secs(60);
/// The shortest per-request timeout.
const MIN_TIMEOUT: Duration = Duration::from_millis(100);
/// Model ids kept from the vendor's model list.
pub const LISTED_MODELS_CAP: usize = 200;
/// Requests per profile that do not depend on the number of models: the model
/// list and one Anthropic Messages request.
pub const FIXED_REQUESTS: usize = 2;
/// Requests per profiled model: a plain chat, a streamed chat, a chat with one
/// tool, one `/responses` request.
pub const REQUESTS_PER_MODEL: usize = 4;
/// The one user message of every profile request.
pub const PROFILE_PROMPT: &str = "Reply with the single word: pong";

/// The most requests a profile of `models` models sends:
/// [`FIXED_REQUESTS`] + [`REQUESTS_PER_MODEL`] × `models` (14 for 3 models).
pub fn request_bound(models: usize) -> usize {
    FIXED_REQUESTS + REQUESTS_PER_MODEL * models
}

/// The bounds of a profile. Out-of-range values are brought into range by
/// [`ProfileLimits::effective`] before any request is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProfileLimits {
    /// Wall-time limit of each request, body included (default 10 s; 100 ms to 60 s).
    pub timeout: Duration,
    /// `max_tokens` of the chat and Messages requests (default and ceiling
    /// [`MAX_TOKENS_CEILING`]; at least 1).
    pub max_tokens: u32,
    /// How many models are profiled (default 3; 1 to [`MAX_MODELS_CEILING`]).
    pub max_models: usize,
    /// Bytes read of each answer at most (default 64 KiB; 1 KiB to
    /// [`MAX_BODY_BYTES_CEILING`]).
    pub max_body_bytes: u64,
    /// Requests sent at most (default [`request_bound`] of the default
    /// `max_models`; never more than [`request_bound`]`(max_models)`).
    pub max_requests: usize,
}

impl Default for ProfileLimits {
    /// 10 s, 8 tokens, 3 models, 64 KiB, 14 requests.
    fn default() -> Self {
        ProfileLimits {
            timeout: Duration::from_secs(10),
            max_tokens: MAX_TOKENS_CEILING,
            max_models: 3,
            max_body_bytes: 64 * 1024,
            max_requests: request_bound(3),
        }
    }
}

impl ProfileLimits {
    /// These limits brought into their ranges (see each field).
    pub fn effective(&self) -> ProfileLimits {
        let max_models = self.max_models.clamp(1, MAX_MODELS_CEILING);
        ProfileLimits {
            timeout: self.timeout.clamp(MIN_TIMEOUT, MAX_TIMEOUT),
            max_tokens: self.max_tokens.clamp(1, MAX_TOKENS_CEILING),
            max_models,
            max_body_bytes: self
                .max_body_bytes
                .clamp(MIN_BODY_BYTES, MAX_BODY_BYTES_CEILING),
            max_requests: self.max_requests.min(request_bound(max_models)),
        }
    }
}

/// What to profile: a vendor's OpenAI-compatible base URL, the key, the models.
#[derive(Debug, Clone)]
pub struct ProfileRequest {
    /// The OpenAI-compatible base URL, e.g. `https://api.deepseek.com/v1`
    /// (`https://`, or `http://` to a loopback host only). A base without a
    /// version segment gets `/v1` ([`crate::openai_root`]).
    pub base_url: String,
    /// The Anthropic-compatible base URL (the Messages endpoint is
    /// `{base}/v1/messages`); `None` takes [`crate::default_anthropic_base_url`].
    pub anthropic_base_url: Option<String>,
    /// The vendor key (sent only in a request header).
    pub key: Secret,
    /// The canonical models to profile, in order; duplicates and blanks are dropped
    /// and at most `limits.max_models` are used. Empty: the first model of the
    /// vendor's list.
    pub models: Vec<String>,
    /// The bounds.
    pub limits: ProfileLimits,
}

impl ProfileRequest {
    /// A request for `base_url` and `key` with no model named, the default
    /// Anthropic base and the default limits.
    pub fn new(base_url: impl Into<String>, key: Secret) -> Self {
        ProfileRequest {
            base_url: base_url.into(),
            anthropic_base_url: None,
            key,
            models: Vec::new(),
            limits: ProfileLimits::default(),
        }
    }

    /// This request, profiling `models`.
    #[must_use]
    pub fn with_models<I, S>(mut self, models: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.models = models.into_iter().map(Into::into).collect();
        self
    }

    /// This request, with an explicit Anthropic-compatible base URL.
    #[must_use]
    pub fn with_anthropic_base_url(mut self, url: impl Into<String>) -> Self {
        self.anthropic_base_url = Some(url.into());
        self
    }

    /// This request, with `limits`.
    #[must_use]
    pub fn with_limits(mut self, limits: ProfileLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The models that will be profiled when the vendor lists `listed`: the named
    /// ones (trimmed, blanks and duplicates dropped), else the first listed one;
    /// at most the effective `max_models`.
    pub fn models_to_profile(&self, listed: &[String]) -> Vec<String> {
        let cap = self.limits.effective().max_models;
        let mut out: Vec<String> = Vec::new();
        for m in &self.models {
            let m = m.trim();
            if !m.is_empty() && !out.iter().any(|o| o == m) {
                out.push(m.to_string());
            }
        }
        if out.is_empty() {
            out.extend(listed.first().cloned());
        }
        out.truncate(cap);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_brought_into_range() {
        let wild = ProfileLimits {
            timeout: Duration::from_secs(3600),
            max_tokens: 4096,
            max_models: 100,
            max_body_bytes: u64::MAX,
            max_requests: usize::MAX,
        }
        .effective();
        assert_eq!(wild.timeout, MAX_TIMEOUT);
        assert_eq!(wild.max_tokens, MAX_TOKENS_CEILING);
        assert_eq!(wild.max_models, MAX_MODELS_CEILING);
        assert_eq!(wild.max_body_bytes, MAX_BODY_BYTES_CEILING);
        assert_eq!(wild.max_requests, request_bound(MAX_MODELS_CEILING));
        let zero = ProfileLimits {
            timeout: Duration::ZERO,
            max_tokens: 0,
            max_models: 0,
            max_body_bytes: 0,
            max_requests: 0,
        }
        .effective();
        assert_eq!(zero.timeout, MIN_TIMEOUT);
        assert_eq!((zero.max_tokens, zero.max_models), (1, 1));
        assert_eq!(zero.max_body_bytes, MIN_BODY_BYTES);
        assert_eq!(zero.max_requests, 0);
        assert_eq!(
            ProfileLimits::default().effective(),
            ProfileLimits::default()
        );
        assert_eq!(ProfileLimits::default().max_requests, 14);
    }

    #[test]
    fn models_are_cleaned_and_capped() {
        let req = ProfileRequest::new("https://x.example/v1", Secret::new("k"))
            .with_models([" a ", "", "a", "b", "c", "d"]);
        assert_eq!(req.models_to_profile(&[]), ["a", "b", "c"]);
        let none = ProfileRequest::new("https://x.example/v1", Secret::new("k"));
        assert_eq!(
            none.models_to_profile(&["m1".to_string(), "m2".to_string()]),
            ["m1"]
        );
        assert!(none.models_to_profile(&[]).is_empty());
    }
}
