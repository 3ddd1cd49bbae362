//! Preview of an import (SPEC §4.3): what would be created, reused, updated or is
//! in conflict, and what happens to each key. **Writes nothing to the host**: only
//! GET/list calls, and only reads of the journal.

use std::collections::HashMap;

use relay_core::{
    expected_subscription_type, ExistingGroup, Journal, JournalEntry, OverlayNote, PlatformChoice,
    ProviderTarget,
};
use relay_domain::{
    normalize_keys, AcceptedKey, AccessMode, DropReason, DroppedLine, Fingerprint, ImportMode,
    KeyPlan, Redactor, ResourceAction, ResourceType, Secret, SHORT_KEY_CHARS,
};
use relay_pack::parse_host_version;
use relay_sub2api::{Channel, Group, GroupFilter, HostAdapter, HostError, ObjectId, Plan};
use serde::Serialize;

use crate::error::ProvisionError;

/// What to preview.
#[derive(Debug, Clone, PartialEq)]
pub struct PreviewRequest {
    /// The operator's key list, one key per line (BOM, blank lines and `#` comments
    /// are ignored).
    pub keys: Secret,
    /// Strict or partial.
    pub mode: ImportMode,
    /// Subscription or self-service access.
    pub access_mode: AccessMode,
    /// The operator supplies a user key for the self-service proof.
    pub supplied_key: bool,
}

/// The plan for one host resource.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResourcePlan {
    /// Kind of host object (group, channel or plan).
    pub resource_type: ResourceType,
    /// Deterministic name the import gives the object (and finds it by).
    pub name: String,
    /// `create`, `reuse`, `update` or `conflict`.
    pub action: ResourceAction,
    /// The existing host object (reuse / update).
    pub host_id: Option<ObjectId>,
    /// Every same-name object (conflict).
    pub candidates: Vec<ObjectId>,
    /// The journal records the object as created or adopted by the manager.
    pub managed: bool,
    /// Why this action (differences for `update`, the clash for `conflict`).
    pub reason: Option<String>,
}

/// The plan for one key.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyPreview {
    /// 1-based line of the key in the input.
    pub line: usize,
    /// Fingerprint of the key (the key itself is never in a report).
    pub fingerprint: Fingerprint,
    /// Mask of the key, for display.
    pub mask: String,
    /// `new`, `duplicate_in_request` or `already_imported`.
    pub plan: KeyPlan,
    /// Name of the account (`<provider>-<fp8>`).
    pub account_name: String,
    /// The existing account (`already_imported`).
    pub account_id: Option<ObjectId>,
    /// Its host status (`active`, `error`, …).
    pub account_status: Option<String>,
    /// For duplicates: the line of the first occurrence.
    pub duplicate_of_line: Option<usize>,
    /// The key does not fit the manifest's `key_hint` (advisory).
    pub hint_mismatch: bool,
}

/// Counts of the key plans.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct KeyPlanCounts {
    /// Keys that get a new account.
    pub new: usize,
    /// Repeated keys, skipped.
    pub duplicate_in_request: usize,
    /// Keys with a live managed account already.
    pub already_imported: usize,
}

/// Result of a preview.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PreviewReport {
    /// Pack of the provider.
    pub pack_id: String,
    /// Provider the keys are imported for.
    pub provider_id: String,
    /// Strict or partial.
    pub mode: ImportMode,
    /// Subscription or self-service: decides the group type and the access proof.
    pub access_mode: AccessMode,
    /// Host version, when known.
    pub host_version: Option<String>,
    /// The platform of the group, channel entries and new accounts, and why.
    pub platform: PlatformChoice,
    /// Group, channel and plan.
    pub resources: Vec<ResourcePlan>,
    /// Every key line (duplicates included).
    pub keys: Vec<KeyPreview>,
    /// Counts of `keys` by plan.
    pub counts: KeyPlanCounts,
    /// Lines dropped for another reason than duplication (blank, comment, invalid).
    pub dropped: Vec<DroppedLine>,
    /// Host overlays of the pack for this host version.
    pub overlays: Vec<OverlayNote>,
    /// Advisory findings that do not block the import (e.g. a host module it lacks).
    pub warnings: Vec<String>,
    /// Findings that make the import fail.
    pub problems: Vec<String>,
}

