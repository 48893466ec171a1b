//! The limits on what a request may carry: the longest question, the largest page of results
//! and the largest body. The search and answer handlers check the first two, the router enforces
//! the body limit, and the 413 problem response states it.

/// Longest accepted question, in characters.
pub const MAX_QUERY_CHARS: usize = 1000;
/// Largest accepted page size.
pub const MAX_PAGE_SIZE: usize = 50;
/// Longest accepted note with a verdict on an answer, in characters.
pub const MAX_NOTE_CHARS: usize = 1000;
/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
