//! The shape DESIGN.md asks for, checked on the source: `src/` is a stack
//! of floors, each importing only its own floor and those below; the doors
//! to the machine (files, processes, the network) open only in the folders
//! named for them; there is no import cycle; long functions say why; and
//! the CLI stays a thin layer over `run::run`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each module directly under `src/` and its floor, lowest first. A module
/// may name (`crate::X`) only modules on its own floor or below; a new
/// module must be given a floor here.
const FLOORS: &[(&str, u8)] = &[
    // Shared values: verdicts and exit codes, paths, name rules, deadline.
    ("base", 0),
    // The OS verbs (the only door to the managed root) and the AWS clients.
    ("host", 1),
    ("aws", 1),
    // The report model and its renderings (it records what host and aws read).
    ("report", 2),
    // What to enforce, and what is known of this notebook.
    ("policy", 3),
    ("facts", 3),
    // The control trait and convergence.
    ("engine", 4),
    ("controls", 5),
    // A whole run: selection, lock, deadline, record, upload, exit codes.
    ("run", 6),
    // The operator tools.
    ("monitor", 7),
    ("fleet", 7),
    ("lifecycle", 7),
    ("cli", 8),
];

/// The crate's roots, above every floor.
const ROOTS: &[&str] = &["lib", "main", "test_support"];

/// The doors to the machine, and the only top-level modules allowed to
/// open them.
const DOORS: &[(&str, &[&str])] = &[
    // Files: through `host`'s safe file path (or `host::local` for an
    // administrator's own files).
    ("std::fs", &["host"]),
    ("File::open", &["host"]),
    ("nix::", &["host"]),
    ("libc::", &["host"]),
    // Programs: `host::command` is the one runner.
    ("process::Command", &["host"]),
    ("Command::new(", &["host", "cli"]),
    // The machine's load, for the monitor's metrics.
    ("sysinfo", &["monitor"]),
    // HTTP: AWS, the controls' downloads and mirror probe, the monitor's
    // Jupyter API.
    ("reqwest", &["aws", "controls", "monitor"]),
];

fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("source dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The file's code before its test module (tests may build fixtures with
/// `std::fs`; by convention the test module comes last), comment lines
/// left out.
fn code_outside_tests(text: &str) -> String {
    let code = text.split("#[cfg(test)]").next().unwrap_or(text);
    code.lines()
        .map(|l| {
            if l.trim_start().starts_with("//") {
                ""
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A source file's module path (`src/host/stat.rs` → `["host", "stat"]`).
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).expect("under src");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// Every path the code names from the crate's root: `crate::a::b`, each
/// item of `crate::{a, b::c}`, and `super::` paths resolved against
/// `module`.
fn crate_paths(code: &str, module: &[String]) -> Vec<Vec<String>> {
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut out = Vec::new();
    let bytes: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let rest: String = bytes[i..bytes.len().min(i + 7)].iter().collect();
        let preceded = i > 0 && (ident(bytes[i - 1]) || bytes[i - 1] == ':');
        let (mut base, skip) = if rest.starts_with("crate::") && !preceded {
            (Vec::new(), 7)
        } else if rest.starts_with("super::") && !preceded {
            let mut base = module.to_vec();
            let mut j = i;
            let mut file_is_module = true;
            while bytes[j..].iter().take(7).collect::<String>() == "super::" {
                // A file's own module is its path; `super` is its parent.
                if file_is_module {
                    file_is_module = false;
                }
                base.pop();
                j += 7;
            }
            (base, j - i)
        } else {
            i += 1;
            continue;
        };
        i += skip;
        let mut word = String::new();
        while i < bytes.len() && (ident(bytes[i]) || bytes[i] == ':') {
            word.push(bytes[i]);
            i += 1;
        }
        base.extend(word.split("::").filter(|s| !s.is_empty()).map(String::from));
        if i < bytes.len() && bytes[i] == '{' {
            let mut depth = 0;
            let mut item = String::new();
            while i < bytes.len() {
                match bytes[i] {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                if depth == 0 {
                    break;
                }
                if depth == 1 && bytes[i] == ',' {
                    push_item(&mut out, &base, &item);
                    item.clear();
                } else if !(depth == 1 && bytes[i] == '{') {
                    item.push(bytes[i]);
                }
                i += 1;
            }
            push_item(&mut out, &base, &item);
        } else if !base.is_empty() {
            out.push(base);
        }
    }
    out
}

fn push_item(out: &mut Vec<Vec<String>>, base: &[String], item: &str) {
    let head: Vec<String> = item
        .trim()
        .split(|c: char| c == '{' || c.is_whitespace())
        .next()
        .unwrap_or("")
        .split("::")
        .filter(|s| !s.is_empty() && *s != "self")
        .map(String::from)
        .collect();
    let mut path = base.to_vec();
    path.extend(head);
    if !path.is_empty() {
        out.push(path);
    }
}

fn floor(top: &str) -> Option<u8> {
    FLOORS.iter().find(|(m, _)| *m == top).map(|(_, f)| *f)
}

struct Crate {
    /// Module path → the module paths it names (resolved to the longest
    /// module that exists).
    imports: BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
    /// Module path → its code outside tests.
    code: BTreeMap<Vec<String>, String>,
}

fn read_crate() -> Crate {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut code = BTreeMap::new();
    for file in sources(&src) {
        let text = std::fs::read_to_string(&file).expect("source");
        code.insert(module_of(&src, &file), code_outside_tests(&text));
    }
    let modules: BTreeSet<Vec<String>> = code.keys().cloned().collect();
    let mut imports = BTreeMap::new();
    for (module, text) in &code {
        let mut named = BTreeSet::new();
        for mut path in crate_paths(text, module) {
            while !path.is_empty() && !modules.contains(&path) {
                path.pop();
            }
            if !path.is_empty() && &path != module {
                named.insert(path);
            }
        }
        imports.insert(module.clone(), named);
    }
    Crate { imports, code }
}

/// Imports that run from a floor to a higher one, or to a module with no
/// floor.
fn upward(krate: &Crate) -> Vec<String> {
    let mut found = Vec::new();
    for (module, named) in &krate.imports {
        let top = module[0].as_str();
        if ROOTS.contains(&top) {
            continue;
        }
        let Some(own) = floor(top) else {
            found.push(format!("src/{top} has no floor in FLOORS"));
            continue;
        };
        for target in named {
            match floor(&target[0]) {
                Some(f) if f <= own => {}
                Some(f) => found.push(format!(
                    "{} (floor {own}) imports {} (floor {f})",
                    module.join("::"),
                    target.join("::")
                )),
                None => found.push(format!(
                    "{} imports {}, which has no floor",
                    module.join("::"),
                    target.join("::")
                )),
            }
        }
    }
    found
}

/// Import cycles: between top-level modules, and between modules of one
/// folder (a module naming its own parent or child is not a cycle).
fn cycles(krate: &Crate) -> Vec<String> {
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (module, named) in &krate.imports {
        for target in named {
            let (a, b) = (&module[..1], &target[..1]);
            if a != b {
                edges.entry(a.to_vec()).or_default().insert(b.to_vec());
            } else if !target.starts_with(module) && !module.starts_with(target) {
                edges
                    .entry(module.clone())
                    .or_default()
                    .insert(target.clone());
            }
        }
    }
    let reaches = |from: &Vec<String>, to: &Vec<String>| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.clone()];
        while let Some(m) = stack.pop() {
            if &m == to {
                return true;
            }
            if seen.insert(m.clone()) {
                stack.extend(edges.get(&m).into_iter().flatten().cloned());
            }
        }
        false
    };
    let mut found = BTreeSet::new();
    for (a, targets) in &edges {
        for b in targets {
            if reaches(b, a) {
                let mut pair = [a.join("::"), b.join("::")];
                pair.sort();
                found.insert(format!("{} <-> {}", pair[0], pair[1]));
            }
        }
    }
    found.into_iter().collect()
}

/// Uses of a door outside the modules allowed to open it.
fn side_doors(krate: &Crate) -> Vec<String> {
    let mut found = Vec::new();
    for (module, text) in &krate.code {
        let top = module[0].as_str();
        for (door, allowed) in DOORS {
            if allowed.contains(&top) || ROOTS.contains(&top) {
                continue;
            }
            for line in text.lines().filter(|l| l.contains(door)) {
                found.push(format!("{}: {door}: {}", module.join("::"), line.trim()));
            }
        }
    }
    found
}

/// Functions of more than `limit` lines outside tests whose comment does
/// not say why (a line with `Long:` in the comment above the function), and
/// `Long:` notes left above a function that is no longer long.
fn long_functions(text: &str, limit: usize) -> Vec<String> {
    let lines: Vec<&str> = text
        .split("#[cfg(test)]")
        .next()
        .unwrap_or(text)
        .lines()
        .collect();
    let mut found = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        let signature = [
            "fn ",
            "pub fn ",
            "pub(crate) fn ",
            "pub(super) fn ",
            "const fn ",
            "pub const fn ",
        ];
        if !signature.iter().any(|s| trimmed.starts_with(s)) {
            continue;
        }
        let Some(open) = (i..lines.len())
            .find(|&j| lines[j].trim_end().ends_with('{') || lines[j].trim_end().ends_with(';'))
        else {
            continue;
        };
        if lines[open].trim_end().ends_with(';') {
            continue;
        }
        let close = format!("{indent}}}");
        let Some(end) = (open + 1..lines.len()).find(|&j| lines[j] == close) else {
            continue;
        };
        let length = end - i + 1;
        let explained = lines[..i]
            .iter()
            .rev()
            .take_while(|l| {
                let t = l.trim_start();
                t.starts_with("//") || t.starts_with("#[")
            })
            .any(|l| l.contains("Long:"));
        let name = trimmed.split("fn ").nth(1).unwrap_or(trimmed);
        let name = name.split(['(', '<']).next().unwrap_or(name);
        if length > limit && !explained {
            found.push(format!("fn {name}: {length} lines"));
        } else if length <= limit && explained {
            found.push(format!(
                "fn {name}: {length} lines, its Long: note is stale"
            ));
        }
    }
    found
}

#[test]
fn each_floor_imports_only_its_own_floor_and_those_below() {
    let krate = read_crate();
    let found = upward(&krate);
    assert!(
        found.is_empty(),
        "imports up a floor:\n{}",
        found.join("\n")
    );
    // Every top-level module is in the table, and the table names no
    // module that is gone.
    let tops: BTreeSet<&str> = krate.code.keys().map(|m| m[0].as_str()).collect();
    for (module, _) in FLOORS {
        assert!(
            tops.contains(module),
            "FLOORS names src/{module}, which does not exist"
        );
    }
}

#[test]
fn there_is_no_import_cycle() {
    let found = cycles(&read_crate());
    assert!(found.is_empty(), "import cycles:\n{}", found.join("\n"));
}

#[test]
fn doors_to_the_machine_open_only_where_the_table_says() {
    let found = side_doors(&read_crate());
    assert!(found.is_empty(), "side doors:\n{}", found.join("\n"));
}

#[test]
fn no_function_runs_past_80_lines_without_saying_why() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = Vec::new();
    for file in sources(&src) {
        let text = std::fs::read_to_string(&file).expect("source");
        for f in long_functions(&text, 80) {
            found.push(format!("{}: {f}", file.display()));
        }
    }
    assert!(found.is_empty(), "long functions:\n{}", found.join("\n"));
}

