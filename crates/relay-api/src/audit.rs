//! The audit routes: the trail of host mutations (`GET /api/audit`) and the stored
//! doctor runs and access closures with their evidence documents
//! (`GET /api/operations`, `GET /api/operations/{id}/evidence`).

use crate::contract::{answer, contract_all};
use crate::error::ApiError;
use crate::router::{ApiRequest, ApiResponse, Router};
use crate::routes::operator;
use hyper::Method;
use relay_api_types as api;
use relay_app::audit::{AuditQuery, OperationKind, AUDIT_PAGE_MAX};
use relay_app::App;
use relay_domain::{AuditOriginKind, Timestamp};
use std::sync::Arc;

type Result<T> = std::result::Result<T, ApiError>;

/// `since`: milliseconds since the epoch, or an RFC 3339 time.
fn since(req: &ApiRequest) -> Result<Option<Timestamp>> {
    let Some(v) = req.query("since") else {
        return Ok(None);
    };
    if let Ok(ms) = v.parse::<i64>() {
        return Ok(Some(Timestamp(ms)));
    }
    relay_domain::parse_rfc3339_seconds(v)
        .map(|secs| Some(Timestamp(secs * 1000)))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "since: `{v}` is neither milliseconds since the epoch nor an RFC 3339 time (2026-12-01T00:00:00Z)"
            ))
        })
}

fn origin(req: &ApiRequest) -> Result<Option<AuditOriginKind>> {
    req.query("origin")
        .map(|v| {
            v.parse::<AuditOriginKind>()
                .map_err(|e| ApiError::bad_request(format!("origin: {e}")))
        })
        .transpose()
}

fn operation_kind(req: &ApiRequest) -> Result<OperationKind> {
    match req.query("kind") {
        None => Ok(OperationKind::Doctor),
        Some(v) => v
            .parse::<OperationKind>()
            .map_err(|e| ApiError::bad_request(format!("kind: {e}"))),
    }
}

fn limit(req: &ApiRequest) -> Result<Option<u32>> {
    match req.query("limit") {
        None => Ok(None),
        Some(v) => match v.parse::<u32>() {
            Ok(n) if (1..=AUDIT_PAGE_MAX).contains(&n) => Ok(Some(n)),
            _ => Err(ApiError::bad_request(format!(
                "limit: `{v}` is not a whole number from 1 to {}",
                AUDIT_PAGE_MAX
            ))),
        },
    }
}

fn required<'r>(req: &'r ApiRequest, name: &str) -> Result<&'r str> {
    req.query(name).ok_or_else(|| {
        ApiError::bad_request(format!(
            "{name}: query parameter is required (e.g. ?{name}=main)"
        ))
    })
}

/// Registers the audit routes.
pub fn routes(r: &mut Router, app: &Arc<App>) {
    let a = app.clone();
    operator(r, app, Method::GET, "/api/audit", None, move |req| {
        let page = a.audit_events(&AuditQuery {
            host: req.query("host_id").map(str::to_string),
            pack_id: req.query("pack_id").map(str::to_string),
            provider_id: req.query("provider").map(str::to_string),
            origin_kind: origin(&req)?,
            origin_id: req.query("origin_id").map(str::to_string),
            since: since(&req)?,
            cursor: req.query("cursor").map(str::to_string),
            limit: limit(&req)?,
        })?;
        ApiResponse::ok(&api::AuditList {
            events: contract_all(&page.items)?,
            next_cursor: page.next_cursor,
        })
    });
    let a = app.clone();
    operator(r, app, Method::GET, "/api/operations", None, move |req| {
        let records = a.operations(
            operation_kind(&req)?,
            required(&req, "provider")?,
            required(&req, "host_id")?,
            req.query("pack_id"),
            limit(&req)?.unwrap_or(50),
        )?;
        ApiResponse::ok(&api::OperationList {
            operations: contract_all(&records)?,
        })
    });
    let a = app.clone();
    operator(
        r,
        app,
        Method::GET,
        "/api/operations/{id}/evidence",
        None,
        move |req| answer::<api::OperationEvidence>(&a.operation_evidence(req.param("id")?)?),
    );
}
