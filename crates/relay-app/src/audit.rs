//! The audit trail of host mutations: [`AuditedAdapter`], a [`HostAdapter`]
//! decorator that records one event per mutating call (create, update, delete,
//! set-schedulable, clear-error, …) in the store's append-only trail, with the
//! changed fields before → after and the origin (the batch, run, doctor run,
//! closure or operator request that made it). Reads pass through unrecorded.
//!
//! Before → after, field by field: a create records nothing → the fields sent; an
//! update takes the object as it was before — the read the use-case made of it
//! through this adapter moments before (reconcile and doctor repairs read first), else
//! one extra GET — and records every field the update set whose value differs between
//! that and the host's answer; a state change (schedulable, clear-error,
//! recover-state) records the account's state fields; a delete records the fields of
//! the object as it was → nothing. Secret fields
//! (`api_key`, `password`, user keys, tokens) are recorded as `"***"` (and an update
//! of one as `"***"` → `"changed"`), never their value; the store redacts every text
//! once more when it writes.
//!
//! A failure to write an event never fails the mutation: it is logged (redacted) and
//! counted (`relay_audit_write_failures_total`).
//!
//! Adding a mutating method to [`HostAdapter`] is one line here: a method calling
//! [`AuditedAdapter::create`], [`AuditedAdapter::update`], [`AuditedAdapter::state`]
//! or [`AuditedAdapter::delete`]; a read is one line of the `forward!` list.

use crate::metrics::Metrics;
use relay_domain::{
    AuditOrigin, AuditOriginKind, FieldChange, HostId, PackId, ProviderId, Secret, CHANGED_VALUE,
    REDACTED_VALUE,
};
pub use relay_store::{AuditEventRecord, OperationKind, OperationRecord, AUDIT_PAGE_MAX};
use relay_store::{AuditRepository, NewAuditEvent, Store};

use relay_sub2api::*;
use serde_json::{json, Map, Value};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

thread_local! {
    static REQUEST_ID: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Runs `f` with `request_id` as the current operator request: every audit origin
/// made on this thread meanwhile ([`origin`]) carries it. The HTTP edge wraps each
/// handler in it.
pub fn with_request_id<R>(request_id: &str, f: impl FnOnce() -> R) -> R {
    let previous = REQUEST_ID.with(|r| r.replace(Some(request_id.to_string())));
    let out = f();
    REQUEST_ID.with(|r| *r.borrow_mut() = previous);
    out
}

/// The request id set by [`with_request_id`] on this thread, if any.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.with(|r| r.borrow().clone())
}

/// An origin of `kind` and id `id`, carrying the current request id.
pub fn origin(kind: AuditOriginKind, id: Option<&str>) -> AuditOrigin {
    AuditOrigin::new(kind, id).with_request_id(current_request_id())
}

/// Field names whose values are secrets: recorded as `"***"` only.
const SECRET_FIELDS: &[&str] = &[
    "api_key",
    "password",
    "key",
    "custom_key",
    "access_token",
    "refresh_token",
    "secret",
    "token",
];

fn is_secret_field(path: &str) -> bool {
    let last = path.rsplit('.').next().unwrap_or(path);
    SECRET_FIELDS.contains(&last)
}

/// A host object (or a request for one) as audit fields: its top-level fields as
/// JSON, secrets already `"***"`.
pub trait AuditFields {
    /// The fields, secrets as [`REDACTED_VALUE`]; unset optional fields left out.
    fn fields(&self) -> Map<String, Value>;
    /// The object's host id and name, when it has them.
    fn ident(&self) -> (Option<ObjectId>, Option<String>) {
        (None, None)
    }
}

fn secret_marker(s: &Option<Secret>) -> Option<&'static str> {
    s.as_ref().map(|_| REDACTED_VALUE)
}

/// Builds a field map from `name => value` pairs, leaving `null`s out.
macro_rules! fields {
    ($($k:literal => $v:expr),* $(,)?) => {{
        let mut m = Map::new();
        $(
            let v = json!($v);
            if !v.is_null() {
                m.insert($k.to_string(), v);
            }
        )*
        m
    }};
}

fn pricing(p: &[ModelPricing]) -> Value {
    Value::Array(
        p.iter()
            .map(|p| {
                json!({
                    "platform": p.platform.as_str(), "models": p.models,
                    "billing_mode": p.billing_mode, "input_price": p.input_price,
                    "output_price": p.output_price, "cache_write_price": p.cache_write_price,
                    "cache_read_price": p.cache_read_price, "per_request_price": p.per_request_price,
                })
            })
            .collect(),
    )
}

fn credentials(c: &AccountCredentials) -> Value {
    let mut m = c.other.clone();
    if c.api_key.is_some() {
        m.insert("api_key".into(), json!(REDACTED_VALUE));
    }
    if let Some(b) = &c.base_url {
        m.insert("base_url".into(), json!(b));
    }
    if !c.model_mapping.is_empty() {
        m.insert("model_mapping".into(), json!(c.model_mapping));
    }
    Value::Object(m)
}

impl AuditFields for Group {
    fn fields(&self) -> Map<String, Value> {
        fields! {
            "name" => self.name, "description" => self.description,
            "platform" => self.platform.as_str(), "status" => self.status.as_str(),
            "subscription_type" => self.subscription_type, "rate_multiplier" => self.rate_multiplier,
            "is_exclusive" => self.is_exclusive, "daily_limit_usd" => self.daily_limit_usd,
            "weekly_limit_usd" => self.weekly_limit_usd, "monthly_limit_usd" => self.monthly_limit_usd,
        }
    }
    fn ident(&self) -> (Option<ObjectId>, Option<String>) {
        (Some(self.id), Some(self.name.clone()))
    }
}

impl AuditFields for NewGroup {
    fn fields(&self) -> Map<String, Value> {
        fields! {
            "name" => self.name, "description" => self.description,
            "platform" => self.platform.as_str(), "subscription_type" => self.subscription_type,
            "rate_multiplier" => self.rate_multiplier, "is_exclusive" => self.is_exclusive,
            "daily_limit_usd" => self.daily_limit_usd, "weekly_limit_usd" => self.weekly_limit_usd,
            "monthly_limit_usd" => self.monthly_limit_usd,
        }
    }
    fn ident(&self) -> (Option<ObjectId>, Option<String>) {
        (None, Some(self.name.clone()))
    }
}

