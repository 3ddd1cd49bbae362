//! Acceptance against a real sub2api host (`--host-url`): the host's objects read
//! through its admin API in the shape of the mock's state dump, a baseline taken
//! before each scenario (what the scenario finds there is not its own), the clean-up
//! of what a scenario left, packs pointed at a loopback vendor, and which scenarios
//! cannot run on a real host (they need a mock fault knob) and why.

use crate::http::Client;
use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::scenario::{Scenario, Step, HOST_KINDS};
use super::secrets::mask;

/// The list route of each kind (all but `api_keys`, read per user).
const LISTS: [(&str, &str); 6] = [
    ("groups", "/api/v1/admin/groups"),
    ("channels", "/api/v1/admin/channels"),
    ("plans", "/api/v1/admin/payment/plans"),
    ("accounts", "/api/v1/admin/accounts"),
    ("users", "/api/v1/admin/users"),
    ("subscriptions", "/api/v1/admin/subscriptions"),
];

/// Why `s` cannot run against a real host (the mock knobs it needs), or `None`.
pub fn needs_mock(s: &Scenario) -> Option<String> {
    let mut why: BTreeSet<String> = BTreeSet::new();
    if !s.mock.flags.is_empty() {
        why.insert(format!("mock flags {}", s.mock.flags.join(" ")));
    }
    if let Some(Value::Object(f)) = &s.mock.faults {
        for k in f.keys() {
            why.insert(format!("fault knob {k}"));
        }
    }
    for step in &s.steps {
        match step {
            Step::SetFaults(x) => {
                if let Value::Object(f) = &x.faults {
                    for k in f.keys() {
                        why.insert(format!("fault knob {k}"));
                    }
                }
            }
            Step::KillHost(_) | Step::RestartHost(_) => {
                why.insert(format!(
                    "{} (the harness cannot stop a real host)",
                    step.action()
                ));
            }
            _ => {}
        }
    }
    (!why.is_empty()).then(|| why.into_iter().collect::<Vec<_>>().join(", "))
}

/// What was on the host before a scenario: ids per kind, and the first admin (kept
/// in the view, as the mock seeds its admin user).
#[derive(Debug, Clone, Default)]
pub struct Baseline {
    ids: BTreeMap<String, BTreeSet<i64>>,
    admin_id: Option<i64>,
}

/// The real host's admin API.
#[derive(Debug, Clone)]
pub struct RealHost {
    /// Host base URL.
    pub base_url: String,
    admin_key: String,
    api: Client,
}

fn id_of(v: &Value) -> Option<i64> {
    v.get("id").and_then(Value::as_i64)
}

impl RealHost {
    /// A client of the host at `base_url` with its admin API key.
    pub fn new(base_url: &str, admin_key: &str, api: Client) -> RealHost {
        RealHost {
            base_url: base_url.trim_end_matches('/').to_string(),
            admin_key: admin_key.to_string(),
            api,
        }
    }

    fn admin_get(&self, path: &str) -> Result<Value> {
        let r = self
            .api
            .get_with(path, &[("x-api-key", self.admin_key.as_str())])?;
        if r.status == 404 && !r.body.is_object() {
            // A route this build lacks (plain-text 404): nothing of that kind.
            return Ok(Value::Null);
        }
        if r.status != 200 || r.body.get("code") != Some(&json!(0)) {
            let reason = r
                .body
                .get("reason")
                .or_else(|| r.body.get("code"))
                .cloned()
                .unwrap_or(Value::Null);
            bail!("GET {path} on the host answered {} ({reason})", r.status);
        }
        Ok(r.body["data"].clone())
    }

    /// Every item of a list route (all pages), sorted by id.
    fn list(&self, path: &str) -> Result<Vec<Value>> {
        let mut items = Vec::new();
        let mut page = 1;
        loop {
            let sep = if path.contains('?') { '&' } else { '?' };
            let data = self.admin_get(&format!("{path}{sep}page={page}&page_size=100"))?;
            match data {
                Value::Null => break,
                Value::Array(a) => {
                    items.extend(a);
                    break;
                }
                Value::Object(o) => {
                    let got = o.get("items").and_then(Value::as_array).cloned();
                    let got = got.unwrap_or_default();
                    let n = got.len();
                    items.extend(got);
                    let pages = o.get("pages").and_then(Value::as_i64).unwrap_or(1);
                    if n == 0 || page >= pages {
                        break;
                    }
                    page += 1;
                }
                other => bail!("GET {path}: unexpected data {}", short_type(&other)),
            }
        }
        items.sort_by_key(|v| id_of(v).unwrap_or(i64::MAX));
        Ok(items)
    }

    /// Everything on the host, by kind, in the mock's dump shape; user key values
    /// are masked (with their SHA-256 beside them, as the mock dumps them).
    fn everything(&self) -> Result<BTreeMap<String, Vec<Value>>> {
        let mut all = BTreeMap::new();
        for (kind, path) in LISTS {
            all.insert(kind.to_string(), self.list(path)?);
        }
        let mut keys = Vec::new();
        for u in &all["users"] {
            let Some(uid) = id_of(u) else { continue };
            for mut k in self.list(&format!("/api/v1/admin/users/{uid}/api-keys"))? {
                if let Some(value) = k.get("key").and_then(Value::as_str).map(str::to_string) {
                    k["key_sha256"] = json!(sha256_hex(value.as_bytes()));
                    k["key"] = json!(mask(&value));
                }
                keys.push(k);
            }
        }
        keys.sort_by_key(|v| id_of(v).unwrap_or(i64::MAX));
        all.insert("api_keys".to_string(), keys);
        Ok(all)
    }

