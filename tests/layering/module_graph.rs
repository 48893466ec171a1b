//! The import graph of one crate's source files, read from the sources themselves.
//!
//! Rust allows modules of one crate to import each other in a circle; our layering forbids it,
//! and `cargo` cannot check that for us. This reader is deliberately small: it lexes each file
//! (dropping comments, doc comments and literals, so a doc link or a string never counts as an
//! import), drops items under `#[cfg(test)]` (test code may reach anywhere), and records an edge
//! from a file to the file that defines the module each `crate::`, `super::`, `self::` path, each
//! `use` tree and each bare path through a declared child module or an imported module names.
//! A path resolves to the deepest module that exists as a file, so `crate::index::keyword::Keyword`
//! is an edge to `index/keyword.rs`, and `super::Generation` in `index/builder.rs` an edge to
//! `index/mod.rs`. A `mod child;` declaration is containment, not an import; a `pub use child::X`
//! in the parent is an import of the child.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One source file: its module path below the crate root and the files it imports.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: PathBuf,
    pub module: Vec<String>,
}

/// Files and the import edges between them (indices into `files`).
#[derive(Debug)]
pub struct Graph {
    pub files: Vec<SourceFile>,
    pub edges: BTreeSet<(usize, usize)>,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Sym(char),
    PathSep,
    Lit,
}

