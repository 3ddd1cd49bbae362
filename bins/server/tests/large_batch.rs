//! A batch larger than a page of store rows: its view and its evidence document are
//! answered as streams, page by page, and arrive whole, every row exactly once; its
//! stored report and its entry in the batch lists do not grow with the keys.

use crate::common::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use sub2api_mock::{MockConfig, MockHost};

/// More than two pages of rows (`relay_api::batch_view::PAGE` is 500).
const KEYS: u64 = 1_201;

fn key(i: u64) -> String {
    // Hex digits only after the prefix: no pattern the mock's vendors refuse.
    format!("sk-test-{:032x}", i * 7919 + 1)
}

/// The answer's status, its `content-length` and `transfer-encoding` headers, and its
/// body as text.
fn call(
    method: &str,
    server: &Server,
    path: &str,
    body: Option<&Value>,
) -> (u16, Option<String>, Option<String>, String) {
    let url = format!("{}{path}", server.base);
    let auth = format!("Bearer {TOKEN}");
    let resp = match body {
        Some(b) => agent()
            .post(url)
            .header("Authorization", auth)
            .send_json(b)
            .unwrap(),
        None => {
            assert_eq!(method, "GET");
            agent()
                .get(url)
                .header("Authorization", auth)
                .call()
                .unwrap()
        }
    };
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (length, encoding) = (header("content-length"), header("transfer-encoding"));
    let status = resp.status().as_u16();
    let text = resp
        .into_body()
        .with_config()
        .limit(256 * 1024 * 1024)
        .read_to_string()
        .unwrap();
    (status, length, encoding, text)
}

/// The `id`s (or `seq`s) of a list of rows, checked strictly ascending: each row once.
fn ascending(rows: &Value, field: &str) -> Vec<i64> {
    let ids: Vec<i64> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[field].as_i64().unwrap())
        .collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "{field}s not strictly ascending"
    );
    ids
}

