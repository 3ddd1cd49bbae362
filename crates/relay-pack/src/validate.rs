//! Whole-pack validation (SPEC §4.2): every problem of every file, reported at once.
//!
//! Manifests are read field by field from a parsed JSON value, so one typo does not hide
//! the next problem. Problems name the file and the field path (`channel_template.model_pricing[0].input_price`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::str::FromStr;

use relay_domain::UnknownStatus;
use semver::{Version, VersionReq};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::alias::normalize_model_name;
use crate::checksums;
use crate::key_hint::Pattern;
use crate::manifest::*;
use crate::Problem;

/// A `relay-domain` vocabulary parsed from a pack, its error in the words of this
/// module's own enums (`"x" is not one of a, b`).
fn parse_domain<T: FromStr<Err = UnknownStatus>>(text: &str) -> Result<T, String> {
    text.parse::<T>()
        .map_err(|e| format!("\"{}\" is not one of {}", e.value, e.expected))
}

/// Name of the pack manifest at the pack root.
pub const PACK_FILE: &str = "pack.json";
/// Directory holding provider manifests.
pub const PROVIDERS_DIR: &str = "providers/";

/// Whether `id` is a valid pack or provider id: `^[a-z0-9][a-z0-9-]*$`.
pub fn is_valid_id(id: &str) -> bool {
    let mut bytes = id.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Checks that `url` is an absolute `https://` URL with a plain host, optional port and
/// optional path (no credentials, query, fragment or whitespace). Plain `http://` is
/// accepted only for a loopback host (a vendor or proxy on the host's own machine),
/// where the key never crosses a network.
pub fn check_base_url(url: &str) -> Result<(), String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!("base_url \"{url}\" is not an absolute URL"));
    };
    if scheme.is_empty()
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    {
        return Err(format!("base_url \"{url}\" is not an absolute URL"));
    }
    let must_use_https = || format!("base_url \"{url}\" must use https (scheme is \"{scheme}\")");
    let plain_http = scheme.eq_ignore_ascii_case("http");
    if !scheme.eq_ignore_ascii_case("https") && !plain_http {
        return Err(must_use_https());
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("base_url {url:?} contains whitespace"));
    }
    if rest.contains(['?', '#']) {
        return Err(format!(
            "base_url \"{url}\" must not have a query or fragment"
        ));
    }
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.contains('@') {
        return Err(format!("base_url \"{url}\" must not embed credentials"));
    }
    let invalid_host = || format!("base_url \"{url}\" has an invalid host");
    let (host, port) = if authority.starts_with('[') {
        let end = authority.find(']').ok_or_else(invalid_host)?;
        let (host, rest) = authority.split_at(end + 1);
        match rest {
            "" => (host, None),
            rest => (host, Some(rest.strip_prefix(':').ok_or_else(invalid_host)?)),
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let host_ok = if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        !inner.is_empty()
            && inner
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
    } else {
        !host.is_empty()
            && host.split('.').all(|label| {
                !label.is_empty()
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
    };
    if !host_ok {
        return Err(invalid_host());
    }
    if plain_http && !relay_domain::net::is_loopback_host(host) {
        return Err(must_use_https());
    }
    if let Some(port) = port {
        if port.parse::<u16>().map_or(true, |p| p == 0) {
            return Err(format!("base_url \"{url}\" has an invalid port"));
        }
    }
    Ok(())
}

/// The result of validating a pack's files.
pub(crate) struct Validated {
    pub manifest: PackManifest,
    pub providers: Vec<ProviderManifest>,
}

/// Validates every file; `problems` may already hold problems found while collecting them.
pub(crate) fn validate(
    files: &BTreeMap<String, Vec<u8>>,
    mut problems: Vec<Problem>,
) -> Result<Validated, Vec<Problem>> {
    checksums::check(files, &mut problems);

    let manifest = match files.get(PACK_FILE) {
        None => {
            problems.push(Problem::new(PACK_FILE, None, "file is missing"));
            None
        }
        Some(bytes) => parse_object(PACK_FILE, bytes, &mut problems)
            .and_then(|obj| read_pack(&obj, &mut problems)),
    };

    let mut providers = Vec::new();
    let mut seen_ids: HashMap<String, String> = HashMap::new();
    let mut provider_files = 0usize;
    for (path, bytes) in files.iter().filter(|(p, _)| p.starts_with(PROVIDERS_DIR)) {
        let name = &path[PROVIDERS_DIR.len()..];
        let Some(stem) = name
            .strip_suffix(".json")
            .filter(|s| !s.contains('/') && !s.is_empty())
        else {
            problems.push(Problem::new(
                path,
                None,
                "only provider manifests (providers/<provider_id>.json) may live under providers/",
            ));
            continue;
        };
        provider_files += 1;
        let Some(obj) = parse_object(path, bytes, &mut problems) else {
            continue;
        };
        if let Some(id) = obj.get("provider_id").and_then(Value::as_str) {
            if let Some(first) = seen_ids.get(id) {
                problems.push(Problem::new(
                    path,
                    Some("provider_id"),
                    format!("provider_id \"{id}\" is also declared by {first}"),
                ));
            } else {
                seen_ids.insert(id.to_owned(), path.clone());
            }
        }
        if let Some(provider) = read_provider(path, stem, &obj, &mut problems) {
            providers.push(provider);
        }
    }
    if provider_files == 0 {
        problems.push(Problem::new(
            PROVIDERS_DIR,
            None,
            "the pack has no provider manifests (expected providers/<provider_id>.json)",
        ));
    }

    match manifest {
        Some(manifest) if problems.is_empty() => {
            // The pack's key-health default reaches every provider without its own.
            if let Some(default) = manifest.key_health {
                for p in &mut providers {
                    p.key_health.get_or_insert(default);
                }
            }
            Ok(Validated {
                manifest,
                providers,
            })
        }
        _ => Err(problems),
    }
}

/// Parses `bytes` as a JSON object, reporting syntax errors with line and column.
fn parse_object(
    file: &str,
    bytes: &[u8],
    problems: &mut Vec<Problem>,
) -> Option<Map<String, Value>> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(obj)) => Some(obj),
        Ok(_) => {
            problems.push(Problem::new(file, None, "must hold a JSON object"));
            None
        }
        Err(e) => {
            let text = e.to_string();
            let suffix = format!(" at line {} column {}", e.line(), e.column());
            let reason = text.strip_suffix(&suffix).unwrap_or(&text);
            problems.push(Problem::new(
                file,
                None,
                format!(
                    "invalid JSON at line {}, column {}: {reason}",
                    e.line(),
                    e.column()
                ),
            ));
            None
        }
    }
}

