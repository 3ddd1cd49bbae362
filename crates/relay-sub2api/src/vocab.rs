//! The host's vocabulary, typed: account and object statuses, platforms and the
//! Responses mode. Each enum keeps a value the host may add in `Other`, so nothing
//! it sends is lost, and writes back exactly the text it read.

use serde::{Serialize, Serializer};

macro_rules! host_enum {
    (
        $(#[$meta:meta])*
        $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
            /// A value this adapter does not know, kept as the host sent it.
            Other(String),
        }

        impl $name {
            /// The host's text for the value.
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $text,)+
                    $name::Other(s) => s,
                }
            }

            /// The value for the host's text (an unknown text is kept in `Other`).
            pub fn parse(text: &str) -> Self {
                match text {
                    $($text => $name::$variant,)+
                    other => $name::Other(other.to_string()),
                }
            }
        }

        impl From<&str> for $name {
            fn from(text: &str) -> Self {
                $name::parse(text)
            }
        }

        impl From<String> for $name {
            fn from(text: String) -> Self {
                $name::parse(&text)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.as_str().to_string()
            }
        }

        impl From<$name> for serde_json::Value {
            fn from(v: $name) -> serde_json::Value {
                serde_json::Value::String(v.as_str().to_string())
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}

host_enum! {
    /// An account's status on the host.
    AccountStatus {
        /// In service (when also schedulable).
        Active => "active",
        /// Switched off by an operator.
        Inactive => "inactive",
        /// Taken out of service by the host after an upstream failure
        /// ([`crate::Account::error_kind`] says why).
        Error => "error",
    }
}

host_enum! {
    /// The status of a group, channel, user, user key or subscription on the host.
    ObjectStatus {
        /// Usable.
        Active => "active",
        /// Switched off (groups, user keys).
        Inactive => "inactive",
        /// Switched off (channels, users).
        Disabled => "disabled",
        /// Past its end (subscriptions, user keys).
        Expired => "expired",
        /// Paused (subscriptions).
        Suspended => "suspended",
        /// Revoked by an admin (subscriptions).
        Revoked => "revoked",
    }
}

host_enum! {
    /// A host platform: which upstream protocol family an account, group or price
    /// belongs to.
    Platform {
        /// OpenAI-compatible upstreams (the platform of chat-only CN vendors too).
        Openai => "openai",
        /// Anthropic.
        Anthropic => "anthropic",
        /// Gemini.
        Gemini => "gemini",
        /// Antigravity.
        Antigravity => "antigravity",
        /// Native Kimi (Moonshot).
        Kimi => "kimi",
        /// Native Zhipu.
        Zhipu => "zhipu",
        /// Native DeepSeek.
        Deepseek => "deepseek",
    }
}

host_enum! {
    /// An `openai` account's Responses mode (`extra.openai_responses_mode`).
    ResponsesMode {
        /// The host decides from its capability flag.
        Auto => "auto",
        /// Always the upstream's Responses API.
        ForceResponses => "force_responses",
        /// Always Chat Completions (what the manager sets for chat-only vendors).
        ForceChatCompletions => "force_chat_completions",
    }
}

impl AccountStatus {
    /// True for `error`.
    pub fn is_error(&self) -> bool {
        *self == AccountStatus::Error
    }

    /// True for `active`.
    pub fn is_active(&self) -> bool {
        *self == AccountStatus::Active
    }
}

impl ObjectStatus {
    /// True for `active`.
    pub fn is_active(&self) -> bool {
        *self == ObjectStatus::Active
    }
}

impl Platform {
    /// True for the host's native CN platforms (`kimi`, `zhipu`, `deepseek`): the
    /// host routes their API-key accounts by `credentials.api_protocol` and manages
    /// their `extra` Responses keys itself.
    pub fn is_cn_provider(&self) -> bool {
        matches!(self, Platform::Kimi | Platform::Zhipu | Platform::Deepseek)
    }
}

impl Default for Platform {
    fn default() -> Self {
        Platform::Other(String::new())
    }
}

impl Default for AccountStatus {
    fn default() -> Self {
        AccountStatus::Other(String::new())
    }
}

impl Default for ObjectStatus {
    fn default() -> Self {
        ObjectStatus::Other(String::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_and_unknown_values_round_trip_exactly() {
        for text in ["active", "inactive", "error", "paused", ""] {
            assert_eq!(AccountStatus::parse(text).as_str(), text);
        }
        assert_eq!(AccountStatus::parse("error"), AccountStatus::Error);
        assert_eq!(Platform::parse("sora"), Platform::Other("sora".to_string()));
        assert!(Platform::parse("deepseek").is_cn_provider());
        assert!(!Platform::Openai.is_cn_provider());
        assert_eq!(
            ResponsesMode::parse("force_chat_completions"),
            ResponsesMode::ForceChatCompletions
        );
        assert_eq!(ObjectStatus::parse("revoked"), ObjectStatus::Revoked);
        assert_eq!(
            serde_json::to_value(ObjectStatus::Other("x".into())).unwrap(),
            serde_json::json!("x")
        );
        assert_eq!(Platform::Openai.to_string(), "openai");
    }
}
