//! What the monitor measures: CPU, memory, the root disk and the ML volume
//! (sysinfo), and GPUs through `nvidia-smi` when there is one. Rendered as
//! CloudWatch embedded-metric-format (EMF) lines.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

use crate::host::{Host, command};

#[derive(Debug, Clone, PartialEq)]
pub struct Gpu {
    pub index: u32,
    pub utilization: f64,
    pub memory_used_mib: f64,
    pub memory_total_mib: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub cpu_percent: f64,
    pub memory_percent: f64,
    /// Volume (the path measured, inside the root) → used percent.
    pub disks: Vec<(String, f64)>,
    pub gpus: Vec<Gpu>,
}

/// Samples the machine. `volumes` are the paths (inside the root) whose
/// file systems are reported (the root disk and the ML volume), each file
/// system once; CPU needs a short pause between two readings.
pub fn sample(host: &Host, volumes: &[PathBuf]) -> anyhow::Result<Sample> {
    use sysinfo::{CpuRefreshKind, MemoryRefreshKind, RefreshKind, System};
    let mut sys = System::new_with_specifics(
        RefreshKind::nothing()
            .with_cpu(CpuRefreshKind::nothing().with_usage())
            .with_memory(MemoryRefreshKind::nothing().with_ram()),
    )
    .map_err(|e| anyhow::anyhow!("cannot read CPU and memory: {e}"))?;
    std::thread::sleep(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL.max(Duration::from_millis(200)));
    sys.refresh_cpu_usage();
    sys.refresh_memory();
    let memory_percent = if sys.total_memory() == 0 {
        0.0
    } else {
        100.0 * sys.used_memory() as f64 / sys.total_memory() as f64
    };
    let mut out = Vec::new();
    let mut seen = Vec::new();
    for v in volumes {
        match host.filesystem_usage(v) {
            Ok(Some(usage)) if !seen.contains(&usage.id) => {
                seen.push(usage.id);
                out.push((v.display().to_string(), usage.used_percent));
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("cannot measure {}: {e:#}", v.display()),
        }
    }
    Ok(Sample {
        cpu_percent: f64::from(sys.global_cpu_usage()),
        memory_percent,
        disks: out,
        gpus: gpus(),
    })
}

/// GPUs from `nvidia-smi`; none when it is absent or fails.
pub fn gpus() -> Vec<Gpu> {
    let query = "--query-gpu=index,utilization.gpu,memory.used,memory.total";
    match command::run(
        "nvidia-smi",
        &[query, "--format=csv,noheader,nounits"],
        Duration::from_secs(10),
    ) {
        Ok(out) if out.success() => parse_nvidia_smi(&out.stdout),
        _ => Vec::new(),
    }
}

pub fn parse_nvidia_smi(text: &str) -> Vec<Gpu> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split(',').map(str::trim).collect();
            if f.len() != 4 {
                return None;
            }
            Some(Gpu {
                index: f[0].parse().ok()?,
                utilization: f[1].parse().ok()?,
                memory_used_mib: f[2].parse().ok()?,
                memory_total_mib: f[3].parse().ok()?,
            })
        })
        .collect()
}

/// One EMF line per dimension set: the instance, each disk, each GPU.
pub fn emf(sample: &Sample, namespace: &str, notebook: &str) -> Vec<String> {
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default();
    let record = |dims: &[&str], values: &[(&str, f64, &str)], extra: &[(&str, Value)]| {
        let mut m = Map::new();
        m.insert(
            "_aws".into(),
            json!({
                "Timestamp": ts,
                "CloudWatchMetrics": [{
                    "Namespace": namespace,
                    "Dimensions": [dims],
                    "Metrics": values.iter().map(|(n, _, u)| json!({"Name": n, "Unit": u})).collect::<Vec<_>>(),
                }],
            }),
        );
        m.insert(
            "NotebookInstanceName".into(),
            Value::String(notebook.to_string()),
        );
        for (k, v) in extra {
            m.insert((*k).to_string(), v.clone());
        }
        for (n, v, _) in values {
            m.insert((*n).to_string(), json!((v * 100.0).round() / 100.0));
        }
        Value::Object(m).to_string()
    };
    let mut lines = vec![record(
        &["NotebookInstanceName"],
        &[
            ("CPUUtilization", sample.cpu_percent, "Percent"),
            ("MemoryUtilization", sample.memory_percent, "Percent"),
        ],
        &[],
    )];
    for (mount, pct) in &sample.disks {
        lines.push(record(
            &["NotebookInstanceName", "MountPoint"],
            &[("DiskUtilization", *pct, "Percent")],
            &[("MountPoint", Value::String(mount.clone()))],
        ));
    }
    for g in &sample.gpus {
        let mem = if g.memory_total_mib > 0.0 {
            100.0 * g.memory_used_mib / g.memory_total_mib
        } else {
            0.0
        };
        lines.push(record(
            &["NotebookInstanceName", "GPU"],
            &[
                ("GPUUtilization", g.utilization, "Percent"),
                ("GPUMemoryUtilization", mem, "Percent"),
            ],
            &[("GPU", Value::String(g.index.to_string()))],
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nvidia_smi_csv() {
        let gpus = parse_nvidia_smi("0, 87, 4096, 81559\n1, 0, 0, 81559\n[N/A], x, 1, 2\n");
        assert_eq!(gpus.len(), 2);
        assert_eq!(
            gpus[0],
            Gpu {
                index: 0,
                utilization: 87.0,
                memory_used_mib: 4096.0,
                memory_total_mib: 81559.0
            }
        );
    }

    #[test]
    fn emf_lines_declare_every_metric_they_carry() {
        let s = Sample {
            cpu_percent: 12.345,
            memory_percent: 50.0,
            disks: vec![("/".into(), 40.0)],
            gpus: vec![Gpu {
                index: 0,
                utilization: 90.0,
                memory_used_mib: 10.0,
                memory_total_mib: 100.0,
            }],
        };
        let lines = emf(&s, "nbwarden/Notebooks", "nb1");
        assert_eq!(lines.len(), 3);
        for line in &lines {
            let v: Value = serde_json::from_str(line).expect("JSON");
            let decl = &v["_aws"]["CloudWatchMetrics"][0];
            assert_eq!(decl["Namespace"], "nbwarden/Notebooks");
            for m in decl["Metrics"].as_array().expect("metrics") {
                let name = m["Name"].as_str().expect("name");
                assert!(v[name].is_number(), "{name} declared but absent in {line}");
            }
            for d in decl["Dimensions"][0].as_array().expect("dims") {
                assert!(v[d.as_str().expect("dim")].is_string(), "{line}");
            }
        }
        let cpu: Value = serde_json::from_str(&lines[0]).expect("json");
        assert_eq!(cpu["CPUUtilization"], 12.35);
        let gpu: Value = serde_json::from_str(&lines[2]).expect("json");
        assert_eq!(gpu["GPUMemoryUtilization"], 10.0);
    }
}
