//! Corpus tests: every real document in `shared/corpus` (PDF, law XML, converted HTML, Diet
//! minutes) must come out as searchable text with the right metadata.
//!
//! The corpus is read by path, never copied: `$SHIRABE_SHARED_DIR`, else `<crate>/../shared`.
//! Without it the tests print `SKIPPED: …` and pass (the project convention). The PDF test OCRs
//! 11 pages; it prints a per-file report (which extractor won each page, characters, time) to
//! stderr — run with `--nocapture` to see it.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::pdf::{self, Source};
use super::{extract, ExtractOptions, ExtractedDocument};
use crate::model::DocType;

fn corpus() -> Option<PathBuf> {
    let shared = std::env::var_os("SHIRABE_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared"));
    let corpus = shared.join("corpus");
    if corpus.is_dir() {
        Some(corpus)
    } else {
        eprintln!("SKIPPED: shared corpus not found at {}", shared.display());
        None
    }
}

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == ext))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn all_text(docs: &[ExtractedDocument]) -> String {
    docs.iter()
        .flat_map(|d| d.sections.iter())
        .map(|s| s.text.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Section texts are already in normal form: normalising again changes nothing.
fn assert_normalized(name: &str, docs: &[ExtractedDocument]) {
    for s in docs.iter().flat_map(|d| &d.sections) {
        assert_eq!(
            crate::text::normalize(&s.text),
            s.text,
            "{name}: section text is not a fixed point of normalize"
        );
    }
}

fn japanese_chars(s: &str) -> usize {
    s.chars()
        .filter(|&c| matches!(c as u32, 0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF))
        .count()
}

/// Phrases each PDF must yield (after normalisation). For the vertical 告示 they must also come
/// in this order (reading order); for the others only presence is checked.
fn expected_phrases(name: &str) -> &'static [&'static str] {
    match name {
        "meti-cloud-security-guideline-2013.pdf" => &[
            "クラウドサービス利用のための情報セキュリティマネジメントガイドライン",
            "SaaS",
        ],
        "meti-joho-system-anzen-kijun-1997-rksj.pdf" => {
            &["情報システム安全対策基準", "平成7年8月29日から施行する", "廃止する"]
        }
        "mext-kagaku-gijutsu-hakusho-2024-ch1-encrypted.pdf" => &["新時代を迎えたAI", "機械学習"],
        "mext-kagaku-gijutsu-hakusho-2024-ch5-encrypted.pdf" => &["AI"],
        "mhlw-covid-pcr-todofuken-2021-table.pdf" => &["PCR検査実施人数", "北海道"],
        "mhlw-kokuji-shinryohoshu-2018-vertical.pdf" => &[
            "診療報酬の算定方法の一部を改正する件",
            "厚生労働省告示第四百三十二号",
            "準用する場合を含む。",
        ],
        // Word's vertical 告示: one glyph per line in both extractors; must read column by
        // column from the right, with words joined across columns.
        "mhlw-kokuji-shinryohoshu-2022-vertical.pdf" => &[
            "厚生労働省告示第五十四号",
            "健康保険法(大正十一年法律第七十号)",
            "準用する場合を含む。",
            "令和四年四月一日から適用する。",
            "別表第一から別表第三までを次のように改める。",
        ],
        "mhlw-kokuji-tokkei-shisetsu-kijun-2020-vertical.pdf" => &[
            "特掲診療料の施設基準等の一部を改正する件",
            "厚生労働省告示第五十九号",
            "届出の通則",
        ],
        "mhlw-tsuchi-kensaryo-2016-scanned.pdf" => &["保医発0531第1号", "検査料の点数の取扱いについて", "新旧対照表"],
        "mhlw-tsuchi-kensaryo-2017-rksj.pdf" => &["保医発0929第8号", "検査料の点数の取扱いについて", "非小細胞肺癌"],
        "mhlw-tsuchi-kensaryo-2021-rksj.pdf" => &["保医発0831第5号", "検査料の点数の取扱いについて"],
        "mhlw-tsuchi-kensaryo-2022-outlined.pdf" => &["検査料の点数の取扱いについて"],
        "mhlw-tsuchi-ryuijiko-kaisei-2020-rksj.pdf" => &["保医発0831第1号", "実施上の留意事項について"],
        "mhlw-tsuchi-shinryohoshu-kaitei-2019.pdf" => {
            &["保発0819第1号", "令和元年度診療報酬改定について", "標記については、"]
        }
        "osaka-covid-hodo-2021.pdf" => &["11月16日から新規", "飲食店", "河内長野市"],
        "otoineppu-chiiki-bosai-keikaku-jishin-2020.pdf" => &["音威子府村地域防災計画", "計画策定の目的"],
        "otoineppu-kyuyo-teiin-kanri-2025-tables.pdf" => &["人件費の状況", "令和6年4月1日"],
        "otoineppu-rakuhyosetsu-2022-scanned.pdf" => &["落氷雪事故", "除雪"],
        "otoineppu-tokutei-jigyonushi-kodokeikaku-2015.pdf" => {
            &["音威子府村特定事業主行動計画", "次世代育成支援対策推進法"]
        }
        "tokyo-covid-iryo-fuka-2021-landscape.pdf" => &["医療提供体制等の負荷の状況", "1,279人"],
        _ => &[],
    }
}

fn assert_phrases(name: &str, text: &str, phrases: &[&str]) {
    let ordered = name.contains("vertical");
    let mut from = 0;
    for p in phrases {
        let hay = if ordered { &text[from..] } else { text };
        match hay.find(p) {
            Some(i) if ordered => from += i + p.len(),
            Some(_) => {}
            None => panic!(
                "{name}: {p:?} not found{} in the extracted text:\n{}",
                if ordered { " (in reading order)" } else { "" },
                text.chars().take(3000).collect::<String>()
            ),
        }
    }
}

#[test]
fn every_pdf_yields_searchable_text() {
    let Some(corpus) = corpus() else { return };
    let pdfs = files(&corpus.join("pdf"), "pdf");
    assert!(pdfs.len() >= 20, "expected the 20 corpus PDFs, found {}", pdfs.len());
    let opts = ExtractOptions::default();
    let started = Instant::now();
    let mut report = vec![format!(
        "{:<55} {:>5} {:>5} {:>5} {:>5} {:>5} {:>8} {:>7} {:>6}",
        "file", "pages", "ptxt", "pext", "ocr", "empty", "chars", "ja", "secs"
    )];
    for path in &pdfs {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("").to_string();
        let bytes = std::fs::read(path).expect("read corpus PDF");
        let t = Instant::now();
        let (docs, r) = pdf::extract_with_report(path, &bytes, &opts).unwrap_or_else(|e| panic!("{name}: {e}"));
        let text = all_text(&docs);
        let ja = japanese_chars(&text);
        report.push(format!(
            "{:<55} {:>5} {:>5} {:>5} {:>5} {:>5} {:>8} {:>7} {:>6.1}{}",
            name,
            r.pages.len(),
            r.count(Source::Pdftotext),
            r.count(Source::PdfExtract),
            r.count(Source::Ocr) + r.count(Source::OcrVertical),
            r.count(Source::Empty),
            text.chars().filter(|c| !c.is_whitespace()).count(),
            ja,
            t.elapsed().as_secs_f32(),
            r.pdf_extract_error
                .as_ref()
                .map(|e| format!("  (pdf-extract: {})", e.chars().take(40).collect::<String>()))
                .unwrap_or_default()
        ));
        assert!(ja >= 50, "{name}: only {ja} Japanese characters");
        assert_normalized(&name, &docs);
        assert_phrases(&name, &text, expected_phrases(&name));
        assert!(
            !text.chars().any(|c| matches!(c as u32, 0x2E80..=0x2FDF)),
            "{name}: radical code points left"
        );
        let d = &docs[0];
        assert!(!d.title.is_empty(), "{name}: no title");
        assert!(
            d.sections.iter().all(|s| s.page.is_some() && !s.text.is_empty()),
            "{name}: section without page or text"
        );
    }
    eprintln!(
        "{}\nall {} PDFs in {:.1}s",
        report.join("\n"),
        pdfs.len(),
        started.elapsed().as_secs_f32()
    );
}

#[test]
fn pdf_metadata() {
    let Some(corpus) = corpus() else { return };
    let opts = ExtractOptions {
        ocr: false,
        ..ExtractOptions::default()
    };
    let get = |name: &str| {
        extract(&corpus.join("pdf").join(name), &opts)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .remove(0)
    };
    let date = |y, m, d| chrono::NaiveDate::from_ymd_opt(y, m, d);

    let d = get("mhlw-tsuchi-kensaryo-2017-rksj.pdf");
    assert_eq!(d.title, "検査料の点数の取扱いについて");
    assert_eq!(d.number.as_deref(), Some("保医発0929第8号"));
    assert_eq!(d.issued, date(2017, 9, 29));
    assert_eq!(d.issuer.as_deref(), Some("厚生労働省保険局医療課長"));
    assert_eq!(d.doc_type, DocType::Circular);

    let d = get("mhlw-kokuji-tokkei-shisetsu-kijun-2020-vertical.pdf");
    assert_eq!(d.title, "特掲診療料の施設基準等の一部を改正する件");
    assert_eq!(d.number.as_deref(), Some("厚生労働省告示第五十九号"));
    assert_eq!(d.issued, date(2020, 3, 5));
    assert_eq!(d.issuer.as_deref(), Some("厚生労働大臣"));
    assert_eq!(d.doc_type, DocType::Notice);
    assert_eq!(d.sections.len(), 180);

    let d = get("mhlw-kokuji-shinryohoshu-2022-vertical.pdf");
    assert_eq!(d.number.as_deref(), Some("厚生労働省告示第五十四号"));
    assert_eq!(d.issued, date(2022, 3, 4));

    let d = get("meti-cloud-security-guideline-2013.pdf");
    assert_eq!(
        d.title,
        "クラウドサービス利用のための情報セキュリティマネジメントガイドライン"
    );
    assert_eq!(d.doc_type, DocType::Guideline);
    assert_eq!(d.issuer.as_deref(), Some("経済産業省"));

    let d = get("mhlw-tsuchi-ryuijiko-kaisei-2020-rksj.pdf");
    assert_eq!(
        d.title,
        "「診療報酬の算定方法の一部改正に伴う実施上の留意事項について」等の一部改正について"
    );

    let d = get("osaka-covid-hodo-2021.pdf");
    assert_eq!(d.title, "新型コロナウイルス感染症患者の発生および患者の死亡について");
    assert_eq!(d.issued, date(2021, 4, 7));
    assert_eq!(d.issuer.as_deref(), Some("大阪府健康医療部保健医療室感染症対策企画課"));

    // Without OCR, a scan has no text: a clear error, not an empty document.
    let err = extract(&corpus.join("pdf/mhlw-tsuchi-kensaryo-2016-scanned.pdf"), &opts).unwrap_err();
    assert!(
        matches!(err, super::IngestError::NoText { ocr_tried: false, .. }),
        "{err}"
    );
}

#[test]
fn every_law_xml_parses() {
    let Some(corpus) = corpus() else { return };
    let laws = files(&corpus.join("xml"), "xml");
    assert!(laws.len() >= 6);
    for path in &laws {
        let t = Instant::now();
        let docs = extract(path, &ExtractOptions::default()).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let d = &docs[0];
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        eprintln!(
            "{name:<32} {:<28} {:>5} sections {:>6.2}s",
            d.title,
            d.sections.len(),
            t.elapsed().as_secs_f32()
        );
        assert_eq!(d.doc_type, DocType::Law, "{name}");
        assert_normalized(name, &docs);
        assert!(
            d.number.as_deref().is_some_and(|n| n.contains("法律第")),
            "{name}: {:?}",
            d.number
        );
        assert!(
            d.sections.iter().all(|s| s.anchor.is_some()),
            "{name}: section without anchor"
        );
        assert!(
            d.sections
                .iter()
                .any(|s| s.anchor.as_deref().is_some_and(|a| a.starts_with("附則"))),
            "{name}: no 附則"
        );
    }
    let tetsuzuki = extract(&corpus.join("xml/gyosei-tetsuzuki-ho.xml"), &ExtractOptions::default())
        .unwrap()
        .remove(0);
    assert_eq!(tetsuzuki.title, "行政手続法");
    assert_eq!(tetsuzuki.number.as_deref(), Some("平成五年法律第八十八号"));
    assert_eq!(tetsuzuki.issued, chrono::NaiveDate::from_ymd_opt(1993, 11, 12));
    let s = tetsuzuki
        .sections
        .iter()
        .find(|s| s.anchor.as_deref() == Some("第十三条第一項"))
        .expect("第十三条第一項");
    assert_eq!(s.heading.as_deref(), Some("第三章 不利益処分 第一節 通則"));
    assert!(s.text.contains("不利益処分をしようとする場合"), "{}", s.text);
    assert!(s.text.contains("\n一 "), "items on their own lines: {}", s.text);

    let baisho = extract(&corpus.join("xml/kokka-baisho-ho.xml"), &ExtractOptions::default())
        .unwrap()
        .remove(0);
    assert_eq!(baisho.title, "国家賠償法");
    assert_eq!(baisho.issued, chrono::NaiveDate::from_ymd_opt(1947, 10, 27));
    let anchors: Vec<&str> = baisho.sections.iter().filter_map(|s| s.anchor.as_deref()).collect();
    assert_eq!(
        &anchors[..4],
        &["第一条第一項", "第一条第二項", "第二条第一項", "第二条第二項"]
    );
    assert!(anchors.contains(&"第四条"));

    let jichi = extract(&corpus.join("xml/chiho-jichi-ho.xml"), &ExtractOptions::default())
        .unwrap()
        .remove(0);
    assert!(jichi.sections.len() > 2000, "{}", jichi.sections.len());
    assert!(jichi
        .sections
        .iter()
        .any(|s| s.anchor.as_deref() == Some("第一条の二第一項")));
    assert!(jichi.sections.iter().any(|s| s.anchor.as_deref() == Some("別表第一")));
}

#[test]
fn every_converted_html_page_parses() {
    let Some(corpus) = corpus() else { return };
    let pages = files(&corpus.join("html"), "md");
    assert!(pages.len() >= 5);
    for path in &pages {
        let d = extract(path, &ExtractOptions::default())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .remove(0);
        let text = all_text(std::slice::from_ref(&d));
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        eprintln!(
            "{name:<42} {:?} {:?} {:?} {:?} {}",
            d.doc_type, d.number, d.issued, d.issuer, d.title
        );
        assert!(
            !d.title.is_empty() && !d.title.contains("http"),
            "{name}: title {:?}",
            d.title
        );
        assert!(
            !text.contains("このページの先頭へ") && !text.contains("https://"),
            "{name}: navigation left in text"
        );
        assert!(japanese_chars(&text) >= 200, "{name}");
        assert_normalized(name, std::slice::from_ref(&d));
    }
    let d = extract(
        &corpus.join("html/nta-jimuunei-kojinjoho-hogo-2022.md"),
        &ExtractOptions::default(),
    )
    .unwrap()
    .remove(0);
    assert_eq!(
        d.title,
        "個人情報保護法の一部改正に伴う関係事務運営指針の整理について(事務運営指針)"
    );
    assert_eq!(d.issued, chrono::NaiveDate::from_ymd_opt(2022, 3, 23));
    assert_eq!(d.issuer.as_deref(), Some("国税庁長官"));
    assert_eq!(d.doc_type, DocType::Circular);
    let d = extract(
        &corpus.join("html/nta-kokuji-mynumber-shorui-2015.md"),
        &ExtractOptions::default(),
    )
    .unwrap()
    .remove(0);
    assert_eq!(d.doc_type, DocType::Notice);
}

#[test]
fn minutes_jsonl_groups_meetings() {
    let Some(corpus) = corpus() else { return };
    let docs = extract(
        &corpus.join("minutes/kokkai-speeches.jsonl"),
        &ExtractOptions::default(),
    )
    .unwrap();
    let speeches: usize = docs.iter().map(|d| d.sections.len()).sum();
    eprintln!("{} meetings, {} speeches", docs.len(), speeches);
    assert_eq!(speeches, 2000);
    assert_normalized("minutes", &docs);
    assert!(docs.len() > 100 && docs.len() < 2000);
    let mut keys: Vec<&str> = docs.iter().map(|d| d.key.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), docs.len(), "keys are unique");
    assert!(docs
        .iter()
        .all(|d| d.doc_type == DocType::Minutes && d.issued.is_some()));
    assert!(docs.iter().flat_map(|d| &d.sections).all(|s| s.anchor.is_some()));
    let first = &docs[0];
    assert_eq!(first.key, "1950-11-27-衆議院-地方行政委員会");
    assert_eq!(first.title, "衆議院 地方行政委員会 1950-11-27");
}

#[test]
fn broken_pdfs_give_clear_errors() {
    let Some(corpus) = corpus() else { return };
    let dir = super::test_util::TempDir::new("corpus-broken");
    let whole = std::fs::read(corpus.join("pdf/meti-cloud-security-guideline-2013.pdf")).expect("read corpus PDF");
    let truncated = dir.write("truncated.pdf", &whole[..400_000]);
    let err = extract(&truncated, &ExtractOptions::default()).unwrap_err();
    assert!(matches!(err, super::IngestError::CorruptPdf { .. }), "{err}");
    assert!(err.to_string().contains("truncated.pdf"), "{err}");

    let slow = ExtractOptions {
        timeout: std::time::Duration::from_millis(1),
        ..ExtractOptions::default()
    };
    let err = extract(
        &corpus.join("pdf/mhlw-kokuji-tokkei-shisetsu-kijun-2020-vertical.pdf"),
        &slow,
    )
    .unwrap_err();
    assert!(matches!(err, super::IngestError::Timeout { .. }), "{err}");
}
