//! `[governance]`: what the notebook role's guardrail requires of the
//! jobs, models and endpoints a notebook creates. Read by the per-notebook
//! template (`lifecycle notebook-stack`) and by the fleet's cross-check;
//! the instance itself never holds these rights to judge.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The `[governance]` section. Each requirement turns on the guardrail's
/// statements that test its condition keys (SageMaker's own, as the
/// service authorization reference lists them per action); the
/// cross-check flags jobs run without it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GovernancePolicy {
    /// Jobs, models and endpoint configurations run in the fleet's
    /// subnets with the fleet's security groups (`sagemaker:VpcSubnets`,
    /// `sagemaker:VpcSecurityGroupIds`).
    #[serde(default = "yes")]
    pub vpc: bool,
    /// Volumes and outputs are encrypted with the fleet's job key
    /// (`sagemaker:VolumeKmsKeyArn`, `sagemaker:OutputKmsKeyArn`).
    #[serde(default = "yes")]
    pub kms: bool,
    /// Traffic between a job's containers is encrypted
    /// (`sagemaker:InterContainerTrafficEncryption`).
    #[serde(default = "yes")]
    pub inter_container_encryption: bool,
    /// Containers run without network access (`sagemaker:NetworkIsolation`):
    /// off by default, since most training code fetches from the VPC.
    #[serde(default)]
    pub network_isolation: bool,
    /// Everything a notebook creates carries the owner tag with the
    /// notebook's owner (`aws:RequestTag/…`).
    #[serde(default = "yes")]
    pub owner_tag: bool,
    /// Actions that start code no condition key can hold to the VPC or the
    /// keys (pipelines, compilation, inference components, algorithm and
    /// model-package validation, HyperPod clusters, …), which the guardrail
    /// otherwise refuses: name those the fleet needs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_ungoverned: Vec<UngovernedAction>,
}

/// An action that runs code no SageMaker condition key governs: the
/// guardrail's `DenyWhatNoConditionKeyGoverns` refuses each unless
/// `allow_ungoverned` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum UngovernedAction {
    BatchAddClusterNodes,
    CreateAIBenchmarkJob,
    CreateAIRecommendationJob,
    CreateAlgorithm,
    CreateCluster,
    CreateCompilationJob,
    CreateEdgePackagingJob,
    CreateInferenceComponent,
    CreateInferenceRecommendationsJob,
    CreateModelPackage,
    CreateOptimizationJob,
    CreatePipeline,
    RetryPipelineExecution,
    StartPipelineExecution,
    TrainHubModel,
    UpdateCluster,
    UpdateClusterSoftware,
    UpdateInferenceComponent,
    UpdatePipeline,
}

impl UngovernedAction {
    /// Its IAM action name.
    pub fn action(self) -> String {
        format!("sagemaker:{self:?}")
    }
}

impl Default for GovernancePolicy {
    fn default() -> Self {
        GovernancePolicy {
            vpc: true,
            kms: true,
            inter_container_encryption: true,
            network_isolation: false,
            owner_tag: true,
            allow_ungoverned: Vec::new(),
        }
    }
}

fn yes() -> bool {
    true
}

/// One requirement of `[governance]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobCondition {
    Vpc,
    Kms,
    InterContainerEncryption,
    NetworkIsolation,
    OwnerTag,
}

impl JobCondition {
    /// The requirement an IAM condition key belongs to, if any.
    pub fn of_key(key: &str) -> Option<JobCondition> {
        Some(match key {
            "sagemaker:VpcSubnets" | "sagemaker:VpcSecurityGroupIds" => JobCondition::Vpc,
            "sagemaker:VolumeKmsKeyArn" | "sagemaker:OutputKmsKeyArn" => JobCondition::Kms,
            "sagemaker:InterContainerTrafficEncryption" => JobCondition::InterContainerEncryption,
            "sagemaker:NetworkIsolation" => JobCondition::NetworkIsolation,
            k if k.starts_with("aws:RequestTag/") || k.starts_with("aws:PrincipalTag/") => {
                JobCondition::OwnerTag
            }
            _ => return None,
        })
    }
}

