//! The packages control in a real Debian root: real pip, run as ec2-user
//! with only its configuration, installs from the test pypiserver, and the
//! server's own access log shows the requests.

#[macro_use]
mod common;

use common::notebook::{Notebook, mirror_hits, mirror_log_len as log_len, service};
use common::{code, evidence, output_text};

fn policy() -> String {
    let mirror = service("NBWARDEN_TEST_PYPI_URL");
    common::with_blocked_indexes(&format!(
        "version = 1\n[packages]\nprobe = \"required\"\n[packages.pip]\nindex_url = \"{mirror}\"\n\
         trusted_hosts = [\"127.0.0.1\"]\nprobe_package = \"nbwarden-probe\"\n\
         [packages.conda]\nchannels = [\"http://127.0.0.1:9/conda/main\"]\n"
    ))
}

system_test! {
    fn pip_as_the_user_installs_through_the_mirror_after_apply() {
        let nb = Notebook::create(&policy());
        nb.install();
        let pip = "/home/ec2-user/anaconda3/envs/python3/bin/pip";

        let start = log_len();
        let apply = nb.nbwarden(&["apply", "--only", "packages", "--output", "json", "-q"]);
        assert_eq!(code(&apply), 0, "{}", output_text(&apply));
        let report = common::read_report(&apply);
        let ev = evidence(&report, "packages");
        assert!(
            ev.iter()
                .any(|l| l.contains("`pip download nbwarden-probe` as ec2-user")
                    && l.contains("reported http://127.0.0.1")),
            "{ev:#?}"
        );
        assert!(
            mirror_hits(start) >= 1,
            "the probe's download never reached the mirror"
        );

        // A real install by the user, with no index flags at all.
        let start = log_len();
        let install = nb.as_user(&[
            pip,
            "install",
            "--no-cache-dir",
            "--disable-pip-version-check",
            "nbwarden-probe",
        ]);
        assert_eq!(code(&install), 0, "{}", output_text(&install));
        assert!(
            mirror_hits(start) >= 1,
            "pip install did not ask the mirror"
        );
        let import = nb.as_user(&[
            "/home/ec2-user/anaconda3/envs/python3/bin/python",
            "-c",
            "import nbwarden_probe; print(nbwarden_probe.SOURCE)",
        ]);
        assert_eq!(
            String::from_utf8_lossy(&import.stdout),
            "nbwarden test mirror\n"
        );
        let config = nb.as_user(&[pip, "config", "list"]);
        assert!(
            output_text(&config).contains("global.index-url='http://127.0.0.1"),
            "{}",
            output_text(&config)
        );

        // The user points pip elsewhere: verify names the file and fails.
        let plant = nb.as_user(&[
            "sh",
            "-c",
            "mkdir -p ~/.config/pip && printf '[global]\\nindex-url = https://pypi.org/simple\\n' > ~/.config/pip/pip.conf",
        ]);
        assert_eq!(code(&plant), 0, "{}", output_text(&plant));
        let verify = nb.nbwarden(&["verify", "--only", "packages"]);
        assert_eq!(code(&verify), 1, "{}", output_text(&verify));
        assert!(
            output_text(&verify).contains("/home/ec2-user/.config/pip/pip.conf"),
            "{}",
            output_text(&verify)
        );

        // The user cannot change the system files.
        let edit = nb.as_user(&["sh", "-c", "echo '[global]' >> /etc/pip.conf"]);
        assert_ne!(code(&edit), 0);
    }
}

system_test! {
    /// A mirror that accepts and never answers, with the run's deadline
    /// shorter than the index request's own 5 s: the deadline ends the request
    /// and the run, and the verdict is "could not check" (exit 3, the control
    /// in error naming the deadline), not "the index did not answer" (exit 1)
    /// reached seconds past the deadline.
    fn the_mirror_probe_ends_at_the_runs_deadline_unproven() {
        let port = common::tarpit();
        let policy = policy().replace(
            &service("NBWARDEN_TEST_PYPI_URL"),
            &format!("http://127.0.0.1:{port}/simple/"),
        );
        let nb = Notebook::create(&policy);
        nb.install();
        let out = nb.nbwarden(&[
            "apply",
            "--deadline",
            "2s",
            "--only",
            "packages",
            "--output",
            "json",
        ]);
        let report = common::read_report(&out);
        assert_eq!(code(&out), 3, "{report:#?}");
        let packages = common::control(&report, "packages");
        assert_eq!(packages.status, common::Status::Error, "{report:#?}");
        let error = packages.error.clone().unwrap_or_default();
        assert!(error.contains("deadline"), "{error}");
    }
}

/// An index no one serves: where an override points in the tests below.
const ELSEWHERE: &str = "http://127.0.0.1:9/elsewhere/simple";
const ENV_PIP: &str = "/home/ec2-user/anaconda3/envs/python3/bin/pip";
const ENV_PYTHON: &str = "/home/ec2-user/anaconda3/envs/python3/bin/python";

