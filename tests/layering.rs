//! Keeps the layering honest (issue 20, item 3). Reads every `src/**/*.rs`, resolves each
//! `crate::…`, `super::…`, `self::…` and `keyward::…` path to the file that defines it, and fails
//! when two files import each other or a module reaches up to a higher layer.
//!
//! The layers, lowest first (a module may use its own layer and any lower one):
//!
//! | rank | modules |
//! |------|---------|
//! | 0 | `ttlv`, `uuid`, `duration`, `logging` — codec and small utilities |
//! | 1 | `kmip` — KMIP objects and enums over TTLV |
//! | 2 | `crypto`, `seal` — primitives, master key, root key providers, `KeyGate` |
//! | 3 | `store` — objects, metadata, audit table; where the wrapped master key lives |
//! | 4 | `audit`, `keyprotect` — the audit chain; the Key Protect root |
//! | 5 | `engine` — KMIP operations and the write pipeline; `cluster` — a node's cluster service (node id, health, node reports, audit gather) |
//! | 6 | `backup` — export, restore, schedules |
//! | 7 | `admin` — admin operations shared by the CLI and the admin socket |
//! | 8 | `config`, `pki` — the whole appliance's configuration |
//! | 9 | `server` — sessions, event loop, listeners |
//! | 10 | `admin_http`, `client` — the console; the KMIP client |
//! | 11 | `appliance` — set-up, the serve wiring, root sync, schedules |
//! | 12 | `bench`, `conformance`, `fuzz` — harnesses over everything |
//! | 13 | `cli` (the binary: `src/main.rs`, `src/cli/`) |
//!
//! Test files (`tests.rs`, `*_tests.rs`) are left out: a test may build its fixtures from any
//! layer. Known debts are listed in `KNOWN_UPWARD` / `KNOWN_MUTUAL` with the file pair; new
//! ones fail the test, and a listed one that is gone is reported so the list can shrink.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const LAYERS: &[(&str, u32)] = &[
    ("ttlv", 0),
    ("uuid", 0),
    ("duration", 0),
    ("logging", 0),
    ("kmip", 1),
    ("crypto", 2),
    ("seal", 2),
    ("store", 3),
    ("audit", 4),
    ("keyprotect", 4),
    ("engine", 5),
    ("cluster", 5),
    ("backup", 6),
    ("admin", 7),
    ("config", 8),
    ("pki", 8),
    ("server", 9),
    ("admin_http", 10),
    ("client", 10),
    ("appliance", 11),
    ("bench", 12),
    ("conformance", 12),
    ("fuzz", 12),
    ("cli", 13),
    ("main", 13),
    ("lib", 14),
];

/// Upward imports that exist today (from file, to file), each a debt to pay off.
const KNOWN_UPWARD: &[(&str, &str)] = &[];

/// File pairs that import each other today (alphabetical order).
const KNOWN_MUTUAL: &[(&str, &str)] = &[];

#[test]
fn no_file_pair_imports_each_other_and_no_layer_reaches_up() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let files = rust_files(&src);
    let edges = import_edges(&files);

    let mut upward = BTreeSet::new();
    for (from, to) in &edges {
        let (Some(a), Some(b)) = (rank(from), rank(to)) else {
            continue;
        };
        if b > a {
            upward.insert((from.clone(), to.clone()));
        }
    }
    let mut mutual = BTreeSet::new();
    for (from, to) in &edges {
        if from < to && edges.contains(&(to.clone(), from.clone())) {
            mutual.insert((from.clone(), to.clone()));
        }
    }

    let known_up: BTreeSet<(String, String)> = KNOWN_UPWARD
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    let known_mutual: BTreeSet<(String, String)> = KNOWN_MUTUAL
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    for gone in known_up.difference(&upward) {
        println!(
            "paid off (remove from KNOWN_UPWARD): {} -> {}",
            gone.0, gone.1
        );
    }
    for gone in known_mutual.difference(&mutual) {
        println!(
            "paid off (remove from KNOWN_MUTUAL): {} <-> {}",
            gone.0, gone.1
        );
    }
    println!(
        "layering: {} files, {} imports between files, {} upward ({} known), {} mutual pairs ({} known)",
        files.len(),
        edges.len(),
        upward.len(),
        known_up.len(),
        mutual.len(),
        known_mutual.len()
    );
    let new_up: Vec<_> = upward.difference(&known_up).collect();
    let new_mutual: Vec<_> = mutual.difference(&known_mutual).collect();
    let mut report = String::new();
    for (a, b) in &new_up {
        report.push_str(&format!(
            "  upward: {a} ({}) -> {b} ({})\n",
            layer_of(a),
            layer_of(b)
        ));
    }
    for (a, b) in &new_mutual {
        report.push_str(&format!("  mutual: {a} <-> {b}\n"));
    }
    assert!(
        report.is_empty(),
        "imports that break the layering (see the table at the top of tests/layering.rs):\n{report}"
    );
}