/// Tokens of a Rust source, without comments; literals collapse to `Lit`.
fn lex(src: &str) -> Vec<Tok> {
    let c: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let n = c.len();
    let ident_start = |ch: char| ch == '_' || ch.is_ascii_alphabetic();
    let ident_cont = |ch: char| ch == '_' || ch.is_ascii_alphanumeric();
    while i < n {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
        } else if ch == '/' && i + 1 < n && c[i + 1] == '/' {
            while i < n && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && i + 1 < n && c[i + 1] == '*' {
            let mut depth = 0;
            while i < n {
                if c[i] == '/' && i + 1 < n && c[i + 1] == '*' {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && i + 1 < n && c[i + 1] == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if (ch == 'r' || ch == 'b') && raw_or_byte_literal(&c, i).is_some() {
            i = raw_or_byte_literal(&c, i).unwrap_or(n);
            out.push(Tok::Lit);
        } else if ch == '"' {
            i = skip_string(&c, i + 1);
            out.push(Tok::Lit);
        } else if ch == '\'' {
            // A char literal ('a', '\n', '\u{3000}') or a lifetime ('a, 'static).
            if i + 1 < n && c[i + 1] == '\\' {
                i += 2;
                while i < n && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
                out.push(Tok::Lit);
            } else if i + 2 < n && c[i + 2] == '\'' {
                i += 3;
                out.push(Tok::Lit);
            } else {
                i += 1;
                while i < n && ident_cont(c[i]) {
                    i += 1;
                }
            }
        } else if ident_start(ch) {
            let start = i;
            while i < n && ident_cont(c[i]) {
                i += 1;
            }
            let word: String = c[start..i].iter().collect();
            // A raw identifier r#name reads as name.
            if word == "r" && i + 1 < n && c[i] == '#' && ident_start(c[i + 1]) {
                let s = i + 1;
                i = s;
                while i < n && ident_cont(c[i]) {
                    i += 1;
                }
                out.push(Tok::Ident(c[s..i].iter().collect()));
            } else {
                out.push(Tok::Ident(word));
            }
        } else if ch.is_ascii_digit() {
            while i < n && ident_cont(c[i]) {
                i += 1;
            }
            out.push(Tok::Lit);
        } else if ch == ':' && i + 1 < n && c[i + 1] == ':' {
            out.push(Tok::PathSep);
            i += 2;
        } else {
            out.push(Tok::Sym(ch));
            i += 1;
        }
    }
    out
}

/// The end of a string whose opening quote is just before `i`.
fn skip_string(c: &[char], mut i: usize) -> usize {
    while i < c.len() {
        match c[i] {
            '\\' => i += 2,
            '"' => return i + 1,
            _ => i += 1,
        }
    }
    c.len()
}

/// If a byte, raw or byte-raw literal (b"..", b'.', r"..", r#".."#, br#".."#) starts at `i`,
/// the index just after it.
fn raw_or_byte_literal(c: &[char], i: usize) -> Option<usize> {
    let n = c.len();
    let mut j = i;
    if c[j] == 'b' {
        j += 1;
        if j < n && c[j] == '"' {
            return Some(skip_string(c, j + 1));
        }
        if j < n && c[j] == '\'' {
            j += 1;
            if j < n && c[j] == '\\' {
                j += 2;
            }
            while j < n && c[j] != '\'' {
                j += 1;
            }
            return Some(j + 1);
        }
    }
    if j < n && c[j] == 'r' {
        j += 1;
        let mut hashes = 0;
        while j < n && c[j] == '#' {
            hashes += 1;
            j += 1;
        }
        if j < n && c[j] == '"' {
            j += 1;
            while j < n {
                if c[j] == '"' && c[j + 1..].iter().take(hashes).filter(|&&h| h == '#').count() == hashes {
                    return Some(j + 1 + hashes);
                }
                j += 1;
            }
            return Some(n);
        }
    }
    None
}

/// Tokens with every item under `#[cfg(test)]` removed; the names of `mod x;` declarations so
/// removed are returned too (their files are test code).
fn drop_test_items(toks: Vec<Tok>) -> (Vec<Tok>, Vec<String>) {
    let is_cfg_test = |t: &[Tok]| {
        t.len() >= 7
            && t[0] == Tok::Sym('#')
            && t[1] == Tok::Sym('[')
            && t[2] == Tok::Ident("cfg".into())
            && t[3] == Tok::Sym('(')
            && t[4] == Tok::Ident("test".into())
            && t[5] == Tok::Sym(')')
            && t[6] == Tok::Sym(']')
    };
    let mut out = Vec::new();
    let mut test_mods = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        if !is_cfg_test(&toks[i..]) {
            out.push(toks[i].clone());
            i += 1;
            continue;
        }
        i += 7;
        // Further attributes of the same item.
        while i + 1 < toks.len() && toks[i] == Tok::Sym('#') && toks[i + 1] == Tok::Sym('[') {
            i = skip_group(&toks, i + 1);
        }
        if toks.get(i) == Some(&Tok::Ident("mod".into())) || toks.get(i + 1) == Some(&Tok::Ident("mod".into())) {
            let at = if toks.get(i) == Some(&Tok::Ident("mod".into())) { i + 1 } else { i + 2 };
            if let (Some(Tok::Ident(name)), Some(Tok::Sym(';'))) = (toks.get(at), toks.get(at + 1)) {
                test_mods.push(name.clone());
            }
        }
        // The item ends at a `;` outside brackets or with its first top-level `{…}` block.
        while i < toks.len() {
            match &toks[i] {
                Tok::Sym(';') => {
                    i += 1;
                    break;
                }
                Tok::Sym('{') => {
                    i = skip_group(&toks, i);
                    break;
                }
                Tok::Sym('(') | Tok::Sym('[') => i = skip_group(&toks, i),
                _ => i += 1,
            }
        }
    }
    (out, test_mods)
}

/// The index just after the bracket group opening at `i`.
fn skip_group(toks: &[Tok], mut i: usize) -> usize {
    let mut depth = 0i32;
    while i < toks.len() {
        match toks[i] {
            Tok::Sym('{') | Tok::Sym('(') | Tok::Sym('[') => depth += 1,
            Tok::Sym('}') | Tok::Sym(')') | Tok::Sym(']') => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    toks.len()
}

/// The paths of a `use` tree starting at `i` (just after `use`), each with the name it binds;
/// returns the index after the closing `;`.
fn use_tree(toks: &[Tok], mut i: usize, prefix: Vec<String>, out: &mut Vec<(Vec<String>, String)>) -> usize {
    let mut path = prefix;
    loop {
        match toks.get(i) {
            Some(Tok::PathSep) => i += 1,
            Some(Tok::Ident(seg)) if seg == "as" => {
                if let Some(Tok::Ident(alias)) = toks.get(i + 1) {
                    out.push((path.clone(), alias.clone()));
                }
                return i + 2;
            }
            Some(Tok::Ident(seg)) => {
                if seg == "self" && !path.is_empty() && !matches!(toks.get(i + 1), Some(Tok::PathSep)) {
                    // `a::b::{self, …}` names `a::b` itself.
                    i += 1;
                    if let Some(Tok::Ident(as_kw)) = toks.get(i) {
                        if as_kw == "as" {
                            if let Some(Tok::Ident(alias)) = toks.get(i + 1) {
                                out.push((path.clone(), alias.clone()));
                            }
                            return i + 2;
                        }
                    }
                    let name = path.last().cloned().unwrap_or_default();
                    out.push((path, name));
                    return i;
                }
                path.push(seg.clone());
                i += 1;
            }
            Some(Tok::Sym('{')) => {
                i += 1;
                loop {
                    match toks.get(i) {
                        Some(Tok::Sym('}')) => return i + 1,
                        Some(Tok::Sym(',')) => i += 1,
                        None => return i,
                        _ => i = use_tree(toks, i, path.clone(), out),
                    }
                }
            }
            Some(Tok::Sym('*')) => {
                out.push((path, String::new()));
                return i + 1;
            }
            _ => {
                let name = path.last().cloned().unwrap_or_default();
                if !path.is_empty() {
                    out.push((path, name));
                }
                return i;
            }
        }
    }
}

/// Reads every `.rs` file below `root` (the crate's `src/`) and the edges between them. Files
/// declared only under `#[cfg(test)]` are left out.
pub fn read_crate(root: &Path) -> Graph {
    let mut paths = rust_files(root);
    paths.sort();
    let mut files = Vec::new();
    let mut tokens = Vec::new();
    let mut test_files = BTreeSet::new();
    for path in paths {
        let rel = path.strip_prefix(root).expect("below root");
        let mut module: Vec<String> = rel.iter().map(|s| s.to_string_lossy().into_owned()).collect();
        let last = module.pop().unwrap_or_default();
        let stem = last.trim_end_matches(".rs").to_string();
        let is_root = module.is_empty() && (stem == "lib" || stem == "main");
        if stem != "mod" && !is_root {
            module.push(stem);
        }
        let src = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let (toks, test_mods) = drop_test_items(lex(&src));
        for m in test_mods {
            let mut child = module.clone();
            child.push(m);
            test_files.insert(child);
        }
        files.push(SourceFile { path, module });
        tokens.push(toks);
    }
    // A binary's main.rs is a second crate root; only lib.rs roots this graph.
    let keep: Vec<usize> = (0..files.len())
        .filter(|&i| !test_files.iter().any(|t| files[i].module.starts_with(t)) && !files[i].path.ends_with("main.rs"))
        .collect();
    let files: Vec<SourceFile> = keep.iter().map(|&i| files[i].clone()).collect();
    let tokens: Vec<Vec<Tok>> = keep.iter().map(|&i| tokens[i].clone()).collect();
    let by_module: BTreeMap<Vec<String>, usize> = files.iter().enumerate().map(|(i, f)| (f.module.clone(), i)).collect();

    let mut edges = BTreeSet::new();
    for (from, toks) in tokens.iter().enumerate() {
        let here = &files[from].module;
        // Names bound to modules: declared children, then imported modules.
        let mut bound: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for w in toks.windows(3) {
            if let (Tok::Ident(kw), Tok::Ident(name), Tok::Sym(';')) = (&w[0], &w[1], &w[2]) {
                if kw == "mod" {
                    let mut child = here.clone();
                    child.push(name.clone());
                    bound.insert(name.clone(), child);
                }
            }
        }
        let mut uses = Vec::new();
        let mut plain = Vec::new();
        let mut i = 0;
        while i < toks.len() {
            match &toks[i] {
                Tok::Ident(kw) if kw == "use" => {
                    i = use_tree(toks, i + 1, Vec::new(), &mut uses);
                }
                // `pub(in crate::a)` restricts visibility; it imports nothing.
                Tok::Ident(kw) if kw == "in" && i >= 2 && toks[i - 1] == Tok::Sym('(') && toks[i - 2] == Tok::Ident("pub".into()) => {
                    i += 1;
                    while matches!(toks.get(i), Some(Tok::Ident(_)) | Some(Tok::PathSep)) {
                        i += 1;
                    }
                }
                Tok::Ident(first) if matches!(toks.get(i + 1), Some(Tok::PathSep)) && !matches!(toks.get(i.wrapping_sub(1)), Some(Tok::PathSep)) => {
                    let mut path = vec![first.clone()];
                    i += 1;
                    while let (Some(Tok::PathSep), Some(Tok::Ident(seg))) = (toks.get(i), toks.get(i + 1)) {
                        path.push(seg.clone());
                        i += 2;
                    }
                    plain.push(path);
                }
                _ => i += 1,
            }
        }
        for (path, name) in &uses {
            if let Some(abs) = absolute(path, here, &bound) {
                if by_module.contains_key(&abs) && !name.is_empty() {
                    bound.insert(name.clone(), abs);
                }
            }
        }
        for path in uses.iter().map(|(p, _)| p).chain(plain.iter()) {
            let Some(abs) = absolute(path, here, &bound) else { continue };
            let mut target = None;
            for len in (0..=abs.len()).rev() {
                if let Some(&t) = by_module.get(&abs[..len]) {
                    target = Some(t);
                    break;
                }
            }
            if let Some(to) = target {
                if to != from {
                    edges.insert((from, to));
                }
            }
        }
    }
    Graph { files, edges }
}

/// A path as segments below the crate root, or `None` when it leaves the crate.
fn absolute(path: &[String], here: &[String], bound: &BTreeMap<String, Vec<String>>) -> Option<Vec<String>> {
    let first = path.first()?;
    let (mut base, rest) = match first.as_str() {
        "crate" => (Vec::new(), &path[1..]),
        "self" => (here.to_vec(), &path[1..]),
        "super" => {
            let mut base = here.to_vec();
            let mut k = 0;
            while path.get(k).map(String::as_str) == Some("super") {
                base.pop()?;
                k += 1;
            }
            (base, &path[k..])
        }
        name => (bound.get(name)?.clone(), &path[1..]),
    };
    base.extend(rest.iter().cloned());
    Some(base)
}

/// Every `.rs` file below `dir`.
pub fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

impl Graph {
    /// The module path of a file, `crate::a::b` style, for messages.
    pub fn name(&self, i: usize) -> String {
        let module = &self.files[i].module;
        if module.is_empty() { "crate".into() } else { module.join("::") }
    }

    /// A circle of imports, as the files in order, if there is one.
    pub fn find_cycle(&self) -> Option<Vec<usize>> {
        let n = self.files.len();
        let mut state = vec![0u8; n]; // 0 new, 1 on the path, 2 done
        let mut stack: Vec<usize> = Vec::new();
        fn visit(g: &Graph, v: usize, state: &mut [u8], stack: &mut Vec<usize>) -> Option<Vec<usize>> {
            state[v] = 1;
            stack.push(v);
            for &(a, b) in g.edges.range((v, 0)..(v + 1, 0)) {
                debug_assert_eq!(a, v);
                if state[b] == 1 {
                    let at = stack.iter().position(|&x| x == b).unwrap_or(0);
                    let mut cycle = stack[at..].to_vec();
                    cycle.push(b);
                    return Some(cycle);
                }
                if state[b] == 0 {
                    if let Some(c) = visit(g, b, state, stack) {
                        return Some(c);
                    }
                }
            }
            stack.pop();
            state[v] = 2;
            None
        }
        for v in 0..n {
            if state[v] == 0 {
                if let Some(c) = visit(self, v, &mut state, &mut stack) {
                    return Some(c);
                }
            }
        }
        None
    }
}
