//! The relay manager's routes: parsing and mapping only; use-cases live in relay-app.

use crate::error::ApiError;
use crate::router::{Access, ApiRequest, ApiResponse, Router};
use hyper::{Method, StatusCode};
use relay_app::{App, AppError, HostAuthInput, PackSource, RegisterHost};
use relay_domain::Secret;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// Body limit of pack uploads (a zip of at most 50 MiB of content, plus headers).
pub const PACK_UPLOAD_LIMIT: usize = 60 * 1024 * 1024;

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        let status =
            StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        ApiError::new(status, e.code(), e.to_string())
    }
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
        ApiResponse::ok(&json!({"status": "ok"}))
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
            let app = app.clone();
            r.route($method, $path, Access::Operator, None, move |req| {
                $f(&app, req)
            });
        }};
        ($method:expr, $path:expr, limit = $limit:expr, $f:expr) => {{
            let app = app.clone();
            r.route($method, $path, Access::Operator, Some($limit), move |req| {
                $f(&app, req)
            });
        }};
    }

    op!(Method::POST, "/api/hosts", create_host);
    op!(
        Method::GET,
        "/api/hosts",
        |app: &App, _req| ApiResponse::ok(&json!({ "hosts": app.list_hosts()? }))
    );
    op!(
        Method::GET,
        "/api/hosts/{host}",
        |app: &App, req: ApiRequest| { ApiResponse::ok(&app.get_host(req.param("host")?)?) }
    );
    op!(
        Method::POST,
        "/api/hosts/{host}/probe",
        |app: &App, req: ApiRequest| { ApiResponse::ok(&app.probe_host(req.param("host")?)?) }
    );
    op!(
        Method::DELETE,
        "/api/hosts/{host}",
        |app: &App, req: ApiRequest| {
            let host = app.delete_host(req.param("host")?)?;
            ApiResponse::ok(&json!({ "deleted": true, "host_id": host.id, "name": host.name }))
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
        |app: &App, _req| ApiResponse::ok(&json!({ "packs": app.list_packs()? }))
    );
    op!(
        Method::GET,
        "/api/packs/{pack}",
        |app: &App, req: ApiRequest| { ApiResponse::ok(&app.get_pack(req.param("pack")?)?) }
    );
    op!(
        Method::GET,
        "/api/packs/{pack}/providers",
        |app: &App, req: ApiRequest| {
            let providers = app.list_providers(Some(req.param("pack")?), req.query("host_id"))?;
            ApiResponse::ok(&json!({ "providers": providers }))
        }
    );
    op!(
        Method::GET,
        "/api/providers",
        |app: &App, req: ApiRequest| {
            let providers = app.list_providers(req.query("pack_id"), req.query("host_id"))?;
            ApiResponse::ok(&json!({ "providers": providers }))
        }
    );
    r
}

fn readyz(app: &App) -> Result<ApiResponse> {
    match app.store().schema_version() {
        Ok(v) => ApiResponse::ok(&json!({"status": "ready", "schema_version": v})),
        Err(e) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            format!("state store unavailable: {e}"),
        )),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateHostBody {
    name: String,
    base_url: String,
    auth: AuthBody,
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum AuthBody {
    ApiKey { api_key: String },
    Login { email: String, password: String },
}

fn create_host(app: &App, req: ApiRequest) -> Result<ApiResponse> {
    let body: CreateHostBody = req.json()?;
    let auth = match body.auth {
        AuthBody::ApiKey { api_key } => HostAuthInput::ApiKey(Secret::new(api_key)),
        AuthBody::Login { email, password } => HostAuthInput::Login {
            email,
            password: Secret::new(password),
        },
    };
    let view = app.register_host(RegisterHost {
        name: body.name,
        base_url: body.base_url,
        auth,
    })?;
    ApiResponse::json(StatusCode::CREATED, &view)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InstallPackBody {
    path: String,
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
        let body: InstallPackBody = req.json()?;
        PackSource::Path(body.path)
    };
    ApiResponse::json(StatusCode::CREATED, &app.install_pack(source)?)
}
