//! Answers of the server for the unit tests of the renderers: whole, valid documents
//! of the contract's types, with the fields a test cares about passed in.

use relay_api_types::{AccessClosureRecord, ProviderInstallRecord, ProviderSummary};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

/// `doc` read as `T` (panics with the reason when it is not one).
pub fn typed<T: DeserializeOwned>(doc: Value) -> T {
    serde_json::from_value(doc).unwrap_or_else(|e| panic!("not a valid answer: {e}"))
}

/// `base` with the fields of `over` replaced or added.
pub fn with(mut base: Value, over: Value) -> Value {
    if let (Some(b), Value::Object(o)) = (base.as_object_mut(), over) {
        b.extend(o);
    }
    base
}

/// An install record of `provider_id` on `host_id`.
pub fn install(host_id: &str, over: Value) -> ProviderInstallRecord {
    typed(with(
        json!({
            "host_id": host_id, "pack_id": "p", "provider_id": "deepseek",
            "status": "installed", "access_status": "not_configured",
            "status_message": null, "last_batch_id": null, "last_reconcile_at": null,
            "disabled": false, "created_at": 0, "updated_at": 0
        }),
        over,
    ))
}

/// A provider of pack `p` with the given installs.
pub fn provider(provider_id: &str, installs: Vec<ProviderInstallRecord>) -> ProviderSummary {
    typed(json!({
        "pack_id": "p", "provider_id": provider_id, "display_name": "DeepSeek",
        "base_url": "https://api.deepseek.com", "status": "validated",
        "smoke_test_model": "deepseek-flash",
        "default_models": ["deepseek-flash", "deepseek-v4-pro"], "installs": installs
    }))
}

/// A recorded access closure (a gateway proof) in `mode`.
pub fn closure(over: Value) -> AccessClosureRecord {
    typed(with(
        json!({
            "id": 1, "host_id": "host_1", "pack_id": "p", "provider_id": "deepseek",
            "batch_id": null, "reconcile_run_id": null, "mode": "subscription",
            "probe_key_source": "managed_subscription", "probe_key_fingerprint": null,
            "probe_key_mask": "sk-u…1234", "models_status": 200, "expected_model_seen": true,
            "completion_status": 200, "completion_type": null, "completion_preview": "pong",
            "access_status": "subscription_ready", "message": null, "details": {}, "at": 0
        }),
        over,
    ))
}

/// The gateway proof of an access report.
pub fn proof(over: Value) -> relay_api_types::AccessProof {
    typed(with(
        json!({
            "mode": "subscription", "key_source": "managed_subscription",
            "key_fingerprint": "ab", "key_mask": "sk-c…4133", "smoke_model": "deepseek-flash",
            "models_status": 200, "smoke_model_seen": true, "models_listed": 2,
            "completion_status": 200, "completion_ok": true, "completion_failure": null,
            "completion_type": "chat.completion", "completion_preview": "pong",
            "completion_model": "deepseek-flash", "message": null, "attempts": 1,
            "elapsed_ms": 3, "models_ms": 1, "completion_ms": 1, "repairs": [],
            "accounts_out_of_service": [], "proof": "ready"
        }),
        over,
    ))
}
