//! The HTTP service (axum): search, document and health endpoints, the OpenAPI document and the
//! officials' page.
//!
//! Handlers stay thin: they authenticate the caller, turn the request into a [`Filter`] that
//! carries the caller's rights, and run retrieval on a blocking thread (embedding is CPU work).
//! The served index generation sits behind a lock that a background task swaps when the indexer
//! publishes a new one, so a nightly run is picked up without a restart and without failing the
//! requests in flight (they keep the generation they started with).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts, Path as UrlPath, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use utoipa::{OpenApi, ToSchema};

use crate::answer::extract::{AnswerSentence, ABSTAIN_MESSAGE};
use crate::engine::Engine;
use crate::govern::access::{Caller, Credentials, Users};
use crate::govern::audit::{AuditLog, Event, Record};
use crate::govern::validity::InForce;
use crate::index::keyword::days;
use crate::index::{Generation, IndexDir};
use crate::model::{DocType, Document, Filter};
use crate::retrieve::search::Mode;

/// Longest accepted question, in characters.
pub const MAX_QUERY_CHARS: usize = 1000;
/// Largest accepted page size.
pub const MAX_PAGE_SIZE: usize = 50;
/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Shared state of the service.
pub struct AppState {
    /// The models, the configuration and the query paths (see [`Engine`]).
    pub engine: Engine,
    pub users: Users,
    pub generation: RwLock<Option<Arc<Generation>>>,
    /// Where the page's files are read from; `None`: the copies built into the binary.
    pub web_dir: Option<PathBuf>,
    /// Refused requests per client (`server.max_refusals_per_minute`).
    pub refusals: crate::govern::access::FailureLimiter,
    /// Which refusals get a record of their own and which are only counted (see
    /// [`crate::govern::audit::Refusals`]).
    pub refusal_digest: crate::govern::audit::Refusals,
    /// Bounds concurrent retrievals (see [`query_permits`]); a request waits for one for at most
    /// `server.queue_timeout_secs`, then gets 503.
    pub permits: Arc<Semaphore>,
    pub audit: AuditLog,
    pub metrics: crate::metrics::Metrics,
}

/// The users file; a missing file means no users (every request is refused), said in the log,
/// and a file with the published development tokens is said too.
fn load_users(path: &Path) -> crate::error::Result<Users> {
    if !path.exists() {
        tracing::warn!(path = %path.display(), "no users file: every /api request will be refused (401)");
        return Ok(Users::default());
    }
    let users = Users::load(path)?;
    let dev = users.development_tokens();
    if !dev.is_empty() {
        tracing::warn!(
            path = %path.display(),
            users = ?dev,
            "the users file holds the published development tokens (dev-<name>): anyone may log in as these users. For real use, give each user a secret token: `shirabe hash-token < token.txt` prints the token_sha256 to put in the users file (README, Configuration)"
        );
    }
    Ok(users)
}

/// The permits for `server.max_concurrent_queries` (0 = one per core).
pub fn query_permits(config: &crate::config::ServerConfig) -> Arc<Semaphore> {
    let n = match config.max_concurrent_queries {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    };
    Arc::new(Semaphore::new(n))
}

impl AppState {
    /// The state `shirabe serve` runs with, built around the engine from its configuration: the
    /// users file, the audit log, the query slots and the current index generation (none yet:
    /// an empty index until the indexer publishes one). The service and the tests build it
    /// here, so they run the same state.
    pub fn new(engine: Engine) -> crate::error::Result<AppState> {
        let config = &engine.config;
        let users = load_users(&config.users_file())?;
        let generation = Generation::open_current(config, &engine.analyzers)?.map(Arc::new);
        if generation.is_none() {
            tracing::warn!(index = %config.index_dir().display(), "no index yet: serving an empty index until shirabe-indexer publishes one");
        }
        Ok(AppState {
            web_dir: config.server.web_dir.clone(),
            refusals: crate::govern::access::FailureLimiter::new(config.server.max_refusals_per_minute, Duration::from_secs(60)),
            permits: query_permits(&config.server),
            refusal_digest: crate::govern::audit::Refusals::new(crate::govern::audit::REFUSALS_RECORDED_PER_WINDOW, Duration::from_secs(60)),
            audit: open_audit_log(config)?,
            metrics: Default::default(),
            users,
            generation: RwLock::new(generation),
            engine,
        })
    }

