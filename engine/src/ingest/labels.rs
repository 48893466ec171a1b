//! Who may see a file: the access labels that live beside the documents on the share.
//!
//! Offices manage access where they manage the files, so the labels are files too: a sidecar
//! `<file>.access.toml` for one document, and an `_access.toml` for a folder and everything below
//! it. This module owns recognising label files by name, reading them, and resolving a
//! document's label from them; the walk over the share hands it each folder's listing once
//! ([`ShareLabels::add_folder`]).
//!
//! Resolution starts from the configured default, applies every `_access.toml` from the source
//! root down to the document's folder, then the sidecar. Each file changes only the fields it
//! sets (`level = 1..=3`, `groups = ["…"]`); the rest is inherited. A file that *loosens* what it
//! inherits (a lower level, or groups that admit someone the inherited groups exclude, `groups =
//! []` included) must say so with `loosen = true`.
//!
//! Every doubt fails closed, because a label that silently does not apply makes a 機密性3 file
//! visible to everyone: an invalid value, a loosening without `loosen = true`, a label file that
//! is a folder, a FIFO or a link, an empty sidecar, two label files for one target, and a label
//! whose name is almost right (`_access.toml.txt`, `x.pdf.access.toml.txt`: hidden extensions)
//! are errors that withhold what the label could have meant. Names are compared the way the
//! share's users see them: Unicode NFC (macOS writes NFD) and without case (Windows ignores it),
//! so `Hyoka.txt.access.toml` labels `hyoka.txt`. A sidecar that matches no document is reported.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::OsStr;
use std::fs::FileType;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use unicode_normalization::UnicodeNormalization;

use super::document::IngestError;
use crate::model::Access;

/// Suffix of a per-file rule: `報告書.pdf.access.toml`.
pub const SIDECAR_SUFFIX: &str = ".access.toml";
/// Name of a per-folder rule.
pub const RULES_FILE: &str = "_access.toml";

/// Rule files larger than this are not rule files.
const MAX_RULE_BYTES: u64 = 64 * 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    level: Option<i64>,
    groups: Option<Vec<String>>,
    loosen: Option<bool>,
}

/// A label file, read and checked: the fields it sets.
#[derive(Debug, Clone)]
struct Rule {
    path: PathBuf,
    level: Option<u8>,
    /// Trimmed, sorted, without duplicates.
    groups: Option<Vec<String>>,
    /// The file says it means to loosen what it inherits.
    loosen: bool,
}

/// Why a label file cannot be used. Kept as text because one folder's problem is reported for
/// every document below it.
#[derive(Debug, Clone)]
struct LabelError {
    path: PathBuf,
    detail: String,
}

impl LabelError {
    fn new(path: &Path, detail: impl Into<String>) -> LabelError {
        LabelError {
            path: path.to_path_buf(),
            detail: detail.into(),
        }
    }
    fn to_error(&self) -> IngestError {
        IngestError::Access {
            path: self.path.clone(),
            detail: self.detail.clone(),
        }
    }
}

/// A file or folder name as the share's users see it: NFC and case-folded.
pub fn fold_name(name: &OsStr) -> String {
    let nfc: String = name.to_string_lossy().nfc().collect();
    nfc.to_lowercase().nfc().collect()
}

/// What a (folded) name says a file is, as far as labels go.
#[derive(Debug, Clone, PartialEq, Eq)]
enum LabelName {
    FolderRule,
    /// A sidecar of the document with this folded name.
    Sidecar(String),
    /// `_access.toml.txt`, `_access.toml.bak`: meant as the folder rule, never read as one.
    MisnamedRule,
    /// `x.pdf.access.toml.txt`: meant as the sidecar of `x.pdf`.
    MisnamedSidecar(String),
}

fn classify(folded: &str) -> Option<LabelName> {
    if folded == RULES_FILE {
        return Some(LabelName::FolderRule);
    }
    if folded.starts_with(RULES_FILE) {
        return Some(LabelName::MisnamedRule);
    }
    if let Some(target) = folded
        .strip_suffix(SIDECAR_SUFFIX)
        .filter(|t| !t.is_empty())
    {
        return Some(LabelName::Sidecar(target.to_string()));
    }
    folded
        .find(SIDECAR_SUFFIX)
        .map(|at| LabelName::MisnamedSidecar(folded[..at].to_string()))
}

