//! Channels: `/api/v1/admin/channels`.

use serde_json::{json, Map, Value};

use crate::http::{err, ok, ok_message, page_params, paginate, Body, Req, Resp};
use crate::state::{Channel, State};
use crate::util::now_ms;

type R = Result<Resp, Resp>;

fn parse_id(id: &str) -> Result<i64, Resp> {
    id.parse::<i64>()
        .map_err(|_| err(400, "Invalid channel ID", "INVALID_CHANNEL_ID"))
}

fn find(st: &State, id: i64) -> Result<&Channel, Resp> {
    st.channels
        .get(&id)
        .ok_or_else(|| err(404, "channel not found", "CHANNEL_NOT_FOUND"))
}

fn validation(msg: &str) -> Resp {
    err(400, msg, "VALIDATION_ERROR")
}

const PRICE_KEYS: &[&str] = &[
    "input_price",
    "output_price",
    "cache_write_price",
    "cache_read_price",
    "image_input_price",
    "image_output_price",
    "per_request_price",
];

fn price_field(src: &Map<String, Value>, key: &str) -> Result<Value, Resp> {
    match src.get(key) {
        None | Some(Value::Null) => Ok(Value::Null),
        Some(Value::Number(n)) => {
            let v = n.as_f64().unwrap_or(0.0);
            if v < 0.0 {
                return Err(validation(&format!("{key} must be >= 0")));
            }
            Ok(json!(v))
        }
        Some(_) => Err(validation(&format!("{key} must be a number"))),
    }
}

/// Validates and normalises `model_pricing`, assigning entry and interval ids.
fn normalise_pricing(st: &mut State, raw: Vec<Value>) -> Result<Vec<Value>, Resp> {
    let mut out = Vec::with_capacity(raw.len());
    let mut seen: Vec<(String, String)> = Vec::new();
    for entry in raw {
        let Value::Object(e) = entry else {
            return Err(validation("model_pricing entries must be objects"));
        };
        let platform = e
            .get("platform")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .unwrap_or("anthropic")
            .to_string();
        let models: Vec<String> = match e.get("models") {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            _ => Vec::new(),
        };
        if models.is_empty() {
            return Err(validation(
                "model_pricing entry requires at least one model",
            ));
        }
        if models.len() > 100 {
            return Err(validation("model_pricing entry allows at most 100 models"));
        }
        for m in &models {
            let k = (platform.clone(), m.to_lowercase());
            if seen.contains(&k) {
                return Err(validation(&format!(
                    "model '{m}' appears in more than one pricing entry for platform '{platform}'"
                )));
            }
            seen.push(k);
        }
        let billing_mode = e
            .get("billing_mode")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .unwrap_or("token")
            .to_string();
        if !["token", "per_request", "image"].contains(&billing_mode.as_str()) {
            return Err(validation(&format!(
                "invalid billing_mode '{billing_mode}'"
            )));
        }
        let mut o = Map::new();
        o.insert("id".into(), json!(st.next_id("pricing")));
        o.insert("platform".into(), json!(platform));
        o.insert("models".into(), json!(models));
        o.insert("billing_mode".into(), json!(billing_mode));
        for k in PRICE_KEYS {
            o.insert(k.to_string(), price_field(&e, k)?);
        }
        let mut intervals = Vec::new();
        if let Some(Value::Array(list)) = e.get("intervals") {
            for (i, iv) in list.iter().enumerate() {
                let Value::Object(iv) = iv else {
                    return Err(validation("intervals must be objects"));
                };
                let mut io = Map::new();
                io.insert("id".into(), json!(st.next_id("interval")));
                io.insert(
                    "min_tokens".into(),
                    json!(iv.get("min_tokens").and_then(Value::as_i64).unwrap_or(0)),
                );
                io.insert(
                    "max_tokens".into(),
                    iv.get("max_tokens").cloned().unwrap_or(Value::Null),
                );
                io.insert(
                    "tier_label".into(),
                    json!(iv.get("tier_label").and_then(Value::as_str).unwrap_or("")),
                );
                for k in [
                    "input_price",
                    "output_price",
                    "cache_write_price",
                    "cache_read_price",
                    "per_request_price",
                ] {
                    io.insert(k.into(), price_field(iv, k)?);
                }
                io.insert(
                    "sort_order".into(),
                    json!(iv
                        .get("sort_order")
                        .and_then(Value::as_i64)
                        .unwrap_or(i as i64)),
                );
                intervals.push(Value::Object(io));
            }
        }
        o.insert("intervals".into(), Value::Array(intervals));
        out.push(Value::Object(o));
    }
    Ok(out)
}

fn validate_mapping(m: &Map<String, Value>) -> Result<(), Resp> {
    for (platform, inner) in m {
        let Value::Object(inner) = inner else {
            return Err(validation(&format!(
                "model_mapping.{platform} must be an object"
            )));
        };
        if inner.values().any(|v| !v.is_string()) {
            return Err(validation(&format!(
                "model_mapping.{platform} values must be strings"
            )));
        }
    }
    Ok(())
}

fn check_groups(st: &State, group_ids: &[i64], channel_id: i64) -> Result<(), Resp> {
    for gid in group_ids {
        if !st.groups.contains_key(gid) {
            return Err(err(404, "group not found", "GROUP_NOT_FOUND"));
        }
        if st
            .channels
            .values()
            .any(|c| c.id != channel_id && c.group_ids.contains(gid))
        {
            return Err(err(
                409,
                &format!("group {gid} already belongs to another channel"),
                "GROUP_ALREADY_IN_CHANNEL",
            ));
        }
    }
    Ok(())
}

