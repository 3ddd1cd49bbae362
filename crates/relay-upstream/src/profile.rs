//! The profile: plain data, serialised for storage.

use relay_domain::vocab::UpstreamSupport;
use relay_domain::Redactor;
use serde::{Deserialize, Serialize};

/// The result of one profile request (or of one that was not sent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointCheck {
    /// What the answer says about the endpoint or feature.
    pub support: UpstreamSupport,
    /// The HTTP status, when the vendor answered.
    pub http_status: Option<u16>,
    /// Wall time of the request in milliseconds (0 when not sent).
    pub latency_ms: u64,
    /// A short, redacted note: the vendor's message, the transport failure, or
    /// why the request was not sent.
    pub note: Option<String>,
}

impl EndpointCheck {
    /// A request that was not sent, and why.
    pub fn skipped(why: impl Into<String>) -> Self {
        EndpointCheck {
            support: UpstreamSupport::Skipped,
            http_status: None,
            latency_ms: 0,
            note: Some(why.into()),
        }
    }

    /// True when the endpoint or feature works.
    pub fn is_supported(&self) -> bool {
        self.support == UpstreamSupport::Supported
    }

    fn redact(&mut self, redactor: &Redactor) {
        if let Some(note) = &mut self.note {
            redactor.redact_in_place(note);
        }
    }
}

/// What each endpoint of the vendor did (across the profiled models: the first
/// supported answer, else the first answer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransportProfile {
    /// `GET {base}/models`.
    pub models: EndpointCheck,
    /// `POST {base}/chat/completions`.
    pub chat_completions: EndpointCheck,
    /// `POST {base}/responses`.
    pub responses: EndpointCheck,
    /// `POST {anthropic base}/v1/messages` (`x-api-key`, `anthropic-version`).
    pub anthropic_messages: EndpointCheck,
}

/// What one model did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelProfile {
    /// The model id sent.
    pub model: String,
    /// Whether the vendor's model list names it; `None` without a model list.
    pub listed: Option<bool>,
    /// A plain chat completion.
    pub chat: EndpointCheck,
    /// A streamed chat completion (read up to its first data chunk).
    pub stream: EndpointCheck,
    /// A chat completion offering one tiny function tool.
    pub tools: EndpointCheck,
    /// A `/responses` request.
    pub responses: EndpointCheck,
}

impl ModelProfile {
    fn checks(&self) -> [&EndpointCheck; 4] {
        [&self.chat, &self.stream, &self.tools, &self.responses]
    }
}

/// What a vendor's own API offers to one key: transport per endpoint, the model
/// list, and each profiled model. Holds neither the key nor its fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamProfile {
    /// The OpenAI-compatible base URL, normalised (shown form).
    pub base_url: String,
    /// The Anthropic-compatible base URL used (given or derived), when usable.
    pub anthropic_base_url: Option<String>,
    /// Why nothing (or not the Anthropic endpoint) could be profiled: a refused
    /// base URL. `None` when every URL was usable.
    pub problem: Option<String>,
    /// Per endpoint.
    pub transport: TransportProfile,
    /// Model ids of the vendor's list (at most [`crate::LISTED_MODELS_CAP`]).
    pub listed_models: Vec<String>,
    /// Per profiled model.
    pub models: Vec<ModelProfile>,
    /// Requests sent.
    pub requests: u32,
    /// Wall time of the whole profile in milliseconds.
    pub elapsed_ms: u64,
}

impl UpstreamProfile {
    /// True when `/responses` is not shown to work but Chat Completions does: the
    /// host account should use Chat Completions (its Responses mode forced off).
    pub fn chat_completions_only(&self) -> bool {
        self.transport.chat_completions.is_supported() && !self.transport.responses.is_supported()
    }

    /// True when the vendor refused the key (some answer was `auth_failed`) and no
    /// request succeeded.
    pub fn key_rejected(&self) -> bool {
        let checks = self.checks();
        checks
            .iter()
            .any(|c| c.support == UpstreamSupport::AuthFailed)
            && !checks.iter().any(|c| c.is_supported())
    }

    /// True when some answer said the vendor account has no balance or quota left.
    pub fn quota_exhausted(&self) -> bool {
        self.checks()
            .iter()
            .any(|c| c.support == UpstreamSupport::Quota)
    }

    /// The profile of `model`, when it was profiled.
    pub fn model(&self, model: &str) -> Option<&ModelProfile> {
        self.models.iter().find(|m| m.model == model)
    }

    /// Every check of the profile: the transport ones, then each model's.
    pub fn checks(&self) -> Vec<&EndpointCheck> {
        let t = &self.transport;
        let mut out = vec![
            &t.models,
            &t.chat_completions,
            &t.responses,
            &t.anthropic_messages,
        ];
        for m in &self.models {
            out.extend(m.checks());
        }
        out
    }

    /// Passes every text of the profile through `redactor` (notes, model ids,
    /// URLs, the problem).
    pub fn redact(&mut self, redactor: &Redactor) {
        redactor.redact_in_place(&mut self.base_url);
        if let Some(u) = &mut self.anthropic_base_url {
            redactor.redact_in_place(u);
        }
        if let Some(p) = &mut self.problem {
            redactor.redact_in_place(p);
        }
        let t = &mut self.transport;
        for c in [
            &mut t.models,
            &mut t.chat_completions,
            &mut t.responses,
            &mut t.anthropic_messages,
        ] {
            c.redact(redactor);
        }
        for id in &mut self.listed_models {
            redactor.redact_in_place(id);
        }
        for m in &mut self.models {
            redactor.redact_in_place(&mut m.model);
            for c in [&mut m.chat, &mut m.stream, &mut m.tools, &mut m.responses] {
                c.redact(redactor);
            }
        }
    }
}
