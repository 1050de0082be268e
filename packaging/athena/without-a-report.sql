-- nbwarden: notebooks without a current report.
-- Each notebook that ran nbwarden in the last 30 days (its history) whose
-- latest record is missing, unreadable, finished more than a day ago
-- (stopped since, or no longer reporting) or claims to finish in the future. Notebooks that never reported are not in these
-- tables: `nbwarden fleet summary --cross-check` lists them from SageMaker.
WITH known AS (
  SELECT DISTINCT
    regexp_extract(key, '^dt=[0-9]{4}-[0-9]{2}-[0-9]{2}/([0-9]{12})/([a-z0-9-]+)/([A-Za-z0-9-]{1,63})/[^/]+\.json$', 1) AS account,
    regexp_extract(key, '^dt=[0-9]{4}-[0-9]{2}-[0-9]{2}/([0-9]{12})/([a-z0-9-]+)/([A-Za-z0-9-]{1,63})/[^/]+\.json$', 2) AS region,
    regexp_extract(key, '^dt=[0-9]{4}-[0-9]{2}-[0-9]{2}/([0-9]{12})/([a-z0-9-]+)/([A-Za-z0-9-]{1,63})/[^/]+\.json$', 3) AS notebook
  FROM (
    SELECT substr("$path", length('s3://${ReportBucket}/${ReportPrefix}/history/') + 1) AS key, dt
    FROM report_history
    WHERE starts_with("$path", 's3://${ReportBucket}/${ReportPrefix}/history/')
      AND dt >= date_format(current_timestamp AT TIME ZONE 'UTC' - INTERVAL '30' DAY, '%Y-%m-%d')
  )
  WHERE regexp_like(key, '^dt=[0-9]{4}-[0-9]{2}-[0-9]{2}/([0-9]{12})/([a-z0-9-]+)/([A-Za-z0-9-]{1,63})/[^/]+\.json$')
    AND starts_with(key, 'dt=' || dt || '/')
),
reported AS (
  SELECT
    regexp_extract(key, '^([0-9]{12})/([a-z0-9-]+)/([A-Za-z0-9-]{1,63})\.json$', 1) AS account,
    regexp_extract(key, '^([0-9]{12})/([a-z0-9-]+)/([A-Za-z0-9-]{1,63})\.json$', 2) AS region,
    regexp_extract(key, '^([0-9]{12})/([a-z0-9-]+)/([A-Za-z0-9-]{1,63})\.json$', 3) AS notebook,
    max(finished_at) AS finished_at
  FROM (
    SELECT substr("$path", length('s3://${ReportBucket}/${ReportPrefix}/latest/') + 1) AS key, finished_at
    FROM latest_reports
    WHERE starts_with("$path", 's3://${ReportBucket}/${ReportPrefix}/latest/')
      AND regexp_like(finished_at, '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$')
  )
  WHERE regexp_like(key, '^([0-9]{12})/([a-z0-9-]+)/([A-Za-z0-9-]{1,63})\.json$')
  GROUP BY 1, 2, 3
)
SELECT k.account, k.region, k.notebook, r.finished_at AS last_report
FROM known k
LEFT JOIN reported r ON k.account = r.account AND k.region = r.region AND k.notebook = r.notebook
WHERE r.finished_at IS NULL
   OR substr(r.finished_at, 1, 19) < date_format(current_timestamp AT TIME ZONE 'UTC' - INTERVAL '1' DAY, '%Y-%m-%dT%H:%i:%s')
   OR substr(r.finished_at, 1, 19) > date_format(current_timestamp AT TIME ZONE 'UTC' + INTERVAL '5' MINUTE, '%Y-%m-%dT%H:%i:%s')
ORDER BY k.notebook, k.account, k.region
