//! `cargo xtask record-host`: plays `fixtures/host/real/session.json` against a real
//! sub2api host and writes what it answered, scrubbed, as a contract fixture
//! (`fixtures/host/real/<version>/session.json`).
//!
//! The session starts from a fresh host (its first admin logs in; on builds with the
//! compliance lock the recorder accepts the statement as that admin, standing in for
//! the operator, and makes the admin API key the rest uses). Every value the recorder
//! chose or captured that is a secret (passwords, tokens, keys) is replaced in the
//! record by `«name»`; a pattern pass replaces anything else key-shaped (`sk-…`,
//! `admin-<hex>`, JWTs, refresh tokens). Request ids and dates are not kept.

use crate::acceptance::scenario::{placeholders, substitute};
use crate::http::Client;
use crate::procs::{self, Proc, Profile};
use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// One step of the session script.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptStep {
    /// Unique name.
    pub name: String,
    /// HTTP method.
    pub method: String,
    /// Path and query (may hold `${name}`).
    pub path: String,
    /// `none` | `admin_key` | `admin_jwt` | `user_jwt` | `user_key` | `bearer_invalid`.
    pub auth: String,
    /// JSON body (may hold `${name}`).
    #[serde(default)]
    pub body: Option<Value>,
    /// Extra request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Values to remember: name → JSON pointer into the answer.
    #[serde(default)]
    pub capture: BTreeMap<String, String>,
    /// The adapter operation that sends this request (for the contract replay).
    #[serde(default)]
    pub op: Option<String>,
    /// Why the step is there.
    #[serde(default)]
    pub note: Option<String>,
}

/// The session script.
#[derive(Debug, Clone, Deserialize)]
pub struct Script {
    /// The steps, in order.
    pub steps: Vec<ScriptStep>,
}

/// Reads `fixtures/host/real/session.json`.
pub fn load_script() -> Result<Script> {
    let path = procs::root().join("fixtures/host/real/session.json");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not a session script", path.display()))
}

/// Names of the values that are secrets (scrubbed from the record).
const SECRET_VALUES: &[&str] = &[
    "admin_password",
    "admin_jwt",
    "admin_key",
    "user_password",
    "wrong_password",
    "user_jwt",
    "user_key",
    "good_key",
    "invalid_key",
    "quota_key",
    "ratelimit_key",
    "batch_key_1",
    "batch_key_2",
    "batch_key_3",
    "refresh_token",
];

/// Response headers kept in the record.
const KEPT_HEADERS: &[&str] = &[
    "content-type",
    "retry-after",
    "x-idempotency-replayed",
    "idempotency-key",
];

#[derive(Debug, Default)]
struct Options {
    host_url: Option<String>,
    admin_email: Option<String>,
    admin_password_file: Option<PathBuf>,
    upstream_url: Option<String>,
    out: Option<PathBuf>,
    release: Option<String>,
    commit: Option<String>,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut o = Options::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let v = it
            .next()
            .cloned()
            .ok_or_else(|| anyhow!("{a} needs a value"));
        match a.as_str() {
            "--host-url" => o.host_url = Some(v?),
            "--admin-email" => o.admin_email = Some(v?),
            "--admin-password-file" => o.admin_password_file = Some(PathBuf::from(v?)),
            "--upstream-url" => o.upstream_url = Some(v?),
            "--out" => o.out = Some(PathBuf::from(v?)),
            "--release" => o.release = Some(v?),
            "--commit" => o.commit = Some(v?),
            other => bail!("unknown option {other}\n\n{USAGE}"),
        }
    }
    Ok(o)
}

/// Usage of `record-host`.
pub const USAGE: &str = "usage: cargo xtask record-host --host-url URL --admin-email EMAIL \
--admin-password-file FILE [--upstream-url URL] [--release VERSION] [--commit SHA] [--out DIR]

Plays fixtures/host/real/session.json against a FRESH real host (on loopback) and writes
the scrubbed exchanges to DIR (default fixtures/host/real/<VERSION>/session.json, VERSION
= --release or what the host reports). Without --upstream-url the accounts use the mock's
vendor role, started here on loopback.";

