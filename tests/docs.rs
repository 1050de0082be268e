//! The man pages and shell completions come from the clap definitions:
//! this test generates them and fails when the copies under `packaging/`
//! differ, so a new flag or subcommand cannot ship undocumented.
//! `scripts/gen-docs` (`NBWARDEN_BLESS=1 cargo test --test docs`) writes
//! them. nbwarden(8)'s ENVIRONMENT, FILES, EXIT STATUS and EXAMPLES are
//! hand-written in `packaging/man/sections.roff`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap_complete::Shell;
use nbwarden::cli::args::Cli;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The command tree as the binary parses it, with clap's derived names
/// (`nbwarden-lifecycle-render`) filled in.
fn command() -> clap::Command {
    nbwarden::cli::shaped(Cli::command().disable_help_subcommand(true))
}

fn man(cmd: &clap::Command) -> clap_mangen::Man {
    clap_mangen::Man::new(cmd.clone())
        .section("8")
        .manual("System Administration")
        .source(format!("nbwarden {}", env!("CARGO_PKG_VERSION")))
}

/// One piece of a page, written to memory.
type Part<'a> = &'a dyn Fn(&mut Vec<u8>) -> std::io::Result<()>;

fn render(parts: &[Part<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for part in parts {
        part(&mut out).expect("render to memory");
    }
    out
}

/// Every subcommand's page name (`nbwarden-lifecycle-render`), depth first.
fn subcommand_pages(cmd: &clap::Command, out: &mut Vec<(String, clap::Command)>) {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = sub.get_display_name().unwrap_or(sub.get_name()).to_string();
        out.push((name, sub.clone()));
        subcommand_pages(sub, out);
    }
}

/// Every generated file, by path relative to the repository.
fn generated() -> BTreeMap<PathBuf, Vec<u8>> {
    let cmd = command();
    let mut subs = Vec::new();
    subcommand_pages(&cmd, &mut subs);
    let sections = std::fs::read(repo().join("packaging/man/sections.roff")).expect("sections");
    let see_also = {
        let mut roff = String::from(".SH \"SEE ALSO\"\n");
        for (name, _) in &subs {
            roff.push_str(&format!(".BR {} (8),\n", name.replace('-', "\\-")));
        }
        roff.push_str(".BR sudo (8),\n.BR systemd.timer (5)\n");
        roff
    };
    let mut files = BTreeMap::new();
    let top = man(&cmd);
    files.insert(
        PathBuf::from("packaging/man/nbwarden.8"),
        render(&[
            &|w| top.render_title(w),
            &|w| top.render_name_section(w),
            &|w| top.render_synopsis_section(w),
            &|w| top.render_description_section(w),
            &|w| top.render_options_section(w),
            &|w| top.render_subcommands_section(w),
            &|w| {
                w.extend_from_slice(&sections);
                Ok(())
            },
            &|w| {
                w.extend_from_slice(see_also.as_bytes());
                Ok(())
            },
            &|w| top.render_version_section(w),
        ]),
    );
    for (name, sub) in &subs {
        let page = man(sub);
        let mut text = render(&[&|w| page.render(w)]);
        text.extend_from_slice(b".SH \"SEE ALSO\"\n.BR nbwarden (8)\n");
        files.insert(PathBuf::from(format!("packaging/man/{name}.8")), text);
    }
    for (shell, file) in [
        (Shell::Bash, "nbwarden.bash"),
        (Shell::Zsh, "_nbwarden"),
        (Shell::Fish, "nbwarden.fish"),
    ] {
        let mut text = Vec::new();
        clap_complete::generate(shell, &mut command(), "nbwarden", &mut text);
        files.insert(PathBuf::from(format!("packaging/completions/{file}")), text);
    }
    files
}

/// The files in `dir` whose names start with `prefix`.
fn present(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join(dir))
        .expect("packaging dir")
        .map(|e| dir.join(e.expect("entry").file_name()))
        .filter(|p| p.extension().is_none_or(|e| e != "roff"))
        .collect();
    files.sort();
    files
}

#[test]
fn man_pages_and_completions_match_the_command_line() {
    let files = generated();
    if std::env::var_os("NBWARDEN_BLESS").is_some() {
        for dir in ["packaging/man", "packaging/completions"] {
            for old in present(Path::new(dir)) {
                std::fs::remove_file(repo().join(old)).expect("remove");
            }
        }
        for (path, text) in &files {
            std::fs::write(repo().join(path), text).expect("write");
        }
    }
    let mut stale = Vec::new();
    for (path, text) in &files {
        if std::fs::read(repo().join(path)).ok().as_ref() != Some(text) {
            stale.push(path.display().to_string());
        }
    }
    for dir in ["packaging/man", "packaging/completions"] {
        for file in present(Path::new(dir)) {
            if !files.contains_key(&file) {
                stale.push(format!("{} (no such command)", file.display()));
            }
        }
    }
    assert!(
        stale.is_empty(),
        "stale: {stale:?}: run scripts/gen-docs and commit the result"
    );
}