/// Reads the fields of one JSON object, recording a problem for each missing, mistyped or
/// unknown field. `path` is the dotted prefix of the object inside its file.
struct Fields<'a> {
    file: &'a str,
    path: String,
    obj: &'a Map<String, Value>,
    problems: &'a mut Vec<Problem>,
}

impl<'a> Fields<'a> {
    fn new(
        file: &'a str,
        path: &str,
        obj: &'a Map<String, Value>,
        problems: &'a mut Vec<Problem>,
    ) -> Self {
        Self {
            file,
            path: path.to_owned(),
            obj,
            problems,
        }
    }

    fn field_path(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.path)
        }
    }

    fn problem(&mut self, field: &str, message: impl Into<String>) {
        self.problems
            .push(Problem::new(self.file, Some(field), message));
    }

    /// Reports each key of the object that is not in `known`.
    fn deny_unknown(&mut self, known: &[&str]) {
        let unknown: Vec<String> = self
            .obj
            .keys()
            .filter(|k| !known.contains(&k.as_str()))
            .cloned()
            .collect();
        for key in unknown {
            // A key that is not a plain name (empty, or holding quotes, dots, line breaks or
            // other control characters) is shown JSON-quoted in brackets, so the field path
            // names it and no text of the pack can break the problem's line.
            let plain = !key.is_empty()
                && key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            let path = if plain {
                self.field_path(&key)
            } else {
                // JSON leaves DEL and the C1 controls as they are: escape them too.
                let quoted: String = serde_json::to_string(&key)
                    .unwrap_or_default()
                    .chars()
                    .map(|c| {
                        if c.is_control() {
                            format!("\\u{:04x}", u32::from(c))
                        } else {
                            c.to_string()
                        }
                    })
                    .collect();
                format!("{}[{quoted}]", self.path)
            };
            self.problem(
                &path,
                format!(
                    "unknown field \"{path}\" (expected one of: {})",
                    known.join(", ")
                ),
            );
        }
    }

    fn convert<T: DeserializeOwned>(&mut self, name: &str, value: &Value) -> Option<T> {
        match serde_json::from_value::<T>(value.clone()) {
            Ok(v) => Some(v),
            Err(e) => {
                let path = self.field_path(name);
                self.problem(&path, format!("{path}: {e}"));
                None
            }
        }
    }

    /// A required field; `None` after recording a problem when missing or mistyped.
    fn required<T: DeserializeOwned>(&mut self, name: &str) -> Option<T> {
        match self.obj.get(name) {
            None => {
                let path = self.field_path(name);
                self.problem(&path, format!("missing required field \"{path}\""));
                None
            }
            Some(value) => self.convert(name, value),
        }
    }

    /// An optional field (`null` counts as absent); `Err(())` when present but mistyped.
    fn optional<T: DeserializeOwned>(&mut self, name: &str) -> Result<Option<T>, ()> {
        match self.obj.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => self.convert(name, value).map(Some).ok_or(()),
        }
    }

    /// A required string field parsed into an enum-like type with `FromStr<Err = String>`.
    fn required_enum<T: FromStr<Err = String>>(&mut self, name: &str) -> Option<T> {
        let text: String = self.required(name)?;
        self.parse_enum(name, &text)
    }

    /// A required string field parsed into a `relay-domain` vocabulary.
    fn required_domain_enum<T: FromStr<Err = UnknownStatus>>(&mut self, name: &str) -> Option<T> {
        let text: String = self.required(name)?;
        self.parse_with(name, &text, parse_domain::<T>)
    }

    fn parse_enum<T: FromStr<Err = String>>(&mut self, name: &str, text: &str) -> Option<T> {
        self.parse_with(name, text, str::parse::<T>)
    }

    /// Parses `text` with `parse`, reporting its error under field `name`.
    fn parse_with<T>(
        &mut self,
        name: &str,
        text: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        match parse(text) {
            Ok(v) => Some(v),
            Err(reason) => {
                let path = self.field_path(name);
                self.problem(&path, format!("{path} {reason}"));
                None
            }
        }
    }

    /// A required nested object.
    fn required_object(&mut self, name: &str) -> Option<&'a Map<String, Value>> {
        match self.obj.get(name) {
            None => {
                let path = self.field_path(name);
                self.problem(&path, format!("missing required field \"{path}\""));
                None
            }
            Some(Value::Object(obj)) => Some(obj),
            Some(_) => {
                let path = self.field_path(name);
                self.problem(&path, format!("{path} must be a JSON object"));
                None
            }
        }
    }
}

