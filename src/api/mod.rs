//! The HTTP service (axum): search, document and health endpoints, the OpenAPI document and the
//! officials' page.
//!
//! Handlers stay thin: they authenticate the caller, turn the request into a [`Filter`](crate::model::Filter) that
//! carries the caller's rights, and run retrieval on a blocking thread (embedding is CPU work).
//! The served index generation sits behind a lock that a background task swaps when the indexer
//! publishes a new one, so a nightly run is picked up without a restart and without failing the
//! requests in flight (they keep the generation they started with).
//!
//! Layout (each module uses only those listed before it, never this one):
//!
//! - `limits`: how long a question, how large a page and a body may be;
//! - `error`: [`ApiError`] and its problem+json answer ([`Problem`]);
//! - `state`: [`AppState`], how it is built, and the reloader ([`spawn_reloader`]);
//! - `auth`: the [`Authenticated`] extractor and who a refusal counts against;
//! - `routes`: the handlers, one module per resource (`search`, `documents`, `answer`,
//!   `precedents`, `feedback`, `audit`, `system`);
//! - `page`: the officials' page's files ([`PAGE_FILES`]);
//! - this module: the OpenAPI document ([`ApiDoc`]), the middleware (metrics, the audit of
//!   refusals, security headers), the [`router`] and [`serve`].

mod auth;
mod error;
mod limits;
mod page;
mod routes;
mod state;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use utoipa::OpenApi;

use crate::answer::extract::AnswerSentence;
use crate::govern::audit::Event;
use crate::govern::validity::InForce;
use crate::model::DocType;
use crate::retrieve::search::Mode;

use auth::{client_of, identify, Identified};
// The handlers by their bare names (with the `__path_*` items `#[utoipa::path]` generates), so
// that `paths(...)` below lists them unqualified: a qualified path would give each operation a
// tag named after its module.
use routes::answer::{__path_answer, answer};
use routes::precedents::{__path_precedents, precedents};
use routes::audit::{__path_audit_tail, audit_tail};
use routes::documents::{__path_document, __path_document_file, document, document_file};
use routes::feedback::{__path_feedback, feedback};
use routes::search::{__path_search, __path_search_get, search, search_get};
use routes::system::{__path_healthz, __path_me, __path_metrics, __path_readyz, healthz, me, metrics, readyz};

pub use auth::Authenticated;
pub use error::{ApiError, Problem};
pub use limits::{MAX_BODY_BYTES, MAX_NOTE_CHARS, MAX_PAGE_SIZE, MAX_QUERY_CHARS};
pub use page::PAGE_FILES;
pub use routes::answer::{AnswerRequest, AnswerResponse, Citation};
pub use routes::precedents::{ExchangeView, PrecedentFilters, PrecedentGroupView, PrecedentsRequest, PrecedentsResponse, SpeechView};
pub use routes::audit::AuditQuery;
pub use routes::documents::{DocumentQuery, DocumentResponse};
pub use routes::feedback::{FeedbackRequest, FeedbackResponse};
pub use routes::search::{DocumentRef, DocumentResult, DocumentView, Filters, PassageResult, SearchParams, SearchRequest, SearchResponse, StatusView};
pub use routes::system::{Me, Ready};
pub use state::{query_permits, spawn_reloader, AppState, GivenAnswer, RecentAnswers};

#[derive(OpenApi)]
#[openapi(
    info(title = "shirabe API", description = "Search and grounded answers over Japanese administrative documents. Every endpoint under /api needs `Authorization: Bearer <token>` (or, when configured, the SSO header set by a trusted reverse proxy)."),
    paths(search, search_get, answer, precedents, feedback, document, document_file, audit_tail, me, healthz, readyz, metrics),
    components(schemas(Me, SearchRequest, SearchResponse, AnswerRequest, AnswerResponse, Citation, AnswerSentence, PrecedentsRequest, PrecedentsResponse, PrecedentFilters, PrecedentGroupView, ExchangeView, SpeechView, crate::model::Speaker, crate::model::Exchange, crate::precedent::outline::Outline, crate::precedent::outline::OutlineSentence, crate::precedent::outline::LawCitation, FeedbackRequest, FeedbackResponse, crate::eval::feedback::Verdict, crate::answer::generate::GeneratorReport, Filters, DocumentResult, DocumentView, PassageResult, DocumentResponse, Problem, Ready, Mode, DocType, crate::model::Passage, StatusView, DocumentRef, InForce)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
    }
}

async fn track(State(state): State<Arc<AppState>>, request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "other".to_string(), |p| p.as_str().to_string());
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    state.metrics.observe(&route, response.status().as_u16(), started.elapsed());
    response
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

async fn fallback() -> ApiError {
    ApiError::NotFound
}

