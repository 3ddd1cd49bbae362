//! Host registration, probing, listing and deletion (SPEC §4.1).

use crate::app::{random_bytes, App};
use crate::error::{compliance_message, ActingAdmin, AppError, AppResult};
use relay_domain::{HostId, HostStatus, Secret};
use relay_pack::host_compatible;
use relay_store::{
    CapabilitySnapshot, HostAuthKind, HostRecord, HostRepository, NewCapabilitySnapshot, NewHost,
    PackRepository, StoreError,
};
use relay_sub2api::{Capabilities, HostAdapter, HostError};
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, ToSocketAddrs};

/// Admin credentials of a host to register.
#[derive(Debug, Clone)]
pub enum HostAuthInput {
    /// The host's admin API key (`x-api-key`), recommended.
    ApiKey(Secret),
    /// An admin e-mail and password exchanged for a bearer token.
    Login {
        /// Admin e-mail.
        email: String,
        /// Admin password (sealed in the store, never shown).
        password: Secret,
    },
}

/// A host to register.
#[derive(Debug, Clone)]
pub struct RegisterHost {
    /// Unique display name (letters, digits, `.`, `_`, `-`; at most 64).
    pub name: String,
    /// Base URL of the host, e.g. `https://gateway.example.com`.
    pub base_url: String,
    /// Admin credentials, probed on registration and then sealed in the store.
    pub auth: HostAuthInput,
}

/// Capabilities the manager cannot work without.
pub const HARD_CAPABILITIES: &[&str] = &[
    "groups",
    "accounts",
    "account_test",
    "account_models",
    "users",
    "user_keys",
    "chat_completions",
];

/// What a capability is, in the operator's words.
fn capability_meaning(cap: &str) -> &'static str {
    match cap {
        "groups" => "the admin API cannot manage groups",
        "accounts" => "the admin API cannot manage upstream accounts",
        "account_test" => "the host cannot test an account",
        "account_models" => "the host cannot list an account's models",
        "users" => "the admin API cannot manage users",
        "user_keys" => "users cannot create API keys",
        "chat_completions" => {
            "the gateway does not serve OpenAI chat completions, so no user can call a \
             Chinese vendor's model through it and no access proof can pass"
        }
        _ => "the host lacks it",
    }
}

/// A host as the API shows it: the record, its latest capabilities and what is wrong.
#[derive(Debug, Clone, Serialize)]
pub struct HostView {
    /// The stored host (no secret).
    #[serde(flatten)]
    pub host: HostRecord,
    /// Capability name → present, from the latest probe.
    pub capabilities: BTreeMap<String, bool>,
    /// Why the host is not `supported`, and advisory warnings.
    pub problems: Vec<String>,
}

/// Capability-map entry recorded when the host's admin API is locked by its
/// compliance gate (`false`); absent otherwise.
pub const COMPLIANCE_CAPABILITY: &str = "admin_compliance";

/// Result of one read-only probe of a host.
#[derive(Debug, Clone)]
pub(crate) struct ProbeOutcome {
    pub version: Option<String>,
    pub capabilities: BTreeMap<String, bool>,
    pub status: HostStatus,
    pub problems: Vec<String>,
}