fn read_pack(obj: &Map<String, Value>, problems: &mut Vec<Problem>) -> Option<PackManifest> {
    let mut f = Fields::new(PACK_FILE, "", obj, problems);
    f.deny_unknown(&[
        "pack_id",
        "version",
        "name",
        "description",
        "host_compat",
        "key_health",
    ]);
    let pack_id: Option<String> = f.required("pack_id");
    if let Some(id) = &pack_id {
        if !is_valid_id(id) {
            f.problem(
                "pack_id",
                format!("pack_id \"{id}\" must match ^[a-z0-9][a-z0-9-]*$"),
            );
        }
    }
    let version = f
        .required::<String>("version")
        .and_then(|v| match Version::parse(v.trim()) {
            Ok(version) => Some(version),
            Err(e) => {
                f.problem(
                    "version",
                    format!("version \"{v}\" is not valid semver: {e}"),
                );
                None
            }
        });
    let name: Option<String> = f.required("name");
    if name.as_deref().is_some_and(|n| n.trim().is_empty()) {
        f.problem("name", "name must not be empty");
    }
    let description: Option<String> = f.required("description");
    let host_compat =
        f.required::<String>("host_compat")
            .and_then(|r| match VersionReq::parse(r.trim()) {
                Ok(req) => Some(req),
                Err(e) => {
                    f.problem(
                        "host_compat",
                        format!("host_compat \"{r}\" is not a valid semver requirement: {e}"),
                    );
                    None
                }
            });
    let key_health = read_key_health(&mut f);
    Some(PackManifest {
        pack_id: pack_id.filter(|id| is_valid_id(id))?,
        version: version?,
        name: name?,
        description: description?,
        host_compat: host_compat?,
        key_health: key_health.ok()?,
    })
}

const PROVIDER_FIELDS: &[&str] = &[
    "provider_id",
    "display_name",
    "platform",
    "native_platform",
    "account_type",
    "base_url",
    "default_models",
    "smoke_test_model",
    "model_aliases",
    "key_hint",
    "group_template",
    "channel_template",
    "plan_template",
    "capabilities",
    "force_disable_openai_responses_api",
    "host_overlays",
    "key_health",
];

