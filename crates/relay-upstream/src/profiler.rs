//! Running a profile: the requests, in order, within the request cap.

use std::time::{Duration, Instant};

use relay_domain::vocab::UpstreamSupport;
use relay_domain::{mask, BaseUrl, Redactor, Secret};
use serde_json::{json, Value};

use crate::classify::{classify, Expect};
use crate::profile::{EndpointCheck, ModelProfile, TransportProfile, UpstreamProfile};
use crate::request::{
    ProfileLimits, ProfileRequest, LISTED_MODELS_CAP, PROFILE_PROMPT, RESPONSES_MAX_OUTPUT_TOKENS,
};
use crate::urls::{default_anthropic_base_url, ProfileEndpoints, ANTHROPIC_VERSION};
use crate::wire::{Answer, ReadUntil, Wire};

/// Characters of a note kept (after redaction).
const NOTE_CHARS: usize = 240;

/// Profiles the vendor of `req` with its key. Never panics and never fails: a
/// refused URL, a refused key, a missing endpoint, a timeout are all part of the
/// profile.
///
/// The requests, in order (each only while the request cap allows, see
/// [`crate::request_bound`]):
///
/// 1. `GET {root}/models` — the listed ids, and which models are listed;
/// 2. per model (the named ones, else the first listed): a plain chat, then — only
///    when the plain chat worked — a streamed chat (read to its first event) and a
///    chat offering one function tool, then a `/responses` request;
/// 3. one Anthropic Messages request with the first model.
///
/// An answer that settles the key — `auth_failed`, `quota`, `rate_limited` — ends
/// the profile: the requests after it are `skipped` with the reason, so a bad or
/// empty key costs one or two requests, not fourteen. So does a first request that
/// gets no HTTP answer at all (`unreachable`: refused, DNS, timeout).
pub fn profile(req: &ProfileRequest) -> UpstreamProfile {
    let started = Instant::now();
    let limits = req.limits.effective();
    let redactor = Redactor::new().with(&req.key);
    let mut out = match BaseUrl::parse(&req.base_url) {
        Ok(base) => run(req, &limits, &base, &redactor),
        Err(problem) => refused(&format!("the base URL {problem}")),
    };
    out.elapsed_ms = ms(started.elapsed());
    out.redact(&redactor);
    out
}

/// The profile of a request whose base URL is refused: nothing was sent.
fn refused(problem: &str) -> UpstreamProfile {
    let skip = || EndpointCheck::skipped("not tried: the base URL is refused");
    UpstreamProfile {
        base_url: String::new(),
        anthropic_base_url: None,
        problem: Some(problem.to_string()),
        transport: TransportProfile {
            models: skip(),
            chat_completions: skip(),
            responses: skip(),
            anthropic_messages: skip(),
        },
        listed_models: Vec::new(),
        models: Vec::new(),
        requests: 0,
        elapsed_ms: 0,
    }
}

fn run(
    req: &ProfileRequest,
    limits: &ProfileLimits,
    base: &BaseUrl,
    redactor: &Redactor,
) -> UpstreamProfile {
    let mut problem = None;
    let anthropic_base = match &req.anthropic_base_url {
        Some(text) => match BaseUrl::parse(text) {
            Ok(b) => Some(b),
            Err(p) => {
                problem = Some(format!("the Anthropic base URL {p}"));
                None
            }
        },
        None => BaseUrl::parse(&default_anthropic_base_url(base)).ok(),
    };
    // The key may not go to another host than the one the operator named unless the
    // operator named that host too: a derived Anthropic base is always on `base`.
    let endpoints = ProfileEndpoints::new(base, anthropic_base.as_ref());
    let mut session = Session::new(&req.key, limits, redactor);

    // 1. The model list.
    let (models_check, listed) = session.models(&endpoints.models);
    let models = req.models_to_profile(&listed);

    // 2. Each model. Listed or not is known only from a whole model list.
    let list_known =
        models_check.is_supported() && (!listed.is_empty() || models_check.note.is_none());
    let mut profiles = Vec::new();
    for model in &models {
        let chat = session.chat(&endpoints.chat_completions, model, ChatKind::Plain);
        let (stream, tools) = if chat.is_supported() {
            (
                session.chat(&endpoints.chat_completions, model, ChatKind::Stream),
                session.chat(&endpoints.chat_completions, model, ChatKind::Tools),
            )
        } else {
            let why = match (&chat.support, &chat.note) {
                (UpstreamSupport::Skipped, Some(note)) => note.clone(),
                (class, _) => format!("not tried: the plain chat was {class}"),
            };
            (EndpointCheck::skipped(&why), EndpointCheck::skipped(why))
        };
        let responses = session.responses(&endpoints.responses, model);
        profiles.push(ModelProfile {
            model: model.clone(),
            listed: list_known.then(|| listed.iter().any(|l| l == model)),
            chat,
            stream,
            tools,
            responses,
        });
    }

    // 3. The Anthropic endpoint.
    let anthropic_messages = match (&endpoints.anthropic_messages, models.first()) {
        (None, _) => EndpointCheck::skipped("not tried: no usable Anthropic base URL"),
        (Some(_), None) => EndpointCheck::skipped("not tried: no model to ask"),
        (Some(url), Some(model)) => session.messages(url, model),
    };

    let no_model = || EndpointCheck::skipped("not tried: no model named and none listed");
    let transport = TransportProfile {
        models: models_check,
        chat_completions: pick(profiles.iter().map(|m| &m.chat)).unwrap_or_else(no_model),
        responses: pick(profiles.iter().map(|m| &m.responses)).unwrap_or_else(no_model),
        anthropic_messages,
    };
    let mut listed_models = listed;
    listed_models.truncate(LISTED_MODELS_CAP);
    UpstreamProfile {
        base_url: base.to_string(),
        anthropic_base_url: anthropic_base.map(|b| b.to_string()),
        problem,
        transport,
        listed_models,
        models: profiles,
        requests: u32::try_from(session.sent).unwrap_or(u32::MAX),
        elapsed_ms: 0,
    }
}

