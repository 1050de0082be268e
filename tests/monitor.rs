//! `nbwarden monitor` against a real jupyter_server with a real kernel and
//! moto's SageMaker: busy kernels keep the notebook running, an idle one
//! (in UTC) stops it, dry-run only says so; metrics come out as EMF.

#[macro_use]
mod common;

use std::process::Command;

use common::notebook::{boto3, run_aws, service};
use common::*;

/// Starts a kernel through the REST API and makes it execute `code`,
/// returning once the kernel reports busy.
const EXECUTE: &str = r#"
import asyncio, json, sys, uuid, urllib.request
from tornado.websocket import websocket_connect
base, token, code = sys.argv[1], sys.argv[2], sys.argv[3]
req = urllib.request.Request(f"{base}/api/kernels?token={token}", data=b"{}", method="POST")
kid = json.load(urllib.request.urlopen(req))["id"]
async def main():
    ws = await websocket_connect(f"{base.replace('http', 'ws', 1)}/api/kernels/{kid}/channels?token={token}")
    session = uuid.uuid4().hex
    msg = {"header": {"msg_id": uuid.uuid4().hex, "username": "test", "session": session,
                      "msg_type": "execute_request", "version": "5.3"},
           "parent_header": {}, "metadata": {}, "channel": "shell",
           "content": {"code": code, "silent": False, "store_history": False,
                       "user_expressions": {}, "allow_stdin": False}}
    ws.write_message(json.dumps(msg))
    while True:
        m = json.loads(await ws.read_message())
        if m.get("msg_type") == "status" and m["content"]["execution_state"] == "busy":
            break
    ws.close()
asyncio.run(main())
print(kid)
"#;

const STATE: &str = r#"
import boto3, sys
sm = boto3.client("sagemaker", endpoint_url=sys.argv[1], region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing")
name = sys.argv[2]
if len(sys.argv) > 3:
    try:
        sm.create_notebook_instance(NotebookInstanceName=name, InstanceType="ml.t3.medium",
            RoleArn="arn:aws:iam::123456789012:role/nbwarden-notebook-role")
    except sm.exceptions.ClientError as e:
        if "already exists" not in str(e):
            raise
print(sm.describe_notebook_instance(NotebookInstanceName=name)["NotebookInstanceStatus"])
"#;

fn state(name: &str, create: bool) -> String {
    let mut args = vec![name];
    if create {
        args.push("create");
    }
    let out = boto3(STATE, &args);
    assert!(out.status.success(), "{}", output_text(&out));
    stdout(&out).trim().to_string()
}

fn monitor(root: &std::path::Path, policy: &std::path::Path) -> serde_json::Value {
    let out = run_aws(
        root,
        &["monitor", "--once", "--policy", &policy.to_string_lossy()],
        &[],
    );
    assert_eq!(code(&out), 0, "{}", output_text(&out));
    serde_json::from_str(stdout(&out).lines().last().unwrap_or_default()).expect("round JSON")
}

system_test! {
    fn a_busy_kernel_keeps_the_notebook_and_an_idle_one_stops_it() {
        let name = format!(
            "idle-{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis())
                .unwrap_or_default()
        );
        assert_eq!(state(&name, true), "InService");
        let root = sandbox("al2023");
        std::fs::write(
            root.path().join("opt/ml/metadata/resource-metadata.json"),
            format!(r#"{{"ResourceArn":"arn:aws:sagemaker:us-east-1:123456789012:notebook-instance/{name}","ResourceName":"{name}"}}"#),
        )
        .expect("metadata");
        std::fs::create_dir_all(root.path().join("etc/nbwarden")).expect("mkdir");
        std::fs::write(
            root.path().join("etc/nbwarden/jupyter-token"),
            service("NBWARDEN_TEST_JUPYTER_TOKEN"),
        )
        .expect("token");
        let dir = tempfile::tempdir().expect("tmp");
        let base = service("NBWARDEN_TEST_JUPYTER_URL");
        let write = |dry: bool| {
            write_policy(
                dir.path(),
                &format!(
                    "version = 1\n[monitoring]\n[monitoring.idle]\nafter = \"3s\"\njupyter_url = \"{base}\"\n\
                     token_file = \"/etc/nbwarden/jupyter-token\"\ndry_run = {dry}\n"
                ),
            )
        };

        // A kernel that runs for a while: busy is never idle.
        let venv = service("NBWARDEN_TEST_VENV");
        let exec = Command::new(format!("{venv}/bin/python"))
            .args([
                "-c",
                EXECUTE,
                &base,
                &service("NBWARDEN_TEST_JUPYTER_TOKEN"),
                "import time; time.sleep(5)",
            ])
            .output()
            .expect("python");
        assert!(exec.status.success(), "{}", output_text(&exec));
        let kernel = stdout(&exec).trim().to_string();
        let busy = monitor(root.path(), &write(false));
        assert_eq!(busy["idle"]["idle"], false, "{busy}");
        assert!(
            busy["idle"]["reason"]
                .as_str()
                .is_some_and(|r| r.contains(&kernel) && r.contains("busy")),
            "{busy}"
        );
        assert_eq!(state(&name, false), "InService");

        // Once it finished and nothing happened for longer than `after`.
        std::thread::sleep(std::time::Duration::from_secs(9));
        let dry = monitor(root.path(), &write(true));
        assert_eq!(dry["idle"]["idle"], true, "{dry}");
        assert_eq!(dry["idle"]["action"], format!("would stop {name}"));
        assert_eq!(state(&name, false), "InService", "dry-run must not stop");

        let stop = monitor(root.path(), &write(false));
        assert_eq!(stop["idle"]["action"], format!("stopped {name}"), "{stop}");
        assert!(matches!(
            state(&name, false).as_str(),
            "Stopping" | "Stopped"
        ));

        // Metrics: EMF lines, in the round and in the metrics file.
        let cpu = &stop["metrics"][0];
        assert_eq!(cpu["NotebookInstanceName"], name.as_str());
        assert!(
            cpu["CPUUtilization"].is_number() && cpu["MemoryUtilization"].is_number(),
            "{cpu}"
        );
        let file = std::fs::read_to_string(root.path().join("var/log/nbwarden/metrics.log"))
            .expect("metrics file");
        assert!(file.lines().count() >= 3, "{file}");
        let _ = Command::new("curl")
            .args([
                "-s",
                "-X",
                "DELETE",
                &format!(
                    "{base}/api/kernels/{kernel}?token={}",
                    service("NBWARDEN_TEST_JUPYTER_TOKEN")
                ),
            ])
            .status();
    }
}

system_test! {
    fn without_jupyter_the_notebook_is_never_stopped() {
        let root = sandbox("al2023");
        let dir = tempfile::tempdir().expect("tmp");
        let policy = write_policy(
            dir.path(),
            "version = 1\n[monitoring]\n[monitoring.idle]\nafter = \"1s\"\njupyter_url = \"http://127.0.0.1:9/\"\n",
        );
        let round = monitor(root.path(), &policy);
        assert_eq!(round["idle"]["idle"], false);
        assert_eq!(round["idle"]["action"], "none");
        assert!(
            round["idle"]["reason"]
                .as_str()
                .is_some_and(|r| r.contains("did not answer")),
            "{round}"
        );
    }
}
