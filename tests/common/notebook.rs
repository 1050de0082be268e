//! The system tier: a real Debian root shaped like a notebook instance
//! (tests/system/notebook-root), entered with chroot in a private mount
//! namespace, with nbwarden's static binary installed as a lifecycle script
//! would. Needs root and the services of tests/system/services.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::repo;

pub const POLICY_IN_ROOT: &str = "/etc/nbwarden/policy.toml";
pub const BIN_IN_ROOT: &str = "/usr/local/bin/nbwarden";
const USER_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// A service URL from the environment file of tests/system/services.
pub fn service(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!(
            "{var} is not set: the system tier needs its services; run scripts/test, or \
             `tests/system/services start` and export the variables it writes"
        )
    })
}

fn static_binary() -> PathBuf {
    let path = std::env::var("NBWARDEN_STATIC_BIN").unwrap_or_else(|_| {
        panic!(
            "NBWARDEN_STATIC_BIN is not set: scripts/test builds the static binary \
             (cargo build --target x86_64-unknown-linux-musl) and exports it"
        )
    });
    PathBuf::from(path)
}

pub struct Notebook {
    dir: tempfile::TempDir,
    policy: String,
}

fn script() -> PathBuf {
    repo().join("tests/system/notebook-root")
}

fn must(out: Output, what: &str) -> Output {
    assert!(
        out.status.success(),
        "{what} failed ({:?}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

impl Notebook {
    /// A fresh instance from the cached image, with `policy` to install.
    pub fn create(policy: &str) -> Notebook {
        Notebook::from_image("instance", policy)
    }

    /// A fresh instance whose base install (`anaconda3`) is the real
    /// conda 26 (the image's conda layer), with `policy` to install.
    pub fn create_with_conda(policy: &str) -> Notebook {
        Notebook::from_image("conda-instance", policy)
    }

    fn from_image(how: &str, policy: &str) -> Notebook {
        assert!(
            super::is_root(),
            "the system tier needs root: run scripts/test as root"
        );
        let dir = tempfile::Builder::new()
            .prefix("nbwarden-system-")
            .tempdir_in("/var/tmp")
            .expect("temp dir");
        must(
            Command::new(script())
                .arg(how)
                .arg(dir.path())
                .output()
                .expect("run"),
            &format!("notebook-root {how}"),
        );
        Notebook {
            dir,
            policy: policy.to_string(),
        }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, inside: &str) -> PathBuf {
        self.root().join(inside.trim_start_matches('/'))
    }

    /// What a lifecycle script does before running nbwarden: put the binary
    /// and the policy on the (fresh) system drive.
    pub fn install(&self) {
        let bin = self.path(BIN_IN_ROOT);
        std::fs::create_dir_all(bin.parent().expect("parent")).expect("mkdir");
        std::fs::copy(static_binary(), &bin).expect("copy binary");
        let policy = self.path(POLICY_IN_ROOT);
        std::fs::create_dir_all(policy.parent().expect("parent")).expect("mkdir");
        std::fs::write(&policy, &self.policy).expect("write policy");
    }

    /// Runs `argv` inside the root as root, with /proc mounted in a private
    /// mount namespace that ends with the command.
    pub fn as_root(&self, argv: &[&str]) -> Output {
        self.as_root_with(&[], argv)
    }

    /// `as_root` with extra environment variables (`NAME=value`).
    pub fn as_root_with(&self, env: &[&str], argv: &[&str]) -> Output {
        Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c"])
            .arg("mount -t proc proc \"$0/proc\" && exec chroot \"$0\" \"$@\"")
            .arg(self.root())
            .args([
                "/usr/bin/env",
                "-i",
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            ])
            .args(env)
            .args(argv)
            .output()
            .expect("unshare/chroot")
    }

    /// Runs `argv` inside the root as the notebook user, with a clean
    /// environment like a notebook terminal's.
    pub fn as_user(&self, argv: &[&str]) -> Output {
        let mut full = vec![
            "runuser",
            "-u",
            "ec2-user",
            "--",
            "env",
            "-i",
            "HOME=/home/ec2-user",
        ];
        let path = format!("PATH={USER_PATH}");
        full.push(&path);
        full.extend_from_slice(argv);
        self.as_root(&full)
    }

    /// `nbwarden ARGS --policy POLICY_IN_ROOT` inside the root, as root.
    pub fn nbwarden(&self, args: &[&str]) -> Output {
        let mut argv = vec![BIN_IN_ROOT];
        argv.extend_from_slice(args);
        argv.extend_from_slice(&["--policy", POLICY_IN_ROOT]);
        self.as_root(&argv)
    }

    /// The on-start lifecycle path: install, apply, verify. Returns both.
    pub fn on_start(&self) -> (Output, Output) {
        self.install();
        let apply = self.nbwarden(&["apply", "-q"]);
        let verify = self.nbwarden(&["verify", "-q"]);
        (apply, verify)
    }

    /// Stop and start: the system drive is rebuilt from the image, the ML
    /// volume (home/ec2-user/SageMaker) is kept.
    pub fn stop_start(&self) {
        must(
            Command::new(script())
                .arg("refresh")
                .arg(self.root())
                .output()
                .expect("run"),
            "notebook-root refresh",
        );
    }
}

/// nbwarden with a clean AWS environment: endpoints from the test services,
/// credentials and region from IMDS unless `env` says otherwise.
pub fn run_aws(root: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let home = tempfile::tempdir().expect("home");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nbwarden"));
    cmd.args(args)
        .arg("--root")
        .arg(root)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("HOME", home.path())
        .env("NO_COLOR", "1")
        .env("AWS_ENDPOINT_URL", service("NBWARDEN_TEST_MOTO_URL"))
        .env(
            "AWS_EC2_METADATA_SERVICE_ENDPOINT",
            service("NBWARDEN_TEST_IMDS_URL"),
        );
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run nbwarden")
}

/// tests/system/faults.py in front of moto; stopped by PID when dropped.
pub struct FaultProxy {
    _server: super::LoopbackServer,
    pub url: String,
}

impl FaultProxy {
    pub fn start(mode: &str) -> FaultProxy {
        FaultProxy::start_counting(mode, None)
    }

    /// Also records every request's operation in `count_file`.
    pub fn start_counting(mode: &str, count_file: Option<&Path>) -> FaultProxy {
        let port = super::booted::free_port();
        let mut cmd = Command::new("python3");
        cmd.arg(repo().join("tests/system/faults.py"))
            .args([
                "--port",
                &port.to_string(),
                "--upstream",
                &service("NBWARDEN_TEST_MOTO_URL"),
            ])
            .args(["--mode", mode])
            .args(
                count_file
                    .map(|f| vec!["--count-file".into(), f.as_os_str().to_owned()])
                    .unwrap_or_default(),
            );
        FaultProxy {
            _server: super::LoopbackServer::spawn(cmd, port),
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

/// Runs a Python snippet with the services' venv (boto3 against moto).
pub fn boto3(script: &str, args: &[&str]) -> Output {
    let venv = service("NBWARDEN_TEST_VENV");
    Command::new(format!("{venv}/bin/python"))
        .arg("-c")
        .arg(script)
        .arg(service("NBWARDEN_TEST_MOTO_URL"))
        .args(args)
        .output()
        .expect("python")
}

/// The test mirror's log length, to count its requests from.
pub fn mirror_log_len() -> usize {
    std::fs::metadata(service("NBWARDEN_TEST_PYPI_LOG")).map_or(0, |m| m.len() as usize)
}

/// Requests the test mirror logged for the probe package since `from`
/// bytes of its log ([`mirror_log_len`]).
pub fn mirror_hits(from: usize) -> usize {
    mirror_asked(from, "nbwarden-probe")
}

/// Requests for `project`'s index page the test mirror logged since `from`
/// bytes of its log.
pub fn mirror_asked(from: usize, project: &str) -> usize {
    let log = std::fs::read_to_string(service("NBWARDEN_TEST_PYPI_LOG")).expect("pypiserver log");
    let page = format!("GET /simple/{project}/");
    log.get(from..)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(&page))
        .count()
}

/// How far the test conda channel's access log has grown, to read what
/// conda asked after this point ([`conda_requests`]).
pub fn conda_log_len() -> usize {
    std::fs::metadata(service("NBWARDEN_TEST_CONDA_LOG")).map_or(0, |m| m.len() as usize)
}

/// The paths conda fetched from the test channel since `from` bytes of its
/// log (`http.server` logs `"GET /noarch/repodata.json HTTP/1.1" 200`).
pub fn conda_requests(from: usize) -> Vec<String> {
    let log = std::fs::read_to_string(service("NBWARDEN_TEST_CONDA_LOG")).expect("channel log");
    log.get(from..)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            l.split("\"GET ")
                .nth(1)?
                .split(' ')
                .next()
                .map(str::to_string)
        })
        .collect()
}

/// A program from the services' venv: the linters administrators run
/// (cfn-lint, parliament).
pub fn venv_tool(name: &str) -> Command {
    Command::new(format!("{}/bin/{name}", service("NBWARDEN_TEST_VENV")))
}

/// `cfn-lint` (from the services' venv) accepts the template at `path`.
pub fn assert_cfn_lint_clean(path: &Path) {
    let out = venv_tool("cfn-lint").arg(path).output().expect("cfn-lint");
    assert!(
        out.status.success(),
        "cfn-lint {}: {}",
        path.display(),
        super::output_text(&out)
    );
}

/// Names the sandbox's notebook `name` in moto's account and region, so
/// that SageMaker calls about it reach a notebook made in moto.
pub fn name_notebook(root: &Path, name: &str) {
    std::fs::write(
        root.join("opt/ml/metadata/resource-metadata.json"),
        format!(
            r#"{{"ResourceArn":"arn:aws:sagemaker:us-east-1:123456789012:notebook-instance/{name}","ResourceName":"{name}"}}"#
        ),
    )
    .expect("metadata");
}
