//! The inspection API under `/__mock/` (not part of the real host's API).

use serde_json::{json, Value};

use crate::faults::{Faults, HostKnobs};
use crate::http::{json_resp, not_found_route, Req, Resp};
use crate::policy::HostPolicy;
use crate::server::{lock, Ctx};
use crate::state::State;

/// The fault knobs, the host settings and the host-gate knobs as one document.
fn knobs(st: &State) -> Value {
    let mut doc = st.faults_view();
    for part in [json!(st.policy), json!(st.knobs)] {
        if let (Some(d), Value::Object(p)) = (doc.as_object_mut(), part) {
            d.extend(p);
        }
    }
    doc
}

/// `GET /__mock/state`, `GET /__mock/secrets` (every raw secret the host holds or
/// issued, for leak scans), `GET|POST /__mock/faults` (fault knobs, host settings
/// and host-gate knobs), `POST /__mock/reset`.
pub(crate) fn handle(ctx: &Ctx, req: &Req, rest: &str) -> Resp {
    match (req.method.as_str(), rest.trim_end_matches('/')) {
        ("GET", "state") => json_resp(200, &lock(ctx).dump()),
        ("GET", "secrets") => json_resp(200, &json!({"secrets": lock(ctx).secrets()})),
        ("GET", "faults") => json_resp(200, &knobs(&lock(ctx))),
        ("POST", "faults") => {
            let mut st = lock(ctx);
            // Merge: fields absent from the document keep their current values.
            let mut current = knobs(&st);
            let mut patch: Value = match serde_json::from_slice(&req.body) {
                Ok(v @ Value::Object(_)) => v,
                _ => {
                    return json_resp(
                        400,
                        &json!({"error": "body must be a JSON object of fault knobs"}),
                    )
                }
            };
            // The gateway's models-cache lifetime rides along with the fault knobs.
            let ttl = match patch
                .as_object_mut()
                .and_then(|p| p.remove("models_cache_ttl_ms"))
            {
                None => None,
                Some(v) => match v.as_u64() {
                    Some(ms) => Some(ms),
                    None => {
                        return json_resp(
                            400,
                            &json!({"error": "models_cache_ttl_ms must be a non-negative integer"}),
                        )
                    }
                },
            };
            if let (Some(cur), Some(p)) = (current.as_object_mut(), patch.as_object()) {
                for (k, v) in p {
                    cur.insert(k.clone(), v.clone());
                }
            }
            let parsed = serde_json::from_value::<Faults>(current.clone()).and_then(|f| {
                let p = serde_json::from_value::<HostPolicy>(current.clone())?;
                Ok((f, p, serde_json::from_value::<HostKnobs>(current)?))
            });
            match parsed {
                Ok((f, p, g)) => {
                    st.set_faults(f);
                    st.policy = p;
                    st.set_knobs(g);
                    if let Some(ms) = ttl {
                        st.models_cache_ttl_ms = ms;
                        st.models_cache.clear();
                    }
                    json_resp(200, &knobs(&st))
                }
                Err(e) => json_resp(400, &json!({"error": format!("invalid fault knobs: {e}")})),
            }
        }
        ("POST", "reset") => {
            let mut st = lock(ctx);
            let fresh = State::reset_from(&st);
            *st = fresh;
            json_resp(200, &json!({"reset": true}))
        }
        _ => not_found_route(),
    }
}