/// Capability flags by name.
pub fn capability_map(c: &Capabilities) -> BTreeMap<String, bool> {
    [
        ("groups", c.groups),
        ("channels", c.channels),
        ("plans", c.plans),
        ("accounts", c.accounts),
        ("account_test", c.account_test),
        ("account_models", c.account_models),
        ("subscriptions", c.subscriptions),
        ("users", c.users),
        ("user_keys", c.user_keys),
        ("chat_completions", c.chat_completions),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn validate_name(name: &str) -> AppResult<()> {
    if name.is_empty() || name.len() > 64 {
        return Err(AppError::invalid(
            "name",
            "must be 1 to 64 characters (letters, digits, '.', '_', '-')",
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err(AppError::invalid(
            "name",
            format!("`{name}` may only contain letters, digits, '.', '_' and '-'"),
        ));
    }
    Ok(())
}

/// Checks a host base URL: `https://` (or `http://` for a loopback or
/// private-network address only), a host part, no user-info, query or fragment;
/// and the address policy (the host name is resolved, as the host client will):
/// link-local and cloud-metadata addresses are refused for any scheme.
pub fn validate_base_url(url: &str) -> AppResult<String> {
    let trimmed = url.trim().trim_end_matches('/');
    let (scheme, rest) = if let Some(rest) = trimmed.strip_prefix("https://") {
        ("https", rest)
    } else if let Some(rest) = trimmed.strip_prefix("http://") {
        ("http", rest)
    } else {
        return Err(AppError::invalid(
            "base_url",
            format!("`{trimmed}` must start with https:// (or http:// on a private network)"),
        ));
    };
    let authority = rest.split('/').next().unwrap_or("");
    if authority.is_empty() || authority.contains('@') {
        return Err(AppError::invalid(
            "base_url",
            "must name a host, e.g. https://gateway.example.com (no user:password@)",
        ));
    }
    if trimmed.contains('?') || trimmed.contains('#') || trimmed.chars().any(char::is_whitespace) {
        return Err(AppError::invalid(
            "base_url",
            "must not contain a query, a fragment or white space",
        ));
    }
    check_host_address(scheme, authority)?;
    Ok(trimmed.to_string())
}

/// What an address is, for the base URL policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AddressClass {
    /// 127.0.0.0/8, ::1.
    Loopback,
    /// 10/8, 172.16/12, 192.168/16, 100.64/10 (shared / overlay networks), fc00::/7.
    Private,
    /// Anything else that is routable.
    Public,
    /// Never a host: link-local (169.254/16, fe80::/10, which hold the cloud metadata
    /// services), other cloud metadata addresses, unspecified, multicast, broadcast.
    Forbidden,
}

/// Cloud metadata addresses outside the link-local ranges.
const METADATA_ADDRESSES: &[IpAddr] = &[
    // AWS over IPv6.
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)),
    // Alibaba Cloud (inside 100.64/10).
    IpAddr::V4(Ipv4Addr::new(100, 100, 100, 200)),
    // Oracle Cloud's second address.
    IpAddr::V4(Ipv4Addr::new(192, 0, 0, 192)),
];

/// Host names of cloud metadata services.
const METADATA_NAMES: &[&str] = &[
    "metadata",
    "metadata.google.internal",
    "metadata.goog",
    "metadata.tencentyun.com",
    "metadata.azure.internal",
    "instance-data",
    "instance-data.ec2.internal",
];

/// Classifies an address (IPv4-mapped IPv6 as its IPv4 address).
pub(crate) fn classify_ip(ip: IpAddr) -> AddressClass {
    if METADATA_ADDRESSES.contains(&ip) {
        return AddressClass::Forbidden;
    }
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            if v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || o[0] == 0
            {
                AddressClass::Forbidden
            } else if v4.is_loopback() {
                AddressClass::Loopback
            } else if v4.is_private() || (o[0] == 100 && (o[1] & 0xc0) == 64) {
                AddressClass::Private
            } else {
                AddressClass::Public
            }
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return classify_ip(IpAddr::V4(v4));
            }
            let seg = v6.segments();
            if v6.is_unspecified() || v6.is_multicast() || (seg[0] & 0xffc0) == 0xfe80 {
                AddressClass::Forbidden
            } else if v6.is_loopback() {
                AddressClass::Loopback
            } else if (seg[0] & 0xfe00) == 0xfc00 {
                AddressClass::Private
            } else {
                AddressClass::Public
            }
        }
    }
}

