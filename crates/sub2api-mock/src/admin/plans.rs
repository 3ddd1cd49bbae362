//! Payment plans: `/api/v1/admin/payment/plans`.

use serde_json::Value;

use crate::http::{err, internal_error, ok, ok_message, ok_status, path_id, Body, Req, Resp};
use crate::state::{Plan, State};
use crate::util::now_ms;

type R = Result<Resp, Resp>;

pub(super) fn list(st: &mut State) -> R {
    let mut plans: Vec<&Plan> = st.plans.values().collect();
    plans.sort_by_key(|p| (p.sort_order, p.id));
    Ok(ok(Value::Array(
        plans.iter().map(|p| st.plan_dto(p)).collect(),
    )))
}

/// Applies fields (pointer semantics) and validates the result.
fn apply(st: &State, b: &Body, p: &mut Plan) -> Result<(), Resp> {
    if let Some(g) = b.i64("group_id")? {
        if !st.groups.contains_key(&g) {
            return Err(err(404, "group not found", "GROUP_NOT_FOUND"));
        }
        p.group_id = g;
    }
    if let Some(v) = b.str("name")? {
        p.name = v;
    }
    if let Some(v) = b.str("description")? {
        p.description = v;
    }
    if let Some(v) = b.f64("price")? {
        p.price = v;
    }
    if let Some(v) = b.f64("original_price")? {
        p.original_price = v;
    }
    if let Some(v) = b.i64("validity_days")? {
        p.validity_days = v;
    }
    if let Some(v) = b.str("validity_unit")? {
        p.validity_unit = v;
    }
    if let Some(v) = b.str("features")? {
        p.features = v;
    }
    if let Some(v) = b.str("product_name")? {
        p.product_name = v;
    }
    if let Some(v) = b.bool("for_sale")? {
        p.for_sale = v;
    }
    if let Some(v) = b.i64("sort_order")? {
        p.sort_order = v;
    }
    if p.name.trim().is_empty() {
        return Err(err(400, "plan name is required", "PLAN_NAME_REQUIRED"));
    }
    if p.price <= 0.0 {
        return Err(err(
            400,
            "plan price must be greater than 0",
            "PLAN_PRICE_INVALID",
        ));
    }
    if p.original_price < 0.0 {
        return Err(err(
            400,
            "plan original price must be >= 0",
            "PLAN_ORIGINAL_PRICE_INVALID",
        ));
    }
    if p.validity_days <= 0 {
        return Err(err(
            400,
            "plan validity days is required",
            "PLAN_VALIDITY_REQUIRED",
        ));
    }
    if p.validity_unit.trim().is_empty() {
        return Err(err(
            400,
            "plan validity unit is required",
            "PLAN_VALIDITY_UNIT_REQUIRED",
        ));
    }
    Ok(())
}

pub(super) fn create(st: &mut State, req: &Req) -> R {
    let map = req.json_object()?;
    let b = Body::new(&map, "CreatePlanRequest");
    if !b.present("group_id") {
        return Err(b.invalid("group_id", "required"));
    }
    let now = now_ms();
    let mut p = Plan {
        id: 0,
        group_id: 0,
        name: String::new(),
        description: String::new(),
        price: 0.0,
        original_price: 0.0,
        validity_days: 0,
        validity_unit: String::new(),
        features: String::new(),
        product_name: String::new(),
        for_sale: false,
        sort_order: 0,
        created_at: now,
        updated_at: now,
    };
    apply(st, &b, &mut p)?;
    p.id = st.next_id("plan");
    let id = p.id;
    st.plans.insert(id, p);
    Ok(ok_status(201, st.plan_row(&st.plans[&id])))
}

pub(super) fn update(st: &mut State, req: &Req, id: &str) -> R {
    let id = path_id(id, "plan")?;
    let map = req.json_object()?;
    let b = Body::new(&map, "UpdatePlanRequest");
    // The host updates by id and passes the ORM's not-found error through as a
    // plain 500 `internal error` (no reason), not a 404.
    let mut p = st.plans.get(&id).cloned().ok_or_else(internal_error)?;
    apply(st, &b, &mut p)?;
    p.updated_at = now_ms();
    st.plans.insert(id, p);
    Ok(ok(st.plan_row(&st.plans[&id])))
}

pub(super) fn delete(st: &mut State, id: &str) -> R {
    let id = path_id(id, "plan")?;
    // Like update: a missing plan is a plain 500 `internal error` on the host.
    if st.plans.remove(&id).is_none() {
        return Err(internal_error());
    }
    Ok(ok_message("deleted"))
}