/// Refused and failed API requests are audited too (401, 403, 404 for a missing or hidden id,
/// 400, 413, 429): an auditor sees who probed what, not only who succeeded. The record names the
/// caller when the credentials identify one, else `anonymous` with the client address (see
/// [`client_of`]), and holds the method and path (never a request body), cut to a bounded size.
/// Per client and status, the first refusals of a minute get a record each and the rest one
/// `refusals` digest ([`crate::govern::audit::Refusals`]), so a flood cannot grow the log without bound.
/// When the record cannot be written the answer is 503. Successful requests are recorded by
/// their handlers, with their results. A client refused more than
/// `server.max_refusals_per_minute` times in a minute gets 429 for the rest of it (see
/// [`crate::govern::access::FailureLimiter`]).
async fn audit_failures(State(state): State<Arc<AppState>>, request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let path = request.uri().path().to_string();
    if !path.starts_with("/api/") && path != "/metrics" {
        return next.run(request).await;
    }
    let method = request.method().to_string();
    let (mut parts, body) = request.into_parts();
    let caller = identify(&parts, &state).ok();
    parts.extensions.insert(Identified(caller.clone()));
    let client = client_of(&parts, &state, caller.as_ref());
    let now = std::time::Instant::now();
    let response = match state.refusals.blocked(&client, now) {
        Some(wait) => ApiError::TooManyRefusals(wait.as_secs().max(1)).into_response(),
        None => next.run(axum::extract::Request::from_parts(parts, body)).await,
    };
    let status = response.status();
    if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::NOT_FOUND) {
        state.refusals.refused(&client, now);
    }
    if status.is_client_error() {
        // The first refusals of a window are recorded one by one, the rest counted into a digest.
        let (decision, digests) = state.refusal_digest.note(&client, status.as_u16(), now);
        let mut written = state.record_digests(digests, now);
        if decision == crate::govern::audit::Refusal::Record && written.is_ok() {
            let action = if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::TOO_MANY_REQUESTS) { "denied" } else { "failed" };
            let event = Event { action: action.into(), caller: client, query: Some(format!("{method} {path}")), status: status.as_u16(), ..Event::default() };
            written = state.record(event).map(|_| ());
        }
        if let Err(unaudited) = written {
            return unaudited.into_response();
        }
    }
    response
}

/// Writes the digests of refusal windows that have ended, every few seconds, so that a client
/// that stops being refused still has its count recorded.
fn spawn_digest_writer(state: Arc<AppState>) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            let now = std::time::Instant::now();
            let digests = state.refusal_digest.due(Some(now));
            if !digests.is_empty() {
                let _ = state.record_digests(digests, now);
            }
        }
    });
}

/// Headers on every response: no content sniffing, no framing, scripts and styles only from the
/// service itself, no referrer; API responses (results, answers, documents) are not cached.
async fn security_headers(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let api = request.uri().path().starts_with("/api/");
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, header::HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, header::HeaderValue::from_static("DENY"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
    );
    h.insert(header::REFERRER_POLICY, header::HeaderValue::from_static("no-referrer"));
    if api {
        h.insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    }
    response
}

/// The router with every endpoint and the page.
pub fn router(state: Arc<AppState>) -> Router {
    let mut router = Router::new();
    for (route, file, content_type, built_in) in PAGE_FILES {
        router = match &state.web_dir {
            Some(dir) => router.route_service(route, tower_http::services::ServeFile::new(dir.join(file))),
            None => router.route(route, get(move || async move { ([(header::CONTENT_TYPE, content_type)], built_in) })),
        };
    }
    router
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .route("/api/search", post(search).get(search_get))
        .route("/api/answer", post(answer))
        .route("/api/precedents", post(precedents))
        .route("/api/feedback", post(feedback))
        .route("/api/audit", get(audit_tail))
        .route("/api/me", get(me))
        .route("/api/documents/{id}", get(document))
        .route("/api/documents/{id}/file", get(document_file))
        .route("/api/{*rest}", axum::routing::any(fallback))
        .fallback(fallback)
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), track))
        .layer(axum::middleware::from_fn_with_state(state.clone(), audit_failures))
        .layer(axum::middleware::from_fn(security_headers))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, Duration::from_secs(30)))
        .with_state(state)
}

/// Serves on `listener` until SIGTERM or Ctrl-C. The caller binds it, so a test can bind port 0
/// and know the address before the service starts, with no window for another process to take
/// it.
///
/// On either signal it stops accepting connections and returns once the requests in flight
/// have been answered (each has written its audit record by then). Under systemd it reports
/// `READY=1` once listening and `STOPPING=1` when told to stop (`Type=notify`).
pub async fn serve(state: Arc<AppState>, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    spawn_reloader(state.clone());
    spawn_digest_writer(state.clone());
    // The bound address: with port 0 the system chose one.
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "shirabe is listening");
    // Outside systemd (no NOTIFY_SOCKET) this does nothing.
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
    axum::serve(listener, router(state.clone()).into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    // Counted refusals of windows still open are written before the log is closed.
    if state.record_digests(state.refusal_digest.due(None), std::time::Instant::now()).is_err() {
        tracing::error!("cannot write the last digest of counted refusals to the audit log");
    }
    tracing::info!("shirabe stopped: every request in flight was answered");
    Ok(())
}

/// Resolves on SIGTERM (systemd, `kill`) or SIGINT (Ctrl-C).
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("stopping: no new connections; answering the requests in flight");
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
}