/// Whether a file of this name is (or was evidently meant to be) a label file. Such files are
/// never documents, whatever their extension.
pub fn is_label_name(name: &OsStr) -> bool {
    classify(&fold_name(name)).is_some()
}

fn kind_of(ty: &FileType) -> &'static str {
    if ty.is_symlink() {
        "a symbolic link"
    } else if ty.is_dir() {
        "a folder"
    } else if ty.is_fifo() {
        "a FIFO"
    } else if ty.is_socket() {
        "a socket"
    } else if ty.is_block_device() || ty.is_char_device() {
        "a device"
    } else {
        "not a regular file"
    }
}

/// Reads and checks one label file. Only a regular file is a label: a link could point
/// anywhere, and opening a FIFO would block the run.
fn read_rule(path: &Path) -> Result<Rule, LabelError> {
    let err = |detail: String| LabelError::new(path, detail);
    let meta = std::fs::symlink_metadata(path).map_err(|e| err(format!("cannot be read: {e}")))?;
    if !meta.file_type().is_file() {
        return Err(err(format!(
            "is {}, not a label file: a label must be a regular file",
            kind_of(&meta.file_type())
        )));
    }
    // O_NOFOLLOW and O_NONBLOCK: the path may have been swapped for a link or a FIFO since the
    // type was checked; the opened file is checked again.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| err(format!("cannot be read: {e}")))?;
    let meta = file
        .metadata()
        .map_err(|e| err(format!("cannot be read: {e}")))?;
    if !meta.is_file() {
        return Err(err(format!(
            "is {}, not a label file: a label must be a regular file",
            kind_of(&meta.file_type())
        )));
    }
    if meta.len() > MAX_RULE_BYTES {
        return Err(err(format!(
            "{} bytes; a rule file is at most {MAX_RULE_BYTES}",
            meta.len()
        )));
    }
    let mut bytes = Vec::new();
    file.take(MAX_RULE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| err(format!("cannot be read: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|_| err("not UTF-8".into()))?;
    let rule: RuleFile = toml::from_str(&text).map_err(|e| err(e.message().to_string()))?;
    let level = match rule.level {
        None => None,
        Some(level @ 1..=3) => u8::try_from(level).ok(),
        Some(level) => return Err(err(format!("level = {level}; it must be 1, 2 or 3"))),
    };
    let groups = match rule.groups {
        None => None,
        Some(groups) => {
            if groups.iter().any(|g| g.trim().is_empty()) {
                return Err(err("groups contains an empty name".into()));
            }
            // `*` is how the keyword index marks a document open to every group; as a label it
            // would mean "everyone" on the keyword side and "nobody" on the vector side.
            if groups
                .iter()
                .any(|g| g.trim() == crate::model::OPEN_GROUP)
            {
                return Err(err("groups contains \"*\", which is reserved: leave groups out to open a document to every group".into()));
            }
            let mut groups: Vec<String> =
                groups.into_iter().map(|g| g.trim().to_string()).collect();
            groups.sort();
            groups.dedup();
            Some(groups)
        }
    };
    Ok(Rule {
        path: path.to_path_buf(),
        level,
        groups,
        loosen: rule.loosen.unwrap_or(false),
    })
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().to_string(),
    )
}

fn names(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| file_name(p))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The labels of one folder, read from one listing.
#[derive(Debug)]
struct FolderLabels {
    /// The folder's `_access.toml`, or why the folder and everything below it is withheld.
    rule: Result<Option<Rule>, LabelError>,
    /// Folded document name → its sidecar, or why the document is withheld.
    sidecars: HashMap<String, Result<Rule, LabelError>>,
}

impl FolderLabels {
    /// Reads the label files among `entries` (one folder's listing). Returns the labels and the
    /// sidecars that match no document of `documents` (folded names).
    fn read(
        entries: &[(PathBuf, FileType)],
        documents: &HashSet<String>,
    ) -> (FolderLabels, Vec<LabelProblem>) {
        let mut rules = Vec::new();
        let mut misnamed_rules = Vec::new();
        // Folded target → (sidecars, misnamed sidecars).
        let mut by_target: BTreeMap<String, (Vec<PathBuf>, Vec<PathBuf>)> = BTreeMap::new();
        for (path, _) in entries {
            let Some(name) = path.file_name() else {
                continue;
            };
            match classify(&fold_name(name)) {
                None => {}
                Some(LabelName::FolderRule) => rules.push(path.clone()),
                Some(LabelName::MisnamedRule) => misnamed_rules.push(path.clone()),
                Some(LabelName::Sidecar(target)) => {
                    by_target.entry(target).or_default().0.push(path.clone())
                }
                Some(LabelName::MisnamedSidecar(target)) => {
                    by_target.entry(target).or_default().1.push(path.clone())
                }
            }
        }
        rules.sort();
        misnamed_rules.sort();
        let rule = if let Some(first) = misnamed_rules.first() {
            Err(LabelError::new(
                first,
                format!(
                    "named like the folder rule but not `{RULES_FILE}` (a hidden extension?): rename it to {RULES_FILE} or remove it; until then this folder and everything below it is withheld"
                ),
            ))
        } else if rules.len() > 1 {
            Err(LabelError::new(
                &rules[0],
                format!("this folder has {} folder rules ({}), whose names differ only in case or Unicode form: keep one", rules.len(), names(&rules)),
            ))
        } else if let Some(only) = rules.first() {
            read_rule(only).map(Some)
        } else {
            Ok(None)
        };
        let mut sidecars = HashMap::new();
        let mut orphans = Vec::new();
        for (target, (mut proper, mut misnamed)) in by_target {
            proper.sort();
            misnamed.sort();
            let sidecar = if let Some(first) = misnamed.first() {
                Err(LabelError::new(
                    first,
                    format!("named like a sidecar but does not end in `{SIDECAR_SUFFIX}` (a hidden extension?): rename it to <document>{SIDECAR_SUFFIX} or remove it"),
                ))
            } else if proper.len() > 1 {
                Err(LabelError::new(
                    &proper[0],
                    format!("one document has {} sidecars ({}), whose names differ only in case or Unicode form: keep one", proper.len(), names(&proper)),
                ))
            } else {
                match read_rule(&proper[0]) {
                    Ok(rule) if rule.level.is_none() && rule.groups.is_none() => Err(LabelError::new(
                        &proper[0],
                        "the sidecar sets neither level nor groups (empty?): write the label it was meant to hold",
                    )),
                    other => other,
                }
            };
            if !documents.contains(&target) {
                for path in proper.iter().chain(&misnamed) {
                    orphans.push(LabelProblem {
                        path: path.clone(),
                        reason: format!(
                            "this access label labels nothing: no document of this folder is named \"{target}\" (names are compared ignoring case and Unicode form); rename it to <document>{SIDECAR_SUFFIX} or remove it"
                        ),
                    });
                }
            }
            sidecars.insert(target, sidecar);
        }
        (FolderLabels { rule, sidecars }, orphans)
    }
}

/// A label file that applies to nothing it could apply to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelProblem {
    pub path: PathBuf,
    pub reason: String,
}

/// The access labels of the folders of a share, each folder read once.
#[derive(Debug, Default)]
pub struct ShareLabels {
    folders: HashMap<PathBuf, FolderLabels>,
    orphans: Vec<LabelProblem>,
}

impl ShareLabels {
    /// Reads the label files of `dir` from its listing `entries` (path and type of each entry,
    /// types as `read_dir` reports them, links not followed). `documents` are the entries the
    /// caller indexes as documents; a sidecar matching none of them is recorded as an orphan when
    /// `report_orphans` (a source folder, not merely the folder of a single-file source).
    pub fn add_folder(
        &mut self,
        dir: &Path,
        entries: &[(PathBuf, FileType)],
        documents: &[PathBuf],
        report_orphans: bool,
    ) {
        let documents: HashSet<String> = documents
            .iter()
            .filter_map(|d| d.file_name())
            .map(fold_name)
            .collect();
        let (labels, orphans) = FolderLabels::read(entries, &documents);
        if report_orphans {
            self.orphans.extend(orphans);
        }
        self.folders.insert(dir.to_path_buf(), labels);
    }

    /// Whether `dir`'s labels were read.
    pub fn has_folder(&self, dir: &Path) -> bool {
        self.folders.contains_key(dir)
    }

    /// Sidecars (proper or misnamed) that match no document, in listing order.
    pub fn orphans(&self) -> &[LabelProblem] {
        &self.orphans
    }

    /// The access label of `file` under the source `root`: `default`, then every folder rule
    /// from `root` down to the file's folder, then the sidecar. Every folder on the way must
    /// have been added.
    pub fn resolve(
        &self,
        root: &Path,
        file: &Path,
        default: &Access,
    ) -> Result<Access, IngestError> {
        let folder = file.parent().unwrap_or(root);
        let not_read = |dir: &Path| IngestError::Access {
            path: dir.to_path_buf(),
            detail: "the labels of this folder could not be read".into(),
        };
        let mut chain: Vec<&Path> = folder
            .ancestors()
            .take_while(|d| d.starts_with(root))
            .collect();
        chain.reverse();
        let mut label = Inherited {
            access: default.clone(),
            level_from: None,
            groups_from: None,
        };
        for dir in chain {
            match &self.folders.get(dir).ok_or_else(|| not_read(dir))?.rule {
                Err(e) => return Err(e.to_error()),
                Ok(Some(rule)) => label.apply(rule)?,
                Ok(None) => {}
            }
        }
        let here = self.folders.get(folder).ok_or_else(|| not_read(folder))?;
        let name = file.file_name().map(fold_name).unwrap_or_default();
        match here.sidecars.get(&name) {
            Some(Err(e)) => return Err(e.to_error()),
            Some(Ok(rule)) => label.apply(rule)?,
            None => {}
        }
        Ok(label.access)
    }
}

/// A label being resolved, with where each field came from (for the messages).
struct Inherited {
    access: Access,
    level_from: Option<PathBuf>,
    groups_from: Option<PathBuf>,
}

fn origin(from: &Option<PathBuf>) -> String {
    from.as_ref().map_or_else(
        || "indexer.default_access".to_string(),
        |p| p.display().to_string(),
    )
}

impl Inherited {
    /// Applies one label file's fields, refusing a loosening it does not declare.
    fn apply(&mut self, rule: &Rule) -> Result<(), IngestError> {
        let mut loosened = Vec::new();
        if let Some(level) = rule.level.filter(|&l| l < self.access.level) {
            loosened.push(format!(
                "lowers level {} (from {}) to {level}",
                self.access.level,
                origin(&self.level_from)
            ));
        }
        if let Some(groups) = &rule.groups {
            let inherited = &self.access.groups;
            if !inherited.is_empty() && groups.is_empty() {
                loosened.push(format!(
                    "opens groups {inherited:?} (from {}) to every group",
                    origin(&self.groups_from)
                ));
            } else if !inherited.is_empty() {
                let added: Vec<&String> =
                    groups.iter().filter(|g| !inherited.contains(g)).collect();
                if !added.is_empty() {
                    loosened.push(format!(
                        "admits groups {added:?} that groups {inherited:?} (from {}) exclude",
                        origin(&self.groups_from)
                    ));
                }
            }
        }
        if !loosened.is_empty() && !rule.loosen {
            return Err(IngestError::Access {
                path: rule.path.clone(),
                detail: format!(
                    "it {}; a deeper label may only tighten what it inherits unless it says `loosen = true`: add that line if this is intended, otherwise fix the value",
                    loosened.join(" and ")
                ),
            });
        }
        if let Some(level) = rule.level {
            self.access.level = level;
            self.level_from = Some(rule.path.clone());
        }
        if let Some(groups) = &rule.groups {
            self.access.groups = groups.clone();
            self.groups_from = Some(rule.path.clone());
        }
        Ok(())
    }
}

/// One folder's listing, hidden entries left out: what both the indexer's walk and
/// [`resolve_access`] read a folder's labels and documents from.
pub struct FolderListing {
    /// Every entry with its type (links not followed): what the label reader looks at.
    pub entries: Vec<(PathBuf, FileType)>,
    /// Supported documents (label files and near-miss label names never are).
    pub documents: Vec<PathBuf>,
    pub folders: Vec<PathBuf>,
}

/// Lists `dir`. An entry that cannot be read fails the whole listing: a label file skipped
/// silently would leave its documents under a looser label.
pub fn list_folder(dir: &Path) -> std::io::Result<FolderListing> {
    let mut listing = FolderListing { entries: Vec::new(), documents: Vec::new(), folders: Vec::new() };
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let (path, ty) = (entry.path(), entry.file_type()?);
        if ty.is_dir() {
            listing.folders.push(path.clone());
        } else if ty.is_file() && !is_label_name(&name) && is_supported(&path) {
            listing.documents.push(path.clone());
        }
        listing.entries.push((path, ty));
    }
    Ok(listing)
}