impl GovernancePolicy {
    pub fn requires(&self, condition: JobCondition) -> bool {
        match condition {
            JobCondition::Vpc => self.vpc,
            JobCondition::Kms => self.kms,
            JobCondition::InterContainerEncryption => self.inter_container_encryption,
            JobCondition::NetworkIsolation => self.network_isolation,
            JobCondition::OwnerTag => self.owner_tag,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_condition_key_of_the_guardrail_belongs_to_one_requirement() {
        let shipped: serde_json::Value =
            serde_json::from_str(crate::lifecycle::cloudformation::NOTEBOOK_GUARDRAIL)
                .expect("JSON");
        let mut seen = Vec::new();
        for st in shipped["Statement"].as_array().expect("statements") {
            for (_, keys) in st["Condition"].as_object().into_iter().flatten() {
                for key in keys.as_object().expect("keys").keys() {
                    // Another owner's resources stay out of reach whatever
                    // the requirements.
                    if key.starts_with("aws:ResourceTag/")
                        || key == "sagemaker:TaggingAction"
                        || key == "aws:TagKeys"
                    {
                        continue;
                    }
                    let c = JobCondition::of_key(key)
                        .unwrap_or_else(|| panic!("{key} belongs to no requirement"));
                    if !seen.contains(&c) {
                        seen.push(c);
                    }
                }
            }
        }
        assert_eq!(seen.len(), 5, "{seen:?}");
        let off = GovernancePolicy {
            network_isolation: false,
            ..GovernancePolicy::default()
        };
        assert!(!off.requires(JobCondition::NetworkIsolation));
        assert!(off.requires(JobCondition::Vpc));
    }

    #[test]
    fn every_ungoverned_action_is_the_guardrails_and_can_be_allowed() {
        use UngovernedAction::*;
        let all = [
            BatchAddClusterNodes,
            CreateAIBenchmarkJob,
            CreateAIRecommendationJob,
            CreateAlgorithm,
            CreateCluster,
            CreateCompilationJob,
            CreateEdgePackagingJob,
            CreateInferenceComponent,
            CreateInferenceRecommendationsJob,
            CreateModelPackage,
            CreateOptimizationJob,
            CreatePipeline,
            RetryPipelineExecution,
            StartPipelineExecution,
            TrainHubModel,
            UpdateCluster,
            UpdateClusterSoftware,
            UpdateInferenceComponent,
            UpdatePipeline,
        ];
        let denied = |g: &GovernancePolicy| -> Vec<String> {
            let policy =
                crate::lifecycle::cloudformation::guardrail_statements(g).expect("guardrail");
            policy["Statement"]
                .as_array()
                .expect("statements")
                .iter()
                .filter(|st| st["Sid"] == "DenyWhatNoConditionKeyGoverns")
                .flat_map(|st| st["Action"].as_array().cloned().unwrap_or_default())
                .filter_map(|a| a.as_str().map(str::to_string))
                .collect()
        };
        let names: Vec<String> = all.iter().map(|a| a.action()).collect();
        assert_eq!(denied(&GovernancePolicy::default()), names);
        let pipelines = GovernancePolicy {
            allow_ungoverned: vec![StartPipelineExecution, CreatePipeline],
            ..GovernancePolicy::default()
        };
        let left = denied(&pipelines);
        assert_eq!(left.len(), names.len() - 2);
        assert!(
            !left
                .iter()
                .any(|a| a.contains("Pipeline") && !a.contains("Retry") && !a.contains("Update"))
        );
        let everything = GovernancePolicy {
            allow_ungoverned: all.to_vec(),
            ..GovernancePolicy::default()
        };
        assert!(
            denied(&everything).is_empty(),
            "the statement goes when empty"
        );
        let bad: Result<GovernancePolicy, _> =
            toml::from_str("allow_ungoverned = [\"DeleteDomain\"]");
        assert!(bad.is_err());
    }
}
