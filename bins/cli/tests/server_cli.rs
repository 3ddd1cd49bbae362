//! `relay host|pack|provider` against the real server and a mock host; exit codes,
//! error output and secrets.

use crate::common::*;
use std::io::{Cursor, Write};
use sub2api_mock::{Faults, MockConfig, MockHost};

#[test]
fn hosts_are_added_listed_shown_probed_and_removed() {
    let config = MockConfig::default();
    let mock = MockHost::start(config.clone()).unwrap();
    let server = Server::start("hosts");
    let dir = temp_dir("hosts-files");
    let key_file = write(&dir, "admin.key", &format!("{}\n", mock.admin_api_key()));

    let out = server
        .relay(&[
            "host",
            "add",
            "main",
            "--url",
            &mock.base_url(),
            "--api-key-file",
            s(&key_file),
        ])
        .expect(0);
    out.assert_hides(mock.admin_api_key());
    let text = out.stdout();
    assert!(text.starts_with("registered host main (host_"), "{text}");
    assert!(text.contains("status:        supported\n"), "{text}");
    assert!(text.contains("version:       0.1.179\n"), "{text}");
    assert!(text.contains("auth:          api_key\n"), "{text}");

    // The same name again: the server's error, exit 1, code and message on stderr.
    let out = server
        .relay(&[
            "host",
            "add",
            "main",
            "--url",
            &mock.base_url(),
            "--api-key-file",
            s(&key_file),
        ])
        .expect(1);
    assert!(
        out.stderr().starts_with("error: host_exists: "),
        "{}",
        out.stderr()
    );
    out.assert_hides(mock.admin_api_key());

    // Login auth, the password from stdin.
    let out = server
        .relay_with(
            &[
                "host",
                "add",
                "by-login",
                "--url",
                &mock.base_url(),
                "--email",
                &config.admin_email,
                "--password-file",
                "-",
            ],
            &[],
            Some(&format!("{}\r\n", config.admin_password)),
        )
        .expect(0);
    out.assert_hides(&config.admin_password);
    assert!(out
        .stdout()
        .contains(&format!("auth:          login ({})\n", config.admin_email)));

    // A wrong key is the host's refusal, and the wrong key is not echoed.
    let wrong = write(&dir, "wrong.key", "admin-not-the-right-key-42\n");
    let out = server
        .relay(&[
            "host",
            "add",
            "other",
            "--url",
            &mock.base_url(),
            "--api-key-file",
            s(&wrong),
        ])
        .expect(1);
    assert!(
        out.stderr().starts_with("error: host_auth_failed: "),
        "{}",
        out.stderr()
    );
    out.assert_hides("admin-not-the-right-key-42");

    let out = server.relay(&["host", "list"]).expect(0);
    let text = out.stdout();
    assert!(text.starts_with("ID "), "{text}");
    assert!(text.contains("  main  "), "{text}");
    assert!(text.contains("  by-login  "), "{text}");
    assert!(!text.contains("other"), "{text}");

    let doc = server
        .relay(&["--output", "json", "host", "list"])
        .expect(0)
        .json();
    let hosts = doc["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 2);
    assert!(!doc.to_string().contains(mock.admin_api_key()));

    let doc = server
        .relay(&["host", "show", "main", "--output", "json"])
        .expect(0)
        .json();
    assert_eq!(doc["name"], "main");
    assert_eq!(doc["capabilities"]["channels"], true);

    mock.set_faults(Faults {
        disable_channels: true,
        ..Faults::default()
    });
    let out = server.relay(&["host", "probe", "main"]).expect(0);
    let text = out.stdout();
    assert!(text.starts_with("probed host main"), "{text}");
    let missing = text
        .lines()
        .find(|l| l.starts_with("missing:"))
        .unwrap_or_else(|| panic!("no missing line in {text}"));
    assert!(missing.contains("channels"), "{text}");
    assert!(text.contains("problems:\n  - "), "{text}");
    mock.set_faults(Faults::default());

    // New credentials: checked against the host first, never echoed; a refused
    // one changes nothing.
    let out = server
        .relay(&[
            "host",
            "set-credentials",
            "main",
            "--api-key-file",
            s(&wrong),
        ])
        .expect(1);
    assert!(
        out.stderr().starts_with("error: host_auth_failed: ")
            && out.stderr().contains("not changed"),
        "{}",
        out.stderr()
    );
    out.assert_hides("admin-not-the-right-key-42");
    let out = server
        .relay_with(
            &[
                "host",
                "set-credentials",
                "main",
                "--email",
                &config.admin_email,
                "--password-file",
                "-",
            ],
            &[],
            Some(&format!("{}\n", config.admin_password)),
        )
        .expect(0);
    out.assert_hides(&config.admin_password);
    let text = out.stdout();
    assert!(
        text.starts_with("credentials replaced for host main (host_"),
        "{text}"
    );
    assert!(
        text.contains(&format!("auth:          login ({})\n", config.admin_email)),
        "{text}"
    );
    let out = server
        .relay(&[
            "host",
            "set-credentials",
            "main",
            "--api-key-file",
            s(&key_file),
        ])
        .expect(0);
    out.assert_hides(mock.admin_api_key());
    assert!(out.stdout().contains("auth:          api_key\n"));
    server.relay(&["host", "probe", "main"]).expect(0);

    let out = server.relay(&["host", "rm", "by-login"]).expect(0);
    assert!(out.stdout().starts_with("removed host by-login (host_"));

    let out = server.relay(&["host", "show", "by-login"]).expect(1);
    assert!(
        out.stderr().starts_with("error: host_not_found: "),
        "{}",
        out.stderr()
    );
    // JSON mode: the error document on stdout too.
    let out = server
        .relay(&["--output", "json", "host", "show", "by-login"])
        .expect(1);
    assert_eq!(out.json()["error"]["code"], "host_not_found");

    let log = server.log();
    assert!(!log.contains(mock.admin_api_key()));
    assert!(!log.contains(&config.admin_password));
}

#[test]
fn packs_install_from_a_path_an_upload_and_a_zip_file() {
    let server = Server::start("packs");
    let pack_dir = workspace().join("packs/openai-cn-pack");
    let absolute = std::fs::canonicalize(&pack_dir).unwrap();

    // A directory is zipped here and uploaded (the server need not see the path).
    let mut command = relay_command(&["pack", "install", "packs/openai-cn-pack"]);
    command
        .current_dir(workspace())
        .env("RELAY_SERVER", &server.base)
        .env("RELAY_TOKEN", TOKEN);
    let out = run(command, None).expect(0);
    let text = out.stdout();
    assert!(
        text.starts_with("installed pack openai-cn-pack 1.0.0\n"),
        "{text}"
    );
    assert!(text.contains("source:        zip upload\n"), "{text}");
    assert!(!text.contains(&*absolute.to_string_lossy()), "{text}");
    for id in ["deepseek", "moonshot", "qwen", "glm", "minimax", "stepfun"] {
        assert!(
            text.lines().any(|l| l.starts_with(&format!("{id} "))),
            "{id} missing:\n{text}"
        );
    }

    // --on-server names a pack in the server's packs directory; nothing is read here.
    let doc = server
        .relay(&[
            "--output",
            "json",
            "pack",
            "install",
            "--on-server",
            "packs/openai-cn-pack",
        ])
        .expect(0)
        .json();
    assert_eq!(doc["pack_id"], "openai-cn-pack");
    assert_eq!(doc["source_kind"], "dir");
    assert_eq!(doc["source_path"], "packs/openai-cn-pack");
    assert_eq!(doc["providers"].as_array().unwrap().len(), 11);
    // Outside the server's packs directory: refused, without saying what is there.
    let out = server
        .relay(&["pack", "install", "--on-server", "/etc"])
        .expect(1);
    assert!(
        out.stderr()
            .starts_with("error: invalid_request: path: must name"),
        "{}",
        out.stderr()
    );
    // The old --upload flag is still accepted (uploading is the default).
    server
        .relay(&["pack", "install", "--upload", s(&pack_dir)])
        .expect(0);

    // A .zip file is uploaded as it is.
    let dir = temp_dir("pack-zip");
    let zip_path = dir.join("pack.zip");
    std::fs::write(&zip_path, zip_of(&pack_dir)).unwrap();
    let out = server.relay(&["pack", "install", s(&zip_path)]).expect(0);
    assert!(
        out.stdout().contains("source:        zip "),
        "{}",
        out.stdout()
    );

    let out = server.relay(&["pack", "list"]).expect(0);
    let text = out.stdout();
    let row: Vec<&str> = text
        .lines()
        .find(|l| l.starts_with("openai-cn-pack "))
        .unwrap_or_else(|| panic!("{text}"))
        .split_whitespace()
        .collect();
    assert_eq!(row[1], "1.0.0");
    assert!(row.contains(&"11"), "{text}");

    let out = server.relay(&["pack", "show", "openai-cn-pack"]).expect(0);
    assert!(out.stdout().contains("https://api.moonshot.cn/v1"));

    // An invalid pack: the server's precise refusal.
    let bad = workspace().join("fixtures/packs/smoke-model-not-in-defaults");
    let out = server.relay(&["pack", "install", s(&bad)]).expect(1);
    assert!(
        out.stderr().starts_with("error: invalid_pack: "),
        "{}",
        out.stderr()
    );
    assert!(out.stderr().contains("smoke_test_model"));

    // A path that does not exist is a usage error, before any call.
    let out = server
        .relay(&["pack", "install", "/nonexistent/pack"])
        .expect(2);
    assert!(out
        .stderr()
        .starts_with("error: usage: pack path /nonexistent/pack"));

    let out = server.relay(&["pack", "show", "nope"]).expect(1);
    assert!(
        out.stderr().starts_with("error: pack_not_found: "),
        "{}",
        out.stderr()
    );
}

fn zip_of(dir: &std::path::Path) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let mut pending = vec![(dir.to_path_buf(), String::new())];
    while let Some((current, prefix)) = pending.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let entry = entry.unwrap();
            let rel = format!("{prefix}{}", entry.file_name().to_str().unwrap());
            if entry.file_type().unwrap().is_dir() {
                pending.push((entry.path(), format!("{rel}/")));
            } else {
                writer
                    .start_file(
                        format!("openai-cn-pack/{rel}"),
                        zip::write::SimpleFileOptions::default(),
                    )
                    .unwrap();
                writer
                    .write_all(&std::fs::read(entry.path()).unwrap())
                    .unwrap();
            }
        }
    }
    writer.finish().unwrap().into_inner()
}