/// The access label of one `file` (absolute, or relative to `root`), reading the label files
/// of its folders. The indexer resolves a whole share with [`ShareLabels`] instead, which reads
/// each folder once.
pub fn resolve_access(root: &Path, file: &Path, default: &Access) -> Result<Access, IngestError> {
    let file: PathBuf = if file.is_absolute() || file.starts_with(root) {
        file.to_path_buf()
    } else {
        root.join(file)
    };
    let folder = file.parent().unwrap_or(root);
    let mut labels = ShareLabels::default();
    let mut dirs: Vec<&Path> = folder
        .ancestors()
        .take_while(|d| d.starts_with(root))
        .collect();
    if dirs.is_empty() {
        dirs.push(folder); // `file` is the root itself: only its sidecar applies
    }
    for dir in dirs {
        let listing = list_folder(dir).map_err(|source| IngestError::Io { path: dir.to_path_buf(), source })?;
        labels.add_folder(dir, &listing.entries, &listing.documents, false);
    }
    labels.resolve(root, &file, default)
}

/// File extensions [`super::extract()`] accepts.
const SUPPORTED: &[&str] = &["pdf", "xml", "html", "htm", "md", "txt", "jsonl", "json"];

pub(super) fn extension(path: &Path) -> Option<String> {
    path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase)
}