impl AuditFields for GroupUpdate {
    fn fields(&self) -> Map<String, Value> {
        fields! {
            "name" => self.name, "description" => self.description,
            "rate_multiplier" => self.rate_multiplier, "is_exclusive" => self.is_exclusive,
            "status" => self.status.as_ref().map(|s| s.as_str()),
            "subscription_type" => self.subscription_type, "daily_limit_usd" => self.daily_limit_usd,
            "weekly_limit_usd" => self.weekly_limit_usd, "monthly_limit_usd" => self.monthly_limit_usd,
        }
    }
}

impl AuditFields for Channel {
    fn fields(&self) -> Map<String, Value> {
        fields! {
            "name" => self.name, "description" => self.description,
            "status" => self.status.as_str(), "group_ids" => self.group_ids,
            "model_mapping" => self.model_mapping, "model_pricing" => pricing(&self.model_pricing),
            "restrict_models" => self.restrict_models,
            "billing_model_source" => self.billing_model_source,
        }
    }
    fn ident(&self) -> (Option<ObjectId>, Option<String>) {
        (Some(self.id), Some(self.name.clone()))
    }
}

impl AuditFields for NewChannel {
    fn fields(&self) -> Map<String, Value> {
        fields! {
            "name" => self.name, "description" => self.description, "group_ids" => self.group_ids,
            "model_mapping" => self.model_mapping, "model_pricing" => pricing(&self.model_pricing),
            "restrict_models" => self.restrict_models,
            "billing_model_source" => self.billing_model_source,
        }
    }
    fn ident(&self) -> (Option<ObjectId>, Option<String>) {
        (None, Some(self.name.clone()))
    }
}

impl AuditFields for ChannelUpdate {
    fn fields(&self) -> Map<String, Value> {
        fields! {
            "name" => self.name, "description" => self.description,
            "status" => self.status.as_ref().map(|s| s.as_str()), "group_ids" => self.group_ids,
            "model_mapping" => self.model_mapping,
            "model_pricing" => self.model_pricing.as_deref().map(pricing),
            "restrict_models" => self.restrict_models,
            "billing_model_source" => self.billing_model_source,
        }
    }
}

impl AuditFields for Plan {
    fn fields(&self) -> Map<String, Value> {
        fields! {
            "group_id" => self.group_id, "name" => self.name, "description" => self.description,
            "price" => self.price, "original_price" => self.original_price,
            "validity_days" => self.validity_days, "validity_unit" => self.validity_unit,
            "for_sale" => self.for_sale,
        }
    }
    fn ident(&self) -> (Option<ObjectId>, Option<String>) {
        (Some(self.id), Some(self.name.clone()))
    }
}

impl AuditFields for NewPlan {
    fn fields(&self) -> Map<String, Value> {
        fields! {
            "group_id" => self.group_id, "name" => self.name, "description" => self.description,
            "price" => self.price, "original_price" => self.original_price,
            "validity_days" => self.validity_days, "validity_unit" => self.validity_unit,
            "for_sale" => self.for_sale,
        }
    }
    fn ident(&self) -> (Option<ObjectId>, Option<String>) {
        (None, Some(self.name.clone()))
    }
}

impl AuditFields for PlanUpdate {
    fn fields(&self) -> Map<String, Value> {
        fields! {
            "group_id" => self.group_id, "name" => self.name, "description" => self.description,
            "price" => self.price, "original_price" => self.original_price,
            "validity_days" => self.validity_days, "validity_unit" => self.validity_unit,
            "for_sale" => self.for_sale,
        }
    }
}

impl AuditFields for Account {
    fn fields(&self) -> Map<String, Value> {
        let mut m = fields! {
            "name" => self.name, "notes" => self.notes, "platform" => self.platform.as_str(),
            "type" => self.account_type, "status" => self.status.as_str(),
            "error_message" => self.error_message, "schedulable" => self.schedulable,
            "group_ids" => self.group_ids, "extra" => self.extra,
            "concurrency" => self.concurrency, "priority" => self.priority,
            "temp_unschedulable_until" => self.temp_unschedulable_until.as_ref().map(|t| t.as_str()),
            "temp_unschedulable_reason" => self.temp_unschedulable_reason,
            "rate_limit_reset_at" => self.rate_limit_reset_at.as_ref().map(|t| t.as_str()),
        };
        // The host sends credentials back without the key; what it sends is kept,
        // secret-named entries masked.
        let mut creds = self.credentials.clone();
        if let Some(b) = &self.base_url {
            creds.entry("base_url").or_insert_with(|| json!(b));
        }
        if !self.model_mapping.is_empty() {
            creds
                .entry("model_mapping")
                .or_insert_with(|| json!(self.model_mapping));
        }
        if self.credential_status.has_api_key {
            creds.insert("api_key".into(), json!(REDACTED_VALUE));
        }
        m.insert("credentials".into(), Value::Object(creds));
        m
    }
    fn ident(&self) -> (Option<ObjectId>, Option<String>) {
        (Some(self.id), Some(self.name.clone()))
    }
}

impl AuditFields for NewAccount {
    fn fields(&self) -> Map<String, Value> {
        fields! {
            "name" => self.name, "notes" => self.notes, "platform" => self.platform.as_str(),
            "type" => self.account_type, "credentials" => credentials(&self.credentials),
            "extra" => self.extra, "group_ids" => self.group_ids,
            "concurrency" => self.concurrency, "priority" => self.priority,
        }
    }
    fn ident(&self) -> (Option<ObjectId>, Option<String>) {
        (None, Some(self.name.clone()))
    }
}

impl AuditFields for AccountUpdate {
    fn fields(&self) -> Map<String, Value> {
        fields! {
            "name" => self.name, "notes" => self.notes,
            "credentials" => self.credentials.as_ref().map(credentials),
            "extra" => self.extra, "group_ids" => self.group_ids,
            "status" => self.status.as_ref().map(|s| s.as_str()),
            "concurrency" => self.concurrency, "priority" => self.priority,
        }
    }
}

impl AuditFields for User {
    fn fields(&self) -> Map<String, Value> {
        fields! {
            "email" => self.email, "username" => self.username, "role" => self.role,
            "status" => self.status.as_str(), "balance" => self.balance,
            "concurrency" => self.concurrency, "allowed_groups" => self.allowed_groups,
        }
    }
    fn ident(&self) -> (Option<ObjectId>, Option<String>) {
        (Some(self.id), Some(self.email.clone()))
    }
}