/// Splits an authority (`host`, `host:port`, `[v6]:port`) into host and port.
fn host_and_port(authority: &str, default_port: u16) -> Option<(String, u16)> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if after.is_empty() => default_port,
            None => return None,
        };
        return Some((host.to_string(), port));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => Some((host.to_string(), port.parse().ok()?)),
        None => Some((authority.to_string(), default_port)),
    }
}

/// The address policy of a host base URL, on the addresses its host resolves to
/// now: a cloud-metadata name or any forbidden address is refused for any scheme;
/// `http://` needs every address to be loopback or private.
pub(crate) fn check_addresses(scheme: &str, host: &str, addrs: &[IpAddr]) -> AppResult<()> {
    let name = host.trim_end_matches('.').to_ascii_lowercase();
    if METADATA_NAMES.contains(&name.as_str()) {
        return Err(AppError::invalid(
            "base_url",
            format!("`{host}` is a cloud metadata service, not a sub2api host"),
        ));
    }
    if let Some(ip) = addrs
        .iter()
        .find(|ip| classify_ip(**ip) == AddressClass::Forbidden)
    {
        return Err(AppError::invalid(
            "base_url",
            format!(
                "`{host}` is (or resolves to) {ip}, a link-local, cloud-metadata, multicast or \
                 unspecified address, which is never a sub2api host"
            ),
        ));
    }
    if scheme == "http" {
        if addrs.is_empty() {
            return Err(AppError::invalid(
                "base_url",
                format!(
                    "`{host}` does not resolve, so it cannot be checked to be on a private \
                     network: use https://, or an address"
                ),
            ));
        }
        if let Some(ip) = addrs
            .iter()
            .find(|ip| classify_ip(**ip) == AddressClass::Public)
        {
            return Err(AppError::invalid(
                "base_url",
                format!(
                    "http:// sends the admin credentials in clear text, so it is accepted only \
                     for loopback or private-network addresses (127.0.0.0/8, ::1, 10.0.0.0/8, \
                     172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10, fc00::/7); `{host}` is \
                     {ip}: use https://"
                ),
            ));
        }
    }
    Ok(())
}

/// Resolves the authority of a base URL (as the host client will) and applies
/// [`check_addresses`]. An `https://` host that does not resolve is left to the
/// registration probe (which answers `host_unreachable`).
pub fn check_host_address(scheme: &str, authority: &str) -> AppResult<()> {
    let default_port = if scheme == "https" { 443 } else { 80 };
    let (host, port) = host_and_port(authority, default_port).ok_or_else(|| {
        AppError::invalid(
            "base_url",
            format!("`{authority}` is not a valid host[:port]"),
        )
    })?;
    let addrs: Vec<IpAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => (host.as_str(), port)
            .to_socket_addrs()
            .map(|it| it.map(|a| a.ip()).collect())
            .unwrap_or_default(),
    };
    check_addresses(scheme, &host, &addrs)
}

fn map_probe_error(e: HostError) -> AppError {
    match e {
        HostError::ComplianceRequired(lock) => {
            AppError::HostComplianceRequired(compliance_message(&lock, None, None))
        }
        HostError::Unauthorized(d) | HostError::Forbidden(d) => AppError::HostAuth(format!(
            "{} {}: check the admin API key (or e-mail and password)",
            d.status,
            d.code.unwrap_or_default()
        )),
        HostError::Transport(m) => AppError::HostUnreachable(m),
        HostError::UnsupportedRoute { method, path } => AppError::HostUnreachable(format!(
            "{method} {path} answered 404: is this a sub2api host, and is the base URL its root?"
        )),
        other => AppError::Host(other),
    }
}