/// Every `.rs` file under `src`, keyed by its path relative to `src`, with comments and string
/// literals blanked out (so a path in a doc comment or a message is not an import).
fn rust_files(src: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("reading src") {
            let path: PathBuf = entry.expect("reading src").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path
                    .strip_prefix(src)
                    .expect("under src")
                    .to_string_lossy()
                    .replace('\\', "/");
                let name = rel.rsplit('/').next().unwrap_or("");
                if name == "tests.rs" || name.ends_with("_tests.rs") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).expect("reading a source file");
                out.insert(rel, drop_test_modules(&strip_comments_and_strings(&text)));
            }
        }
    }
    out
}

fn strip_comments_and_strings(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            let mut depth = 0;
            while i < b.len() {
                if b[i..].starts_with(b"/*") {
                    depth += 1;
                    i += 2;
                } else if b[i..].starts_with(b"*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if b[i] == b'r' && (b[i..].starts_with(b"r\"") || b[i..].starts_with(b"r#")) {
            // Raw string: r"…", r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while j < b.len() && b[j] == b'#' {
                hashes += 1;
                j += 1;
            }
            if j < b.len() && b[j] == b'"' && (i == 0 || !is_ident(b[i - 1])) {
                j += 1;
                let close: Vec<u8> = std::iter::once(b'"')
                    .chain(std::iter::repeat_n(b'#', hashes))
                    .collect();
                while j < b.len() && !b[j..].starts_with(&close) {
                    j += 1;
                }
                i = j + close.len();
                out.push_str("\"\"");
            } else {
                out.push('r');
                i += 1;
            }
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' && i + 2 < b.len() && (b[i + 1] == b'\\' || b[i + 2] == b'\'') {
            // A char literal ('"', '\'', '\\'); lifetimes ('a) are left alone.
            i += 1;
            while i < b.len() && b[i] != b'\'' {
                if b[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("' '");
        } else {
            let ch = text[i..].chars().next().unwrap_or(' ');
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// Removes `#[cfg(test)] mod … { … }` blocks: their `super::` means the file itself.
fn drop_test_modules(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + "#[cfg(test)]".len()..];
        let trimmed = after.trim_start();
        let is_block = trimmed.starts_with("mod ")
            && trimmed
                .find(['{', ';'])
                .is_some_and(|i| trimmed.as_bytes()[i] == b'{');
        if !is_block {
            rest = after;
            continue;
        }
        let open = after.find('{').unwrap_or(0);
        let mut depth = 0;
        let mut end = after.len();
        for (i, c) in after.char_indices().skip(open) {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// The module path of a file: `store/etcd/mod.rs` → [store, etcd].
fn module_path(rel: &str) -> Vec<String> {
    let stem = rel.trim_end_matches(".rs");
    let mut parts: Vec<String> = stem.split('/').map(str::to_string).collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// Every `(from file, to file)` pair where `from` names something `to` defines.
fn import_edges(files: &BTreeMap<String, String>) -> BTreeSet<(String, String)> {
    let mut edges = BTreeSet::new();
    for (rel, text) in files {
        let me = module_path(rel);
        let mut paths = Vec::new();
        for stmt in use_statements(text) {
            paths.extend(expand_braces(&stmt));
        }
        paths.extend(inline_paths(text));
        for path in paths {
            let segs: Vec<&str> = path
                .split("::")
                .map(|s| s.split(" as ").next().unwrap_or(s).trim())
                .filter(|s| !s.is_empty())
                .collect();
            let Some((&head, rest)) = segs.split_first() else {
                continue;
            };
            let mut base: Vec<String> = match head {
                "crate" | "keyward" => Vec::new(),
                "self" => me.clone(),
                "super" => me[..me.len().saturating_sub(1)].to_vec(),
                _ => continue,
            };
            let mut rest = rest;
            while let Some((&"super", more)) = rest.split_first() {
                base.pop();
                rest = more;
            }
            base.extend(rest.iter().map(|s| s.to_string()));
            if let Some(target) = resolve(files, &base)
                && &target != rel
            {
                edges.insert((rel.clone(), target));
            }
        }
    }
    edges
}

/// The bodies of `use …;` statements.
fn use_statements(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(pos) = rest.find("use ") {
        let before_ok = pos == 0 || !is_ident(rest.as_bytes()[pos - 1]);
        let after = &rest[pos + 4..];
        if before_ok && let Some(end) = after.find(';') {
            out.push(
                after[..end]
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" "),
            );
            rest = &after[end..];
        } else {
            rest = after;
        }
    }
    out
}

/// `a::{b, c::{d, e}}` → `a::b`, `a::c::d`, `a::c::e`.
fn expand_braces(stmt: &str) -> Vec<String> {
    let stmt = stmt.trim();
    let Some(open) = stmt.find('{') else {
        return vec![stmt.to_string()];
    };
    let mut depth = 0;
    let mut close = stmt.len();
    for (i, c) in stmt.char_indices().skip(open) {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    close = i;
                    break;
                }
            }
            _ => {}
        }
    }
    let prefix = &stmt[..open];
    let inner = &stmt[open + 1..close.min(stmt.len())];
    let mut items = Vec::new();
    let mut depth = 0;
    let mut current = String::new();
    for c in inner.chars() {
        match c {
            ',' if depth == 0 => {
                items.push(std::mem::take(&mut current));
                continue;
            }
            '{' => depth += 1,
            '}' => depth -= 1,
            _ => {}
        }
        current.push(c);
    }
    items.push(current);
    items
        .iter()
        .filter(|item| !item.trim().is_empty())
        .flat_map(|item| expand_braces(&format!("{prefix}{}", item.trim())))
        .collect()
}

/// Paths written in place (`crate::store::StoreError::Io(…)`, `super::ops::AuditBy`).
fn inline_paths(text: &str) -> Vec<String> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    for head in ["crate::", "super::", "keyward::"] {
        let mut from = 0;
        while let Some(pos) = text[from..].find(head) {
            let start = from + pos;
            from = start + head.len();
            if start > 0 && (is_ident(b[start - 1]) || b[start - 1] == b':') {
                continue;
            }
            let mut end = start;
            while end < b.len() && (is_ident(b[end]) || b[end] == b':') {
                end += 1;
            }
            out.push(text[start..end].trim_end_matches(':').to_string());
        }
    }
    out
}

/// The file that defines the longest prefix of `path`.
fn resolve(files: &BTreeMap<String, String>, path: &[String]) -> Option<String> {
    for n in (1..=path.len()).rev() {
        let joined = path[..n].join("/");
        for candidate in [format!("{joined}.rs"), format!("{joined}/mod.rs")] {
            if files.contains_key(&candidate) {
                return Some(candidate);
            }
        }
    }
    None
}

fn layer_of(rel: &str) -> &str {
    rel.split(['/', '.']).next().unwrap_or(rel)
}

fn rank(rel: &str) -> Option<u32> {
    let top = layer_of(rel);
    LAYERS.iter().find(|(m, _)| *m == top).map(|(_, r)| *r)
}