impl AuditFields for NewUser {
    fn fields(&self) -> Map<String, Value> {
        fields! {
            "email" => self.email, "password" => REDACTED_VALUE, "username" => self.username,
            "notes" => self.notes, "balance" => self.balance, "concurrency" => self.concurrency,
            "allowed_groups" => self.allowed_groups,
        }
    }
    fn ident(&self) -> (Option<ObjectId>, Option<String>) {
        (None, Some(self.email.clone()))
    }
}

impl AuditFields for UserUpdate {
    fn fields(&self) -> Map<String, Value> {
        fields! {
            "allowed_groups" => self.allowed_groups, "password" => secret_marker(&self.password),
            "username" => self.username, "notes" => self.notes,
            "status" => self.status.as_ref().map(|s| s.as_str()), "concurrency" => self.concurrency,
        }
    }
}

impl AuditFields for UserKey {
    fn fields(&self) -> Map<String, Value> {
        fields! {
            "user_id" => self.user_id, "name" => self.name, "key" => REDACTED_VALUE,
            "group_id" => self.group_id, "status" => self.status.as_str(),
        }
    }
    fn ident(&self) -> (Option<ObjectId>, Option<String>) {
        (Some(self.id), Some(self.name.clone()))
    }
}

impl AuditFields for NewUserKey {
    fn fields(&self) -> Map<String, Value> {
        fields! {
            "name" => self.name, "group_id" => self.group_id,
            "custom_key" => secret_marker(&self.custom_key),
        }
    }
    fn ident(&self) -> (Option<ObjectId>, Option<String>) {
        (None, Some(self.name.clone()))
    }
}

impl AuditFields for Subscription {
    fn fields(&self) -> Map<String, Value> {
        fields! {
            "user_id" => self.user_id, "group_id" => self.group_id,
            "status" => self.status.as_str(),
            "starts_at" => self.starts_at.as_ref().map(|t| t.as_str()),
            "expires_at" => self.expires_at.as_ref().map(|t| t.as_str()), "notes" => self.notes,
        }
    }
    fn ident(&self) -> (Option<ObjectId>, Option<String>) {
        (Some(self.id), None)
    }
}

impl AuditFields for SubscriptionAssignment {
    fn fields(&self) -> Map<String, Value> {
        fields! {
            "user_id" => self.user_id, "group_id" => self.group_id,
            "validity_days" => self.validity_days, "notes" => self.notes,
        }
    }
}

impl AuditFields for AssignOutcome {
    fn fields(&self) -> Map<String, Value> {
        match self {
            AssignOutcome::Assigned(s) => s.fields(),
            AssignOutcome::Conflict { .. } => Map::new(),
        }
    }
    fn ident(&self) -> (Option<ObjectId>, Option<String>) {
        match self {
            AssignOutcome::Assigned(s) => s.ident(),
            AssignOutcome::Conflict { .. } => (None, None),
        }
    }
}

impl AuditFields for BalanceChange {
    fn fields(&self) -> Map<String, Value> {
        let op = match self.operation {
            BalanceOperation::Set => "set",
            BalanceOperation::Add => "add",
            BalanceOperation::Subtract => "subtract",
        };
        fields! { "balance" => self.amount, "operation" => op, "notes" => self.notes }
    }
}

/// The leaves of a field map as dotted paths (objects are walked, arrays and
/// scalars are leaves); secret-named leaves read [`REDACTED_VALUE`].
pub fn flatten(fields: &Map<String, Value>) -> BTreeMap<String, Value> {
    fn walk(prefix: &str, v: &Value, out: &mut BTreeMap<String, Value>) {
        match v {
            Value::Object(m) if !m.is_empty() => {
                for (k, v) in m {
                    walk(&format!("{prefix}.{k}"), v, out);
                }
            }
            _ if is_secret_field(prefix) && !v.is_null() => {
                out.insert(prefix.to_string(), json!(REDACTED_VALUE));
            }
            _ => {
                out.insert(prefix.to_string(), v.clone());
            }
        }
    }
    let mut out = BTreeMap::new();
    for (k, v) in fields {
        walk(k, v, &mut out);
    }
    out
}

/// Every field of `fields`: nothing → value (a create).
pub fn created(fields: &Map<String, Value>) -> Vec<FieldChange> {
    flatten(fields)
        .into_iter()
        .map(|(field, after)| FieldChange {
            field,
            before: Value::Null,
            after,
        })
        .collect()
}

/// Every field of `fields`: value → nothing (a delete).
pub fn deleted(fields: &Map<String, Value>) -> Vec<FieldChange> {
    flatten(fields)
        .into_iter()
        .map(|(field, before)| FieldChange {
            field,
            before,
            after: Value::Null,
        })
        .collect()
}

fn under(path: &str, top: &str) -> bool {
    path == top
        || path
            .strip_prefix(top)
            .is_some_and(|rest| rest.starts_with('.'))
}

/// The fields under the top-level names of `asked` whose values differ between
/// `before` and `after`; a secret `asked` sets is `"***"` → `"changed"`. With no
/// `before` (the read failed), `before` values are `null`.
pub fn updated(
    asked: &Map<String, Value>,
    before: Option<&Map<String, Value>>,
    after: Option<&Map<String, Value>>,
) -> Vec<FieldChange> {
    let empty = Map::new();
    let b = flatten(before.unwrap_or(&empty));
    let asked_flat = flatten(asked);
    let a = match after {
        Some(after) => flatten(after),
        None => asked_flat.clone(),
    };
    let mut changes: Vec<FieldChange> = Vec::new();
    let mut paths: Vec<&String> = b.keys().chain(a.keys()).collect();
    paths.sort();
    paths.dedup();
    for path in paths {
        if !asked.keys().any(|top| under(path, top)) || is_secret_field(path) {
            continue;
        }
        let before = b.get(path).cloned().unwrap_or(Value::Null);
        let after = a.get(path).cloned().unwrap_or(Value::Null);
        if before != after {
            changes.push(FieldChange {
                field: path.clone(),
                before,
                after,
            });
        }
    }
    for path in asked_flat.keys().filter(|p| is_secret_field(p)) {
        changes.push(FieldChange {
            field: path.clone(),
            before: json!(REDACTED_VALUE),
            after: json!(CHANGED_VALUE),
        });
    }
    changes
}

