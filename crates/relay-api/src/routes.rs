//! The relay manager's routes: parsing and mapping only; use-cases live in relay-app.
//!
//! Every request body is parsed into its type of the contract (`relay-api-types`,
//! `api::…`) and mapped to the use-case's input; every answer is built as its type of
//! the contract ([`crate::contract`]).

use crate::batch_view;
use crate::contract::{answer, contract, contract_all};
use crate::error::ApiError;
use crate::router::{Access, ApiRequest, ApiResponse, Router};
use hyper::{Method, StatusCode};
use relay_api_types as api;
use relay_domain::{AccessMode, ImportMode, Secret};
use std::sync::Arc;

// The inputs of the layers below, which the routes map the contract's requests to.
use relay_app::SubscriberSelector;
use relay_app::{
    AccessInput, App, AppError, HostAuthInput, ImportInput, ModelsDiffInput, PackSource,
    ReconcileOptions, RegisterHost,
};

/// Body limit of pack uploads (a zip of at most 50 MiB of content, plus headers).
pub const PACK_UPLOAD_LIMIT: usize = 60 * 1024 * 1024;

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        let status =
            StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        // The key patterns at least; operator routes also pass the application's
        // redaction step (`operator`).
        ApiError::new(
            status,
            e.code(),
            relay_domain::redact_patterns(&e.to_string()),
        )
    }
}

/// Registers an operator route whose answers (and errors) pass the application's
/// redaction step ([`redacted`]).
pub(crate) fn operator<F>(
    r: &mut Router,
    app: &Arc<App>,
    method: Method,
    path: &str,
    body_limit: Option<usize>,
    handler: F,
) where
    F: Fn(ApiRequest) -> Result<ApiResponse> + Send + Sync + 'static,
{
    let app = app.clone();
    r.route(method, path, Access::Operator, body_limit, move |req| {
        redacted(&app, handler(req))
    });
}

/// An operator route's answer (or error) through the application's redaction step:
/// the secrets the store knows (sealed or opened, the operator token) and the key
/// patterns. Defence in depth: host and vendor texts are redacted where they are
/// read and where they are stored.
fn redacted(app: &App, answer: Result<ApiResponse>) -> Result<ApiResponse> {
    let redactor = app.redactor();
    answer
        .map(|r| r.redacted(&redactor))
        .map_err(|e| e.redacted(&redactor))
}

type Result<T> = std::result::Result<T, ApiError>;

/// Options of the route table.
#[derive(Debug, Clone, Copy, Default)]
pub struct RouterOptions {
    /// Serve `GET /metrics` without the operator token (`RELAY_METRICS_PUBLIC=true`).
    pub metrics_public: bool,
}

