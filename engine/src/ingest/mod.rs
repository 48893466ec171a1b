//! Ingestion: turns one source file into [`ExtractedDocument`]s with normalised, citable sections.
//!
//! This module owns everything between a file on a share and text the indexer can cut into
//! passages: sniffing the real format from the bytes (a `.pdf` that is an HTML error page is an
//! error, not a document), decoding (UTF-8, Shift-JIS/CP932, EUC-JP), the per-format extractors
//! (PDF with pdf-extract, `pdftotext` and OCR fallbacks; HTML; Markdown and plain text; e-Gov
//! law XML; Diet minutes as the NDL API's JSON or JSON Lines, local assembly minutes as text, both
//! cut into question-and-answer exchanges by [`exchanges`]), metadata heuristics (title, 文書番号, 発出者, 発出日, document
//! type), the access rules that sit beside the files ([`labels`]) and the confidentiality markings
//! written in them ([`marking`]). It never panics on what a file contains: every failure is a
//! typed [`IngestError`] so that one bad file costs the indexer one line in its report, not the
//! night's run. What happens to the documents next (ids,
//! passages, the index) belongs to other modules.

mod assembly;
mod document;
mod exchanges;
mod extract;
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

pub use document::{ExtractOptions, ExtractedDocument, Extraction, IngestError, Section, Truncation};
pub use extract::{cap_text, extract, extract_capped};
pub use labels::{is_supported, resolve_access};
pub use worker::extract_isolated;

pub(crate) use meta::guess as guess_meta;

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
            exchange: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use super::extract::MAX_TITLE_CHARS;
    use super::test_util::TempDir;
    use crate::model::DocType;

    #[test]
    fn supported_extensions() {
        for p in ["a.pdf", "A.PDF", "x.xml", "x.html", "x.htm", "x.md", "x.txt", "x.jsonl", "x.json"] {
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