/// The endpoint's check across models: the first supported one, else the first
/// one that was sent, else the first.
fn pick<'a>(checks: impl Iterator<Item = &'a EndpointCheck> + Clone) -> Option<EndpointCheck> {
    checks
        .clone()
        .find(|c| c.is_supported())
        .or_else(|| {
            checks
                .clone()
                .find(|c| c.support != UpstreamSupport::Skipped)
        })
        .or_else(|| checks.clone().next())
        .cloned()
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Which chat request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChatKind {
    Plain,
    Stream,
    Tools,
}

/// The requests of one profile: the key, the wire, the cap, and the answer that
/// ended it.
struct Session<'k> {
    key: &'k Secret,
    /// Knows the key.
    redactor: &'k Redactor,
    wire: Wire,
    limits: ProfileLimits,
    sent: usize,
    /// The class of the answer that settled the key, once one did.
    stopped_by: Option<UpstreamSupport>,
    /// Some request got an HTTP answer.
    answered: bool,
}

impl<'k> Session<'k> {
    fn new(key: &'k Secret, limits: &ProfileLimits, redactor: &'k Redactor) -> Self {
        Session {
            key,
            redactor,
            wire: Wire::new(limits),
            limits: *limits,
            sent: 0,
            stopped_by: None,
            answered: false,
        }
    }

    /// Why the next request may not be sent, if it may not.
    fn blocked(&self) -> Option<EndpointCheck> {
        if let Some(class) = self.stopped_by {
            return Some(EndpointCheck::skipped(format!(
                "not tried: an earlier answer was {class}"
            )));
        }
        (self.sent >= self.limits.max_requests).then(|| {
            EndpointCheck::skipped(format!(
                "not tried: the request cap ({}) was reached",
                self.limits.max_requests
            ))
        })
    }

    /// `text` redacted with the key, then cut to [`NOTE_CHARS`] (in that order, so
    /// a cut never leaves part of a key behind).
    fn note(&self, text: &str) -> String {
        let raw = self.key.expose();
        // A key shorter than the redactor's floor is still replaced: this text
        // answers the very request that carried it.
        let text = if raw.len() >= 4 && raw.len() < relay_domain::redact::MIN_SECRET_CHARS {
            text.replace(raw, &mask(raw))
        } else {
            text.to_string()
        };
        let redacted = self.redactor.redact(&text);
        let mut note: String = redacted.trim().chars().take(NOTE_CHARS).collect();
        if redacted.trim().chars().count() > NOTE_CHARS {
            note.push('…');
        }
        note
    }