/// Builds the route table over the application.
pub fn router(app: Arc<App>, options: RouterOptions) -> Router {
    let mut r = Router::new();
    let a = app.clone();
    r.route(Method::GET, "/healthz", Access::Public, None, |_| {
        ApiResponse::ok(&api::Health {
            status: api::HealthStatus::Ok,
        })
    });
    r.route(Method::GET, "/readyz", Access::Public, None, move |_| {
        readyz(&a)
    });
    let a = app.clone();
    let metrics_access = if options.metrics_public {
        Access::Public
    } else {
        Access::Operator
    };
    r.route(Method::GET, "/metrics", metrics_access, None, move |_| {
        Ok(ApiResponse::text(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            a.render_metrics()?,
        ))
    });

    macro_rules! op {
        ($method:expr, $path:expr, $f:expr) => {{
            let inner = app.clone();
            operator(&mut r, &app, $method, $path, None, move |req| {
                $f(&inner, req)
            });
        }};
        ($method:expr, $path:expr, limit = $limit:expr, $f:expr) => {{
            let inner = app.clone();
            operator(&mut r, &app, $method, $path, Some($limit), move |req| {
                $f(&inner, req)
            });
        }};
    }

    op!(Method::POST, "/api/hosts", create_host);
    op!(
        Method::GET,
        "/api/hosts",
        |app: &App, _req| ApiResponse::ok(&api::HostList {
            hosts: contract_all(&app.list_hosts()?)?,
        })
    );
    op!(
        Method::GET,
        "/api/hosts/{host}",
        |app: &App, req: ApiRequest| { answer::<api::Host>(&app.get_host(req.param("host")?)?) }
    );
    op!(
        Method::POST,
        "/api/hosts/{host}/probe",
        |app: &App, req: ApiRequest| { answer::<api::Host>(&app.probe_host(req.param("host")?)?) }
    );
    op!(
        Method::PUT,
        "/api/hosts/{host}/credentials",
        |app: &App, req: ApiRequest| {
            let body: api::HostAuth = req.json()?;
            answer::<api::Host>(&app.set_host_credentials(req.param("host")?, auth_input(body))?)
        }
    );
    op!(
        Method::DELETE,
        "/api/hosts/{host}",
        |app: &App, req: ApiRequest| {
            let host = app.delete_host(req.param("host")?)?;
            ApiResponse::ok(&api::HostDeleted {
                deleted: true,
                host_id: contract(&host.id)?,
                name: host.name,
            })
        }
    );

    op!(
        Method::POST,
        "/api/packs/install",
        limit = PACK_UPLOAD_LIMIT,
        install_pack
    );
    op!(
        Method::GET,
        "/api/packs",
        |app: &App, _req| ApiResponse::ok(&api::PackList {
            packs: contract_all(&app.list_packs()?)?,
        })
    );
    op!(
        Method::GET,
        "/api/packs/{pack}",
        |app: &App, req: ApiRequest| { answer::<api::Pack>(&app.get_pack(req.param("pack")?)?) }
    );
    op!(
        Method::GET,
        "/api/packs/{pack}/providers",
        |app: &App, req: ApiRequest| {
            let providers = app.list_providers(Some(req.param("pack")?), req.query("host_id"))?;
            ApiResponse::ok(&api::ProviderList {
                providers: contract_all(&providers)?,
            })
        }
    );
    op!(
        Method::GET,
        "/api/providers",
        |app: &App, req: ApiRequest| {
            let providers = app.list_providers(req.query("pack_id"), req.query("host_id"))?;
            ApiResponse::ok(&api::ProviderList {
                providers: contract_all(&providers)?,
            })
        }
    );

    op!(
        Method::POST,
        "/api/providers/{provider}/preview-import",
        |app: &App, req: ApiRequest| {
            let body: api::ImportRequest = req.json()?;
            let input = import_input(body)?;
            answer::<api::PreviewReport>(&app.preview_import(req.param("provider")?, &input)?)
        }
    );
    {
        let app = app.clone();
        operator(
            &mut r,
            &app.clone(),
            Method::POST,
            "/api/providers/{provider}/import",
            None,
            move |req| {
                let body: api::ImportRequest = req.json()?;
                let wait = body.wait.unwrap_or(true);
                let input = import_input(body)?;
                let provider = req.param("provider")?;
                // The view is written as a stream, page by page of store rows: a
                // batch of 10,000 keys is tens of megabytes of JSON.
                if wait {
                    let id = app.import_batch(provider, input)?;
                    batch_view::answer(&app, StatusCode::OK, id.as_str(), None)
                } else {
                    let id = app.start_import_batch(provider, input)?;
                    batch_view::answer(&app, StatusCode::ACCEPTED, id.as_str(), None)
                }
            },
        );
    }
    op!(
        Method::GET,
        "/api/providers/{provider}/import-batches",
        |app: &App, req: ApiRequest| {
            let batches = app.list_batches(
                req.query("host_id"),
                req.query("pack_id"),
                Some(req.param("provider")?),
                req.query("status"),
                limit(&req)?,
            )?;
            ApiResponse::ok(&api::BatchList {
                batches: contract_all(&batches)?,
            })
        }
    );
    op!(
        Method::GET,
        "/api/providers/{provider}/status",
        |app: &App, req: ApiRequest| {
            answer::<api::ProviderStatusView>(&app.provider_status(
                req.param("provider")?,
                req.query("host_id"),
                req.query("pack_id"),
            )?)
        }
    );
    op!(
        Method::GET,
        "/api/providers/{provider}/resources",
        |app: &App, req: ApiRequest| {
            let resources = app.provider_resources(
                req.param("provider")?,
                req.query("host_id").unwrap_or(""),
                req.query("pack_id"),
            )?;
            ApiResponse::ok(&api::ResourceList {
                resources: contract_all(&resources)?,
            })
        }
    );
    {
        let app = app.clone();
        operator(
            &mut r,
            &app.clone(),
            Method::POST,
            "/api/providers/{provider}/rollback",
            None,
            move |req| {
                let body: api::ScopeRequest = req.json()?;
                let report = app.rollback_provider(
                    req.param("provider")?,
                    &body.host_id,
                    body.pack_id.as_deref(),
                )?;
                answer::<api::RollbackReport>(&report)
            },
        );
    }
    op!(
        Method::POST,
        "/api/providers/{provider}/access/preview",
        |app: &App, req: ApiRequest| {
            let body: api::AccessRequest = req.json()?;
            answer::<api::AccessPreview>(
                &app.access_preview(req.param("provider")?, &access_input(body)?)?,
            )
        }
    );
    {
        let app = app.clone();
        operator(
            &mut r,
            &app.clone(),
            Method::POST,
            "/api/providers/{provider}/access/assign-subscriptions",
            None,
            move |req| {
                let body: api::AssignRequest = req.json()?;
                let input = assign_input(body)?;
                answer::<api::AccessReport>(
                    &app.assign_subscriptions(req.param("provider")?, &input)?,
                )
            },
        );
    }
    op!(
        Method::GET,
        "/api/providers/{provider}/access/status",
        |app: &App, req: ApiRequest| {
            answer::<api::AccessStatusView>(&app.access_status(
                req.param("provider")?,
                required(&req, "host_id")?,
                req.query("pack_id"),
            )?)
        }
    );

    op!(
        Method::GET,
        "/api/providers/{provider}/keys",
        |app: &App, req: ApiRequest| {
            answer::<api::KeyHealthList>(&app.provider_keys(
                req.param("provider")?,
                required(&req, "host_id")?,
                req.query("pack_id"),
            )?)
        }
    );
    op!(
        Method::GET,
        "/api/providers/{provider}/keys/{account}",
        |app: &App, req: ApiRequest| {
            let account_id = req.param("account")?.parse::<i64>().map_err(|_| {
                ApiError::bad_request("account: must be a host account id (a whole number)")
            })?;
            answer::<api::KeyHealthDetail>(&app.provider_key(
                req.param("provider")?,
                required(&req, "host_id")?,
                req.query("pack_id"),
                account_id,
            )?)
        }
    );

    op!(
        Method::GET,
        "/api/import-batches",
        |app: &App, req: ApiRequest| {
            let batches = app.list_batches(
                req.query("host_id"),
                req.query("pack_id"),
                req.query("provider_id"),
                req.query("status"),
                limit(&req)?,
            )?;
            ApiResponse::ok(&api::BatchList {
                batches: contract_all(&batches)?,
            })
        }
    );
    op!(
        Method::GET,
        "/api/import-batches/{batch}",
        |app: &Arc<App>, req: ApiRequest| {
            batch_view::answer(app, StatusCode::OK, req.param("batch")?, None)
        }
    );
    op!(
        Method::GET,
        "/api/import-batches/{batch}/evidence",
        |app: &Arc<App>, req: ApiRequest| { batch_view::evidence(app, req.param("batch")?) }
    );
    op!(
        Method::POST,
        "/api/providers/{provider}/disable",
        |app: &Arc<App>, req: ApiRequest| {
            let body: api::ScopeRequest = req.json()?;
            answer::<api::ProviderInstallRecord>(&app.set_provider_enabled(
                req.param("provider")?,
                &body.host_id,
                body.pack_id.as_deref(),
                false,
            )?)
        }
    );
    op!(
        Method::POST,
        "/api/providers/{provider}/enable",
        |app: &Arc<App>, req: ApiRequest| {
            let body: api::ScopeRequest = req.json()?;
            answer::<api::ProviderInstallRecord>(&app.set_provider_enabled(
                req.param("provider")?,
                &body.host_id,
                body.pack_id.as_deref(),
                true,
            )?)
        }
    );
    {
        let app = app.clone();
        operator(
            &mut r,
            &app.clone(),
            Method::POST,
            "/api/import-batches/{batch}/rollback",
            None,
            move |req| {
                let batch = req.param("batch")?;
                let report: api::RollbackReport = contract(&app.rollback_batch_run(batch)?)?;
                batch_view::answer(&app, StatusCode::OK, batch, Some(report))
            },
        );
    }
    {
        let app = app.clone();
        operator(
            &mut r,
            &app.clone(),
            Method::POST,
            "/api/import-batches/{batch}/resume",
            None,
            move |req| {
                let body: api::ResumeRequest = req.json()?;
                let keys = keys_of(body.keys, body.keys_text, false)?;
                let batch = req.param("batch")?;
                let report: Option<api::RollbackReport> =
                    contract(&app.resume_batch_run(batch, keys)?)?;
                batch_view::answer(&app, StatusCode::OK, batch, report)
            },
        );
    }
    {
        let app = app.clone();
        operator(
            &mut r,
            &app.clone(),
            Method::POST,
            "/api/providers/{provider}/reconcile",
            None,
            move |req| {
                let body: api::ReconcileRequest = req.json()?;
                let run = app.reconcile_provider(
                    req.param("provider")?,
                    &body.host_id,
                    body.pack_id.as_deref(),
                    &ReconcileOptions {
                        repair: body.repair,
                        batch_id: body.batch_id,
                        scheduled: false,
                        last_reconcile_seen: None,
                        balance: balance_threshold(
                            body.min_balance,
                            body.balance_currency,
                            body.min_balance.map(|_| relay_domain::BalancePolicy::Warn),
                        )?,
                    },
                )?;
                answer::<api::ReconcileRunRecord>(&run)
            },
        );
    }
    {
        let app = app.clone();
        operator(
            &mut r,
            &app.clone(),
            Method::GET,
            "/api/providers/{provider}/doctor",
            None,
            move |req| {
                let report = app.doctor(
                    req.param("provider")?,
                    required(&req, "host_id")?,
                    req.query("pack_id"),
                    false,
                    None,
                )?;
                answer::<api::DoctorReport>(&report)
            },
        );
    }
    {
        let app = app.clone();
        operator(
            &mut r,
            &app.clone(),
            Method::POST,
            "/api/providers/{provider}/doctor",
            None,
            move |req| {
                let body: api::DoctorRequest = req.json()?;
                let report = app.doctor(
                    req.param("provider")?,
                    &body.host_id,
                    body.pack_id.as_deref(),
                    body.repair,
                    secret(body.probe_key),
                )?;
                answer::<api::DoctorReport>(&report)
            },
        );
    }
    op!(
        Method::POST,
        "/api/providers/{provider}/diagnose",
        |app: &App, req: ApiRequest| {
            let body: api::DiagnoseRequest = req.json()?;
            let key = secret(Some(body.key)).ok_or_else(|| {
                ApiError::bad_request("key: required: the upstream key to probe the vendor with")
            })?;
            answer::<api::DiagnosisView>(&app.diagnose(
                req.param("provider")?,
                &body.host_id,
                body.pack_id.as_deref(),
                &key,
            )?)
        }
    );
    op!(
        Method::GET,
        "/api/providers/{provider}/models/diff",
        |app: &App, req: ApiRequest| {
            let provider = req.param("provider")?;
            let host = required(&req, "host_id")?;
            let pack = req.query("pack_id");
            let diff = match req.query("last") {
                None | Some("false") => app.models_diff(&ModelsDiffInput {
                    provider_id: provider.to_string(),
                    host: host.to_string(),
                    pack_id: pack.map(str::to_string),
                    direct_key: None,
                })?,
                Some("true") => app.last_models_diff(provider, host, pack)?.ok_or_else(|| {
                    ApiError::from(AppError::NotFound {
                        kind: "model drift check",
                        id: format!("{provider} on {host}"),
                    })
                })?,
                Some(_) => return Err(ApiError::bad_request("last: must be true or false")),
            };
            answer::<api::ModelsDiff>(&diff)
        }
    );
    op!(
        Method::POST,
        "/api/providers/{provider}/models/diff",
        |app: &App, req: ApiRequest| {
            let body: api::ModelsDiffRequest = req.json()?;
            answer::<api::ModelsDiff>(&app.models_diff(&diff_input(&req, body)?)?)
        }
    );
    op!(
        Method::POST,
        "/api/providers/{provider}/models/proposal",
        |app: &App, req: ApiRequest| {
            let body: api::ModelsDiffRequest = req.json()?;
            let proposal = app.propose_pack(&diff_input(&req, body)?)?;
            ApiResponse::ok(&api::PackProposal {
                diff: contract(&proposal.diff)?,
                version_from: proposal.version_from,
                version_to: proposal.version_to,
                changes: proposal.changes,
                files: proposal
                    .files
                    .into_iter()
                    .map(|(path, content)| api::ProposedFile { path, content })
                    .collect(),
                patch: proposal.patch,
            })
        }
    );
    op!(
        Method::GET,
        "/api/providers/{provider}/reconcile-runs",
        |app: &App, req: ApiRequest| {
            let runs = app.list_reconcile_runs(
                req.query("host_id"),
                req.query("pack_id"),
                Some(req.param("provider")?),
                limit(&req)?,
            )?;
            ApiResponse::ok(&api::ReconcileRunList {
                runs: contract_all(&runs)?,
            })
        }
    );
    op!(
        Method::GET,
        "/api/reconcile-runs",
        |app: &App, req: ApiRequest| {
            let runs = app.list_reconcile_runs(
                req.query("host_id"),
                req.query("pack_id"),
                req.query("provider_id"),
                limit(&req)?,
            )?;
            ApiResponse::ok(&api::ReconcileRunList {
                runs: contract_all(&runs)?,
            })
        }
    );
    op!(
        Method::GET,
        "/api/reconcile-runs/{run}",
        |app: &App, req: ApiRequest| {
            answer::<api::ReconcileRunRecord>(&app.reconcile_run(req.param("run")?)?)
        }
    );
    op!(
        Method::GET,
        "/api/reconcile-runs/{run}/evidence",
        |app: &App, req: ApiRequest| {
            answer::<api::ReconcileEvidence>(&app.reconcile_evidence(req.param("run")?)?)
        }
    );
    crate::batch_import::routes(&mut r, &app);
    crate::audit::routes(&mut r, &app);
    r
}

