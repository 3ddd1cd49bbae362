//! Finding host objects by their deterministic names, and resolving journal intents
//! left without a host id (crash recovery).

use std::collections::HashSet;

use relay_core::{find_access_resource, Journal, JournalEntry, JournalError};
use relay_domain::{ResourceState, ResourceType};
use relay_sub2api::{AccountFilter, GroupFilter, HostAdapter, HostError, ObjectId};
use serde::Serialize;

use crate::error::ProvisionError;

/// Host ids of the objects a journal entry names, newest (highest id) last.
/// A build without the route (no channels, no payment module) has none.
pub fn find_on_host(
    adapter: &dyn HostAdapter,
    entry: &JournalEntry,
) -> Result<Vec<ObjectId>, HostError> {
    let name = entry.logical_key.as_str();
    let mut ids = match entry.resource_type {
        ResourceType::Group => adapter
            .list_groups(&GroupFilter {
                name: Some(name.to_string()),
                platform: None,
            })?
            .into_iter()
            .filter(|g| g.name == name)
            .map(|g| g.id)
            .collect(),
        ResourceType::Channel => match adapter.list_channels(Some(name)) {
            Ok(list) => list
                .into_iter()
                .filter(|c| c.name == name)
                .map(|c| c.id)
                .collect(),
            Err(HostError::UnsupportedRoute { .. }) => Vec::new(),
            Err(e) => return Err(e),
        },
        ResourceType::Plan => match adapter.list_plans() {
            Ok(list) => {
                let group = entry.detail_i64("group_id");
                list.into_iter()
                    .filter(|p| p.name == name && group.is_none_or(|g| p.group_id == g))
                    .map(|p| p.id)
                    .collect()
            }
            Err(HostError::UnsupportedRoute { .. }) => Vec::new(),
            Err(e) => return Err(e),
        },
        ResourceType::Account => adapter
            .list_accounts(&AccountFilter {
                name_prefix: Some(name.to_string()),
                group_id: None,
                platform: None,
            })?
            .into_iter()
            .filter(|a| a.name == name)
            .map(|a| a.id)
            .collect(),
        _ => find_access_resource(adapter, entry).unwrap_or_else(|| Ok(Vec::new()))?,
    };
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// How an intent was resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Resolution {
    /// Exactly one object with the name: adopted.
    Adopted {
        /// Host id of the one object found, now adopted.
        host_id: ObjectId,
    },
    /// Several objects with the name: the newest adopted, the others reported.
    Conflict {
        /// The adopted (newest) host id.
        host_id: ObjectId,
        /// Host ids of every object with the name, the adopted one included.
        candidates: Vec<ObjectId>,
    },
    /// Nothing with the name: the create never happened.
    Absent,
}

/// One resolved intent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IntentResolution {
    /// Journal entry id.
    pub entry_id: i64,
    /// Kind of host object.
    pub resource_type: ResourceType,
    /// The deterministic name looked up on the host.
    pub name: String,
    /// What was found.
    pub resolution: Resolution,
}

/// Resolves every `intent` entry among `entries`: looks its name up on the host,
/// ignoring objects the journal already records; one match → `adopted`, none →
/// `absent`, several → the newest adopted and a conflict reported.
pub fn resolve_intents(
    adapter: &dyn HostAdapter,
    journal: &dyn Journal,
    entries: &[JournalEntry],
) -> Result<Vec<IntentResolution>, ProvisionError> {
    let intents: Vec<&JournalEntry> = entries
        .iter()
        .filter(|e| e.state == ResourceState::Intent)
        .collect();
    if intents.is_empty() {
        return Ok(Vec::new());
    }
    let mut known: HashSet<(ResourceType, ObjectId)> = journal
        .list_provider()?
        .into_iter()
        .filter_map(|e| e.host_resource_id.map(|id| (e.resource_type, id)))
        .collect();
    let mut out = Vec::new();
    for entry in intents {
        let found = find_on_host(adapter, entry).map_err(|e| {
            ProvisionError::host(
                format!(
                    "looking up {} {} on the host",
                    entry.resource_type, entry.logical_key
                ),
                e,
            )
        })?;
        let mut candidates: Vec<ObjectId> = found
            .into_iter()
            .filter(|id| !known.contains(&(entry.resource_type, *id)))
            .collect();
        let mut resolution = Resolution::Absent;
        while let Some(id) = candidates.last().copied() {
            match journal.attach_host_id(entry.id, id, ResourceState::Adopted) {
                Ok(_) => {
                    known.insert((entry.resource_type, id));
                    resolution = if candidates.len() == 1 {
                        Resolution::Adopted { host_id: id }
                    } else {
                        Resolution::Conflict {
                            host_id: id,
                            candidates: candidates.clone(),
                        }
                    };
                    break;
                }
                // Recorded under another provider: not ours to adopt.
                Err(JournalError::AlreadyRecorded { .. }) => {
                    candidates.pop();
                }
                Err(e) => return Err(e.into()),
            }
        }
        if resolution == Resolution::Absent {
            journal.set_state(entry.id, ResourceState::Absent)?;
        }
        out.push(IntentResolution {
            entry_id: entry.id,
            resource_type: entry.resource_type,
            name: entry.logical_key.clone(),
            resolution,
        });
    }
    Ok(out)
}
