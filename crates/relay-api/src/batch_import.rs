//! The batch auto-import routes (`/api/batch-import/…`, SPEC §5): the contract's
//! requests mapped to the use-cases, and the stored runs, items and trail entries
//! read into the contract's answers field by field.

use crate::error::ApiError;
use crate::router::{ApiRequest, ApiResponse, Router};
use crate::routes::{operator, selectors_with_validity};
use hyper::{Method, StatusCode};
use relay_api_types as api;
use relay_app::{
    App, Page, RetryOutcome, RunInput, RunItemEventRecord, RunItemRecord, RunListFilter, RunRecord,
};
use relay_domain::{AccessMode, RetryScope, RunState, Secret};
use std::sync::Arc;

type Result<T> = std::result::Result<T, ApiError>;

/// Largest accepted paste (about 10,000 lines).
pub const RUN_BODY_LIMIT: usize = 4 * 1024 * 1024;

/// A stored run as the contract's [`api::RunView`].
pub fn run_view(run: &RunRecord) -> Result<api::RunView> {
    let access: Vec<api::RunProviderAccess> = serde_json::from_value(run.access_proof.clone())
        .map_err(|e| {
            ApiError::internal(format!(
                "the stored access proof of {} is unreadable: {e}",
                run.id
            ))
        })?;
    let c = &run.counts;
    Ok(api::RunView {
        run_id: run.id.to_string(),
        state: run.state,
        host_id: run.host_id.to_string(),
        pack_id: run.pack_id.0.clone(),
        access_mode: run.access_mode,
        subscribers: run.subscribers.clone(),
        validity_days: run.validity_days,
        subscriber_validity: run
            .subscriber_validity_days
            .iter()
            .map(|(subscriber, days)| api::RunSubscriberValidity {
                subscriber: subscriber.clone(),
                validity_days: *days,
            })
            .collect(),
        allow_adhoc: run.allow_adhoc,
        profile: run.profile,
        access_status: run.access_status,
        access,
        counts: api::RunCountsView {
            total: c.total.max(0) as u64,
            open: c.open().max(0) as u64,
            succeeded: c.succeeded.max(0) as u64,
            failed: c.failed.max(0) as u64,
            skipped: c.skipped.max(0) as u64,
            cancelled: c.cancelled.max(0) as u64,
        },
        error: run.error.clone(),
        created_at: run.created_at.0,
        updated_at: run.updated_at.0,
        finished_at: run.finished_at.map(|t| t.0),
    })
}

/// A stored item as the contract's [`api::RunItemView`].
pub fn item_view(item: &RunItemRecord) -> api::RunItemView {
    api::RunItemView {
        item_id: item.id.to_string(),
        run_id: item.run_id.to_string(),
        line: item.line_no,
        base_url: item.base_url.clone(),
        fingerprint: item.fingerprint.as_str().to_string(),
        mask: item.mask.clone(),
        provider_id: item.provider_id.as_ref().map(|p| p.0.clone()),
        adhoc: item.adhoc,
        model_hint: item.model_hint.clone(),
        canonical_model: item.canonical_model.clone(),
        model_correction: item.model_correction.clone(),
        profile: item.profile.clone(),
        reuse_decision: item.reuse_decision,
        reuse_reason: item.reuse_reason.clone(),
        account_id: item.account_id,
        state: item.state,
        confirmation_status: item.confirmation_status,
        access_status: item.access_status,
        attempts: item.attempts,
        next_retry_at: item.next_retry_at.0,
        lease_owner: item.lease_owner.clone(),
        lease_until: item.lease_until.map(|t| t.0),
        last_error: item.last_error.clone(),
        warnings: item.warnings.clone(),
        key_held: item.has_sealed_key,
        created_at: item.created_at.0,
        updated_at: item.updated_at.0,
    }
}

/// A stored trail entry as the contract's [`api::RunItemEventView`].
pub fn event_view(e: &RunItemEventRecord) -> api::RunItemEventView {
    api::RunItemEventView {
        id: e.id,
        item_id: e.item_id.to_string(),
        run_id: e.run_id.to_string(),
        at: e.at.0,
        kind: e.kind,
        attempt: e.attempt,
        answer_class: e.answer_class,
        decision: e.decision.clone(),
        message: e.message.clone(),
        details: e.details.clone(),
    }
}

fn run_list(page: &Page<RunRecord>) -> Result<api::RunList> {
    Ok(api::RunList {
        runs: page.items.iter().map(run_view).collect::<Result<_>>()?,
        next_cursor: page.next_cursor.clone(),
    })
}

fn retry_view(outcome: &RetryOutcome) -> Result<api::RetryRunView> {
    Ok(api::RetryRunView {
        run: run_view(&outcome.run)?,
        retried: outcome.retried.iter().map(|i| i.to_string()).collect(),
        without_key: outcome.without_key.iter().map(|i| i.to_string()).collect(),
    })
}

