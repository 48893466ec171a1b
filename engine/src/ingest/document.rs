//! What extraction produces and how it fails: [`ExtractedDocument`] with its [`Section`]s, the
//! [`IngestError`] every extractor returns, and the limits ([`ExtractOptions`]) a file is read
//! under. The extractors, the worker process and the folder listing all build on these types, so
//! they sit in a file of their own that imports no extractor.

use std::path::PathBuf;
use std::time::Duration;

use chrono::NaiveDate;

use super::meta;
use crate::model::DocType;

/// One document found in a source file (most files hold one; a minutes file holds one per
/// meeting).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ExtractedDocument {
    /// `""` for single-document files; a stable sub-key (`<date>-<house>-<meeting>` for
    /// minutes) for files that hold several documents.
    pub key: String,
    pub title: String,
    pub doc_type: DocType,
    /// 発出者 / 所管 (e.g. 厚生労働省保険局医療課長), when the text names one.
    pub issuer: Option<String>,
    /// Issue or promulgation date.
    pub issued: Option<NaiveDate>,
    /// 文書番号 / 法令番号 (e.g. 厚生労働省告示第五十九号, 保医発0831第5号).
    pub number: Option<String>,
    /// The document's text in reading order, cut at its natural units (page, 項, heading,
    /// speech). Never empty.
    pub sections: Vec<Section>,
    /// For a question and its answers cut out of minutes: who asked and who answered.
    #[serde(default)]
    pub exchange: Option<crate::model::Exchange>,
}

impl From<IngestError> for crate::error::Error {
    fn from(e: IngestError) -> Self {
        crate::error::Error::Ingest(Box::new(e))
    }
}

impl ExtractedDocument {
    /// A single-document file's document: the fields [`meta::guess`] found, and its sections.
    pub(crate) fn from_meta(m: meta::Meta, sections: Vec<Section>) -> ExtractedDocument {
        ExtractedDocument {
            key: String::new(),
            title: m.title.unwrap_or_default(),
            doc_type: m.doc_type,
            issuer: m.issuer,
            issued: m.issued,
            number: m.number,
            sections,
            exchange: None,
        }
    }
}

/// A natural unit of a document, with what a citation needs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Section {
    /// Text normalised with [`crate::text::normalize`]; never empty.
    pub text: String,
    /// 1-based page, for paged sources (PDF).
    pub page: Option<u32>,
    /// Citation anchor: 第十七条第二項, a heading, or a speaker.
    pub anchor: Option<String>,
    /// The enclosing heading (e.g. 「第三章 不利益処分」 for a law article).
    pub heading: Option<String>,
}

/// Why a file produced no documents. Each message names the file and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{path}: unsupported file type (supported: .pdf, .xml, .html/.htm, .md, .txt, .jsonl, .json minutes)")]
    Unsupported { path: PathBuf },
    #[error("{path}: empty file")]
    Empty { path: PathBuf },
    #[error("{path}: {size} bytes is over the {limit}-byte limit")]
    TooLarge { path: PathBuf, size: u64, limit: u64 },
    #[error("{path}: named as {expected} but the content is {found}")]
    FormatMismatch {
        path: PathBuf,
        expected: &'static str,
        found: &'static str,
    },
    #[error("{path}: corrupt or truncated PDF ({detail})")]
    CorruptPdf { path: PathBuf, detail: String },
    #[error("{path}: PDF is encrypted with a password; index a decrypted copy instead")]
    Encrypted { path: PathBuf },
    #[error("{path}: text is not valid UTF-8, Shift-JIS (CP932) or EUC-JP")]
    Encoding { path: PathBuf },
    #[error("{path}: XML error at byte {position}: {detail}")]
    Xml {
        path: PathBuf,
        position: u64,
        detail: String,
    },
    #[error("{path}: {detail}")]
    Malformed { path: PathBuf, detail: String },
    #[error("{path}: {tool} did not finish within {}s", timeout.as_secs())]
    Timeout {
        path: PathBuf,
        tool: &'static str,
        timeout: Duration,
    },
    #[error("{path}: memory limit exceeded while extracting ({limit_mib} MiB, indexer.max_file_memory_mib)")]
    MemoryLimit { path: PathBuf, limit_mib: u64 },
    /// An error reported by the extraction worker, as its message (which names the file).
    #[error("{message}")]
    Reported { message: String },
    #[error("{path}: no text found{}", if *ocr_tried { " (OCR found none either)" } else { " (OCR is off)" })]
    NoText { path: PathBuf, ocr_tried: bool },
    #[error("{path}: {tool} is not available: install the Debian package {package}")]
    ToolMissing {
        path: PathBuf,
        tool: &'static str,
        package: &'static str,
    },
    #[error("{path}: {tool} failed: {detail}")]
    ToolFailed {
        path: PathBuf,
        tool: &'static str,
        detail: String,
    },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: invalid access rules: {detail}")]
    Access { path: PathBuf, detail: String },
}

/// Limits and switches for [`super::extract()`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractOptions {
    /// Files larger than this are refused ([`IngestError::TooLarge`]).
    pub max_bytes: u64,
    /// Run OCR (pdftoppm + tesseract) on PDF pages without a text layer.
    pub ocr: bool,
    /// Wall-clock budget for one file, external tools and OCR included.
    pub timeout: Duration,
    /// At most this many pages of one PDF are OCRed (the rest stay without text).
    pub max_ocr_pages: usize,
    /// Resolution pages are rendered at for OCR.
    pub ocr_dpi: u32,
    /// Resident memory (MiB) that the extraction worker ([`super::worker`]) and the tools it starts may
    /// take together for one file; 0 = no limit. Enforced only by [`super::extract_isolated`].
    pub max_memory_mib: u64,
    /// Characters of text kept per document by [`super::extract_capped`]; 0 = no cap.
    pub max_chars: usize,
}

impl Default for ExtractOptions {
    fn default() -> Self {
        ExtractOptions {
            max_bytes: 256 * 1024 * 1024,
            ocr: true,
            timeout: Duration::from_secs(300),
            max_ocr_pages: 20,
            ocr_dpi: 300,
            max_memory_mib: 0,
            max_chars: 0,
        }
    }
}

/// The documents of one file, with their text capped at [`ExtractOptions::max_chars`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Extraction {
    pub documents: Vec<ExtractedDocument>,
    /// Set when some document's text was cut at the cap.
    pub truncated: Option<Truncation>,
}

/// How much text the cap dropped from one file (summed over its documents that were cut).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Truncation {
    pub kept_chars: usize,
    pub total_chars: usize,
}