    /// Waits for a retrieval slot: requests queue in arrival order (tokio's semaphore is fair)
    /// instead of failing as soon as the slots are taken, up to `server.queue_timeout_secs`.
    /// The permit moves into the blocking task, so a request abandoned by its client (or by the
    /// time limit) still holds its slot until its CPU work is done.
    async fn slot(&self) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
        let wait = Duration::from_secs(self.engine.config.server.queue_timeout_secs);
        match tokio::time::timeout(wait, self.permits.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(ApiError::Busy),
        }
    }

    fn current(&self) -> Option<Arc<Generation>> {
        self.generation.read().clone()
    }

    /// Records an event; a request whose audit record cannot be written (a full disk) is
    /// answered 503 instead of being served unaudited. The log is left as it was.
    fn record(&self, event: Event) -> Result<Record, ApiError> {
        self.audit.append(event).map_err(|e| {
            tracing::error!(error = %e, "cannot write the audit log: refusing the request (503)");
            ApiError::AuditUnavailable
        })
    }

    /// Writes the digests of refusals that were only counted; a digest that cannot be written
    /// is kept for the next try.
    fn record_digests(&self, digests: Vec<Event>, now: std::time::Instant) -> Result<(), ApiError> {
        let mut failed = None;
        for digest in digests {
            if failed.is_some() {
                self.refusal_digest.restore(&digest, now);
                continue;
            }
            if let Err(e) = self.record(digest.clone()) {
                self.refusal_digest.restore(&digest, now);
                failed = Some(e);
            }
        }
        failed.map_or(Ok(()), Err)
    }
}

/// The audit log, keyed with the configured audit key (see [`crate::govern::audit::configured_key`]).
fn open_audit_log(config: &crate::config::Config) -> crate::error::Result<AuditLog> {
    let key = crate::govern::audit::configured_key(config.audit.key_file.as_deref(), &config.data_dir, true)?;
    match &key {
        Some(k) => tracing::info!(key = %k.path().display(), id = k.id(), "the audit log is anchored with its key"),
        None => tracing::warn!("the audit log is not anchored: anyone who can write the data directory can rewrite it (set audit.key_file)"),
    }
    let log = AuditLog::open_with(&config.audit_dir(), key)?;
    // Also in the journal, outside the data directory: a later `audit verify` can be compared.
    tracing::info!(record = log.last_seq(), "audit log opened");
    Ok(log)
}

/// An RFC 9457 problem response (`application/problem+json`).
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    /// A message in Japanese and English.
    pub detail: String,
}

/// Errors of the API, each with a status and a message a person can act on.
#[derive(Debug)]
pub enum ApiError {
    Unauthorized,
    Forbidden,
    NotFound,
    BadRequest(String),
    TooLarge,
    Busy,
    /// Too many refused requests from this client; retry after the seconds given.
    TooManyRefusals(u64),
    /// The audit record could not be written (a full disk): nothing is served unaudited.
    AuditUnavailable,
    Internal(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry_after = match self {
            ApiError::TooManyRefusals(secs) => Some(secs),
            _ => None,
        };
        let (status, kind, title, detail) = match self {
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "認証が必要です / Authentication required",
                "有効なアクセストークンを Authorization: Bearer ヘッダーで送ってください。 / Send a valid token in the Authorization: Bearer header.".to_string(),
            ),
            ApiError::Forbidden => (
                StatusCode::FORBIDDEN,
                "forbidden",
                "権限がありません / Forbidden",
                "この操作に必要な役割がありません(監査ログは auditor、メトリクスは operator か auditor)。 / This needs a role: auditor for the audit log, operator or auditor for /metrics.".to_string(),
            ),
            ApiError::NotFound => (
                StatusCode::NOT_FOUND,
                "not-found",
                "見つかりません / Not found",
                "指定された文書は存在しないか、閲覧権限がありません。 / The document does not exist or you may not see it.".to_string(),
            ),
            ApiError::BadRequest(msg) => (StatusCode::BAD_REQUEST, "bad-request", "リクエストが不正です / Bad request", msg),
            ApiError::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                "リクエストが大きすぎます / Request too large",
                format!("リクエスト本文は {MAX_BODY_BYTES} バイトまでです。 / The body must be at most {MAX_BODY_BYTES} bytes."),
            ),
            ApiError::Busy => (
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "混雑しています / Busy",
                "しばらくしてから再度お試しください。 / Too many requests in progress; retry shortly.".to_string(),
            ),
            ApiError::TooManyRefusals(secs) => (
                StatusCode::TOO_MANY_REQUESTS,
                "too-many-refusals",
                "拒否されたリクエストが多すぎます / Too many refused requests",
                format!("{secs} 秒後に再度お試しください。 / Too many refused requests from this client; retry in {secs} s."),
            ),
            ApiError::AuditUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "audit-unavailable",
                "監査ログに記録できません / Audit log unavailable",
                "監査ログに記録できないため処理を中止しました。管理者に連絡してください。 / The request was not served because it could not be audited; contact the administrator.".to_string(),
            ),
            ApiError::Internal(msg) => {
                tracing::error!(error = %msg, "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "内部エラー / Internal error",
                    "処理中にエラーが発生しました。管理者に連絡してください。 / The request failed; contact the administrator.".to_string(),
                )
            }
        };
        let body = Problem { kind: format!("urn:shirabe:problem:{kind}"), title: title.to_string(), status: status.as_u16(), detail };
        let mut response = (status, Json(body)).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/problem+json"));
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("2"));
        }
        if let Some(secs) = retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
        }
        response
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return ApiError::TooLarge;
        }
        ApiError::BadRequest(format!("JSON の形式が正しくありません / Invalid JSON body: {}", r.body_text()))
    }
}

