//! The fleet's Athena template: a Glue database with two tables over the
//! one-line records each run writes (`report::record`), the latest record
//! of each notebook and the history partitioned by day with partition
//! projection (no crawler), and the named queries of `packaging/athena/`.

use anyhow::{Result, bail};
use serde_json::{Value, json};

/// The named queries as shipped: (resource, name, file, description).
pub const NAMED_QUERIES: &[(&str, &str, &str, &str)] = &[
    (
        "NotCompliantNowQuery",
        "nbwarden: notebooks not compliant now",
        include_str!("../../../packaging/athena/not-compliant-now.sql"),
        "Each notebook whose latest run failed, or whose latest record cannot be read",
    ),
    (
        "FailingSinceQuery",
        "nbwarden: failing since",
        include_str!("../../../packaging/athena/failing-since.sql"),
        "Since when each failing notebook has been failing, from the history of its runs",
    ),
    (
        "WithoutAReportQuery",
        "nbwarden: notebooks without a current report",
        include_str!("../../../packaging/athena/without-a-report.sql"),
        "Each notebook of the last 30 days whose latest record is missing or a day old",
    ),
];

/// The tables' names, as the queries name them.
pub const LATEST_TABLE: &str = "latest_reports";
pub const HISTORY_TABLE: &str = "report_history";

/// The record's columns (`report::record::Record`) as Glue types. The
/// numbers are read as strings, which the SerDe gives whatever the JSON
/// holds there, and the queries take only digits for a number: a record
/// with a list where a number goes would otherwise fail the query for
/// the whole fleet.
const COLUMNS: &[(&str, &str)] = &[
    ("schema_version", "string"),
    ("account", "string"),
    ("region", "string"),
    ("notebook", "string"),
    ("command", "string"),
    ("started_at", "string"),
    ("finished_at", "string"),
    ("exit_code", "string"),
    ("failing", "array<string>"),
    ("failing_since", "string"),
    ("nbwarden_version", "string"),
];

/// The only `${…}` a query may hold: the template's parameters.
const QUERY_PARAMETERS: &[&str] = &["${ReportBucket}", "${ReportPrefix}"];

/// A query's text as a `Fn::Sub`: it may name the bucket and the prefix,
/// nothing else (any other `${` would be taken for a parameter).
fn query_string(sql: &str) -> Result<Value> {
    let mut rest = sql.to_string();
    for p in QUERY_PARAMETERS {
        rest = rest.replace(p, "");
    }
    if rest.contains("${") {
        bail!("a named query holds a ${{…}} other than {QUERY_PARAMETERS:?}");
    }
    Ok(json!({ "Fn::Sub": sql }))
}

fn table(name: &str, description: &str, folder: &str, partitioned: bool) -> Value {
    let columns: Vec<Value> = COLUMNS
        .iter()
        .map(|(n, t)| json!({ "Name": n, "Type": t }))
        .collect();
    let mut parameters = json!({
        "classification": "json",
        "EXTERNAL": "TRUE",
    });
    let mut input = json!({
        "Name": name,
        "Description": description,
        "TableType": "EXTERNAL_TABLE",
        "StorageDescriptor": {
            "Columns": columns,
            "Location": { "Fn::Sub": format!("s3://${{ReportBucket}}/${{ReportPrefix}}/{folder}/") },
            "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
            // A record the notebook user garbled, or a value of another
            // type than its column's, is NULL (the queries count it as
            // unreadable), not a failed query.
            "SerdeInfo": {
                "SerializationLibrary": "org.openx.data.jsonserde.JsonSerDe",
                "Parameters": {
                    "ignore.malformed.json": "true",
                    "use.null.for.invalid.data": "true",
                    // `EXIT_CODE` is not `exit_code`: a record shows in
                    // Athena what it shows to any other JSON reader.
                    "case.insensitive": "false"
                }
            }
        },
    });
    if partitioned {
        // One partition a day, projected rather than crawled or added: the
        // days from two years ago to today, each at its own folder.
        let projection = json!({
            "projection.enabled": "true",
            "projection.dt.type": "date",
            "projection.dt.format": "yyyy-MM-dd",
            "projection.dt.range": "NOW-2YEARS,NOW",
            "projection.dt.interval": "1",
            "projection.dt.interval.unit": "DAYS",
            "storage.location.template": { "Fn::Sub": format!("s3://${{ReportBucket}}/${{ReportPrefix}}/{folder}/dt=${{!dt}}/") },
        });
        if let (Some(p), Some(more)) = (parameters.as_object_mut(), projection.as_object()) {
            p.extend(more.clone());
        }
        input["PartitionKeys"] = json!([{ "Name": "dt", "Type": "string" }]);
    }
    input["Parameters"] = parameters;
    json!({
        "Type": "AWS::Glue::Table",
        "Properties": {
            "CatalogId": { "Ref": "AWS::AccountId" },
            "DatabaseName": { "Ref": "FleetDatabase" },
            "TableInput": input,
        }
    })
}