#[test]
fn a_large_batch_and_its_evidence_are_answered_whole_as_streams_with_every_row_once() {
    let mock = MockHost::start(MockConfig::default()).unwrap();
    let dir = temp_dir("large-batch");
    let server = start(&dir, Some(TOKEN));
    register_host_and_pack(&server, &mock);
    let keys: Vec<String> = (0..KEYS).map(key).collect();

    let (status, length, encoding, text) = call(
        "POST",
        &server,
        "/api/providers/deepseek/import",
        Some(&json!({"host_id": "main", "keys": keys, "mode": "strict"})),
    );
    assert_eq!(status, 200, "{}", &text[..text.len().min(2000)]);
    // Written as it is read: no length up front, chunked.
    assert_eq!(length, None);
    assert_eq!(encoding.as_deref(), Some("chunked"));
    let view: Value = serde_json::from_str(&text).expect("the whole answer is valid JSON");
    let fields: BTreeSet<&str> = view
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(
        fields,
        BTreeSet::from([
            "batch",
            "items",
            "resources",
            "probes",
            "closures",
            "reconcile_runs"
        ])
    );
    let batch = &view["batch"];
    assert_eq!(batch["status"], "succeeded");
    assert_eq!(batch["counts"]["total"], KEYS);
    assert_eq!(batch["counts"]["passed"], KEYS);

    // Every item exactly once, in line order, across the pages.
    let seqs = ascending(&view["items"], "seq");
    assert_eq!(seqs, (1..=KEYS as i64).collect::<Vec<_>>());
    let items = view["items"].as_array().unwrap();
    assert!(items.iter().all(|i| i["status"] == "passed"));
    let item_fps: BTreeSet<&str> = items
        .iter()
        .map(|i| i["fingerprint"].as_str().unwrap())
        .collect();
    assert_eq!(item_fps.len(), KEYS as usize);

    // Every recorded account exactly once, one per key; every probe once.
    ascending(&view["resources"], "id");
    let accounts: Vec<&Value> = view["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["resource_type"] == "account")
        .collect();
    let account_fps: BTreeSet<&str> = accounts
        .iter()
        .map(|r| r["fingerprint"].as_str().unwrap())
        .collect();
    assert_eq!(accounts.len(), KEYS as usize);
    assert_eq!(account_fps, item_fps);
    let probes = ascending(&view["probes"], "id");
    assert!(probes.len() >= KEYS as usize, "{} probes", probes.len());
    assert_eq!(
        mock.state()["accounts"].as_array().unwrap().len(),
        KEYS as usize
    );

    // The stored report is lean: nothing in it grows with the keys.
    let report = &batch["report"];
    assert_eq!(report["phase"], "import");
    assert_eq!(report["counts"]["total"], KEYS);
    assert_eq!(report["keys"], json!([]));
    assert_eq!(report["preview"]["keys"], json!([]));
    assert_eq!(report["preview"]["counts"]["new"], KEYS);
    assert!(report["resources"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["resource_type"] != "account"));
    assert!(report.to_string().len() < 16 * 1024, "{report}");
    assert_eq!(
        batch["request"]["keys"].as_array().unwrap().len(),
        KEYS as usize
    );

    // The batch read again is the same document, streamed the same way.
    let id = batch["id"].as_str().unwrap();
    let (status, length, encoding, again) =
        call("GET", &server, &format!("/api/import-batches/{id}"), None);
    assert_eq!(status, 200);
    assert_eq!((length, encoding.as_deref()), (None, Some("chunked")));
    assert_eq!(serde_json::from_str::<Value>(&again).unwrap(), view);
    // A missing batch is still a plain 404, decided before any byte is streamed.
    let (status, _, _, missing) = call("GET", &server, "/api/import-batches/batch_0000", None);
    assert_eq!(status, 404, "{missing}");
    assert_eq!(
        serde_json::from_str::<Value>(&missing).unwrap()["error"]["code"],
        "batch_not_found"
    );

    // The lists answer summaries: no request record's per-line lists.
    for path in [
        "/api/import-batches".to_string(),
        "/api/providers/deepseek/import-batches?host_id=main".to_string(),
    ] {
        let (status, _, _, list) = call("GET", &server, &path, None);
        assert_eq!(status, 200, "{list}");
        assert!(list.len() < 64 * 1024, "{path}: {} bytes", list.len());
        let list: Value = serde_json::from_str(&list).unwrap();
        let summary = &list["batches"][0];
        assert_eq!(summary["id"], id);
        assert_eq!(summary["counts"], batch["counts"]);
        assert_eq!(summary["report"], batch["report"]);
        assert!(summary["request"].get("keys").is_none(), "{summary}");
        assert!(summary["request"].get("dropped").is_none(), "{summary}");
        assert_eq!(
            summary["request"]["concurrency"],
            batch["request"]["concurrency"]
        );
    }

    // The evidence document is streamed the same way, every row once.
    let (status, length, encoding, evidence) = call(
        "GET",
        &server,
        &format!("/api/import-batches/{id}/evidence"),
        None,
    );
    assert_eq!(status, 200, "{}", &evidence[..evidence.len().min(2000)]);
    assert_eq!((length, encoding.as_deref()), (None, Some("chunked")));
    let doc: Value = serde_json::from_str(&evidence).expect("the whole document is valid JSON");
    assert_eq!(doc.as_object().unwrap().len(), 15, "{}", &evidence[..2000]);
    // The host mutations of the batch, every account create once.
    let account_creates = doc["audit_events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["object_kind"] == "account" && e["operation"] == "create")
        .count();
    assert_eq!(account_creates as u64, KEYS);
    assert_eq!(doc["format"], "relay-evidence/1");
    assert_eq!(doc["kind"], "import_batch");
    assert_eq!(doc["batch"]["id"], id);
    assert_eq!(doc["asked"], batch["request"]);
    assert_eq!(doc["keys"], view["items"]);
    assert_eq!(doc["host_objects"], view["resources"]);
    assert_eq!(doc["probes"], view["probes"]);
    assert_eq!(doc["access_proofs"], view["closures"]);
    assert_eq!(doc["report"], batch["report"]);
    assert_eq!(doc["reconcile_runs"], json!([]));

    // No key in the answers.
    assert!(keys
        .iter()
        .all(|k| !text.contains(k.as_str()) && !evidence.contains(k.as_str())));
}
