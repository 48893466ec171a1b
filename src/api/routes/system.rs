//! The service itself: liveness (`/healthz`), readiness (`/readyz`), who the caller is
//! (`/api/me`, the page's login) and the Prometheus metrics (`/metrics`, operators and auditors).

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::auth::Authenticated;
use crate::api::error::{ApiError, Problem};
use crate::api::state::AppState;
use crate::govern::audit::Event;

/// Liveness.
#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "the process is up")))]
pub(in crate::api) async fn healthz() -> &'static str {
    "ok"
}

/// Who the caller is, as the users file says: the page shows the name and logs in with this.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub name: String,
    /// Highest 機密性 level the caller may see (1–3).
    pub clearance: u8,
    pub groups: Vec<String>,
    pub roles: Vec<String>,
}

/// The caller's own name, clearance, groups and roles. The page calls it to log in (and when a
/// reload restores the session); it is audited as `login`, not as a search.
#[utoipa::path(get, path = "/api/me",
    responses((status = 200, body = Me), (status = 401, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(in crate::api) async fn me(State(state): State<Arc<AppState>>, Authenticated(caller): Authenticated) -> Result<Json<Me>, ApiError> {
    state.record(Event { action: "login".into(), caller: caller.name.clone(), status: 200, ..Event::default() })?;
    Ok(Json(Me { name: caller.name, clearance: caller.clearance, groups: caller.groups, roles: caller.roles }))
}

/// Readiness and the served index.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ready {
    pub ready: bool,
}

/// Readiness: the model is loaded and the index (possibly empty) is open. It answers without a
/// login, so it says nothing more: document and passage counts, classified ones included, are
/// in `/metrics`, for operators.
#[utoipa::path(get, path = "/readyz", responses((status = 200, body = Ready)))]
pub(in crate::api) async fn readyz() -> Json<Ready> {
    Json(Ready { ready: true })
}

/// Prometheus metrics: request counts, latency histograms, index size and last index run. Only a
/// caller with the `operator` (or `auditor`) role may read them; Prometheus scrapes with such a
/// user's bearer token. The index size counts the documents and passages that caller may see, so
/// an operator with clearance 1 learns nothing of classified documents from it.
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus text format"), (status = 403, body = Problem)))]
pub(in crate::api) async fn metrics(State(state): State<Arc<AppState>>, Authenticated(caller): Authenticated) -> Result<Response, ApiError> {
    if !caller.has_role("operator") && !caller.has_role("auditor") {
        return Err(ApiError::Forbidden);
    }
    let gen = state.current();
    let last_run = gen
        .as_ref()
        .and_then(|g| g.state.finished_at.as_deref())
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.timestamp());
    let filter = caller.filter();
    let documents = gen.as_ref().map_or(0, |g| g.documents.values().filter(|d| filter.allows(&d.access)).count());
    let passages = match &gen {
        Some(g) => g.keyword.count(&filter).map_err(|e| ApiError::Internal(e.to_string()))?,
        None => 0,
    };
    let body = state.metrics.render(gen.as_ref().map(|g| g.id), documents, passages, last_run);
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body).into_response())
}
