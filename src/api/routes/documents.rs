//! Documents (`GET /api/documents/{id}` and `GET /api/documents/{id}/file`): a document the caller
//! may see with its passages, status and line of succession, and its original file, served from
//! a copy made only while the bytes are those that were indexed (`copy_indexed`).

use std::path::Path;
use std::sync::Arc;

use axum::extract::{Path as UrlPath, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::search::{status_view, today, DocumentRef, DocumentView, StatusView};
use crate::api::auth::Authenticated;
use crate::api::error::{ApiError, Problem};
use crate::api::state::AppState;
use crate::govern::audit::Event;
use crate::model::Document;

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
pub(in crate::api) async fn document(
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
pub(in crate::api) async fn document_file(State(state): State<Arc<AppState>>, Authenticated(caller): Authenticated, UrlPath(id): UrlPath<String>) -> Result<Response, ApiError> {
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
