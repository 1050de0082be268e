//! The booted tier: a notebook instance with systemd as PID 1 (nspawn),
//! started by a SageMaker stand-in that runs the rendered `on-start.sh`
//! from a bundle in moto's S3 and starts Jupyter only when it succeeded
//! (tests/common/booted.rs). Each scenario of a real notebook's life is one
//! test: the first start, stop/start cycles, drift caught by the timer,
//! idle auto-stop, failed starts, and an administrator waiting on a start.

#[macro_use]
mod common;

use std::sync::Mutex;
use std::time::Duration;

use common::booted::{Booted, LIFECYCLE_LIMIT};
use common::bundle::Publish;
use common::notebook::{boto3, service};
use common::{AsText, Report, Status, output_text, unique};
use nbwarden::report::Mode;

/// One booted notebook at a time: they share two cores with everything else.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// The platform's policy for these notebooks: sudo stripped, pip on the
/// test mirror, variables from SSM and the control plane, reports to S3,
/// nbwarden's units, and `extra` sections.
fn policy(report_prefix: &str, extra: &str) -> String {
    let mirror = service("NBWARDEN_TEST_PYPI_URL");
    let policy = format!(
        "version = 1\n\
         [sudo]\n\
         [packages]\nprobe = \"required\"\n\
         [packages.pip]\nindex_url = \"{mirror}\"\ntrusted_hosts = [\"127.0.0.1\"]\n\
         probe_package = \"nbwarden-probe\"\n\
         [variables.values.SAGEMAKER_VPC]\nssm = \"/nbwarden/network/vpc-id\"\n\
         [variables.values.SAGEMAKER_KMS_KEY_ID]\nnotebook = \"KmsKeyId\"\n\
         [verify]\non_failure = \"fail\"\n\
         [verify.report]\nbucket = \"nbwarden-reports\"\nprefix = \"{report_prefix}\"\n\
         {extra}"
    );
    common::with_blocked_indexes(&policy)
}

const SERVICE: &str = "[service]\n";

fn monitoring(jupyter_url: &str, idle: &str) -> String {
    format!(
        "[monitoring]\ninterval_s = 2\ndrift_every_s = 3600\n\
         [monitoring.idle]\njupyter_url = \"{jupyter_url}\"\n\
         token_file = \"/etc/sagemaker-standin/jupyter-token\"\n{idle}"
    )
}

/// A notebook whose bundle holds `policy`, published under a new prefix.
fn notebook(name: &str, policy: &str) -> Booted {
    let on_start = Publish::new(&unique(name), policy).run();
    Booted::create(name, &on_start)
}