impl App {
    /// Probes a host read-only: the compliance gate first (its status route is the
    /// only admin route a locked host answers), then version, capabilities with one
    /// unauthenticated gateway check, and compatibility with the installed packs.
    /// A locked host is [`AppError::HostComplianceRequired`] with the operator's
    /// instructions for `who`; nothing is accepted.
    pub(crate) fn probe_adapter(
        &self,
        adapter: &dyn HostAdapter,
        who: ActingAdmin<'_>,
    ) -> AppResult<ProbeOutcome> {
        let locked = |lock: &relay_sub2api::ComplianceLock, phrase: Option<&str>| {
            AppError::HostComplianceRequired(compliance_message(lock, Some(who), phrase))
        };
        let map = |e: HostError| match e.compliance_lock() {
            Some(lock) => locked(lock, None),
            None => map_probe_error(e),
        };
        if let Some(status) = adapter.compliance().map_err(map)? {
            if status.required {
                return Err(locked(&status.lock(), status.ack_phrase.as_deref()));
            }
        }
        let version = adapter.version().map_err(map)?;
        let (caps, reach) = adapter.capabilities_with_gateway().map_err(map)?;
        let mut problems = Vec::new();
        if reach.invalid_auth_limited {
            problems.push(format!(
                "gateway: {}{}",
                relay_core::INVALID_AUTH_BLOCK_MESSAGE,
                reach
                    .retry_after
                    .map(|d| format!(" (retry after {} s)", d.as_secs()))
                    .unwrap_or_default()
            ));
        } else if !reach.api_key_required {
            problems.push(format!(
                "gateway: unauthenticated GET /v1/models answered {} {} instead of 401 API_KEY_REQUIRED",
                reach.models_status,
                reach.models_code.clone().unwrap_or_default()
            ));
        }
        let capabilities = capability_map(&caps);
        let status = self.derive_host_status(Some(&version), &capabilities, &mut problems)?;
        Ok(ProbeOutcome {
            version: Some(version),
            capabilities,
            status,
            problems,
        })
    }

    /// Supported, or unsupported when a hard capability is missing or the version
    /// is outside every installed pack's `host_compat`.
    fn derive_host_status(
        &self,
        version: Option<&str>,
        capabilities: &BTreeMap<String, bool>,
        problems: &mut Vec<String>,
    ) -> AppResult<HostStatus> {
        let mut supported = true;
        if capabilities.get(COMPLIANCE_CAPABILITY) == Some(&false) {
            problems.push(
                "the host's admin API is locked until an administrator accepts its deployment compliance commitment: run `relay host probe` for what to accept and as which admin"
                    .to_string(),
            );
            return Ok(HostStatus::Unsupported);
        }
        for cap in HARD_CAPABILITIES {
            if !capabilities.get(*cap).copied().unwrap_or(false) {
                supported = false;
                problems.push(format!(
                    "missing capability `{cap}`: {}; this host build is too old (or cut down) for \
                     the manager: upgrade it to a release that has it (docs/compatibility.md)",
                    capability_meaning(cap)
                ));
            }
        }
        for soft in ["channels", "plans", "subscriptions"] {
            if !capabilities.get(soft).copied().unwrap_or(false) {
                problems.push(format!(
                    "warning: host has no `{soft}` API; features that need it are skipped"
                ));
            }
        }
        let packs = self.store().packs().list()?;
        if let (Some(version), false) = (version, packs.is_empty()) {
            let mut any = false;
            for p in &packs {
                let manifest = relay_pack::PackManifest {
                    pack_id: p.pack_id.0.clone(),
                    version: p.version.parse().map_err(|e| {
                        AppError::Internal(format!("stored pack version is invalid: {e}"))
                    })?,
                    name: p.name.clone(),
                    description: p.description.clone(),
                    host_compat: p.host_compat.parse().map_err(|e| {
                        AppError::Internal(format!("stored host_compat is invalid: {e}"))
                    })?,
                    key_health: None,
                };
                match host_compatible(&manifest, version) {
                    Ok(true) => any = true,
                    Ok(false) => {}
                    Err(e) => {
                        problems.push(format!(
                            "host version `{version}` is not semver: {}",
                            e.reason
                        ));
                        break;
                    }
                }
            }
            if !any {
                supported = false;
                let reqs: Vec<String> = packs
                    .iter()
                    .map(|p| format!("{} {}", p.pack_id, p.host_compat))
                    .collect();
                problems.push(format!(
                    "host version {version} is outside every installed pack's host_compat ({})",
                    reqs.join("; ")
                ));
            }
        }
        Ok(if supported {
            HostStatus::Supported
        } else {
            HostStatus::Unsupported
        })
    }