/// The fields of an account a state change moves.
const ACCOUNT_STATE_FIELDS: &[&str] = &[
    "status",
    "schedulable",
    "error_message",
    "temp_unschedulable_until",
    "temp_unschedulable_reason",
    "rate_limit_reset_at",
];

fn state_asked() -> Map<String, Value> {
    ACCOUNT_STATE_FIELDS
        .iter()
        .map(|f| ((*f).to_string(), Value::Null))
        .collect()
}

/// Where audit events are written: the store's trail (or, in tests, a stand-in).
pub trait AuditSink: Send + Sync {
    /// Appends one event.
    fn append(&self, event: &NewAuditEvent) -> relay_store::Result<()>;
    /// The redaction step of the texts the sink's errors may quote.
    fn redactor(&self) -> relay_domain::Redactor;
}

impl AuditSink for Store {
    fn append(&self, event: &NewAuditEvent) -> relay_store::Result<()> {
        self.audit().append(event).map(|_| ())
    }
    fn redactor(&self) -> relay_domain::Redactor {
        Store::redactor(self)
    }
}

/// Where events go: the store's trail; failures are logged and counted.
#[derive(Clone)]
pub struct AuditRecorder {
    sink: Arc<dyn AuditSink>,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for AuditRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditRecorder")
    }
}

impl AuditRecorder {
    /// A recorder writing into `store`, counting failures in `metrics`.
    pub fn new(store: Store, metrics: Arc<Metrics>) -> AuditRecorder {
        AuditRecorder::with_sink(Arc::new(store), metrics)
    }

    /// A recorder writing into `sink`, counting failures in `metrics`.
    pub fn with_sink(sink: Arc<dyn AuditSink>, metrics: Arc<Metrics>) -> AuditRecorder {
        AuditRecorder { sink, metrics }
    }

    /// Appends `event`; a failure is logged (redacted) and counted, never raised.
    pub fn record(&self, event: &NewAuditEvent) {
        if let Err(e) = self.sink.append(event) {
            self.metrics.observe_audit_failure();
            tracing::error!(
                host = %event.host_id,
                operation = %event.operation,
                object = %event.object_kind,
                error = %self.sink.redactor().redact(&e.to_string()),
                "cannot record an audit event"
            );
        }
    }
}

/// Who an [`AuditedAdapter`] records for: the host, the provider when known, and
/// the origin of its mutations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditScope {
    /// The host the adapter talks to.
    pub host_id: HostId,
    /// The pack of the provider acted for, when known.
    pub pack_id: Option<PackId>,
    /// The provider acted for, when known.
    pub provider_id: Option<ProviderId>,
    /// What started the mutations.
    pub origin: AuditOrigin,
}

/// A [`HostAdapter`] that records every mutating call in the audit trail (see the
/// module documentation).
pub struct AuditedAdapter {
    inner: Arc<dyn HostAdapter>,
    recorder: AuditRecorder,
    scope: AuditScope,
    /// The last read of each object (kind, id) through this adapter: the "before" of
    /// a mutation that follows it within [`SEEN_FOR`].
    seen: Mutex<HashMap<(String, ObjectId), (Instant, Seen)>>,
}

/// An object as read: its audit fields and its id and name.
type Seen = (Map<String, Value>, (Option<ObjectId>, Option<String>));

/// How long a read stands for the object's state before a mutation of it.
const SEEN_FOR: Duration = Duration::from_secs(2);

impl std::fmt::Debug for AuditedAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditedAdapter")
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

type HostResult<T> = Result<T, HostError>;