impl PreviewReport {
    /// True when nothing blocks the import.
    pub fn can_import(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The normalised keys of a request: accepted keys, duplicates (with the line of
/// the first occurrence) and other dropped lines.
#[derive(Debug, Clone, Default)]
pub(crate) struct KeyLines {
    pub accepted: Vec<AcceptedKey>,
    pub duplicates: Vec<(usize, usize, Fingerprint, String)>,
    pub dropped: Vec<DroppedLine>,
}

/// Normalises a key list ([`normalize_keys`]) into [`KeyLines`]. An import calls
/// it once and hands the result on (preview, account creation, redaction).
pub(crate) fn key_lines(keys: &Secret) -> KeyLines {
    let n = normalize_keys(keys.expose());
    let by_line: HashMap<usize, &AcceptedKey> = n.accepted.iter().map(|a| (a.line, a)).collect();
    let mut out = KeyLines::default();
    for d in n.dropped {
        match d.reason {
            DropReason::Duplicate { first_line } => {
                if let Some(first) = by_line.get(&first_line) {
                    out.duplicates.push((
                        d.line,
                        first_line,
                        first.fingerprint.clone(),
                        first.mask.clone(),
                    ));
                }
            }
            _ => out.dropped.push(d),
        }
    }
    out.accepted = n.accepted;
    out
}

impl KeyLines {
    /// The redaction step of these keys: every accepted key and its fingerprint,
    /// plus `supplied` (a user key of the request), plus the key patterns.
    pub(crate) fn redactor(&self, supplied: Option<&Secret>) -> Redactor {
        let mut r = Redactor::new();
        r.add_all(self.accepted.iter().map(|k| &k.key));
        for k in &self.accepted {
            r.add_fingerprint(&k.fingerprint);
        }
        if let Some(k) = supplied {
            r.add(k);
        }
        r
    }
}

fn managed(entries: &[JournalEntry], t: ResourceType, id: ObjectId) -> bool {
    entries
        .iter()
        .any(|e| e.resource_type == t && e.host_resource_id == Some(id) && e.is_owned_live())
}

fn step_err(step: String) -> impl FnOnce(HostError) -> ProvisionError {
    move |e| ProvisionError::host(step, e)
}

/// Looks the group up by name and decides what to do with it.
pub(crate) fn inspect_group(
    adapter: &dyn HostAdapter,
    entries: &[JournalEntry],
    target: &ProviderTarget,
    mode: AccessMode,
) -> Result<(ResourcePlan, Option<Group>), ProvisionError> {
    let name = target.resource_name(mode);
    let found: Vec<Group> = adapter
        .list_groups(&GroupFilter {
            name: Some(name.clone()),
            platform: None,
        })
        .map_err(step_err(format!("looking up group {name}")))?
        .into_iter()
        .filter(|g| g.name == name)
        .collect();
    let mut plan = ResourcePlan {
        resource_type: ResourceType::Group,
        name,
        action: ResourceAction::Create,
        host_id: None,
        candidates: found.iter().map(|g| g.id).collect(),
        managed: false,
        reason: None,
    };
    match found.len() {
        0 => Ok((plan, None)),
        1 => {
            let g = found.into_iter().next().expect("one group");
            let platform = target.platform_str();
            let kind = expected_subscription_type(mode);
            plan.host_id = Some(g.id);
            plan.managed = managed(entries, ResourceType::Group, g.id);
            if g.platform != platform || g.subscription_type != kind {
                plan.action = ResourceAction::Conflict;
                plan.reason = Some(format!(
                    "group {} ({}) exists with platform {} and type {}; this import needs platform {platform} and type {kind}: rename or delete it",
                    g.name, g.id, g.platform, g.subscription_type
                ));
                return Ok((plan, Some(g)));
            }
            plan.action = ResourceAction::Reuse;
            plan.reason = Some(if plan.managed {
                "created by an earlier import".to_string()
            } else {
                "an existing host group with the same name".to_string()
            });
            Ok((plan, Some(g)))
        }
        n => {
            plan.action = ResourceAction::Conflict;
            plan.reason = Some(format!("{n} groups are named {}; keep one", plan.name));
            Ok((plan, None))
        }
    }
}

/// Looks the channel up by name and decides what to do with it. `group` is the
/// provider's group when it already exists.
pub(crate) fn inspect_channel(
    adapter: &dyn HostAdapter,
    entries: &[JournalEntry],
    target: &ProviderTarget,
    mode: AccessMode,
    group: Option<ObjectId>,
) -> Result<(ResourcePlan, Option<Channel>), ProvisionError> {
    let name = target.resource_name(mode);
    let all = adapter
        .list_channels(None)
        .map_err(step_err(format!("looking up channel {name}")))?;
    let found: Vec<&Channel> = all.iter().filter(|c| c.name == name).collect();
    let mut plan = ResourcePlan {
        resource_type: ResourceType::Channel,
        name: name.clone(),
        action: ResourceAction::Create,
        host_id: None,
        candidates: found.iter().map(|c| c.id).collect(),
        managed: false,
        reason: None,
    };
    if found.len() > 1 {
        plan.action = ResourceAction::Conflict;
        plan.reason = Some(format!(
            "{} channels are named {name}; keep one",
            found.len()
        ));
        return Ok((plan, None));
    }
    // A group belongs to at most one channel.
    if let Some(g) = group {
        if let Some(other) = all
            .iter()
            .find(|c| c.name != name && c.group_ids.contains(&g))
        {
            plan.action = ResourceAction::Conflict;
            plan.reason = Some(format!(
                "group {g} already belongs to channel {} ({}); a group can be in one channel only",
                other.name, other.id
            ));
            return Ok((plan, None));
        }
    }
    let Some(ch) = found.first().map(|c| (*c).clone()) else {
        return Ok((plan, None));
    };
    plan.host_id = Some(ch.id);
    plan.managed = managed(entries, ResourceType::Channel, ch.id);
    let diffs = target.channel_differences(&ch, group);
    if diffs.is_empty() {
        plan.action = ResourceAction::Reuse;
    } else {
        plan.action = ResourceAction::Update;
        plan.reason = Some(diffs.join("; "));
    }
    Ok((plan, Some(ch)))
}

/// Looks the plan up by name and decides what to do with it.
pub(crate) fn inspect_plan(
    adapter: &dyn HostAdapter,
    entries: &[JournalEntry],
    target: &ProviderTarget,
    group: Option<ObjectId>,
) -> Result<(ResourcePlan, Option<Plan>), ProvisionError> {
    let name = target.resource_name(AccessMode::Subscription);
    let found: Vec<Plan> = adapter
        .list_plans()
        .map_err(step_err(format!("looking up plan {name}")))?
        .into_iter()
        .filter(|p| p.name == name)
        .collect();
    let mut plan = ResourcePlan {
        resource_type: ResourceType::Plan,
        name: name.clone(),
        action: ResourceAction::Create,
        host_id: None,
        candidates: found.iter().map(|p| p.id).collect(),
        managed: false,
        reason: None,
    };
    match found.len() {
        0 => Ok((plan, None)),
        1 => {
            let p = found.into_iter().next().expect("one plan");
            plan.host_id = Some(p.id);
            plan.managed = managed(entries, ResourceType::Plan, p.id);
            match group {
                Some(g) if p.group_id != g => {
                    plan.action = ResourceAction::Conflict;
                    plan.reason = Some(format!(
                        "plan {name} ({}) grants group {}, not the provider's group {g}",
                        p.id, p.group_id
                    ));
                }
                None => {
                    plan.action = ResourceAction::Conflict;
                    plan.reason = Some(format!(
                        "plan {name} ({}) exists for group {}, but the provider's group does not exist yet",
                        p.id, p.group_id
                    ));
                }
                Some(_) => plan.action = ResourceAction::Reuse,
            }
            Ok((plan, Some(p)))
        }
        n => {
            plan.action = ResourceAction::Conflict;
            plan.reason = Some(format!("{n} plans are named {name}; keep one"));
            Ok((plan, None))
        }
    }
}

/// The target with its platform settled against the host: when the provider can use
/// more than one platform (a `native_platform`), a group of the provider found on the
/// host by its name keeps the platform it has (the requested mode's group first, then
/// the other mode's), so an existing install is never moved to another platform.
/// Only reads (group lists by name).
pub(crate) fn settle_platform(
    adapter: &dyn HostAdapter,
    target: &ProviderTarget,
    mode: AccessMode,
) -> Result<ProviderTarget, ProvisionError> {
    if target.provider.native_platform.is_none() || !target.capabilities.groups {
        return Ok(target.clone());
    }
    let other = match mode {
        AccessMode::Subscription => AccessMode::SelfService,
        AccessMode::SelfService => AccessMode::Subscription,
    };
    for m in [mode, other] {
        let name = target.resource_name(m);
        let found: Vec<Group> = adapter
            .list_groups(&GroupFilter {
                name: Some(name.clone()),
                platform: None,
            })
            .map_err(step_err(format!("looking up group {name}")))?
            .into_iter()
            .filter(|g| g.name == name)
            .collect();
        if let [g] = found.as_slice() {
            if let Ok(platform) = g.platform.as_str().parse() {
                let settled = target.with_existing_group(&ExistingGroup {
                    name: g.name.clone(),
                    id: Some(g.id),
                    platform,
                });
                if settled.platform.platform == platform {
                    return Ok(settled);
                }
            }
        }
    }
    Ok(target.clone())
}

/// Previews an import. Reads the host (GET/list calls only) and the journal; writes
/// nothing anywhere. The report names the platform the import uses and why.
pub fn preview(
    adapter: &dyn HostAdapter,
    journal: &dyn Journal,
    target: &ProviderTarget,
    request: &PreviewRequest,
) -> Result<PreviewReport, ProvisionError> {
    let lines = key_lines(&request.keys);
    preview_lines(adapter, journal, target, request, &lines).map(|(report, _)| report)
}

/// [`preview`] of keys already normalised (`lines`, from `request.keys`; the
/// request's own key text is not read again), also returning the target with its
/// platform settled against the host (what the import then uses).
pub(crate) fn preview_lines(
    adapter: &dyn HostAdapter,
    journal: &dyn Journal,
    target: &ProviderTarget,
    request: &PreviewRequest,
    lines: &KeyLines,
) -> Result<(PreviewReport, ProviderTarget), ProvisionError> {
    let settled = settle_platform(adapter, target, request.access_mode)?;
    let target = &settled;
    let caps = target.capabilities;
    let mut report = PreviewReport {
        pack_id: target.pack_id.clone(),
        provider_id: target.provider_id().to_string(),
        mode: request.mode,
        access_mode: request.access_mode,
        host_version: target.host_version.clone(),
        platform: target.platform.clone(),
        resources: Vec::new(),
        keys: Vec::new(),
        counts: KeyPlanCounts::default(),
        dropped: Vec::new(),
        overlays: Vec::new(),
        warnings: Vec::new(),
        problems: Vec::new(),
    };

    // Host facts.
    match target.host_version.as_deref().map(parse_host_version) {
        Some(Ok(v)) => {
            report.overlays = target
                .provider
                .overlays_for(&v)
                .into_iter()
                .map(|o| OverlayNote {
                    severity: o.severity,
                    note: o.note.clone(),
                })
                .collect();
        }
        Some(Err(e)) => report
            .warnings
            .push(format!("{e}; the pack's host overlays were not checked")),
        None => report
            .warnings
            .push("the host version is unknown; the pack's host overlays were not checked".into()),
    }
    if !caps.groups {
        report
            .problems
            .push("the host has no group administration API".into());
    }
    if !caps.accounts {
        report
            .problems
            .push("the host has no account administration API".into());
    }
    if request.access_mode == AccessMode::Subscription {
        if !caps.subscriptions {
            report.problems.push(
                "subscription access needs the host's subscription API, which this host lacks; use self-service access".into(),
            );
        }
        if !caps.plans {
            report.warnings.push(
                "plan skipped: the host has no plans module; subscriptions are assigned directly"
                    .into(),
            );
        }
        if !caps.users || !caps.user_keys {
            report.warnings.push(
                "the host lacks user administration or user key self-service: the managed probe subscriber cannot get a key, so subscription access will be broken".into(),
            );
        }
    }
    if !caps.channels {
        report.warnings.push(
            "the host has no channels: no channel is created; model pricing and channel mapping are not applied (accounts still carry the model mapping)".into(),
        );
    }
    if !caps.chat_completions {
        report.warnings.push(
            "the host has no /v1/chat/completions: access cannot be proven (ready is completion-gated)".into(),
        );
    }
    if request.access_mode == AccessMode::SelfService && !request.supplied_key {
        report.warnings.push(
            "self-service access without a supplied user key: access will be not_configured until a key bound to the group is checked".into(),
        );
    }

    // Resources.
    let entries = journal.list_provider()?;
    let mut group_id = None;
    if caps.groups {
        let (plan, group) = inspect_group(adapter, &entries, target, request.access_mode)?;
        if plan.action == ResourceAction::Reuse {
            group_id = group.map(|g| g.id);
        }
        report.resources.push(plan);
    }
    if caps.channels {
        let (plan, _) = inspect_channel(adapter, &entries, target, request.access_mode, group_id)?;
        report.resources.push(plan);
    }
    if request.access_mode == AccessMode::Subscription && caps.plans {
        let (plan, _) = inspect_plan(adapter, &entries, target, group_id)?;
        // A plan of a group that does not exist yet is recreated with the group.
        report.resources.push(plan);
    }
    for r in &report.resources {
        if r.action == ResourceAction::Conflict {
            report.problems.push(format!(
                "{} {}: {}",
                r.resource_type,
                r.name,
                r.reason.as_deref().unwrap_or("conflict")
            ));
        }
    }

    // Keys.
    report.dropped = lines.dropped.clone();
    let hint = target.provider.key_hint.as_ref();
    for key in &lines.accepted {
        let chars = key.key.expose().chars().count();
        if chars < SHORT_KEY_CHARS {
            report.warnings.push(format!(
                "key {} (line {}) is only {chars} characters long: no vendor issues keys this \
                 short, so check the keys file (a key this short could be recovered from its \
                 mask and fingerprint)",
                key.mask, key.line
            ));
        }
        let hint_mismatch = hint.is_some_and(|h| !h.matches(key.key.expose()));
        if hint_mismatch {
            report.warnings.push(format!(
                "key {} (line {}) does not look like a {} key{}",
                key.mask,
                key.line,
                target.provider.display_name,
                hint.and_then(|h| h.note.as_deref())
                    .map(|n| format!(": {n}"))
                    .unwrap_or_default()
            ));
        }
        let mut k = KeyPreview {
            line: key.line,
            fingerprint: key.fingerprint.clone(),
            mask: key.mask.clone(),
            plan: KeyPlan::New,
            account_name: target.account_name(&key.fingerprint),
            account_id: None,
            account_status: None,
            duplicate_of_line: None,
            hint_mismatch,
        };
        if let Some(entry) = journal.find_live_account(&key.fingerprint)? {
            let id = entry.host_resource_id.unwrap_or_default();
            match adapter.get_account(id) {
                Ok(a) => {
                    k.plan = KeyPlan::AlreadyImported;
                    k.account_id = Some(a.id);
                    k.account_status = Some(a.status.into());
                }
                Err(e) if e.is_not_found() => report.warnings.push(format!(
                    "key {}: its recorded account {id} is gone from the host; a new account will be created",
                    key.mask
                )),
                Err(e) => {
                    return Err(ProvisionError::host(format!("reading account {id}"), e));
                }
            }
        }
        report.keys.push(k);
    }
    for (line, first_line, fingerprint, mask) in &lines.duplicates {
        report.keys.push(KeyPreview {
            line: *line,
            fingerprint: fingerprint.clone(),
            mask: mask.clone(),
            plan: KeyPlan::DuplicateInRequest,
            account_name: target.account_name(fingerprint),
            account_id: None,
            account_status: None,
            duplicate_of_line: Some(*first_line),
            hint_mismatch: false,
        });
    }
    report.keys.sort_by_key(|k| k.line);
    for k in &report.keys {
        match k.plan {
            KeyPlan::New => report.counts.new += 1,
            KeyPlan::DuplicateInRequest => report.counts.duplicate_in_request += 1,
            KeyPlan::AlreadyImported => report.counts.already_imported += 1,
        }
    }
    if lines.accepted.is_empty() {
        report
            .problems
            .push("no key to import: the key list is empty after normalisation".into());
    }
    Ok((report, settled))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_lines_split_accepted_duplicates_and_dropped() {
        let lines = key_lines(&Secret::new(
            "sk-a1234567\n\n#c\nsk-b1234567\nsk-a1234567\nbad key\n",
        ));
        let accepted: Vec<usize> = lines.accepted.iter().map(|a| a.line).collect();
        assert_eq!(accepted, vec![1, 4]);
        assert_eq!(lines.duplicates.len(), 1);
        let (line, first, fp, _) = &lines.duplicates[0];
        assert_eq!((*line, *first), (5, 1));
        assert_eq!(fp, &Fingerprint::of("sk-a1234567"));
        let dropped: Vec<DropReason> = lines.dropped.iter().map(|d| d.reason.clone()).collect();
        assert_eq!(
            dropped,
            vec![
                DropReason::Blank,
                DropReason::Comment,
                DropReason::InvalidCharacters
            ]
        );
    }

    proptest::proptest! {
        /// Every non-blank, non-comment line is accounted for exactly once.
        #[test]
        fn every_key_line_is_accounted_for(keys in proptest::collection::vec("[a-c]{1,3}", 0..20)) {
            let text = keys.join("\n");
            let lines = key_lines(&Secret::new(text.clone()));
            let distinct: std::collections::BTreeSet<&String> = keys.iter().collect();
            proptest::prop_assert_eq!(lines.accepted.len(), distinct.len());
            proptest::prop_assert_eq!(lines.accepted.len() + lines.duplicates.len(), keys.len());
        }
    }
}