    /// Registers a host: validates, probes read-only, and stores the host with its
    /// sealed admin secret and capability snapshot. Nothing is stored when the
    /// host is unreachable or refuses the credentials.
    pub fn register_host(&self, req: RegisterHost) -> AppResult<HostView> {
        validate_name(&req.name)?;
        let base_url = validate_base_url(&req.base_url)?;
        let (auth_kind, admin_email, secret) = check_auth(req.auth)?;
        if self.store().hosts().find_by_name(&req.name)?.is_some() {
            return Err(AppError::Conflict {
                code: "host_exists",
                message: format!("a host named `{}` is already registered", req.name),
            });
        }
        // Known from now on, even if the host refuses it: an answer quoting it is
        // redacted everywhere (the adapter already masks it in the host's texts).
        self.remember_secret(&secret);
        let adapter =
            self.build_adapter(&base_url, auth_kind, admin_email.as_deref(), secret.clone())?;
        let who = acting_admin(auth_kind, admin_email.as_deref());
        let outcome = self.probe_adapter(adapter.as_ref(), who)?;
        let id = HostId::from_random(&random_bytes(8));
        let record = self
            .store()
            .hosts()
            .create(&NewHost {
                id: id.clone(),
                name: req.name.clone(),
                base_url,
                auth_kind,
                admin_email,
                admin_secret: secret,
                version: outcome.version.clone(),
                status: outcome.status,
            })
            .map_err(|e| match e {
                StoreError::Conflict { .. } => AppError::Conflict {
                    code: "host_exists",
                    message: format!("a host named `{}` is already registered", req.name),
                },
                other => other.into(),
            })?;
        let snapshot = self.store().hosts().record_snapshot(
            &id,
            &NewCapabilitySnapshot {
                version: outcome.version,
                capabilities: outcome.capabilities,
                status: outcome.status,
            },
        )?;
        tracing::info!(host_id = %id, name = %record.name, status = %outcome.status, "host registered");
        let host = self.store().hosts().get(&id)?;
        Ok(view(host, Some(snapshot), outcome.problems))
    }

    /// Replaces the admin credentials of a registered host (after a leak, or a
    /// routine rotation): the new credentials are checked with the same read-only
    /// probe as a registration, then sealed in place of the old ones and the host's
    /// cached client is dropped. When the host refuses them (or cannot be reached,
    /// or is locked by its compliance gate) nothing is changed. The credentials are
    /// never echoed nor logged. Revoke the old key on the host afterwards.
    pub fn set_host_credentials(
        &self,
        id_or_name: &str,
        auth: HostAuthInput,
    ) -> AppResult<HostView> {
        let host = self.resolve_host(id_or_name)?;
        let (auth_kind, admin_email, secret) = check_auth(auth)?;
        let adapter = self.build_adapter(
            &host.base_url,
            auth_kind,
            admin_email.as_deref(),
            secret.clone(),
        )?;
        let who = acting_admin(auth_kind, admin_email.as_deref());
        let outcome = self
            .probe_adapter(adapter.as_ref(), who)
            .map_err(|e| match e {
                AppError::HostAuth(m) => {
                    AppError::HostAuth(format!("{m}; the stored credentials were not changed"))
                }
                other => other,
            })?;
        self.store().hosts().update_credentials(
            &host.id,
            auth_kind,
            admin_email.as_deref(),
            &secret,
        )?;
        self.forget_adapter(&host.id);
        let snapshot = self.store().hosts().record_snapshot(
            &host.id,
            &NewCapabilitySnapshot {
                version: outcome.version,
                capabilities: outcome.capabilities,
                status: outcome.status,
            },
        )?;
        tracing::info!(host_id = %host.id, name = %host.name, auth_kind = %auth_kind, "host credentials replaced");
        let host = self.store().hosts().get(&host.id)?;
        Ok(view(host, Some(snapshot), outcome.problems))
    }