fn read_provider(
    file: &str,
    stem: &str,
    obj: &Map<String, Value>,
    problems: &mut Vec<Problem>,
) -> Option<ProviderManifest> {
    let before = problems.len();
    let mut f = Fields::new(file, "", obj, problems);
    f.deny_unknown(PROVIDER_FIELDS);

    let provider_id: Option<String> = f.required("provider_id");
    if let Some(id) = &provider_id {
        if !is_valid_id(id) {
            f.problem(
                "provider_id",
                format!("provider_id \"{id}\" must match ^[a-z0-9][a-z0-9-]*$"),
            );
        } else if id != stem {
            f.problem(
                "provider_id",
                format!("provider_id \"{id}\" does not match the file name (expected providers/{id}.json)"),
            );
        }
    }
    let display_name: Option<String> = f.required("display_name");
    if display_name.as_deref().is_some_and(|n| n.trim().is_empty()) {
        f.problem("display_name", "display_name must not be empty");
    }
    let platform: Option<Platform> = f.required_domain_enum("platform");
    let native_platform = read_native_platform(&mut f, platform);
    let account_type: Option<AccountType> = f.required_enum("account_type");
    let base_url: Option<String> = f.required("base_url");
    if let Some(url) = &base_url {
        if let Err(message) = check_base_url(url) {
            f.problem("base_url", message);
        }
    }

    let default_models: Option<Vec<String>> = f.required("default_models");
    if let Some(models) = &default_models {
        check_default_models(&mut f, models);
    }
    let defaults: HashSet<&str> = default_models
        .iter()
        .flatten()
        .map(String::as_str)
        .collect();
    let known = |model: &str| default_models.is_none() || defaults.contains(model);

    let smoke_test_model: Option<String> = f.required("smoke_test_model");
    if let Some(smoke) = &smoke_test_model {
        if !known(smoke) {
            f.problem(
                "smoke_test_model",
                format!("smoke_test_model \"{smoke}\" is not in default_models"),
            );
        }
    }
    let model_aliases: Option<BTreeMap<String, String>> = f
        .optional("model_aliases")
        .ok()
        .map(Option::unwrap_or_default);
    if let (Some(aliases), Some(models)) = (&model_aliases, &default_models) {
        check_aliases(&mut f, aliases, models);
    }
    let key_hint = read_key_hint(&mut f);
    let group_template = f
        .required_object("group_template")
        .and_then(|o| read_group(file, o, f.problems));
    let channel_template = f
        .required_object("channel_template")
        .and_then(|o| read_channel(file, o, f.problems, default_models.as_deref()));
    let plan_template = f
        .required_object("plan_template")
        .and_then(|o| read_plan(file, o, f.problems));
    let capabilities = f
        .required_object("capabilities")
        .and_then(|o| read_capabilities(file, o, f.problems));
    let force_disable: Option<bool> = f.required("force_disable_openai_responses_api");
    let host_overlays = read_overlays(&mut f);
    let key_health = read_key_health(&mut f);

    if problems.len() != before {
        return None;
    }
    Some(ProviderManifest {
        provider_id: provider_id?,
        display_name: display_name?,
        platform: platform?,
        native_platform: native_platform.ok()?,
        account_type: account_type?,
        base_url: base_url?,
        default_models: default_models?,
        smoke_test_model: smoke_test_model?,
        model_aliases: model_aliases?,
        key_hint: key_hint.ok()?,
        group_template: group_template?,
        channel_template: channel_template?,
        plan_template: plan_template?,
        capabilities: capabilities?,
        force_disable_openai_responses_api: force_disable?,
        host_overlays: host_overlays?,
        key_health: key_health.ok()?,
    })
}

/// The optional `key_health` object of `pack.json` or a provider manifest.
fn read_key_health(f: &mut Fields<'_>) -> Result<Option<KeyHealthSettings>, ()> {
    let obj = match f.obj.get("key_health") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(obj)) => obj,
        Some(_) => {
            f.problem(
                "key_health",
                "key_health must be an object like {\"max_failures\": 3, \"window_minutes\": 60}",
            );
            return Err(());
        }
    };
    let before = f.problems.len();
    let mut k = Fields::new(f.file, "key_health", obj, f.problems);
    k.deny_unknown(&["max_failures", "window_minutes"]);
    let max_failures: Option<u32> = k.required("max_failures");
    if let Some(n) = max_failures {
        if n == 0 || n > KeyHealthSettings::MAX_FAILURES {
            k.problem(
                "key_health.max_failures",
                format!(
                    "key_health.max_failures must be between 1 and {} (got {n})",
                    KeyHealthSettings::MAX_FAILURES
                ),
            );
        }
    }
    let window_minutes: Option<u32> = k.required("window_minutes");
    if let Some(w) = window_minutes {
        if w == 0 || w > KeyHealthSettings::MAX_WINDOW_MINUTES {
            k.problem(
                "key_health.window_minutes",
                format!(
                    "key_health.window_minutes must be between 1 and {} (a week) (got {w})",
                    KeyHealthSettings::MAX_WINDOW_MINUTES
                ),
            );
        }
    }
    if k.problems.len() != before {
        return Err(());
    }
    match (max_failures, window_minutes) {
        (Some(max_failures), Some(window_minutes)) => Ok(Some(KeyHealthSettings {
            max_failures,
            window_minutes,
        })),
        _ => Err(()),
    }
}

