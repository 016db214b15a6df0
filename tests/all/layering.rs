//! The layering `src/lib.rs` states, checked on the source: a room (a top-level module of
//! `src/`) imports only rooms listed above its own there, with no exception; and no two
//! modules of one room import each other. A new upward import or cycle fails here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The rooms in the order `src/lib.rs` lists them, bottom first; a line shares a level.
const LEVELS: &[&[&str]] = &[
    &["error", "model", "config", "metrics", "guests"],
    &["redact", "telemetry"],
    &["store"],
    &["audit"],
    &["directory"],
    &["secrets"],
    &["tokens"],
    &["net"],
    &["actions"],
    &["saved"],
    &["executor"],
    &["runs"],
    &["app"],
    &["web"],
    &["api"],
    &["cli"],
];

/// Upward imports the picture names: none.
const ALLOWED_UP: &[(&str, &str)] = &[];

fn level(room: &str) -> Option<usize> {
    LEVELS.iter().position(|l| l.contains(&room))
}

/// `(module path, source without comments and test modules)` of every file under `src/`.
fn sources() -> Vec<(Vec<String>, String)> {
    fn walk(dir: &Path, out: &mut Vec<(Vec<String>, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path
                    .strip_prefix(concat!(env!("CARGO_MANIFEST_DIR"), "/src"))
                    .unwrap();
                let mut parts: Vec<String> = rel
                    .with_extension("")
                    .iter()
                    .map(|p| p.to_string_lossy().into_owned())
                    .collect();
                if matches!(
                    parts.last().map(String::as_str),
                    Some("mod" | "lib" | "main")
                ) {
                    parts.pop();
                }
                let text = std::fs::read_to_string(&path).unwrap();
                let text = text.split("#[cfg(test)]\nmod tests").next().unwrap();
                let code: Vec<&str> = text
                    .lines()
                    .filter(|l| !l.trim_start().starts_with("//"))
                    .collect();
                out.push((parts, code.join("\n")));
            }
        }
    }
    let mut out = Vec::new();
    walk(
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src")),
        &mut out,
    );
    out
}

/// The paths a source names as `crate::a::b…` and `super::x` (resolved against `module`).
fn imports(module: &[String], code: &str) -> BTreeSet<Vec<String>> {
    let mut found = BTreeSet::new();
    // The leading `a::b::c` of `s`: lower-case module names only (a type ends it).
    let ident = |s: &str| -> Vec<String> {
        let end = s
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == ':'))
            .unwrap_or(s.len());
        s[..end]
            .split("::")
            .take_while(|p| !p.is_empty())
            .map(str::to_owned)
            .collect()
    };
    for (i, _) in code.match_indices("crate::") {
        let path = ident(&code[i + 7..]);
        if !path.is_empty() {
            found.insert(path);
        }
    }
    for (i, _) in code.match_indices("super::") {
        if i > 0 && code.as_bytes()[i - 1].is_ascii_alphanumeric() {
            continue;
        }
        let mut path: Vec<String> = module[..module.len().saturating_sub(1)].to_vec();
        path.extend(ident(&code[i + 7..]).into_iter().take(1));
        found.insert(path);
    }
    found
}

#[test]
fn no_room_imports_a_room_above_its_own() {
    let mut wrong = Vec::new();
    // The room graph, printed for the record (`cargo test --test all layering -- --nocapture`).
    let mut graph: BTreeMap<(usize, String), BTreeSet<String>> = BTreeMap::new();
    for (module, code) in sources() {
        let Some(room) = module.first() else { continue };
        let Some(mine) = level(room) else {
            wrong.push(format!("{room} is not in the picture"));
            continue;
        };
        for path in imports(&module, &code) {
            let target = &path[0];
            if target == room {
                continue;
            }
            let theirs = level(target).unwrap_or(usize::MAX);
            graph
                .entry((mine, room.clone()))
                .or_default()
                .insert(target.clone());
            if theirs > mine && !ALLOWED_UP.contains(&(room.as_str(), target.as_str())) {
                wrong.push(format!("{} imports {}", module.join("::"), path.join("::")));
            }
        }
    }
    for ((_, room), targets) in &graph {
        let targets: Vec<&str> = targets.iter().map(String::as_str).collect();
        eprintln!("{room} -> {}", targets.join(", "));
    }
    assert!(wrong.is_empty(), "upward imports:\n{}", wrong.join("\n"));
}

#[test]
fn no_two_modules_of_a_room_import_each_other() {
    // Edges between sibling modules, at every depth: `a::b` and `a::c`, `a::b::c` and
    // `a::b::d`.
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, code) in sources() {
        for path in imports(&module, &code) {
            for depth in 2..=module.len().min(path.len()) {
                if module[..depth - 1] != path[..depth - 1] || module[depth - 1] == path[depth - 1]
                {
                    continue;
                }
                edges
                    .entry(module[..depth].join("::"))
                    .or_default()
                    .insert(path[..depth].join("::"));
            }
        }
    }
    // Any cycle, of any length: a module that reaches itself through its siblings.
    fn reaches(
        edges: &BTreeMap<String, BTreeSet<String>>,
        from: &str,
        goal: &str,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        edges.get(from).is_some_and(|tos| {
            tos.iter()
                .any(|to| to == goal || (seen.insert(to.clone()) && reaches(edges, to, goal, seen)))
        })
    }
    let cycles: Vec<&String> = edges
        .keys()
        .filter(|a| reaches(&edges, a, a, &mut BTreeSet::new()))
        .collect();
    let cycles: Vec<String> = cycles.into_iter().cloned().collect();
    assert!(
        cycles.is_empty(),
        "modules on an import cycle:\n{}",
        cycles.join("\n")
    );
}
