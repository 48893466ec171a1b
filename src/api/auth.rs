//! Who is calling: the [`Authenticated`] extractor that handlers take (a bearer token, or the SSO
//! header from a trusted proxy; anything else is 401), `identify`, which works that out once per
//! request, and `client_of`, who a refusal counts against for the limiter and the audit digest.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;

use crate::govern::access::{Caller, Credentials};

use super::error::ApiError;
use super::state::AppState;

/// Who the credentials of a request name (`None`: nobody), worked out once by
/// `audit_failures` (the audit middleware, in `api/mod.rs`) and kept in the request's extensions
/// for the handler's [`Caller`].
#[derive(Clone)]
pub(super) struct Identified(pub(super) Option<Caller>);

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
pub(super) fn identify(parts: &Parts, state: &AppState) -> Result<Caller, ApiError> {
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

/// Who a refusal counts against, for the limiter and the digest: the caller's name when the
/// credentials name one; else the peer address or, when the peer is a trusted proxy
/// (`auth.trusted_proxies`), the client address that proxy appended to `X-Forwarded-For` (the
/// header's last entry; earlier ones were sent by the client and prove nothing), so that the
/// anonymous callers behind one proxy do not share one bucket.
pub(super) fn client_of(parts: &Parts, state: &AppState, caller: Option<&Caller>) -> String {
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
