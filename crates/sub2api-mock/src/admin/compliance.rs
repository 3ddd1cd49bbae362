//! The admin compliance gate: `GET /api/v1/admin/compliance`,
//! `POST /api/v1/admin/compliance/accept`, and the guard in front of every other
//! admin route (`423 ADMIN_COMPLIANCE_ACK_REQUIRED`). Texts and URLs are the host's
//! (sub2api 0.1.179); acceptance is per admin user.

use serde_json::{json, Value};

use crate::auth::Principal;
use crate::http::{bad_request, err, json_resp, ok, Body, Req, Resp};
use crate::state::State;
use crate::util::{now_ms, rfc3339};

type R = Result<Resp, Resp>;

/// The commitment version of sub2api 0.1.179.
pub(crate) const VERSION: &str = "v2026.06.10";
const PATH_ZH: &str = "docs/legal/admin-compliance.zh.md";
const PATH_EN: &str = "docs/legal/admin-compliance.en.md";
const URL_ZH: &str =
    "https://github.com/Wei-Shaw/sub2api/blob/main/docs/legal/admin-compliance.zh.md";
const URL_EN: &str =
    "https://github.com/Wei-Shaw/sub2api/blob/main/docs/legal/admin-compliance.en.md";
/// The phrase an admin types to accept (Chinese).
pub(crate) const PHRASE_ZH: &str = "我已阅读、理解并同意 Sub2API 部署与运营合规承诺";
/// The phrase an admin types to accept (English).
pub(crate) const PHRASE_EN: &str =
    "I have read, understood, and agree to the Sub2API Deployment and Operation Compliance Commitment";

/// Routes that pass the guard: `compliance` and everything below it.
pub(super) fn bypasses_guard(tpl: &str) -> bool {
    tpl == "compliance" || tpl.starts_with("compliance/")
}

/// The guard: `423` with the host's flat body while `who` has not accepted.
pub(super) fn guard(st: &State, who: Principal) -> Result<(), Resp> {
    if st.compliance_ok(who.user_id) {
        return Ok(());
    }
    Err(json_resp(
        423,
        &json!({
            "code": "ADMIN_COMPLIANCE_ACK_REQUIRED",
            "message": "administrator compliance acknowledgement is required",
            "metadata": {
                "version": VERSION,
                "document_path_zh": PATH_ZH,
                "document_path_en": PATH_EN,
                "document_url_zh": URL_ZH,
                "document_url_en": URL_EN,
            },
        }),
    ))
}

fn status(st: &State, who: Principal) -> Value {
    let mut v = json!({
        "required": true,
        "version": VERSION,
        "document_path_zh": PATH_ZH,
        "document_path_en": PATH_EN,
        "document_url_zh": URL_ZH,
        "document_url_en": URL_EN,
        "ack_phrase_zh": PHRASE_ZH,
        "ack_phrase_en": PHRASE_EN,
    });
    let accepted_at = if st.knobs.compliance_required {
        st.compliance_accepted.get(&who.user_id).copied()
    } else {
        // Gate satisfied: the mock stands for a host accepted at start-up.
        Some(st.started_ms)
    };
    if let Some(at) = accepted_at {
        v["required"] = json!(false);
        v["acknowledgement"] = json!({
            "version": VERSION,
            "document_zh": PATH_ZH,
            "document_en": PATH_EN,
            "admin_user_id": who.user_id,
            "ip_address": "127.0.0.1",
            "accepted_at": rfc3339(at),
        });
    }
    v
}

/// `GET /api/v1/admin/compliance`: the acting admin's status.
pub(super) fn get(st: &mut State, who: Principal) -> R {
    Ok(ok(status(st, who)))
}

/// `POST /api/v1/admin/compliance/accept` `{"phrase", "language"}`: records the
/// acting admin's acceptance when the phrase matches the language's phrase.
pub(super) fn accept(st: &mut State, req: &Req, who: Principal) -> R {
    let map = req.json_object()?;
    let b = Body::new(&map, "AcceptAdminComplianceRequest");
    let phrase = b.str("phrase")?.unwrap_or_default();
    if phrase.is_empty() {
        return Err(bad_request("Invalid request: Key: 'AcceptAdminComplianceRequest.Phrase' Error:Field validation for 'Phrase' failed on the 'required' tag"));
    }
    let language = b.str("language")?.unwrap_or_default().to_lowercase();
    let expected = if language.trim().starts_with("zh") {
        PHRASE_ZH
    } else {
        PHRASE_EN
    };
    if phrase.trim() != expected {
        return Err(err(
            400,
            "confirmation phrase does not match",
            "ADMIN_COMPLIANCE_INVALID_PHRASE",
        ));
    }
    if st.knobs.compliance_required {
        st.compliance_accepted.insert(who.user_id, now_ms());
    }
    Ok(ok(status(st, who)))
}