fn required<'r>(req: &'r ApiRequest, name: &str) -> Result<&'r str> {
    req.query(name).ok_or_else(|| {
        ApiError::bad_request(format!(
            "{name}: query parameter is required (e.g. ?{name}=main)"
        ))
    })
}

fn limit(req: &ApiRequest) -> Result<Option<u32>> {
    // Present but empty is not a whole number either.
    match req.query.get("limit").map(String::as_str) {
        None => Ok(None),
        Some(v) => v
            .parse::<u32>()
            .map(Some)
            .map_err(|_| ApiError::bad_request(format!("limit: `{v}` is not a whole number"))),
    }
}

/// An import's subscribers and the validity (days) some of them carry.
#[allow(clippy::type_complexity)]
pub(crate) fn selectors_with_validity(
    list: Vec<api::ImportSubscriber>,
) -> Result<(Vec<SubscriberSelector>, Vec<(SubscriberSelector, u32)>)> {
    let mut validity = Vec::new();
    for (i, s) in list.iter().enumerate() {
        if let Some(d) = s.validity_days {
            if !(1..=36500).contains(&d) {
                return Err(ApiError::bad_request(format!(
                    "subscribers[{i}].validity_days: must be between 1 and 36500"
                )));
            }
        }
    }
    let days: Vec<Option<u32>> = list.iter().map(|s| s.validity_days).collect();
    let list = selectors(
        list.into_iter()
            .map(|s| api::SubscriberSelector {
                email: s.email,
                user_id: s.user_id,
            })
            .collect(),
    )?;
    for (s, d) in list.iter().zip(days) {
        if let Some(d) = d {
            validity.push((s.clone(), d));
        }
    }
    Ok((list, validity))
}

