//! The real server binary and its files: modes whatever the umask, refusals of loose
//! or missing secrets with their fix, the data-directory lock, the operator-token
//! floor, master-key rotation and host-credential rotation.

use crate::common::*;
use serde_json::json;
use std::path::Path;
use std::process::Command;
use sub2api_mock::{MockConfig, MockHost};

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[cfg(unix)]
fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The key id the server logged at start.
fn logged_key_id(log: &str) -> String {
    let line = log
        .lines()
        .rev()
        .find(|l| l.contains("master key:") && l.contains("key_id"))
        .unwrap_or_else(|| panic!("no key id logged: {log}"));
    let rest = &line[line.find("key_id=").expect("key_id field") + 7..];
    rest.trim_matches('"')
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect()
}

fn stop(server: Server) {
    drop(server);
}

#[cfg(unix)]
#[test]
fn a_fresh_data_directory_under_umask_022_is_private() {
    let base = temp_dir("umask");
    let data = base.join("data");
    // The shell sets a permissive umask, then becomes the server.
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("umask 022 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_relay-server"));
    let inner = server_command(&data);
    cmd.args(inner.get_args());
    for (k, v) in inner.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    // The default packs directory (`<data dir>/packs`) is created by the server too.
    cmd.env_remove("RELAY_PACKS_DIR");
    let server = spawn(cmd, &base.join("server.log"));
    let (status, _) = read(
        agent()
            .get(format!("{}/readyz", server.base))
            .call()
            .unwrap(),
    );
    assert_eq!(status, 200);
    assert_eq!(mode(&data), 0o700, "data directory");
    assert_eq!(mode(&data.join("packs")), 0o700, "default packs directory");
    let database: &[&str] = if on_postgres() {
        &[] // the state is in PostgreSQL
    } else {
        &["relay.db", "relay.db-wal", "relay.db-shm"]
    };
    for name in database
        .iter()
        .chain(&["master.key", "admin.token", "relay.lock"])
    {
        assert_eq!(mode(&data.join(name)), 0o600, "{name}");
    }
    let names: Vec<String> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().all(|n| !n.contains(".tmp-")),
        "temporary files left behind: {names:?}"
    );
}

#[cfg(unix)]
#[test]
fn loose_data_directory_token_and_key_files_are_refused_with_the_fix() {
    let base = temp_dir("loose");
    let data = base.join("data");
    std::fs::create_dir(&data).unwrap();
    chmod(&data, 0o755);
    let (code, err) = refused(server_command(&data));
    assert_ne!(code, 0);
    assert!(
        err.contains(&format!("chmod 700 {}", data.display())),
        "{err}"
    );
    assert!(!data.join("relay.db").exists(), "nothing was created");

    chmod(&data, 0o700);
    stop(spawn(server_command(&data), &base.join("server.log")));
    let token = data.join("admin.token");
    chmod(&token, 0o644);
    let (_, err) = refused(server_command(&data));
    assert!(
        err.contains(&format!("chmod 600 {}", token.display())),
        "{err}"
    );
    chmod(&token, 0o600);
    let key = data.join("master.key");
    chmod(&key, 0o640);
    let (_, err) = refused(server_command(&data));
    assert!(
        err.contains(&format!("chmod 600 {}", key.display())),
        "{err}"
    );
    chmod(&key, 0o600);
    // Fixed as told, it starts again.
    stop(spawn(server_command(&data), &base.join("server.log")));
}

