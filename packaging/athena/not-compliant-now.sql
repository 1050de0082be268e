-- nbwarden: notebooks not compliant now.
-- Each notebook whose latest run failed (exit code 1 or 3); whose latest
-- record cannot be read or is more than one record (exit 3); or that ran in
-- the last 30 days (its history) but has no latest record (exit 3). The
-- account, region and notebook come from the record's key, which only that
-- notebook's role may write
-- (s3://${ReportBucket}/${ReportPrefix}/latest/ACCOUNT/REGION/NOTEBOOK.json),
-- never from what the record says; a key of any other shape is not read.
WITH records AS (
  SELECT
    substr("$path", length('s3://${ReportBucket}/${ReportPrefix}/latest/') + 1) AS key,
    CASE WHEN regexp_like(exit_code, '^[0-9]{1,3}$') THEN try_cast(exit_code AS integer) END AS exit_code,
    failing,
    failing_since,
    finished_at,
    count(*) OVER (PARTITION BY "$path") AS lines
  FROM latest_reports
  WHERE starts_with("$path", 's3://${ReportBucket}/${ReportPrefix}/latest/')
),
judged AS (
  SELECT
    regexp_extract(key, '^([0-9]{12})/([a-z0-9-]+)/([A-Za-z0-9-]{1,63})\.json$', 1) AS account,
    regexp_extract(key, '^([0-9]{12})/([a-z0-9-]+)/([A-Za-z0-9-]{1,63})\.json$', 2) AS region,
    regexp_extract(key, '^([0-9]{12})/([a-z0-9-]+)/([A-Za-z0-9-]{1,63})\.json$', 3) AS notebook,
    CASE WHEN lines = 1 AND exit_code IS NOT NULL THEN exit_code ELSE 3 END AS exit_code,
    CASE WHEN lines = 1 AND exit_code IS NOT NULL THEN array_join(failing, ',') ELSE '' END AS failing,
    CASE WHEN lines = 1 THEN failing_since END AS failing_since,
    CASE WHEN lines = 1 THEN finished_at END AS finished_at,
    CASE
      WHEN lines > 1 THEN 'more than one record'
      WHEN exit_code IS NULL THEN 'unreadable record'
    END AS problem
  FROM records
  WHERE regexp_like(key, '^([0-9]{12})/([a-z0-9-]+)/([A-Za-z0-9-]{1,63})\.json$')
),
known AS (
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
)
SELECT DISTINCT account, region, notebook, exit_code, failing, failing_since, finished_at, problem
FROM judged
WHERE exit_code <> 0
UNION ALL
SELECT k.account, k.region, k.notebook, 3, '', CAST(NULL AS varchar), CAST(NULL AS varchar), 'no latest record'
FROM known k
LEFT JOIN (SELECT DISTINCT account, region, notebook FROM judged) j
  ON k.account = j.account AND k.region = j.region AND k.notebook = j.notebook
WHERE j.notebook IS NULL
ORDER BY notebook, account, region