pub(crate) fn selectors(list: Vec<api::SubscriberSelector>) -> Result<Vec<SubscriberSelector>> {
    list.into_iter()
        .enumerate()
        .map(|(i, s)| match (s.email, s.user_id) {
            (Some(e), None) if e.contains('@') => Ok(SubscriberSelector::Email(e.trim().to_lowercase())),
            (Some(e), None) => Err(ApiError::bad_request(format!(
                "subscribers[{i}].email: `{e}` is not an e-mail address"
            ))),
            (None, Some(id)) if id > 0 => Ok(SubscriberSelector::UserId(id)),
            _ => Err(ApiError::bad_request(format!(
                "subscribers[{i}]: give exactly one of `email` or `user_id` (a positive host user id)"
            ))),
        })
        .collect()
}

fn keys_of(
    keys: Option<Vec<String>>,
    keys_text: Option<String>,
    required: bool,
) -> Result<Option<Secret>> {
    match (keys, keys_text) {
        (Some(_), Some(_)) => Err(ApiError::bad_request(
            "keys: give either `keys` (a list) or `keys_text` (one key per line), not both",
        )),
        (Some(list), None) => Ok(Some(Secret::new(list.join("\n")))),
        (None, Some(text)) => Ok(Some(Secret::new(text))),
        (None, None) if required => Err(ApiError::bad_request(
            "keys: required: send `keys` (a list) or `keys_text` (one key per line)",
        )),
        (None, None) => Ok(None),
    }
}

