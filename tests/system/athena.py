"""Runs the fleet's Athena named queries, as the template ships them, on
DuckDB over the records in S3 (moto), the way Athena would read them.

    python athena.py MOTO_URL TEMPLATE BUCKET PREFIX

What runs and what stands in:
- The SQL is the template's own QueryString (its Fn::Sub filled with the
  bucket and prefix). It must parse in Trino's dialect (sqlglot, Athena's
  engine v3); sqlglot transpiles it to DuckDB's, which runs it. Athena
  itself does not run here.
- The tables are the template's own columns, read from every object under
  their folders the way Athena's table and the OpenX JSON SerDe read them:
  one row a line, a line that is not a JSON object (or a value of the wrong
  type) a row of NULLs (`ignore.malformed.json`), and the hidden "$path" of
  each row's object. The history table holds only what partition
  projection reads: the folders dt=DAY/ for the days of its range.

Prints {resource: [row, ...]} as JSON.
"""
import datetime
import json
import sys

import boto3
import duckdb
import sqlglot
import yaml

GLUE_TO_DUCKDB = {"string": "VARCHAR", "array<string>": "VARCHAR[]"}


def load_template(path):
    # The template is written with long-form intrinsics (Fn::Sub, Ref), so
    # a plain YAML reader takes it.
    with open(path) as f:
        return yaml.safe_load(f)


def fill(text, bucket, prefix):
    return text.replace("${ReportBucket}", bucket).replace("${ReportPrefix}", prefix)


def typed(value, glue_type):
    """A value as the SerDe gives it for a column: a string column takes
    any JSON value as its text (a number as its digits), an array column
    NULL for anything but an array of strings (`use.null.for.invalid.data`)."""
    if glue_type == "string":
        if value is None or isinstance(value, str):
            return value
        return json.dumps(value, separators=(",", ":"))
    if glue_type == "array<string>":
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
        # The SerDe takes a lone string for a one-element array.
        if isinstance(value, str):
            return [value]
        return None
    raise SystemExit(f"no stand-in for the Glue type {glue_type}")


def rows_of(body, columns):
    lines = body.decode("utf-8", "replace").split("\n")
    # A final newline ends the last line; it does not start another.
    if lines and lines[-1] == "":
        lines.pop()
    for line in lines:
        # A blank line is a row of NULLs, as Trino's reader makes it.
        try:
            record = json.loads(line) if line.strip() else None
        except (ValueError, RecursionError):
            record = None
        if not isinstance(record, dict):
            yield [None] * len(columns)
            continue
        yield [typed(record.get(name), t) for name, t in columns]


def projected_days(parameters, today):
    start, end = parameters["projection.dt.range"].split(",")
    assert end == "NOW" and start.startswith("NOW-") and start.endswith("YEARS"), start
    years = int(start[len("NOW-"):-len("YEARS")])
    # 29 February has no day of its own a year before: the 28th.
    first = (today - datetime.timedelta(days=1) if (today.month, today.day) == (2, 29)
             else today).replace(year=today.year - years)
    days = set()
    day = first
    while day <= today:
        days.add(day.isoformat())
        day += datetime.timedelta(days=1)
    return days


def main():
    moto, template_path, bucket, prefix = sys.argv[1:5]
    template = load_template(template_path)
    resources = template["Resources"]
    s3 = boto3.client("s3", endpoint_url=moto, region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    db = duckdb.connect()
    today = datetime.datetime.now(datetime.timezone.utc).date()
    for resource in ("LatestTable", "HistoryTable"):
        table = resources[resource]["Properties"]["TableInput"]
        columns = [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]]
        location = fill(table["StorageDescriptor"]["Location"]["Fn::Sub"], bucket, prefix)
        partitions = [p["Name"] for p in table.get("PartitionKeys", [])]
        assert location.startswith(f"s3://{bucket}/"), location
        folder = location[len(f"s3://{bucket}/"):]
        ddl = ", ".join(f'"{n}" {GLUE_TO_DUCKDB[t]}' for n, t in columns)
        ddl += "".join(f', "{p}" VARCHAR' for p in partitions)
        db.execute(f'CREATE TABLE "{table["Name"]}" ({ddl}, "$path" VARCHAR)')
        days = projected_days(table["Parameters"], today) if partitions else None
        paginator = s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=folder):
            for obj in page.get("Contents", []):
                key = obj["Key"]
                # Athena skips files whose name starts with _ or .
                if key.rsplit("/", 1)[-1][:1] in ("_", "."):
                    continue
                extra = []
                if partitions:
                    # Projection reads PREFIX/history/dt=DAY/ of each day in
                    # range, everything below it; nothing else.
                    head = key[len(folder):].split("/", 1)[0]
                    if not head.startswith("dt=") or head[3:] not in days:
                        continue
                    extra = [head[3:]]
                body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
                for row in rows_of(body, columns):
                    db.execute(
                        f'INSERT INTO "{table["Name"]}" VALUES ({", ".join("?" * (len(row) + len(extra) + 1))})',
                        row + extra + [f"s3://{bucket}/{key}"],
                    )
    answers = {}
    for name, resource in resources.items():
        if resource["Type"] != "AWS::Athena::NamedQuery":
            continue
        sql = fill(resource["Properties"]["QueryString"]["Fn::Sub"], bucket, prefix)
        # Parsed in Athena's dialect first: a query Trino would refuse fails here.
        sqlglot.parse_one(sql, read="trino", error_level=sqlglot.ErrorLevel.RAISE)
        duck = sqlglot.transpile(sql, read="trino", write="duckdb",
                                 error_level=sqlglot.ErrorLevel.RAISE)[0]
        cursor = db.execute(duck)
        names = [d[0] for d in cursor.description]
        answers[name] = [dict(zip(names, row)) for row in cursor.fetchall()]
    print(json.dumps(answers, default=str))


if __name__ == "__main__":
    main()