    /// Resolves a host by id or by name.
    pub fn resolve_host(&self, id_or_name: &str) -> AppResult<HostRecord> {
        match self.store().hosts().get(&HostId::new(id_or_name)) {
            Ok(h) => Ok(h),
            Err(StoreError::NotFound { .. }) => self
                .store()
                .hosts()
                .find_by_name(id_or_name)?
                .ok_or_else(|| AppError::NotFound {
                    kind: "host",
                    id: id_or_name.to_string(),
                }),
            Err(e) => Err(e.into()),
        }
    }

    /// One host with its latest capabilities.
    pub fn get_host(&self, id_or_name: &str) -> AppResult<HostView> {
        let host = self.resolve_host(id_or_name)?;
        self.host_view(host)
    }

    fn host_view(&self, host: HostRecord) -> AppResult<HostView> {
        let snapshot = self.store().hosts().latest_snapshot(&host.id)?;
        let mut problems = Vec::new();
        if let Some(s) = &snapshot {
            if host.status != HostStatus::Unreachable {
                self.derive_host_status(s.version.as_deref(), &s.capabilities, &mut problems)?;
            }
        }
        if host.status == HostStatus::Unreachable {
            problems.push("host did not answer the last probe".to_string());
        }
        Ok(view(host, snapshot, problems))
    }

    /// Every registered host.
    pub fn list_hosts(&self) -> AppResult<Vec<HostView>> {
        let hosts = self.store().hosts().list()?;
        hosts.into_iter().map(|h| self.host_view(h)).collect()
    }

    /// Probes a registered host again; an unreachable host is marked `unreachable`.
    /// A host whose admin API is locked by its compliance gate is marked
    /// `unsupported` (a snapshot with `admin_compliance: false`) and the answer is
    /// [`AppError::HostComplianceRequired`], naming what to accept and as whom.
    pub fn probe_host(&self, id_or_name: &str) -> AppResult<HostView> {
        let host = self.resolve_host(id_or_name)?;
        let adapter = self.adapter(&host)?;
        let who = acting_admin(host.auth_kind, host.admin_email.as_deref());
        match self.probe_adapter(adapter.as_ref(), who) {
            Ok(outcome) => {
                let snapshot = self.store().hosts().record_snapshot(
                    &host.id,
                    &NewCapabilitySnapshot {
                        version: outcome.version,
                        capabilities: outcome.capabilities,
                        status: outcome.status,
                    },
                )?;
                let host = self.store().hosts().get(&host.id)?;
                Ok(view(host, Some(snapshot), outcome.problems))
            }
            Err(AppError::HostUnreachable(m)) => {
                self.store().hosts().update_status(
                    &host.id,
                    HostStatus::Unreachable,
                    host.version.as_deref(),
                )?;
                let host = self.store().hosts().get(&host.id)?;
                let mut v = self.host_view(host)?;
                v.problems.push(m);
                Ok(v)
            }
            Err(AppError::HostComplianceRequired(m)) => {
                self.mark_compliance_locked(&host, adapter.as_ref())?;
                Err(AppError::HostComplianceRequired(m))
            }
            Err(e) => Err(e),
        }
    }