/// 32 random hex characters (from the OS).
fn random_hex() -> Result<String> {
    use std::io::Read;
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .context("cannot read /dev/urandom")?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// Runs the recorder.
pub fn run(args: &[String]) -> Result<()> {
    let o = parse(args)?;
    let (Some(url), Some(email), Some(pw_file)) =
        (&o.host_url, &o.admin_email, &o.admin_password_file)
    else {
        bail!("{USAGE}");
    };
    let password = std::fs::read_to_string(pw_file)
        .with_context(|| format!("cannot read {}", pw_file.display()))?
        .trim()
        .to_string();
    let script = load_script()?;
    let bin = procs::build_binaries(Profile::Debug)?;
    let _vendor: Option<Proc>;
    let upstream = match &o.upstream_url {
        Some(u) => {
            _vendor = None;
            u.clone()
        }
        None => {
            let mut cmd = std::process::Command::new(bin.join("sub2api-mock"));
            cmd.args(["--role", "vendor", "--listen", "127.0.0.1:0"]);
            let log = procs::target_dir().join("record-vendor.log");
            let p = Proc::start(cmd, "sub2api-mock vendor listening on ", &log)?;
            let u = p.base_url.clone();
            _vendor = Some(p);
            u
        }
    };
    let r = random_hex()?;
    let mut values: BTreeMap<String, Value> = BTreeMap::new();
    let mut set = |k: &str, v: String| {
        values.insert(k.to_string(), json!(v));
    };
    set("admin_email", email.clone());
    set("admin_password", password);
    set("upstream", upstream.clone());
    set("user_password", format!("rec-pw-{}", &r[..20]));
    set("wrong_password", format!("rec-wrong-{}", &r[..16]));
    set("user_key", format!("sk-crm-rec{}", &r[..30]));
    for (k, pattern) in [
        ("good_key", "good"),
        ("invalid_key", "invalid"),
        ("quota_key", "quota"),
        ("ratelimit_key", "ratelimit"),
        ("batch_key_1", "batchone"),
        ("batch_key_2", "batchtwo"),
        ("batch_key_3", "batchthree"),
    ] {
        set(k, format!("sk-rec-{pattern}-{}", random_hex()?));
    }
    let api = Client::with_timeout(url, None, Duration::from_secs(120));
    let mut steps = Vec::new();
    let mut version = None;
    for step in &script.steps {
        let template = json!({"path": step.path, "body": step.body, "headers": step.headers});
        let missing: Vec<String> = placeholders(&template)
            .into_iter()
            .filter(|p| !values.contains_key(p))
            .collect();
        if !missing.is_empty() {
            println!("skip {}: {} not captured", step.name, missing.join(", "));
            steps.push(json!({"name": step.name, "skipped": format!("{} not captured", missing.join(", "))}));
            continue;
        }
        let resolved = substitute(&template, &values)?;
        let path = resolved["path"].as_str().unwrap_or_default().to_string();
        let mut headers: Vec<(String, String)> = resolved["headers"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let value = |k: &str| values.get(k).and_then(Value::as_str).unwrap_or_default();
        match step.auth.as_str() {
            "none" => {}
            "admin_key" => headers.push(("x-api-key".into(), value("admin_key").into())),
            "admin_jwt" => headers.push((
                "authorization".into(),
                format!("Bearer {}", value("admin_jwt")),
            )),
            "user_jwt" => headers.push((
                "authorization".into(),
                format!("Bearer {}", value("user_jwt")),
            )),
            "user_key" => headers.push((
                "authorization".into(),
                format!("Bearer {}", value("user_key")),
            )),
            "bearer_invalid" => headers.push((
                "authorization".into(),
                "Bearer sk-not-a-key-of-this-host-0000000000".into(),
            )),
            other => bail!("step {}: unknown auth {other}", step.name),
        }
        let hdrs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let body = resolved.get("body").filter(|b| !b.is_null());
        let reply = api.send(&step.method, &path, body, &hdrs)?;
        for (name, pointer) in &step.capture {
            if let Some(v) = reply.body.pointer(pointer).filter(|v| !v.is_null()) {
                values.insert(name.clone(), v.clone());
            }
        }
        if let Some(rt) = reply
            .body
            .pointer("/data/refresh_token")
            .and_then(Value::as_str)
        {
            values.insert("refresh_token".into(), json!(rt));
        }
        if step.name == "version" {
            version = reply
                .body
                .pointer("/data/version")
                .and_then(Value::as_str)
                .map(str::to_string);
        }
        println!(
            "{:<40} {} {} → {}",
            step.name, step.method, step.path, reply.status
        );
        let kept: BTreeMap<&str, &str> = reply
            .headers
            .iter()
            .filter(|(k, _)| KEPT_HEADERS.contains(&k.as_str()))
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let sent: BTreeMap<&str, &str> = step
            .headers
            .keys()
            .map(|k| (k.as_str(), "(sent)"))
            .collect();
        steps.push(json!({
            "name": step.name,
            "op": step.op,
            "note": step.note,
            "request": {"method": step.method, "path": path, "auth": step.auth, "headers": sent, "body": body},
            "response": {"status": reply.status, "headers": kept, "body": reply.body},
        }));
    }
    let reported = version.unwrap_or_else(|| "unknown".into());
    let release = o.release.clone().unwrap_or_else(|| reported.clone());
    let secrets: Vec<(String, String)> = SECRET_VALUES
        .iter()
        .filter_map(|k| {
            values
                .get(*k)
                .and_then(Value::as_str)
                .map(|v| (k.to_string(), v.to_string()))
        })
        .chain(std::iter::once(("upstream".to_string(), upstream.clone())))
        .collect();
    let doc = json!({
        "release": release,
        "reported_version": reported,
        "commit": o.commit,
        "recorded_on": today(),
        "script": "fixtures/host/real/session.json",
        "note": "Recorded by cargo xtask record-host from a fresh host on loopback; secrets are «name» placeholders, the accounts' upstream is «upstream».",
        "steps": steps,
    });
    let doc = scrub(&doc, &secrets);
    let out = o
        .out
        .clone()
        .unwrap_or_else(|| procs::root().join("fixtures/host/real").join(&release));
    std::fs::create_dir_all(&out)?;
    let file = out.join("session.json");
    std::fs::write(&file, serde_json::to_string_pretty(&doc)? + "\n")?;
    let leftovers = leaks(&doc.to_string());
    if !leftovers.is_empty() {
        bail!("the record still holds key-shaped text: {leftovers:?}");
    }
    println!("wrote {} ({} steps)", file.display(), script.steps.len());
    Ok(())
}

fn today() -> String {
    std::process::Command::new("date")
        .arg("-u")
        .arg("+%Y-%m-%d")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// `v` with every known secret replaced by `«name»` and key-shaped text by a
/// placeholder of its kind.
pub fn scrub(v: &Value, secrets: &[(String, String)]) -> Value {
    match v {
        Value::String(s) => Value::String(scrub_str(s, secrets)),
        Value::Array(a) => Value::Array(a.iter().map(|x| scrub(x, secrets)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), scrub(x, secrets)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn scrub_str(s: &str, secrets: &[(String, String)]) -> String {
    let mut out = s.to_string();
    let mut ordered: Vec<&(String, String)> =
        secrets.iter().filter(|(_, v)| !v.is_empty()).collect();
    ordered.sort_by_key(|(_, v)| std::cmp::Reverse(v.len()));
    for (name, value) in ordered {
        out = out.replace(value.as_str(), &format!("«{name}»"));
    }
    for (prefix, min, class, label) in PATTERNS {
        out = replace_pattern(&out, prefix, *min, *class, label);
    }
    out
}

/// Key-shaped text: a prefix, then at least a number of characters of a class, and
/// the placeholder that replaces it.
type Pattern = (&'static str, usize, fn(char) -> bool, &'static str);

const PATTERNS: &[Pattern] = &[
    ("admin-", 64, is_hex, "«admin-key»"),
    ("sk-", 20, is_key_char, "«sk-key»"),
    ("rt_", 32, is_hex, "«refresh-token»"),
    ("eyJ", 20, is_jwt_char, "«jwt»"),
];

fn is_hex(c: char) -> bool {
    c.is_ascii_hexdigit()
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

fn is_jwt_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'
}

fn replace_pattern(
    s: &str,
    prefix: &str,
    min: usize,
    class: fn(char) -> bool,
    label: &str,
) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find(prefix) {
        let after = &rest[at + prefix.len()..];
        let run: usize = after
            .chars()
            .take_while(|c| class(*c))
            .map(char::len_utf8)
            .sum();
        out.push_str(&rest[..at]);
        if after[..run].chars().count() >= min {
            out.push_str(label);
        } else {
            out.push_str(&rest[at..at + prefix.len() + run]);
        }
        rest = &after[run..];
    }
    out.push_str(rest);
    out
}

/// Key-shaped text left in `s` (the before-commit check of the repository).
fn leaks(s: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (prefix, min, class, _) in PATTERNS {
        let mut rest = s;
        while let Some(at) = rest.find(prefix) {
            let after = &rest[at + prefix.len()..];
            let run: usize = after
                .chars()
                .take_while(|c| class(*c))
                .map(char::len_utf8)
                .sum();
            if after[..run].chars().count() >= *min {
                found.push(format!("{prefix}…"));
            }
            rest = &after[run..];
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_replaces_known_secrets_and_key_shapes() {
        let secrets = vec![(
            "user_key".to_string(),
            "sk-crm-rec0123456789abcdef0123456789ab".to_string(),
        )];
        let v = json!({
            "key": "sk-crm-rec0123456789abcdef0123456789ab",
            "quoted": "upstream said: bad key sk-live-ABCDEFGHIJKLMNOPQRSTUVWX1234 (401)",
            "admin": format!("admin-{}", "ab".repeat(32)),
            "jwt": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ1c2VyIjoxfQ.sig_nature-1",
            "short": "sk-ok and admin-12",
        });
        let s = scrub(&v, &secrets);
        assert_eq!(s["key"], "«user_key»");
        assert_eq!(s["quoted"], "upstream said: bad key «sk-key» (401)");
        assert_eq!(s["admin"], "«admin-key»");
        assert_eq!(s["jwt"], "«jwt»");
        assert_eq!(s["short"], "sk-ok and admin-12");
        assert!(leaks(&s.to_string()).is_empty());
        assert!(!leaks(&v.to_string()).is_empty());
    }
}
