//! Self-service access: the operator supplies a user key; the manager checks that
//! it is bound to the provider's group and probes the gateway with it. The manager
//! never issues keys to end users itself.

use relay_core::{
    probe_gateway, AccessError, Ports, ProbeKeySource, ProbeSettings, RepairScope,
    SelfServiceReport,
};
use relay_domain::{mask, AccessMode, Fingerprint, ModeProof, Redactor, Secret};
use relay_sub2api::ObjectId;

/// Verifies that `key` is bound to `group_id` (compared by fingerprint against the
/// group's keys, read with admin rights) and active, then probes the gateway with it.
/// Errors only when the journal fails while recording a capability repair.
pub fn check_self_service(
    ports: &Ports<'_>,
    group_id: ObjectId,
    key: &Secret,
    settings: &ProbeSettings,
    repair: Option<&RepairScope<'_>>,
) -> Result<SelfServiceReport, AccessError> {
    let mut report = check_self_service_unredacted(ports, group_id, key, settings, repair)?;
    report.redact(&Redactor::new().with(key));
    Ok(report)
}

fn check_self_service_unredacted(
    ports: &Ports<'_>,
    group_id: ObjectId,
    key: &Secret,
    settings: &ProbeSettings,
    repair: Option<&RepairScope<'_>>,
) -> Result<SelfServiceReport, AccessError> {
    let adapter = ports.adapter;
    let fingerprint = Fingerprint::of(key.expose());
    let key_mask = mask(key.expose());
    let subject = format!("key {key_mask}");
    let mut report = SelfServiceReport {
        group_id,
        key_fingerprint: fingerprint.clone(),
        key_mask: key_mask.clone(),
        bound: false,
        key_id: None,
        owner_user_id: None,
        proof: None,
        status: ModeProof::Broken,
        problems: Vec::new(),
    };
    let keys = match adapter.list_group_keys(group_id) {
        Ok(k) => k,
        Err(e) => {
            report.problems.push(
                AccessError::host(format!("listing the keys of group {group_id}"), e)
                    .to_problem(subject),
            );
            return Ok(report);
        }
    };
    let Some(found) = keys
        .iter()
        .find(|k| Fingerprint::of(k.key.expose()) == fingerprint)
    else {
        report.problems.push(
            AccessError::KeyNotBound {
                mask: key_mask,
                group_id,
            }
            .to_problem(subject),
        );
        return Ok(report);
    };
    report.bound = found.group_id == Some(group_id);
    report.key_id = Some(found.id);
    report.owner_user_id = Some(found.user_id);
    if !report.bound {
        report.problems.push(
            AccessError::KeyNotBound {
                mask: key_mask,
                group_id,
            }
            .to_problem(subject),
        );
        return Ok(report);
    }
    if !found.status.is_active() {
        report.problems.push(
            AccessError::KeyInactive {
                mask: key_mask,
                status: found.status.to_string(),
            }
            .to_problem(subject),
        );
        return Ok(report);
    }
    let proof = probe_gateway(
        ports,
        key,
        AccessMode::SelfService,
        ProbeKeySource::SuppliedKey,
        settings,
        repair,
    )?;
    report.status = proof.proof;
    report.proof = Some(proof);
    Ok(report)
}
