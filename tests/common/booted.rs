//! A simulated notebook instance: the Debian root of
//! tests/system/notebook-root booted with systemd as PID 1 under
//! `systemd-nspawn`, and a SageMaker stand-in around it.
//!
//! What the stand-in does, as SageMaker does on a real instance:
//! - every start gets a new system drive (an overlay on the read-only booted
//!   image, with a new, empty upper layer each time) while the ML volume, a directory of its own, is bind-mounted at
//!   `/home/ec2-user/SageMaker` and persists;
//! - the platform's endpoints (here moto and the IMDS stand-in) reach every
//!   process through systemd's `DefaultEnvironment=` (a `system.conf.d`
//!   drop-in on the system drive), and the resource metadata names the
//!   notebook, which exists in moto's SageMaker;
//! - the lifecycle script runs as root in a unit of the booted system with
//!   the lifecycle PATH, killed at 300 s; only when it exits 0 does Jupyter
//!   start, as ec2-user (else the notebook is `Failed`);
//! - a stop halts the container (systemd shuts down) and the stand-in notes
//!   when moto says the notebook was asked to stop.
//!
//! The container shares this machine's network, so loopback services are
//! reachable. Every container is stopped by the PID of its nspawn process.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::notebook::{boto3, service};
use super::{output_text, repo};

/// SageMaker fails a start whose lifecycle script runs past this.
pub const LIFECYCLE_LIMIT: Duration = Duration::from_secs(300);
const LIFECYCLE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const ML_VOLUME: &str = "/home/ec2-user/SageMaker";
const SCRIPT_IN_ROOT: &str = "/var/lib/sagemaker-standin/on-start.sh";
pub const JUPYTER_TOKEN: &str = "booted-test-token";

