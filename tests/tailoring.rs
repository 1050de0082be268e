//! `[git]` and `[jupyter]` against the real readers: the host's git reads
//! the written system configuration, and a real jupyter_server (the test
//! venv's) loads the settings: culling in its effective configuration, the
//! terminals API gone when terminals are off.

#[macro_use]
mod common;

use std::path::Path;
use std::process::Command;

use common::notebook::{Notebook, run_aws, service};
use common::{LoopbackServer, code, output_text, read_report, sandbox, write_policy};

const METADATA: &str = r#"{"ResourceArn":"arn:aws:sagemaker:us-east-1:123456789012:notebook-instance/nbwarden-system-test","ResourceName":"nbwarden-system-test"}"#;

fn git_system_list(root: &Path) -> String {
    let home = tempfile::tempdir().expect("home");
    let out = Command::new("git")
        .args(["config", "--system", "--list"])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", home.path())
        .env("GIT_CONFIG_SYSTEM", root.join("etc/gitconfig"))
        .output()
        .expect("git");
    assert!(out.status.success(), "{}", output_text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

system_test! {
    fn git_reads_our_helper_the_committer_from_tags_and_keeps_other_settings() {
        let root = sandbox("al2023");
        std::fs::write(
            root.path().join("opt/ml/metadata/resource-metadata.json"),
            METADATA,
        )
        .expect("metadata");
        std::fs::write(
            root.path().join("etc/gitconfig"),
            "[core]\n\tautocrlf = input\n",
        )
        .expect("gitconfig");
        let dir = tempfile::tempdir().expect("tmp");
        let p = write_policy(dir.path(), "version = 1\n[git]\n");
        let p = p.to_string_lossy();

        let out = run_aws(
            root.path(),
            &["apply", "--policy", &p, "--only", "git"],
            &[],
        );
        assert_eq!(code(&out), 0, "{}", output_text(&out));
        let listed = git_system_list(root.path());
        for line in [
            "core.autocrlf=input",
            "credential.helper=!aws codecommit credential-helper $@",
            "credential.usehttppath=true",
            "user.name=Ada Lovelace",
            "user.email=ada@example.com",
        ] {
            assert!(
                listed.lines().any(|l| l == line),
                "{line} missing from:\n{listed}"
            );
        }
        // git's ownership check stays on: no safe.directory by default.
        assert!(!listed.contains("safe.directory"), "{listed}");

        let again = run_aws(
            root.path(),
            &["apply", "--policy", &p, "--only", "git", "--output", "json"],
            &[],
        );
        assert_eq!(
            read_report(&again).summary.changes,
            0,
            "{}",
            output_text(&again)
        );

        // A committer edited by hand is drift, and apply puts it back.
        let path = root.path().join("etc/gitconfig");
        let text = std::fs::read_to_string(&path).expect("read");
        std::fs::write(&path, text.replace("Ada Lovelace", "Someone Else")).expect("edit");
        let verify = run_aws(
            root.path(),
            &["verify", "--policy", &p, "--only", "git"],
            &[],
        );
        assert_eq!(code(&verify), 1, "{}", output_text(&verify));
        assert!(
            output_text(&verify).contains("/etc/gitconfig"),
            "{}",
            output_text(&verify)
        );
    }
}

/// What the user's `core.fsmonitor` leaves: the uid that ran it.
const FSMONITOR_RAN: &str = "/tmp/fsmonitor-ran-as";

/// Root's own git (Debian's, in the notebook root) in the notebook user's
/// repository on the ML volume, whose `core.fsmonitor` the user chose.
fn roots_git_status(nb: &Notebook) -> std::process::Output {
    nb.as_root(&[
        "git",
        "-C",
        "/home/ec2-user/SageMaker/r",
        "status",
        "--short",
    ])
}

system_test! {
    /// `[git]` never switches off git's ownership check (CVE-2022-24765) for
    /// root: by default root's git refuses the user's repository and never runs
    /// the user's fsmonitor, while the user's own git works there; an entry
    /// where the user can write is refused by `policy validate` (file:line:col)
    /// and, on the host, by the trust rule; a `safe.directory` or an include
    /// of a user file that the image left in root's git configuration fails
    /// `verify`, as root's real git resolves it.
    fn roots_git_never_acts_in_a_repository_the_user_controls() {
        let nb = Notebook::create("version = 1\n");
        let dir = tempfile::tempdir().expect("tmp");
        let run = |args: &[&str], policy: &str| {
            let p = common::write_policy(dir.path(), policy);
            let mut argv = args.to_vec();
            let p = p.to_string_lossy().into_owned();
            argv.extend(["--policy", &p, "--only", "git", "--output", "json"]);
            run_aws(nb.root(), &argv, &[])
        };
        let planted = nb.as_user(&[
            "sh",
            "-c",
            &format!(
                "git init -q ~/SageMaker/r && git -C ~/SageMaker/r config core.fsmonitor \
                 'id -u > {FSMONITOR_RAN}; false'"
            ),
        ]);
        assert!(planted.status.success(), "{}", output_text(&planted));

        let apply = run(&["apply"], "version = 1\n[git]\n");
        assert_eq!(code(&apply), 0, "{}", output_text(&apply));
        let status = roots_git_status(&nb);
        assert_ne!(code(&status), 0, "{}", output_text(&status));
        assert!(
            output_text(&status).contains("dubious ownership"),
            "{}",
            output_text(&status)
        );
        assert!(
            !nb.path(FSMONITOR_RAN).exists(),
            "the user's fsmonitor ran in root's git"
        );
        let own = nb.as_user(&[
            "git",
            "-C",
            "/home/ec2-user/SageMaker/r",
            "status",
            "--short",
        ]);
        assert_eq!(code(&own), 0, "{}", output_text(&own));
        let ran = std::fs::read_to_string(nb.path(FSMONITOR_RAN)).expect("the user's own git ran it");
        assert_eq!(ran.trim(), "1000");
        std::fs::remove_file(nb.path(FSMONITOR_RAN)).expect("rm");
        let verify = run(&["verify"], "version = 1\n[git]\n");
        assert_eq!(code(&verify), 0, "{}", output_text(&verify));

        // Entries where the user can write never get past the policy.
        for bad in ["\"/home/ec2-user/SageMaker/*\"", "\"*\"", "\"/tmp/r\""] {
            let p = common::write_policy(
                dir.path(),
                &format!("version = 1\n[git]\nsafe_directories = [{bad}]\n"),
            );
            let out = common::nbwarden(&["policy", "validate", &p.to_string_lossy()]);
            let said = output_text(&out);
            assert_eq!(code(&out), 2, "{bad}: {said}");
            assert!(said.contains("policy.toml:3:"), "{bad}: {said}");
            assert!(
                said.contains("ownership check") || said.contains("can write"),
                "{bad}: {said}"
            );
        }
        // On the host: a directory the user owns outside the usual places is
        // refused (exit 2, nothing written); a root-owned one is written.
        for (path, owner) in [("srv/mine", 1000), ("srv/team", 0)] {
            std::fs::create_dir_all(nb.path(&format!("/{path}"))).expect("mkdir");
            std::os::unix::fs::chown(nb.path(&format!("/{path}")), Some(owner), Some(owner))
                .expect("chown");
        }
        let mine = run(
            &["apply"],
            "version = 1\n[git]\nsafe_directories = [\"/srv/mine/*\"]\n",
        );
        assert_eq!(code(&mine), 2, "{}", output_text(&mine));
        assert!(
            output_text(&mine).contains("/srv/mine"),
            "{}",
            output_text(&mine)
        );
        let team = "version = 1\n[git]\nsafe_directories = [\"/srv/team/*\"]\n";
        let apply = run(&["apply"], team);
        assert_eq!(code(&apply), 0, "{}", output_text(&apply));
        assert_eq!(code(&run(&["verify"], team)), 0);

        // What the image leaves in root's git configuration, as root's git
        // resolves it: a wildcard, then an include of a file the user can make
        // (empty or missing at the check: still a finding), then that file.
        for (how, needle) in [
            (
                "git config --system --add safe.directory '*'",
                "safe.directory = * ",
            ),
            (
                "git config --system --unset-all safe.directory '^[*]$' && \
                 git config --system include.path /home/ec2-user/.gitinc",
                "root's git includes /home/ec2-user/.gitinc",
            ),
            (
                "runuser -u ec2-user -- sh -c 'printf \"[core]\\n\\tpager = less\\n\" > /home/ec2-user/.gitinc'",
                "root's git reads /home/ec2-user/.gitinc",
            ),
            // The red team's: an include by `~user`, one inside a file only a
            // condition includes, and a setting naming the user's hooks.
            (
                "git config --system include.path '~ec2-user/SageMaker/.gitinc'",
                "root's git includes /home/ec2-user/SageMaker/.gitinc",
            ),
            (
                "mkdir -p /etc/git && git config --file /etc/git/work.inc include.path \
                 /home/ec2-user/.gitinc2 && git config --system includeIf.gitdir:/root/.path \
                 /etc/git/work.inc",
                "root's git includes /home/ec2-user/.gitinc2 (from file:/etc/git/work.inc)",
            ),
            (
                "git config --system core.hooksPath /home/ec2-user/SageMaker/hooks",
                "root's git runs or reads /home/ec2-user/SageMaker/hooks (core.hookspath",
            ),
            // Round two: a climbing hooksPath, a pattern sh expands, a path in
            // a key.
            (
                "git config --system core.hooksPath ../../../../home/ec2-user/SageMaker/up",
                "root's git runs or reads /home/ec2-user/SageMaker/up (core.hookspath",
            ),
            (
                "git config --system core.fsmonitor '/home/ec2-use?/SageMaker/x'",
                "root's git runs or reads /home/ec2-use?/SageMaker/x (core.fsmonitor",
            ),
            (
                "git config --system 'url.ext::/home/ec2-user/SageMaker/x %S .insteadOf' https://example.com/",
                "root's git runs or reads /home/ec2-user/SageMaker/x (url.ext::",
            ),
        ] {
            let image = nb.as_root(&["sh", "-c", how]);
            assert!(image.status.success(), "{how}: {}", output_text(&image));
            if how.contains("'*'") {
                // The stake: root's git now runs the user's fsmonitor as root.
                roots_git_status(&nb);
                let ran = std::fs::read_to_string(nb.path(FSMONITOR_RAN)).unwrap_or_default();
                assert_eq!(
                    ran.trim(),
                    "0",
                    "root's git did not run it: the test shows nothing"
                );
            }
            let verify = run(&["verify"], team);
            let report = read_report(&verify);
            assert_eq!(code(&verify), 1, "{how}: {report:#?}");
            let evidence = common::evidence(&report, "git").join("\n");
            assert!(evidence.contains(needle), "{how}: {evidence}");
        }
    }
}

fn jupyter(config_path: &Path, home: &Path, args: &[&str]) -> Command {
    let venv = service("NBWARDEN_TEST_VENV");
    let mut cmd = Command::new(format!("{venv}/bin/jupyter"));
    cmd.arg("server")
        .args(args)
        .env_clear()
        .env("PATH", format!("{venv}/bin:/usr/bin:/bin"))
        .env("HOME", home)
        .env("JUPYTER_CONFIG_PATH", config_path)
        .env("JUPYTER_CONFIG_DIR", home.join(".jupyter"))
        .env("JUPYTER_RUNTIME_DIR", home.join("runtime"));
    cmd
}

/// HTTP status of GET `path` on the server, once it answers.
fn status_of(port: u16, path: &str) -> u16 {
    for _ in 0..200 {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            let req = format!(
                "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: token t\r\nConnection: close\r\n\r\n"
            );
            if s.write_all(req.as_bytes()).is_ok() {
                let mut answer = String::new();
                let _ = s.read_to_string(&mut answer);
                if let Some(code) = answer
                    .split_whitespace()
                    .nth(1)
                    .and_then(|c| c.parse().ok())
                {
                    return code;
                }
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("jupyter did not answer on {port}");
}

fn terminals_status(config: &Path, port: u16) -> u16 {
    let home = tempfile::tempdir().expect("home");
    let cmd = jupyter(
        config,
        home.path(),
        &[
            "--no-browser",
            "--allow-root",
            "--ServerApp.ip=127.0.0.1",
            &format!("--ServerApp.port={port}"),
            "--ServerApp.port_retries=0",
            "--IdentityProvider.token=t",
            &format!("--ServerApp.root_dir={}", home.path().display()),
        ],
    );
    let _server = LoopbackServer::spawn(cmd, port);
    status_of(port, "/api/terminals")
}

system_test! {
    fn jupyter_server_loads_the_fragment_culling_and_terminals() {
        let root = sandbox("al2023");
        let dir = tempfile::tempdir().expect("tmp");
        let p = write_policy(
            dir.path(),
            "version = 1\n[jupyter]\nterminals = false\ncull_idle_timeout = \"2h\"\ncull_connected = true\nmax_upload_mb = 50\n",
        );
        let out = run_aws(
            root.path(),
            &[
                "apply",
                "--policy",
                &p.to_string_lossy(),
                "--only",
                "jupyter",
            ],
            &[],
        );
        assert_eq!(code(&out), 0, "{}", output_text(&out));
        let config = root.path().join("etc/jupyter");
        assert!(config.join("jupyter_server_config.json").is_file());

        // Jupyter's own view of its configuration.
        let home = tempfile::tempdir().expect("home");
        let shown = jupyter(&config, home.path(), &["--show-config"])
            .output()
            .expect("show-config");
        let text = output_text(&shown);
        assert!(shown.status.success(), "{text}");
        for setting in [
            "terminals_enabled = False",
            "cull_idle_timeout = 7200",
            "cull_connected = True",
            "max_body_size = 52428800",
        ] {
            assert!(text.contains(setting), "{setting} not loaded:\n{text}");
        }

        // A running server: no terminals API with terminals off, one with them on.
        let port = 45200 + (std::process::id() % 400) as u16;
        assert_eq!(terminals_status(&config, port), 404);
        // The same settings again: no file written, no restart asked for.
        let again = run_aws(
            root.path(),
            &[
                "apply",
                "--policy",
                &p.to_string_lossy(),
                "--only",
                "jupyter",
                "--output",
                "json",
            ],
            &[],
        );
        assert_eq!(
            read_report(&again).summary.changes,
            0,
            "{}",
            output_text(&again)
        );
        let p = write_policy(dir.path(), "version = 1\n[jupyter]\nterminals = true\n");
        let out = run_aws(
            root.path(),
            &[
                "apply",
                "--policy",
                &p.to_string_lossy(),
                "--only",
                "jupyter",
            ],
            &[],
        );
        assert_eq!(code(&out), 0, "{}", output_text(&out));
        assert_eq!(terminals_status(&config, port + 1), 200);
    }
}

system_test! {
    fn environment_reaches_login_shells_and_jupyters_unit_from_tags_and_literals() {
        let root = sandbox("al2023");
        std::fs::write(
            root.path().join("opt/ml/metadata/resource-metadata.json"),
            METADATA,
        )
        .expect("metadata");
        let dir = tempfile::tempdir().expect("tmp");
        let p = write_policy(
            dir.path(),
            "version = 1\n[environment.values]\nTEAM = { tag = \"team\" }\nOWNER = { tag = \"NotebookOwnerEmail\" }\n\
             GREETING = { value = \"it's \\\"$HOME\\\"\" }\n",
        );
        let p = p.to_string_lossy();
        let out = run_aws(
            root.path(),
            &["apply", "--policy", &p, "--only", "environment"],
            &[],
        );
        assert_eq!(code(&out), 0, "{}", output_text(&out));

        // A login shell sourcing the profile file gets the values, literally.
        let profile = root.path().join("etc/profile.d/nbwarden-environment.sh");
        let shell = Command::new("bash")
            .arg("-c")
            .arg(r#". "$0" && printf '%s|%s|%s' "$TEAM" "$OWNER" "$GREETING""#)
            .arg(&profile)
            .env_clear()
            .env("HOME", "/nowhere")
            .output()
            .expect("bash");
        assert_eq!(
            String::from_utf8_lossy(&shell.stdout),
            r#"ml-platform|ada@example.com|it's "$HOME""#,
            "{}",
            output_text(&shell)
        );
        // Jupyter's unit reads the environment file (kernels inherit it).
        let drop_in = std::fs::read_to_string(
            root.path()
                .join("etc/systemd/system/jupyter-server.service.d/nbwarden-environment.conf"),
        )
        .expect("drop-in");
        assert!(
            drop_in.contains("EnvironmentFile=-/etc/nbwarden/environment.env"),
            "{drop_in}"
        );
        let env =
            std::fs::read_to_string(root.path().join("etc/nbwarden/environment.env")).expect("env");
        assert!(env.contains("TEAM=\"ml-platform\"\n"), "{env}");

        // Names that would change every shell are a policy error: exit 2.
        let bad = write_policy(
            dir.path(),
            "version = 1\n[environment.values]\nLD_PRELOAD = { value = \"/tmp/x.so\" }\n",
        );
        let out = run_aws(
            root.path(),
            &["apply", "--policy", &bad.to_string_lossy()],
            &[],
        );
        assert_eq!(code(&out), 2, "{}", output_text(&out));
        assert!(
            output_text(&out).contains("reserved"),
            "{}",
            output_text(&out)
        );
    }
}

/// tests/system/codeartifact.py on loopback, and the log of its requests.
struct CodeArtifact {
    server: LoopbackServer,
    log: std::path::PathBuf,
}

impl CodeArtifact {
    fn start(dir: &Path) -> CodeArtifact {
        let port = 45700 + (std::process::id() % 200) as u16;
        let log = dir.join("codeartifact.log");
        let mut cmd = Command::new("python3");
        cmd.arg(common::repo().join("tests/system/codeartifact.py"))
            .arg(port.to_string())
            .arg(&log);
        CodeArtifact {
            server: LoopbackServer::spawn(cmd, port),
            log,
        }
    }

    fn requests(&self) -> usize {
        std::fs::read_to_string(&self.log)
            .map(|t| t.lines().count())
            .unwrap_or(0)
    }
}

fn token_in(root: &Path) -> String {
    let cache: serde_json::Value = serde_json::from_slice(
        &std::fs::read(root.join("var/lib/nbwarden/codeartifact-token.json")).expect("cache"),
    )
    .expect("json");
    cache["token"].as_str().expect("token").to_string()
}

system_test! {
    fn codeartifact_tokens_reach_pip_conf_once_never_the_logs_and_are_refreshed_when_due() {
        let root = sandbox("al2023");
        let dir = tempfile::tempdir().expect("tmp");
        let server = CodeArtifact::start(dir.path());
        let endpoint = format!("http://127.0.0.1:{}", server.server.port);
        let p = write_policy(
            dir.path(),
            "version = 1\nuser = \"ec2-user\"\n[packages]\nprobe = \"off\"\nenforce = \"default\"\n\
             [packages.pip]\nindex_url = \"https://placeholder.example/simple/\"\n\
             [packages.codeartifact]\ndomain = \"nbwarden\"\ndomain_owner = \"123456789012\"\n\
             repository = \"pypi-store\"\n",
        );
        let p = p.to_string_lossy().into_owned();
        let env = [
            ("AWS_ENDPOINT_URL_CODEARTIFACT", endpoint.as_str()),
            ("AWS_REGION", "us-east-1"),
        ];
        let run = |cmd: &str| {
            run_aws(
                root.path(),
                &[cmd, "--policy", &p, "--output", "json", "-vv"],
                &env,
            )
        };

        let apply = run("apply");
        assert_eq!(code(&apply), 0, "{}", output_text(&apply));
        assert_eq!(server.requests(), 1);
        let token = token_in(root.path());
        assert!(token.starts_with("CA-TOKEN-"));
        let pip_conf = std::fs::read_to_string(root.path().join("etc/pip.conf")).expect("pip.conf");
        assert!(
            pip_conf.contains(&format!(
                "index-url = https://aws:{token}@nbwarden-123456789012.d.codeartifact.us-east-1.amazonaws.com/pypi/pypi-store/simple/"
            )),
            "{pip_conf}"
        );
        let mode = |rel: &str| {
            std::os::unix::fs::PermissionsExt::mode(
                &std::fs::metadata(root.path().join(rel))
                    .expect("meta")
                    .permissions(),
            ) & 0o777
        };
        assert_eq!(mode("var/lib/nbwarden/codeartifact-token.json"), 0o600);
        assert_eq!(
            mode("etc/pip.conf"),
            0o644,
            "pip runs as the user: see the trade-off"
        );
        // Never in the output (trace logs included), the report or the state file.
        let last =
            std::fs::read_to_string(root.path().join("var/lib/nbwarden/last-run.json")).expect("state");
        assert!(!output_text(&apply).contains(&token), "token in the output");
        assert!(!last.contains(&token), "token in the state file");

        // Valid for hours: a second apply and verify fetch nothing, change nothing.
        let again = run("apply");
        assert_eq!(
            read_report(&again).summary.changes,
            0,
            "{}",
            output_text(&again)
        );
        let verify = run("verify");
        assert_eq!(code(&verify), 0, "{}", output_text(&verify));
        assert_eq!(server.requests(), 1, "a fresh token was fetched again");

        // Due (less than refresh_before left): verify says so, apply refreshes.
        let cache = root.path().join("var/lib/nbwarden/codeartifact-token.json");
        let mut c: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&cache).expect("read")).expect("json");
        c["expires_at"] = serde_json::json!(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock")
                .as_secs()
                + 600
        );
        std::fs::write(&cache, serde_json::to_vec(&c).expect("json")).expect("write");
        let due = run("verify");
        assert_eq!(code(&due), 1, "{}", output_text(&due));
        assert!(
            output_text(&due).contains("new CodeArtifact token"),
            "{}",
            output_text(&due)
        );
        let refreshed = run("apply");
        assert_eq!(code(&refreshed), 0, "{}", output_text(&refreshed));
        assert_ne!(token_in(root.path()), token);
        assert!(!output_text(&refreshed).contains(&token_in(root.path())));
        assert_eq!(server.requests(), 3);

        // A domain CodeArtifact does not know: exit 3, named, pip.conf kept.
        let before = std::fs::read(root.path().join("etc/pip.conf")).expect("pip.conf");
        let wrong = write_policy(
            dir.path(),
            "version = 1\n[packages]\nprobe = \"off\"\nenforce = \"default\"\n[packages.pip]\nindex_url = \"https://x.example/simple/\"\n\
             [packages.codeartifact]\ndomain = \"other\"\ndomain_owner = \"123456789012\"\nrepository = \"pypi-store\"\n",
        );
        let out = run_aws(
            root.path(),
            &[
                "apply",
                "--policy",
                &wrong.to_string_lossy(),
                "--only",
                "packages",
            ],
            &env,
        );
        assert_eq!(code(&out), 3, "{}", output_text(&out));
        assert!(
            output_text(&out).contains("ResourceNotFoundException"),
            "{}",
            output_text(&out)
        );
        assert_eq!(
            std::fs::read(root.path().join("etc/pip.conf")).expect("pip.conf"),
            before
        );
    }
}
