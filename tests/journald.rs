//! Logs reach journald when its socket exists. No systemd runs here, so the
//! test makes a private /run in a mount namespace, binds a datagram socket
//! where journald's would be, runs nbwarden, and reads what arrived.

#[macro_use]
mod common;

use std::process::Command;

use common::*;

const LISTENER: &str = r#"
import json, os, socket, subprocess, sys, threading
os.makedirs("/run/systemd/journal", exist_ok=True)
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("/run/systemd/journal/socket")
def fields(data):
    # journald's native protocol: KEY=VALUE\n, or KEY\n<u64 LE length>VALUE\n
    out, i = {}, 0
    while i < len(data):
        nl = data.index(b"\n", i)
        eq = data.find(b"=", i, nl)
        if eq >= 0:
            out[data[i:eq].decode()] = data[eq + 1:nl].decode("utf-8", "replace")
            i = nl + 1
        else:
            key = data[i:nl].decode()
            n = int.from_bytes(data[nl + 1:nl + 9], "little")
            out[key] = data[nl + 9:nl + 9 + n].decode("utf-8", "replace")
            i = nl + 9 + n + 1
    return out
grams = []
done = threading.Event()
def receive():
    # Read while nbwarden runs, as journald does: a datagram queue holds
    # only a few messages and a full one blocks the sender.
    s.settimeout(0.2)
    while True:
        try:
            grams.append(fields(s.recv(65536)))
        except socket.timeout:
            if done.is_set():
                return
reader = threading.Thread(target=receive)
reader.start()
run = subprocess.run(sys.argv[1:], capture_output=True)
done.set()
reader.join()
print(json.dumps({"code": run.returncode, "stderr": run.stderr.decode(), "grams": grams}))
"#;

system_test! {
    fn logs_go_to_journald_when_its_socket_exists() {
        assert!(
            is_root(),
            "needs root for a mount namespace: run scripts/test as root"
        );
        let root = sandbox("al2023");
        let out = Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c"])
            .arg("mount -t tmpfs tmpfs /run && exec python3 -c \"$0\" \"$@\"")
            .arg(LISTENER)
            .arg(env!("CARGO_BIN_EXE_nbwarden"))
            .args(["apply", "--root"])
            .arg(root.path())
            .args(["--policy", example_policy_path()])
            .output()
            .expect("unshare");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let result: serde_json::Value = serde_json::from_slice(&out.stdout).expect("listener JSON");
        assert_eq!(result["code"], 0, "{result}");
        let grams = result["grams"].as_array().expect("grams");
        let with_message = |m: &str| -> Vec<&serde_json::Value> {
            grams.iter().filter(|g| g["MESSAGE"] == m).collect()
        };
        let started = with_message("control started");
        let finished = with_message("control finished");
        // One start and one end per control of the example policy.
        let enabled = [
            "sudo",
            "packages",
            "variables",
            "permissions",
            "boot-exec",
            "egress",
            "rpm",
            "service",
        ];
        assert_eq!(
            (started.len(), finished.len()),
            (enabled.len(), enabled.len()),
            "{grams:?}"
        );
        let end = finished
            .iter()
            .find(|g| g["F_CONTROL"] == "variables")
            .expect("variables finished");
        assert_eq!(end["SYSLOG_IDENTIFIER"], "nbwarden", "{end}");
        assert_eq!(end["F_CONTROL"], "variables", "{end}");
        assert_eq!(end["F_STATUS"], "fixed", "{end}");
        assert!(
            end["F_DURATION_MS"]
                .as_str()
                .is_some_and(|d| d.parse::<u64>().is_ok()),
            "{end}"
        );
        // stderr is not the journal here (no JOURNAL_STREAM), so it has them too.
        assert!(
            result["stderr"]
                .as_str()
                .is_some_and(|e| e.contains("control finished"))
        );
    }
}
