//! The audit log's tail (`GET /api/audit`): the latest records, for the auditor role only; the
//! reading is itself recorded.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde::Deserialize;

use crate::api::auth::Authenticated;
use crate::api::error::{ApiError, Problem};
use crate::api::state::AppState;
use crate::govern::audit::{Event, Record};

/// Query parameters of `GET /api/audit`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// How many of the latest records (at most 1000).
    #[serde(default = "hundred")]
    #[param(required = false, minimum = 0, maximum = 1000)]
    pub n: usize,
}

fn hundred() -> usize {
    100
}

/// The latest audit records (auditor role only).
#[utoipa::path(get, path = "/api/audit", params(AuditQuery),
    responses((status = 200, description = "audit records, oldest first"), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(in crate::api) async fn audit_tail(State(state): State<Arc<AppState>>, Authenticated(caller): Authenticated, query: Result<axum::extract::Query<AuditQuery>, axum::extract::rejection::QueryRejection>) -> Result<Json<Vec<Record>>, ApiError> {
    if !caller.has_role("auditor") {
        return Err(ApiError::Forbidden);
    }
    let axum::extract::Query(q) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    if q.n > 1000 {
        return Err(ApiError::BadRequest("n は 0〜1000 です / n must be 0..=1000".into()));
    }
    state.record(Event { action: "audit".into(), caller: caller.name.clone(), status: 200, ..Event::default() })?;
    let records = state.audit.tail(q.n.min(1000)).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Json(records))
}
