//! Ensuring the group, channel and plan of a provider (SPEC §4.4 step 2):
//! reuse exactly one same-name object, create when none exists (intent journaled
//! before the call, host id attached after it), refuse when several exist.

use relay_core::{record_reused_once, JournalEntry, NewEntry, Ports, ProviderTarget};
use relay_domain::{AccessMode, ResourceAction, ResourceState, ResourceType};
use relay_sub2api::{ChannelUpdate, HostError, ObjectId};
use serde_json::{json, Value};

use crate::error::ProvisionError;
use crate::lookup::{resolve_intents, Resolution};
use crate::preview::{inspect_channel, inspect_group, inspect_plan, ResourcePlan};
use crate::report::{ResourceChange, ResourceOutcome};

/// A host refusal while ensuring a resource: the import fails (and rolls back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EnsureFailure(pub String);

type Ensured = Result<Result<ResourceOutcome, EnsureFailure>, ProvisionError>;

fn plan_failure(plan: &ResourcePlan) -> EnsureFailure {
    EnsureFailure(format!(
        "{} {}: {}",
        plan.resource_type,
        plan.name,
        plan.reason.as_deref().unwrap_or("conflict")
    ))
}

/// Creates through `create`, journaling the intent first. When the call fails, the
/// name is looked up (the host may have created it before failing to answer).
fn create_journaled(
    ports: &Ports<'_>,
    entry: NewEntry,
    create: impl FnOnce() -> Result<ObjectId, HostError>,
) -> Ensured {
    let intent = ports.journal.record_intent(&entry)?;
    let name = entry.logical_key.clone();
    let resource_type = entry.resource_type;
    match create() {
        Ok(id) => {
            ports
                .journal
                .attach_host_id(intent.id, id, ResourceState::Created)?;
            Ok(Ok(ResourceOutcome {
                resource_type,
                host_id: id,
                name,
                change: ResourceChange::Created,
                state: Some(ResourceState::Created),
            }))
        }
        Err(e) => {
            let failure = EnsureFailure(format!("creating {resource_type} {name} failed: {e}"));
            match resolve_intents(ports.adapter, ports.journal, std::slice::from_ref(&intent)) {
                Ok(r) => match r.first().map(|r| &r.resolution) {
                    Some(Resolution::Adopted { host_id })
                    | Some(Resolution::Conflict { host_id, .. }) => Ok(Ok(ResourceOutcome {
                        resource_type,
                        host_id: *host_id,
                        name,
                        change: ResourceChange::Adopted,
                        state: Some(ResourceState::Adopted),
                    })),
                    _ => Ok(Err(failure)),
                },
                Err(ProvisionError::Host { .. }) => Ok(Err(failure)),
                Err(other) => Err(other),
            }
        }
    }
}

fn reused(
    ports: &Ports<'_>,
    plan: &ResourcePlan,
    host_id: ObjectId,
    details: Value,
    change: ResourceChange,
) -> Result<ResourceOutcome, ProvisionError> {
    let entry = NewEntry::new(plan.resource_type, plan.name.clone(), details);
    record_reused_once(ports.journal, &entry, host_id)?;
    Ok(ResourceOutcome {
        resource_type: plan.resource_type,
        host_id,
        name: plan.name.clone(),
        change,
        state: None,
    })
}

/// Ensures the provider's group for `mode`.
pub(crate) fn ensure_group(
    ports: &Ports<'_>,
    entries: &[JournalEntry],
    target: &ProviderTarget,
    mode: AccessMode,
) -> Ensured {
    let (plan, _) = match inspect_group(ports.adapter, entries, target, mode) {
        Ok(x) => x,
        Err(ProvisionError::Host { step, source }) => {
            return Ok(Err(EnsureFailure(format!("{step} failed: {source}"))))
        }
        Err(e) => return Err(e),
    };
    match plan.action {
        ResourceAction::Create => {
            let new = target.new_group(mode);
            create_journaled(
                ports,
                NewEntry::new(
                    ResourceType::Group,
                    new.name.clone(),
                    json!({"platform": new.platform, "subscription_type": new.subscription_type}),
                ),
                || ports.adapter.create_group(&new).map(|g| g.id),
            )
        }
        ResourceAction::Reuse | ResourceAction::Update => {
            let id = plan.host_id.expect("reused group has an id");
            // The reused group's platform is recorded too: it fixes the platform of
            // the provider's later imports on this host.
            let kind = relay_core::expected_subscription_type(mode);
            Ok(Ok(reused(
                ports,
                &plan,
                id,
                json!({"platform": target.platform_str(), "subscription_type": kind}),
                ResourceChange::Reused,
            )?))
        }
        ResourceAction::Conflict => Ok(Err(plan_failure(&plan))),
    }
}