fn check_default_models(f: &mut Fields<'_>, models: &[String]) {
    if models.is_empty() {
        f.problem("default_models", "default_models must not be empty");
    }
    let mut normalized: HashMap<String, &str> = HashMap::new();
    for (i, model) in models.iter().enumerate() {
        let field = format!("default_models[{i}]");
        if model.trim().is_empty() || model.trim() != model {
            f.problem(
                &field,
                format!("{field} {model:?} must be non-empty without surrounding whitespace"),
            );
            continue;
        }
        match normalized.get(&normalize_model_name(model)) {
            Some(first) if *first == model => {
                f.problem(&field, format!("{field} \"{model}\" is listed twice"))
            }
            Some(first) => f.problem(
                &field,
                format!(
                    "{field} \"{model}\" is indistinguishable from \"{first}\" after normalisation"
                ),
            ),
            None => {
                normalized.insert(normalize_model_name(model), model);
            }
        }
    }
}

fn check_aliases(f: &mut Fields<'_>, aliases: &BTreeMap<String, String>, models: &[String]) {
    let by_norm: HashMap<String, &str> = models
        .iter()
        .map(|m| (normalize_model_name(m), m.as_str()))
        .collect();
    let mut alias_norms: HashMap<String, (&str, &str)> = HashMap::new();
    for (alias, target) in aliases {
        let field = format!("model_aliases.{alias}");
        let norm = normalize_model_name(alias);
        if norm.is_empty() {
            f.problem(&field, "model_aliases has an empty alias");
            continue;
        }
        if !models.contains(target) {
            f.problem(&field, format!("model_aliases \"{alias}\" targets \"{target}\", which is not in default_models"));
            continue;
        }
        if let Some(model) = by_norm.get(&norm).filter(|m| **m != target) {
            f.problem(
                &field,
                format!("model_aliases \"{alias}\" targets \"{target}\" but already names default model \"{model}\""),
            );
        }
        match alias_norms.get(&norm) {
            Some((other, other_target)) if *other_target != target => f.problem(
                &field,
                format!("model_aliases \"{alias}\" and \"{other}\" are the same after normalisation but target different models"),
            ),
            _ => {
                alias_norms.insert(norm, (alias, target));
            }
        }
    }
}

/// `native_platform`: `{"platform": <kimi|zhipu|deepseek>, "host_version": <semver
/// requirement>}`, a platform other than the fallback `platform`.
fn read_native_platform(
    f: &mut Fields<'_>,
    fallback: Option<Platform>,
) -> Result<Option<NativePlatform>, ()> {
    let obj = match f.obj.get("native_platform") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(obj)) => obj,
        Some(_) => {
            f.problem(
                "native_platform",
                "native_platform must be an object like {\"platform\": \"deepseek\", \"host_version\": \">=0.1.178\"}",
            );
            return Err(());
        }
    };
    let before = f.problems.len();
    let mut n = Fields::new(f.file, "native_platform", obj, f.problems);
    n.deny_unknown(&["platform", "host_version"]);
    let platform: Option<Platform> = n.required_domain_enum("platform");
    match platform {
        Some(p) if !p.is_cn_native() => n.problem(
            "native_platform.platform",
            format!(
                "native_platform.platform \"{p}\" is not one of the host's native CN platforms ({})",
                Platform::CN_NATIVE.join(", ")
            ),
        ),
        Some(p) if Some(p) == fallback => n.problem(
            "native_platform.platform",
            format!("native_platform.platform \"{p}\" is already the provider's platform; drop native_platform or set platform to the fallback (e.g. openai)"),
        ),
        _ => {}
    }
    let host_version = n
        .required::<String>("host_version")
        .and_then(|r| match VersionReq::parse(r.trim()) {
            Ok(req) => Some(req),
            Err(e) => {
                n.problem(
                    "native_platform.host_version",
                    format!("native_platform.host_version \"{r}\" is not a valid semver requirement: {e}"),
                );
                None
            }
        });
    if n.problems.len() != before {
        return Err(());
    }
    match (platform, host_version) {
        (Some(platform), Some(host_version)) => Ok(Some(NativePlatform {
            platform,
            host_version,
        })),
        _ => Err(()),
    }
}