/// What the template asks: where the reports are, and where the tables
/// and queries go.
fn parameters() -> Value {
    json!({
        "ReportBucket": {
            "Type": "String",
            "AllowedPattern": "^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
            "Description": "The bucket of the fleet reports ([verify.report] bucket)"
        },
        "ReportPrefix": {
            "Type": "String",
            "Default": "nbwarden",
            "AllowedPattern": "^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$",
            "Description": "The fleet reports' prefix, without slashes at either end ([verify.report] prefix); not empty"
        },
        "DatabaseName": {
            "Type": "String",
            "Default": "nbwarden_fleet",
            "AllowedPattern": "^[a-z0-9_]{1,255}$",
            "Description": "The Glue database of the tables"
        },
        "WorkGroup": {
            "Type": "String",
            "Default": "primary",
            "Description": "The Athena workgroup of the named queries"
        }
    })
}

/// The template, for the account that holds the reports' bucket.
pub fn athena_template() -> Result<String> {
    use crate::run::upload::{HISTORY_RECORDS, LATEST_RECORDS};
    let mut resources = serde_json::Map::new();
    resources.insert(
        "FleetDatabase".into(),
        json!({
            "Type": "AWS::Glue::Database",
            "Properties": {
                "CatalogId": { "Ref": "AWS::AccountId" },
                "DatabaseInput": {
                    "Name": { "Ref": "DatabaseName" },
                    "Description": "nbwarden: the fleet's run records"
                }
            }
        }),
    );
    resources.insert(
        "LatestTable".into(),
        table(
            LATEST_TABLE,
            "Each notebook's latest run, one record at PREFIX/latest/ACCOUNT/REGION/NOTEBOOK.json",
            LATEST_RECORDS,
            false,
        ),
    );
    resources.insert(
        "HistoryTable".into(),
        table(
            HISTORY_TABLE,
            "Every run, at PREFIX/history/dt=DAY/ACCOUNT/REGION/NOTEBOOK/RUN.json",
            HISTORY_RECORDS,
            true,
        ),
    );
    for (resource, name, sql, description) in NAMED_QUERIES {
        resources.insert(
            (*resource).into(),
            json!({
                "Type": "AWS::Athena::NamedQuery",
                "DependsOn": ["LatestTable", "HistoryTable"],
                "Properties": {
                    "Name": name,
                    "Description": description,
                    "Database": { "Ref": "FleetDatabase" },
                    "WorkGroup": { "Ref": "WorkGroup" },
                    "QueryString": query_string(sql)?,
                }
            }),
        );
    }
    let template = json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": format!("nbwarden {}: Athena over the fleet's run records (deploy where the reports' bucket is)", crate::base::version::SHORT),
        "Parameters": parameters(),
        "Resources": resources,
        "Outputs": {
            "DatabaseName": { "Value": { "Ref": "FleetDatabase" } }
        }
    });
    super::yaml::to_yaml(&template)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_names_only_the_bucket_and_the_prefix() {
        assert!(query_string("select 1 from t where p = '${ReportBucket}'").is_ok());
        let err = query_string("select '${AWS::AccountId}'").expect_err("refused");
        assert!(err.to_string().contains("ReportBucket"), "{err}");
        for (_, _, sql, _) in NAMED_QUERIES {
            query_string(sql).expect("shipped query");
        }
    }

    #[test]
    fn the_history_is_projected_by_day_at_its_own_folder() {
        let text = athena_template().expect("template");
        for needle in [
            "projection.dt.type: date",
            "dt=${!dt}/",
            "org.openx.data.jsonserde.JsonSerDe",
            "AWS::Athena::NamedQuery",
        ] {
            assert!(text.contains(needle), "{needle} missing:\n{text}");
        }
        assert!(!text.contains("AWS::Glue::Crawler"));
    }
}