/// A policy with the test mirror and live checks, without a download.
fn resolving_policy() -> String {
    let mirror = service("NBWARDEN_TEST_PYPI_URL");
    common::with_blocked_indexes(&format!(
        "version = 1\n[packages]\nprobe = \"required\"\n[packages.pip]\nindex_url = \"{mirror}\"\n\
         trusted_hosts = [\"127.0.0.1\"]\n"
    ))
}

/// The user's shell command, as the user, in a login shell (a notebook
/// terminal's).
fn in_login_shell(nb: &Notebook, command: &str) -> std::process::Output {
    nb.as_user(&["bash", "-lic", command])
}

/// `verify --only packages`, which must fail naming `needle` in a finding
/// of what the real clients resolved.
fn verify_fails_resolving(nb: &Notebook, vector: &str, needle: &str) {
    let verify = nb.nbwarden(&["verify", "--only", "packages", "--output", "json"]);
    let report = common::read_report(&verify);
    let ev = evidence(&report, "packages");
    assert_eq!(code(&verify), 1, "{vector}: {ev:#?}");
    assert!(
        ev.iter()
            .any(|l| l.starts_with("resolved:") && l.contains(needle)),
        "{vector}: no resolved finding naming {needle}: {ev:#?}"
    );
}

system_test! {
    fn uv_a_user_installs_uses_the_mirror_and_verify_asks_it() {
        let nb = Notebook::create(&resolving_policy());
        nb.install();
        let apply = nb.nbwarden(&["apply", "--only", "packages", "-q"]);
        assert_eq!(code(&apply), 0, "{}", output_text(&apply));
        let uv_toml = std::fs::read_to_string(nb.path("/etc/uv/uv.toml")).expect("uv.toml");
        assert!(
            uv_toml.contains(&service("NBWARDEN_TEST_PYPI_URL")),
            "{uv_toml}"
        );

        // The user installs uv as users do; it comes from the mirror.
        let install = nb.as_user(&[
            ENV_PIP,
            "install",
            "--no-cache-dir",
            "--disable-pip-version-check",
            "uv",
        ]);
        assert_eq!(code(&install), 0, "{}", output_text(&install));
        // uv, with no index flag, installs from the mirror.
        let start = log_len();
        let uv = in_login_shell(
            &nb,
            &format!(
                "/home/ec2-user/anaconda3/envs/python3/bin/uv pip install --no-cache --python {ENV_PYTHON} nbwarden-probe"
            ),
        );
        assert_eq!(code(&uv), 0, "{}", output_text(&uv));
        assert!(mirror_hits(start) >= 1, "uv did not ask the mirror");

        let verify = nb.nbwarden(&["verify", "--only", "packages", "--output", "json"]);
        let report = common::read_report(&verify);
        let ev = evidence(&report, "packages");
        assert_eq!(code(&verify), 0, "{ev:#?}");
        assert!(
            ev.iter()
                .any(|l| l.contains("resolve only the mirror") && l.contains("1 uv")),
            "{ev:#?}"
        );

        // The user points uv elsewhere with a name the shell assembles.
        let plant = in_login_shell(
            &nb,
            &format!("echo \"export UV_DEFAULT_INDE''X={ELSEWHERE}\" >> ~/.bashrc"),
        );
        assert_eq!(code(&plant), 0, "{}", output_text(&plant));
        verify_fails_resolving(&nb, "UV_DEFAULT_INDE''X in .bashrc", ELSEWHERE);
        let undo = in_login_shell(&nb, "sed -i '$d' ~/.bashrc");
        assert_eq!(code(&undo), 0, "{}", output_text(&undo));

        // A project's uv.toml where Jupyter starts terminals and kernels: uv
        // there takes its index (red team: the resolution ran from `/`).
        let plant = in_login_shell(
            &nb,
            &format!(
                "printf '[[index]]\\nurl = \"{ELSEWHERE}\"\\ndefault = true\\n' > ~/SageMaker/uv.toml"
            ),
        );
        assert_eq!(code(&plant), 0, "{}", output_text(&plant));
        let uv = in_login_shell(
            &nb,
            &format!(
                "cd ~/SageMaker && /home/ec2-user/anaconda3/envs/python3/bin/uv pip install --no-cache --python {ENV_PYTHON} --reinstall nbwarden-probe"
            ),
        );
        assert!(
            output_text(&uv).contains(ELSEWHERE),
            "uv does not use it: {}",
            output_text(&uv)
        );
        verify_fails_resolving(&nb, "a project uv.toml on the ML volume", ELSEWHERE);
        let undo = in_login_shell(&nb, "rm ~/SageMaker/uv.toml");
        assert_eq!(code(&undo), 0, "{}", output_text(&undo));

        // A kernel whose env turns uv's configuration off: uv in that kernel
        // goes to pypi.org (red team: kernels were not asked about uv).
        let spec = format!(
            "{{\"argv\": [\"{ENV_PYTHON}\", \"-m\", \"ipykernel_launcher\", \"-f\", \"{{connection_file}}\"], \
             \"display_name\": \"k\", \"language\": \"python\", \"env\": {{\"UV_NO_CONFIG\": \"1\"}}}}"
        );
        let kernels = "/home/ec2-user/.local/share/jupyter/kernels";
        let plant = in_login_shell(
            &nb,
            &format!("mkdir -p {kernels}/k && cat > {kernels}/k/kernel.json <<'SPEC'\n{spec}\nSPEC"),
        );
        assert_eq!(code(&plant), 0, "{}", output_text(&plant));
        verify_fails_resolving(
            &nb,
            "UV_NO_CONFIG in a kernel's env",
            "the mirror is not among its indexes",
        );
    }
}