#[test]
fn providers_are_listed_with_their_state_on_a_host() {
    let mock = MockHost::start(MockConfig::default()).unwrap();
    let server = Server::start("providers");
    let dir = temp_dir("providers-files");
    let key_file = write(&dir, "admin.key", mock.admin_api_key());
    server
        .relay(&[
            "host",
            "add",
            "main",
            "--url",
            &mock.base_url(),
            "--api-key-file",
            s(&key_file),
        ])
        .expect(0);
    let out = server.relay(&["provider", "list"]).expect(0);
    assert!(out.stdout().starts_with("no provider"), "{}", out.stdout());

    let pack = workspace().join("packs/openai-cn-pack");
    server.relay(&["pack", "install", s(&pack)]).expect(0);

    let out = server.relay(&["provider", "list"]).expect(0);
    let text = out.stdout();
    assert!(text.starts_with("PACK  "), "{text}");
    assert_eq!(text.lines().count(), 12, "{text}");
    let deepseek: Vec<&str> = text
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some("deepseek"))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(deepseek[0], "openai-cn-pack");
    assert!(deepseek.contains(&"installed"), "{text}");

    let out = server
        .relay(&[
            "provider",
            "list",
            "--host",
            "main",
            "--pack",
            "openai-cn-pack",
        ])
        .expect(0);
    let text = out.stdout();
    assert!(text.contains("ACCESS"), "{text}");
    assert_eq!(text.matches("not imported").count(), 11, "{text}");

    let doc = server
        .relay(&["provider", "list", "--output", "json"])
        .expect(0)
        .json();
    assert_eq!(doc["providers"].as_array().unwrap().len(), 11);

    let out = server
        .relay(&["provider", "list", "--host", "nowhere"])
        .expect(1);
    assert!(
        out.stderr().starts_with("error: host_not_found: "),
        "{}",
        out.stderr()
    );

    // `status` without a provider lists every provider; none is on a host yet.
    let out = server.relay(&["status", "--host", "main"]).expect(0);
    let text = out.stdout();
    assert!(text.starts_with("HOST "), "{text}");
    assert_eq!(text.matches("not imported").count(), 11, "{text}");
}