/// An import (or preview) request as the use-case's input.
fn import_input(body: api::ImportRequest) -> Result<ImportInput> {
    check_validity(body.validity_days)?;
    if let Some(c) = body.concurrency {
        if !(1..=64).contains(&c) {
            return Err(ApiError::bad_request(
                "concurrency: must be between 1 and 64",
            ));
        }
    }
    let keys = keys_of(body.keys, body.keys_text, true)?.unwrap_or_else(|| Secret::new(""));
    let (subscribers, subscriber_validity_days) = selectors_with_validity(body.subscribers)?;
    Ok(ImportInput {
        host: body.host_id,
        pack_id: body.pack_id,
        keys,
        mode: body.mode.unwrap_or(ImportMode::Strict),
        access_mode: body.access_mode.unwrap_or(AccessMode::Subscription),
        subscribers,
        validity_days: body.validity_days,
        subscriber_validity_days,
        probe_key: secret(body.probe_key),
        replace_existing: body.replace_existing,
        concurrency: body.concurrency.map(|c| c as usize),
        warmup_window: None,
        balance: balance_threshold(body.min_balance, body.balance_currency, body.balance_policy)?,
    })
}

/// The balance threshold of an import request (`None` without `min_balance`).
fn balance_threshold(
    min_balance: Option<f64>,
    currency: Option<String>,
    policy: Option<relay_domain::BalancePolicy>,
) -> Result<Option<relay_domain::BalanceThreshold>> {
    // `balance_currency` and `balance_policy` qualify a threshold: without
    // `min_balance` there is none, and no balance is read.
    let Some(min_balance) = min_balance else {
        return Ok(None);
    };
    if !min_balance.is_finite() || min_balance < 0.0 {
        return Err(ApiError::bad_request(
            "min_balance: must be a number at least 0",
        ));
    }
    let currency = currency.map(|c| c.trim().to_ascii_uppercase());
    if currency
        .as_deref()
        .is_some_and(|c| c.len() != 3 || !c.bytes().all(|b| b.is_ascii_uppercase()))
    {
        return Err(ApiError::bad_request(
            "balance_currency: must be a 3-letter currency code (CNY, USD)",
        ));
    }
    Ok(Some(relay_domain::BalanceThreshold {
        min_balance,
        currency,
        policy: policy.unwrap_or(relay_domain::BalancePolicy::Refuse),
    }))
}

