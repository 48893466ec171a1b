//! Precedents (`POST /api/precedents`): how a parliamentary question was answered before.
//!
//! The question of a 質問通告 goes in; the past exchanges the caller may see come back, closest
//! past question first, near-identical answers repeated over the years grouped newest first, with
//! the outline of a reply (答弁案の骨子) whose every sentence is quoted from an answer and cited, or
//! 「前例は見つかりませんでした」. Filters narrow by house or assembly, date range and answering
//! position; the caller's rights apply inside retrieval as for search, and every request is
//! audited with the exchanges and passages it showed.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::search::{elapsed_ms, validate_query};
use crate::api::auth::Authenticated;
use crate::api::error::{ApiError, Problem};
use crate::api::state::AppState;
use crate::govern::audit::Event;
use crate::index::keyword::days;
use crate::precedent::outline::Outline;
use crate::precedent::rank::{ExchangeHit, PrecedentQuery};
use crate::retrieve::search::Mode;
use crate::model::Speaker;

/// Most exchanges one request may ask for.
const MAX_LIMIT: usize = 30;

/// Filters of a precedent search.
#[derive(Debug, Default, Clone, Deserialize, Serialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PrecedentFilters {
    /// Houses or assemblies (衆議院, 参議院, 架空市議会), exactly as shown; empty: all.
    pub houses: Vec<String>,
    /// Earliest meeting date (inclusive), `YYYY-MM-DD`.
    pub date_from: Option<chrono::NaiveDate>,
    /// Latest meeting date (inclusive), `YYYY-MM-DD`.
    pub date_to: Option<chrono::NaiveDate>,
    /// Keep exchanges answered by someone whose position contains one of these (総務大臣,
    /// 文部科学省, 市長); empty: any.
    pub positions: Vec<String>,
}

/// `POST /api/precedents` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PrecedentsRequest {
    /// The new question, as the 質問通告 words it.
    #[schema(min_length = 1, max_length = 1000)]
    pub question: String,
    #[serde(default)]
    pub filters: PrecedentFilters,
    /// Exchanges returned (before grouping), 1–30.
    #[serde(default = "ten")]
    #[schema(minimum = 1, maximum = 30)]
    pub limit: usize,
}

fn ten() -> usize {
    10
}

/// One speech of an exchange.
#[derive(Debug, Serialize, ToSchema)]
pub struct SpeechView {
    pub passage_id: String,
    /// 「質問 山田太郎（会派）」 or 「答弁 武田良太（総務大臣）」.
    pub anchor: Option<String>,
    pub text: String,
}

/// A past exchange: the question and the answers that followed it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExchangeView {
    pub document_id: String,
    pub title: String,
    pub score: f32,
    pub house: String,
    pub meeting: String,
    /// 号.
    pub issue: Option<String>,
    pub session: Option<u32>,
    pub date: Option<chrono::NaiveDate>,
    pub questioner: Speaker,
    pub answerers: Vec<Speaker>,
    /// Excerpt of the question, terms in `<mark>` (HTML-escaped).
    pub question_excerpt: String,
    pub question: Vec<SpeechView>,
    pub answers: Vec<SpeechView>,
    /// The published minutes (NDL), where the source gives a link.
    pub url: Option<String>,
    /// The exchange in this service's document view.
    pub link: String,
}

/// Exchanges whose answers repeat one another, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct PrecedentGroupView {
    pub exchanges: Vec<ExchangeView>,
}

/// `POST /api/precedents` response.
#[derive(Debug, Serialize, ToSchema)]
pub struct PrecedentsResponse {
    pub groups: Vec<PrecedentGroupView>,
    pub outline: Outline,
    pub took_ms: u64,
}

fn speech(p: &crate::model::Passage) -> SpeechView {
    SpeechView { passage_id: p.id.clone(), anchor: p.anchor.clone(), text: p.text.clone() }
}

fn view(hit: &ExchangeHit) -> Option<ExchangeView> {
    let e = hit.exchange()?;
    Some(ExchangeView {
        document_id: hit.document.id.clone(),
        title: hit.document.title.clone(),
        score: hit.score,
        house: e.house.clone(),
        meeting: e.meeting.clone(),
        issue: e.issue.clone(),
        session: e.session,
        date: hit.document.issued,
        questioner: e.questioner.clone(),
        answerers: e.answerers.clone(),
        question_excerpt: hit.snippet.clone(),
        question: hit.question.iter().map(speech).collect(),
        answers: hit.answers.iter().map(speech).collect(),
        url: e.url.clone(),
        link: format!("/#doc={}", hit.document.id),
    })
}

/// Find how a question was answered before, and outline a reply from those answers.
#[utoipa::path(post, path = "/api/precedents", request_body = PrecedentsRequest,
    responses((status = 200, body = PrecedentsResponse), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(in crate::api) async fn precedents(State(state): State<Arc<AppState>>, Authenticated(caller): Authenticated, body: Result<Json<PrecedentsRequest>, JsonRejection>) -> Result<Json<PrecedentsResponse>, ApiError> {
    let started = std::time::Instant::now();
    let Json(req) = body?;
    validate_query(&req.question)?;
    if !(1..=MAX_LIMIT).contains(&req.limit) {
        return Err(ApiError::BadRequest(format!("limit は 1〜{MAX_LIMIT} で指定してください / limit must be 1 to {MAX_LIMIT}")));
    }
    let mut filter = caller.filter();
    filter.issuers = req.filters.houses.clone();
    filter.issued_from = req.filters.date_from.map(days);
    filter.issued_to = req.filters.date_to.map(days);
    let gen = state.current();
    let permit = state.slot().await?;
    let st = state.clone();
    let (question, who, positions, limit) = (req.question.clone(), caller.name.clone(), req.filters.positions.clone(), req.limit);
    let found = tokio::task::spawn_blocking(move || -> crate::Result<_> {
        let _permit = permit;
        let Some(gen) = gen else { return Ok(None) };
        let query = PrecedentQuery { question: &question, filter, positions, mode: Mode::Hybrid, limit };
        st.engine.precedents(&gen, &query, &who).map(Some)
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    let (groups, outline) = match found {
        Some(f) => (f.groups, f.outline),
        None => (Vec::new(), crate::precedent::outline::outline_without_index()),
    };
    let groups: Vec<PrecedentGroupView> = groups.iter().map(|g| PrecedentGroupView { exchanges: g.exchanges.iter().filter_map(view).collect() }).collect();
    let documents: Vec<String> = groups.iter().flat_map(|g| g.exchanges.iter().map(|e| e.document_id.clone())).collect();
    let mut passages: Vec<String> = outline.sentences.iter().map(|s| s.passage_id.clone()).collect();
    passages.extend(outline.laws.iter().filter_map(|l| l.passage_id.clone()));
    state.record(Event {
        action: "precedents".into(),
        caller: caller.name.clone(),
        query: Some(req.question.clone()),
        filters: serde_json::to_value(&req.filters).ok(),
        documents,
        passages,
        abstained: Some(outline.abstained),
        status: 200,
        ..Event::default()
    })?;
    Ok(Json(PrecedentsResponse { groups, outline, took_ms: elapsed_ms(started) }))
}
