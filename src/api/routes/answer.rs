//! Answers (`POST /api/answer`): a question answered from the passages the caller may see, with
//! sentences copied verbatim from the cited passages, or an abstention; the request, the
//! citations, the audit record and the response.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::search::{elapsed_ms, validate_query, Filters};
use crate::answer::extract::{AnswerSentence, ABSTAIN_MESSAGE};
use crate::api::auth::Authenticated;
use crate::api::error::{ApiError, Problem};
use crate::api::state::{AppState, GivenAnswer};
use crate::govern::audit::Event;
use crate::govern::validity::InForce;

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
pub(in crate::api) async fn answer(State(state): State<Arc<AppState>>, Authenticated(caller): Authenticated, body: Result<Json<AnswerRequest>, JsonRejection>) -> Result<Json<AnswerResponse>, ApiError> {
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
        answer_model: Some(state.engine.answer_model.version.clone()),
        status: 200,
        ..Event::default()
    })?;
    state.answers.remember(
        answer_id.clone(),
        GivenAnswer { caller: caller.name.clone(), question: req.question.clone(), passages: citations.iter().map(|c| c.passage_id.clone()).collect(), abstained: !answerable },
    );
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