fn apply_common(st: &mut State, b: &Body, c: &mut Channel) -> Result<(), Resp> {
    if let Some(v) = b.str("description")? {
        c.description = v;
    }
    if let Some(v) = b.str("billing_model_source")? {
        if !v.is_empty() && !["requested", "upstream", "channel_mapped"].contains(&v.as_str()) {
            return Err(b.invalid("billing_model_source", "oneof"));
        }
        if !v.is_empty() {
            c.billing_model_source = v;
        }
    }
    if let Some(v) = b.bool("restrict_models")? {
        c.restrict_models = v;
    }
    if let Some(v) = b.str("features")? {
        c.features = v;
    }
    if let Some(v) = b.obj("features_config")? {
        c.features_config = v;
    }
    if let Some(v) = b.bool("apply_pricing_to_account_stats")? {
        c.apply_pricing_to_account_stats = v;
    }
    if let Some(rules) = b.arr("account_stats_pricing_rules")? {
        for r in &rules {
            let empty_scope = r["group_ids"].as_array().is_none_or(|a| a.is_empty())
                && r["account_ids"].as_array().is_none_or(|a| a.is_empty());
            if empty_scope {
                return Err(err(
                    400,
                    "pricing rule needs group_ids or account_ids",
                    "PRICING_RULE_EMPTY_SCOPE",
                ));
            }
            if r["pricing"].as_array().is_none_or(|a| a.is_empty()) {
                return Err(err(
                    400,
                    "pricing rule needs pricing entries",
                    "PRICING_RULE_EMPTY_PRICING",
                ));
            }
        }
        c.account_stats_pricing_rules = rules;
    }
    if let Some(v) = b.obj("model_mapping")? {
        validate_mapping(&v)?;
        c.model_mapping = v;
    }
    if let Some(v) = b.arr("model_pricing")? {
        c.model_pricing = normalise_pricing(st, v)?;
    }
    if let Some(ids) = b.i64_vec("group_ids")? {
        check_groups(st, &ids, c.id)?;
        let mut ids = ids;
        ids.dedup();
        c.group_ids = ids;
    }
    Ok(())
}

pub(super) fn list(st: &mut State, req: &Req) -> R {
    let (page, size) = page_params(req);
    let status = req.q_nonempty("status");
    let search = req.q_nonempty("search").map(str::to_lowercase);
    let mut chans: Vec<&Channel> = st
        .channels
        .values()
        .filter(|c| status.is_none_or(|s| c.status == s))
        .filter(|c| {
            search
                .as_ref()
                .is_none_or(|s| c.name.to_lowercase().contains(s))
        })
        .collect();
    // Default sort: created_at desc.
    chans.sort_by_key(|c| (c.created_at, c.id));
    if req.q("sort_order") != Some("asc") {
        chans.reverse();
    }
    let items: Vec<Value> = chans.iter().map(|c| st.channel_dto(c)).collect();
    Ok(ok(paginate(items, page, size)))
}

pub(super) fn get(st: &mut State, id: &str) -> R {
    let id = parse_id(id)?;
    Ok(ok(st.channel_dto(find(st, id)?)))
}

pub(super) fn create(st: &mut State, req: &Req) -> R {
    let map = req.json_object()?;
    let b = Body::new(&map, "CreateChannelRequest");
    let name = b.req_str("name")?;
    if name.chars().count() > 100 {
        return Err(b.invalid("name", "max"));
    }
    if st.channels.values().any(|c| c.name == name) {
        return Err(err(409, "channel name already exists", "CHANNEL_EXISTS"));
    }
    let now = now_ms();
    let mut c = Channel {
        id: 0,
        name,
        description: String::new(),
        status: "active".to_string(),
        billing_model_source: "channel_mapped".to_string(),
        restrict_models: false,
        features: String::new(),
        features_config: Map::new(),
        group_ids: Vec::new(),
        model_pricing: Vec::new(),
        model_mapping: Map::new(),
        apply_pricing_to_account_stats: false,
        account_stats_pricing_rules: Vec::new(),
        created_at: now,
        updated_at: now,
    };
    apply_common(st, &b, &mut c)?;
    c.id = st.next_id("channel");
    let id = c.id;
    st.channels.insert(id, c);
    Ok(ok(st.channel_dto(&st.channels[&id])))
}

pub(super) fn update(st: &mut State, req: &Req, id: &str) -> R {
    let id = parse_id(id)?;
    let map = req.json_object()?;
    let b = Body::new(&map, "UpdateChannelRequest");
    let mut c = find(st, id)?.clone();
    if let Some(name) = b.str("name")? {
        if name.is_empty() || name.chars().count() > 100 {
            return Err(b.invalid("name", "max"));
        }
        if st.channels.values().any(|o| o.id != id && o.name == name) {
            return Err(err(409, "channel name already exists", "CHANNEL_EXISTS"));
        }
        c.name = name;
    }
    if let Some(s) = b.str("status")? {
        if s != "active" && s != "disabled" {
            return Err(b.invalid("status", "oneof"));
        }
        c.status = s;
    }
    apply_common(st, &b, &mut c)?;
    c.updated_at = now_ms();
    st.channels.insert(id, c);
    Ok(ok(st.channel_dto(&st.channels[&id])))
}

pub(super) fn delete(st: &mut State, id: &str) -> R {
    let id = parse_id(id)?;
    find(st, id)?;
    st.channels.remove(&id);
    Ok(ok_message("Channel deleted successfully"))
}
