//! PDF text: two extractors and OCR, compared page by page.
//!
//! No single extractor reads every government PDF (see `shared/notes/pdf.md`): pdf-extract
//! panics on Shift-JIS (`90ms-RKSJ-H`) CMaps and prints vertical text one glyph per line;
//! `pdftotext` (poppler-utils) reads both but needs `poppler-data` for non-embedded Japanese
//! fonts; scans and outlined glyphs have no text layer at all. So pdf-extract runs on a worker
//! thread inside `catch_unwind` (its panic message silenced) while `pdftotext` runs as a child
//! process; for each page the better text wins (pdftotext on a tie: its reading order is better),
//! and pages that are still (almost) empty are rendered with `pdftoppm` and read by `tesseract`
//! (`jpn`, and `jpn_vert` when the horizontal reading looks like garbage). One section per page.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{mpsc, Arc, Mutex, Once};
use std::thread;
use std::time::{Duration, Instant};

use super::document::{ExtractOptions, ExtractedDocument, IngestError, Section};
use super::meta;
use super::process::{self, RunError};
use crate::text::normalize::{self, is_cjk};

/// A page with fewer non-space characters than this is treated as having no text layer.
const MIN_PAGE_CHARS: usize = 10;
/// Cap on captured `pdftotext` output.
const MAX_TEXT_BYTES: usize = 512 * 1024 * 1024;

/// Which extractor produced a page (for logs and the corpus test's report).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    Pdftotext,
    PdfExtract,
    Ocr,
    OcrVertical,
    Empty,
}

/// What happened to one PDF.
#[derive(Debug, Clone, Default)]
pub(crate) struct PdfReport {
    pub pages: Vec<Source>,
    pub pdf_extract_error: Option<String>,
    pub pdftotext_error: Option<String>,
    pub ocr_time: Duration,
    pub ocr_skipped: usize,
}

impl PdfReport {
    pub(crate) fn count(&self, s: Source) -> usize {
        self.pages.iter().filter(|&&p| p == s).count()
    }
}

// ---------------------------------------------------------------------------------------------
// pdf-extract, contained

thread_local! {
    static QUIET_PANICS: Cell<bool> = const { Cell::new(false) };
}

/// Installs (once) a panic hook that stays silent on threads that asked for it and defers to the
/// previous hook everywhere else, so a pdf-extract panic does not spray the indexer's log.
fn install_quiet_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !QUIET_PANICS.with(Cell::get) {
                previous(info);
            }
        }));
    });
}

enum PeResult {
    Pages(Vec<String>),
    Failed(String),
    /// Its thread could not get memory (the worker's memory limit, or the machine's).
    NoMemory,
}

/// Starts pdf-extract on a worker thread; the receiver gets its pages or why it failed.
fn spawn_pdf_extract(bytes: Arc<Vec<u8>>) -> mpsc::Receiver<PeResult> {
    install_quiet_hook();
    let (tx, rx) = mpsc::channel();
    let spawned = thread::Builder::new()
        .name("pdf-extract".into())
        .stack_size(64 * 1024 * 1024)
        .spawn(move || {
            QUIET_PANICS.with(|q| q.set(true));
            let r = panic::catch_unwind(AssertUnwindSafe(|| pdf_extract::extract_text_from_mem_by_pages(&bytes)));
            let msg = match r {
                Ok(Ok(pages)) => PeResult::Pages(pages),
                Ok(Err(e)) => PeResult::Failed(e.to_string()),
                Err(payload) => {
                    let what = payload
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| payload.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "unknown panic".into());
                    PeResult::Failed(format!("panicked: {what}"))
                }
            };
            let _ = tx.send(msg);
        });
    if let Err(e) = spawned {
        let (tx, rx) = mpsc::channel();
        let out_of_memory = e.kind() == std::io::ErrorKind::OutOfMemory || e.raw_os_error() == Some(libc::ENOMEM) || e.raw_os_error() == Some(libc::EAGAIN);
        let _ = tx.send(if out_of_memory { PeResult::NoMemory } else { PeResult::Failed(format!("could not start a thread: {e}")) });
        return rx;
    }
    rx
}

// ---------------------------------------------------------------------------------------------
// pdftotext