/// Whether `path` names a file that [`super::extract()`] handles, judged by its extension. Access rule
/// files (`*.access.toml`, `_access.toml`) and other files are not documents.
pub fn is_supported(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name.starts_with("~$") || name.ends_with(SIDECAR_SUFFIX) || name == RULES_FILE {
        return false;
    }
    extension(path).is_some_and(|e| SUPPORTED.contains(&e.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::test_util::TempDir;

    fn acc(level: u8, groups: &[&str]) -> Access {
        Access {
            level,
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    /// The message of a resolution that must fail.
    fn refusal(root: &Path, rel: &str, default: &Access) -> String {
        match resolve_access(root, &root.join(rel), default) {
            Ok(a) => panic!("{rel} resolved to {a:?}; it must be withheld"),
            Err(e) => {
                assert!(matches!(e, IngestError::Access { .. }), "{e}");
                e.to_string()
            }
        }
    }

    #[test]
    fn precedence_sidecar_folder_default() {
        let dir = TempDir::new("access");
        let root = dir.path().to_path_buf();
        dir.write("a/b/doc.pdf", b"%PDF-");
        dir.write("a/other.pdf", b"%PDF-");
        dir.write("top.pdf", b"%PDF-");
        dir.write("_access.toml", "level = 2\n");
        dir.write(
            "a/b/_access.toml",
            "level = 3\ngroups = [\"jinji\", \"somu\", \"jinji\"]\n",
        );
        dir.write("a/b/doc.pdf.access.toml", "groups = [\"jinji\"]\n");
        let default = acc(1, &[]);
        // sidecar's groups, folder's level
        assert_eq!(
            resolve_access(&root, &root.join("a/b/doc.pdf"), &default).unwrap(),
            acc(3, &["jinji"])
        );
        // nearest folder rule is the root one
        assert_eq!(
            resolve_access(&root, &root.join("a/other.pdf"), &default).unwrap(),
            acc(2, &[])
        );
        // relative path
        assert_eq!(
            resolve_access(&root, Path::new("top.pdf"), &default).unwrap(),
            acc(2, &[])
        );
        std::fs::remove_file(root.join("a/b/doc.pdf.access.toml")).unwrap();
        assert_eq!(
            resolve_access(&root, &root.join("a/b/doc.pdf"), &default).unwrap(),
            acc(3, &["jinji", "somu"])
        );
    }

    #[test]
    fn default_when_no_rules() {
        let dir = TempDir::new("access-default");
        dir.write("x.md", "# x");
        let default = acc(2, &["all"]);
        assert_eq!(
            resolve_access(dir.path(), &dir.path().join("x.md"), &default).unwrap(),
            default
        );
    }

    #[test]
    fn rules_above_root_are_ignored() {
        let dir = TempDir::new("access-root");
        dir.write("_access.toml", "level = 3\n");
        dir.write("share/doc.txt", "本文");
        let root = dir.path().join("share");
        assert_eq!(
            resolve_access(&root, &root.join("doc.txt"), &acc(1, &[])).unwrap(),
            acc(1, &[])
        );
    }

    #[test]
    fn invalid_rules_are_clear_errors() {
        let dir = TempDir::new("access-bad");
        dir.write("doc.txt", "本文");
        for (body, needle) in [
            ("level = 4", "must be 1, 2 or 3"),
            ("level = 0", "must be 1, 2 or 3"),
            ("group = [\"a\"]", "unknown field"),
            ("level = \"high\"", "invalid type"),
            ("loosen = \"yes\"\nlevel = 1", "invalid type"),
            ("groups = [\"\"]", "empty"),
            ("groups = [\"*\"]", "reserved"),
            ("groups = [\"jinji\", \" * \"]", "reserved"),
        ] {
            dir.write("doc.txt.access.toml", body);
            let err = refusal(dir.path(), "doc.txt", &Access::default());
            assert!(err.contains(needle), "{body}: {err}");
            assert!(err.contains("doc.txt.access.toml"), "{err}");
        }
    }

    #[test]
    fn a_deeper_empty_rule_file_inherits_level_and_groups() {
        let dir = TempDir::new("access-inherit-empty");
        dir.write("_access.toml", "level = 3\ngroups = [\"jinji\"]\n");
        dir.write("sub/_access.toml", "");
        dir.write("sub/deeper/_access.toml", "# 人事課の文書\n\n");
        dir.write("sub/deeper/doc.txt", "本文");
        assert_eq!(
            resolve_access(
                dir.path(),
                &dir.path().join("sub/deeper/doc.txt"),
                &acc(1, &[])
            )
            .unwrap(),
            acc(3, &["jinji"])
        );
    }

    #[test]
    fn a_deeper_rule_that_sets_one_field_inherits_the_other() {
        let dir = TempDir::new("access-inherit-field");
        dir.write(
            "_access.toml",
            "level = 3\ngroups = [\"jinji\", \"somu\"]\n",
        );
        dir.write("groups-only/_access.toml", "groups = [\"jinji\"]\n");
        dir.write("groups-only/doc.txt", "本文");
        dir.write("level-only/_access.toml", "level = 3\n");
        dir.write("level-only/doc.txt", "本文");
        let root = dir.path();
        assert_eq!(
            resolve_access(root, &root.join("groups-only/doc.txt"), &acc(1, &[])).unwrap(),
            acc(3, &["jinji"])
        );
        assert_eq!(
            resolve_access(root, &root.join("level-only/doc.txt"), &acc(1, &[])).unwrap(),
            acc(3, &["jinji", "somu"])
        );
    }

    #[test]
    fn a_loosening_label_without_loosen_is_refused_and_says_how_to_fix_it() {
        let dir = TempDir::new("access-loosen");
        dir.write("_access.toml", "level = 3\ngroups = [\"jinji\"]\n");
        dir.write("doc.txt", "本文");
        let root = dir.path();
        for (body, needle) in [
            ("level = 1", "lowers level 3"),
            ("groups = [\"zaimu\"]", "admits groups [\"zaimu\"]"),
            (
                "groups = [\"jinji\", \"zaimu\"]",
                "admits groups [\"zaimu\"]",
            ),
            ("groups = []", "to every group"),
            ("level = 2\ngroups = []\nloosen = false", "lowers level 3"),
        ] {
            dir.write("doc.txt.access.toml", body);
            let err = refusal(root, "doc.txt", &acc(1, &[]));
            assert!(
                err.contains(needle)
                    && err.contains("loosen = true")
                    && err.contains("doc.txt.access.toml"),
                "{body}: {err}"
            );
            assert!(
                err.contains(&root.join("_access.toml").display().to_string()),
                "names where the looser value came from: {err}"
            );
        }
        dir.write(
            "doc.txt.access.toml",
            "# 公開に変更（総務課長決裁）\nloosen = true\nlevel = 1\ngroups = []\n",
        );
        assert_eq!(
            resolve_access(root, &root.join("doc.txt"), &acc(1, &[])).unwrap(),
            acc(1, &[])
        );
        // A deeper folder rule loosens the same way.
        std::fs::remove_file(root.join("doc.txt.access.toml")).unwrap();
        dir.write("open/_access.toml", "level = 2\n");
        dir.write("open/doc.txt", "本文");
        assert!(refusal(root, "open/doc.txt", &acc(1, &[])).contains("open/_access.toml"));
    }

    #[test]
    fn tightening_needs_no_loosen_and_loosen_on_a_tightening_is_harmless() {
        let dir = TempDir::new("access-tighten");
        dir.write(
            "_access.toml",
            "level = 2\ngroups = [\"jinji\", \"somu\"]\n",
        );
        dir.write("a.txt", "本文");
        dir.write("a.txt.access.toml", "level = 3\ngroups = [\"jinji\"]\n");
        dir.write("b.txt", "本文");
        dir.write("b.txt.access.toml", "level = 3\nloosen = true\n");
        let root = dir.path();
        assert_eq!(
            resolve_access(root, &root.join("a.txt"), &acc(1, &[])).unwrap(),
            acc(3, &["jinji"])
        );
        assert_eq!(
            resolve_access(root, &root.join("b.txt"), &acc(1, &[])).unwrap(),
            acc(3, &["jinji", "somu"])
        );
        // Groups under a parent open to every group are a tightening.
        let open = TempDir::new("access-tighten-open");
        open.write("_access.toml", "level = 2\n");
        open.write("c.txt", "本文");
        open.write("c.txt.access.toml", "groups = [\"somu\"]\n");
        assert_eq!(
            resolve_access(open.path(), &open.path().join("c.txt"), &acc(1, &[])).unwrap(),
            acc(2, &["somu"])
        );
    }

    #[test]
    fn a_label_below_the_default_loosens_it() {
        let dir = TempDir::new("access-default-loosen");
        dir.write("doc.txt", "本文");
        dir.write("doc.txt.access.toml", "level = 1\n");
        let err = refusal(dir.path(), "doc.txt", &acc(2, &[]));
        assert!(err.contains("indexer.default_access"), "{err}");
    }

    #[test]
    fn sidecar_names_match_ignoring_case_and_unicode_form() {
        let dir = TempDir::new("access-names");
        let root = dir.path();
        dir.write("hyoka.txt", "本文");
        dir.write("Hyoka.TXT.access.toml", "level = 3\n");
        // が as か + combining dakuten (NFD, as macOS writes it) against the NFC document name.
        dir.write("人事評価\u{304c}.txt", "本文");
        dir.write("人事評価\u{304b}\u{3099}.txt.access.toml", "level = 2\n");
        dir.write("sub/_ACCESS.toml", "level = 3\n");
        dir.write("sub/doc.txt", "本文");
        assert_eq!(
            resolve_access(root, &root.join("hyoka.txt"), &acc(1, &[])).unwrap(),
            acc(3, &[])
        );
        assert_eq!(
            resolve_access(root, &root.join("人事評価\u{304c}.txt"), &acc(1, &[])).unwrap(),
            acc(2, &[])
        );
        assert_eq!(
            resolve_access(root, &root.join("sub/doc.txt"), &acc(1, &[])).unwrap(),
            acc(3, &[])
        );
    }

    #[test]
    fn two_labels_for_one_target_withhold_it() {
        let dir = TempDir::new("access-twice");
        let root = dir.path();
        dir.write("doc.txt", "本文");
        dir.write("doc.txt.access.toml", "level = 3\n");
        dir.write("DOC.txt.access.toml", "level = 2\n");
        assert!(refusal(root, "doc.txt", &acc(1, &[])).contains("2 sidecars"));
        dir.write("sub/_access.toml", "level = 3\n");
        dir.write("sub/_Access.toml", "level = 3\n");
        dir.write("sub/deeper/doc.txt", "本文");
        assert!(refusal(root, "sub/deeper/doc.txt", &acc(1, &[])).contains("2 folder rules"));
    }

    #[test]
    fn misnamed_labels_withhold_what_they_could_have_meant() {
        let dir = TempDir::new("access-misnamed");
        let root = dir.path();
        dir.write("sub/_access.toml.txt", "level = 3\n");
        dir.write("sub/deeper/doc.txt", "本文");
        dir.write("other.txt", "本文");
        let err = refusal(root, "sub/deeper/doc.txt", &acc(1, &[]));
        assert!(
            err.contains("_access.toml.txt") && err.contains("rename"),
            "{err}"
        );
        assert_eq!(
            resolve_access(root, &root.join("other.txt"), &acc(1, &[])).unwrap(),
            acc(1, &[])
        );
        dir.write("memo.pdf", b"%PDF-");
        dir.write("Memo.pdf.access.toml.txt", "level = 3\n");
        assert!(refusal(root, "memo.pdf", &acc(1, &[])).contains("Memo.pdf.access.toml.txt"));
        for name in [
            "_access.toml.txt",
            "_ACCESS.toml.bak",
            "x.pdf.access.toml.txt",
            "x.pdf.Access.Toml",
            "_access.toml",
        ] {
            assert!(is_label_name(OsStr::new(name)), "{name}");
        }
        for name in ["access.toml.txt", "access.txt", "x.pdf", "_accesstoml.txt"] {
            assert!(!is_label_name(OsStr::new(name)), "{name}");
        }
    }

    #[test]
    fn an_empty_sidecar_withholds_but_an_empty_folder_rule_inherits() {
        let dir = TempDir::new("access-empty");
        let root = dir.path();
        dir.write("doc.txt", "本文");
        for body in ["", "  \n", "# 機密性3にすること\n", "loosen = true\n"] {
            dir.write("doc.txt.access.toml", body);
            assert!(
                refusal(root, "doc.txt", &acc(1, &[])).contains("neither level nor groups"),
                "{body:?}"
            );
        }
        std::fs::remove_file(root.join("doc.txt.access.toml")).unwrap();
        dir.write("_access.toml", "");
        assert_eq!(
            resolve_access(root, &root.join("doc.txt"), &acc(2, &["somu"])).unwrap(),
            acc(2, &["somu"])
        );
    }

    #[test]
    fn a_label_that_is_not_a_regular_file_withholds_its_target() {
        let dir = TempDir::new("access-types");
        let root = dir.path();
        dir.write("doc.txt", "本文");
        dir.write("real.toml", "level = 3\n");
        let sidecar = root.join("doc.txt.access.toml");
        std::fs::create_dir(&sidecar).unwrap();
        assert!(refusal(root, "doc.txt", &acc(1, &[])).contains("is a folder"));
        std::fs::remove_dir(&sidecar).unwrap();
        let fifo = std::ffi::CString::new(sidecar.to_string_lossy().as_bytes()).unwrap();
        // SAFETY: mkfifo reads a NUL-terminated path and touches no memory of ours.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        assert!(refusal(root, "doc.txt", &acc(1, &[])).contains("is a FIFO"));
        std::fs::remove_file(&sidecar).unwrap();
        std::os::unix::fs::symlink(root.join("nowhere.toml"), &sidecar).unwrap();
        assert!(refusal(root, "doc.txt", &acc(1, &[])).contains("symbolic link"));
        std::fs::remove_file(&sidecar).unwrap();
        // Even a link to a good label: its target could change or lie outside the share.
        std::os::unix::fs::symlink(root.join("real.toml"), &sidecar).unwrap();
        assert!(refusal(root, "doc.txt", &acc(1, &[])).contains("symbolic link"));
        std::fs::remove_file(&sidecar).unwrap();
        std::fs::create_dir(root.join("_access.toml")).unwrap();
        assert!(refusal(root, "doc.txt", &acc(1, &[])).contains("is a folder"));
    }

    #[test]
    fn a_sidecar_that_matches_no_document_is_an_orphan() {
        let dir = TempDir::new("access-orphan");
        let root = dir.path();
        dir.write("doc.txt", "本文");
        dir.write("DOC.TXT.access.toml", "level = 3\n");
        dir.write("gone.txt.access.toml", "level = 3\n");
        dir.write("gone.pdf.access.toml.txt", "level = 3\n");
        dir.write("notes.docx", "not a document we index");
        dir.write("notes.docx.access.toml", "level = 3\n");
        let listing = list_folder(root).unwrap();
        let mut labels = ShareLabels::default();
        labels.add_folder(root, &listing.entries, &listing.documents, true);
        let mut orphans: Vec<String> = labels
            .orphans()
            .iter()
            .map(|o| file_name(&o.path))
            .collect();
        orphans.sort();
        assert_eq!(
            orphans,
            [
                "gone.pdf.access.toml.txt",
                "gone.txt.access.toml",
                "notes.docx.access.toml"
            ]
        );
        assert!(labels
            .orphans()
            .iter()
            .all(|o| o.reason.contains("labels nothing")));
        assert_eq!(
            labels
                .resolve(root, &root.join("doc.txt"), &acc(1, &[]))
                .unwrap(),
            acc(3, &[])
        );
        let mut quiet = ShareLabels::default();
        quiet.add_folder(root, &listing.entries, &listing.documents, false);
        assert!(quiet.orphans().is_empty());
    }
}