/// Who the credentials of a request name (`None`: nobody), worked out once by
/// [`audit_failures`] and kept in the request's extensions for the handler's [`Caller`].
#[derive(Clone)]
struct Identified(Option<Caller>);

/// The caller of an `/api` request, as a handler argument: a bearer token, or the SSO header
/// from a trusted proxy ([`crate::config::AuthConfig`]); anything else is 401.
pub struct Authenticated(pub Caller);

impl FromRequestParts<Arc<AppState>> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Authenticated, ApiError> {
        identify(parts, state).map(Authenticated)
    }
}

/// Works out who a request's credentials name (the audit middleware's answer when it ran).
fn identify(parts: &Parts, state: &AppState) -> Result<Caller, ApiError> {
    // Identified once per request, by the audit middleware that runs first.
    if let Some(Identified(known)) = parts.extensions.get::<Identified>() {
        return known.clone().ok_or(ApiError::Unauthorized);
    }
    let text = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    // Sent twice, a credential header is ambiguous (which one did the proxy set?): refused
    // rather than the first one believed.
    let repeated = |name: &str| parts.headers.get_all(name).iter().nth(1).is_some();
    if repeated(header::AUTHORIZATION.as_str()) || state.engine.config.auth.sso_header.as_deref().is_some_and(repeated) {
        tracing::warn!("a credential header sent more than once; refused");
        return Err(ApiError::Unauthorized);
    }
    let creds = Credentials {
        authorization: text(header::AUTHORIZATION.as_str()),
        sso_user: state.engine.config.auth.sso_header.as_deref().and_then(text),
        peer: parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()),
        host: text(header::HOST.as_str()),
    };
    state.users.identify(&state.engine.config.auth, &creds).ok_or(ApiError::Unauthorized)
}

/// User filters of a search or question.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Filters {
    /// Document types (`law`, `notice`, `circular`, `white_paper`, `guideline`, `minutes`, `other`).
    #[schema(value_type = Vec<DocType>)]
    pub doc_types: Vec<String>,
    /// Issuing bodies, exactly as shown in results.
    pub issuers: Vec<String>,
    /// Earliest issue date (inclusive), `YYYY-MM-DD`.
    pub date_from: Option<chrono::NaiveDate>,
    /// Latest issue date (inclusive), `YYYY-MM-DD`.
    pub date_to: Option<chrono::NaiveDate>,
    /// The date whose rules apply, `YYYY-MM-DD` (default: today). Documents abolished by then
    /// rank below their successors and are labelled 廃止済み; answers prefer documents in force.
    pub as_of: Option<chrono::NaiveDate>,
    /// Rank every version by relevance alone, superseded ones included (labels stay).
    pub all_versions: bool,
}

/// Today in the server's time zone: the default `as_of`.
fn today() -> chrono::NaiveDate {
    chrono::Local::now().date_naive()
}

impl Filters {
    fn as_of(&self) -> chrono::NaiveDate {
        self.as_of.unwrap_or_else(today)
    }

    /// Combines the user's filters with the caller's rights.
    fn to_filter(&self, caller: &Caller) -> Result<Filter, ApiError> {
        for t in &self.doc_types {
            if DocType::parse(t).is_none() {
                return Err(ApiError::BadRequest(format!("不明な文書種別です / Unknown document type: {t}")));
            }
        }
        let mut filter = caller.filter();
        filter.doc_types = self.doc_types.clone();
        filter.issuers = self.issuers.clone();
        filter.issued_from = self.date_from.map(days);
        filter.issued_to = self.date_to.map(days);
        Ok(filter)
    }
}

/// `POST /api/search` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    /// The question or keywords, in Japanese or English.
    #[schema(min_length = 1, max_length = 1000)]
    pub query: String,
    #[serde(default)]
    pub filters: Filters,
    /// 1-based page number.
    #[serde(default = "one", deserialize_with = "whole_number")]
    #[schema(minimum = 1, maximum = 100)]
    pub page: usize,
    /// Documents per page (at most 50).
    #[serde(default = "ten", deserialize_with = "whole_number")]
    #[schema(minimum = 1, maximum = 50)]
    pub size: usize,
    #[serde(default)]
    pub mode: Mode,
}

fn one() -> usize {
    1
}

/// A JSON integer, also written with a zero fraction (`19.0`): JSON Schema, and so the OpenAPI
/// document, counts `19.0` as an integer, and clients written in languages without an integer
/// type send it that way.
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let n = serde_json::Number::deserialize(d)?;
    if let Some(u) = n.as_u64() {
        return usize::try_from(u).map_err(serde::de::Error::custom);
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f >= 0.0 && f <= u32::MAX as f64 => Ok(f as usize),
        _ => Err(serde::de::Error::custom(format!("expected a whole number, not {n}"))),
    }
}
fn ten() -> usize {
    10
}