system_test! {
    /// Each way the user points pip elsewhere that a search by name misses:
    /// the real pip, in a login shell, uses the other index (shown by its own
    /// "Looking in indexes"), and verify fails naming it; removed, verify
    /// passes again.
    fn every_override_the_real_pip_resolves_fails_verify() {
        let nb = Notebook::create(&resolving_policy());
        nb.install();
        let apply = nb.nbwarden(&["apply", "--only", "packages", "-q"]);
        assert_eq!(code(&apply), 0, "{}", output_text(&apply));
        let clean = nb.nbwarden(&["verify", "--only", "packages"]);
        assert_eq!(code(&clean), 0, "{}", output_text(&clean));

        let site = "$(/home/ec2-user/anaconda3/envs/python3/bin/python -c 'import site; print(site.getsitepackages()[0])')";
        let vectors: &[(&str, String, &str)] = &[
            (
                "a pip alias as a key",
                format!(
                    "mkdir -p ~/.config/pip && printf '[global]\\npypi-url = {ELSEWHERE}\\n' > ~/.config/pip/pip.conf"
                ),
                "rm -f ~/.config/pip/pip.conf",
            ),
            (
                "a dashed key",
                format!(
                    "mkdir -p ~/.config/pip && printf '[install]\\n--index-url = {ELSEWHERE}\\n[download]\\n--index-url = {ELSEWHERE}\\n' > ~/.config/pip/pip.conf"
                ),
                "rm -f ~/.config/pip/pip.conf",
            ),
            (
                "an alias variable in .bashrc",
                format!(
                    "cp ~/.bashrc ~/.bashrc.orig && echo 'export PIP_PYPI_URL={ELSEWHERE}' >> ~/.bashrc"
                ),
                "mv /home/ec2-user/.bashrc.orig /home/ec2-user/.bashrc",
            ),
            (
                "a name the shell assembles",
                format!(
                    "cp ~/.bashrc ~/.bashrc.orig && echo \"export PIP_INDEX_UR''L={ELSEWHERE}\" >> ~/.bashrc"
                ),
                "mv /home/ec2-user/.bashrc.orig /home/ec2-user/.bashrc",
            ),
            (
                "another HOME",
                format!(
                    "mkdir -p /tmp/h/.config/pip && printf '[global]\\nindex-url = {ELSEWHERE}\\n' > /tmp/h/.config/pip/pip.conf && cp ~/.bashrc ~/.bashrc.orig && echo 'export HOME=/tmp/h' >> ~/.bashrc"
                ),
                "mv /home/ec2-user/.bashrc.orig /home/ec2-user/.bashrc",
            ),
            (
                "a .pth that builds the name at run time",
                format!(
                    "echo \"import os; k = 'PIP_' + 'PYPI' + '_URL'; os.environ.setdefault(k, '{ELSEWHERE}')\" > {site}/zz.pth"
                ),
                "rm -f /home/ec2-user/anaconda3/envs/python3/lib/python3*/site-packages/zz.pth",
            ),
        ];
        for (vector, plant, undo) in vectors {
            let planted = in_login_shell(&nb, plant);
            assert_eq!(code(&planted), 0, "{vector}: {}", output_text(&planted));
            // The real pip, as the user in a terminal, uses the other index.
            let pip = in_login_shell(
                &nb,
                &format!(
                    "{ENV_PIP} download --no-deps --retries 0 --timeout 2 --disable-pip-version-check -d /tmp/dl nbwarden-probe"
                ),
            );
            assert!(
                output_text(&pip).contains(&format!("Looking in indexes: {ELSEWHERE}")),
                "{vector}: pip does not use it, so the vector proves nothing: {}",
                output_text(&pip)
            );
            verify_fails_resolving(&nb, vector, ELSEWHERE);
            let undone = in_login_shell(&nb, undo);
            assert_eq!(code(&undone), 0, "{vector}: {}", output_text(&undone));
        }

        // Kernel specs: pip in the kernel's environment, and a spec Jupyter
        // loads that nbwarden's JSON parser does not.
        // A pipenv-style environment under a hidden directory, its pip linked
        // into ~/.local/bin (on PATH in a login shell): no start-up file
        // changes, yet the terminal's `pip` takes its pip.conf (red team).
        let hidden = "/home/ec2-user/.local/share/virtualenvs/proj";
        let plant = in_login_shell(
            &nb,
            &format!(
                "python3 -m venv {hidden} && printf '[global]\\nindex-url = {ELSEWHERE}\\n' > {hidden}/pip.conf \
                 && mkdir -p ~/.local/bin && ln -s {hidden}/bin/pip ~/.local/bin/pip"
            ),
        );
        assert_eq!(code(&plant), 0, "{}", output_text(&plant));
        let pip = in_login_shell(
            &nb,
            "pip download --no-deps --retries 0 --timeout 2 --disable-pip-version-check -d /tmp/dl nbwarden-probe",
        );
        assert!(
            output_text(&pip).contains(&format!("Looking in indexes: {ELSEWHERE}")),
            "the terminal's pip does not use it: {}",
            output_text(&pip)
        );
        verify_fails_resolving(&nb, "a hidden environment's pip on PATH", ELSEWHERE);
        let undo = in_login_shell(&nb, &format!("rm -rf {hidden} ~/.local/bin/pip"));
        assert_eq!(code(&undo), 0, "{}", output_text(&undo));

        let kernels = "/home/ec2-user/.local/share/jupyter/kernels";
        // A spec directory that is a link (Jupyter follows it).
        let plant = in_login_shell(
            &nb,
            &format!(
                "mkdir -p ~/SageMaker/kdir {kernels} && ln -s /home/ec2-user/SageMaker/kdir {kernels}/linked"
            ),
        );
        assert_eq!(code(&plant), 0, "{}", output_text(&plant));
        let (rc, ev) = verify_packages(&nb);
        assert_eq!(rc, 1, "{ev:#?}");
        assert!(
            ev.iter()
                .any(|l| l.contains(&format!("{kernels}/linked")) && l.contains("link")),
            "{ev:#?}"
        );
        let undo = in_login_shell(&nb, &format!("rm {kernels}/linked"));
        assert_eq!(code(&undo), 0, "{}", output_text(&undo));

        for (vector, spec, needle) in [
            (
                "a kernel env alias",
                format!(
                    "{{\"argv\": [\"{ENV_PYTHON}\", \"-m\", \"ipykernel_launcher\", \"-f\", \"{{connection_file}}\"], \
                     \"display_name\": \"k\", \"language\": \"python\", \"env\": {{\"PIP_--INDEX-URL\": \"{ELSEWHERE}\"}}}}"
                ),
                ELSEWHERE.to_string(),
            ),
            (
                "a kernel spec with NaN",
                format!(
                    "{{\"argv\": [\"{ENV_PYTHON}\", \"-m\", \"ipykernel_launcher\"], \"display_name\": \"k\", \
                     \"language\": \"python\", \"metadata\": {{\"x\": NaN}}}}"
                ),
                "Jupyter may still start it".to_string(),
            ),
        ] {
            let plant = in_login_shell(
                &nb,
                &format!(
                    "mkdir -p {kernels}/k && cat > {kernels}/k/kernel.json <<'SPEC'\n{spec}\nSPEC"
                ),
            );
            assert_eq!(code(&plant), 0, "{vector}: {}", output_text(&plant));
            let verify = nb.nbwarden(&["verify", "--only", "packages", "--output", "json"]);
            let ev = evidence(&common::read_report(&verify), "packages");
            assert_eq!(code(&verify), 1, "{vector}: {ev:#?}");
            assert!(ev.iter().any(|l| l.contains(&needle)), "{vector}: {ev:#?}");
            let undo = in_login_shell(&nb, &format!("rm -rf {kernels}/k"));
            assert_eq!(code(&undo), 0, "{}", output_text(&undo));
        }

        let clean = nb.nbwarden(&["verify", "--only", "packages"]);
        assert_eq!(code(&clean), 0, "{}", output_text(&clean));
    }
}