const CREATE_NOTEBOOK: &str = r#"
import boto3, sys
sm = boto3.client("sagemaker", endpoint_url=sys.argv[1], region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing")
sm.create_notebook_instance(
    NotebookInstanceName=sys.argv[2], InstanceType="ml.t3.medium",
    RoleArn="arn:aws:iam::123456789012:role/nbwarden-notebook-role",
    SubnetId="subnet-0a1b2c3d4e5f67890", SecurityGroupIds=["sg-0a1b2c3d4e5f67890"],
    KmsKeyId="arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    DirectInternetAccess="Disabled", RootAccess="Disabled",
    Tags=[{"Key": "NotebookOwnerUsername", "Value": "Ada Lovelace"},
          {"Key": "NotebookOwnerEmail", "Value": "ada@example.com"},
          {"Key": "team", "Value": "ml-platform"}])
"#;

const DESCRIBE_NOTEBOOK: &str = r#"
import boto3, sys
sm = boto3.client("sagemaker", endpoint_url=sys.argv[1], region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing")
print(sm.describe_notebook_instance(NotebookInstanceName=sys.argv[2])["NotebookInstanceStatus"])
"#;

/// How one start ended, as the console would show it.
#[derive(Debug)]
pub struct Start {
    /// The lifecycle script's exit code (`None`: killed at the limit).
    pub code: Option<i32>,
    /// Its output (stdout and stderr), as CloudWatch would hold it.
    pub log: String,
    pub elapsed: Duration,
    /// Jupyter answered after the script succeeded.
    pub in_service: bool,
    /// From starting the container to systemd's `running`.
    pub boot: Duration,
    /// From the script's end to Jupyter's first answer.
    pub jupyter_after: Option<Duration>,
}

pub struct Booted {
    dir: tempfile::TempDir,
    /// The notebook's name in moto, in the resource metadata, and the
    /// container's machine name.
    pub name: String,
    on_start: String,
    nspawn: Option<Child>,
    pid1: u32,
    pub jupyter_port: u16,
    /// The base install (anaconda3) is the real conda 26.
    conda: bool,
}

fn must(out: Output, what: &str) -> Output {
    assert!(
        out.status.success(),
        "{what} failed ({:?}):\n{}",
        out.status,
        output_text(&out)
    );
    out
}

/// The path `tests/system/notebook-root COMMAND` prints (an image or a
/// layer it builds first if needed).
fn notebook_root(command: &str) -> String {
    let out = must(
        Command::new(repo().join("tests/system/notebook-root"))
            .arg(command)
            .output()
            .expect("notebook-root"),
        &format!("notebook-root {command}"),
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Children of `pid` (the kernel's list for its main thread).
fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

impl Booted {
    /// A notebook that exists in moto's SageMaker, not started yet, whose
    /// lifecycle configuration is `on_start`.
    pub fn create(prefix: &str, on_start: &str) -> Booted {
        assert!(
            super::is_root(),
            "the booted tier needs root: run scripts/test as root"
        );
        // Short: it is also the container's host name.
        let name = format!(
            "{prefix}-{}",
            &super::unique("")[1..]
                .chars()
                .rev()
                .take(9)
                .collect::<String>()
        );
        let dir = tempfile::Builder::new()
            .prefix("nbwarden-booted-")
            .tempdir_in("/var/tmp")
            .expect("temp dir");
        let ml = dir.path().join("ml-volume");
        std::fs::create_dir(&ml).expect("ml volume");
        nix::unistd::chown(&ml, Some(1000.into()), Some(1000.into())).expect("chown");
        must(boto3(CREATE_NOTEBOOK, &[&name]), "CreateNotebookInstance");
        Booted {
            dir,
            name,
            on_start: on_start.to_string(),
            nspawn: None,
            pid1: 0,
            jupyter_port: free_port(),
            conda: false,
        }
    }

    /// The same notebook whose base install (anaconda3, on the system
    /// drive as on SageMaker) is the real conda 26 at every start
    /// (`notebook-root conda-path`).
    pub fn with_conda(mut self) -> Booted {
        self.conda = true;
        self
    }

    /// The system drive (valid while started; rebuilt at every start).
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("system-drive")
    }

    /// A path of the running system, seen from this machine.
    pub fn path(&self, inside: &str) -> PathBuf {
        if let Some(rest) = inside.strip_prefix(ML_VOLUME) {
            return self.ml_volume().join(rest.trim_start_matches('/'));
        }
        self.root().join(inside.trim_start_matches('/'))
    }

    pub fn ml_volume(&self) -> PathBuf {
        self.dir.path().join("ml-volume")
    }

    pub fn running(&self) -> bool {
        self.nspawn.is_some()
    }

    /// Unmounts the system drive, if mounted.
    fn unmount(&self) {
        let _ = Command::new("umount").arg(self.root()).output();
    }

    /// A new system drive from the image, with the platform's settings:
    /// an overlay whose upper layer starts empty, so the image itself is
    /// never written and a start costs no copy.
    fn new_system_drive(&self) {
        let root = self.root();
        self.unmount();
        for layer in ["upper", "work"] {
            let p = self.dir.path().join(layer);
            if p.exists() {
                std::fs::remove_dir_all(&p).expect("remove the old layer");
            }
            std::fs::create_dir(&p).expect("layer");
        }
        std::fs::create_dir_all(&root).expect("mount point");
        let image = notebook_root("booted-path");
        let options = format!(
            "lowerdir={image},upperdir={},workdir={}",
            self.dir.path().join("upper").display(),
            self.dir.path().join("work").display()
        );
        must(
            Command::new("mount")
                .args(["-t", "overlay", "overlay", "-o", &options])
                .arg(&root)
                .output()
                .expect("mount"),
            "mounting the system drive",
        );
        let write = |path: &str, text: String| {
            let p = root.join(path.trim_start_matches('/'));
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(&p, text).expect("write");
        };
        write("/etc/hostname", format!("{}\n", self.name));
        write(
            "/etc/hosts",
            format!("127.0.0.1\tlocalhost\n127.0.1.1\t{}\n", self.name),
        );
        write(
            "/opt/ml/metadata/resource-metadata.json",
            format!(
                "{{\"ResourceArn\":\"arn:aws:sagemaker:us-east-1:123456789012:notebook-instance/{n}\",\
                 \"ResourceName\":\"{n}\",\"LifecycleConfigArn\":\"arn:aws:sagemaker:us-east-1:\
                 123456789012:notebook-instance-lifecycle-config/nbwarden\"}}\n",
                n = self.name
            ),
        );
        // The endpoints every process of a real instance finds by itself
        // (IMDS, the regional AWS endpoints), here through systemd.
        write(
            "/etc/systemd/system.conf.d/50-sagemaker-standin.conf",
            format!(
                "[Manager]\nDefaultEnvironment=\"AWS_ENDPOINT_URL={moto}\" \
                 \"AWS_EC2_METADATA_SERVICE_ENDPOINT={imds}\" \"AWS_ACCESS_KEY_ID=testing\" \
                 \"AWS_SECRET_ACCESS_KEY=testing\" \"AWS_DEFAULT_REGION=us-east-1\" \
                 \"AWS_REGION=us-east-1\"\n",
                moto = service("NBWARDEN_TEST_MOTO_URL"),
                imds = service("NBWARDEN_TEST_IMDS_URL"),
            ),
        );
        write(
            "/etc/sagemaker-standin/jupyter.env",
            format!(
                "JUPYTER_PORT={}\nJUPYTER_TOKEN={JUPYTER_TOKEN}\n",
                self.jupyter_port
            ),
        );
        write(
            "/etc/sagemaker-standin/jupyter-token",
            format!("{JUPYTER_TOKEN}\n"),
        );
        write(SCRIPT_IN_ROOT, self.on_start.clone());
        if self.conda {
            let layer = notebook_root("conda-path");
            must(
                Command::new("cp")
                    .args(["-a", "--reflink=auto", &format!("{layer}/.")])
                    .arg(root.join("home/ec2-user/anaconda3"))
                    .output()
                    .expect("cp"),
                "copying the conda layer",
            );
        }
    }

    /// Boots the system drive and waits for systemd to finish starting.
    fn boot(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("console.log")).expect("log");
        let child = Command::new("systemd-nspawn")
            .args(["--register=no", "--keep-unit", "--quiet", "-b"])
            .arg("--console=passive")
            .arg(format!("--machine={}", self.name))
            .arg("-D")
            .arg(self.root())
            .arg(format!("--bind={}:{ML_VOLUME}", self.ml_volume().display()))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("systemd-nspawn (apt-get install systemd-container)");
        let nspawn = child.id();
        self.nspawn = Some(child);
        let until = Instant::now() + Duration::from_secs(60);
        self.pid1 = loop {
            if let Some(pid) = children(nspawn).into_iter().find(|c| {
                std::fs::read_to_string(format!("/proc/{c}/comm"))
                    .is_ok_and(|comm| comm.trim() == "systemd")
            }) {
                break pid;
            }
            assert!(
                Instant::now() < until,
                "no systemd came up: {}",
                self.console()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        loop {
            let state = self.exec(&["systemctl", "is-system-running"]);
            let state = String::from_utf8_lossy(&state.stdout).trim().to_string();
            if state == "running" || state == "degraded" {
                break;
            }
            assert!(
                Instant::now() < until,
                "systemd is still {state:?} after 60 s: {}",
                self.console()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn console(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("console.log")).unwrap_or_default()
    }

    /// Runs `argv` as root in the booted system (a clean environment, as
    /// an administrator's SSM session would have), waiting for it.
    pub fn exec(&self, argv: &[&str]) -> Output {
        assert!(self.pid1 != 0, "the notebook is not running");
        Command::new("nsenter")
            .args(["-t", &self.pid1.to_string(), "-a", "/usr/bin/env", "-i"])
            .arg(format!("PATH={LIFECYCLE_PATH}"))
            .args(argv)
            .stdin(Stdio::null())
            .output()
            .expect("nsenter")
    }

    /// `systemd-run` inside: a unit of the booted system, with its
    /// DefaultEnvironment, waited for, its output piped back.
    fn unit_command(&self, unit_args: &[&str], argv: &[&str]) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.args(["-t", &self.pid1.to_string(), "-a", "/usr/bin/env", "-i"])
            .arg(format!("PATH={LIFECYCLE_PATH}"))
            .args(["systemd-run", "--wait", "--pipe", "--quiet", "--collect"])
            .args(unit_args)
            .arg("--")
            .args(argv)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Runs `argv` as root with the platform's environment, as an
    /// administrator's session on the instance would (a unit of the booted
    /// system, so it finds IMDS and AWS as every process there does).
    pub fn admin(&self, argv: &[&str]) -> Output {
        self.unit_command(&[], argv)
            .spawn()
            .expect("nsenter")
            .wait_with_output()
            .expect("wait")
    }

    /// Runs `argv` as the notebook user, as in a Jupyter terminal: in a
    /// unit of the booted system, as ec2-user, with the platform's
    /// environment.
    pub fn as_user(&self, argv: &[&str]) -> Output {
        self.spawn_as_user(argv).wait_with_output().expect("wait")
    }

    pub fn spawn_as_user(&self, argv: &[&str]) -> Child {
        self.unit_command(
            &[
                "--uid=ec2-user",
                "--gid=ec2-user",
                "--working-directory=/home/ec2-user",
                "--setenv=HOME=/home/ec2-user",
            ],
            argv,
        )
        .spawn()
        .expect("nsenter")
    }

    /// A whole start: new system drive, boot, the lifecycle script as
    /// root under the limit, then Jupyter only if it succeeded.
    pub fn start(&mut self) -> Start {
        self.start_with(|_| {})
    }

    /// [`Booted::start`], calling `during` while the lifecycle script runs
    /// (with the script's process still going).
    pub fn start_with(&mut self, during: impl FnOnce(&Booted)) -> Start {
        assert!(!self.running(), "start a stopped notebook");
        self.new_system_drive();
        let booting = Instant::now();
        self.boot();
        let boot = booting.elapsed();
        let started = Instant::now();
        let limit = format!("--property=RuntimeMaxSec={}", LIFECYCLE_LIMIT.as_secs());
        let path = format!("--setenv=PATH={LIFECYCLE_PATH}");
        let mut script = self
            .unit_command(
                &["--unit=sagemaker-lifecycle-on-start", &limit, &path],
                &["/bin/bash", SCRIPT_IN_ROOT],
            )
            .spawn()
            .expect("run on-start");
        during(self);
        // The unit is killed at the limit; this is only a backstop.
        let until = started + LIFECYCLE_LIMIT + Duration::from_secs(30);
        while script.try_wait().expect("wait").is_none() {
            if Instant::now() > until {
                let _ = script.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let out = script.wait_with_output().expect("on-start output");
        let elapsed = started.elapsed();
        let code = out.status.code();
        let mut start = Start {
            code,
            log: output_text(&out),
            elapsed,
            in_service: false,
            boot,
            jupyter_after: None,
        };
        if code == Some(0) {
            must(
                self.exec(&["systemctl", "start", "jupyter-server.service"]),
                "starting Jupyter",
            );
            start.in_service = self.wait_for_jupyter(Duration::from_secs(60));
            start.jupyter_after = Some(started.elapsed() - elapsed);
            assert!(
                start.in_service,
                "Jupyter did not answer: {}",
                output_text(&self.exec(&["journalctl", "-u", "jupyter-server", "--no-pager"]))
            );
        }
        start
    }

    pub fn jupyter_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.jupyter_port)
    }

    /// Whether Jupyter answers its API with the token.
    pub fn jupyter_answers(&self) -> bool {
        let url = format!("{}/api/status", self.jupyter_url());
        reqwest::blocking::Client::new()
            .get(&url)
            .header("Authorization", format!("token {JUPYTER_TOKEN}"))
            .timeout(Duration::from_secs(2))
            .send()
            .is_ok_and(|r| r.status().is_success())
    }

    fn wait_for_jupyter(&self, within: Duration) -> bool {
        let until = Instant::now() + within;
        while Instant::now() < until {
            if self.jupyter_answers() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        false
    }

    /// The notebook's status in moto's SageMaker.
    pub fn control_plane_status(&self) -> String {
        let out = must(
            boto3(DESCRIBE_NOTEBOOK, &[&self.name]),
            "DescribeNotebookInstance",
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Halts the instance: systemd shuts down, the container ends.
    pub fn stop(&mut self) {
        let Some(mut child) = self.nspawn.take() else {
            return;
        };
        let pid = child.id().to_string();
        let term = || {
            let _ = Command::new("kill").args(["-TERM", &pid]).status();
        };
        term();
        let until = Instant::now() + Duration::from_secs(30);
        while child.try_wait().ok().flatten().is_none() {
            if Instant::now() > until {
                // A second SIGTERM ends the container at once.
                term();
                std::thread::sleep(Duration::from_secs(2));
                let _ = child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.wait();
        self.pid1 = 0;
    }

    /// A stop, then a start on a new system drive.
    pub fn stop_start(&mut self) -> Start {
        self.stop();
        self.start()
    }

    /// The journal of the booted system, as JSON entries.
    pub fn journal(&self, args: &[&str]) -> Vec<serde_json::Value> {
        let mut argv = vec!["journalctl", "--no-pager", "-o", "json"];
        argv.extend_from_slice(args);
        let out = self.exec(&argv);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Waits up to `within` for `what` to hold, checking every 200 ms.
    pub fn wait_until(&self, within: Duration, mut what: impl FnMut() -> bool) -> bool {
        let until = Instant::now() + within;
        loop {
            if what() {
                return true;
            }
            if Instant::now() > until {
                return false;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Writes `content` at `inside` on the ML volume, owned by the user.
    pub fn plant_as_user(&self, inside: &str, content: &str, mode: u32) {
        let p = self.path(inside);
        assert!(
            inside.starts_with(ML_VOLUME),
            "the user plants on the ML volume"
        );
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, content).expect("plant");
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(mode))
            .expect("chmod");
        let chown = Command::new("chown")
            .args(["-R", "1000:1000"])
            .arg(self.ml_volume())
            .status()
            .expect("chown");
        assert!(chown.success());
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Booted {
    fn drop(&mut self) {
        self.stop();
        self.unmount();
    }
}