/// `limit` of a paged list: 1..=500, 50 when absent.
fn page_limit(req: &ApiRequest) -> Result<u32> {
    match req.query.get("limit").map(String::as_str) {
        None => Ok(50),
        Some(v) => match v.parse::<u32>() {
            Ok(n) if (1..=500).contains(&n) => Ok(n),
            _ => Err(ApiError::bad_request(format!(
                "limit: `{v}` is not a whole number from 1 to 500"
            ))),
        },
    }
}

fn run_state(req: &ApiRequest) -> Result<Option<RunState>> {
    match req.query("state") {
        None => Ok(None),
        Some(s) => s.parse::<RunState>().map(Some).map_err(|_| {
            ApiError::bad_request(format!(
                "state: `{s}` is not a run state ({})",
                RunState::ALL
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        }),
    }
}

fn bounded_query(req: &ApiRequest, name: &str) -> Result<Option<String>> {
    match req.query(name) {
        Some(v) if v.chars().count() > 200 => Err(ApiError::bad_request(format!(
            "{name}: longer than 200 characters"
        ))),
        v => Ok(v.map(str::to_string)),
    }
}

/// A create request as the use-case's input.
fn run_input(body: api::CreateRunRequest) -> Result<RunInput> {
    if let Some(d) = body.validity_days {
        if !(1..=36500).contains(&d) {
            return Err(ApiError::bad_request(
                "validity_days: must be between 1 and 36500",
            ));
        }
    }
    if body.host_id.trim().is_empty() {
        return Err(ApiError::bad_request(
            "host_id: is required: name the host (id or name) to import into",
        ));
    }
    let (subscribers, subscriber_validity_days) = selectors_with_validity(body.subscribers)?;
    Ok(RunInput {
        host: body.host_id,
        lines: Secret::new(body.lines),
        pack_id: body.pack_id,
        access_mode: body.access_mode.unwrap_or(AccessMode::Subscription),
        allow_adhoc: body.allow_adhoc,
        profile: body.profile,
        subscribers,
        validity_days: body.validity_days,
        subscriber_validity_days,
    })
}

/// Registers the batch auto-import routes.
pub fn routes(r: &mut Router, app: &Arc<App>) {
    let a = app.clone();
    operator(
        r,
        app,
        Method::POST,
        "/api/batch-import/runs",
        Some(RUN_BODY_LIMIT),
        move |req| {
            let body: api::CreateRunRequest = req.json()?;
            let run = a.create_run(run_input(body)?)?;
            ApiResponse::json(StatusCode::ACCEPTED, &run_view(&run)?)
        },
    );
    let a = app.clone();
    operator(
        r,
        app,
        Method::GET,
        "/api/batch-import/runs",
        None,
        move |req| {
            let page = a.list_runs(&RunListFilter {
                state: run_state(&req)?,
                host: req.query("host_id").map(str::to_string),
                provider_id: bounded_query(&req, "provider_id")?,
                q: bounded_query(&req, "q")?,
                cursor: bounded_query(&req, "cursor")?,
                limit: page_limit(&req)?,
            })?;
            ApiResponse::ok(&run_list(&page)?)
        },
    );
    let a = app.clone();
    operator(
        r,
        app,
        Method::GET,
        "/api/batch-import/runs/{run_id}",
        None,
        move |req| ApiResponse::ok(&run_view(&a.get_run(req.param("run_id")?)?)?),
    );
    let a = app.clone();
    operator(
        r,
        app,
        Method::GET,
        "/api/batch-import/runs/{run_id}/items",
        None,
        move |req| {
            let cursor = bounded_query(&req, "cursor")?;
            let page = a.run_items(req.param("run_id")?, cursor.as_deref(), page_limit(&req)?)?;
            ApiResponse::ok(&api::RunItemList {
                items: page.items.iter().map(item_view).collect(),
                next_cursor: page.next_cursor,
            })
        },
    );
    let a = app.clone();
    operator(
        r,
        app,
        Method::GET,
        "/api/batch-import/items/{item_id}/events",
        None,
        move |req| {
            let events = a.item_events(req.param("item_id")?)?;
            ApiResponse::ok(&api::RunItemEventList {
                events: events.iter().map(event_view).collect(),
            })
        },
    );
    let a = app.clone();
    operator(
        r,
        app,
        Method::POST,
        "/api/batch-import/runs/{run_id}/retry",
        None,
        move |req| {
            let body: api::RetryRunRequest = req.json()?;
            let outcome = a.retry_run(
                req.param("run_id")?,
                body.scope.unwrap_or(RetryScope::Failed),
            )?;
            ApiResponse::ok(&retry_view(&outcome)?)
        },
    );
    let a = app.clone();
    operator(
        r,
        app,
        Method::POST,
        "/api/batch-import/runs/{run_id}/cancel",
        None,
        move |req| ApiResponse::ok(&run_view(&a.cancel_run(req.param("run_id")?)?)?),
    );
}
