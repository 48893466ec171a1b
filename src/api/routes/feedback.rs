//! Feedback on an answer (`POST /api/feedback`): an official marks an answer they were given
//! 役に立った, 誤り or 根拠が足りない, with an optional note. The verdict is audited together with
//! the question and the passages the answer cited, and `shirabe feedback export` turns the
//! records into questions for `shirabe eval-answers` ([`crate::eval::feedback`]).

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::auth::Authenticated;
use crate::api::error::{ApiError, Problem};
use crate::api::limits::MAX_NOTE_CHARS;
use crate::api::state::AppState;
use crate::eval::feedback::Verdict;
use crate::govern::audit::Event;

/// `POST /api/feedback` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedbackRequest {
    /// The `answer_id` of an answer given to the caller.
    pub answer_id: String,
    pub verdict: Verdict,
    /// What was wrong or missing, in the official's words.
    #[serde(default)]
    #[schema(max_length = 1000)]
    pub note: Option<String>,
}

/// `POST /api/feedback` response.
#[derive(Debug, Serialize, ToSchema)]
pub struct FeedbackResponse {
    pub answer_id: String,
    pub verdict: Verdict,
    /// The Japanese confirmation the page shows.
    pub message: String,
}

/// Judge an answer the caller was given: helpful, wrong, or without enough grounds.
#[utoipa::path(post, path = "/api/feedback", request_body = FeedbackRequest,
    responses((status = 200, body = FeedbackResponse), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 404, description = "no answer with this id was given to the caller since the service started", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(in crate::api) async fn feedback(State(state): State<Arc<AppState>>, Authenticated(caller): Authenticated, body: Result<Json<FeedbackRequest>, JsonRejection>) -> Result<Json<FeedbackResponse>, ApiError> {
    let Json(req) = body?;
    if req.note.as_ref().is_some_and(|n| n.chars().count() > MAX_NOTE_CHARS) {
        return Err(ApiError::BadRequest(format!("コメントが長すぎます（{MAX_NOTE_CHARS} 文字まで） / The note is longer than {MAX_NOTE_CHARS} characters")));
    }
    // Someone else's answer and an unknown id get the same answer, so an id reveals nothing.
    let answer = state.answers.get(&req.answer_id, &caller.name).ok_or(ApiError::AnswerNotFound)?;
    state.record(Event {
        action: "feedback".into(),
        caller: caller.name.clone(),
        query: Some(answer.question),
        passages: answer.passages,
        abstained: Some(answer.abstained),
        answer_id: Some(req.answer_id.clone()),
        verdict: Some(req.verdict.as_str().into()),
        note: req.note.filter(|n| !n.trim().is_empty()),
        status: 200,
        ..Event::default()
    })?;
    Ok(Json(FeedbackResponse {
        message: format!("「{}」として記録しました。ご協力ありがとうございます。", req.verdict.label_ja()),
        answer_id: req.answer_id,
        verdict: req.verdict,
    }))
}
