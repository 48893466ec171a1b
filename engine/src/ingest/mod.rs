//! Ingestion: turns one source file into [`ExtractedDocument`]s with normalised, citable sections.
//!
//! This module owns everything between a file on a share and text the indexer can cut into
//! passages: sniffing the real format from the bytes (a `.pdf` that is an HTML error page is an
//! error, not a document), decoding (UTF-8, Shift-JIS/CP932, EUC-JP), the per-format extractors
//! (PDF with pdf-extract, `pdftotext` and OCR fallbacks; HTML; Markdown and plain text; e-Gov
//! law XML; Diet minutes JSONL), metadata heuristics (title, 文書番号, 発出者, 発出日, document
//! type), the access rules that sit beside the files ([`access`]) and the confidentiality markings
//! written in them ([`marking`]). It never panics on what a file contains: every failure is a
//! typed [`IngestError`] so that one bad file costs the indexer one line in its report, not the
//! night's run. What happens to the documents next (ids,
//! passages, the index) belongs to other modules.

pub mod labels;
mod html;
mod law_xml;
pub mod marking;
mod markup;
mod meta;
mod minutes;
mod pdf;
pub mod process;
mod sniff;
pub mod worker;
#[cfg(test)]
mod tests_corpus;

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::NaiveDate;

use crate::model::DocType;

pub use labels::resolve_access;
pub use worker::extract_isolated;

pub(crate) use meta::guess as guess_meta;

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
    #[error("{path}: unsupported file type (supported: .pdf, .xml, .html/.htm, .md, .txt, .jsonl)")]
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

/// Limits and switches for [`extract`].
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
    /// Resident memory (MiB) that the extraction worker ([`worker`]) and the tools it starts may
    /// take together for one file; 0 = no limit. Enforced only by [`extract_isolated`].
    pub max_memory_mib: u64,
    /// Characters of text kept per document by [`extract_capped`]; 0 = no cap.
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

/// File extensions [`extract`] accepts.
const SUPPORTED: &[&str] = &["pdf", "xml", "html", "htm", "md", "txt", "jsonl"];

fn extension(path: &Path) -> Option<String> {
    path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase)
}