/// One passage of a result.
#[derive(Debug, Serialize, ToSchema)]
pub struct PassageResult {
    pub passage_id: String,
    /// HTML with `<mark>` around matched terms; everything else escaped.
    pub snippet: String,
    pub page: Option<u32>,
    pub anchor: Option<String>,
    pub start: usize,
    pub end: usize,
    pub score: f32,
    /// Link to the document view at this passage.
    pub link: String,
}

/// One document of a result page.
#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentResult {
    pub document: DocumentView,
    /// Whether it is in force on the request's `as_of` date.
    pub status: StatusView,
    pub score: f32,
    pub passages: Vec<PassageResult>,
}

/// A document named by a status: enough to show and link it.
#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentRef {
    pub id: String,
    pub title: String,
    pub number: Option<String>,
    pub issued: Option<chrono::NaiveDate>,
    pub link: String,
}

impl From<&Document> for DocumentRef {
    fn from(d: &Document) -> Self {
        DocumentRef { id: d.id.clone(), title: d.title.clone(), number: d.number.clone(), issued: d.issued, link: format!("/#doc={}&p=0", d.id) }
    }
}

/// Whether a document is in force on a date, as far as the caller may know: only documents the
/// caller may see are named here or count as successors.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusView {
    pub state: InForce,
    /// 現行, 廃止済み or 未施行.
    pub label: String,
    pub as_of: chrono::NaiveDate,
    /// 施行日 / 適用日, where the text states one.
    pub effective: Option<chrono::NaiveDate>,
    /// For 廃止済み: the document that abolished it, and from which day.
    pub successor: Option<DocumentRef>,
    pub superseded_from: Option<chrono::NaiveDate>,
    /// Documents in force by `as_of` that amend it.
    pub amended_by: Vec<DocumentRef>,
    /// Documents it abolishes or amends.
    pub abolishes: Vec<DocumentRef>,
    pub amends: Vec<DocumentRef>,
    /// For laws: amending laws recorded in its 附則.
    pub amended_by_laws: Vec<String>,
}

/// The status of `doc` on `as_of` for the caller whose rights `filter` carries.
fn status_view(gen: &Generation, doc: &Document, as_of: chrono::NaiveDate, filter: &Filter) -> StatusView {
    let status = gen.status(doc, as_of, filter);
    let refs = |ids: &[String]| ids.iter().filter_map(|id| gen.documents.get(id)).map(DocumentRef::from).collect::<Vec<_>>();
    let (successor, superseded_from) = match &status.superseded_by {
        Some((id, from)) => (gen.documents.get(id).map(DocumentRef::from), *from),
        None => (None, None),
    };
    StatusView {
        state: status.state,
        label: status.state.label_ja().to_string(),
        as_of,
        effective: doc.effective.or(status.effective_from),
        successor,
        superseded_from,
        amended_by: refs(&status.amended_by),
        abolishes: refs(&status.abolishes),
        amends: refs(&status.amends),
        amended_by_laws: doc.amended_by_laws.clone(),
    }
}

/// Document metadata as the API shows it (no internal paths).
#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentView {
    pub id: String,
    pub title: String,
    pub doc_type: DocType,
    pub doc_type_label: String,
    pub issuer: Option<String>,
    pub issued: Option<chrono::NaiveDate>,
    pub number: Option<String>,
    pub file_name: String,
    pub level: u8,
}

impl From<&Document> for DocumentView {
    fn from(d: &Document) -> Self {
        DocumentView {
            id: d.id.clone(),
            title: d.title.clone(),
            doc_type: d.doc_type,
            doc_type_label: d.doc_type.label_ja().to_string(),
            issuer: d.issuer.clone(),
            issued: d.issued,
            number: d.number.clone(),
            file_name: std::path::Path::new(&d.source_path).file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default(),
            level: d.access.level,
        }
    }
}

/// `POST /api/search` response.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResponse {
    /// Documents matching (only those the caller may see), across all pages.
    pub total: usize,
    pub page: usize,
    pub size: usize,
    pub results: Vec<DocumentResult>,
    /// Documents (of `total`) in which the keyword side found the query's words. 0 while
    /// `total` is not means nothing matched the words and every result is only close in meaning
    /// (the page says so); always 0 with `mode = vector`.
    pub keyword_matches: usize,
    /// Milliseconds the service spent on the request (waiting for a slot included).
    pub took_ms: u64,
}

/// A query must not be empty and may have at most [`MAX_QUERY_CHARS`] characters, as the
/// OpenAPI schema says. A query of only spaces or control characters is accepted and finds
/// nothing (an answer abstains): "whitespace" differs between Unicode tables, and a rule the
/// schema cannot state exactly would reject requests that clients (and the API fuzzer) take as
/// valid.
fn validate_query(q: &str) -> Result<(), ApiError> {
    if q.is_empty() {
        return Err(ApiError::BadRequest("検索語を入力してください / The query is empty".into()));
    }
    if q.chars().count() > MAX_QUERY_CHARS {
        return Err(ApiError::BadRequest(format!("検索語が長すぎます（{MAX_QUERY_CHARS} 文字まで） / The query is longer than {MAX_QUERY_CHARS} characters")));
    }
    Ok(())
}