#[test]
fn short_operator_tokens_are_refused_with_the_fix() {
    let base = temp_dir("short-token");
    let data = base.join("data");
    let mut cmd = server_command(&data);
    cmd.env("RELAY_ADMIN_TOKEN", "a");
    let (code, err) = refused(cmd);
    assert_ne!(code, 0);
    assert!(
        err.contains("RELAY_ADMIN_TOKEN is 1 characters long") && err.contains("at least 32"),
        "{err}"
    );
    let mut cmd = server_command(&data);
    cmd.env("RELAY_ADMIN_TOKEN", "x".repeat(31));
    refused(cmd);
    // A token file that is too short is refused too, and not replaced.
    private_dir(&data);
    let file = data.join("admin.token");
    std::fs::write(&file, "rt_short\n").unwrap();
    #[cfg(unix)]
    chmod(&file, 0o600);
    let (_, err) = refused(server_command(&data));
    assert!(
        err.contains("holds 8 characters") && err.contains("delete it"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "rt_short\n");
    let mut cmd = server_command(&data);
    cmd.env("RELAY_ADMIN_TOKEN", "y".repeat(32));
    stop(spawn(cmd, &base.join("server.log")));
}

#[test]
fn two_servers_cannot_share_a_data_directory() {
    let dir = temp_dir("lock");
    let first = start(&dir, Some(TOKEN));
    let mut cmd = server_command(&dir);
    cmd.env("RELAY_ADMIN_TOKEN", TOKEN);
    let (code, err) = refused(cmd);
    assert_ne!(code, 0);
    assert!(
        err.contains("is in use by another process")
            && err.contains(&format!("(pid {})", first.child.id())),
        "{err}"
    );
    stop(first);
    // Released when the holder dies.
    stop(start(&dir, Some(TOKEN)));
}

#[test]
fn a_missing_master_key_is_never_regenerated_for_sealed_data() {
    let dir = temp_dir("missing-key");
    let server = start(&dir, Some(TOKEN));
    let key_id = logged_key_id(&server.log());
    stop(server);
    let key = dir.join("master.key");
    std::fs::remove_file(&key).unwrap();
    let mut cmd = server_command(&dir);
    cmd.env("RELAY_ADMIN_TOKEN", TOKEN);
    let (code, err) = refused(cmd);
    assert_ne!(code, 0);
    assert!(
        err.contains("restore master.key from your backup")
            && err.contains("RELAY_MASTER_KEY")
            && err.contains(&key_id),
        "{err}"
    );
    assert!(!key.exists(), "no new key file was generated");
}

#[test]
fn a_bad_or_unreachable_database_url_is_refused_without_its_password() {
    const PASSWORD: &str = "db-pw-7f3a9c1e5b2d8f40";
    // Not a URL PostgreSQL reads: the error names the variable and the fix.
    let dir = temp_dir("bad-db-url");
    let mut cmd = server_command(&dir);
    cmd.env("RELAY_ADMIN_TOKEN", TOKEN).env(
        "RELAY_DATABASE_URL",
        format!("postgres://relay:{PASSWORD}@127.0.0.1:notaport/relay"),
    );
    let (code, err) = refused(cmd);
    assert_ne!(code, 0);
    assert!(
        err.contains("RELAY_DATABASE_URL")
            && err.contains("postgres://USER:PASSWORD@HOST:PORT/DATABASE"),
        "{err}"
    );
    assert!(!err.contains(PASSWORD), "{err}");
    // A database nobody answers on (port 1): refused, the password nowhere.
    let dir = temp_dir("down-db");
    let mut cmd = server_command(&dir);
    cmd.env("RELAY_ADMIN_TOKEN", TOKEN).env(
        "RELAY_DATABASE_URL",
        format!("postgres://relay:{PASSWORD}@127.0.0.1:1/relay"),
    );
    let (code, err) = refused(cmd);
    assert_ne!(code, 0);
    assert!(
        err.contains("PostgreSQL database of RELAY_DATABASE_URL"),
        "{err}"
    );
    assert!(!err.contains(PASSWORD), "{err}");
}

fn register(server: &Server, mock: &MockHost) -> serde_json::Value {
    let (status, v) = server.post(
        "/api/hosts",
        &json!({"name": "main", "base_url": mock.base_url(),
                "auth": {"kind": "api_key", "api_key": mock.admin_api_key()}}),
    );
    assert_eq!(status, 201, "{v}");
    v
}

fn rotate_command(data: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_relay-server"));
    cmd.arg("rotate-master-key")
        .arg("--data-dir")
        .arg(data)
        .env_remove("RELAY_MASTER_KEY")
        .env_remove("RELAY_ADMIN_TOKEN");
    match database_url_for(data) {
        Some(url) => cmd.env("RELAY_DATABASE_URL", url),
        None => cmd.env_remove("RELAY_DATABASE_URL"),
    };
    cmd
}

#[test]
fn rotate_master_key_reseals_the_host_secret_under_a_new_key() {
    let mock = MockHost::start(MockConfig::default()).unwrap();
    let dir = temp_dir("rotate");
    let server = start(&dir, Some(TOKEN));
    register(&server, &mock);
    let old_id = logged_key_id(&server.log());
    let old_key = std::fs::read_to_string(dir.join("master.key")).unwrap();

    // Not while the server runs.
    let out = rotate_command(&dir).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("(pid {})", server.child.id())),
        "{err}"
    );
    stop(server);

    let out = rotate_command(&dir).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("re-sealed 1 secrets"), "{stdout}");
    assert!(stdout.contains("1 host credentials"), "{stdout}");
    assert!(
        stdout.contains(&format!("previous key id(s): {old_id}")),
        "{stdout}"
    );
    let new_key = std::fs::read_to_string(dir.join("master.key")).unwrap();
    assert_ne!(new_key, old_key);
    assert!(!dir.join("master.key.next").exists());
    #[cfg(unix)]
    assert_eq!(mode(&dir.join("master.key")), 0o600);
    assert!(!stdout.contains(new_key.trim()) && !stdout.contains(old_key.trim()));

    // The server opens the host's secret with the new key...
    let server = start(&dir, Some(TOKEN));
    let new_id = logged_key_id(&server.log());
    assert_ne!(new_id, old_id);
    assert!(
        stdout.contains(&format!("under key id {new_id}")),
        "{stdout}"
    );
    let (status, v) = server.post("/api/hosts/main/probe", &json!({}));
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["status"], "supported", "{v}");
    stop(server);
    // ...and the old key opens nothing any more.
    let mut cmd = server_command(&dir);
    cmd.env("RELAY_ADMIN_TOKEN", TOKEN)
        .env("RELAY_MASTER_KEY", old_key.trim());
    let (_, err) = refused(cmd);
    assert!(
        err.contains(&format!("key id {old_id}")) && err.contains(&format!("key id {new_id}")),
        "{err}"
    );
}

