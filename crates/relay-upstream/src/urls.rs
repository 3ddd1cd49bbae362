//! The vendor URLs a profile calls, and the one rule for the Anthropic-compatible
//! base URL when none is given.

use relay_domain::BaseUrl;
use serde::{Deserialize, Serialize};

/// The `anthropic-version` header of the Messages request.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// Anthropic-compatible base URLs of the vendors whose OpenAI-compatible host is
/// known (vendor documentation; `docs`-level facts, see the provider reference):
/// host of the OpenAI-compatible base → path of the Anthropic base on that host.
const KNOWN_ANTHROPIC_BASES: &[(&str, &str)] = &[
    ("api.deepseek.com", "/anthropic"),
    ("api.moonshot.cn", "/anthropic"),
    ("api.moonshot.ai", "/anthropic"),
    ("api.minimaxi.com", "/anthropic"),
    ("api.minimax.io", "/anthropic"),
    ("dashscope.aliyuncs.com", "/apps/anthropic"),
    ("dashscope-intl.aliyuncs.com", "/apps/anthropic"),
    ("open.bigmodel.cn", "/api/anthropic"),
    ("api.z.ai", "/api/anthropic"),
    ("api.stepfun.com", ""),
    ("api.stepfun.ai", ""),
    ("qianfan.baidubce.com", "/anthropic"),
    ("api.hunyuan.cloud.tencent.com", "/anthropic"),
];

/// True when the last path segment is a version (`v1`, `v4`, `v1beta`, …).
fn ends_with_version(path: &str) -> bool {
    let last = path.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    let Some(rest) = last.strip_prefix('v') else {
        return false;
    };
    let digits = rest.chars().take_while(char::is_ascii_digit).count();
    digits > 0 && rest[digits..].chars().all(|c| c.is_ascii_alphanumeric())
}

/// `path` without its last segment when that segment is a version.
fn without_version(path: &str) -> &str {
    if ends_with_version(path) {
        path.rfind('/').map_or("", |i| &path[..i])
    } else {
        path
    }
}

/// The root the OpenAI-compatible paths (`/models`, `/chat/completions`,
/// `/responses`) are appended to: the base URL itself when its path ends with a
/// version segment (`/v1`, `/compatible-mode/v1`, `/api/paas/v4`), else the base
/// URL + `/v1` (`https://api.deepseek.com` → `https://api.deepseek.com/v1`). A
/// base ending with `/chat/completions` is cut back to its prefix first.
pub fn openai_root(base: &BaseUrl) -> String {
    let path = base
        .path
        .strip_suffix("/chat/completions")
        .unwrap_or(&base.path);
    if ends_with_version(path) {
        format!("{}{path}", base.origin())
    } else {
        format!("{}{path}/v1", base.origin())
    }
}

/// The Anthropic-compatible base URL of a vendor, from its OpenAI-compatible base
/// URL, when the operator gives none. The one rule:
///
/// 1. a host of the known table (DeepSeek, Moonshot, MiniMax, DashScope, Zhipu /
///    Z.ai, StepFun, Qianfan, Hunyuan — both regions where there are two) gets the
///    vendor's documented base: `https://api.deepseek.com/v1` →
///    `https://api.deepseek.com/anthropic`,
///    `https://dashscope.aliyuncs.com/compatible-mode/v1` →
///    `https://dashscope.aliyuncs.com/apps/anthropic`;
/// 2. any other host: the base URL with a trailing version segment removed, plus
///    `/anthropic`: `https://llm.example.com/v1` → `https://llm.example.com/anthropic`,
///    `http://127.0.0.1:8080/gw/v1` → `http://127.0.0.1:8080/gw/anthropic`.
///
/// The scheme, host and port are always the base URL's, so the key never goes to
/// another host than the one the operator named.
pub fn default_anthropic_base_url(base: &BaseUrl) -> String {
    if let Some((_, path)) = KNOWN_ANTHROPIC_BASES.iter().find(|(h, _)| *h == base.host) {
        return format!("{}{path}", base.origin());
    }
    let path = base
        .path
        .strip_suffix("/chat/completions")
        .unwrap_or(&base.path);
    format!("{}{}/anthropic", base.origin(), without_version(path))
}

/// The Messages URL of an Anthropic-compatible base: `{base}/v1/messages`, or
/// `{base}/messages` when the base already ends with a version segment.
pub fn anthropic_messages_url(anthropic_base: &BaseUrl) -> String {
    let root = format!("{}{}", anthropic_base.origin(), anthropic_base.path);
    if ends_with_version(&anthropic_base.path) {
        format!("{root}/messages")
    } else {
        format!("{root}/v1/messages")
    }
}

/// The URLs one profile calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileEndpoints {
    /// `GET` model list.
    pub models: String,
    /// `POST` Chat Completions.
    pub chat_completions: String,
    /// `POST` Responses.
    pub responses: String,
    /// `POST` Anthropic Messages; `None` when the Anthropic base URL was refused.
    pub anthropic_messages: Option<String>,
}