    /// Records that the host's admin API is locked by its compliance gate: a snapshot
    /// with `admin_compliance: false` and the host `unsupported` until a probe finds
    /// it unlocked. Used by the probe and by any run that meets the lock (a host
    /// upgrade to a new commitment version locks it again).
    pub(crate) fn mark_compliance_locked(
        &self,
        host: &HostRecord,
        adapter: &dyn relay_sub2api::HostAdapter,
    ) -> AppResult<()> {
        let previous = self.store().hosts().latest_snapshot(&host.id)?;
        let mut capabilities = previous.map(|s| s.capabilities).unwrap_or_default();
        capabilities.insert(COMPLIANCE_CAPABILITY.to_string(), false);
        // The public settings still answer: keep the version current.
        let version = adapter
            .public_settings()
            .ok()
            .and_then(|s| s.version)
            .or(host.version.clone());
        self.store().hosts().record_snapshot(
            &host.id,
            &NewCapabilitySnapshot {
                version,
                capabilities,
                status: HostStatus::Unsupported,
            },
        )?;
        tracing::warn!(host = %host.name, "host admin API locked by its compliance gate");
        Ok(())
    }

    /// Re-derives every host's status from its stored snapshot (after a pack
    /// install changes the set of accepted host versions). No network.
    pub(crate) fn refresh_host_statuses(&self) -> AppResult<()> {
        for host in self.store().hosts().list()? {
            if host.status == HostStatus::Unreachable {
                continue;
            }
            if let Some(s) = self.store().hosts().latest_snapshot(&host.id)? {
                let mut problems = Vec::new();
                let status =
                    self.derive_host_status(s.version.as_deref(), &s.capabilities, &mut problems)?;
                if status != host.status {
                    self.store().hosts().update_status(
                        &host.id,
                        status,
                        host.version.as_deref(),
                    )?;
                }
            }
        }
        Ok(())
    }

    /// Deletes a host that nothing references; `409 host_in_use` otherwise.
    pub fn delete_host(&self, id_or_name: &str) -> AppResult<HostRecord> {
        let host = self.resolve_host(id_or_name)?;
        match self.store().hosts().delete(&host.id) {
            Ok(()) => {
                self.forget_adapter(&host.id);
                Ok(host)
            }
            Err(StoreError::InUse { references, .. }) => Err(AppError::Conflict {
                code: "host_in_use",
                message: format!(
                    "host `{}` still has {}: roll back its batches first",
                    host.name, references
                ),
            }),
            Err(e) => Err(e.into()),
        }
    }
}

/// Checks admin credentials as given: the auth kind, the e-mail (login) and the secret.
fn check_auth(auth: HostAuthInput) -> AppResult<(HostAuthKind, Option<String>, Secret)> {
    match auth {
        HostAuthInput::ApiKey(k) => {
            if k.expose().trim().is_empty() {
                return Err(AppError::invalid(
                    "auth.api_key",
                    "is empty: pass the host's admin API key (admin-…)",
                ));
            }
            Ok((HostAuthKind::ApiKey, None, k))
        }
        HostAuthInput::Login { email, password } => {
            if !email.contains('@') {
                return Err(AppError::invalid(
                    "auth.email",
                    "must be the admin's e-mail address",
                ));
            }
            if password.is_empty() {
                return Err(AppError::invalid("auth.password", "is empty"));
            }
            Ok((HostAuthKind::Login, Some(email), password))
        }
    }
}

fn acting_admin(kind: HostAuthKind, email: Option<&str>) -> ActingAdmin<'_> {
    match (kind, email) {
        (HostAuthKind::Login, Some(email)) => ActingAdmin::Login(email),
        _ => ActingAdmin::ApiKey,
    }
}