enum PtResult {
    Pages { pages: Vec<String>, missing_cmaps: bool },
    Missing,
    Timeout,
    Failed { stderr: String, password: bool },
}

/// A path that a command line cannot mistake for an option.
fn arg_path(path: &Path) -> PathBuf {
    if path.to_string_lossy().starts_with('-') {
        Path::new(".").join(path)
    } else {
        path.to_path_buf()
    }
}

fn run_pdftotext(path: &Path, deadline: Instant) -> PtResult {
    let mut cmd = Command::new("pdftotext");
    cmd.args(["-enc", "UTF-8"]).arg(arg_path(path)).arg("-");
    match process::run(&mut cmd, deadline, MAX_TEXT_BYTES) {
        Err(RunError::Missing) => PtResult::Missing,
        Err(RunError::Timeout) => PtResult::Timeout,
        Err(RunError::Memory) => PtResult::Failed { stderr: "memory limit".into(), password: false },
        Err(RunError::Io(e)) => PtResult::Failed {
            stderr: e.to_string(),
            password: false,
        },
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            if !out.status.success() && text.trim().is_empty() {
                let password = out.stderr.to_ascii_lowercase().contains("password");
                return PtResult::Failed {
                    stderr: last_lines(&out.stderr, 3),
                    password,
                };
            }
            let mut pages: Vec<String> = text.split('\u{c}').map(str::to_string).collect();
            if pages.len() > 1 && pages.last().is_some_and(|p| p.trim().is_empty()) {
                pages.pop();
            }
            PtResult::Pages {
                pages,
                missing_cmaps: out.stderr.contains("Missing language pack"),
            }
        }
    }
}

fn last_lines(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" / ")
}

/// pdftotext prints each column of vertical text (and each column of a two-column page) as a
/// block; a block whose last line runs the full width and does not end a sentence continues in
/// the next block (「…準用する場」+「合を含む。」). Joins such blocks so the word is not split
/// across paragraphs.
fn repair_column_wraps(page: &str) -> String {
    let lines: Vec<&str> = page.lines().collect();
    let width = |l: &str| l.trim().chars().count();
    // The full line length: Japanese is set on a grid, so full lines share one length, the
    // most common one among the longer lines (a heading or a run-on first column is longer).
    let mut widths: Vec<usize> = lines.iter().map(|l| width(l)).filter(|&w| w >= 10).collect();
    widths.sort_unstable();
    let mut mode = (0, 0); // (count, width)
    for run in widths.chunk_by(|a, b| a == b) {
        mode = mode.max((run.len(), run[0]));
    }
    let full = if mode.0 >= 2 {
        mode.1
    } else {
        widths.get(widths.len() * 4 / 5).copied().unwrap_or(0)
    };
    if full < 20 {
        return page.to_string();
    }
    let threshold = full * 9 / 10;
    let starts_cjk = |l: &str| {
        l.trim_start()
            .chars()
            .next()
            .is_some_and(|c| is_cjk(c) && !matches!(c, '○' | '●' | '・' | '※'))
    };
    let mut out = String::with_capacity(page.len());
    let mut i = 0;
    while i < lines.len() {
        let mut line = lines[i];
        out.push_str(line);
        i += 1;
        // While a blank run follows a full line that does not end a sentence, and a line
        // starting with CJK comes next that is long or ends the sentence (a short block between,
        // such as the minister's name beside a 告示's columns, is something else), the sentence
        // runs on: join the lines outright (a newline left between them could still read as a
        // paragraph break).
        while !line.trim().is_empty() && i < lines.len() && lines[i].trim().is_empty() {
            let Some(next) = (i..lines.len()).find(|&j| !lines[j].trim().is_empty()) else {
                break;
            };
            let runs_on = width(line) >= threshold
                && (width(lines[next]) * 2 >= threshold || lines[next].trim_end().ends_with('。'))
                && !line.trim_end().ends_with(['。', '：', ':', ')', '）', '」'])
                && starts_cjk(lines[next]);
            if !runs_on {
                break;
            }
            line = lines[next];
            out.push_str(line.trim_start());
            i = next + 1;
        }
        out.push('\n');
    }
    out
}