/// A dataset on the ML volume, as the user keeps one: `dirs` directories
/// of `files` empty files each, and one directory of `flat` files that
/// also holds a subdirectory. Owned by the user.
fn plant_dataset(nb: &Notebook, dirs: usize, files: usize, flat: usize) -> std::path::PathBuf {
    let top = nb.path("/home/ec2-user/SageMaker/data");
    for d in 0..dirs {
        let sub = top.join(format!("train/class-{d:04}"));
        std::fs::create_dir_all(&sub).expect("mkdir");
        for f in 0..files {
            std::fs::File::create(sub.join(format!("{f:05}.jpg"))).expect("file");
        }
    }
    let big = top.join("big");
    std::fs::create_dir_all(big.join("nested")).expect("mkdir");
    for f in 0..flat {
        std::fs::File::create(big.join(format!("{f:06}.npy"))).expect("file");
    }
    let chown = std::process::Command::new("chown")
        .args(["-R", "1000:1000"])
        .arg(nb.path("/home/ec2-user/SageMaker"))
        .status()
        .expect("chown");
    assert!(chown.success());
    big
}

system_test! {
    /// 210,000 files on the ML volume (an ordinary dataset) used to exhaust
    /// the override search's budget: apply exited 3 and the notebook could not
    /// start. The walk for environments is bounded by what it looks for: apply
    /// passes, still finds an environment kept deep on the ML volume, and says
    /// which directory it did not descend into.
    fn a_big_dataset_on_the_ml_volume_never_stops_a_start() {
        let nb = Notebook::create(&resolving_policy());
        nb.install();
        let big = plant_dataset(&nb, 1000, 200, 12_000);
        // And a flood of empty directories (red team: 300,000 failed the start).
        let flood = nb.path("/home/ec2-user/SageMaker/flood");
        for i in 0..30_000 {
            std::fs::create_dir_all(flood.join(format!("{:03}/{i:05}", i / 1000))).expect("mkdir");
        }
        let chown = std::process::Command::new("chown")
            .args(["-R", "1000:1000"])
            .arg(&flood)
            .status()
            .expect("chown");
        assert!(chown.success());
        // Cloned repositories: a sparse 16 MiB pyproject.toml (no disk, all of
        // root's read), a broken test fixture, a project's own PyTorch index.
        // Each is a note, never a failed start (red team, round 2).
        let repos = nb.path("/home/ec2-user/SageMaker/repos");
        for i in 0..200 {
            let d = repos.join(format!("sparse/d{i}"));
            std::fs::create_dir_all(&d).expect("mkdir");
            let f = std::fs::File::create(d.join("pyproject.toml")).expect("file");
            f.set_len(16 * 1024 * 1024).expect("sparse");
        }
        for (name, text) in [
            ("fixture/tests/bad", "[tool.uv\nnot toml"),
            (
                "torchproj",
                "[[tool.uv.index]]\nurl = \"https://download.pytorch.org/whl/cpu\"\n",
            ),
        ] {
            std::fs::create_dir_all(repos.join(name)).expect("mkdir");
            std::fs::write(repos.join(name).join("pyproject.toml"), text).expect("write");
        }
        let chown = std::process::Command::new("chown")
            .args(["-R", "1000:1000"])
            .arg(&repos)
            .status()
            .expect("chown");
        assert!(chown.success());
        let venv = "/home/ec2-user/SageMaker/a-projects/venv";
        let made = nb.as_user(&["python3", "-m", "venv", "--without-pip", venv]);
        assert_eq!(code(&made), 0, "{}", output_text(&made));

        let apply = nb.nbwarden(&["apply", "--only", "packages", "--output", "json"]);
        let report = common::read_report(&apply);
        let ev = evidence(&report, "packages");
        assert_eq!(code(&apply), 0, "{ev:#?}");
        assert!(
            ev.iter().any(|l| l == &format!("environment: {venv}")),
            "the environment below the dataset was not found: {ev:#?}"
        );
        assert!(
            ev.iter()
                .any(|l| l.starts_with("not descended into: ")
                    && l.contains("the walk looks at most at")),
            "the flood did not reach the walk's bound: {ev:#?}"
        );
        assert!(
            ev.iter().any(|l| l.contains("torchproj/pyproject.toml")
                && l.contains("https://download.pytorch.org/whl/cpu")
                && l.starts_with("a project's own index")),
            "{ev:#?}"
        );
        let inside = format!(
            "/{}",
            big.strip_prefix(nb.root()).expect("in the root").display()
        );
        assert!(
            ev.iter()
                .any(|l| l.starts_with("not descended into: ") && l.contains(&inside)),
            "{ev:#?}"
        );
    }
}

