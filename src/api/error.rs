//! The API's errors: [`ApiError`], one variant per way a request can fail, and its answer, an
//! RFC 9457 [`Problem`] (`application/problem+json`) with a status, a message in Japanese and
//! English a person can act on, and the `WWW-Authenticate` / `Retry-After` headers where they
//! apply. A malformed or oversized JSON body ([`JsonRejection`]) becomes one of them too.

use axum::extract::rejection::JsonRejection;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::limits::MAX_BODY_BYTES;

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
    /// Feedback on an answer id that was not given to the caller since the service started
    /// (someone else's answer reads the same as one that never existed).
    AnswerNotFound,
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
            ApiError::AnswerNotFound => (
                StatusCode::NOT_FOUND,
                "not-found",
                "見つかりません / Not found",
                "この回答には評価を付けられません。あなたへの回答でないか、サービスの再起動より前の回答です。 / No answer with this id was given to you since the service started.".to_string(),
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