/// Whether `path` names a file that [`extract`] handles, judged by its extension. Access rule
/// files (`*.access.toml`, `_access.toml`) and other files are not documents.
pub fn is_supported(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name.starts_with("~$") || name.ends_with(labels::SIDECAR_SUFFIX) || name == labels::RULES_FILE {
        return false;
    }
    extension(path).is_some_and(|e| SUPPORTED.contains(&e.as_str()))
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
        ("txt", _) => vec![markup::extract_plain(&text(&bytes)?)],
        ("jsonl", _) => minutes::extract(path, &text(&bytes)?)?,
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
const MAX_TITLE_CHARS: usize = 200;

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

#[cfg(test)]
pub(crate) mod test_util {
    use std::path::{Path, PathBuf};

    /// A fresh, empty directory under the system temp dir (`tempfile`), removed on drop, with a
    /// helper that writes files into it.
    pub struct TempDir(tempfile::TempDir);

    impl TempDir {
        pub fn new(tag: &str) -> TempDir {
            TempDir(tempfile::Builder::new().prefix(&format!("shirabe-test-{tag}-")).tempdir().expect("create temp dir"))
        }
        pub fn path(&self) -> &Path {
            self.0.path()
        }
        pub fn write(&self, rel: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
            let p = self.0.path().join(rel);
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent).expect("create parent");
            }
            std::fs::write(&p, bytes).expect("write file");
            p
        }
    }

    /// A circular titled "t" with these sections and no other metadata.
    pub fn document(sections: Vec<super::Section>) -> super::ExtractedDocument {
        super::ExtractedDocument {
            key: String::new(),
            title: "t".into(),
            doc_type: crate::model::DocType::Circular,
            issuer: None,
            issued: None,
            number: None,
            sections,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_util::TempDir;
    use super::*;

    #[test]
    fn supported_extensions() {
        for p in ["a.pdf", "A.PDF", "x.xml", "x.html", "x.htm", "x.md", "x.txt", "x.jsonl"] {
            assert!(is_supported(Path::new(p)), "{p}");
        }
        for p in [
            "a.docx",
            "a",
            "a.toml",
            "a.pdf.access.toml",
            "_access.toml",
            "dir/_access.toml",
            "~$memo.txt",
        ] {
            assert!(!is_supported(Path::new(p)), "{p}");
        }
    }

    #[test]
    fn empty_and_mismatched_files_are_errors() {
        let dir = TempDir::new("mismatch");
        let empty = dir.write("empty.pdf", b"");
        assert!(matches!(
            extract(&empty, &ExtractOptions::default()),
            Err(IngestError::Empty { .. })
        ));
        let html = dir.write(
            "404.pdf",
            b"<html><head><title>404 Not Found</title></head><body>Not Found</body></html>",
        );
        let err = extract(&html, &ExtractOptions::default()).unwrap_err();
        assert!(
            matches!(
                err,
                IngestError::FormatMismatch {
                    found: "an HTML page",
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("404.pdf"));
        let bin = dir.write("data.txt", [0u8, 159, 146, 150, 0, 1, 2, 3]);
        assert!(matches!(
            extract(&bin, &ExtractOptions::default()),
            Err(IngestError::FormatMismatch { .. })
        ));
        let unsupported = dir.write("memo.docx", b"PK\x03\x04");
        assert!(matches!(
            extract(&unsupported, &ExtractOptions::default()),
            Err(IngestError::Unsupported { .. })
        ));
    }

    #[test]
    fn too_large_is_refused_before_reading() {
        let dir = TempDir::new("large");
        let p = dir.write("big.txt", "あ".repeat(100));
        let opts = ExtractOptions {
            max_bytes: 10,
            ..ExtractOptions::default()
        };
        assert!(matches!(
            extract(&p, &opts),
            Err(IngestError::TooLarge {
                size: 300,
                limit: 10,
                ..
            })
        ));
    }

    #[test]
    fn truncated_pdf_is_an_error_not_a_panic() {
        let dir = TempDir::new("trunc");
        let p = dir.write(
            "broken.pdf",
            b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n",
        );
        let err = extract(
            &p,
            &ExtractOptions {
                ocr: false,
                ..ExtractOptions::default()
            },
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                IngestError::CorruptPdf { .. } | IngestError::NoText { .. } | IngestError::ToolMissing { .. }
            ),
            "{err}"
        );
    }

    #[test]
    fn a_file_without_line_breaks_is_capped_and_says_so() {
        let dir = TempDir::new("cap");
        let p = dir.write("one-line.txt", "住民票の写しの交付について".repeat(10_000));
        let opts = ExtractOptions { max_chars: 1_000, ..ExtractOptions::default() };
        let got = extract_capped(&p, &opts).unwrap();
        let kept: usize = got.documents.iter().flat_map(|d| &d.sections).map(|s| s.text.chars().count()).sum();
        assert_eq!(kept, 1_000);
        assert_eq!(got.truncated, Some(Truncation { kept_chars: 1_000, total_chars: 130_000 }));
        assert!(got.documents[0].title.chars().count() <= MAX_TITLE_CHARS, "the one line is not the title whole");
        // Under the cap nothing is cut.
        let small = dir.write("small.txt", "短い通知。");
        assert_eq!(extract_capped(&small, &opts).unwrap().truncated, None);
    }

    #[test]
    fn the_cap_cuts_inside_a_section_and_drops_later_ones() {
        let section = |t: &str| Section { text: t.into(), page: None, anchor: None, heading: None };
        let mut docs = vec![super::test_util::document(vec![section("一二三"), section("四五六七"), section("八九")])];
        let t = cap_text(&mut docs, 5);
        assert_eq!(t, Some(Truncation { kept_chars: 5, total_chars: 9 }));
        let texts: Vec<&str> = docs[0].sections.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(texts, ["一二三", "四五"]);
        assert_eq!(cap_text(&mut docs, 0), None);
    }

    #[test]
    fn shift_jis_text_file() {
        let dir = TempDir::new("sjis");
        let (bytes, _, _) =
            encoding_rs::SHIFT_JIS.encode("検査料の点数の取扱いについて\n\n標記について、下記のとおり通知する。\n");
        let p = dir.write("tsuchi.txt", bytes);
        let docs = extract(&p, &ExtractOptions::default()).unwrap();
        assert_eq!(docs[0].title, "検査料の点数の取扱いについて");
        assert_eq!(docs[0].doc_type, DocType::Circular);
        assert!(docs[0].sections.iter().any(|s| s.text.contains("標記について")));
    }

    #[test]
    fn iso_2022_jp_text_file() {
        // Old mail-derived circulars: 7-bit JIS code, valid UTF-8 byte by byte.
        let dir = TempDir::new("jis");
        let (bytes, _, _) = encoding_rs::ISO_2022_JP.encode("事務連絡の送付について\n\n標記について、別添のとおり送付する。\n");
        let p = dir.write("renraku.txt", bytes);
        let docs = extract(&p, &ExtractOptions::default()).unwrap();
        assert_eq!(docs[0].title, "事務連絡の送付について");
        assert!(docs[0].sections.iter().any(|s| s.text.contains("別添のとおり送付する")));
        assert!(!docs[0].sections.iter().any(|s| s.text.contains('\u{1b}') || s.text.contains("$B")), "no escape codes indexed");
    }
}