/// Search documents; results carry only passages the caller may see.
#[utoipa::path(post, path = "/api/search", request_body = SearchRequest,
    responses((status = 200, body = SearchResponse), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
async fn search(State(state): State<Arc<AppState>>, Authenticated(caller): Authenticated, body: Result<Json<SearchRequest>, JsonRejection>) -> Result<Json<SearchResponse>, ApiError> {
    let Json(req) = body?;
    run_search(state, caller, req).await
}

/// `GET /api/search?q=…` query string: the quick form of `POST /api/search` for a browser's
/// address bar or curl (no filters).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    /// The question or keywords.
    #[param(required = true, min_length = 1, max_length = 1000)]
    pub q: String,
    /// 1-based page number.
    #[serde(default = "one")]
    #[param(required = false, minimum = 1, maximum = 100)]
    pub page: usize,
    /// Documents per page (at most 50).
    #[serde(default = "ten")]
    #[param(required = false, minimum = 1, maximum = 50)]
    pub size: usize,
    #[serde(default)]
    #[param(required = false, inline)]
    pub mode: Mode,
}

/// Search with the query in the URL (`GET /api/search?q=住民票&size=5`); the same results and
/// rights as `POST /api/search` without filters.
#[utoipa::path(get, path = "/api/search", params(SearchParams),
    responses((status = 200, body = SearchResponse), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
async fn search_get(
    State(state): State<Arc<AppState>>,
    Authenticated(caller): Authenticated,
    params: Result<axum::extract::Query<SearchParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<SearchResponse>, ApiError> {
    let axum::extract::Query(p) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    run_search(state, caller, SearchRequest { query: p.q, filters: Filters::default(), page: p.page, size: p.size, mode: p.mode }).await
}

async fn run_search(state: Arc<AppState>, caller: Caller, req: SearchRequest) -> Result<Json<SearchResponse>, ApiError> {
    let started = std::time::Instant::now();
    validate_query(&req.query)?;
    if req.size == 0 || req.size > MAX_PAGE_SIZE || req.page == 0 || req.page > 100 {
        return Err(ApiError::BadRequest(format!("size は 1〜{MAX_PAGE_SIZE}、page は 1〜100 です / size must be 1..={MAX_PAGE_SIZE} and page 1..=100")));
    }
    let filter = req.filters.to_filter(&caller)?;
    let Some(gen) = state.current() else {
        // No index yet: nothing found, but the question was still asked, so it is audited.
        state.record(Event { action: "search".into(), caller: caller.name.clone(), query: Some(req.query.clone()), filters: serde_json::to_value(&req.filters).ok(), status: 200, ..Event::default() })?;
        return Ok(Json(SearchResponse { total: 0, page: req.page, size: req.size, results: Vec::new(), keyword_matches: 0, took_ms: elapsed_ms(started) }));
    };
    let permit = state.slot().await?;
    let st = state.clone();
    let (query, mode, who) = (req.query.clone(), req.mode, caller.name.clone());
    let (as_of, all_versions) = (req.filters.as_of(), req.filters.all_versions);
    let docs = tokio::task::spawn_blocking(move || -> crate::Result<Vec<(crate::retrieve::search::DocumentHit, StatusView)>> {
        let _permit = permit;
        let docs = st.engine.search(&gen, &query, &filter, mode, (!all_versions).then_some(as_of), &who)?;
        Ok(docs.into_iter().map(|d| {
            let status = status_view(&gen, &d.document, as_of, &filter);
            (d, status)
        }).collect())
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    let total = docs.len();
    let keyword_matches = docs.iter().filter(|(d, _)| d.passages.iter().any(|p| p.keyword_rank.is_some())).count();
    let shown: Vec<_> = docs.iter().skip((req.page - 1) * req.size).take(req.size).collect();
    state.record(Event {
        action: "search".into(),
        caller: caller.name.clone(),
        query: Some(req.query.clone()),
        filters: serde_json::to_value(&req.filters).ok(),
        documents: shown.iter().map(|(d, _)| d.document.id.clone()).collect(),
        passages: shown.iter().flat_map(|(d, _)| d.passages.iter().map(|p| p.passage.id.clone())).collect(),
        status: 200,
        ..Event::default()
    })?;
    let results = docs
        .into_iter()
        .skip((req.page - 1) * req.size)
        .take(req.size)
        .map(|(hit, status)| DocumentResult {
            document: DocumentView::from(&hit.document),
            status,
            score: hit.score,
            passages: hit
                .passages
                .into_iter()
                .map(|p| PassageResult {
                    link: format!("/#doc={}&p={}", hit.document.id, p.passage.ordinal),
                    passage_id: p.passage.id,
                    snippet: p.snippet,
                    page: p.passage.page,
                    anchor: p.passage.anchor,
                    start: p.passage.start,
                    end: p.passage.end,
                    score: p.score,
                })
                .collect(),
        })
        .collect();
    Ok(Json(SearchResponse { total, page: req.page, size: req.size, results, keyword_matches, took_ms: elapsed_ms(started) }))
}

fn elapsed_ms(started: std::time::Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// A document with its passages.
#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentResponse {
    pub document: DocumentView,
    /// Whether it is in force on `as_of`.
    pub status: StatusView,
    /// Its line of succession, oldest first (this document included): each one abolished by the
    /// next. Only documents the caller may see.
    pub chain: Vec<DocumentRef>,
    pub passages: Vec<crate::model::Passage>,
}

/// Query parameters of `GET /api/documents/{id}`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DocumentQuery {
    /// The date whose rules apply, `YYYY-MM-DD` (default: today).
    pub as_of: Option<chrono::NaiveDate>,
}

/// A document and its passages (404 when it does not exist or the caller may not see it).
#[utoipa::path(get, path = "/api/documents/{id}", params(("id" = String, Path, description = "document id"), DocumentQuery),
    responses((status = 200, body = DocumentResponse), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
async fn document(
    State(state): State<Arc<AppState>>,
    Authenticated(caller): Authenticated,
    UrlPath(id): UrlPath<String>,
    query: Result<axum::extract::Query<DocumentQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<DocumentResponse>, ApiError> {
    let axum::extract::Query(q) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let _slot = state.slot().await?;
    let gen = state.current().ok_or(ApiError::NotFound)?;
    let filter = caller.filter();
    let (document, passages) = state.engine.document(&gen, &id, &filter).map_err(|e| ApiError::Internal(e.to_string()))?.ok_or(ApiError::NotFound)?;
    let doc = &document;
    let as_of = q.as_of.unwrap_or_else(today);
    let visible = |d: &Document| filter.allows(&d.access);
    let chain = gen.relations.chain(&gen.documents, doc, as_of, &visible).iter().filter_map(|id| gen.documents.get(id)).map(DocumentRef::from).collect();
    let status = status_view(&gen, doc, as_of, &filter);
    state.record(Event { action: "document".into(), caller: caller.name.clone(), documents: vec![id.clone()], status: 200, ..Event::default() })?;
    Ok(Json(DocumentResponse { document: DocumentView::from(doc), status, chain, passages }))
}

/// The original file of a document (404 when it does not exist or the caller may not see it).
#[utoipa::path(get, path = "/api/documents/{id}/file", params(("id" = String, Path, description = "document id")),
    responses((status = 200, description = "the original file"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
async fn document_file(State(state): State<Arc<AppState>>, Authenticated(caller): Authenticated, UrlPath(id): UrlPath<String>) -> Result<Response, ApiError> {
    let gen = state.current().ok_or(ApiError::NotFound)?;
    let doc = gen.documents.get(&id).filter(|d| caller.filter().allows(&d.access)).ok_or(ApiError::NotFound)?;
    let (path, hash, max) = (doc.source_path.clone(), doc.content_hash.clone(), state.engine.config.indexer.max_file_bytes);
    // A download holds a query slot while the file is copied and hashed (the hash must match
    // before the first byte is sent); the copy is then streamed, so memory stays small whatever
    // the file's size, and the slots bound how many copies are made at once.
    let slot = state.slot().await?;
    let read = tokio::task::spawn_blocking(move || {
        let _slot = slot;
        copy_indexed(Path::new(&path), &hash, max)
    });
    let (copy, length) = read.await.map_err(|e| ApiError::Internal(e.to_string()))?.map_err(|reason| {
        tracing::warn!(document = %id, path = %doc.source_path, %reason, "file not served");
        ApiError::NotFound
    })?;
    state.record(Event { action: "file".into(), caller: caller.name.clone(), documents: vec![id.clone()], status: 200, ..Event::default() })?;
    let name = DocumentView::from(doc).file_name;
    let mime = match name.rsplit('.').next().unwrap_or_default().to_ascii_lowercase().as_str() {
        "pdf" => "application/pdf",
        "html" | "htm" => "text/plain; charset=utf-8", // never render stored HTML in the page's origin
        "xml" => "application/xml",
        _ => "text/plain; charset=utf-8",
    };
    let disposition = format!("attachment; filename*=UTF-8''{}", percent_encode(&name));
    let body = axum::body::Body::from_stream(tokio_util::io::ReaderStream::new(tokio::fs::File::from_std(copy)));
    Ok(([(header::CONTENT_TYPE, mime.to_string()), (header::CONTENT_DISPOSITION, disposition), (header::CONTENT_LENGTH, length.to_string())], body).into_response())
}

/// A copy of an indexed file, only while its bytes are the bytes that were indexed (`hash`, the
/// sha256 the indexer recorded), never read through a symbolic link: an unnamed temporary file
/// positioned at its start, and its length. The access label belongs to the indexed content:
/// whoever can write to a share could otherwise swap a public file for another (or for a link to
/// a classified file) and have it served under the public label until the next nightly run. The
/// copy is what is served, so a change made to the share while the response is being sent cannot
/// reach the caller either. Errors say why, for the log; the caller answers 404 either way.
fn copy_indexed(path: &Path, hash: &str, max_bytes: u64) -> Result<(std::fs::File, u64), String> {
    use sha2::Digest;
    use std::io::{Read, Seek, Write};
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| format!("cannot open without following links: {e}"))?;
    let meta = file.metadata().map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    if meta.len() > max_bytes {
        return Err(format!("{} bytes, more than indexer.max_file_bytes", meta.len()));
    }
    let mut copy = tempfile::tempfile().map_err(|e| format!("cannot create a temporary copy: {e}"))?;
    let mut hasher = sha2::Sha256::new();
    let mut reader = file.take(max_bytes + 1);
    let mut buf = vec![0u8; 1 << 16];
    let mut length = 0u64;
    loop {
        let n = reader.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        copy.write_all(&buf[..n]).map_err(|e| format!("cannot write the temporary copy: {e}"))?;
        length += n as u64;
    }
    if hex::encode(hasher.finalize()) != hash {
        return Err("the file changed since it was indexed".into());
    }
    copy.rewind().map_err(|e| e.to_string())?;
    Ok((copy, length))
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

/// `POST /api/answer` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerRequest {
    #[schema(min_length = 1, max_length = 1000)]
    pub question: String,
    #[serde(default)]
    pub filters: Filters,
}

/// A cited passage of an answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Citation {
    /// The citation number used in the sentences.
    pub n: usize,
    pub passage_id: String,
    pub document_id: String,
    pub title: String,
    pub number: Option<String>,
    pub page: Option<u32>,
    /// 条/項 or heading.
    pub anchor: Option<String>,
    /// Character offsets of the passage in its document.
    pub start: usize,
    pub end: usize,
    pub link: String,
    /// Whether the cited document is in force on the question's `as_of` date.
    pub status: InForce,
    /// 現行, 廃止済み or 未施行.
    pub status_label: String,
}

/// `POST /api/answer` response: sentences copied verbatim from cited passages, or an abstention.
#[derive(Debug, Serialize, ToSchema)]
pub struct AnswerResponse {
    pub answer_id: String,
    pub answerable: bool,
    /// Japanese message shown when `answerable` is false.
    pub message: Option<String>,
    pub sentences: Vec<AnswerSentence>,
    pub citations: Vec<Citation>,
    /// Present when a generator is configured: whether its sentences are shown, how many it
    /// wrote were dropped by the support check, and why the extractive answer is shown if so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generator: Option<crate::answer::generate::GeneratorReport>,
    /// Milliseconds the service spent on the request (waiting for a slot included).
    pub took_ms: u64,
}

/// Answer a question from the passages the caller may see, citing each sentence, or abstain.
#[utoipa::path(post, path = "/api/answer", request_body = AnswerRequest,
    responses((status = 200, body = AnswerResponse), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
async fn answer(State(state): State<Arc<AppState>>, Authenticated(caller): Authenticated, body: Result<Json<AnswerRequest>, JsonRejection>) -> Result<Json<AnswerResponse>, ApiError> {
    let started = std::time::Instant::now();
    let Json(req) = body?;
    validate_query(&req.question)?;
    let filter = req.filters.to_filter(&caller)?;
    let gen = state.current();
    let permit = state.slot().await?;
    let st = state.clone();
    let (question, who) = (req.question.clone(), caller.name.clone());
    let (as_of, all_versions) = (req.filters.as_of(), req.filters.all_versions);
    let (hits, answer, generator) = tokio::task::spawn_blocking(move || -> crate::Result<_> {
        let _permit = permit;
        let Some(gen) = gen else { return Ok((Vec::new(), None, None)) };
        let asked = st.engine.answer(&gen, &question, &filter, as_of, all_versions, &who)?;
        Ok((asked.cited, Some(asked.answer), asked.generator))
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    let answer_id = format!("a-{}", uuid_like());
    let citations: Vec<Citation> = hits
        .iter()
        .enumerate()
        .map(|(i, (p, doc, state))| Citation {
            n: i + 1,
            passage_id: p.id.clone(),
            document_id: p.doc_id.clone(),
            title: doc.as_ref().map(|d| d.title.clone()).unwrap_or_default(),
            number: doc.as_ref().and_then(|d| d.number.clone()),
            page: p.page,
            anchor: p.anchor.clone(),
            start: p.start,
            end: p.end,
            link: format!("/#doc={}&p={}", p.doc_id, p.ordinal),
            status: *state,
            status_label: state.label_ja().to_string(),
        })
        .collect();
    let answerable = answer.as_ref().is_some_and(|a| a.answerable);
    let sentences = answer.map(|a| a.sentences).unwrap_or_default();
    state.record(Event {
        action: "answer".into(),
        caller: caller.name.clone(),
        query: Some(req.question.clone()),
        filters: serde_json::to_value(&req.filters).ok(),
        documents: citations.iter().map(|c| c.document_id.clone()).collect(),
        passages: citations.iter().map(|c| c.passage_id.clone()).collect(),
        answer_id: Some(answer_id.clone()),
        abstained: Some(!answerable),
        status: 200,
        ..Event::default()
    })?;
    Ok(Json(AnswerResponse {
        answer_id,
        answerable,
        message: (!answerable).then(|| ABSTAIN_MESSAGE.to_string()),
        sentences,
        citations,
        generator,
        took_ms: elapsed_ms(started),
    }))
}

fn uuid_like() -> String {
    use rand::Rng;
    let bytes: [u8; 12] = rand::thread_rng().gen();
    hex::encode(bytes)
}

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
async fn audit_tail(State(state): State<Arc<AppState>>, Authenticated(caller): Authenticated, query: Result<axum::extract::Query<AuditQuery>, axum::extract::rejection::QueryRejection>) -> Result<Json<Vec<Record>>, ApiError> {
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

/// Liveness.
#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "the process is up")))]
async fn healthz() -> &'static str {
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
async fn me(State(state): State<Arc<AppState>>, Authenticated(caller): Authenticated) -> Result<Json<Me>, ApiError> {
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
async fn readyz() -> Json<Ready> {
    Json(Ready { ready: true })
}

#[derive(OpenApi)]
#[openapi(
    info(title = "shirabe API", description = "Search and grounded answers over Japanese administrative documents. Every endpoint under /api needs `Authorization: Bearer <token>` (or, when configured, the SSO header set by a trusted reverse proxy)."),
    paths(search, search_get, answer, document, document_file, audit_tail, me, healthz, readyz, metrics),
    components(schemas(Me, SearchRequest, SearchResponse, AnswerRequest, AnswerResponse, Citation, AnswerSentence, crate::answer::generate::GeneratorReport, Filters, DocumentResult, DocumentView, PassageResult, DocumentResponse, Problem, Ready, Mode, DocType, crate::model::Passage, StatusView, DocumentRef, InForce)),
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

/// Prometheus metrics: request counts, latency histograms, index size and last index run. Only a
/// caller with the `operator` (or `auditor`) role may read them; Prometheus scrapes with such a
/// user's bearer token. The index size counts the documents and passages that caller may see, so
/// an operator with clearance 1 learns nothing of classified documents from it.
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus text format"), (status = 403, body = Problem)))]
async fn metrics(State(state): State<Arc<AppState>>, Authenticated(caller): Authenticated) -> Result<Response, ApiError> {
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

/// Who a refusal counts against, for the limiter and the digest: the caller's name when the
/// credentials name one; else the peer address or, when the peer is a trusted proxy
/// (`auth.trusted_proxies`), the client address that proxy appended to `X-Forwarded-For` (the
/// header's last entry; earlier ones were sent by the client and prove nothing), so that the
/// anonymous callers behind one proxy do not share one bucket.
fn client_of(parts: &Parts, state: &AppState, caller: Option<&Caller>) -> String {
    if let Some(caller) = caller {
        return caller.name.clone();
    }
    let Some(peer) = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_canonical()) else {
        return "anonymous".into();
    };
    let trusted = state.engine.config.auth.trusted_proxies.iter().any(|p| p.to_canonical() == peer);
    let forwarded = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .last()
        .filter(|_| trusted)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|last| last.trim().parse::<std::net::IpAddr>().ok());
    match forwarded {
        Some(client) => format!("anonymous@{} via {peer}", client.to_canonical()),
        None => format!("anonymous@{peer}"),
    }
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

/// The page's own files, and nothing else from the web folder (its tests and their tools
/// stay unserved): route, file name, content type, and the copy built into the binary (so an
/// installed service finds its page wherever it runs).
pub const PAGE_FILES: [(&str, &str, &str, &str); 3] = [
    ("/", "index.html", "text/html; charset=utf-8", include_str!("../web/index.html")),
    ("/app.js", "app.js", "text/javascript; charset=utf-8", include_str!("../web/app.js")),
    ("/style.css", "style.css", "text/css; charset=utf-8", include_str!("../web/style.css")),
];

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

/// Swaps in a newer generation when the indexer publishes one.
pub fn spawn_reloader(state: Arc<AppState>) {
    let interval = Duration::from_secs(state.engine.config.server.reload_interval_secs.max(1));
    tokio::spawn(async move {
        let index_dir = IndexDir::new(state.engine.config.index_dir());
        loop {
            tokio::time::sleep(interval).await;
            let served = state.current().map(|g| g.id);
            let Some(latest) = index_dir.current() else { continue };
            if Some(latest) == served {
                continue;
            }
            let st = state.clone();
            let dir = index_dir.clone();
            let opened = tokio::task::spawn_blocking(move || Generation::open(&dir, latest, &st.engine.analyzers, &st.engine.config)).await;
            match opened {
                Ok(Ok(gen)) => {
                    tracing::info!(generation = latest, passages = gen.num_passages(), "serving a new index generation");
                    *state.generation.write() = Some(Arc::new(gen));
                }
                Ok(Err(e)) => tracing::warn!(generation = latest, error = %e, "cannot open the new generation; still serving the previous one"),
                Err(e) => tracing::warn!(error = %e, "reload task failed"),
            }
        }
    });
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
