//! The dispatch from one file to its extractor: the format is read from the bytes where they are
//! clear and from the extension otherwise, then the documents are tidied ([`finish`]) and their
//! text capped ([`cap_text`]). The worker process ([`super::worker`]) runs exactly this.

use std::path::Path;

use super::document::{ExtractOptions, ExtractedDocument, Extraction, IngestError, Truncation};
use super::labels::{extension, is_supported};
use super::{assembly, html, law_xml, markup, minutes, pdf, sniff};

/// [`extract`], then [`cap_text`]: what the indexer stores for a file.
pub fn extract_capped(path: &Path, opts: &ExtractOptions) -> Result<Extraction, IngestError> {
    let mut documents = extract(path, opts)?;
    let truncated = cap_text(&mut documents, opts.max_chars);
    Ok(Extraction { documents, truncated })
}

/// Keeps at most `max_chars` characters of each document's text (sections in reading order; the
/// section that crosses the cap is cut, later ones dropped). The cap bounds everything done with
/// a document after extraction (passages, embedding, both stores) whatever the size of the file,
/// so a 64 MB file with no line breaks costs a bounded amount of memory and time. `0` = no cap.
pub fn cap_text(docs: &mut [ExtractedDocument], max_chars: usize) -> Option<Truncation> {
    if max_chars == 0 {
        return None;
    }
    let mut cut: Option<Truncation> = None;
    for doc in docs.iter_mut() {
        let total: usize = doc.sections.iter().map(|s| s.text.chars().count()).sum();
        if total <= max_chars {
            continue;
        }
        let mut room = max_chars;
        doc.sections.retain_mut(|section| {
            if room == 0 {
                return false;
            }
            let n = section.text.chars().count();
            if n > room {
                let end = section.text.char_indices().nth(room).map_or(section.text.len(), |(i, _)| i);
                section.text.truncate(end);
                room = 0;
            } else {
                room -= n;
            }
            !section.text.trim().is_empty()
        });
        let t = cut.get_or_insert(Truncation { kept_chars: 0, total_chars: 0 });
        t.kept_chars += max_chars - room;
        t.total_chars += total;
    }
    cut
}

/// Extracts the documents in one file.
///
/// The format is decided by the content where the bytes say clearly what they are (a PDF is read
/// as a PDF whatever its name), and otherwise by the extension; a mismatch the extractor cannot
/// handle (an HTML error page saved as `.pdf`) is an [`IngestError::FormatMismatch`].
pub fn extract(path: &Path, opts: &ExtractOptions) -> Result<Vec<ExtractedDocument>, IngestError> {
    let io = |source| IngestError::Io {
        path: path.to_path_buf(),
        source,
    };
    if !is_supported(path) {
        return Err(IngestError::Unsupported {
            path: path.to_path_buf(),
        });
    }
    let size = std::fs::metadata(path).map_err(io)?.len();
    if size > opts.max_bytes {
        return Err(IngestError::TooLarge {
            path: path.to_path_buf(),
            size,
            limit: opts.max_bytes,
        });
    }
    let bytes = std::fs::read(path).map_err(io)?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(IngestError::Empty {
            path: path.to_path_buf(),
        });
    }
    let ext = extension(path).unwrap_or_default();
    let kind = sniff::sniff(&bytes);
    let mismatch = |expected| IngestError::FormatMismatch {
        path: path.to_path_buf(),
        expected,
        found: kind.describe(),
    };
    let text = |bytes: &[u8]| {
        sniff::decode_text(bytes).ok_or_else(|| IngestError::Encoding {
            path: path.to_path_buf(),
        })
    };

    let docs = match (ext.as_str(), kind) {
        (_, sniff::Kind::Pdf) => {
            if ext != "pdf" {
                tracing::warn!(path = %path.display(), "file is a PDF despite its .{ext} name; reading it as a PDF");
            }
            pdf::extract(path, &bytes, opts)?
        }
        ("pdf", _) => return Err(mismatch("a PDF (.pdf)")),
        (_, sniff::Kind::Binary) => return Err(mismatch("text")),
        ("xml", sniff::Kind::Html) | ("html" | "htm", _) => vec![html::extract(&text(&bytes)?)],
        ("xml", sniff::Kind::Xml) => vec![law_xml::extract(path, &text(&bytes)?)?],
        ("xml", _) => return Err(mismatch("XML (.xml)")),
        ("md", _) => vec![markup::extract_markdown(&text(&bytes)?)],
        ("txt", _) => {
            let t = text(&bytes)?;
            if assembly::looks_like(&t) { assembly::extract(path, &t)? } else { vec![markup::extract_plain(&t)] }
        }
        ("jsonl", _) => minutes::extract(path, &text(&bytes)?)?,
        ("json", _) => minutes::extract_api_reply(path, &text(&bytes)?)?,
        _ => {
            return Err(IngestError::Unsupported {
                path: path.to_path_buf(),
            })
        }
    };
    finish(path, docs, opts.ocr)
}

/// Longest title kept, whatever the extractor: the title goes into every passage's embedding
/// text and keyword fields, and not every extractor bounds its own title (the guess from the first
/// lines of plain text stops at 120 characters), so one bound here covers every format.
pub(super) const MAX_TITLE_CHARS: usize = 200;

/// Drops empty sections and documents, fills a missing title from the file name, cuts an
/// overlong title.
fn finish(path: &Path, docs: Vec<ExtractedDocument>, ocr: bool) -> Result<Vec<ExtractedDocument>, IngestError> {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("").to_string();
    let docs: Vec<ExtractedDocument> = docs
        .into_iter()
        .map(|mut d| {
            d.sections.retain(|s| !s.text.trim().is_empty());
            if d.title.trim().is_empty() {
                d.title = stem.clone();
            }
            if let Some((cut, _)) = d.title.char_indices().nth(MAX_TITLE_CHARS) {
                d.title.truncate(cut);
            }
            d
        })
        .filter(|d| !d.sections.is_empty())
        .collect();
    if docs.is_empty() {
        return Err(IngestError::NoText {
            path: path.to_path_buf(),
            ocr_tried: ocr,
        });
    }
    Ok(docs)
}