fn is_active(nb: &Booted, units: &[&str]) -> Vec<String> {
    let mut argv = vec!["systemctl", "is-active"];
    argv.extend_from_slice(units);
    String::from_utf8_lossy(&nb.exec(&argv).stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// The root's own sudo lists nothing but nbwarden's deny-all for the user,
/// and the user's own `sudo` gets nowhere.
fn assert_sudo_stripped(nb: &Booted) {
    let listing = output_text(&nb.exec(&["sudo", "-l", "-U", "ec2-user"]));
    let rules: Vec<&str> = listing
        .lines()
        .skip_while(|l| !l.contains("may run the following commands"))
        .skip(1)
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("sudo:"))
        .collect();
    assert!(
        !rules.is_empty() && rules.iter().all(|r| r.ends_with("!ALL")),
        "{listing}"
    );
    let tried = nb.as_user(&["sudo", "-n", "true"]);
    assert_ne!(tried.status.code(), Some(0), "{}", output_text(&tried));
}

const LATEST: &str = r#"
import boto3, sys
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing")
key = f"{sys.argv[2]}/123456789012/us-east-1/{sys.argv[3]}/latest.json"
try:
    print(s3.get_object(Bucket="nbwarden-reports", Key=key)["Body"].read().decode())
except s3.exceptions.NoSuchKey:
    print("{}")
"#;

/// The notebook's latest fleet report in S3 (`{}` when none).
fn latest_report(prefix: &str, name: &str) -> Option<Report> {
    let out = boto3(LATEST, &[prefix, name]);
    assert!(out.status.success(), "{}", output_text(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("latest.json is JSON");
    (doc != serde_json::json!({}))
        .then(|| serde_json::from_value(doc).expect("latest.json is a run report"))
}

system_test! {
    /// (a) Create and first start: Jupyter answers only after the hardening,
    /// and the instance is hardened the way the policy says, with nbwarden's
    /// units running and its entries in the journal.
    fn the_first_start_hardens_before_jupyter_answers() {
        let _one = serial();
        let prefix = unique("first");
        // The base install is the real conda 26, its channel the test mirror's.
        let conda = format!(
            "[packages.conda]\nchannels = [\"{}\"]\n",
            service("NBWARDEN_TEST_CONDA_URL")
        );
        let mut nb = notebook(
            "first",
            &policy(&prefix, &format!("{SERVICE}[monitoring]\n{conda}")),
        )
        .with_conda();
        let mut jupyter_during_start = Vec::new();
        let start = nb.start_with(|nb| {
            // Polled while the script runs: Jupyter must not answer yet.
            for _ in 0..10 {
                jupyter_during_start.push(nb.jupyter_answers());
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        assert_eq!(start.code, Some(0), "{}\n{}", start.log, nb.console());
        assert!(start.in_service);
        // For the README's timings (`cargo test … -- --nocapture`).
        println!(
            "booted in {:?}; on-start.sh took {:?}; Jupyter answered {:?} after it\n{}",
            start.boot, start.elapsed, start.jupyter_after, start.log
        );
        assert!(
            jupyter_during_start.iter().all(|up| !up),
            "Jupyter answered before the start ended: {jupyter_during_start:?}"
        );
        assert!(start.elapsed < LIFECYCLE_LIMIT);
        assert!(
            start.log.contains("nbwarden: apply exited 0"),
            "{}",
            start.log
        );

        // sudo stripped, proven by the root's own sudo.
        assert_sudo_stripped(&nb);
        // pip on the mirror, for the user.
        let pip = nb.as_user(&[
            "/home/ec2-user/anaconda3/envs/python3/bin/pip",
            "config",
            "list",
        ]);
        assert!(
            output_text(&pip).contains(&service("NBWARDEN_TEST_PYPI_URL")),
            "{}",
            output_text(&pip)
        );
        // A kernel the real Jupyter starts (ipykernel's spec in
        // JupyterSystemEnv): pip, and uv the user installs from there, take the
        // mirror with no index flag; the base install's conda takes the mirror
        // channel with no channel flag. (CONDA_OVERRIDE_CUDA: conda's CUDA
        // probe fails to start its helper process under this kernel, with no GPU
        // to find; the override skips the probe, nothing else.)
        let from = common::notebook::mirror_log_len();
        let conda_from = common::notebook::conda_log_len();
        let cell = "import os, subprocess, sys\n\
                    def run(*a):\n    r = subprocess.run(list(a), capture_output=True, text=True)\n    \
                    print(r.returncode, r.stdout[-2000:], r.stderr[-2000:])\n\
                    run(sys.executable, '-m', 'pip', 'download', '--no-deps', '--no-cache-dir', '-d', '/tmp/kdl', 'nbwarden-probe')\n\
                    run(sys.executable, '-m', 'pip', 'install', '--no-cache-dir', '--disable-pip-version-check', 'uv')\n\
                    run(os.path.join(sys.prefix, 'bin', 'uv'), 'pip', 'install', '--no-cache', '--reinstall', '--python', sys.executable, 'nbwarden-probe')\n\
                    run(sys.executable, '-m', 'pip', 'install', '--no-cache-dir', '--disable-pip-version-check', 'pipx', 'pdm')\n\
                    run(os.path.join(sys.prefix, 'bin', 'pipx'), 'install', 'uv')\n\
                    r = subprocess.run([os.path.join(sys.prefix, 'bin', 'pdm'), 'config', 'pypi.url'], capture_output=True, text=True)\n\
                    print('pdm pypi.url =', r.stdout.strip())\n\
                    os.environ['CONDA_OVERRIDE_CUDA'] = ''\n\
                    run('/home/ec2-user/anaconda3/bin/conda', 'create', '-y', '-q', '-p', '/home/ec2-user/kconda', 'nbwarden-conda-probe')\n";
        let kernel = common::notebook::venv_tool("python")
            .arg(common::repo().join("tests/system/kernel_exec.py"))
            .args([
                &nb.jupyter_url(),
                common::booted::JUPYTER_TOKEN,
                "python3",
                cell,
            ])
            .output()
            .expect("kernel_exec.py");
        let said = output_text(&kernel);
        assert!(kernel.status.success(), "{said}");
        assert!(
            said.contains(&format!(
                "Looking in indexes: {}",
                service("NBWARDEN_TEST_PYPI_URL")
            )),
            "pip in the kernel did not use the mirror: {said}"
        );
        assert!(
            common::notebook::mirror_hits(from) >= 2,
            "pip and uv in the kernel did not both ask the mirror: {said}"
        );
        // pipx and pdm the user installs there: `pip install uv` and `pipx
        // install uv` both ask the mirror, and pdm's own configuration is it.
        assert!(
            common::notebook::mirror_asked(from, "uv") >= 2,
            "pipx in the kernel did not ask the mirror: {said}"
        );
        assert!(
            said.contains(&format!(
                "pdm pypi.url = {}",
                service("NBWARDEN_TEST_PYPI_URL")
            )),
            "pdm in the kernel does not take the mirror: {said}"
        );
        let asked = common::notebook::conda_requests(conda_from);
        assert!(
            asked
                .iter()
                .any(|p| p == "/mirror/noarch/nbwarden-conda-probe-1.0-0.tar.bz2"),
            "conda in the kernel did not fetch from the mirror channel: {asked:?}\n{said}"
        );
        assert!(
            nb.path("/home/ec2-user/kconda/share/nbwarden-conda-probe.txt")
                .exists(),
            "{said}"
        );
        // Variables importable by a kernel's Python, as the user.
        let import = nb.as_user(&[
            "/home/ec2-user/anaconda3/envs/python3/bin/python",
            "-c",
            "import sagemaker_environment as e; print(e.SAGEMAKER_VPC, e.SAGEMAKER_KMS_KEY_ID)",
        ]);
        assert_eq!(
            String::from_utf8_lossy(&import.stdout).trim(),
            "vpc-0a1b2c3d4e5f67890 arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "{}",
            output_text(&import)
        );
        // The user's own run, with a policy naming the fleet's bucket, uploads
        // nothing: only root's report speaks for the instance (red team).
        let forged_prefix = unique("forged");
        nb.plant_as_user(
            "/home/ec2-user/SageMaker/p.toml",
            &format!(
                "version = 1\n[verify.egress]\n[verify.report]\nbucket = \"nbwarden-reports\"\nprefix = \"{forged_prefix}\"\n"
            ),
            0o644,
        );
        let forged = nb.as_user(&[
            "/usr/local/bin/nbwarden",
            "verify",
            "--policy",
            "/home/ec2-user/SageMaker/p.toml",
        ]);
        assert_eq!(forged.status.code(), Some(0), "{}", output_text(&forged));
        assert_eq!(
            latest_report(&forged_prefix, &nb.name),
            None,
            "the user's run became the fleet's latest.json"
        );
        // nbwarden's own units, installed by apply itself.
        assert_eq!(
            is_active(&nb, &["nbwarden-monitor.service", "nbwarden-verify.timer"]),
            ["active", "active"]
        );
        // journald holds nbwarden's entries, with its fields.
        let entries = nb.journal(&["SYSLOG_IDENTIFIER=nbwarden"]);
        let finished = |control: &str, unit: &str| {
            entries.iter().any(|e| {
                e["MESSAGE"] == "control finished"
                    && e["F_CONTROL"] == control
                    && e["_SYSTEMD_UNIT"] == unit
                    && e["F_STATUS"].is_string()
                    && e["F_DURATION_MS"].is_string()
            })
        };
        // The start's own runs, -q or not, and the monitor's re-check.
        for control in ["sudo", "packages", "variables", "service"] {
            assert!(
                finished(control, "sagemaker-lifecycle-on-start.service"),
                "no `control finished` entry for {control} from the start: {} entries",
                entries.len()
            );
        }
        assert!(
            nb.wait_until(Duration::from_secs(20), || {
                nb.journal(&[
                    "SYSLOG_IDENTIFIER=nbwarden",
                    "_SYSTEMD_UNIT=nbwarden-monitor.service",
                ])
                .iter()
                .any(|e| e["MESSAGE"] == "control finished" && e["F_CONTROL"] == "sudo")
            }),
            "the monitor's drift check left no entry"
        );
    }
}

/// Whether the notebook user can see process `pid` in /proc.
fn user_sees(nb: &Booted, pid: &str) -> bool {
    nb.as_user(&["test", "-e", &format!("/proc/{pid}")])
        .status
        .success()
}

/// A running unit's main process, as systemd knows it.
fn main_pid(nb: &Booted, unit: &str) -> String {
    let out = nb.exec(&["systemctl", "show", "-p", "MainPID", "--value", unit]);
    let pid = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        pid.parse::<u32>().is_ok_and(|p| p > 0),
        "{unit} has no main process: {}",
        output_text(&out)
    );
    pid
}

/// What the user leaves on the ML volume to reach root at the next start:
/// a Python environment whose `.pth` runs at every interpreter start, and
/// nbwarden's first-seen mark turned into a link to a sudoers drop-in.
const PTH: &str = "import os; open('/tmp/pth-ran-as-%d' % os.getuid(), 'w')\n";

fn plant_on_ml_volume(nb: &Booted) {
    let venv = nb.as_user(&[
        "/usr/bin/python3",
        "-m",
        "venv",
        "/home/ec2-user/SageMaker/envs/mine",
    ]);
    assert!(venv.status.success(), "{}", output_text(&venv));
    nb.plant_as_user(
        "/home/ec2-user/SageMaker/envs/mine/lib/python3.11/site-packages/zz-mine.pth",
        PTH,
        0o644,
    );
    let mark = nb.path("/home/ec2-user/SageMaker/.nbwarden-first-seen");
    let _ = std::fs::remove_file(&mark);
    std::os::unix::fs::symlink("/etc/sudoers.d/zz-from-the-ml-volume", &mark).expect("link");
    let _ = std::process::Command::new("chown")
        .args(["-h", "1000:1000"])
        .arg(&mark)
        .status();
}

system_test! {
    /// (b) Three stop/start cycles: every start gets a new system drive and
    /// hardens it again; what the user planted on the ML volume is still there
    /// and never ran as root or wrote where root reads.
    fn every_start_hardens_again_and_the_ml_volume_does_not_reach_root() {
        let _one = serial();
        let prefix = unique("cycles");
        let mut nb = notebook("cycles", &policy(&prefix, SERVICE));
        let first = nb.start();
        assert_eq!(first.code, Some(0), "{}", first.log);
        plant_on_ml_volume(&nb);
        for cycle in 1..=3 {
            let start = nb.stop_start();
            assert_eq!(start.code, Some(0), "cycle {cycle}: {}", start.log);
            assert!(start.in_service, "cycle {cycle}");
            assert_sudo_stripped(&nb);
            assert_eq!(is_active(&nb, &["nbwarden-verify.timer"]), ["active"]);
            assert!(
                nb.path("/home/ec2-user/SageMaker/envs/mine/bin/python")
                    .exists(),
                "cycle {cycle}: the ML volume kept the user's environment"
            );
            // The environment's Python ran during the start only as the user.
            let ran: Vec<String> = std::fs::read_dir(nb.path("/tmp"))
                .expect("/tmp")
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("pth-ran-as-"))
                .collect();
            assert!(
                !ran.contains(&"pth-ran-as-0".to_string()),
                "cycle {cycle}: root ran the user's .pth: {ran:?}"
            );
            assert!(
                !nb.path("/etc/sudoers.d/zz-from-the-ml-volume").exists(),
                "cycle {cycle}: root wrote through the user's link"
            );
            let pending = nb.as_user(&["sudo", "-n", "-l"]);
            assert_ne!(pending.status.code(), Some(0), "{}", output_text(&pending));
        }
    }
}

/// Drift as an administrator (or an agent) running as root would leave it:
/// a sudoers drop-in granting the user everything.
fn plant_sudoers_grant(nb: &Booted) {
    let planted = nb.path("/etc/sudoers.d/50-planted");
    std::fs::write(&planted, "ec2-user ALL=(ALL) NOPASSWD: ALL\n").expect("plant");
    std::fs::set_permissions(
        &planted,
        std::os::unix::fs::PermissionsExt::from_mode(0o440),
    )
    .expect("chmod");
}

system_test! {
    /// (c) Drift between starts: a sudoers grant planted as root is caught by
    /// the verify timer, which uploads a failing report to the fleet's bucket.
    fn drift_is_caught_by_the_timer_and_lands_in_the_fleet_report() {
        let _one = serial();
        let prefix = unique("drift");
        let mut nb = notebook(
            "drift",
            // The shortest period a policy may set (a minute).
            &policy(&prefix, "[service]\nverify_every = \"1m\"\n"),
        );
        let start = nb.start();
        assert_eq!(start.code, Some(0), "{}", start.log);
        assert_eq!(
            latest_report(&prefix, &nb.name).map(|r| r.exit_code),
            Some(0)
        );
        // The timer's own check of a clean notebook passes (red team: it once
        // took the verify it was running for drift).
        let timer_checks = || {
            nb.journal(&[
                "_SYSTEMD_UNIT=nbwarden-verify.service",
                "SYSLOG_IDENTIFIER=nbwarden",
            ])
            .into_iter()
            .filter(|e| e["MESSAGE"] == "control finished" && e["F_CONTROL"] == "service")
            .collect::<Vec<_>>()
        };
        assert!(
            // One period, up to a quarter of it late, and the timer's accuracy.
            nb.wait_until(Duration::from_secs(120), || !timer_checks().is_empty()),
            "the timer never ran the check: {}\n{}",
            output_text(&nb.exec(&["systemctl", "list-timers", "--all", "--no-pager"])),
            output_text(&nb.exec(&["journalctl", "--no-pager", "-u", "nbwarden-verify.service"]))
        );
        let checks = timer_checks();
        assert!(
            checks.iter().all(|e| e["F_STATUS"] == "pass"),
            "the timer's check of a clean notebook failed: {checks:?}"
        );

        plant_sudoers_grant(&nb);
        let mut latest = None;
        let caught = nb.wait_until(Duration::from_secs(150), || {
            latest = latest_report(&prefix, &nb.name);
            latest.as_ref().is_some_and(|r| r.exit_code == 1)
        });
        assert!(
            caught,
            "no failing report within 150 s: {:?}\n{}\n{}",
            latest.as_ref().map(|r| &r.finished_at),
            output_text(&nb.exec(&["systemctl", "list-timers", "--all", "--no-pager"])),
            output_text(&nb.exec(&["journalctl", "--no-pager", "-u", "nbwarden-verify.service"]))
        );
        let latest = latest.expect("a failing report");
        assert_eq!(latest.command, Mode::Verify, "{latest:#?}");
        let sudo = common::control(&latest, "sudo");
        assert_eq!(sudo.status, Status::Fail, "{sudo:#?}");
        assert!(
            sudo.to_string().contains("/etc/sudoers.d/50-planted"),
            "{sudo:#?}"
        );
        // It came from the timer's unit, not from a start.
        assert!(
            nb.journal(&[
                "_SYSTEMD_UNIT=nbwarden-verify.service",
                "SYSLOG_IDENTIFIER=nbwarden"
            ])
            .iter()
            .any(|e| e["F_CONTROL"] == "sudo" && e["F_STATUS"] == "fail"),
            "the verify unit logged no failing sudo check"
        );

        // A drop-in planted as root that neuters the check is drift too
        // (red team: nbwarden's own unit file was unchanged, so it passed).
        let drop_in = nb.path("/etc/systemd/system/nbwarden-verify.service.d/zz.conf");
        std::fs::create_dir_all(drop_in.parent().expect("parent")).expect("mkdir");
        std::fs::write(&drop_in, "[Service]\nExecStart=\nExecStart=/bin/true\n").expect("drop-in");
        let reload = nb.exec(&["systemctl", "daemon-reload"]);
        assert!(reload.status.success(), "{}", output_text(&reload));
        let neutered = nb.admin(&["/usr/local/bin/nbwarden", "verify", "--only", "service"]);
        assert_eq!(
            neutered.status.code(),
            Some(1),
            "{}",
            output_text(&neutered)
        );
        assert!(
            output_text(&neutered).contains("nbwarden-verify.service.d/zz.conf"),
            "{}",
            output_text(&neutered)
        );

        // So is a unit it now requires, which fails before it can run
        // (red team round 2: no drop-in, nbwarden's file untouched).
        std::fs::remove_file(&drop_in).expect("remove the drop-in");
        std::fs::write(
            nb.path("/etc/systemd/system/zz-block.service"),
            "[Unit]\nBefore=nbwarden-verify.service\n[Service]\nType=oneshot\nExecStart=/bin/false\n",
        )
        .expect("unit");
        let requires = nb.path("/etc/systemd/system/nbwarden-verify.service.requires");
        std::fs::create_dir_all(&requires).expect("mkdir");
        std::os::unix::fs::symlink("../zz-block.service", requires.join("zz-block.service"))
            .expect("link");
        let reload = nb.exec(&["systemctl", "daemon-reload"]);
        assert!(reload.status.success(), "{}", output_text(&reload));
        let blocked = nb.admin(&["/usr/local/bin/nbwarden", "verify", "--only", "service"]);
        assert_eq!(blocked.status.code(), Some(1), "{}", output_text(&blocked));
        assert!(
            output_text(&blocked).contains("requires zz-block.service"),
            "{}",
            output_text(&blocked)
        );
    }
}

/// The idle policy: 8 s without activity, really stopping.
fn idle_policy(prefix: &str, nb_port: u16) -> String {
    policy(
        prefix,
        &format!(
            "{SERVICE}{}",
            monitoring(
                &format!("http://127.0.0.1:{nb_port}"),
                "after = \"8s\"\ndry_run = false\n"
            )
        ),
    )
}

/// A notebook whose Jupyter listens on a port chosen before the policy,
/// which names it.
fn idle_notebook(name: &str) -> Booted {
    let port = common::booted::free_port();
    let prefix = unique(name);
    let on_start = Publish::new(&prefix, &idle_policy(&prefix, port)).run();
    let mut nb = Booted::create(name, &on_start);
    nb.jupyter_port = port;
    nb
}

system_test! {
    /// (d) Idle auto-stop: with no activity for `after`, the monitor calls
    /// StopNotebookInstance and the stand-in stops the instance; a notebook in
    /// use keeps running.
    fn an_idle_notebook_is_stopped_and_a_busy_one_is_not() {
        let _one = serial();
        let mut busy = idle_notebook("busy");
        let start = busy.start();
        assert_eq!(start.code, Some(0), "{}", start.log);
        // Someone works in the notebook: API calls every second for 20 s.
        let client = reqwest::blocking::Client::new();
        let url = format!("{}/api/contents", busy.jupyter_url());
        for _ in 0..20 {
            let r = client
                .get(&url)
                .header(
                    "Authorization",
                    format!("token {}", common::booted::JUPYTER_TOKEN),
                )
                .send()
                .expect("Jupyter");
            assert!(r.status().is_success());
            std::thread::sleep(Duration::from_secs(1));
        }
        assert_eq!(busy.control_plane_status(), "InService");
        assert!(busy.jupyter_answers());
        let rounds = busy.journal(&["_SYSTEMD_UNIT=nbwarden-monitor.service"]);
        assert!(
            !rounds
                .iter()
                .any(|e| e["MESSAGE"] == "stopping the idle notebook"),
            "the busy notebook was stopped"
        );
        busy.stop();
        drop(busy);

        let mut idle = idle_notebook("idle");
        let start = idle.start();
        assert_eq!(start.code, Some(0), "{}", start.log);
        let mut status = String::new();
        let stopped = idle.wait_until(Duration::from_secs(60), || {
            status = idle.control_plane_status();
            status != "InService"
        });
        assert!(
            stopped,
            "still {status} after 60 s idle: {}",
            output_text(&idle.exec(&["journalctl", "--no-pager", "-u", "nbwarden-monitor.service"]))
        );
        assert!(status == "Stopping" || status == "Stopped", "{status}");
        assert!(
            idle.journal(&["_SYSTEMD_UNIT=nbwarden-monitor.service"])
                .iter()
                .any(|e| e["MESSAGE"] == "stopping the idle notebook"
                    && e["F_MESSAGE_ID"] == "nbwarden.monitor.idle-stop"),
            "no idle-stop entry in the journal"
        );
        // The stand-in stops the instance SageMaker was asked to stop.
        idle.stop();
        assert!(!idle.running() && !idle.jupyter_answers());
    }
}

/// The lines the script itself wrote (`nbwarden: …`).
fn script_lines(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| l.starts_with("nbwarden: "))
        .collect()
}

/// A failed start: inside the limit, one line from the script saying why,
/// and Jupyter never started.
fn assert_failed_start(nb: &Booted, start: &common::booted::Start, why: &str, within: Duration) {
    assert_ne!(start.code, Some(0), "{}", start.log);
    println!("failed start after {:?}: {}", start.elapsed, start.log);
    assert!(!start.in_service && !nb.jupyter_answers());
    assert!(
        start.elapsed < within,
        "took {:?}: {}",
        start.elapsed,
        start.log
    );
    let lines = script_lines(&start.log);
    assert_eq!(lines.len(), 1, "one line from the script: {}", start.log);
    assert!(lines[0].contains(why), "{lines:?}");
    assert_eq!(
        is_active(nb, &["jupyter-server.service"]),
        ["inactive"],
        "Jupyter ran"
    );
}

system_test! {
    /// (e) A tampered binary fails the start before anything runs.
    fn a_tampered_binary_fails_the_start() {
        let _one = serial();
        let prefix = unique("tampered");
        let policy = policy(&prefix, SERVICE);
        let on_start = Publish {
            tamper: Some("#!/bin/sh\ntouch /tmp/tampered-binary-ran\n"),
            ..Publish::new(&prefix, &policy)
        }
        .run();
        let mut nb = Booted::create("tampered", &on_start);
        let start = nb.start();
        assert_failed_start(&nb, &start, "refusing to run it", Duration::from_secs(60));
        assert!(!nb.path("/tmp/tampered-binary-ran").exists());
        assert!(!nb.path("/usr/local/bin/nbwarden").exists());
    }
}

/// A start whose script fetches from an S3 endpoint on loopback `port`,
/// within `budget`.
fn start_with_s3_at(name: &str, port: u16, budget: &str) -> (Booted, common::booted::Start) {
    let prefix = unique(name);
    let policy = policy(&prefix, SERVICE);
    let endpoint = format!("http://127.0.0.1:{port}");
    let on_start = Publish {
        s3_endpoint: Some(&endpoint),
        render_args: &["--start-budget", budget],
        ..Publish::new(&prefix, &policy)
    }
    .run();
    let mut nb = Booted::create(name, &on_start);
    let start = nb.start();
    (nb, start)
}

system_test! {
    /// (e) An S3 endpoint that refuses connections fails the start.
    fn an_unreachable_s3_fails_the_start() {
        let _one = serial();
        // Bound, then closed: nothing listens there.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = closed.local_addr().expect("addr").port();
        drop(closed);
        let (nb, start) = start_with_s3_at("nos3", port, "60s");
        assert_failed_start(&nb, &start, "cannot download", Duration::from_secs(60));
    }
}

system_test! {
    /// (e) An endpoint that accepts and never answers (a tarpit) fails the
    /// start when the download's share of the budget is spent, not at
    /// SageMaker's 300 s.
    fn a_tarpit_endpoint_fails_the_start_inside_the_budget() {
        let _one = serial();
        let port = common::tarpit();
        let (nb, start) = start_with_s3_at("tarpit", port, "40s");
        // A quarter of 40 s for the download, and the kill 5 s after.
        assert_failed_start(&nb, &start, "took longer than 10s", Duration::from_secs(20));
    }
}

system_test! {
    /// (f) An administrator's `nbwarden status --wait` in a terminal during the
    /// start returns when the whole start (download, then apply) has ended,
    /// with the start's verdict.
    fn status_wait_returns_when_the_start_ends() {
        let _one = serial();
        let prefix = unique("wait");
        let mut nb = notebook("wait", &policy(&prefix, SERVICE));
        let mut waited = None;
        let start = nb.start_with(|nb| {
            // As soon as the start installed the binary: the user's terminal.
            let installed = nb.wait_until(Duration::from_secs(60), || {
                nb.path("/usr/local/bin/nbwarden").exists()
            });
            assert!(installed, "the start never installed nbwarden");
            let status = nb.spawn_as_user(&[
                "/usr/local/bin/nbwarden",
                "status",
                "--wait",
                "--output",
                "json",
            ]);
            let still_starting = is_active(nb, &["sagemaker-lifecycle-on-start.service"]);
            let out = status.wait_with_output().expect("status");
            let ended = is_active(nb, &["sagemaker-lifecycle-on-start.service"]);
            waited = Some((still_starting, out, ended));
        });
        assert_eq!(start.code, Some(0), "{}", start.log);
        let (still_starting, out, _ended) = waited.expect("the check ran");
        assert_eq!(
            still_starting,
            ["active"],
            "the start ended before the check could run"
        );
        assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
        let report = common::read_report(&out);
        assert_eq!(
            report.command,
            Mode::Apply,
            "status returned before the start's run: {report:#?}"
        );
        assert_eq!(report.exit_code, 0, "{report:#?}");
    }
}

system_test! {
    /// The monitor with `reapply = true`: drift it finds is re-applied by
    /// `nbwarden-reapply@CONTROL.service` (the monitor itself may not write
    /// /etc), and the next verify passes.
    fn the_monitor_reapplies_drift_through_its_unit() {
        let _one = serial();
        let prefix = unique("reapply");
        let mut nb = notebook(
            "reapply",
            &policy(
                &prefix,
                "[service]\n[monitoring]\ninterval_s = 2\ndrift_every_s = 4\nreapply = true\n",
            ),
        );
        let start = nb.start();
        assert_eq!(start.code, Some(0), "{}", start.log);
        // Root's processes are hidden from the user ([service] hide_processes):
        // the monitor whose checks it would dodge, and PID 1. Root sees them.
        let monitor = main_pid(&nb, "nbwarden-monitor.service");
        for pid in ["1", monitor.as_str()] {
            assert!(!user_sees(&nb, pid), "the user sees process {pid}");
            assert!(
                nb.exec(&["test", "-e", &format!("/proc/{pid}")])
                    .status
                    .success(),
                "root does not see process {pid}"
            );
        }
        plant_sudoers_grant(&nb);
        let drift = nb.admin(&["/usr/local/bin/nbwarden", "verify", "-q"]);
        assert_eq!(drift.status.code(), Some(1), "{}", output_text(&drift));

        let reapplied = nb.wait_until(Duration::from_secs(60), || {
            nb.journal(&["_SYSTEMD_UNIT=nbwarden-reapply@sudo.service"])
                .iter()
                .any(|e| e["F_CONTROL"] == "sudo" && e["F_STATUS"] == "fixed")
        });
        assert!(
            reapplied,
            "no re-apply within 60 s: {}",
            output_text(&nb.exec(&["journalctl", "--no-pager", "-u", "nbwarden-monitor.service"]))
        );
        assert!(
            nb.journal(&["_SYSTEMD_UNIT=nbwarden-monitor.service"])
                .iter()
                .any(|e| e["F_MESSAGE_ID"] == "nbwarden.monitor.reapplied"),
            "the monitor logged no re-apply event"
        );
        let clean = nb.admin(&["/usr/local/bin/nbwarden", "verify", "-q"]);
        assert_eq!(clean.status.code(), Some(0), "{}", output_text(&clean));
        assert_sudo_stripped(&nb);

        // /proc shown to everyone again is drift, and re-applied.
        let shown = nb.exec(&["mount", "-o", "remount,hidepid=0", "/proc"]);
        assert!(shown.status.success(), "{}", output_text(&shown));
        assert!(user_sees(&nb, "1"));
        let exposed = nb.admin(&["/usr/local/bin/nbwarden", "verify", "--only", "service"]);
        assert_eq!(exposed.status.code(), Some(1), "{}", output_text(&exposed));
        assert!(
            output_text(&exposed).contains("/proc shows every process to every user"),
            "{}",
            output_text(&exposed)
        );
        assert!(
            nb.wait_until(Duration::from_secs(60), || !user_sees(&nb, "1")),
            "the monitor did not hide root's processes again within 60 s: {}",
            output_text(&nb.exec(&[
                "journalctl",
                "--no-pager",
                "-u",
                "nbwarden-monitor.service",
                "-u",
                "nbwarden-reapply@service.service"
            ]))
            .lines()
            .rev()
            .take(40)
            .collect::<Vec<_>>()
            .join("\n")
        );
        // nbwarden's units have a /proc of their own (ProtectKernelTunables=):
        // the timer's check judges the system's, and passes.
        let timer_run = nb.exec(&["systemctl", "start", "nbwarden-verify.service"]);
        assert!(
            timer_run.status.success(),
            "{}",
            output_text(&nb.exec(&["journalctl", "--no-pager", "-u", "nbwarden-verify.service"]))
        );

        // A monitor that died waits to be restarted: not active, so drift
        // (red team round 2: `activating (auto-restart)` counted as running).
        let killed = nb.exec(&[
            "systemctl",
            "kill",
            "-s",
            "KILL",
            "nbwarden-monitor.service",
        ]);
        assert!(killed.status.success(), "{}", output_text(&killed));
        assert!(nb.wait_until(Duration::from_secs(10), || {
            is_active(&nb, &["nbwarden-monitor.service"]) != ["active"]
        }));
        let dead = nb.admin(&["/usr/local/bin/nbwarden", "verify", "--only", "service"]);
        assert_eq!(dead.status.code(), Some(1), "{}", output_text(&dead));
        assert!(
            output_text(&dead).contains("enable and start nbwarden-monitor.service"),
            "{}",
            output_text(&dead)
        );
    }
}

system_test! {
    /// The dodge: the user keeps an index setting in place between checks and
    /// moves it aside for each check. The monitor watches the places the
    /// search reads, sees it when it comes back, and the check that finds the
    /// place empty still fails on it.
    fn an_override_moved_aside_for_the_check_is_still_a_finding() {
        let _one = serial();
        let prefix = unique("dodge");
        let mut nb = notebook(
            "dodge",
            &policy(
                &prefix,
                "[service]\n[monitoring]\ninterval_s = 2\ndrift_every_s = 3600\n",
            ),
        );
        let start = nb.start();
        assert_eq!(start.code, Some(0), "{}", start.log);
        let check =
            |nb: &Booted| nb.admin(&["/usr/local/bin/nbwarden", "verify", "--only", "packages"]);
        let clean = check(&nb);
        assert_eq!(clean.status.code(), Some(0), "{}", output_text(&clean));

        // Put in place after the check (a directory that did not exist, so
        // the watch must follow it being made)…
        let conf = "/home/ec2-user/.config/pip/pip.conf";
        let planted = nb.as_user(&[
            "sh",
            "-c",
            &format!(
                "mkdir -p ~/.config/pip && printf '[global]\\nindex-url = http://{}/simple/\\n' > {conf}",
                common::BLOCKED_INDEX
            ),
        ]);
        assert!(planted.status.success(), "{}", output_text(&planted));
        let seen = nb.wait_until(Duration::from_secs(30), || {
            nb.journal(&["_SYSTEMD_UNIT=nbwarden-monitor.service"])
                .iter()
                .any(|e| {
                    e["F_MESSAGE_ID"] == "nbwarden.monitor.override-seen"
                        && e["F_SOURCE"].as_str().is_some_and(|s| s.contains(conf))
                })
        });
        assert!(
            seen,
            "the monitor did not see {conf}: {}",
            output_text(&nb.exec(&["journalctl", "--no-pager", "-u", "nbwarden-monitor.service"]))
        );
        // …and moved aside for the check.
        let aside = nb.as_user(&["mv", conf, "/home/ec2-user/pip.conf.aside"]);
        assert!(aside.status.success(), "{}", output_text(&aside));
        let dodged = check(&nb);
        let said = output_text(&dodged);
        assert_eq!(dodged.status.code(), Some(1), "{said}");
        assert!(
            said.contains(conf) && said.contains("seen by the monitor"),
            "{said}"
        );

        // The watched directory moved away and made anew: the new one is
        // watched too (red team: it stayed "watched" under the old name).
        let again = nb.as_user(&[
            "sh",
            "-c",
            &format!(
                "mv ~/.config/pip ~/.config/pip.old && mkdir ~/.config/pip && sleep 4 && \
                 printf '[global]\\nindex-url = http://127.0.0.1:8/again/\\n' > {conf}"
            ),
        ]);
        assert!(again.status.success(), "{}", output_text(&again));
        let seen_again = nb.wait_until(Duration::from_secs(30), || {
            nb.journal(&["_SYSTEMD_UNIT=nbwarden-monitor.service"])
                .iter()
                .any(|e| {
                    e["F_MESSAGE_ID"] == "nbwarden.monitor.override-seen"
                        && e["F_WHAT"].as_str().is_some_and(|w| w.contains("/again/"))
                })
        });
        assert!(
            seen_again,
            "the monitor did not see {conf} in the new directory"
        );
    }
}

/// The `nbwarden.monitor.reapplied` events so far.
fn reapplied(nb: &Booted) -> usize {
    nb.journal(&["_SYSTEMD_UNIT=nbwarden-monitor.service"])
        .iter()
        .filter(|e| e["F_MESSAGE_ID"] == "nbwarden.monitor.reapplied")
        .count()
}

system_test! {
    /// A new policy reaches the running monitor: `apply` with another policy
    /// restarts it (it held the old one, found the new files drift and
    /// re-applied every round); a policy file changed with no apply is taken
    /// by the monitor at its next drift check, which then re-applies the new
    /// one, not the old.
    fn the_monitor_follows_a_new_policy() {
        let _one = serial();
        let prefix = unique("newpolicy");
        let monitor = "[service]\n[monitoring]\ninterval_s = 2\ndrift_every_s = 4\nreapply = true\n";
        let mut nb = notebook("newpolicy", &policy(&prefix, monitor));
        let start = nb.start();
        assert_eq!(start.code, Some(0), "{}", start.log);
        let first = main_pid(&nb, "nbwarden-monitor.service");

        // The administrator moves the instance to a policy on disk with one
        // more variable, and applies it.
        let team = |value: &str| {
            policy(
                &prefix,
                &format!("{monitor}[variables.values.TEAM]\nvalue = \"{value}\"\n"),
            )
        };
        std::fs::write(nb.path("/etc/nbwarden/policy.toml"), team("blue")).expect("policy");
        std::fs::write(
            nb.path("/etc/nbwarden/lifecycle.env"),
            "NBWARDEN_POLICY=/etc/nbwarden/policy.toml\n",
        )
        .expect("env");
        let apply = nb.admin(&["/usr/local/bin/nbwarden", "apply", "-q"]);
        assert_eq!(apply.status.code(), Some(0), "{}", output_text(&apply));
        let second = main_pid(&nb, "nbwarden-monitor.service");
        assert_ne!(first, second, "apply left the monitor on the old policy");
        let before = reapplied(&nb);
        std::thread::sleep(Duration::from_secs(12));
        assert_eq!(
            reapplied(&nb),
            before,
            "the monitor re-applied after apply: {}",
            output_text(&nb.exec(&["journalctl", "--no-pager", "-u", "nbwarden-monitor.service"]))
        );

        // The file changes again, with no apply: the monitor takes it, and
        // what it re-applies is the new policy.
        std::fs::write(nb.path("/etc/nbwarden/policy.toml"), team("green")).expect("policy");
        let taken = nb.wait_until(Duration::from_secs(30), || {
            nb.journal(&["_SYSTEMD_UNIT=nbwarden-monitor.service"])
                .iter()
                .any(|e| e["F_MESSAGE_ID"] == "nbwarden.monitor.policy-changed")
        });
        assert!(
            taken,
            "the monitor kept the old policy: {}",
            output_text(&nb.exec(&["journalctl", "--no-pager", "-u", "nbwarden-monitor.service"]))
        );
        let converged = nb.wait_until(Duration::from_secs(60), || {
            nb.admin(&["/usr/local/bin/nbwarden", "verify", "-q"])
                .status
                .code()
                == Some(0)
        });
        assert!(
            converged,
            "{}",
            output_text(&nb.admin(&["/usr/local/bin/nbwarden", "verify"]))
        );
        let vars = std::fs::read_to_string(nb.path("/etc/nbwarden/variables.json")).expect("vars");
        assert!(vars.contains("green"), "{vars}");
        assert_eq!(main_pid(&nb, "nbwarden-monitor.service"), second);
        let settled = reapplied(&nb);
        std::thread::sleep(Duration::from_secs(10));
        assert_eq!(reapplied(&nb), settled, "the monitor keeps re-applying");
    }
}