/// Ensures the provider's channel, bound to `group_id`.
pub(crate) fn ensure_channel(
    ports: &Ports<'_>,
    entries: &[JournalEntry],
    target: &ProviderTarget,
    mode: AccessMode,
    group_id: ObjectId,
) -> Ensured {
    let (plan, existing) =
        match inspect_channel(ports.adapter, entries, target, mode, Some(group_id)) {
            Ok(x) => x,
            Err(ProvisionError::Host { step, source }) => {
                return Ok(Err(EnsureFailure(format!("{step} failed: {source}"))))
            }
            Err(e) => return Err(e),
        };
    let details = json!({"group_id": group_id});
    match plan.action {
        ResourceAction::Create => {
            let new = target.new_channel(mode, group_id);
            create_journaled(
                ports,
                NewEntry::new(ResourceType::Channel, new.name.clone(), details),
                || ports.adapter.create_channel(&new).map(|c| c.id),
            )
        }
        ResourceAction::Reuse => {
            let id = plan.host_id.expect("reused channel has an id");
            Ok(Ok(reused(
                ports,
                &plan,
                id,
                details,
                ResourceChange::Reused,
            )?))
        }
        ResourceAction::Update => {
            let channel = existing.expect("updated channel exists");
            let mut group_ids = channel.group_ids.clone();
            if !group_ids.contains(&group_id) {
                group_ids.push(group_id);
            }
            let want = target.new_channel(mode, group_id);
            let update = ChannelUpdate {
                group_ids: Some(group_ids),
                model_mapping: Some(want.model_mapping),
                model_pricing: Some(want.model_pricing),
                restrict_models: Some(want.restrict_models),
                billing_model_source: want.billing_model_source,
                ..ChannelUpdate::default()
            };
            if let Err(e) = ports.adapter.update_channel(channel.id, &update) {
                return Ok(Err(EnsureFailure(format!(
                    "updating channel {} failed: {e}",
                    channel.name
                ))));
            }
            Ok(Ok(reused(
                ports,
                &plan,
                channel.id,
                details,
                ResourceChange::Updated,
            )?))
        }
        ResourceAction::Conflict => Ok(Err(plan_failure(&plan))),
    }
}

/// Ensures the provider's subscription plan for `group_id`.
pub(crate) fn ensure_plan(
    ports: &Ports<'_>,
    entries: &[JournalEntry],
    target: &ProviderTarget,
    group_id: ObjectId,
) -> Ensured {
    let (plan, _) = match inspect_plan(ports.adapter, entries, target, Some(group_id)) {
        Ok(x) => x,
        Err(ProvisionError::Host { step, source }) => {
            return Ok(Err(EnsureFailure(format!("{step} failed: {source}"))))
        }
        Err(e) => return Err(e),
    };
    let details = json!({"group_id": group_id});
    match plan.action {
        ResourceAction::Create => {
            let new = target.new_plan(group_id);
            create_journaled(
                ports,
                NewEntry::new(ResourceType::Plan, new.name.clone(), details),
                || ports.adapter.create_plan(&new).map(|p| p.id),
            )
        }
        ResourceAction::Reuse | ResourceAction::Update => {
            let id = plan.host_id.expect("reused plan has an id");
            Ok(Ok(reused(
                ports,
                &plan,
                id,
                details,
                ResourceChange::Reused,
            )?))
        }
        ResourceAction::Conflict => Ok(Err(plan_failure(&plan))),
    }
}