/// An access preview request as the use-case's input.
fn access_input(body: api::AccessRequest) -> Result<AccessInput> {
    check_validity(body.validity_days)?;
    Ok(AccessInput {
        host: body.host_id,
        pack_id: body.pack_id,
        access_mode: body.access_mode.unwrap_or(AccessMode::Subscription),
        subscribers: selectors(body.subscribers)?,
        validity_days: body.validity_days,
        subscriber_validity_days: Vec::new(),
        probe_key: secret(body.probe_key),
    })
}

fn check_validity(days: Option<u32>) -> Result<()> {
    match days {
        Some(d) if !(1..=36500).contains(&d) => Err(ApiError::bad_request(
            "validity_days: must be between 1 and 36500",
        )),
        _ => Ok(()),
    }
}

/// An assign-subscriptions request as the use-case's input (always `subscription`).
fn assign_input(body: api::AssignRequest) -> Result<AccessInput> {
    check_validity(body.validity_days)?;
    let (subscribers, subscriber_validity_days) = selectors_with_validity(body.subscribers)?;
    Ok(AccessInput {
        host: body.host_id,
        pack_id: body.pack_id,
        access_mode: AccessMode::Subscription,
        subscribers,
        validity_days: body.validity_days,
        subscriber_validity_days,
        probe_key: None,
    })
}

