-- nbwarden: notebooks not compliant now.
-- Each notebook whose latest run failed (exit code 1 or 3), or whose latest
-- record cannot be read or is more than one record. The account, region and
-- notebook come from the record's key, which only that notebook's role may
-- write (s3://${ReportBucket}/${ReportPrefix}/latest/ACCOUNT/REGION/NOTEBOOK.json),
-- never from what the record says.
WITH records AS (
  SELECT
    substr("$path", length('s3://${ReportBucket}/${ReportPrefix}/latest/') + 1) AS key,
    exit_code,
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
)
SELECT DISTINCT account, region, notebook, exit_code, failing, failing_since, finished_at, problem
FROM judged
WHERE exit_code <> 0
ORDER BY notebook, account, region
