//! Balance pre-flight of an import: the vendor's own balance route read for each key
//! before anything is created; under the threshold the import is refused (nothing on
//! the host) or the batch lists the key (warn); without a threshold nothing is read.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use relay_app::{App, AppConfig, AppError, HostAuthInput, PackSource, RegisterHost};
use relay_domain::{
    BalanceCheckStatus, BalancePolicy, BalanceThreshold, BatchStatus, ImportMode, Secret,
};
use sub2api_mock::{MockConfig, MockHost};

use crate::support::*;

const KEY_LOW: &str = "sk-test-lowbal-0000000000000000000000001";

/// A packs directory holding the bundled pack with DeepSeek's base URL on `vendor`.
fn packs_root(vendor: &str) -> PathBuf {
    let root = std::env::temp_dir().join(format!(
        "relay-balances-{}-{}",
        std::process::id(),
        relay_app::random_bytes(4)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    ));
    let pack = root.join("openai-cn-pack");
    copy_dir(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../packs/openai-cn-pack"),
        &pack,
    );
    let manifest = pack.join("providers/deepseek.json");
    let text = std::fs::read_to_string(&manifest).unwrap().replace(
        "\"base_url\": \"https://api.deepseek.com\"",
        &format!("\"base_url\": \"{vendor}/deepseek\""),
    );
    std::fs::write(&manifest, text).unwrap();
    relay_pack::write_checksums(&pack).unwrap();
    root
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

struct BalanceEnv {
    mock: MockHost,
    _vendor: MockHost,
    app: Arc<App>,
}

fn env() -> BalanceEnv {
    let vendor = MockHost::start_vendor_on("127.0.0.1:0".parse().unwrap()).expect("vendor");
    let mock = MockHost::start(MockConfig::default()).expect("mock host");
    let app = Arc::new(App::new(
        test_store(),
        AppConfig {
            packs_root: Some(packs_root(&vendor.base_url())),
            ..config()
        },
    ));
    app.register_host(RegisterHost {
        name: "main".into(),
        base_url: mock.base_url(),
        auth: HostAuthInput::ApiKey(Secret::new(mock.admin_api_key())),
    })
    .expect("host registered");
    app.install_pack(PackSource::Path("openai-cn-pack".into()))
        .expect("pack installed");
    BalanceEnv {
        mock,
        _vendor: vendor,
        app,
    }
}

fn threshold(policy: BalancePolicy) -> Option<BalanceThreshold> {
    Some(BalanceThreshold {
        min_balance: 1.0,
        currency: Some("CNY".into()),
        policy,
    })
}

fn accounts(mock: &MockHost) -> usize {
    mock.state()["accounts"].as_array().map_or(0, Vec::len)
}

#[test]
fn a_key_under_the_threshold_refuses_the_import_with_nothing_created() {
    let env = env();
    let mut request = input(&[KEY_A, KEY_LOW], ImportMode::Partial);
    request.balance = threshold(BalancePolicy::Refuse);
    match env.app.import(PROVIDER, request) {
        Err(AppError::Conflict { code, message }) => {
            assert_eq!(code, "balance_below_threshold");
            assert!(message.contains("0.50 CNY"), "{message}");
            assert!(message.contains("1.00 CNY"), "{message}");
            assert!(message.contains(&relay_domain::mask(KEY_LOW)), "{message}");
            assert!(!message.contains(KEY_LOW), "the key leaked: {message}");
            assert!(!message.contains(&relay_domain::mask(KEY_A)), "{message}");
        }
        other => panic!("expected balance_below_threshold, got {other:?}"),
    }
    assert_eq!(accounts(&env.mock), 0);
    assert!(env.mock.state()["groups"].as_array().unwrap().is_empty());
}

#[test]
fn warn_lists_the_low_key_and_imports() {
    let env = env();
    let mut request = input(&[KEY_A, KEY_LOW], ImportMode::Partial);
    request.balance = threshold(BalancePolicy::Warn);
    let view = env.app.import(PROVIDER, request).expect("import runs");
    assert_ne!(view.batch.status, BatchStatus::Failed, "{:?}", view.batch);
    assert_eq!(accounts(&env.mock), 2);
    let checks: Vec<relay_domain::BalanceCheck> =
        serde_json::from_value(view.batch.request["balance_checks"].clone()).unwrap();
    assert_eq!(checks.len(), 2);
    let low = checks
        .iter()
        .find(|c| c.mask == relay_domain::mask(KEY_LOW))
        .unwrap();
    assert_eq!(low.status, BalanceCheckStatus::Below);
    assert_eq!(low.balance.as_ref().unwrap().entries[0].amount, 0.5);
    let fine = checks
        .iter()
        .find(|c| c.mask == relay_domain::mask(KEY_A))
        .unwrap();
    assert_eq!(fine.status, BalanceCheckStatus::Ok);
    assert_eq!(view.batch.request["balance_vendor_calls"], 2);
}

#[test]
fn without_a_threshold_no_balance_is_read() {
    let env = env();
    let view = env
        .app
        .import(PROVIDER, input(&[KEY_LOW], ImportMode::Strict))
        .expect("import runs");
    assert!(view.batch.request.get("balance_checks").is_none());
    assert_eq!(accounts(&env.mock), 1);
}

#[test]
fn a_reconcile_reads_managed_balances_through_the_host_and_counts_its_test_calls() {
    let env = Env::start();
    let view = env
        .app
        .import(PROVIDER, input(&[KEY_A, KEY_LOW], ImportMode::Partial))
        .expect("import runs");
    // The import report counts its test calls: one account test per key, and the
    // gateway proof's model list and chat.
    let stored = view.batch.report.clone().expect("a stored report");
    let calls = &stored["test_calls"];
    assert_eq!(calls["account_tests"], 2, "{calls}");
    assert!(calls["gateway_chats"].as_u64().unwrap() >= 1, "{calls}");
    assert_eq!(calls["vendor_calls"], 0, "{calls}");
    let total: u64 = [
        "account_tests",
        "gateway_models",
        "gateway_chats",
        "vendor_calls",
    ]
    .iter()
    .map(|k| calls[k].as_u64().unwrap())
    .sum();
    assert_eq!(calls["total"], total);

    let run = env
        .app
        .reconcile_provider(
            PROVIDER,
            "main",
            None,
            &relay_app::ReconcileOptions {
                balance: threshold(BalancePolicy::Warn),
                ..relay_app::ReconcileOptions::default()
            },
        )
        .expect("reconcile runs");
    let report = run.report.expect("a report");
    let checks: Vec<relay_domain::BalanceCheck> =
        serde_json::from_value(report["balances"].clone()).unwrap();
    assert_eq!(checks.len(), 2, "{checks:?}");
    let low = checks
        .iter()
        .find(|c| c.mask == relay_domain::mask(KEY_LOW))
        .expect("the low key's account");
    assert_eq!(low.status, BalanceCheckStatus::Below);
    assert!(low.account_id.is_some());
    assert!(low.note.as_deref().unwrap().contains("0.50 CNY"));
    let fine = checks
        .iter()
        .find(|c| c.mask == relay_domain::mask(KEY_A))
        .unwrap();
    assert_eq!(fine.status, BalanceCheckStatus::Ok);
    assert_eq!(fine.balance.as_ref().unwrap().entries[0].amount, 100.0);
    let calls = &report["test_calls"];
    assert_eq!(calls["vendor_calls"], 2, "{calls}");
    assert!(calls["account_tests"].as_u64().unwrap() >= 2, "{calls}");
}
