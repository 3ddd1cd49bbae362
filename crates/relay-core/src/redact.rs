//! The redaction step of the access reports: the secrets a flow handles (a probe or
//! supplied user key, a managed subscriber's password and user key) are masked in
//! every text the reports carry, on top of the adapter's own redaction.

use relay_domain::Redactor;

use crate::access::{AccessReport, SelfServiceReport, SubscriberOutcome, SubscriptionReport};
use crate::error::AccessProblem;
use crate::gateway_probe::AccessProof;

impl AccessProblem {
    /// Passes the subject and message through `redactor`.
    pub fn redact(&mut self, redactor: &Redactor) {
        redactor.redact_in_place(&mut self.subject);
        redactor.redact_in_place(&mut self.message);
    }
}

impl AccessProof {
    /// Passes every host text of the proof (message, completion type and preview,
    /// repair errors) through `redactor`.
    pub fn redact(&mut self, redactor: &Redactor) {
        for text in [
            &mut self.message,
            &mut self.completion_type,
            &mut self.completion_preview,
            &mut self.completion_model,
        ]
        .into_iter()
        .flatten()
        {
            redactor.redact_in_place(text);
        }
        for r in &mut self.repairs {
            if let Some(e) = &mut r.error {
                redactor.redact_in_place(e);
            }
        }
        for o in &mut self.accounts_out_of_service {
            if let Some(until) = &mut o.until {
                redactor.redact_in_place(until);
            }
        }
    }
}

impl SubscriberOutcome {
    /// Passes the problems and warnings through `redactor`.
    pub fn redact(&mut self, redactor: &Redactor) {
        self.problems.iter_mut().for_each(|p| p.redact(redactor));
        self.warnings
            .iter_mut()
            .for_each(|w| redactor.redact_in_place(w));
    }
}

impl SubscriptionReport {
    /// Passes every subscriber's problems and warnings, and the proof, through
    /// `redactor`.
    pub fn redact(&mut self, redactor: &Redactor) {
        self.subscribers.iter_mut().for_each(|s| s.redact(redactor));
        if let Some(p) = &mut self.proof {
            p.redact(redactor);
        }
    }
}

impl SelfServiceReport {
    /// Passes the problems and the proof through `redactor`.
    pub fn redact(&mut self, redactor: &Redactor) {
        self.problems.iter_mut().for_each(|p| p.redact(redactor));
        if let Some(p) = &mut self.proof {
            p.redact(redactor);
        }
    }
}

impl AccessReport {
    /// Passes every text of the report through `redactor` (callers that know more
    /// secrets than the closure, e.g. the upstream keys of a batch, apply theirs).
    pub fn redact(&mut self, redactor: &Redactor) {
        if let Some(d) = &mut self.subscription_detail {
            d.redact(redactor);
        }
        if let Some(d) = &mut self.self_service_detail {
            d.redact(redactor);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::AccessError;
    use crate::observer::{Observer, ProbeKind, ProbeRecord, RedactingObserver};
    use relay_domain::{mask, AccessStatus, ModeProof, Secret, Verdict};
    use serde_json::json;
    use std::sync::Mutex;

    const PASSWORD: &str = "generated password 42";
    const USER_KEY: &str = "user-key-of-no-known-shape";

    #[derive(Default)]
    struct Keep(Mutex<Vec<ProbeRecord>>);
    impl Observer for Keep {
        fn probe(&self, record: ProbeRecord) {
            self.0.lock().unwrap().push(record);
        }
    }

    #[test]
    fn probe_records_pass_the_redactor_before_the_inner_observer() {
        let redactor = Redactor::new().with(&Secret::new(USER_KEY));
        let keep = Keep::default();
        let observer = RedactingObserver {
            inner: &keep,
            redactor: &redactor,
        };
        observer.probe(ProbeRecord {
            kind: ProbeKind::GatewayChat,
            subject: format!("key:{USER_KEY}"),
            verdict: Verdict::Failed,
            http_status: Some(503),
            message: Some(format!(
                "Service temporarily unavailable (Bearer {USER_KEY})"
            )),
            duration_ms: None,
            details: json!({"echo": USER_KEY}),
        });
        let got = keep.0.lock().unwrap()[0].clone();
        let text = serde_json::to_string(&got).unwrap();
        assert!(!text.contains(USER_KEY), "{text}");
        assert_eq!(got.subject, format!("key:{}", mask(USER_KEY)));
    }

    #[test]
    fn an_access_report_is_redacted_everywhere() {
        let host_error = relay_sub2api::HostError::Host {
            status: 400,
            code: None,
            message: format!("password {PASSWORD} is too weak"),
            metadata: Default::default(),
        };
        let mut outcome_report = AccessReport::not_configured(7);
        outcome_report.status = AccessStatus::Broken;
        outcome_report.self_service = ModeProof::Broken;
        outcome_report.self_service_detail = Some(SelfServiceReport {
            group_id: 7,
            key_fingerprint: relay_domain::Fingerprint::of(USER_KEY),
            key_mask: mask(USER_KEY),
            bound: true,
            key_id: None,
            owner_user_id: None,
            proof: None,
            status: ModeProof::Broken,
            problems: vec![
                AccessError::host("creating user bob", host_error).to_problem("bob"),
                AccessError::host(
                    "listing keys",
                    relay_sub2api::HostError::Transport(format!("reset while sending {USER_KEY}")),
                )
                .to_problem(format!("key {USER_KEY}")),
            ],
        });
        let redactor = Redactor::new()
            .with(&Secret::new(PASSWORD))
            .with(&Secret::new(USER_KEY));
        outcome_report.redact(&redactor);
        let text = serde_json::to_string(&outcome_report).unwrap();
        assert!(!text.contains(PASSWORD), "{text}");
        assert!(!text.contains(USER_KEY), "{text}");
        assert!(text.contains(&mask(PASSWORD)), "{text}");
    }
}
