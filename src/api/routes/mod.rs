//! The API's resources, one module per resource: `search` (`/api/search` and the result types
//! the other resources reuse), `documents` (`/api/documents/{id}` and its file), `answer`
//! (`/api/answer`), `precedents` (`/api/precedents`), `feedback` (`/api/feedback`), `audit` (`/api/audit`) and `system`
//! (`/api/me`, `/healthz`, `/readyz`, `/metrics`). A resource may use the types of `search`, never the other way round; the router
//! and the OpenAPI document that list them are in `api/mod.rs`.

pub(super) mod answer;
pub(super) mod audit;
pub(super) mod documents;
pub(super) mod feedback;
pub(super) mod precedents;
pub(super) mod search;
pub(super) mod system;