/// Lines of at most two glyphs: how extractors print vertical text.
fn is_fragment(line: &str) -> bool {
    line.chars().filter(|c| !c.is_whitespace()).count() <= 2
}

/// Share of the non-blank lines that are fragments.
fn fragment_ratio(page: &str) -> f32 {
    let lines: Vec<&str> = page.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return 0.0;
    }
    lines.iter().filter(|l| is_fragment(l)).count() as f32 / lines.len() as f32
}

/// Turns each block of one-glyph lines (a column of vertical text) into one line, so that
/// [`repair_column_wraps`] can see which columns run on.
fn collapse_vertical(page: &str) -> String {
    let lines: Vec<&str> = page.lines().collect();
    let mut out = String::with_capacity(page.len());
    for block in lines.split(|l| l.trim().is_empty()) {
        if block.len() >= 3 && block.iter().filter(|l| is_fragment(l)).count() * 5 >= block.len() * 4 {
            out.extend(block.iter().map(|l| l.trim()));
            out.push('\n');
        } else {
            for l in block {
                out.push_str(l);
                out.push('\n');
            }
        }
        out.push('\n');
    }
    out
}

fn prepare(raw: &str) -> String {
    repair_column_wraps(&collapse_vertical(raw))
}

/// Whether pdf-extract's page beats pdftotext's. pdftotext wins ties: its layout analysis keeps
/// reading order and paragraphs. When both print vertical text one glyph per line, pdf-extract's
/// content-stream order is the reading order, while pdftotext orders the columns left to right.
fn pdf_extract_wins(pt_raw: &str, pe_raw: &str) -> bool {
    let sa = non_space(&normalize::normalize(pt_raw));
    let sb = non_space(&normalize::normalize(pe_raw));
    let (fa, fb) = (fragment_ratio(pt_raw), fragment_ratio(pe_raw));
    if fa > 0.5 && fb > 0.5 {
        sb * 5 >= sa * 4
    } else if fb > 0.5 {
        false
    } else {
        sb > sa + sa / 10 + 10
    }
}

// ---------------------------------------------------------------------------------------------
// OCR

enum OcrError {
    Missing { tool: &'static str, package: &'static str },
    Timeout,
    Failed(String),
}

/// Characters in runs of two or more Japanese characters: what a correct reading is made of.
/// A vertical page read horizontally (or the reverse) gives isolated characters and symbols.
fn japanese_run_chars(text: &str) -> usize {
    let mut total = 0;
    let mut run = 0;
    for c in text.chars().chain(std::iter::once(' ')) {
        if is_cjk(c) && !c.is_ascii() {
            run += 1;
        } else {
            if run >= 2 {
                total += run;
            }
            run = 0;
        }
    }
    total
}

fn tesseract(image: &Path, lang: &str, deadline: Instant) -> Result<String, OcrError> {
    // Page segmentation with orientation detection (psm 1) reads pages scanned sideways, such as
    // a landscape 新旧対照表 in a portrait scan; psm 3 (the default) when OSD data is missing.
    match tesseract_psm(image, lang, "1", deadline) {
        Err(OcrError::Failed(e)) if e.to_ascii_lowercase().contains("osd") => tesseract_psm(image, lang, "3", deadline),
        r => r,
    }
}

fn tesseract_psm(image: &Path, lang: &str, psm: &str, deadline: Instant) -> Result<String, OcrError> {
    let mut cmd = Command::new("tesseract");
    // One OpenMP thread per process: measured 2–3× faster on a busy 2-core machine, and pages
    // run in parallel instead.
    cmd.arg(image)
        .arg("stdout")
        .args(["-l", lang, "--psm", psm])
        .env("OMP_THREAD_LIMIT", "1");
    match process::run(&mut cmd, deadline, 16 * 1024 * 1024) {
        Err(RunError::Missing) => Err(OcrError::Missing {
            tool: "tesseract",
            package: "tesseract-ocr",
        }),
        Err(RunError::Timeout) => Err(OcrError::Timeout),
        Err(RunError::Memory) => Err(OcrError::Failed("memory limit".into())),
        Err(RunError::Io(e)) => Err(OcrError::Failed(e.to_string())),
        Ok(out) if out.stderr.contains("Failed loading language") || out.stderr.contains("Error opening data file") => {
            Err(OcrError::Missing {
                tool: if lang == "jpn" {
                    "tesseract language data jpn"
                } else {
                    "tesseract language data jpn_vert"
                },
                package: if lang == "jpn" {
                    "tesseract-ocr-jpn"
                } else {
                    "tesseract-ocr-jpn-vert"
                },
            })
        }
        Ok(out) if !out.status.success() || (psm == "1" && out.stderr.contains("osd.traineddata")) => {
            Err(OcrError::Failed(last_lines(&out.stderr, 3)))
        }
        Ok(out) => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
    }
}

