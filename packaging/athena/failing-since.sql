-- nbwarden: since when each failing notebook has been failing, from the
-- history of its runs rather than from what its latest record says.
-- For each notebook whose last run of the last 90 days failed: the start of
-- its first failed run after its last passing one (at most 90 days back:
-- widen both dates below for more). A record counts only at its own key
-- (s3://${ReportBucket}/${ReportPrefix}/history/dt=DAY/ACCOUNT/REGION/NOTEBOOK/RUN.json),
-- in the day it says it started, with a well-formed start time that is not
-- in the future; the notebook's role may add records there but never
-- replace one.
WITH runs AS (
  SELECT
    regexp_extract(key, '^dt=[0-9]{4}-[0-9]{2}-[0-9]{2}/([0-9]{12})/([a-z0-9-]+)/([A-Za-z0-9-]{1,63})/[^/]+\.json$', 1) AS account,
    regexp_extract(key, '^dt=[0-9]{4}-[0-9]{2}-[0-9]{2}/([0-9]{12})/([a-z0-9-]+)/([A-Za-z0-9-]{1,63})/[^/]+\.json$', 2) AS region,
    regexp_extract(key, '^dt=[0-9]{4}-[0-9]{2}-[0-9]{2}/([0-9]{12})/([a-z0-9-]+)/([A-Za-z0-9-]{1,63})/[^/]+\.json$', 3) AS notebook,
    started_at,
    CASE WHEN regexp_like(exit_code, '^[0-9]{1,3}$') THEN try_cast(exit_code AS integer) END AS exit_code
  FROM (
    SELECT
      substr("$path", length('s3://${ReportBucket}/${ReportPrefix}/history/') + 1) AS key,
      dt,
      started_at,
      exit_code
    FROM report_history
    WHERE starts_with("$path", 's3://${ReportBucket}/${ReportPrefix}/history/')
      AND dt >= date_format(current_timestamp AT TIME ZONE 'UTC' - INTERVAL '90' DAY, '%Y-%m-%d')
  )
  WHERE regexp_like(key, '^dt=[0-9]{4}-[0-9]{2}-[0-9]{2}/([0-9]{12})/([a-z0-9-]+)/([A-Za-z0-9-]{1,63})/[^/]+\.json$')
    AND starts_with(key, 'dt=' || dt || '/')
    AND regexp_like(started_at, '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$')
    AND substr(started_at, 1, 10) = dt
    AND substr(started_at, 1, 19) <= date_format(current_timestamp AT TIME ZONE 'UTC' + INTERVAL '5' MINUTE, '%Y-%m-%dT%H:%i:%s')
),
notebooks AS (
  SELECT
    account,
    region,
    notebook,
    max(started_at) AS last_run,
    max(CASE WHEN exit_code = 0 THEN started_at END) AS last_pass
  FROM runs
  WHERE exit_code IS NOT NULL
  GROUP BY account, region, notebook
)
SELECT r.account, r.region, r.notebook, min(r.started_at) AS failing_since, n.last_run
FROM runs r
JOIN notebooks n ON r.account = n.account AND r.region = n.region AND r.notebook = n.notebook
WHERE r.exit_code <> 0 AND (n.last_pass IS NULL OR r.started_at > n.last_pass)
GROUP BY r.account, r.region, r.notebook, n.last_run
HAVING max(r.started_at) = n.last_run
ORDER BY r.notebook, r.account, r.region