fn read_key_hint(f: &mut Fields<'_>) -> Result<Option<KeyHint>, ()> {
    let Some(obj) = (match f.obj.get("key_hint") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(obj)) => Some(obj),
        Some(_) => None,
    }) else {
        f.problem("key_hint", "key_hint must be an object like {\"prefixes\": [\"sk-\"], \"pattern\": \"sk-{hex:32}\"}");
        return Err(());
    };
    let before = f.problems.len();
    let mut k = Fields::new(f.file, "key_hint", obj, f.problems);
    k.deny_unknown(&["prefixes", "pattern", "note"]);
    let prefixes: Vec<String> = k.optional("prefixes")?.unwrap_or_default();
    if prefixes.iter().any(|p| p.is_empty()) {
        k.problem(
            "key_hint.prefixes",
            "key_hint.prefixes must not contain an empty prefix",
        );
    }
    let pattern: Option<String> = k.optional("pattern")?;
    if let Some(pattern) = &pattern {
        if let Err(reason) = Pattern::parse(pattern) {
            k.problem("key_hint.pattern", format!("key_hint.pattern: {reason}"));
        }
    }
    let note: Option<String> = k.optional("note")?;
    if prefixes.is_empty() && pattern.is_none() {
        k.problem("key_hint", "key_hint needs prefixes or a pattern");
    }
    if k.problems.len() != before {
        return Err(());
    }
    Ok(Some(KeyHint {
        prefixes,
        pattern,
        note,
    }))
}

fn check_non_negative(
    f: &mut Fields<'_>,
    name: &str,
    value: Option<f64>,
    strictly_positive: bool,
) -> Option<f64> {
    let value = value?;
    let ok = value.is_finite()
        && if strictly_positive {
            value > 0.0
        } else {
            value >= 0.0
        };
    if !ok {
        let path = f.field_path(name);
        let want = if strictly_positive { "> 0" } else { ">= 0" };
        f.problem(
            &path,
            format!("{path} must be a finite number {want} (got {value})"),
        );
        return None;
    }
    Some(value)
}

fn read_group(
    file: &str,
    obj: &Map<String, Value>,
    problems: &mut Vec<Problem>,
) -> Option<GroupTemplate> {
    let mut f = Fields::new(file, "group_template", obj, problems);
    f.deny_unknown(&[
        "rate_multiplier",
        "daily_limit_usd",
        "weekly_limit_usd",
        "monthly_limit_usd",
    ]);
    let rate: Option<f64> = f.required("rate_multiplier");
    let rate = check_non_negative(&mut f, "rate_multiplier", rate, true);
    let limit = |f: &mut Fields<'_>, name: &str| -> Result<Option<f64>, ()> {
        match f.optional::<f64>(name)? {
            None => Ok(None),
            Some(v) => check_non_negative(f, name, Some(v), false)
                .map(Some)
                .ok_or(()),
        }
    };
    let daily = limit(&mut f, "daily_limit_usd");
    let weekly = limit(&mut f, "weekly_limit_usd");
    let monthly = limit(&mut f, "monthly_limit_usd");
    Some(GroupTemplate {
        rate_multiplier: rate?,
        daily_limit_usd: daily.ok()?,
        weekly_limit_usd: weekly.ok()?,
        monthly_limit_usd: monthly.ok()?,
    })
}