/// A real HTTP proxy (Debian's tinyproxy) on a loopback port: it opens
/// `CONNECT` tunnels to whatever answers, as a VPC's egress proxy would.
fn tinyproxy(dir: &std::path::Path, extra: &str) -> common::LoopbackServer {
    let port = common::booted::free_port();
    let conf = dir.join(format!("tinyproxy-{port}.conf"));
    std::fs::write(
        &conf,
        format!(
            "Port {port}\nListen 127.0.0.1\nTimeout 5\nMaxClients 20\nLogLevel Connect\n{extra}"
        ),
    )
    .expect("tinyproxy.conf");
    let mut cmd = std::process::Command::new("tinyproxy");
    cmd.arg("-d").arg("-c").arg(&conf);
    common::LoopbackServer::spawn(cmd, port)
}

/// A stand-in for the public index: a real HTTP server on loopback, so a
/// request a proxy forwards gets an answer. Stopped when dropped.
fn public_index() -> (common::LoopbackServer, u16) {
    let port = common::booted::free_port();
    let mut http = std::process::Command::new("python3");
    http.args([
        "-m",
        "http.server",
        "--bind",
        "127.0.0.1",
        &port.to_string(),
    ]);
    (common::LoopbackServer::spawn(http, port), port)
}

/// `verify --only packages` as JSON: its exit code and the control's lines.
fn verify_packages(nb: &Notebook) -> (i32, Vec<String>) {
    let out = nb.nbwarden(&["verify", "--only", "packages", "--output", "json"]);
    (code(&out), evidence(&common::read_report(&out), "packages"))
}