    /// Turns one exchange into a check, and stops the profile on a key-settling
    /// answer.
    fn check(
        &mut self,
        expect: Expect,
        answer: Result<Answer, String>,
        took: Duration,
    ) -> (EndpointCheck, Option<Answer>) {
        let (check, answer) = match answer {
            Err(e) => (
                EndpointCheck {
                    support: UpstreamSupport::Unreachable,
                    http_status: None,
                    latency_ms: ms(took),
                    note: Some(self.note(&e)),
                },
                None,
            ),
            Ok(a) => {
                let (support, note) = classify(expect, &a);
                (
                    EndpointCheck {
                        support,
                        http_status: Some(a.status),
                        latency_ms: ms(took),
                        note: note.map(|n| self.note(&n)),
                    },
                    Some(a),
                )
            }
        };
        let settles_key = matches!(
            check.support,
            UpstreamSupport::AuthFailed | UpstreamSupport::Quota | UpstreamSupport::RateLimited
        );
        // A vendor that has never answered (refused connection, DNS, timeout) is
        // not asked again.
        let never_answered = check.support == UpstreamSupport::Unreachable && !self.answered;
        if settles_key || never_answered {
            self.stopped_by = Some(check.support);
        }
        self.answered |= check.http_status.is_some();
        tracing::debug!(
            support = %check.support,
            status = ?check.http_status,
            latency_ms = check.latency_ms,
            "upstream profile request answered"
        );
        (check, answer)
    }

    fn bearer(&self) -> String {
        format!("Bearer {}", self.key.expose())
    }

    /// `GET /models`: the check and the listed ids (all of them, in order).
    fn models(&mut self, url: &str) -> (EndpointCheck, Vec<String>) {
        if let Some(skip) = self.blocked() {
            return (skip, Vec::new());
        }
        self.sent += 1;
        tracing::debug!(%url, "upstream profile: model list");
        let bearer = self.bearer();
        let (answer, took) = self.wire.get(
            url,
            &[("Authorization", &bearer), ("Accept", "application/json")],
        );
        let (check, answer) = self.check(Expect::ModelList, answer, took);
        let listed = answer
            .filter(|_| check.is_supported())
            .and_then(|a| serde_json::from_str::<Value>(a.body.trim()).ok())
            .and_then(|v| v.get("data").and_then(Value::as_array).cloned())
            .map(|list| {
                list.iter()
                    .filter_map(|m| m.get("id").and_then(Value::as_str))
                    .map(|id| id.chars().take(200).collect())
                    .collect()
            })
            .unwrap_or_default();
        (check, listed)
    }

    fn post(
        &mut self,
        url: &str,
        headers: &[(&str, &str)],
        body: &Value,
        expect: Expect,
    ) -> EndpointCheck {
        if let Some(skip) = self.blocked() {
            return skip;
        }
        self.sent += 1;
        tracing::debug!(%url, ?expect, "upstream profile request");
        let read = if expect == Expect::ChatStream {
            ReadUntil::FirstEvent
        } else {
            ReadUntil::Whole
        };
        let (answer, took) = self.wire.post(url, headers, body, read);
        self.check(expect, answer, took).0
    }

    fn chat(&mut self, url: &str, model: &str, kind: ChatKind) -> EndpointCheck {
        let mut body = json!({
            "model": model,
            "messages": [{"role": "user", "content": PROFILE_PROMPT}],
            "max_tokens": self.limits.max_tokens,
            "stream": kind == ChatKind::Stream,
        });
        if kind == ChatKind::Tools {
            body["tools"] = json!([{
                "type": "function",
                "function": {
                    "name": "get_time",
                    "description": "Returns the current time.",
                    "parameters": {"type": "object", "properties": {}},
                },
            }]);
        }
        let expect = match kind {
            ChatKind::Plain => Expect::Chat,
            ChatKind::Stream => Expect::ChatStream,
            ChatKind::Tools => Expect::ChatTools,
        };
        let bearer = self.bearer();
        let accept = if kind == ChatKind::Stream {
            "text/event-stream"
        } else {
            "application/json"
        };
        self.post(
            url,
            &[("Authorization", &bearer), ("Accept", accept)],
            &body,
            expect,
        )
    }

    fn responses(&mut self, url: &str, model: &str) -> EndpointCheck {
        let body = json!({
            "model": model,
            "input": PROFILE_PROMPT,
            "max_output_tokens": RESPONSES_MAX_OUTPUT_TOKENS,
        });
        let bearer = self.bearer();
        self.post(
            url,
            &[("Authorization", &bearer), ("Accept", "application/json")],
            &body,
            Expect::Responses,
        )
    }

    fn messages(&mut self, url: &str, model: &str) -> EndpointCheck {
        let body = json!({
            "model": model,
            "max_tokens": self.limits.max_tokens,
            "messages": [{"role": "user", "content": PROFILE_PROMPT}],
        });
        let key: &'k Secret = self.key;
        self.post(
            url,
            &[
                ("x-api-key", key.expose()),
                ("anthropic-version", ANTHROPIC_VERSION),
                ("Accept", "application/json"),
            ],
            &body,
            Expect::Messages,
        )
    }
}