fn read_channel(
    file: &str,
    obj: &Map<String, Value>,
    problems: &mut Vec<Problem>,
    defaults: Option<&[String]>,
) -> Option<ChannelTemplate> {
    let before = problems.len();
    let mut f = Fields::new(file, "channel_template", obj, problems);
    f.deny_unknown(&[
        "model_mapping",
        "model_pricing",
        "billing_model_source",
        "restrict_models",
    ]);
    let is_default = |m: &str| defaults.is_none_or(|d| d.iter().any(|x| x == m));

    let mapping: Option<BTreeMap<String, String>> = f.required("model_mapping");
    for (from, to) in mapping.iter().flatten() {
        let field = format!("channel_template.model_mapping.{from}");
        if from.trim().is_empty() {
            f.problem(
                &field,
                "channel_template.model_mapping has an empty model name",
            );
        } else if !is_default(to) {
            f.problem(
                &field,
                format!("{field} maps to \"{to}\", which is not in default_models"),
            );
        }
    }

    let pricing_values: Vec<Value> = f
        .optional("model_pricing")
        .ok()
        .flatten()
        .unwrap_or_default();
    let mut pricing = Vec::new();
    let mut priced: HashMap<String, usize> = HashMap::new();
    for (i, value) in pricing_values.iter().enumerate() {
        let path = format!("channel_template.model_pricing[{i}]");
        let Value::Object(entry) = value else {
            f.problem(&path, format!("{path} must be a JSON object"));
            continue;
        };
        let mut e = Fields::new(file, &path, entry, f.problems);
        e.deny_unknown(&["models", "input_price", "output_price", "billing_mode"]);
        let models: Option<Vec<String>> = e.required("models");
        if let Some(models) = &models {
            if models.is_empty() {
                e.problem(
                    &format!("{path}.models"),
                    format!("{path}.models must not be empty"),
                );
            }
            for model in models {
                let field = format!("{path}.models");
                if let Some(first) = priced.insert(model.clone(), i) {
                    e.problem(
                        &field,
                        format!("{field}: \"{model}\" is already priced by model_pricing[{first}]"),
                    );
                } else if !model.ends_with('*') && !is_default(model) {
                    e.problem(
                        &field,
                        format!("{field}: \"{model}\" is not in default_models"),
                    );
                }
            }
        }
        let input: Option<f64> = e.required("input_price");
        let input = check_non_negative(&mut e, "input_price", input, false);
        let output: Option<f64> = e.required("output_price");
        let output = check_non_negative(&mut e, "output_price", output, false);
        let mode = match e.optional::<String>("billing_mode") {
            Ok(None) => Some(BillingMode::Token),
            Ok(Some(text)) => e.parse_enum("billing_mode", &text),
            Err(()) => None,
        };
        if let (Some(models), Some(input_price), Some(output_price), Some(billing_mode)) =
            (models, input, output, mode)
        {
            pricing.push(ModelPricing {
                models,
                input_price,
                output_price,
                billing_mode,
            });
        }
    }

    let source = match f.optional::<String>("billing_model_source") {
        Ok(None) => Some(None),
        Ok(Some(text)) => f
            .parse_enum::<BillingModelSource>("billing_model_source", &text)
            .map(Some),
        Err(()) => None,
    };
    let restrict: Option<bool> = f
        .optional("restrict_models")
        .ok()
        .map(Option::unwrap_or_default);
    if let (Some(true), Some(defaults)) = (restrict, defaults) {
        for model in defaults {
            let covered =
                pricing
                    .iter()
                    .flat_map(|p| &p.models)
                    .any(|p| match p.strip_suffix('*') {
                        Some(prefix) => model.starts_with(prefix),
                        None => p == model,
                    });
            if !covered {
                f.problem(
                    "channel_template.restrict_models",
                    format!("channel_template.restrict_models is true but default model \"{model}\" has no model_pricing entry"),
                );
            }
        }
    }
    if problems.len() != before {
        return None;
    }
    Some(ChannelTemplate {
        model_mapping: mapping?,
        model_pricing: pricing,
        billing_model_source: source?,
        restrict_models: restrict?,
    })
}

fn read_plan(
    file: &str,
    obj: &Map<String, Value>,
    problems: &mut Vec<Problem>,
) -> Option<PlanTemplate> {
    let mut f = Fields::new(file, "plan_template", obj, problems);
    f.deny_unknown(&["price", "validity_days", "validity_unit"]);
    let price: Option<f64> = f.required("price");
    let price = check_non_negative(&mut f, "price", price, true);
    let days: Option<u32> = f.required("validity_days");
    if days == Some(0) {
        f.problem(
            "plan_template.validity_days",
            "plan_template.validity_days must be > 0",
        );
    }
    let unit: Option<ValidityUnit> = f.required_enum("validity_unit");
    Some(PlanTemplate {
        price: price?,
        validity_days: days.filter(|d| *d > 0)?,
        validity_unit: unit?,
    })
}

fn read_capabilities(
    file: &str,
    obj: &Map<String, Value>,
    problems: &mut Vec<Problem>,
) -> Option<Capabilities> {
    let mut f = Fields::new(file, "capabilities", obj, problems);
    f.deny_unknown(&[
        "chat_completions",
        "responses_api",
        "anthropic_messages",
        "stream",
        "tools",
    ]);
    let chat = f.required("chat_completions");
    let responses = f.required("responses_api");
    let anthropic = f.required("anthropic_messages");
    let stream = f.required("stream");
    let tools = f.required("tools");
    Some(Capabilities {
        chat_completions: chat?,
        responses_api: responses?,
        anthropic_messages: anthropic?,
        stream: stream?,
        tools: tools?,
    })
}

