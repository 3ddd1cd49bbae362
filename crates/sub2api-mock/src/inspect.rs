//! The inspection API under `/__mock/` (not part of the real host's API).

use serde_json::{json, Value};

use crate::faults::{Faults, HostKnobs};
use crate::http::{json_resp, not_found_route, Req, Resp};
use crate::server::{lock, Ctx};
use crate::state::State;

/// The fault knobs and the host-gate knobs as one JSON object.
fn knobs(st: &State) -> Value {
    let mut v = json!(st.faults);
    if let (Some(o), Value::Object(g)) = (v.as_object_mut(), json!(st.knobs)) {
        o.extend(g);
    }
    v
}

/// `GET /__mock/state`, `GET|POST /__mock/faults` (fault and host-gate knobs),
/// `POST /__mock/reset`.
pub(crate) fn handle(ctx: &Ctx, req: &Req, rest: &str) -> Resp {
    match (req.method.as_str(), rest.trim_end_matches('/')) {
        ("GET", "state") => json_resp(200, &lock(ctx).dump()),
        ("GET", "faults") => json_resp(200, &knobs(&lock(ctx))),
        ("POST", "faults") => {
            let mut st = lock(ctx);
            // Merge: fields absent from the document keep their current values.
            let mut current = knobs(&st);
            let patch: Value = match serde_json::from_slice(&req.body) {
                Ok(v @ Value::Object(_)) => v,
                _ => {
                    return json_resp(
                        400,
                        &json!({"error": "body must be a JSON object of fault knobs"}),
                    )
                }
            };
            if let (Some(cur), Some(p)) = (current.as_object_mut(), patch.as_object()) {
                for (k, v) in p {
                    cur.insert(k.clone(), v.clone());
                }
            }
            let parsed = serde_json::from_value::<Faults>(current.clone())
                .and_then(|f| Ok((f, serde_json::from_value::<HostKnobs>(current)?)));
            match parsed {
                Ok((f, g)) => {
                    st.set_faults(f);
                    st.set_knobs(g);
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