system_test! {
    /// The verdict rests on the barrier: with a "public index" the user can
    /// reach (a loopback listener), packages fails "default only, not
    /// enforced"; once it is unreachable, "enforced"; when the user's shell
    /// names a proxy that opens a tunnel to it (a real tinyproxy), not
    /// enforced again; `enforce = "default"` passes and says "default only".
    fn the_mirror_is_enforced_only_when_the_public_index_is_unreachable_as_the_user() {
        // A listener completes connections from its backlog, unaccepted.
        let public = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let target = format!("127.0.0.1:{}", public.local_addr().expect("addr").port());
        let policy = resolving_policy().replace(
            &format!("public_indexes = [\"{}\"]", common::BLOCKED_INDEX),
            &format!("public_indexes = [\"{target}\"]"),
        );
        assert!(policy.contains(&target), "{policy}");
        let nb = Notebook::create(&policy);
        nb.install();
        let apply = nb.nbwarden(&["apply", "--only", "packages", "-q"]);
        assert_eq!(code(&apply), 1, "{}", output_text(&apply));

        let (rc, ev) = verify_packages(&nb);
        assert_eq!(rc, 1, "{ev:#?}");
        assert!(
            ev.iter().any(
                |l| l.starts_with("mirror: FAILED: default only, not enforced: ")
                    && l.contains(&format!("{target} is reachable directly"))
            ),
            "{ev:#?}"
        );

        // The same notebook in a VPC without that route: enforced.
        let proxy_dir = tempfile::tempdir().expect("tmp");
        let proxy = tinyproxy(proxy_dir.path(), "");
        drop(public);
        let (rc, ev) = verify_packages(&nb);
        assert_eq!(rc, 0, "{ev:#?}");
        assert!(
            ev.iter().any(|l| l.starts_with(&format!(
                "mirror: ok: enforced: {target} unreachable as ec2-user"
            ))),
            "{ev:#?}"
        );

        // The user names a proxy that reaches it: a route.
        let _public = std::net::TcpListener::bind(&target).expect("bind again");
        let proxy_url = format!("http://127.0.0.1:{}", proxy.port);
        let plant = in_login_shell(
            &nb,
            &format!("echo 'export https_proxy={proxy_url}' >> ~/.bashrc"),
        );
        assert_eq!(code(&plant), 0, "{}", output_text(&plant));
        // Direct connections stay possible in this test; what matters is that
        // the proxy is named and tried.
        let (rc, ev) = verify_packages(&nb);
        assert_eq!(rc, 1, "{ev:#?}");
        assert!(
            ev.iter().any(|l| l.contains(&format!(
                "{target} is reachable through the proxy {proxy_url}"
            ))),
            "{ev:#?}"
        );
        assert!(
            ev.iter()
                .any(|l| l == &format!("proxy the clients use: {proxy_url}")),
            "{ev:#?}"
        );

        // The policy accepts a default: it passes and says so.
        let relaxed = policy.replace("[packages]\n", "[packages]\nenforce = \"default\"\n");
        std::fs::write(nb.path(common::notebook::POLICY_IN_ROOT), relaxed).expect("policy");
        let (rc, ev) = verify_packages(&nb);
        assert_eq!(rc, 0, "{ev:#?}");
        assert!(
            ev.iter()
                .any(|l| l
                    .starts_with("mirror: ok: default only, not enforced (enforce = \"default\"): ")),
            "{ev:#?}"
        );
    }
}

system_test! {
    /// Red team, round 2: a proxy the barrier asked only for a tunnel, or
    /// without the credentials the user's URL carries, or never heard of,
    /// still carried the user's pip to the public index. Each is a route now:
    /// a proxy that wants a login gets the URL's (and the report hides the
    /// password), a proxy that refuses tunnels is asked to forward a request,
    /// and the policy's `proxies` are tested whatever the user's clients name.
    fn a_proxy_the_user_can_reach_is_a_route_however_it_is_asked() {
        // The public index: a real HTTP server, so a forwarded request gets an
        // answer from it.
        let (_public, port) = public_index();
        let target = format!("127.0.0.1:{port}");
        let dir = tempfile::tempdir().expect("tmp");
        let with_login = tinyproxy(dir.path(), "BasicAuth alice s3cret\n");
        let no_tunnels = tinyproxy(dir.path(), "ConnectPort 443\n");
        let unnamed = tinyproxy(dir.path(), "");

        let policy = resolving_policy().replace(
            &format!("public_indexes = [\"{}\"]", common::BLOCKED_INDEX),
            &format!("public_indexes = [\"{target}\"]"),
        );
        let nb = Notebook::create(&policy);
        nb.install();
        // Direct connections as the user stay possible in this test; each
        // assertion is about the route through one proxy.
        for (proxy, expect) in [
            (
                format!("http://alice:s3cret@127.0.0.1:{}", with_login.port),
                format!(
                    "{target} is reachable through the proxy http://alice:****@127.0.0.1:{}/ (CONNECT)",
                    with_login.port
                ),
            ),
            (
                format!("http://127.0.0.1:{}", no_tunnels.port),
                format!(
                    "{target} is reachable through the proxy http://127.0.0.1:{} (a forwarded request)",
                    no_tunnels.port
                ),
            ),
        ] {
            let plant = in_login_shell(
                &nb,
                &format!(
                    "cp ~/.bashrc ~/.bashrc.orig && echo 'export http_proxy={proxy} https_proxy={proxy}' >> ~/.bashrc"
                ),
            );
            assert_eq!(code(&plant), 0, "{}", output_text(&plant));
            let verify = nb.nbwarden(&["verify", "--only", "packages", "--output", "json"]);
            let ev = evidence(&common::read_report(&verify), "packages");
            assert_eq!(code(&verify), 1, "{ev:#?}");
            assert!(ev.iter().any(|l| l.contains(&expect)), "{expect}\n{ev:#?}");
            assert!(
                !output_text(&verify).contains("s3cret"),
                "the proxy's password reached the report"
            );
            let undo = in_login_shell(&nb, "mv /home/ec2-user/.bashrc.orig /home/ec2-user/.bashrc");
            assert_eq!(code(&undo), 0, "{}", output_text(&undo));
        }

        // A proxy no client names (set from an IPython start-up file, say), but
        // the policy lists as on the network.
        let listed = format!("http://127.0.0.1:{}/", unnamed.port);
        std::fs::write(
            nb.path(common::notebook::POLICY_IN_ROOT),
            policy.replace(
                "[packages]\n",
                &format!("[packages]\nproxies = [\"{listed}\"]\n"),
            ),
        )
        .expect("policy");
        let (rc, ev) = verify_packages(&nb);
        assert_eq!(rc, 1, "{ev:#?}");
        assert!(
            ev.iter().any(|l| l.contains(&format!(
                "{target} is reachable through the proxy {listed} (CONNECT)"
            ))),
            "{ev:#?}"
        );
    }
}