    /// The baseline: what is on the host now.
    pub fn baseline(&self) -> Result<Baseline> {
        let all = self.everything()?;
        let admin_id = all["users"]
            .iter()
            .filter(|u| u["role"] == "admin" && u["status"] == "active")
            .filter_map(id_of)
            .min();
        let ids = all
            .iter()
            .map(|(k, v)| (k.clone(), v.iter().filter_map(id_of).collect()))
            .collect();
        Ok(Baseline { ids, admin_id })
    }

    /// The host's objects that are not in `base` (plus the first admin), in the shape
    /// of `GET /__mock/state`.
    pub fn view(&self, base: &Baseline) -> Result<Value> {
        let all = self.everything()?;
        let mut out = serde_json::Map::new();
        for kind in HOST_KINDS {
            let known = base.ids.get(kind);
            let kept: Vec<Value> = all
                .get(kind)
                .map(|v| {
                    v.iter()
                        .filter(|o| {
                            let id = id_of(o);
                            (kind == "users" && id.is_some() && id == base.admin_id)
                                || known.is_none_or(|k| !id.is_some_and(|i| k.contains(&i)))
                        })
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            out.insert(kind.to_string(), Value::Array(kept));
        }
        Ok(Value::Object(out))
    }

    /// Deletes what is on the host beyond `base`, dependants first (subscriptions,
    /// users with their keys, accounts, channels, plans, groups). Returns what it
    /// could not delete.
    pub fn clean_up(&self, base: &Baseline) -> Result<Vec<String>> {
        let view = self.view(base)?;
        let mut left = Vec::new();
        let order = [
            ("subscriptions", "/api/v1/admin/subscriptions"),
            ("users", "/api/v1/admin/users"),
            ("accounts", "/api/v1/admin/accounts"),
            ("channels", "/api/v1/admin/channels"),
            ("plans", "/api/v1/admin/payment/plans"),
            ("groups", "/api/v1/admin/groups"),
        ];
        for (kind, path) in order {
            for o in view[kind].as_array().into_iter().flatten() {
                let Some(id) = id_of(o) else { continue };
                if kind == "subscriptions" && o["status"] == "revoked" {
                    continue; // already soft-deleted
                }
                if kind == "users" && Some(id) == base.admin_id {
                    continue;
                }
                let r = self.api.send(
                    "DELETE",
                    &format!("{path}/{id}"),
                    None,
                    &[("x-api-key", self.admin_key.as_str())],
                )?;
                // 404: gone with what it depended on (a user's keys, say).
                if r.status != 200 && r.status != 404 {
                    left.push(format!("{kind} {id} ({})", r.status));
                }
            }
        }
        Ok(left)
    }

    /// A call to the host's admin API (`x-api-key`).
    pub fn admin(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<crate::http::Reply> {
        self.api.send(
            method,
            path,
            body,
            &[("x-api-key", self.admin_key.as_str())],
        )
    }

    /// Fails with the operator's fix when the host's admin API is locked by the
    /// compliance statement or the key is refused.
    pub fn check_ready(&self) -> Result<String> {
        let r = self.admin("GET", "/api/v1/admin/system/version", None)?;
        match (r.status, r.body.get("code").and_then(Value::as_str)) {
            (200, _) => Ok(r.body["data"]["version"]
                .as_str()
                .unwrap_or_default()
                .to_string()),
            (423, Some("ADMIN_COMPLIANCE_ACK_REQUIRED")) => bail!(
                "the host's admin API is locked until its compliance statement {} is accepted by the \
                 first admin (Admin → compliance, or POST /api/v1/admin/compliance/accept as that admin); \
                 the acceptance run does not accept it for the operator",
                r.body["metadata"]["version"]
            ),
            (s, _) => bail!("the host refused the admin API key: GET /api/v1/admin/system/version answered {s}"),
        }
    }
}

fn short_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A copy of the pack at `src` (a directory) under `out`, every provider's
/// `base_url` set to `upstream` (or, `per_provider`, to `{upstream}/{provider_id}`),
/// re-checksummed with `relay pack checksum`.
pub fn pack_for_upstream(
    bin: &Path,
    src: &Path,
    out: &Path,
    upstream: &str,
    per_provider: bool,
) -> Result<PathBuf> {
    let name = src
        .file_name()
        .ok_or_else(|| anyhow!("{} has no name", src.display()))?;
    let dest = out.join(name);
    let _ = std::fs::remove_dir_all(&dest);
    copy_dir(src, &dest)?;
    let providers = dest.join("providers");
    for entry in std::fs::read_dir(&providers)
        .with_context(|| format!("cannot list {}", providers.display()))?
    {
        let path = entry?.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let text = std::fs::read_to_string(&path)?;
        let mut v: Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not JSON", path.display()))?;
        v["base_url"] = if per_provider {
            let id = v["provider_id"]
                .as_str()
                .ok_or_else(|| anyhow!("{} has no provider_id", path.display()))?;
            json!(format!("{upstream}/{id}"))
        } else {
            json!(upstream)
        };
        std::fs::write(&path, serde_json::to_vec_pretty(&v)?)?;
    }
    let status = std::process::Command::new(bin.join("relay"))
        .args(["pack", "checksum"])
        .arg(&dest)
        .stdout(std::process::Stdio::null())
        .status()
        .context("cannot run relay pack checksum")?;
    if !status.success() {
        bail!("relay pack checksum {} failed", dest.display());
    }
    Ok(dest)
}

fn copy_dir(src: &Path, dest: &Path) -> Result<()> {
    std::fs::create_dir_all(dest)?;
    for entry in std::fs::read_dir(src)? {
        let entry = entry?;
        let to = dest.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &to)?;
        } else {
            std::fs::copy(entry.path(), &to)?;
        }
    }
    Ok(())
}