#[test]
fn usage_errors_exit_2_and_name_what_to_fix() {
    // No token at all.
    let out = run(relay_command(&["host", "list"]), None).expect(2);
    let err = out.stderr();
    assert!(err.starts_with("error: usage: no operator token"), "{err}");
    assert!(
        err.contains("RELAY_TOKEN") && err.contains("--token-file"),
        "{err}"
    );
    // JSON mode still reports it as a JSON document.
    let out = run(relay_command(&["--output", "json", "host", "list"]), None).expect(2);
    assert_eq!(out.json()["error"]["code"], "usage");

    // An unreadable token file.
    let out = run(
        relay_command(&["--token-file", "/nonexistent/token", "host", "list"]),
        None,
    )
    .expect(2);
    assert!(out
        .stderr()
        .starts_with("error: usage: --token-file /nonexistent/token: "));

    // A malformed server URL.
    let mut command = relay_command(&["--server", "localhost:1", "host", "list"]);
    command.env("RELAY_TOKEN", TOKEN);
    let out = run(command, None).expect(2);
    assert!(out.stderr().contains("--server"), "{}", out.stderr());

    // A missing keys file, before anything is sent.
    let mut command = relay_command(&[
        "import",
        "deepseek",
        "--host",
        "main",
        "--keys-file",
        "/nonexistent/keys.txt",
    ]);
    command
        .env("RELAY_TOKEN", TOKEN)
        .env("RELAY_SERVER", "http://127.0.0.1:9");
    let out = run(command, None).expect(2);
    assert!(
        out.stderr()
            .starts_with("error: usage: --keys-file /nonexistent/keys.txt: cannot read it"),
        "{}",
        out.stderr()
    );

    // A keys file with no key in it.
    let dir = temp_dir("usage");
    let empty = write(&dir, "keys.txt", "# nothing here\n\n");
    let mut command = relay_command(&[
        "import",
        "deepseek",
        "--host",
        "main",
        "--keys-file",
        s(&empty),
    ]);
    command.env("RELAY_TOKEN", TOKEN);
    let out = run(command, None).expect(2);
    assert!(out.stderr().contains("no key found"), "{}", out.stderr());

    // Both secret files cannot come from stdin.
    let mut command = relay_command(&[
        "import",
        "deepseek",
        "--host",
        "main",
        "--keys-file",
        "-",
        "--probe-key-file",
        "-",
    ]);
    command.env("RELAY_TOKEN", TOKEN);
    let out = run(command, Some("sk-demo-aaaaaaaaaaaaaaaaaaaa\n")).expect(2);
    assert!(out.stderr().contains("standard input"), "{}", out.stderr());
    out.assert_hides("sk-demo-aaaaaaaaaaaaaaaaaaaa");
    for args in [
        &[
            "--token-file",
            "-",
            "import",
            "deepseek",
            "--host",
            "main",
            "--keys-file",
            "-",
        ][..],
        &[
            "--token-file",
            "-",
            "host",
            "add",
            "h",
            "--url",
            "http://h",
            "--api-key-file",
            "-",
        ][..],
        &[
            "--token-file",
            "-",
            "batch",
            "resume",
            "b",
            "--keys-file",
            "-",
        ][..],
    ] {
        let out = run(relay_command(args), Some("sk-demo-aaaaaaaaaaaaaaaaaaaa\n")).expect(2);
        assert!(
            out.stderr().contains("--token-file and "),
            "{}",
            out.stderr()
        );
        out.assert_hides("sk-demo-aaaaaaaaaaaaaaaaaaaa");
    }

    // Clap's own usage errors.
    for args in [
        &["host", "add", "x", "--url", "http://h"][..],
        &["host", "add", "x", "--url", "http://h", "--email", "a@b.c"][..],
        &["import", "deepseek", "--keys-file", "k"][..],
        &["status", "deepseek"][..],
        &["batch", "list", "--status", "exploded"][..],
        &[
            "import",
            "deepseek",
            "--host",
            "h",
            "--keys-file",
            "k",
            "--mode",
            "lenient",
        ][..],
    ] {
        let out = run(relay_command(args), None);
        assert_eq!(out.code(), Some(2), "{args:?}: {}", out.stderr());
    }
}