/// Renders page `page` (1-based) and reads it; returns the text and whether the vertical model
/// won.
fn ocr_page(path: &Path, page: usize, dpi: u32, deadline: Instant) -> OcrResult {
    let dir = tempfile::Builder::new().prefix("shirabe-ocr-").tempdir().map_err(|e| OcrError::Failed(e.to_string()))?;
    let prefix = dir.path().join("page");
    let mut cmd = Command::new("pdftoppm");
    let n = page.to_string();
    cmd.args([
        "-r",
        &dpi.to_string(),
        "-f",
        &n,
        "-l",
        &n,
        "-gray",
        "-png",
        "-singlefile",
    ])
    .arg(arg_path(path))
    .arg(&prefix);
    match process::run(&mut cmd, deadline, 64 * 1024) {
        Err(RunError::Missing) => {
            return Err(OcrError::Missing {
                tool: "pdftoppm",
                package: "poppler-utils",
            })
        }
        Err(RunError::Timeout) => return Err(OcrError::Timeout),
        Err(RunError::Memory) => return Err(OcrError::Failed("memory limit".into())),
        Err(RunError::Io(e)) => return Err(OcrError::Failed(e.to_string())),
        Ok(out) if !out.status.success() => {
            return Err(OcrError::Failed(format!("pdftoppm: {}", last_lines(&out.stderr, 2))))
        }
        Ok(_) => {}
    }
    let image = dir.path().join("page.png");
    let horizontal = tesseract(&image, "jpn", deadline)?;
    let h_score = japanese_run_chars(&horizontal);
    let non_space = horizontal.chars().filter(|c| !c.is_whitespace()).count();
    // Good horizontal readings are mostly runs of Japanese; try the vertical model otherwise.
    if non_space > 0 && h_score * 2 >= non_space {
        return Ok((horizontal, false));
    }
    match tesseract(&image, "jpn_vert", deadline) {
        Ok(vertical) if japanese_run_chars(&vertical) > h_score => Ok((vertical, true)),
        Ok(_) | Err(OcrError::Missing { .. }) => Ok((horizontal, false)),
        Err(e) => Err(e),
    }
}

/// A page's OCR text and whether the vertical model read it.
type OcrResult = Result<(String, bool), OcrError>;

/// OCRs `pages` (1-based) in parallel, a few at a time.
fn ocr_pages(path: &Path, pages: &[usize], dpi: u32, deadline: Instant) -> Vec<(usize, OcrResult)> {
    let jobs = thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, 4)
        .min(pages.len().max(1));
    let queue = Mutex::new(pages.iter().copied());
    let results = Mutex::new(Vec::new());
    thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| loop {
                let next = queue.lock().ok().and_then(|mut q| q.next());
                let Some(page) = next else { break };
                let r = if Instant::now() >= deadline {
                    Err(OcrError::Timeout)
                } else {
                    ocr_page(path, page, dpi, deadline)
                };
                if let Ok(mut v) = results.lock() {
                    v.push((page, r));
                }
            });
        }
    });
    let mut v = results.into_inner().unwrap_or_default();
    v.sort_by_key(|(p, _)| *p);
    v
}

// ---------------------------------------------------------------------------------------------
// putting it together

fn non_space(s: &str) -> usize {
    s.chars().filter(|c| !c.is_whitespace()).count()
}

/// Extracts one PDF.
pub(crate) fn extract(path: &Path, bytes: &[u8], opts: &ExtractOptions) -> Result<Vec<ExtractedDocument>, IngestError> {
    extract_with_report(path, bytes, opts).map(|(docs, _)| docs)
}