impl AuditedAdapter {
    /// Wraps `inner`, recording for `scope`.
    pub fn new(
        inner: Arc<dyn HostAdapter>,
        recorder: AuditRecorder,
        scope: AuditScope,
    ) -> AuditedAdapter {
        AuditedAdapter {
            inner,
            recorder,
            scope,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// The same adapter recording with another origin.
    pub fn with_origin(&self, origin: AuditOrigin) -> AuditedAdapter {
        AuditedAdapter {
            inner: self.inner.clone(),
            recorder: self.recorder.clone(),
            scope: AuditScope {
                origin,
                ..self.scope.clone()
            },
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Who this adapter records for.
    pub fn scope(&self) -> &AuditScope {
        &self.scope
    }

    /// The object as it was before a mutation: the read the use-case made of it
    /// through this adapter moments ago, when there is one, else `read` (one extra
    /// call). `None` when neither can tell.
    fn before<B: AuditFields>(
        &self,
        kind: &str,
        id: ObjectId,
        read: impl FnOnce(&dyn HostAdapter) -> HostResult<Option<B>>,
    ) -> Option<Seen> {
        let recent = self
            .seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&(kind.to_string(), id))
            .filter(|(at, _)| at.elapsed() <= SEEN_FOR)
            .map(|(_, seen)| seen);
        recent.or_else(|| {
            read(self.inner.as_ref())
                .ok()
                .flatten()
                .map(|b| (b.fields(), b.ident()))
        })
    }

    /// Remembers a read of object `id` for a mutation that may follow.
    fn saw<T: AuditFields>(&self, kind: &str, id: ObjectId, result: &HostResult<T>) {
        if let Ok(object) = result {
            self.seen.lock().unwrap_or_else(|p| p.into_inner()).insert(
                (kind.to_string(), id),
                (Instant::now(), (object.fields(), object.ident())),
            );
        }
    }

    /// Forgets a read of object `id` (it was just changed).
    fn forget(&self, kind: &str, id: ObjectId) {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&(kind.to_string(), id));
    }

    fn emit(
        &self,
        operation: &str,
        kind: &str,
        ident: (Option<ObjectId>, Option<String>),
        error: Option<String>,
        changes: Vec<FieldChange>,
    ) {
        self.recorder.record(&NewAuditEvent {
            host_id: self.scope.host_id.clone(),
            pack_id: self.scope.pack_id.clone(),
            provider_id: self.scope.provider_id.clone(),
            origin: self.scope.origin.clone(),
            operation: operation.to_string(),
            object_kind: kind.to_string(),
            object_id: ident.0,
            object_name: ident.1,
            error,
            changes,
        });
    }

    /// A create: nothing → the fields of `new`; the object's id from the answer.
    pub fn create<T: AuditFields>(
        &self,
        kind: &str,
        new: &dyn AuditFields,
        call: impl FnOnce(&dyn HostAdapter) -> HostResult<T>,
    ) -> HostResult<T> {
        let result = call(self.inner.as_ref());
        let ident = match &result {
            Ok(object) => merge_ident(object.ident(), new.ident()),
            Err(_) => new.ident(),
        };
        self.emit(
            "create",
            kind,
            ident,
            error_of(&result),
            created(&new.fields()),
        );
        result
    }

    /// An update of object `id`: read first with `read`, then the fields `asked`
    /// sets, before → after (the answer).
    pub fn update<T: AuditFields, B: AuditFields>(
        &self,
        kind: &str,
        id: ObjectId,
        asked: &dyn AuditFields,
        read: impl FnOnce(&dyn HostAdapter) -> HostResult<B>,
        call: impl FnOnce(&dyn HostAdapter) -> HostResult<T>,
    ) -> HostResult<T> {
        self.changed("update", kind, id, &asked.fields(), read, call)
    }

    /// A state change `operation` of account `id` (schedulable, clear-error, …): its
    /// state fields, before → after.
    pub fn state(
        &self,
        operation: &str,
        id: ObjectId,
        call: impl FnOnce(&dyn HostAdapter) -> HostResult<Account>,
    ) -> HostResult<Account> {
        self.changed(
            operation,
            "account",
            id,
            &state_asked(),
            |a| a.get_account(id),
            call,
        )
    }

    fn changed<T: AuditFields, B: AuditFields>(
        &self,
        operation: &str,
        kind: &str,
        id: ObjectId,
        asked: &Map<String, Value>,
        read: impl FnOnce(&dyn HostAdapter) -> HostResult<B>,
        call: impl FnOnce(&dyn HostAdapter) -> HostResult<T>,
    ) -> HostResult<T> {
        let before = self.before(kind, id, |a| read(a).map(Some));
        let result = call(self.inner.as_ref());
        self.forget(kind, id);
        let before_fields = before.as_ref().map(|b| b.0.clone());
        let (after_fields, ident) = match &result {
            Ok(object) => (Some(object.fields()), object.ident()),
            Err(_) => (None, before.map(|b| b.1).unwrap_or_default()),
        };
        let changes = match &result {
            Ok(_) => updated(asked, before_fields.as_ref(), after_fields.as_ref()),
            // Refused: what was asked, against what was there.
            Err(_) => updated(asked, before_fields.as_ref(), Some(asked)),
        };
        let ident = (ident.0.or(Some(id)), ident.1);
        self.emit(operation, kind, ident, error_of(&result), changes);
        result
    }

    /// A delete of object `id`: read first with `read` (its fields → nothing).
    pub fn delete<B: AuditFields>(
        &self,
        kind: &str,
        id: ObjectId,
        read: impl FnOnce(&dyn HostAdapter) -> HostResult<Option<B>>,
        call: impl FnOnce(&dyn HostAdapter) -> HostResult<()>,
    ) -> HostResult<()> {
        let before = self.before(kind, id, read);
        let result = call(self.inner.as_ref());
        self.forget(kind, id);
        let (name, changes) = match &before {
            Some((fields, ident)) => (ident.1.clone(), deleted(fields)),
            None => (None, Vec::new()),
        };
        self.emit("delete", kind, (Some(id), name), error_of(&result), changes);
        result
    }
}

fn error_of<T>(result: &HostResult<T>) -> Option<String> {
    result.as_ref().err().map(|e| e.to_string())
}

fn merge_ident(
    answer: (Option<ObjectId>, Option<String>),
    asked: (Option<ObjectId>, Option<String>),
) -> (Option<ObjectId>, Option<String>) {
    (answer.0.or(asked.0), answer.1.or(asked.1))
}

/// No fields: for mutations whose answer is not an object.
struct Nothing;

impl AuditFields for Nothing {
    fn fields(&self) -> Map<String, Value> {
        Map::new()
    }
}

impl AuditFields for () {
    fn fields(&self) -> Map<String, Value> {
        Map::new()
    }
}

macro_rules! forward {
    ($( fn $name:ident(&self $(, $arg:ident : $ty:ty)* ) -> $ret:ty; )*) => {
        $(
            fn $name(&self $(, $arg: $ty)*) -> Result<$ret, HostError> {
                self.inner.$name($($arg),*)
            }
        )*
    };
}

fn found<T>(r: HostResult<T>) -> HostResult<Option<T>> {
    r.map(Some)
}

impl HostAdapter for AuditedAdapter {
    forward! {
        fn version(&self) -> String;
        fn compliance(&self) -> Option<ComplianceStatus>;
        fn public_settings(&self) -> PublicSettings;
        fn capabilities(&self) -> Capabilities;
        fn gateway_reachability(&self) -> GatewayReachability;
        fn capabilities_with_gateway(&self) -> (Capabilities, GatewayReachability);
        fn list_groups(&self, filter: &GroupFilter) -> Vec<Group>;
        fn list_group_keys(&self, group_id: ObjectId) -> Vec<UserKey>;
        fn list_channels(&self, name: Option<&str>) -> Vec<Channel>;
        fn list_plans(&self) -> Vec<Plan>;
        fn list_accounts(&self, filter: &AccountFilter) -> Vec<Account>;
        fn test_account(&self, id: ObjectId, model_id: Option<&str>) -> ProbeResult;
        fn account_models(&self, id: ObjectId) -> Vec<String>;
        fn sync_upstream_models(&self, id: ObjectId) -> Vec<String>;
        fn sync_upstream_models_preview(&self, preview: &UpstreamModelsPreview) -> Vec<String>;
        fn account_balance(&self, id: ObjectId) -> HostBalance;
        fn find_user_by_email(&self, email: &str) -> Option<User>;
        fn list_user_keys_admin(&self, user_id: ObjectId) -> Vec<UserKey>;
        fn login_user(&self, email: &str, password: &Secret) -> LoginOutcome;
        fn list_user_keys(&self, session: &UserSession) -> Vec<UserKey>;
        fn list_subscriptions(&self, filter: &SubscriptionFilter) -> Vec<Subscription>;
        fn gateway_models(&self, key: &Secret) -> ModelsProbe;
        fn gateway_chat(&self, key: &Secret, request: &ChatProbeRequest) -> CompletionProbe;
        fn probe_gateway(&self, key: &Secret, request: &ChatProbeRequest) -> GatewayProbe;
    }

    fn get_group(&self, id: ObjectId) -> HostResult<Group> {
        let r = self.inner.get_group(id);
        self.saw("group", id, &r);
        r
    }
    fn get_channel(&self, id: ObjectId) -> HostResult<Channel> {
        let r = self.inner.get_channel(id);
        self.saw("channel", id, &r);
        r
    }
    fn get_account(&self, id: ObjectId) -> HostResult<Account> {
        let r = self.inner.get_account(id);
        self.saw("account", id, &r);
        r
    }
    fn get_user(&self, id: ObjectId) -> HostResult<User> {
        let r = self.inner.get_user(id);
        self.saw("user", id, &r);
        r
    }
    fn create_group(&self, group: &NewGroup) -> HostResult<Group> {
        self.create("group", group, |a| a.create_group(group))
    }
    fn update_group(&self, id: ObjectId, update: &GroupUpdate) -> HostResult<Group> {
        self.update(
            "group",
            id,
            update,
            |a| a.get_group(id),
            |a| a.update_group(id, update),
        )
    }
    fn delete_group(&self, id: ObjectId) -> HostResult<()> {
        self.delete(
            "group",
            id,
            |a| found(a.get_group(id)),
            |a| a.delete_group(id),
        )
    }
    fn create_channel(&self, channel: &NewChannel) -> HostResult<Channel> {
        self.create("channel", channel, |a| a.create_channel(channel))
    }
    fn update_channel(&self, id: ObjectId, update: &ChannelUpdate) -> HostResult<Channel> {
        self.update(
            "channel",
            id,
            update,
            |a| a.get_channel(id),
            |a| a.update_channel(id, update),
        )
    }
    fn delete_channel(&self, id: ObjectId) -> HostResult<()> {
        self.delete(
            "channel",
            id,
            |a| found(a.get_channel(id)),
            |a| a.delete_channel(id),
        )
    }
    fn create_plan(&self, plan: &NewPlan) -> HostResult<Plan> {
        self.create("plan", plan, |a| a.create_plan(plan))
    }
    fn update_plan(&self, id: ObjectId, update: &PlanUpdate) -> HostResult<Plan> {
        self.update(
            "plan",
            id,
            update,
            |a| plan_of(a, id),
            |a| a.update_plan(id, update),
        )
    }
    fn delete_plan(&self, id: ObjectId) -> HostResult<()> {
        self.delete("plan", id, |a| found(plan_of(a, id)), |a| a.delete_plan(id))
    }
    fn create_account(&self, account: &NewAccount, key: Option<&str>) -> HostResult<Account> {
        self.create("account", account, |a| a.create_account(account, key))
    }
    fn create_accounts_batch(
        &self,
        accounts: &[NewAccount],
        idempotency_key: Option<&str>,
    ) -> HostResult<BatchCreateResult> {
        let result = self.inner.create_accounts_batch(accounts, idempotency_key);
        for (i, account) in accounts.iter().enumerate() {
            let item = result.as_ref().ok().and_then(|r| r.results.get(i));
            let error = match (&result, item) {
                (Err(e), _) => Some(e.to_string()),
                (Ok(_), Some(item)) if !item.success => Some(
                    item.error
                        .clone()
                        .unwrap_or_else(|| "the host did not create it".into()),
                ),
                _ => None,
            };
            let ident = (item.and_then(|i| i.id), Some(account.name.clone()));
            self.emit(
                "create",
                "account",
                ident,
                error,
                created(&account.fields()),
            );
        }
        result
    }
    fn update_account(&self, id: ObjectId, update: &AccountUpdate) -> HostResult<Account> {
        self.update(
            "account",
            id,
            update,
            |a| a.get_account(id),
            |a| a.update_account(id, update),
        )
    }
    fn set_account_schedulable(&self, id: ObjectId, schedulable: bool) -> HostResult<Account> {
        self.state("set_schedulable", id, |a| {
            a.set_account_schedulable(id, schedulable)
        })
    }
    fn clear_account_error(&self, id: ObjectId) -> HostResult<Account> {
        self.state("clear_error", id, |a| a.clear_account_error(id))
    }
    fn recover_account_state(&self, id: ObjectId) -> HostResult<Account> {
        self.state("recover_state", id, |a| a.recover_account_state(id))
    }
    fn clear_account_errors(&self, ids: &[ObjectId]) -> HostResult<BatchClearResult> {
        let result = self.inner.clear_account_errors(ids);
        for id in ids {
            let failed = result
                .as_ref()
                .ok()
                .and_then(|r| r.failed.iter().find(|(f, _)| f == id));
            let error = match (&result, failed) {
                (Err(e), _) => Some(e.to_string()),
                (Ok(_), Some((_, message))) => Some(message.clone()),
                _ => None,
            };
            self.emit(
                "clear_error",
                "account",
                (Some(*id), None),
                error,
                Vec::new(),
            );
        }
        result
    }
    fn clear_account_temp_unschedulable(&self, id: ObjectId) -> HostResult<bool> {
        let before = self.before("account", id, |a| a.get_account(id).map(Some));
        let result = self.inner.clear_account_temp_unschedulable(id);
        self.forget("account", id);
        if matches!(result, Ok(false)) {
            // The build has no such route: nothing was changed.
            return result;
        }
        let changes = match (&result, &before) {
            (Ok(true), Some((fields, _))) => {
                let mut after = fields.clone();
                after.remove("temp_unschedulable_until");
                after.remove("temp_unschedulable_reason");
                updated(&state_asked(), Some(fields), Some(&after))
            }
            _ => Vec::new(),
        };
        let name = before.and_then(|(_, ident)| ident.1);
        self.emit(
            "clear_temp_unschedulable",
            "account",
            (Some(id), name),
            error_of(&result),
            changes,
        );
        result
    }
    fn delete_account(&self, id: ObjectId) -> HostResult<()> {
        self.delete(
            "account",
            id,
            |a| found(a.get_account(id)),
            |a| a.delete_account(id),
        )
    }
    fn create_user(&self, user: &NewUser) -> HostResult<User> {
        self.create("user", user, |a| a.create_user(user))
    }
    fn update_user(&self, id: ObjectId, update: &UserUpdate) -> HostResult<User> {
        self.update(
            "user",
            id,
            update,
            |a| a.get_user(id),
            |a| a.update_user(id, update),
        )
    }
    fn set_user_balance(
        &self,
        id: ObjectId,
        change: &BalanceChange,
        idempotency_key: Option<&str>,
    ) -> HostResult<User> {
        let asked = fields! { "balance" => change.amount };
        self.changed(
            "set_balance",
            "user",
            id,
            &asked,
            |a| a.get_user(id),
            |a| a.set_user_balance(id, change, idempotency_key),
        )
    }
    fn delete_user(&self, id: ObjectId) -> HostResult<()> {
        self.delete("user", id, |a| found(a.get_user(id)), |a| a.delete_user(id))
    }
    fn rebind_user_key(&self, key_id: ObjectId, group_id: ObjectId) -> HostResult<UserKey> {
        let asked = fields! { "group_id" => group_id };
        self.changed(
            "rebind",
            "user_key",
            key_id,
            &asked,
            |_| HostResult::<Nothing>::Err(HostError::Config("no read of one key".into())),
            |a| a.rebind_user_key(key_id, group_id),
        )
    }
    fn create_user_key(
        &self,
        session: &UserSession,
        key: &NewUserKey,
        idempotency_key: Option<&str>,
    ) -> HostResult<UserKey> {
        self.create("user_key", key, |a| {
            a.create_user_key(session, key, idempotency_key)
        })
    }
    fn delete_user_key(&self, session: &UserSession, key_id: ObjectId) -> HostResult<()> {
        self.delete(
            "user_key",
            key_id,
            |a| {
                Ok(a.list_user_keys(session)?
                    .into_iter()
                    .find(|k| k.id == key_id))
            },
            |a| a.delete_user_key(session, key_id),
        )
    }
    fn assign_subscription(
        &self,
        assignment: &SubscriptionAssignment,
    ) -> HostResult<AssignOutcome> {
        let result = self.inner.assign_subscription(assignment);
        let error = match &result {
            Err(e) => Some(e.to_string()),
            Ok(AssignOutcome::Conflict { reason, message }) => Some(format!("{reason}: {message}")),
            Ok(AssignOutcome::Assigned(_)) => None,
        };
        let ident = result.as_ref().map(|o| o.ident()).unwrap_or_default();
        self.emit(
            "create",
            "subscription",
            ident,
            error,
            created(&assignment.fields()),
        );
        result
    }
    fn revoke_subscription(&self, id: ObjectId) -> HostResult<()> {
        self.delete(
            "subscription",
            id,
            |_| HostResult::<Option<Nothing>>::Ok(None),
            |a| a.revoke_subscription(id),
        )
    }
}

/// A plan by id (the host has no read of one plan).
fn plan_of(adapter: &dyn HostAdapter, id: ObjectId) -> HostResult<Plan> {
    adapter
        .list_plans()?
        .into_iter()
        .find(|p| p.id == id)
        .ok_or_else(|| HostError::Config(format!("plan {id} is not on the host")))
}

/// `n` random bytes as lowercase hex (ids of doctor runs and access closures).
pub(crate) fn random_hex(n: usize) -> String {
    crate::random_bytes(n)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A doctor run or access closure as it started (see [`crate::App::record_operation`]).
pub(crate) struct OperationStart {
    /// Doctor run or access closure.
    pub kind: relay_store::OperationKind,
    /// Its id (the origin id of its audit events).
    pub id: String,
    /// The HTTP request id, if any.
    pub request_id: Option<String>,
    /// What was asked (no secrets).
    pub asked: Value,
    /// When it started.
    pub started_at: relay_store::Timestamp,
}

impl crate::App {
    /// Stores a finished doctor run or access closure; a failure to store it is
    /// logged and counted, never raised (the operation itself is done).
    pub(crate) fn record_operation<E: std::fmt::Display>(
        &self,
        ctx: &crate::context::ProviderContext,
        start: OperationStart,
        result: Result<Value, &E>,
    ) {
        use relay_store::OperationRepository;
        let redactor = self.redactor();
        let (report, error) = match result {
            Ok(report) => (Some(redactor.redact_json(&report)), None),
            Err(e) => (None, Some(redactor.redact(&e.to_string()))),
        };
        let kind = start.kind;
        let record = relay_store::NewOperationRecord {
            id: start.id,
            kind,
            host_id: ctx.host.id.clone(),
            pack_id: ctx.provider.pack_id.clone(),
            provider_id: ctx.provider.provider_id.clone(),
            request_id: start.request_id,
            asked: start.asked,
            error,
            report,
            started_at: start.started_at,
        };
        if let Err(e) = self.store().operations().insert(&record) {
            self.metrics().observe_audit_failure();
            tracing::error!(id = %record.id, kind = %kind, error = %redactor.redact(&e.to_string()), "cannot record the operation");
        }
    }
}

/// Which audit events to list ([`crate::App::audit_events`]).
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// A host, by id or name.
    pub host: Option<String>,
    /// A pack.
    pub pack_id: Option<String>,
    /// A provider.
    pub provider_id: Option<String>,
    /// One kind of origin.
    pub origin_kind: Option<AuditOriginKind>,
    /// One origin id (a batch, run, doctor run or access closure).
    pub origin_id: Option<String>,
    /// Events recorded at or after this time.
    pub since: Option<relay_store::Timestamp>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size (default 100, at most 1000).
    pub limit: Option<u32>,
}

impl crate::App {
    /// One page of the audit trail, oldest first.
    pub fn audit_events(
        &self,
        query: &AuditQuery,
    ) -> crate::AppResult<relay_store::Page<relay_store::AuditEventRecord>> {
        let host_id = match &query.host {
            Some(h) => Some(self.resolve_host(h)?.id),
            None => None,
        };
        let page = self.store().audit().list(&relay_store::AuditFilter {
            host_id,
            pack_id: query.pack_id.clone().map(PackId),
            provider_id: query.provider_id.clone().map(ProviderId),
            origin_kind: query.origin_kind,
            origin_id: query.origin_id.clone(),
            since: query.since,
            cursor: query.cursor.clone(),
            after_seq: None,
            limit: query.limit,
        });
        match page {
            Err(relay_store::StoreError::InvalidCursor) => Err(crate::AppError::invalid(
                "cursor",
                "is not a cursor of this list: pass the next_cursor of the previous page",
            )),
            other => Ok(other?),
        }
    }

    /// Up to `limit` audit events of origin id `origin_id` (a batch, run, doctor run
    /// or closure) after sequence number `after`, oldest first.
    pub fn audit_events_of(
        &self,
        origin_id: &str,
        after: i64,
        limit: u32,
    ) -> crate::AppResult<Vec<relay_store::AuditEventRecord>> {
        Ok(self
            .store()
            .audit()
            .list(&relay_store::AuditFilter {
                origin_id: Some(origin_id.to_string()),
                after_seq: Some(after),
                limit: Some(limit),
                ..relay_store::AuditFilter::default()
            })?
            .items)
    }

    /// Every audit event of origin id `origin_id`, oldest first.
    pub(crate) fn all_audit_events_of(
        &self,
        origin_id: &str,
    ) -> crate::AppResult<Vec<relay_store::AuditEventRecord>> {
        let mut out = Vec::new();
        loop {
            let after = out
                .last()
                .map(|e: &relay_store::AuditEventRecord| e.seq)
                .unwrap_or(0);
            let page = self.audit_events_of(origin_id, after, relay_store::AUDIT_PAGE_MAX)?;
            let done = page.len() < relay_store::AUDIT_PAGE_MAX as usize;
            out.extend(page);
            if done {
                return Ok(out);
            }
        }
    }

    /// Stored doctor runs or access closures of a provider on a host, newest first.
    pub fn operations(
        &self,
        kind: relay_store::OperationKind,
        provider_id: &str,
        host: &str,
        pack_id: Option<&str>,
        limit: u32,
    ) -> crate::AppResult<Vec<relay_store::OperationRecord>> {
        use relay_store::OperationRepository;
        let host = self.resolve_host(host)?;
        let (provider, _) = self.resolve_provider(provider_id, pack_id)?;
        Ok(self.store().operations().list_for_provider(
            kind,
            &host.id,
            &provider.pack_id,
            &provider.provider_id,
            limit,
        )?)
    }

    /// The evidence document of a doctor run or access closure: the host, the
    /// operation as stored (asked, outcome, report) and the host mutations it made.
    pub fn operation_evidence(&self, id: &str) -> crate::AppResult<Value> {
        use relay_store::{HostRepository, OperationKind, OperationRepository};
        let ops = self.store().operations();
        let record = match ops.get(OperationKind::Doctor, id) {
            Err(e) if e.is_not_found() => ops.get(OperationKind::AccessClosure, id),
            other => other,
        }
        .map_err(|e| match e {
            e if e.is_not_found() => crate::AppError::NotFound {
                kind: "operation",
                id: id.to_string(),
            },
            e => e.into(),
        })?;
        let host = self.store().hosts().get(&record.host_id)?;
        let events = self.all_audit_events_of(&record.id)?;
        let doc = json!({
            "format": crate::evidence::EVIDENCE_FORMAT,
            "kind": record.kind,
            "generated_at": relay_store::Timestamp::now().to_rfc3339(),
            "host": {"id": host.id, "name": host.name, "base_url": host.base_url, "version": host.version, "status": host.status},
            "operation": record,
            "audit_events": events,
        });
        Ok(self.redactor().redact_json(&doc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updated_lists_only_changed_fields_under_what_was_asked_and_masks_secrets() {
        let asked = fields! {
            "model_mapping" => json!({"openai": {"a": "a"}}),
            "credentials" => json!({"api_key": REDACTED_VALUE}),
        };
        let before = fields! {
            "model_mapping" => json!({"openai": {"a": "x", "b": "b"}}),
            "name" => "n",
        };
        let after = fields! {
            "model_mapping" => json!({"openai": {"a": "a"}}),
            "name" => "renamed elsewhere",
        };
        let changes = updated(&asked, Some(&before), Some(&after));
        let got: Vec<(String, Value, Value)> = changes
            .into_iter()
            .map(|c| (c.field, c.before, c.after))
            .collect();
        assert_eq!(
            got,
            [
                ("model_mapping.openai.a".into(), json!("x"), json!("a")),
                ("model_mapping.openai.b".into(), json!("b"), Value::Null),
                (
                    "credentials.api_key".into(),
                    json!(REDACTED_VALUE),
                    json!(CHANGED_VALUE)
                ),
            ]
        );
        // A secret-named leaf is masked wherever it appears.
        let flat = flatten(&fields! { "extra" => json!({"token": "eyJabc", "keep": 1}) });
        assert_eq!(flat["extra.token"], json!(REDACTED_VALUE));
        assert_eq!(flat["extra.keep"], json!(1));
    }

    struct Broken;

    impl AuditSink for Broken {
        fn append(&self, _: &NewAuditEvent) -> relay_store::Result<()> {
            Err(relay_store::StoreError::InvalidState {
                what: "the database is read-only".into(),
            })
        }
        fn redactor(&self) -> relay_domain::Redactor {
            relay_domain::Redactor::new()
        }
    }

    #[test]
    fn a_failed_write_is_counted_and_never_fails_the_caller() {
        let metrics = Arc::new(Metrics::default());
        let recorder = AuditRecorder::with_sink(Arc::new(Broken), metrics.clone());
        recorder.record(&NewAuditEvent {
            host_id: HostId::new("host_1"),
            pack_id: None,
            provider_id: None,
            origin: AuditOrigin::new(AuditOriginKind::OperatorRequest, None::<String>),
            operation: "delete".into(),
            object_kind: "group".into(),
            object_id: Some(1),
            object_name: None,
            error: None,
            changes: Vec::new(),
        });
        assert_eq!(metrics.audit_write_failures(), 1);
        assert!(metrics
            .render(&[])
            .contains("relay_audit_write_failures_total 1"));
    }

    #[test]
    fn the_request_id_of_the_thread_goes_into_origins_and_is_restored() {
        assert_eq!(current_request_id(), None);
        let o = with_request_id("req-1", || {
            with_request_id("req-2", || {
                assert_eq!(current_request_id().as_deref(), Some("req-2"))
            });
            origin(AuditOriginKind::Doctor, Some("doc_1"))
        });
        assert_eq!(o.request_id.as_deref(), Some("req-1"));
        assert_eq!(o.id.as_deref(), Some("doc_1"));
        assert_eq!(current_request_id(), None);
    }
}