/// Every subcommand has a page, and nbwarden(8) names them all.
#[test]
fn every_subcommand_has_a_page() {
    let files = generated();
    let top =
        String::from_utf8(files[Path::new("packaging/man/nbwarden.8")].clone()).expect("utf8");
    for path in [
        "apply",
        "verify",
        "plan",
        "status",
        "monitor",
        "policy-validate",
        "policy-schema",
        "lifecycle-render",
        "fleet-summary",
        "sudo-restore",
        "version",
    ] {
        let page = format!("packaging/man/nbwarden-{path}.8");
        assert!(files.contains_key(Path::new(&page)), "{page} missing");
        assert!(
            top.contains(&format!("nbwarden\\-{}", path.replace('-', "\\-"))),
            "nbwarden.8 does not point to nbwarden-{path}(8)"
        );
    }
    let render =
        String::from_utf8(files[Path::new("packaging/man/nbwarden-lifecycle-render.8")].clone())
            .expect("utf8");
    for flag in [
        "checksums",
        "binary\\-sha256",
        "start\\-budget",
        "s3\\-endpoint\\-url",
    ] {
        assert!(
            render.contains(flag),
            "lifecycle render's page lacks --{flag}"
        );
    }
}

/// A command's help and man page list the options it reads: `--root` and
/// `--only` (a run's) are not on the fleet's or the lifecycle's, and the
/// policy commands list none of the runs' (every page used to list all).
#[test]
fn each_page_lists_only_the_options_its_command_reads() {
    let files = generated();
    let page = |name: &str| {
        String::from_utf8(files[&PathBuf::from(format!("packaging/man/nbwarden-{name}.8"))].clone())
            .expect("utf8")
    };
    for run in ["apply", "verify", "plan"] {
        let text = page(run);
        for flag in ["\\-\\-root", "\\-\\-only", "\\-\\-policy", "\\-\\-deadline"] {
            assert!(text.contains(flag), "{run} lacks {flag}");
        }
    }
    for admin in [
        "fleet-summary",
        "lifecycle-render",
        "lifecycle-notebook-stack",
    ] {
        let text = page(admin);
        assert!(!text.contains("\\-\\-root"), "{admin} lists --root");
        assert!(!text.contains("\\-\\-only"), "{admin} lists --only");
        assert!(text.contains("\\-\\-policy"), "{admin} reads --policy");
    }
    for quiet in ["policy-validate", "version"] {
        let text = page(quiet);
        for flag in ["\\-\\-root", "\\-\\-deadline", "\\-\\-policy\\-sha256"] {
            assert!(!text.contains(flag), "{quiet} lists {flag}");
        }
    }
    // Hidden, not removed: scripts that pass them still run.
    let cli = nbwarden::cli::shaped(Cli::command());
    assert!(
        cli.try_get_matches_from([
            "nbwarden", "fleet", "summary", "--bucket", "b", "--root", "/"
        ])
        .is_ok()
    );
}

/// `--only` completes the control ids (it used to complete file names), in
/// every shell, and lists every id the registry knows.
#[test]
fn only_completes_the_control_ids() {
    let files = generated();
    let ids = nbwarden::controls::known_ids();
    assert!(ids.len() > 10, "{ids:?}");
    for file in ["nbwarden.bash", "_nbwarden", "nbwarden.fish"] {
        let text = String::from_utf8(
            files[&PathBuf::from(format!("packaging/completions/{file}"))].clone(),
        )
        .expect("utf8");
        for id in &ids {
            assert!(text.contains(id), "{file} does not complete --only {id}");
        }
    }
    let bash = String::from_utf8(files[Path::new("packaging/completions/nbwarden.bash")].clone())
        .expect("utf8");
    let only = bash
        .split("--only)")
        .nth(1)
        .and_then(|s| s.split(";;").next())
        .unwrap_or("");
    assert!(
        only.contains(&ids.join(" ")),
        "bash completes --only with: {only}"
    );
}

/// The hand-written sections cover what the code reads: every environment
/// variable and every file the lifecycle path names.
#[test]
fn the_hand_written_sections_cover_what_the_code_reads() {
    let sections = std::fs::read_to_string(repo().join("packaging/man/sections.roff"))
        .expect("sections")
        .replace("\\-", "-");
    let mut wanted: Vec<String> = command()
        .get_arguments()
        .filter_map(|a| a.get_env())
        .map(|e| e.to_string_lossy().into_owned())
        .collect();
    wanted.extend(
        [
            "NBWARDEN_LOG",
            "NO_COLOR",
            "JOURNAL_STREAM",
            "AWS_ENDPOINT_URL_S3",
        ]
        .map(String::from),
    );
    wanted.extend(
        [
            nbwarden::base::paths::ENV_FILE,
            nbwarden::base::paths::START_MARK,
        ]
        .map(String::from),
    );
    for section in ["ENVIRONMENT", "FILES", "EXIT STATUS", "EXAMPLES"] {
        assert!(sections.contains(&format!(".SH {section}\n")), "{section}");
    }
    for thing in wanted {
        assert!(sections.contains(&thing), "{thing} is not in sections.roff");
    }
}

/// groff reads every page without a warning.
#[test]
fn groff_reads_every_page_without_warnings() {
    let dir = tempfile::tempdir().expect("tmp");
    for (path, text) in generated() {
        if !path.starts_with("packaging/man") {
            continue;
        }
        let file = dir.path().join(path.file_name().expect("name"));
        std::fs::write(&file, text).expect("write");
        let out = std::process::Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-z"])
            .arg(&file)
            .output()
            .expect("groff (Debian package groff-base)");
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
