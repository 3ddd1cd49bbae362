//! Vendor balances and the balance threshold of a pre-flight.
//!
//! A balance is read from the vendor's own balance route (DeepSeek, Moonshot/Kimi)
//! or from the host's CN-provider balance route; both readers produce a
//! [`Balance`]. A [`BalanceThreshold`] says what is too little and what to do then
//! ([`BalancePolicy`]). Vendors without a balance route give no `Balance` at all:
//! the caller reports "unknown", never a failure.

use serde::{Deserialize, Serialize};

use crate::string_enum;

/// One currency's amount of a balance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BalanceEntry {
    /// ISO currency code, upper case (`CNY`, `USD`).
    pub currency: String,
    /// The amount available in that currency.
    pub amount: f64,
}

/// A vendor balance: one entry per currency, the first being the main one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Balance {
    /// Per-currency amounts, the vendor's order (the first is the main currency).
    pub entries: Vec<BalanceEntry>,
    /// The vendor's own "usable" flag, when it has one (DeepSeek `is_available`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available: Option<bool>,
}

impl Balance {
    /// The main entry (the first), if any.
    pub fn primary(&self) -> Option<&BalanceEntry> {
        self.entries.first()
    }

    /// The entry the threshold compares: the one in the threshold's currency when
    /// it names one (case-insensitive), else the main entry.
    pub fn entry_for(&self, currency: Option<&str>) -> Option<&BalanceEntry> {
        match currency {
            Some(c) => self
                .entries
                .iter()
                .find(|e| e.currency.eq_ignore_ascii_case(c.trim())),
            None => self.primary(),
        }
    }

    /// Whether this balance is under `threshold`: the compared entry's amount is
    /// less than the minimum, or the vendor says the key is not usable. A balance
    /// without the threshold's currency is not under it (nothing to compare).
    pub fn is_below(&self, threshold: &BalanceThreshold) -> bool {
        if self.available == Some(false) {
            return true;
        }
        self.entry_for(threshold.currency.as_deref())
            .is_some_and(|e| e.amount < threshold.min_balance)
    }

    /// A short human text: `0.50 CNY` (every entry, `, `-separated), `unusable`
    /// appended when the vendor says so.
    pub fn describe(&self) -> String {
        let mut text = self
            .entries
            .iter()
            .map(|e| format!("{:.2} {}", e.amount, e.currency))
            .collect::<Vec<_>>()
            .join(", ");
        if text.is_empty() {
            text.push_str("no amount");
        }
        if self.available == Some(false) {
            text.push_str(" (the vendor marks the key unusable)");
        }
        text
    }
}

string_enum!(
    /// What a balance under the threshold does to the operation.
    BalancePolicy, "balance policy" {
        /// The operation goes on; the report lists the key with its balance.
        Warn => "warn",
        /// The operation is refused before anything is created on the host.
        Refuse => "refuse",
    }
);

/// The balance a key must have, and what to do when it has less.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BalanceThreshold {
    /// The least balance that passes.
    pub min_balance: f64,
    /// The currency compared (`CNY`, `USD`); `None` compares the main currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// Warn or refuse.
    pub policy: BalancePolicy,
}

impl BalanceThreshold {
    /// A short human text: `0.00 CNY` or `5.00` (main currency).
    pub fn describe(&self) -> String {
        match &self.currency {
            Some(c) => format!("{:.2} {}", self.min_balance, c.to_ascii_uppercase()),
            None => format!("{:.2} (main currency)", self.min_balance),
        }
    }
}

string_enum!(
    /// What a key's balance check found.
    BalanceCheckStatus, "balance check status" {
        /// The balance is at or above the threshold.
        Ok => "ok",
        /// The balance is under the threshold (or the vendor marks the key unusable).
        Below => "below",
        /// No balance was read: the vendor has no balance route, or the read failed.
        Unknown => "unknown",
    }
);

/// One key's balance check before an import (or of a managed account in a reconcile).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BalanceCheck {
    /// The key masked (`sk-a…9f3c`).
    pub mask: String,
    /// SHA-256 of the key.
    pub fingerprint: String,
    /// The managed account, when the check went through the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<i64>,
    /// What was found.
    pub status: BalanceCheckStatus,
    /// The balance read, when one was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balance: Option<Balance>,
    /// Why the status is `unknown` (no route, the vendor's redacted answer), or the
    /// comparison made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl BalanceCheck {
    /// The status of `balance` against `threshold` (`ok` when there is no threshold).
    pub fn status_of(
        balance: &Balance,
        threshold: Option<&BalanceThreshold>,
    ) -> BalanceCheckStatus {
        match threshold {
            Some(t) if balance.is_below(t) => BalanceCheckStatus::Below,
            _ => BalanceCheckStatus::Ok,
        }
    }
}

/// The test calls an operation spent (an import, a reconcile run, a drift check):
/// each is tiny (`max_tokens` capped) and counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestCalls {
    /// The host's account tests (each one small upstream request by the host).
    pub account_tests: u64,
    /// Gateway model lists (`GET /v1/models` with a user key).
    pub gateway_models: u64,
    /// Gateway chat completions (tiny `max_tokens`).
    pub gateway_chats: u64,
    /// Calls to a vendor: the host's upstream model sync and CN-provider balance
    /// reads, and the manager's own vendor reads (balance pre-flight, direct probes).
    pub vendor_calls: u64,
    /// The sum.
    pub total: u64,
}

impl TestCalls {
    /// The counts with `total` summed.
    pub fn new(
        account_tests: u64,
        gateway_models: u64,
        gateway_chats: u64,
        vendor_calls: u64,
    ) -> Self {
        TestCalls {
            account_tests,
            gateway_models,
            gateway_chats,
            vendor_calls,
            total: account_tests + gateway_models + gateway_chats + vendor_calls,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bal(entries: &[(&str, f64)], available: Option<bool>) -> Balance {
        Balance {
            entries: entries
                .iter()
                .map(|(c, a)| BalanceEntry {
                    currency: (*c).into(),
                    amount: *a,
                })
                .collect(),
            available,
        }
    }

    fn threshold(min: f64, currency: Option<&str>) -> BalanceThreshold {
        BalanceThreshold {
            min_balance: min,
            currency: currency.map(str::to_owned),
            policy: BalancePolicy::Refuse,
        }
    }

    #[test]
    fn below_compares_the_named_or_main_currency() {
        let b = bal(&[("CNY", 0.5), ("USD", 20.0)], Some(true));
        assert!(b.is_below(&threshold(1.0, None)));
        assert!(b.is_below(&threshold(1.0, Some("cny"))));
        assert!(!b.is_below(&threshold(1.0, Some("USD"))));
        assert!(!b.is_below(&threshold(1.0, Some("EUR"))));
        assert!(!b.is_below(&threshold(0.5, None)));
    }

    #[test]
    fn an_unusable_key_is_below_any_threshold() {
        let b = bal(&[("CNY", 100.0)], Some(false));
        assert!(b.is_below(&threshold(0.0, None)));
        assert!(b.describe().contains("unusable"));
    }

    #[test]
    fn describe_lists_every_entry() {
        let b = bal(&[("CNY", 0.5), ("USD", 2.0)], None);
        assert_eq!(b.describe(), "0.50 CNY, 2.00 USD");
        assert_eq!(threshold(1.0, Some("cny")).describe(), "1.00 CNY");
    }
}