#[test]
fn server_errors_exit_1_with_the_code() {
    // Nothing listens: exit 1, the server named.
    let mut command = relay_command(&["host", "list"]);
    command
        .env("RELAY_TOKEN", TOKEN)
        .env("RELAY_SERVER", "http://127.0.0.1:9");
    let out = run(command, None).expect(1);
    let err = out.stderr();
    assert!(err.starts_with("error: server_unreachable: "), "{err}");
    assert!(err.contains("http://127.0.0.1:9"), "{err}");
    assert!(!err.contains(TOKEN));

    // A wrong token: the server's 401, with the hint.
    let server = Server::start("errors");
    let out = server
        .relay_with(&["host", "list"], &[("RELAY_TOKEN", "not-the-token")], None)
        .expect(1);
    let err = out.stderr();
    assert!(err.starts_with("error: unauthorized: "), "{err}");
    assert!(err.contains("RELAY_TOKEN or --token-file"), "{err}");
    out.assert_hides("not-the-token");

    // The token from a file works.
    let dir = temp_dir("token");
    let token_file = write(&dir, "admin.token", &format!("{TOKEN}\n"));
    let out = server
        .relay_with(
            &["--token-file", s(&token_file), "host", "list"],
            &[("RELAY_TOKEN", "ignored-when-a-file-is-given")],
            None,
        )
        .expect(0);
    assert!(
        out.stdout().starts_with("no host registered"),
        "{}",
        out.stdout()
    );
}