/// The use-case input of a model-drift request.
fn diff_input(req: &ApiRequest, body: api::ModelsDiffRequest) -> Result<ModelsDiffInput> {
    if body.host_id.trim().is_empty() {
        return Err(ApiError::bad_request(
            "host_id: required: the host to ask (id or name)",
        ));
    }
    Ok(ModelsDiffInput {
        provider_id: req.param("provider")?.to_string(),
        host: body.host_id,
        pack_id: body.pack_id,
        direct_key: secret(body.key),
    })
}

fn secret(value: Option<String>) -> Option<Secret> {
    value
        .filter(|k| !k.trim().is_empty())
        .map(|k| Secret::new(k.trim().to_string()))
}

/// Readiness for anyone who can reach the port: only `ready` or `not_ready`. The
/// schema version and the store's error text are internal details (the error goes to
/// the log).
fn readyz(app: &App) -> Result<ApiResponse> {
    match app.store().schema_version() {
        Ok(_) => ApiResponse::ok(&api::Readiness {
            status: api::ReadinessStatus::Ready,
        }),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check: the state store does not answer");
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_ready",
                "the state store is not usable (see the server log)",
            ))
        }
    }
}

fn auth_input(body: api::HostAuth) -> HostAuthInput {
    match body {
        api::HostAuth::ApiKey { api_key } => HostAuthInput::ApiKey(Secret::new(api_key)),
        api::HostAuth::Login { email, password } => HostAuthInput::Login {
            email,
            password: Secret::new(password),
        },
    }
}

fn create_host(app: &App, req: ApiRequest) -> Result<ApiResponse> {
    let body: api::CreateHostRequest = req.json()?;
    let view = app.register_host(RegisterHost {
        name: body.name,
        base_url: body.base_url,
        auth: auth_input(body.auth),
    })?;
    ApiResponse::json(StatusCode::CREATED, &contract::<api::Host>(&view)?)
}

fn install_pack(app: &App, req: ApiRequest) -> Result<ApiResponse> {
    let content_type = req
        .headers
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let source = if content_type.starts_with("application/zip")
        || content_type.starts_with("application/octet-stream")
    {
        if req.body.is_empty() {
            return Err(ApiError::bad_request(
                "body: empty upload; send the pack .zip as the request body",
            ));
        }
        PackSource::ZipBytes(req.body.to_vec())
    } else {
        let body: api::InstallPackRequest = req.json()?;
        PackSource::Path(body.path)
    };
    let pack: api::Pack = contract(&app.install_pack(source)?)?;
    ApiResponse::json(StatusCode::CREATED, &pack)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(email: Option<&str>, user_id: Option<i64>, days: Option<u32>) -> api::ImportSubscriber {
        api::ImportSubscriber {
            email: email.map(str::to_string),
            user_id,
            validity_days: days,
        }
    }

    #[test]
    fn an_import_takes_each_subscriber_s_validity() {
        let (list, validity) = selectors_with_validity(vec![
            sel(Some(" Alice@Example.com"), None, Some(7)),
            sel(None, Some(3), Some(30)),
            sel(Some("bob@example.com"), None, None),
        ])
        .unwrap();
        assert_eq!(
            list,
            vec![
                SubscriberSelector::Email("alice@example.com".into()),
                SubscriberSelector::UserId(3),
                SubscriberSelector::Email("bob@example.com".into()),
            ]
        );
        assert_eq!(
            validity,
            vec![
                (SubscriberSelector::Email("alice@example.com".into()), 7),
                (SubscriberSelector::UserId(3), 30),
            ]
        );
        for days in [0, 36501] {
            let e = selectors_with_validity(vec![sel(None, Some(3), Some(days))]).unwrap_err();
            assert!(
                format!("{e:?}").contains("subscribers[0].validity_days"),
                "{e:?}"
            );
        }
        // The selector rules still hold.
        let e =
            selectors_with_validity(vec![sel(Some("not-an-email"), None, Some(7))]).unwrap_err();
        assert!(format!("{e:?}").contains("subscribers[0].email"), "{e:?}");
    }
}