#[test]
fn host_credentials_are_replaced_after_a_check_and_never_echoed() {
    let mock = MockHost::start(MockConfig::default()).unwrap();
    let dir = temp_dir("set-credentials");
    let server = start(&dir, Some(TOKEN));
    register(&server, &mock);

    // The host's admin key is regenerated on the host: the stored one stops working.
    let (status, v) = read(
        agent()
            .post(format!(
                "{}/api/v1/admin/settings/admin-api-key/regenerate",
                mock.base_url()
            ))
            .header("x-api-key", mock.admin_api_key())
            .send_empty()
            .unwrap(),
    );
    assert_eq!(status, 200, "{v}");
    let new_key = v["data"]["key"].as_str().unwrap().to_string();
    let (status, v) = server.post("/api/hosts/main/probe", &json!({}));
    assert_eq!(status, 502, "{v}");
    assert_eq!(v["error"]["code"], "host_auth_failed");

    // A wrong key is refused after a check against the host; nothing changes.
    let (status, v) = read(
        agent()
            .put(format!("{}/api/hosts/main/credentials", server.base))
            .header("Authorization", format!("Bearer {TOKEN}"))
            .send_json(json!({"kind": "api_key", "api_key": "admin-not-the-key"}))
            .unwrap(),
    );
    assert_eq!(status, 502, "{v}");
    assert_eq!(v["error"]["code"], "host_auth_failed");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("not changed"));
    assert!(!v.to_string().contains("admin-not-the-key"));

    // The new key is checked, sealed and used from now on.
    let (status, v) = read(
        agent()
            .put(format!("{}/api/hosts/main/credentials", server.base))
            .header("Authorization", format!("Bearer {TOKEN}"))
            .send_json(json!({"kind": "api_key", "api_key": new_key}))
            .unwrap(),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["name"], "main");
    assert_eq!(v["status"], "supported");
    assert!(!v.to_string().contains(&new_key), "never echoed: {v}");
    let (status, v) = server.post("/api/hosts/main/probe", &json!({}));
    assert_eq!(status, 200, "{v}");

    // Switching to login credentials works the same way.
    let config = MockConfig::default();
    let (status, v) = read(
        agent()
            .put(format!("{}/api/hosts/main/credentials", server.base))
            .header("Authorization", format!("Bearer {TOKEN}"))
            .send_json(json!({"kind": "login", "email": config.admin_email,
                              "password": config.admin_password}))
            .unwrap(),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["auth_kind"], "login");
    assert_eq!(v["admin_email"], config.admin_email.as_str());
    let log = server.log();
    assert!(log.contains("host credentials replaced"), "{log}");
    assert!(!log.contains(&new_key) && !log.contains(&config.admin_password));
    stop(server);
    // The replacement survived a restart (it is sealed in the store).
    let server = start(&dir, Some(TOKEN));
    let (status, v) = server.post("/api/hosts/main/probe", &json!({}));
    assert_eq!(status, 200, "{v}");
}

#[test]
fn the_key_and_the_token_can_come_from_files_named_by_the_environment() {
    let base = temp_dir("secret-files");
    let data = base.join("data");
    // As systemd's LoadCredential= or a container secret would provide them.
    let key_file = base.join("master_key");
    std::fs::write(&key_file, "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n").unwrap();
    let token_file = base.join("admin_token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let mut cmd = server_command(&data);
    cmd.env("RELAY_MASTER_KEY_FILE", &key_file)
        .env("RELAY_ADMIN_TOKEN_FILE", &token_file);
    let server = spawn(cmd, &base.join("server.log"));
    let (status, _) = server.get("/api/hosts");
    assert_eq!(status, 200, "the token of the file is the operator token");
    assert!(!data.join("master.key").exists() && !data.join("admin.token").exists());
    let log = server.log();
    assert!(
        log.contains("master key: from RELAY_MASTER_KEY(_FILE)"),
        "{log}"
    );
    assert!(!log.contains(TOKEN) && !log.contains("BwcHBwcH"), "{log}");
    stop(server);
    let mut cmd = server_command(&data);
    cmd.env("RELAY_ADMIN_TOKEN_FILE", &token_file)
        .env("RELAY_ADMIN_TOKEN", TOKEN);
    let (_, err) = refused(cmd);
    assert!(
        err.contains("set either RELAY_ADMIN_TOKEN or RELAY_ADMIN_TOKEN_FILE, not both"),
        "{err}"
    );
}