const CONDA: &str = "/home/ec2-user/anaconda3/bin/conda";

/// [`resolving_policy`] with conda on the test channel.
fn conda_policy() -> String {
    format!(
        "{}[packages.conda]\nchannels = [\"{}\"]\n",
        resolving_policy(),
        service("NBWARDEN_TEST_CONDA_URL")
    )
}

system_test! {
    /// The real conda 26 as the base install: stock, it resolves anaconda's
    /// channels and verify says so; after apply, a terminal's `conda create`
    /// with no channel flag takes the mirror channel and verify asks conda and
    /// passes; the user's own channels (a `.condarc`, `CONDA_CHANNELS`) are
    /// ignored by conda (the system file's `#!final`) and said so, not
    /// failed; a proxy in the user's `.condarc` is a route the barrier tries.
    fn the_real_conda_takes_the_mirror_channel_and_verify_asks_it() {
        use common::notebook::{conda_log_len, conda_requests};
        let nb = Notebook::create_with_conda(&conda_policy());
        nb.install();
        verify_fails_resolving(&nb, "stock conda", "channel defaults");

        let apply = nb.nbwarden(&["apply", "--only", "packages", "-q"]);
        assert_eq!(code(&apply), 0, "{}", output_text(&apply));
        let from = conda_log_len();
        let create = in_login_shell(
            &nb,
            &format!("{CONDA} create -y -q -p ~/cenv nbwarden-conda-probe"),
        );
        assert_eq!(code(&create), 0, "{}", output_text(&create));
        let asked = conda_requests(from);
        assert!(
            asked
                .iter()
                .any(|p| p == "/mirror/noarch/nbwarden-conda-probe-1.0-0.tar.bz2"),
            "conda did not fetch from the mirror channel: {asked:?}"
        );
        assert!(
            nb.path("/home/ec2-user/cenv/share/nbwarden-conda-probe.txt")
                .exists()
        );
        let (rc, ev) = verify_packages(&nb);
        assert_eq!(rc, 0, "{ev:#?}");
        assert!(
            ev.iter()
                .any(|l| l.contains("resolve only the mirror") && l.contains("1 conda")),
            "{ev:#?}"
        );

        // The user's channels, and aliases that would move the mirror's URL
        // onto another host (red team: `migrated_channel_aliases` sent conda
        // to conda.anaconda.org): conda itself ignores them all.
        let channel = service("NBWARDEN_TEST_CONDA_URL");
        let host = channel.trim_end_matches('/').trim_end_matches("/mirror");
        let plant = in_login_shell(
            &nb,
            &format!(
                "printf 'channels:\\n  - http://{0}/x\\nmigrated_channel_aliases:\\n  - {host}\\n' > ~/.condarc && \
                 echo 'export CONDA_CHANNELS=http://{0}/y CONDA_MIGRATED_CHANNEL_ALIASES={host}' >> ~/.bashrc",
                common::BLOCKED_INDEX
            ),
        );
        assert_eq!(code(&plant), 0, "{}", output_text(&plant));
        let shown = in_login_shell(&nb, &format!("{CONDA} config --show channels --json"));
        assert!(
            !output_text(&shown).contains(common::BLOCKED_INDEX),
            "conda took the user's channels: {}",
            output_text(&shown)
        );
        let from = conda_log_len();
        let create = in_login_shell(
            &nb,
            &format!("{CONDA} create -y -q -p ~/cenv2 nbwarden-conda-probe"),
        );
        assert_eq!(code(&create), 0, "{}", output_text(&create));
        assert!(
            conda_requests(from)
                .iter()
                .any(|p| p.starts_with("/mirror/noarch/")),
            "conda left the mirror channel: {}",
            output_text(&create)
        );
        let (rc, ev) = verify_packages(&nb);
        assert_eq!(rc, 0, "{ev:#?}");
        assert_eq!(
            ev.iter()
                .filter(|l| l.starts_with("ignored by conda:"))
                .count(),
            3,
            "{ev:#?}"
        );

        // A proxy only conda names: the barrier tries the public index
        // through it.
        let (_public, port) = public_index();
        let dir = tempfile::tempdir().expect("tmp");
        let proxy = tinyproxy(dir.path(), "");
        let policy = conda_policy().replace(
            &format!("public_indexes = [\"{}\"]", common::BLOCKED_INDEX),
            &format!("public_indexes = [\"127.0.0.1:{port}\"]"),
        );
        std::fs::write(nb.path(common::notebook::POLICY_IN_ROOT), policy).expect("policy");
        let plant = in_login_shell(
            &nb,
            &format!(
                "printf 'proxy_servers:\\n  https: http://127.0.0.1:{}\\n' >> ~/.condarc",
                proxy.port
            ),
        );
        assert_eq!(code(&plant), 0, "{}", output_text(&plant));
        let (rc, ev) = verify_packages(&nb);
        assert_eq!(rc, 1, "{ev:#?}");
        let through = format!(
            "127.0.0.1:{port} is reachable through the proxy http://127.0.0.1:{} (CONNECT)",
            proxy.port
        );
        assert!(
            ev.iter().any(|l| l.contains(&through)),
            "{through}\n{ev:#?}"
        );
    }
}

