//! Search (`POST /api/search`, and `GET /api/search?q=…` without filters): the request (user
//! [`Filters`] combined with the caller's rights, page, size, mode), its validation, the run on a
//! blocking thread under a query slot, the audit record, and the response. It also owns the
//! result types the other resources reuse: [`DocumentView`], [`StatusView`] (in force on a date)
//! and [`DocumentRef`], with `status_view`, `today` (the default `as_of`), `validate_query` and
//! `elapsed_ms`.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::auth::Authenticated;
use crate::api::error::{ApiError, Problem};
use crate::api::limits::{MAX_PAGE_SIZE, MAX_QUERY_CHARS};
use crate::api::state::AppState;
use crate::govern::access::Caller;
use crate::govern::audit::Event;
use crate::govern::validity::InForce;
use crate::index::Generation;
use crate::index::keyword::days;
use crate::model::{DocType, Document, Filter};
use crate::retrieve::search::Mode;

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
pub(super) fn today() -> chrono::NaiveDate {
    chrono::Local::now().date_naive()
}

impl Filters {
    pub(super) fn as_of(&self) -> chrono::NaiveDate {
        self.as_of.unwrap_or_else(today)
    }

    /// Combines the user's filters with the caller's rights.
    pub(super) fn to_filter(&self, caller: &Caller) -> Result<Filter, ApiError> {
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
pub(super) fn status_view(gen: &Generation, doc: &Document, as_of: chrono::NaiveDate, filter: &Filter) -> StatusView {
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
pub(super) fn validate_query(q: &str) -> Result<(), ApiError> {
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
pub(in crate::api) async fn search(State(state): State<Arc<AppState>>, Authenticated(caller): Authenticated, body: Result<Json<SearchRequest>, JsonRejection>) -> Result<Json<SearchResponse>, ApiError> {
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
pub(in crate::api) async fn search_get(
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

pub(super) fn elapsed_ms(started: std::time::Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}
