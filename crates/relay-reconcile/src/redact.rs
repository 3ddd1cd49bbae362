//! The redaction step of a reconcile or doctor run. Upstream keys are never
//! stored, so a run knows them only by the fingerprints of the journal's
//! accounts; it also knows the probe key it uses. Every host text of its report
//! and of the probe records passes through it (on top of the adapter's own step).

use relay_core::{JournalError, Ports};
use relay_domain::{Redactor, Secret};

use crate::doctor::{DoctorCheck, DoctorReport};
use crate::model::{Difference, Repair};
use crate::reconcile::ReconcileReport;

/// The run's redaction step: the fingerprints of every key the provider's journal
/// records, and the probe key when the run has one.
pub(crate) fn run_redactor(
    ports: &Ports<'_>,
    probe_key: Option<&Secret>,
) -> Result<Redactor, JournalError> {
    let mut r = Redactor::new();
    for e in ports.journal.list_provider()? {
        if let Some(fp) = &e.fingerprint {
            r.add_fingerprint(fp);
        }
    }
    if let Some(k) = probe_key {
        r.add(k);
    }
    Ok(r)
}

impl Difference {
    /// Passes the detail and the fix through `redactor`.
    pub fn redact(&mut self, redactor: &Redactor) {
        redactor.redact_in_place(&mut self.detail);
        redactor.redact_in_place(&mut self.fix);
    }
}

impl Repair {
    /// Passes the detail and the error through `redactor`.
    pub fn redact(&mut self, redactor: &Redactor) {
        redactor.redact_in_place(&mut self.detail);
        if let Some(e) = &mut self.error {
            redactor.redact_in_place(e);
        }
    }
}

impl ReconcileReport {
    /// Passes every host text of the report (differences, repairs, account
    /// messages, the access proof, notes) through `redactor`.
    pub fn redact(&mut self, redactor: &Redactor) {
        self.differences.iter_mut().for_each(|d| d.redact(redactor));
        self.repairs.iter_mut().for_each(|r| r.redact(redactor));
        for a in &mut self.accounts {
            if let Some(m) = &mut a.message {
                redactor.redact_in_place(m);
            }
        }
        if let Some(p) = &mut self.access {
            p.redact(redactor);
        }
        self.keys.iter_mut().for_each(|k| k.redact(redactor));
        self.notes
            .iter_mut()
            .for_each(|n| redactor.redact_in_place(n));
    }
}

impl DoctorCheck {
    /// Passes the subject, summary, evidence and fix through `redactor`.
    pub fn redact(&mut self, redactor: &Redactor) {
        redactor.redact_in_place(&mut self.subject);
        redactor.redact_in_place(&mut self.summary);
        redactor.redact_json_in_place(&mut self.evidence);
        if let Some(f) = &mut self.fix {
            redactor.redact_in_place(f);
        }
    }
}

impl DoctorReport {
    /// Passes every host text of the report (checks before and after the repairs,
    /// repairs, the access proof, notes) through `redactor`.
    pub fn redact(&mut self, redactor: &Redactor) {
        self.checks.iter_mut().for_each(|c| c.redact(redactor));
        if let Some(before) = &mut self.before_repair {
            before.iter_mut().for_each(|c| c.redact(redactor));
        }
        self.repairs.iter_mut().for_each(|r| r.redact(redactor));
        if let Some(p) = &mut self.access {
            p.redact(redactor);
        }
        self.notes
            .iter_mut()
            .for_each(|n| redactor.redact_in_place(n));
    }
}