impl ProfileEndpoints {
    /// The endpoints of `base`, with the Messages endpoint of `anthropic_base`.
    pub fn new(base: &BaseUrl, anthropic_base: Option<&BaseUrl>) -> Self {
        let root = openai_root(base);
        ProfileEndpoints {
            models: format!("{root}/models"),
            chat_completions: format!("{root}/chat/completions"),
            responses: format!("{root}/responses"),
            anthropic_messages: anthropic_base.map(anthropic_messages_url),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(text: &str) -> BaseUrl {
        BaseUrl::parse(text).expect(text)
    }

    #[test]
    fn the_anthropic_base_rule() {
        let table = [
            (
                "https://api.deepseek.com/v1",
                "https://api.deepseek.com/anthropic",
            ),
            (
                "https://api.deepseek.com",
                "https://api.deepseek.com/anthropic",
            ),
            (
                "https://api.moonshot.cn/v1",
                "https://api.moonshot.cn/anthropic",
            ),
            (
                "https://api.moonshot.ai/v1",
                "https://api.moonshot.ai/anthropic",
            ),
            (
                "https://api.minimaxi.com/v1",
                "https://api.minimaxi.com/anthropic",
            ),
            (
                "https://api.minimax.io/v1",
                "https://api.minimax.io/anthropic",
            ),
            (
                "https://dashscope.aliyuncs.com/compatible-mode/v1",
                "https://dashscope.aliyuncs.com/apps/anthropic",
            ),
            (
                "https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
                "https://dashscope-intl.aliyuncs.com/apps/anthropic",
            ),
            (
                "https://open.bigmodel.cn/api/paas/v4",
                "https://open.bigmodel.cn/api/anthropic",
            ),
            (
                "https://api.z.ai/api/paas/v4",
                "https://api.z.ai/api/anthropic",
            ),
            ("https://api.stepfun.com/v1", "https://api.stepfun.com"),
            (
                "https://qianfan.baidubce.com/v2",
                "https://qianfan.baidubce.com/anthropic",
            ),
            (
                "https://API.DeepSeek.com:443/v1/",
                "https://api.deepseek.com/anthropic",
            ),
            // Unknown hosts: the base minus its version segment, plus /anthropic.
            (
                "https://llm.example.com/v1",
                "https://llm.example.com/anthropic",
            ),
            (
                "https://llm.example.com",
                "https://llm.example.com/anthropic",
            ),
            (
                "https://llm.example.com:8443/gw/v1",
                "https://llm.example.com:8443/gw/anthropic",
            ),
            (
                "https://llm.example.com/v1/chat/completions",
                "https://llm.example.com/anthropic",
            ),
            (
                "http://127.0.0.1:9000/v1",
                "http://127.0.0.1:9000/anthropic",
            ),
        ];
        for (openai, anthropic) in table {
            assert_eq!(
                default_anthropic_base_url(&base(openai)),
                anthropic,
                "{openai}"
            );
        }
    }

    #[test]
    fn openai_and_messages_urls() {
        let e = ProfileEndpoints::new(
            &base("https://api.deepseek.com"),
            Some(&base("https://api.deepseek.com/anthropic")),
        );
        assert_eq!(e.models, "https://api.deepseek.com/v1/models");
        assert_eq!(
            e.chat_completions,
            "https://api.deepseek.com/v1/chat/completions"
        );
        assert_eq!(e.responses, "https://api.deepseek.com/v1/responses");
        assert_eq!(
            e.anthropic_messages.as_deref(),
            Some("https://api.deepseek.com/anthropic/v1/messages")
        );
        assert_eq!(
            openai_root(&base("https://open.bigmodel.cn/api/paas/v4/")),
            "https://open.bigmodel.cn/api/paas/v4"
        );
        assert_eq!(
            openai_root(&base("https://x.example/v1/chat/completions")),
            "https://x.example/v1"
        );
        assert_eq!(
            anthropic_messages_url(&base("https://api.stepfun.com")),
            "https://api.stepfun.com/v1/messages"
        );
        assert_eq!(
            anthropic_messages_url(&base("https://gw.example/anthropic/v1")),
            "https://gw.example/anthropic/v1/messages"
        );
        assert!(ends_with_version("/v1beta"));
        assert!(!ends_with_version("/api/video"));
    }

    proptest::proptest! {
        /// Every URL a profile calls stays on the origin the operator named: the
        /// derived Anthropic base and every endpoint share the base URL's scheme,
        /// host and port.
        #[test]
        fn every_derived_url_stays_on_the_named_origin(
            host in "[a-z][a-z0-9-]{0,12}(\\.[a-z][a-z0-9]{0,8}){1,3}",
            port in proptest::option::of(1u16..),
            path in "(/[a-z0-9.-]{1,10}){0,4}",
        ) {
            let text = match port {
                Some(p) => format!("https://{host}:{p}{path}"),
                None => format!("https://{host}{path}"),
            };
            let Ok(b) = BaseUrl::parse(&text) else { return Ok(()) };
            let origin = format!("{}/", b.origin());
            let anthropic = BaseUrl::parse(&default_anthropic_base_url(&b)).expect("usable");
            proptest::prop_assert_eq!(anthropic.origin(), b.origin());
            let e = ProfileEndpoints::new(&b, Some(&anthropic));
            for url in [&e.models, &e.chat_completions, &e.responses] {
                proptest::prop_assert!(url.starts_with(&origin), "{} {}", url, origin);
            }
            let messages = e.anthropic_messages.expect("messages url");
            proptest::prop_assert!(messages.starts_with(&origin));
        }
    }
}