pub(crate) fn extract_with_report(
    path: &Path,
    bytes: &[u8],
    opts: &ExtractOptions,
) -> Result<(Vec<ExtractedDocument>, PdfReport), IngestError> {
    let started = Instant::now();
    let deadline = started
        .checked_add(opts.timeout)
        .unwrap_or_else(|| started + Duration::from_secs(86_400 * 365));
    let mut report = PdfReport::default();
    let layers = read_text_layers(path, bytes, opts, deadline, &mut report)?;
    // The letterhead (title, number, issuer) is read from pdftotext's blocks where it has text.
    let pt_head: Vec<String> = layers
        .pdftotext
        .iter()
        .flatten()
        .take(3)
        .map(|p| normalize::normalize(&prepare(p)))
        .collect();
    let missing_cmaps = layers.missing_cmaps;
    let candidates = choose_pages(path, layers, opts, &report)?;
    let mut texts: Vec<String> = Vec::with_capacity(candidates.len());
    for (raw, source) in candidates {
        let text = normalize::normalize(&raw);
        report
            .pages
            .push(if non_space(&text) == 0 { Source::Empty } else { source });
        texts.push(text);
    }
    let ocr = ocr_empty_pages(path, opts, deadline, &mut texts, &mut report);
    if !texts.iter().any(|t| non_space(t) > 0) {
        return Err(no_text_error(path, opts, missing_cmaps, &ocr));
    }
    if missing_cmaps {
        tracing::warn!(path = %path.display(), "pdftotext lacks CMaps for Japanese fonts: install poppler-data");
    }
    if let Some((tool, package)) = ocr.missing {
        tracing::warn!(path = %path.display(), tool, package, "pages without text were not OCRed: tool missing");
    }

    let head: String = texts
        .iter()
        .enumerate()
        .map(|(i, t)| pt_head.get(i).filter(|h| non_space(h) >= MIN_PAGE_CHARS).unwrap_or(t))
        .filter(|t| !t.is_empty())
        .take(3)
        .cloned()
        .collect::<Vec<_>>()
        .join("\n");
    let m = meta::guess(&head, None);
    let sections = texts
        .into_iter()
        .enumerate()
        .filter(|(_, t)| !t.is_empty())
        .map(|(i, text)| Section {
            text,
            page: u32::try_from(i + 1).ok(),
            anchor: None,
            heading: None,
        })
        .collect();
    tracing::debug!(
        path = %path.display(),
        pages = report.pages.len(),
        pdftotext = report.count(Source::Pdftotext),
        pdf_extract = report.count(Source::PdfExtract),
        ocr = report.count(Source::Ocr) + report.count(Source::OcrVertical),
        empty = report.count(Source::Empty),
        ocr_secs = report.ocr_time.as_secs_f32(),
        "PDF extracted"
    );
    let doc = ExtractedDocument::from_meta(m, sections);
    Ok((vec![doc], report))
}

/// The pages of both text extractors, each `None` when it gave nothing (why is in the report).
struct TextLayers {
    pdftotext: Option<Vec<String>>,
    pdf_extract: Option<Vec<String>>,
    /// pdftotext said the CMaps for Japanese fonts are missing (poppler-data).
    missing_cmaps: bool,
}