fn read_overlays(f: &mut Fields<'_>) -> Option<Vec<HostOverlay>> {
    let values: Vec<Value> = f.optional("host_overlays").ok()?.unwrap_or_default();
    let mut overlays = Vec::new();
    let mut ok = true;
    for (i, value) in values.iter().enumerate() {
        let path = format!("host_overlays[{i}]");
        let Value::Object(obj) = value else {
            f.problem(&path, format!("{path} must be a JSON object"));
            ok = false;
            continue;
        };
        let mut o = Fields::new(f.file, &path, obj, f.problems);
        o.deny_unknown(&["host_version", "note", "severity"]);
        let req =
            o.required::<String>("host_version")
                .and_then(|r| match VersionReq::parse(r.trim()) {
                    Ok(req) => Some(req),
                    Err(e) => {
                        let field = format!("{path}.host_version");
                        o.problem(
                            &field,
                            format!("{field} \"{r}\" is not a valid semver requirement: {e}"),
                        );
                        None
                    }
                });
        let note: Option<String> = o.required("note");
        if note.as_deref().is_some_and(|n| n.trim().is_empty()) {
            o.problem(
                &format!("{path}.note"),
                format!("{path}.note must not be empty"),
            );
        }
        let severity = match o.optional::<String>("severity") {
            Ok(None) => Some(Severity::Info),
            Ok(Some(text)) => o.parse_with("severity", &text, parse_domain::<Severity>),
            Err(()) => None,
        };
        match (req, note.filter(|n| !n.trim().is_empty()), severity) {
            (Some(host_version), Some(note), Some(severity)) => overlays.push(HostOverlay {
                host_version,
                note,
                severity,
            }),
            _ => ok = false,
        }
    }
    ok.then_some(overlays)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(is_valid_id("deepseek"));
        assert!(is_valid_id("moonshot-global"));
        assert!(is_valid_id("0x"));
        assert!(!is_valid_id(""));
        assert!(!is_valid_id("-a"));
        assert!(!is_valid_id("DeepSeek"));
        assert!(!is_valid_id("a_b"));
    }

    #[test]
    fn base_urls() {
        assert!(check_base_url("https://api.deepseek.com").is_ok());
        assert!(check_base_url("https://open.bigmodel.cn/api/paas/v4").is_ok());
        assert!(check_base_url("https://127.0.0.1:8443/v1").is_ok());
        assert!(check_base_url("https://[::1]:8443/v1").is_ok());
        assert!(check_base_url("https://[::1]/v1").is_ok());
        assert!(check_base_url("http://127.0.0.1:18490").is_ok());
        assert!(check_base_url("http://localhost:8080/v1").is_ok());
        assert!(check_base_url("http://[::1]:9/v1").is_ok());
        assert_eq!(
            check_base_url("http://10.0.0.7:8080/v1").unwrap_err(),
            "base_url \"http://10.0.0.7:8080/v1\" must use https (scheme is \"http\")"
        );
        assert!(check_base_url("ftp://127.0.0.1/v1").is_err());
        assert!(check_base_url("https://[::1]x/v1")
            .unwrap_err()
            .contains("invalid host"));
        assert_eq!(
            check_base_url("http://api.deepseek.com").unwrap_err(),
            "base_url \"http://api.deepseek.com\" must use https (scheme is \"http\")"
        );
        assert_eq!(
            check_base_url("api.deepseek.com").unwrap_err(),
            "base_url \"api.deepseek.com\" is not an absolute URL"
        );
        assert!(check_base_url("https://")
            .unwrap_err()
            .contains("invalid host"));
        assert!(check_base_url("https://a..b")
            .unwrap_err()
            .contains("invalid host"));
        assert!(check_base_url("https://a.b:0")
            .unwrap_err()
            .contains("invalid port"));
        assert!(check_base_url("https://a.b:x")
            .unwrap_err()
            .contains("invalid port"));
        assert!(check_base_url("https://u:p@a.b")
            .unwrap_err()
            .contains("credentials"));
        assert!(check_base_url("https://a.b/v1?x=1")
            .unwrap_err()
            .contains("query"));
        assert!(check_base_url("https://a b")
            .unwrap_err()
            .contains("whitespace"));
    }
}