system_test! {
    /// pipx and pdm as a notebook user installs them (from the mirror, into
    /// an environment): with no index flag, `pipx install` takes the app from
    /// the mirror (pip.conf), and pdm's own configuration shows the mirror
    /// (nbwarden's site file) and `pdm add` takes the package from it. Poetry,
    /// which has no system-wide setting, asks pypi.org and never the mirror:
    /// held only by egress, as the report says.
    fn pipx_and_pdm_a_user_installs_take_the_mirror_and_poetry_is_held_by_egress() {
        use common::notebook::mirror_asked;
        let nb = Notebook::create(&resolving_policy());
        nb.install();
        let apply = nb.nbwarden(&["apply", "--only", "packages", "-q"]);
        assert_eq!(code(&apply), 0, "{}", output_text(&apply));
        let install = nb.as_user(&[
            ENV_PIP,
            "install",
            "--no-cache-dir",
            "--disable-pip-version-check",
            "pipx",
            "pdm",
            "poetry",
        ]);
        assert_eq!(code(&install), 0, "{}", output_text(&install));
        let bin = "/home/ec2-user/anaconda3/envs/python3/bin";

        let start = log_len();
        let pipx = in_login_shell(&nb, &format!("{bin}/pipx install uv"));
        assert_eq!(code(&pipx), 0, "{}", output_text(&pipx));
        assert!(
            mirror_asked(start, "uv") >= 1,
            "pipx did not ask the mirror: {}",
            output_text(&pipx)
        );

        let url = in_login_shell(&nb, &format!("{bin}/pdm config pypi.url"));
        assert!(
            output_text(&url).contains(&service("NBWARDEN_TEST_PYPI_URL")),
            "{}",
            output_text(&url)
        );
        let start = log_len();
        let pdm = in_login_shell(
            &nb,
            &format!(
                "mkdir -p ~/SageMaker/p && cd ~/SageMaker/p && printf '[project]\\nname = \"p\"\\n\
                 version = \"0\"\\nrequires-python = \">=3.11\"\\ndependencies = []\\n\
                 [tool.pdm]\\ndistribution = false\\n' > pyproject.toml && {bin}/pdm add nbwarden-probe"
            ),
        );
        assert_eq!(code(&pdm), 0, "{}", output_text(&pdm));
        assert!(
            mirror_hits(start) >= 1,
            "pdm add did not ask the mirror: {}",
            output_text(&pdm)
        );

        // Poetry reads no file nbwarden can write: with no project source it
        // goes to pypi.org (unresolvable in this root, blocked by egress on an
        // instance) and never asks the mirror.
        let start = log_len();
        let poetry = in_login_shell(
            &nb,
            &format!(
                "mkdir -p ~/SageMaker/q && cd ~/SageMaker/q && printf '[project]\\nname = \"q\"\\n\
                 version = \"0\"\\nrequires-python = \">=3.11\"\\ndependencies = []\\n\
                 [tool.poetry]\\npackage-mode = false\\n' > pyproject.toml && \
                 {bin}/poetry add -vvv --lock nbwarden-probe"
            ),
        );
        let said = output_text(&poetry);
        assert_ne!(code(&poetry), 0, "{said}");
        assert!(said.contains("pypi.org"), "{said}");
        assert_eq!(mirror_hits(start), 0, "poetry asked the mirror: {said}");
        let (_, evidence) = verify_packages(&nb);
        assert!(
            evidence
                .iter()
                .any(|l| l.starts_with("poetry:") && l.contains("held only by this barrier")),
            "{evidence:#?}"
        );
    }
}