/// Runs pdf-extract (in a thread) and pdftotext (a process) side by side within `deadline`. A
/// password-protected file, or one that exhausts the memory limit, is an error at once.
fn read_text_layers(path: &Path, bytes: &[u8], opts: &ExtractOptions, deadline: Instant, report: &mut PdfReport) -> Result<TextLayers, IngestError> {
    let pe_rx = spawn_pdf_extract(Arc::new(bytes.to_vec()));
    let pt = run_pdftotext(path, deadline);
    let pdf_extract = match pe_rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        Ok(PeResult::Pages(p)) => Some(p),
        Ok(PeResult::Failed(e)) => {
            report.pdf_extract_error = Some(e);
            None
        }
        Ok(PeResult::NoMemory) => {
            return Err(IngestError::MemoryLimit {
                path: path.to_path_buf(),
                limit_mib: opts.max_memory_mib,
            })
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            // The worker cannot be stopped; it is left to finish on its own.
            report.pdf_extract_error = Some("timed out".into());
            None
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            report.pdf_extract_error = Some("worker vanished".into());
            None
        }
    };
    let (pdftotext, missing_cmaps) = match pt {
        PtResult::Pages { pages, missing_cmaps } => (Some(pages), missing_cmaps),
        PtResult::Missing => {
            report.pdftotext_error = Some("not installed".into());
            (None, false)
        }
        PtResult::Timeout => {
            report.pdftotext_error = Some("timed out".into());
            (None, false)
        }
        PtResult::Failed { stderr, password } => {
            if password {
                return Err(IngestError::Encrypted {
                    path: path.to_path_buf(),
                });
            }
            report.pdftotext_error = Some(stderr);
            (None, false)
        }
    };
    if let Some(e) = &report.pdf_extract_error {
        tracing::debug!(path = %path.display(), error = %e, "pdf-extract gave no text; relying on pdftotext");
    }
    Ok(TextLayers { pdftotext, pdf_extract, missing_cmaps })
}

/// Each page's text and where it came from: page by page when both extractors agree on the page
/// count, else the better extractor for the whole file. Neither giving text is an error that
/// says why.
fn choose_pages(path: &Path, layers: TextLayers, opts: &ExtractOptions, report: &PdfReport) -> Result<Vec<(String, Source)>, IngestError> {
    Ok(match (layers.pdftotext, layers.pdf_extract) {
        (Some(pt), Some(pe)) if pt.len() == pe.len() => pt
            .into_iter()
            .zip(pe)
            .map(|(a, b)| {
                if pdf_extract_wins(&a, &b) {
                    (prepare(&b), Source::PdfExtract)
                } else {
                    (prepare(&a), Source::Pdftotext)
                }
            })
            .collect(),
        (Some(pt), Some(pe)) => {
            let (a, b) = (pt.join("\n\n"), pe.join("\n\n"));
            if pdf_extract_wins(&a, &b) {
                pe.iter().map(|p| (prepare(p), Source::PdfExtract)).collect()
            } else {
                pt.iter().map(|p| (prepare(p), Source::Pdftotext)).collect()
            }
        }
        (Some(pt), None) => pt.iter().map(|p| (prepare(p), Source::Pdftotext)).collect(),
        (None, Some(pe)) => pe.iter().map(|p| (prepare(p), Source::PdfExtract)).collect(),
        (None, None) => {
            let pt_err = report.pdftotext_error.clone().unwrap_or_default();
            let pe_err = report.pdf_extract_error.clone().unwrap_or_default();
            if pt_err == "timed out" {
                return Err(IngestError::Timeout {
                    path: path.to_path_buf(),
                    tool: "pdftotext",
                    timeout: opts.timeout,
                });
            }
            if pt_err == "not installed" {
                return Err(IngestError::ToolMissing {
                    path: path.to_path_buf(),
                    tool: "pdftotext",
                    package: "poppler-utils",
                });
            }
            if pe_err.contains("ecrypt") || pe_err.to_ascii_lowercase().contains("password") {
                return Err(IngestError::Encrypted {
                    path: path.to_path_buf(),
                });
            }
            return Err(IngestError::CorruptPdf {
                path: path.to_path_buf(),
                detail: format!("pdftotext: {pt_err}; pdf-extract: {pe_err}"),
            });
        }
    })
}

/// What went wrong while OCRing, for the error when no page has text.
#[derive(Default)]
struct OcrOutcome {
    missing: Option<(&'static str, &'static str)>,
    timed_out: bool,
}

