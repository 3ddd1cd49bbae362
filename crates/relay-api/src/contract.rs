//! The edge between the layers and the HTTP contract (`relay-api-types`).
//!
//! Every answer of a route is a value of the contract's type for that operation
//! ([`answer`]): the use-case's result (a type of relay-app, relay-store,
//! relay-provision, relay-access or relay-reconcile) is read into the contract's
//! type here, so what goes on the wire is the contract's serialization, whatever the
//! layers below change. A result that does not fit its contract type is a server
//! bug: it answers `500 internal` and is logged, and no partial answer leaves.
//!
//! Requests are parsed into the contract's request types by the routes, then mapped
//! to the use-cases' inputs ([`crate::routes`]).

use crate::error::ApiError;
use crate::router::ApiResponse;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// `value` (a result of the layers below) as the contract's type `T`.
pub fn contract<T: DeserializeOwned>(value: &impl Serialize) -> Result<T, ApiError> {
    // Through the compact encoding, not a JSON tree: a batch of 10,000 keys answers
    // with tens of thousands of records, and a tree of them weighs many times more.
    let doc = serde_json::to_vec(value).map_err(|e| misfit::<T>(&e))?;
    serde_json::from_slice(&doc).map_err(|e| misfit::<T>(&e))
}

/// Every item of `values` as the contract's type `T`.
pub fn contract_all<T: DeserializeOwned, V: Serialize>(values: &[V]) -> Result<Vec<T>, ApiError> {
    values.iter().map(contract).collect()
}

/// A `200` answer of the contract's type `T`, read from `value`.
pub fn answer<T: DeserializeOwned + Serialize>(
    value: &impl Serialize,
) -> Result<ApiResponse, ApiError> {
    ApiResponse::ok(&contract::<T>(value)?)
}

fn misfit<T>(error: &serde_json::Error) -> ApiError {
    let name = std::any::type_name::<T>();
    tracing::error!(contract_type = name, error = %error, "an answer does not fit its contract type");
    ApiError::internal(format!(
        "the answer does not fit its contract type {}",
        name.rsplit("::").next().unwrap_or(name)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use relay_api_types::{Health, HealthStatus, HostDeleted};
    use serde_json::json;

    #[test]
    fn a_value_is_read_as_its_contract_type_or_refused() {
        let health: Health = contract(&json!({"status": "ok"})).unwrap();
        assert_eq!(health.status, HealthStatus::Ok);
        let e = contract::<HostDeleted>(&json!({"deleted": true})).unwrap_err();
        assert_eq!(e.status, hyper::StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            e.message,
            "the answer does not fit its contract type HostDeleted"
        );
    }
}
