//! The administrator's commands that read no notebook root: the lifecycle
//! scripts and templates, and the fleet view.

use std::time::Instant;

use super::args::{self, FleetCommand, GlobalArgs, LifecycleCommand, ScriptFormat};
use crate::aws::Aws;
use crate::base::verdict::Verdict;
use crate::fleet::FleetView;
use crate::lifecycle::{self, cloudformation};
use crate::policy::{self, LoadedPolicy};
use crate::report::OutputFormat;
use crate::run::exit::Failure;

pub fn lifecycle(g: &GlobalArgs, command: &LifecycleCommand) -> Result<Verdict, Failure> {
    match command {
        LifecycleCommand::Render(render) => render_lifecycle(g, render)?,
        LifecycleCommand::NotebookStack(tags) => print!(
            "{}",
            cloudformation::notebook_template(
                &tags.owner_tag_key,
                &tags.cost_tag_key,
                &governance(g)?
            )?
        ),
        LifecycleCommand::GuardrailScp(tags) => print!(
            "{}",
            cloudformation::guardrail_scp_template(&tags.owner_tag_key, &governance(g)?)?
        ),
        LifecycleCommand::FleetAthena => print!("{}", cloudformation::athena_template()?),
    }
    Ok(Verdict::Compliant)
}

pub fn fleet(g: &GlobalArgs, command: &FleetCommand) -> Result<Verdict, Failure> {
    let FleetCommand::Summary(a) = command;
    let aws = Aws::admin(
        Instant::now() + g.deadline,
        a.profile.clone(),
        a.region.clone(),
    );
    let governance = governance(g)?;
    let rules = a.cross_check.then(|| crate::fleet::CrossCheckRules {
        allow_root_access: a.allow_root_access,
        owner_tag: a.owner_tag_key.as_str().to_string(),
        cost_tag: a.cost_tag_key.as_str().to_string(),
        regions: a.regions.clone(),
        lifecycle_configs: a
            .lifecycle_config
            .iter()
            .map(|c| c.as_str().to_string())
            .collect(),
        governance,
        job_days: a.job_days,
    });
    let accounts = match a.accounts.as_slice() {
        [] => None,
        [one] if one == "organization" => Some(crate::fleet::Accounts::Organization),
        many if many.iter().any(|x| x == "organization") => {
            return Err(Failure::Usage(
                "--accounts takes `organization` or account ids, not both".into(),
            ));
        }
        ids => Some(crate::fleet::Accounts::Listed(ids.to_vec())),
    };
    let reached = accounts
        .map(|list| crate::fleet::reach(&aws, &list, &a.role_name))
        .transpose()?;
    let rows = crate::fleet::summary(&aws, &a.bucket, &a.prefix, rules, reached.as_deref())?;
    let view = FleetView::new(&a.bucket, &a.prefix, rows);
    if view.notebooks.is_empty() {
        return Err(Failure::NothingFound(format!(
            "no reports found under {}: check --bucket and --prefix against [verify.report] \
             of the fleet's policy (reports are ACCOUNT/REGION/NOTEBOOK/latest.json under it), \
             and that notebooks have started since it was set",
            crate::report::visible(&view.source)
        )));
    }
    match g.output {
        OutputFormat::Json => view
            .write_json(&mut std::io::stdout().lock())
            .map_err(|e| Failure::CannotEvaluate(anyhow::anyhow!("cannot write the view: {e}")))?,
        OutputFormat::Junit => print!("{}", view.junit()),
        OutputFormat::Human => print!("{}", crate::fleet::render_table(&view.notebooks)),
    }
    if a.security_hub {
        let targets: Vec<&Aws> = match &reached {
            Some(accounts) => accounts
                .iter()
                .filter_map(|a| a.aws.as_ref().ok())
                .collect(),
            None => vec![&aws],
        };
        publish(&targets, &view)?;
    }
    Ok(if view.notebooks.iter().any(crate::fleet::Row::flagged) {
        Verdict::NotCompliant
    } else {
        Verdict::Compliant
    })
}

fn render_lifecycle(g: &GlobalArgs, a: &args::RenderArgs) -> Result<(), Failure> {
    let options = lifecycle::RenderRequest {
        bundle: &a.bundle,
        checksums: a.checksums.as_deref(),
        binary_sha256: &a.binary_sha256,
        s3_endpoint_url: a.s3_endpoint_url.clone(),
        policy: g.policy.as_ref().map(|p| p.to_string()),
        policy_sha256: g.policy_sha256.clone(),
        start_budget_s: a.start_budget,
    }
    .options()
    .map_err(Failure::Usage)?;
    let scripts = lifecycle::scripts(&options)?;
    match a.format {
        ScriptFormat::Files => {
            for (path, chars) in lifecycle::write_scripts(&a.out, &scripts)? {
                println!("{} ({chars} characters)", path.display());
            }
        }
        ScriptFormat::Base64 => {
            for (file, script) in &scripts {
                println!("{file}: {}", lifecycle::base64(script));
            }
        }
        ScriptFormat::Cloudformation => print!(
            "{}",
            cloudformation::lifecycle_template(
                &a.name,
                &scripts[0].1,
                &scripts[1].1,
                &a.tags.owner_tag_key,
                &a.tags.cost_tag_key,
            )?
        ),
    }
    Ok(())
}

/// A policy file an admin command reads without obeying it (`policy
/// validate`, the templates, the cross-check), so a draft may live
/// anywhere; only apply, verify, plan and monitor require a root-owned file.
pub fn draft_policy(file: &std::path::Path) -> Result<LoadedPolicy, Failure> {
    let bytes = crate::host::local::read(file).map_err(|e| {
        Failure::CannotEvaluate(anyhow::anyhow!(
            "cannot read policy file {}: {e}",
            file.display()
        ))
    })?;
    Ok(policy::from_bytes(bytes, &file.display().to_string())?)
}

/// `[governance]` of the `--policy` file, or its defaults without one.
fn governance(g: &GlobalArgs) -> Result<policy::GovernancePolicy, Failure> {
    match &g.policy {
        None => Ok(policy::GovernancePolicy::default()),
        Some(policy::PolicySource::File(file)) => Ok(draft_policy(file)?.policy.governance),
        Some(other) => Err(Failure::Usage(format!(
            "--policy {other}: the templates and the cross-check read [governance] from a local \
             file; download it first"
        ))),
    }
}

/// The view's findings, into each target account's Security Hub: every
/// account is tried; any failure is exit 3 after all were.
fn publish(targets: &[&Aws], view: &FleetView) -> Result<(), Failure> {
    let mut failed = Vec::new();
    for aws in targets {
        match crate::fleet::publish_to_security_hub(aws, &view.notebooks, &view.source) {
            Ok(published) => {
                eprintln!(
                    "security hub ({}): {} finding(s) active, {} archived",
                    published.account, published.active, published.archived
                );
                // Another account's rows are published by that account's run.
                if targets.len() == 1 {
                    for skipped in &published.not_published {
                        eprintln!("security hub: not published: {skipped}");
                    }
                }
            }
            Err(e) => failed.push(format!("{e:#}")),
        }
    }
    if failed.is_empty() {
        return Ok(());
    }
    Err(Failure::CannotEvaluate(anyhow::anyhow!(
        "publishing to Security Hub failed (the summary above stands): {}",
        failed.join("; ")
    )))
}