/// OCRs the pages without a text layer (up to `max_ocr_pages`), keeping a reading when it has
/// more text than the page had.
fn ocr_empty_pages(path: &Path, opts: &ExtractOptions, deadline: Instant, texts: &mut [String], report: &mut PdfReport) -> OcrOutcome {
    let mut outcome = OcrOutcome::default();
    let empty: Vec<usize> = texts
        .iter()
        .enumerate()
        .filter(|(_, t)| non_space(t) < MIN_PAGE_CHARS)
        .map(|(i, _)| i + 1)
        .collect();
    if !opts.ocr || empty.is_empty() {
        return outcome;
    }
    let take = empty.len().min(opts.max_ocr_pages);
    report.ocr_skipped = empty.len() - take;
    if report.ocr_skipped > 0 {
        tracing::warn!(path = %path.display(), skipped = report.ocr_skipped, cap = opts.max_ocr_pages, "OCR page cap reached");
    }
    let t = Instant::now();
    for (page, r) in ocr_pages(path, &empty[..take], opts.ocr_dpi, deadline) {
        match r {
            Ok((text, vertical)) => {
                let text = normalize::normalize(&text);
                if non_space(&text) > non_space(&texts[page - 1]) {
                    texts[page - 1] = text;
                    report.pages[page - 1] = if vertical { Source::OcrVertical } else { Source::Ocr };
                }
            }
            Err(OcrError::Missing { tool, package }) => outcome.missing = Some((tool, package)),
            Err(OcrError::Timeout) => outcome.timed_out = true,
            Err(OcrError::Failed(e)) => tracing::warn!(path = %path.display(), page, error = %e, "OCR failed"),
        }
    }
    report.ocr_time = t.elapsed();
    outcome
}

/// Why a PDF gave no text at all, most actionable cause first.
fn no_text_error(path: &Path, opts: &ExtractOptions, missing_cmaps: bool, ocr: &OcrOutcome) -> IngestError {
    if missing_cmaps {
        return IngestError::ToolMissing {
            path: path.to_path_buf(),
            tool: "poppler CMaps for Japanese fonts",
            package: "poppler-data",
        };
    }
    if let Some((tool, package)) = ocr.missing {
        return IngestError::ToolMissing { path: path.to_path_buf(), tool, package };
    }
    if ocr.timed_out {
        return IngestError::Timeout {
            path: path.to_path_buf(),
            tool: "OCR (pdftoppm + tesseract)",
            timeout: opts.timeout,
        };
    }
    IngestError::NoText {
        path: path.to_path_buf(),
        ocr_tried: opts.ocr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_wraps_are_joined() {
        let page = "健康保険法（大正十一年法律第七十号）第七十六条第二項（同法第百四十九条において準用する場\n\n合を含む。）及び高齢者の医療の確保に関する法律\n\n短い行\n\n次の段落";
        let fixed = repair_column_wraps(page);
        assert!(fixed.contains("準用する場合を含む。"), "{fixed}");
        assert!(fixed.contains("短い行\n\n次の段落"), "{fixed}");
        assert_eq!(
            normalize::normalize(&fixed)
                .lines()
                .next()
                .map(|l| l.contains("準用する場合を含む。")),
            Some(true)
        );
    }

    #[test]
    fn vertical_columns_are_collapsed_and_joined() {
        let col = |s: &str| s.chars().map(|c| format!("{c}\n")).collect::<String>();
        let (a, b, c) = (
            "健康保険法第七十六条第二項同法第百四十九条において準用する場",
            "合を含む及び高齢者の医療の確保に関する法律第七十一条の規定に基",
            "づく。",
        );
        let page = format!("{}\n{}\n{}", col(a), col(b), col(c));
        let text = normalize::normalize(&prepare(&page));
        assert_eq!(text, format!("{a}{b}{c}"));
        assert!(fragment_ratio(&page) > 0.9);
        assert!(pdf_extract_wins(&page, &page));
        assert!(!pdf_extract_wins("読める横書きの行です。\n二行目もあります。", &page));
    }

    #[test]
    fn ocr_quality_prefers_runs_of_japanese() {
        assert!(japanese_run_chars("検査料の点数の取扱いについて") > 10);
        assert_eq!(japanese_run_chars("光 米 購 則 下 き 激"), 0);
    }

    #[test]
    fn quiet_hook_keeps_other_threads_loud() {
        install_quiet_hook();
        let r = thread::spawn(|| {
            QUIET_PANICS.with(|q| q.set(true));
            panic::catch_unwind(|| panic!("silenced")).is_err()
        })
        .join();
        assert_eq!(r.ok(), Some(true));
        assert!(!QUIET_PANICS.with(Cell::get));
    }
}