fn view(host: HostRecord, snapshot: Option<CapabilitySnapshot>, problems: Vec<String>) -> HostView {
    HostView {
        host,
        capabilities: snapshot.map(|s| s.capabilities).unwrap_or_default(),
        problems,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn addresses_are_classified() {
        for (a, class) in [
            ("127.0.0.1", AddressClass::Loopback),
            ("127.8.9.10", AddressClass::Loopback),
            ("::1", AddressClass::Loopback),
            ("10.1.2.3", AddressClass::Private),
            ("172.16.0.1", AddressClass::Private),
            ("172.31.255.254", AddressClass::Private),
            ("192.168.1.1", AddressClass::Private),
            ("100.64.0.1", AddressClass::Private),
            ("100.127.255.254", AddressClass::Private),
            ("fd12:3456::1", AddressClass::Private),
            ("::ffff:10.0.0.1", AddressClass::Private),
            ("8.8.8.8", AddressClass::Public),
            ("172.32.0.1", AddressClass::Public),
            ("100.128.0.1", AddressClass::Public),
            ("2001:db8::1", AddressClass::Public),
            ("169.254.169.254", AddressClass::Forbidden),
            ("169.254.170.2", AddressClass::Forbidden),
            ("169.254.0.23", AddressClass::Forbidden),
            ("fe80::1", AddressClass::Forbidden),
            ("febf::1", AddressClass::Forbidden),
            ("fd00:ec2::254", AddressClass::Forbidden),
            ("100.100.100.200", AddressClass::Forbidden),
            ("192.0.0.192", AddressClass::Forbidden),
            ("0.0.0.0", AddressClass::Forbidden),
            ("::", AddressClass::Forbidden),
            ("224.0.0.1", AddressClass::Forbidden),
            ("255.255.255.255", AddressClass::Forbidden),
            ("::ffff:169.254.169.254", AddressClass::Forbidden),
        ] {
            assert_eq!(classify_ip(ip(a)), class, "{a}");
        }
    }

    #[test]
    fn http_only_for_private_addresses_and_metadata_never() {
        let refused = |scheme: &str, host: &str, addrs: &[&str]| {
            let addrs: Vec<IpAddr> = addrs.iter().map(|a| ip(a)).collect();
            check_addresses(scheme, host, &addrs)
                .unwrap_err()
                .to_string()
        };
        let ok = |scheme: &str, host: &str, addrs: &[&str]| {
            let addrs: Vec<IpAddr> = addrs.iter().map(|a| ip(a)).collect();
            check_addresses(scheme, host, &addrs).unwrap()
        };
        ok("http", "127.0.0.1", &["127.0.0.1"]);
        ok("http", "sub2api", &["172.18.0.5"]);
        ok("https", "gateway.example.com", &["93.184.216.34"]);
        ok("https", "unresolved.example", &[]);
        let e = refused("http", "gateway.example.com", &["93.184.216.34"]);
        assert!(
            e.contains("use https://") && e.contains("93.184.216.34"),
            "{e}"
        );
        // One public address among private ones is enough to refuse clear text.
        refused("http", "mixed", &["10.0.0.1", "8.8.8.8"]);
        let e = refused("http", "nowhere.invalid", &[]);
        assert!(e.contains("does not resolve"), "{e}");
        for scheme in ["http", "https"] {
            let e = refused(scheme, "169.254.169.254", &["169.254.169.254"]);
            assert!(e.contains("link-local, cloud-metadata"), "{e}");
            refused(scheme, "[fd00:ec2::254]", &["fd00:ec2::254"]);
            let e = refused(scheme, "Metadata.Google.Internal.", &[]);
            assert!(e.contains("cloud metadata service"), "{e}");
            refused(scheme, "rebound.example", &["10.0.0.1", "169.254.169.254"]);
        }
    }

    #[test]
    fn base_urls_are_checked_with_their_literal_addresses() {
        assert_eq!(
            validate_base_url("http://127.0.0.1:8080/").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert!(validate_base_url("http://[::1]:8080").is_ok());
        assert!(validate_base_url("http://localhost:8080").is_ok());
        assert!(validate_base_url("https://192.168.1.10").is_ok());
        for bad in [
            "http://8.8.8.8",
            "http://169.254.169.254/latest/meta-data",
            "https://169.254.169.254",
            "https://[fe80::1]:443",
            "https://[fd00:ec2::254]",
            "http://metadata.google.internal",
            "http://0.0.0.0:8080",
            "http://[::ffff:169.254.169.254]",
        ] {
            assert!(validate_base_url(bad).is_err(), "{bad}");
        }
    }
}