/// The checker itself: planted mistakes are seen.
#[test]
fn the_checker_sees_an_upward_import_a_cycle_a_side_door_and_a_long_function() {
    let module = |m: &[&str]| m.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let code = "use crate::{engine::Mode, report::{self, Status}};\nuse super::sibling::X;\n\
                fn f() { crate::run::run(); let _ = std::fs::read(\"x\"); }";
    let paths = crate_paths(code, &module(&["controls", "git"]));
    assert!(paths.contains(&module(&["engine", "Mode"])), "{paths:?}");
    assert!(paths.contains(&module(&["report"])), "{paths:?}");
    assert!(
        paths.contains(&module(&["controls", "sibling", "X"])),
        "{paths:?}"
    );
    assert!(paths.contains(&module(&["run", "run"])), "{paths:?}");

    let mut imports = BTreeMap::new();
    imports.insert(
        module(&["controls", "git"]),
        BTreeSet::from([module(&["run"]), module(&["controls", "sudo"])]),
    );
    imports.insert(
        module(&["controls", "sudo"]),
        BTreeSet::from([module(&["controls", "git"])]),
    );
    imports.insert(module(&["run"]), BTreeSet::new());
    let mut code_of = BTreeMap::new();
    code_of.insert(module(&["controls", "git"]), code.to_string());
    let krate = Crate {
        imports,
        code: code_of,
    };
    assert_eq!(upward(&krate).len(), 1, "{:?}", upward(&krate));
    assert_eq!(cycles(&krate), ["controls::git <-> controls::sudo"]);
    assert_eq!(side_doors(&krate).len(), 1, "{:?}", side_doors(&krate));

    let body = "    x();\n".repeat(81);
    let long = format!("fn f() {{\n{body}}}\n");
    assert_eq!(long_functions(&long, 80).len(), 1);
    let explained = format!("// Long: one table of steps.\n{long}");
    assert!(long_functions(&explained, 80).is_empty());
    let stale = "// Long: it was once.\nfn g() {\n    x();\n}\n";
    assert_eq!(long_functions(stale, 80).len(), 1);
}

#[test]
fn the_cli_only_parses_calls_and_renders() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![src.join("cli.rs")];
    files.extend(sources(&src.join("cli")));
    assert!(
        files.len() >= 3,
        "cli.rs, cli/args.rs, cli/admin.rs: {files:?}"
    );
    for file in files {
        let cli = std::fs::read_to_string(&file).expect("cli source");
        let lines = cli.lines().count();
        // The dispatcher stays short; the argument definitions and the
        // admin commands' glue have room for their doc comments.
        let limit = if file.ends_with("cli.rs") { 300 } else { 400 };
        assert!(lines < limit, "{} has {lines} lines", file.display());
        for engine_logic in [
            "RunLock",
            "observe_boot",
            "save_manifest",
            "fleet::upload",
            "preflight",
        ] {
            assert!(
                !cli.contains(engine_logic),
                "{} uses {engine_logic}",
                file.display()
            );
        }
    }
}
