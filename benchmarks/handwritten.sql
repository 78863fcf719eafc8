-- The limit of the transformation figure: fct_partner_months and rpt_partner_reconciliation
-- computed straight from the raw tables, as one would write it by hand in DuckDB, with the
-- definitions of docs/metrics.md as the dbt models implement them (benchmarks/harness.py
-- compares the result with dbt's, column by column).
--
-- Run with `SET VARIABLE as_of = DATE 'YYYY-MM-DD'` first. Constants are the dbt vars of
-- dbt_project.yml: tolerance 2% or 50 USD, reports due on day 10 of the next month,
-- anomalies at a robust z of 3 with at least 6 of the 12 trailing months.
--
-- Only what is used twice becomes a temp table; everything else is a CTE. Currency rates
-- are looked up with an ASOF join on the monthly rates (carried forward) instead of a
-- month-by-currency calendar.

CREATE SCHEMA IF NOT EXISTS handwritten;

-- Monthly USD rates: the last rate effective in each month, carried forward by ASOF joins.
CREATE OR REPLACE TEMP TABLE _rates AS
SELECT currency_code, rate_month_start, usd_per_unit
FROM (
    SELECT
        upper(trim(c.symbol)) AS currency_code,
        CAST(date_trunc('month', r.effectivedate) AS DATE) AS rate_month_start,
        r.exchangerate AS usd_per_unit,
        row_number() OVER (
            PARTITION BY upper(trim(c.symbol)), date_trunc('month', r.effectivedate)
            ORDER BY r.effectivedate DESC, r.id DESC
        ) AS rn
    FROM raw_erp.currencyrate r
    JOIN raw_erp.currency c ON r.transactioncurrency = c.id
    WHERE upper(trim(c.symbol)) <> 'USD'
        AND r.exchangerate IS NOT NULL
        AND r.effectivedate IS NOT NULL
)
WHERE rn = 1;

-- Things converted to USD at a month's rate: (key, currency, month, amount) -> amount_usd.
CREATE OR REPLACE TEMP MACRO usd_rate(currency_code, month_start, asof_rate) AS
    CASE
        WHEN month_start IS NULL OR currency_code IS NULL THEN NULL
        WHEN currency_code = 'USD' THEN 1.0
        ELSE asof_rate
    END;

-- CRM partner per ERP partner id (the earliest partner Account naming it).
CREATE OR REPLACE TEMP TABLE _partner_map AS
SELECT erp_partner_id, partner_id
FROM (
    SELECT
        CAST(nullif(trim(erp_partner_id__c), '') AS BIGINT) AS erp_partner_id,
        id AS partner_id,
        row_number() OVER (
            PARTITION BY CAST(nullif(trim(erp_partner_id__c), '') AS BIGINT)
            ORDER BY partner_since__c, createddate, id
        ) AS rn
    FROM raw_crm.account
    WHERE coalesce(ispartner, false)
        AND NOT coalesce(isdeleted, false)
        AND nullif(trim(erp_partner_id__c), '') IS NOT NULL
)
WHERE rn = 1;

-- The partner-month spine: from the partner's first month to today's month (or the month
-- it was terminated).
CREATE OR REPLACE TEMP TABLE _spine AS
WITH partners AS (
    SELECT
        id AS partner_id,
        CAST(date_trunc('month', coalesce(partner_since__c, CAST(createddate AS DATE))) AS DATE)
            AS first_month_start,
        CAST(date_trunc('month', terminated_on__c) AS DATE) AS termination_month_start
    FROM raw_crm.account
    WHERE coalesce(ispartner, false) AND NOT coalesce(isdeleted, false)
),
bounded AS (
    SELECT
        *,
        CASE
            WHEN termination_month_start IS NOT NULL
                AND termination_month_start < date_trunc('month', getvariable('as_of'))
                THEN termination_month_start
            ELSE CAST(date_trunc('month', getvariable('as_of')) AS DATE)
        END AS last_month_start
    FROM partners
    WHERE first_month_start IS NOT NULL
)
SELECT
    partner_id,
    CAST(m AS DATE) AS month_start,
    CAST(m + INTERVAL 1 MONTH - INTERVAL 1 DAY AS DATE) AS month_end_date
FROM bounded, unnest(generate_series(first_month_start, last_month_start, INTERVAL 1 MONTH)) AS t(m)
WHERE first_month_start <= last_month_start;

-- ERP sales (invoices and credit memos, not voided; item lines only) per CRM partner-month.
CREATE OR REPLACE TEMP TABLE _erp_sales AS
WITH lines AS (
    SELECT
        t.partner AS erp_partner_id,
        CAST(date_trunc('month', t.trandate) AS DATE) AS month_start,
        l.item AS item_id,
        CASE t.type WHEN 'CustCred' THEN -1 ELSE 1 END AS sign,
        l.netamount,
        l.quantity,
        CASE
            WHEN t.exchangerate IS NULL AND upper(trim(c.symbol)) = 'USD' THEN 1
            ELSE t.exchangerate
        END AS usd_per_unit
    FROM raw_erp.transactionline l
    JOIN raw_erp.transaction t ON l."transaction" = t.id
    LEFT JOIN raw_erp.currency c ON t.currency = c.id
    WHERE t.type IN ('CustInvc', 'CustCred')
        AND NOT coalesce(lower(trim(t.status)) = 'voided', false)
        AND l.mainline = false
        AND l.taxline = false
),
item_months AS (
    SELECT
        erp_partner_id,
        item_id,
        month_start,
        sum(sign * netamount * usd_per_unit) AS sales_usd,
        sum(sign * quantity) AS units
    FROM lines
    GROUP BY ALL
)
SELECT
    pm.partner_id,
    im.month_start,
    sum(im.sales_usd) AS sales_volume_usd,
    sum(im.units) AS units_sold,
    sum(im.units * coalesce(i.cost, 0)) AS cost_of_goods_usd,
    sum(im.sales_usd - im.units * coalesce(i.cost, 0)) AS gross_margin_usd
FROM item_months im
JOIN _partner_map pm ON im.erp_partner_id = pm.erp_partner_id
LEFT JOIN raw_erp.item i ON im.item_id = i.id
GROUP BY ALL;

-- Sales per spine month with the trailing-12-month robust z-score.
CREATE OR REPLACE TEMP TABLE _sales AS
WITH monthly AS (
    SELECT
        s.partner_id,
        s.month_start,
        coalesce(e.sales_volume_usd, 0) AS sales_volume_usd,
        coalesce(e.units_sold, 0) AS units_sold,
        coalesce(e.gross_margin_usd, 0) AS gross_margin_usd
    FROM _spine s
    LEFT JOIN _erp_sales e USING (partner_id, month_start)
),
windowed AS (
    SELECT
        *,
        lag(sales_volume_usd, 1) OVER w AS previous_month_sales_volume_usd,
        lag(sales_volume_usd, 12) OVER w AS year_ago_sales_volume_usd,
        list(sales_volume_usd) OVER (w ROWS BETWEEN 12 PRECEDING AND 1 PRECEDING) AS trailing_sales
    FROM monthly
    WINDOW w AS (PARTITION BY partner_id ORDER BY month_start)
),
medians AS (
    SELECT
        *,
        len(trailing_sales) AS trailing_month_count,
        list_aggregate(trailing_sales, 'median') AS trailing_median_usd
    FROM windowed
),
mads AS (
    SELECT
        *,
        list_aggregate(
            list_transform(trailing_sales, lambda x: abs(x - trailing_median_usd)), 'median'
        ) AS trailing_mad_usd
    FROM medians
)
SELECT
    partner_id,
    month_start,
    sales_volume_usd,
    units_sold,
    gross_margin_usd,
    previous_month_sales_volume_usd,
    year_ago_sales_volume_usd,
    CASE
        WHEN trailing_month_count >= 6 AND round(trailing_mad_usd, 2) <> 0
            THEN (sales_volume_usd - trailing_median_usd) / (1.4826 * trailing_mad_usd)
    END AS sales_volume_robust_z
FROM mads;

-- Each partner-month's effective report: the latest revision that is neither withdrawn,
-- nor a POS file superseded by an API report of the same revision, nor a duplicate.
CREATE OR REPLACE TEMP TABLE _reports AS
WITH api_headers AS (
    SELECT
        'api' AS report_source,
        id AS report_id,
        partner_id,
        CAST(period || '-01' AS DATE) AS month_start,
        revision,
        coalesce(lower(trim(status)) = 'withdrawn', false) AS is_withdrawn,
        coalesce(updated_at, submitted_at) AS received_at,
        upper(trim(currency)) AS currency_code
    FROM raw_portal.sales_reports
),
pos_headers AS (
    SELECT
        'pos' AS report_source,
        file_name AS report_id,
        partner_id,
        CAST(period || '-01' AS DATE) AS month_start,
        coalesce(revision, 1) AS revision,
        false AS is_withdrawn,
        file_modified_at AS received_at
    FROM raw_portal.pos_files
    WHERE coalesce(lower(trim(status)) = 'loaded', false)
),
lines AS (
    SELECT 'api' AS report_source, h.report_id, h.month_start, h.currency_code, l.amount
    FROM raw_portal.sales_report_lines l
    JOIN api_headers h ON l.report_id = h.report_id
    UNION ALL
    SELECT 'pos', h.report_id, h.month_start, upper(trim(l.currency)), l.amount
    FROM raw_portal.pos_report_lines l
    JOIN pos_headers h ON l.file_name = h.report_id
),
converted AS (
    SELECT
        report_source,
        report_id,
        amount,
        usd_rate(lines.currency_code, lines.month_start, r.usd_per_unit) AS usd_per_unit
    FROM lines
    ASOF LEFT JOIN _rates r
        ON lines.currency_code = r.currency_code AND lines.month_start >= r.rate_month_start
),
totals AS (
    SELECT
        report_source,
        report_id,
        CASE
            WHEN count(*) FILTER (WHERE amount IS NOT NULL AND usd_per_unit IS NULL) > 0 THEN NULL
            ELSE coalesce(sum(amount * usd_per_unit), 0)
        END AS reported_sales_usd
    FROM converted
    GROUP BY ALL
),
headers AS (
    SELECT report_source, report_id, partner_id, month_start, revision, is_withdrawn, received_at
    FROM api_headers
    UNION ALL
    SELECT * FROM pos_headers
),
ranked AS (
    SELECT
        h.*,
        h.report_source = 'pos' AND EXISTS (
            SELECT 1 FROM api_headers a
            WHERE a.partner_id = h.partner_id
                AND a.month_start = h.month_start
                AND a.revision = h.revision
        ) AS is_superseded_by_api,
        row_number() OVER (
            PARTITION BY h.partner_id, h.month_start, h.revision, h.report_source
            ORDER BY h.received_at DESC NULLS LAST, h.report_id DESC
        ) AS rank_within_revision
    FROM headers h
)
SELECT
    r.partner_id,
    r.month_start,
    r.revision,
    r.report_source,
    coalesce(t.reported_sales_usd, 0) AS reported_sales_usd,
    t.report_id IS NOT NULL AND t.reported_sales_usd IS NULL AS is_unconverted
FROM ranked r
LEFT JOIN totals t USING (report_source, report_id)
WHERE NOT r.is_superseded_by_api
    AND r.rank_within_revision = 1
    AND NOT r.is_withdrawn
    AND r.partner_id IS NOT NULL
    AND r.month_start IS NOT NULL
    AND r.revision IS NOT NULL
QUALIFY row_number() OVER (PARTITION BY r.partner_id, r.month_start ORDER BY r.revision DESC) = 1;

-- Opportunities (not deleted): created and closed per partner-month, in USD at the rate of
-- the month of creation / of closing.
CREATE OR REPLACE TEMP TABLE _opportunities AS
WITH approved AS (
    SELECT id FROM raw_crm.deal_registration
    WHERE status__c = 'Approved' AND NOT coalesce(isdeleted, false)
),
opps AS (
    SELECT
        o.partneraccountid AS partner_id,
        upper(trim(o.currencyisocode)) AS currency_code,
        o.amount,
        coalesce(o.isclosed, false) AND coalesce(o.iswon, false) AS is_closed_won,
        coalesce(o.isclosed, false) AND NOT coalesce(o.iswon, false) AS is_closed_lost,
        coalesce(o.isclosed, false) AS is_closed,
        coalesce(o.partner_role__c = 'Sourced', false) OR a.id IS NOT NULL AS is_partner_sourced,
        CAST(date_trunc('month', o.createddate) AS DATE) AS created_month_start,
        CAST(date_trunc('month', o.closedate) AS DATE) AS close_month_start,
        date_diff('day', CAST(CAST(o.createddate AS DATE) AS TIMESTAMP), CAST(o.closedate AS TIMESTAMP))
            AS days_to_close
    FROM raw_crm.opportunity o
    LEFT JOIN approved a ON o.deal_registration__c = a.id
    WHERE NOT coalesce(o.isdeleted, false) AND o.partneraccountid IS NOT NULL
),
at_creation AS (
    SELECT opps.*, usd_rate(opps.currency_code, opps.created_month_start, r.usd_per_unit) AS rate
    FROM opps
    ASOF LEFT JOIN _rates r
        ON opps.currency_code = r.currency_code AND opps.created_month_start >= r.rate_month_start
),
at_close AS (
    SELECT opps.*, opps.amount * usd_rate(opps.currency_code, opps.close_month_start, r.usd_per_unit)
        AS amount_usd
    FROM opps
    ASOF LEFT JOIN _rates r
        ON opps.currency_code = r.currency_code AND opps.close_month_start >= r.rate_month_start
    WHERE opps.is_closed AND opps.close_month_start IS NOT NULL
),
created AS (
    SELECT
        partner_id,
        created_month_start AS month_start,
        count(*) AS opportunities_created,
        sum(amount * rate) AS pipeline_created_usd
    FROM at_creation
    WHERE created_month_start IS NOT NULL
    GROUP BY ALL
),
closed AS (
    SELECT
        partner_id,
        close_month_start AS month_start,
        count(*) FILTER (WHERE is_closed_won) AS opportunities_won,
        count(*) FILTER (WHERE is_closed_lost) AS opportunities_lost,
        sum(amount_usd) FILTER (WHERE is_closed_won AND is_partner_sourced)
            AS partner_sourced_revenue_usd,
        sum(amount_usd) FILTER (WHERE is_closed_won AND NOT is_partner_sourced)
            AS partner_influenced_revenue_usd,
        sum(amount_usd) FILTER (WHERE is_closed_won) AS won_amount_usd_sum,
        count(amount_usd) FILTER (WHERE is_closed_won) AS won_amount_count,
        sum(days_to_close) FILTER (WHERE is_closed_won) AS won_days_to_close_sum,
        count(days_to_close) FILTER (WHERE is_closed_won) AS won_days_to_close_count
    FROM at_close
    GROUP BY ALL
)
SELECT
    partner_id,
    month_start,
    coalesce(created.opportunities_created, 0) AS opportunities_created,
    coalesce(created.pipeline_created_usd, 0) AS pipeline_created_usd,
    coalesce(closed.opportunities_won, 0) AS opportunities_won,
    coalesce(closed.opportunities_lost, 0) AS opportunities_lost,
    coalesce(closed.partner_sourced_revenue_usd, 0) AS partner_sourced_revenue_usd,
    coalesce(closed.partner_influenced_revenue_usd, 0) AS partner_influenced_revenue_usd,
    coalesce(closed.won_amount_usd_sum, 0) AS won_amount_usd_sum,
    coalesce(closed.won_amount_count, 0) AS won_amount_count,
    coalesce(closed.won_days_to_close_sum, 0) AS won_days_to_close_sum,
    coalesce(closed.won_days_to_close_count, 0) AS won_days_to_close_count
FROM created
FULL OUTER JOIN closed USING (partner_id, month_start);

-- Leads, deal registrations, MDF, asset usage: events per partner-month.
CREATE OR REPLACE TEMP TABLE _activity AS
WITH leads AS (
    SELECT partneraccountid AS partner_id, createddate, mql_date__c, sql_date__c
    FROM raw_crm.lead
    WHERE NOT coalesce(isdeleted, false) AND partneraccountid IS NOT NULL
),
lead_events AS (
    SELECT partner_id, CAST(date_trunc('month', createddate) AS DATE) AS month_start,
        1 AS leads_created, 0 AS mqls, 0 AS sqls
    FROM leads WHERE createddate IS NOT NULL
    UNION ALL
    SELECT partner_id, CAST(date_trunc('month', mql_date__c) AS DATE), 0, 1, 0
    FROM leads WHERE mql_date__c IS NOT NULL
    UNION ALL
    SELECT partner_id, CAST(date_trunc('month', sql_date__c) AS DATE), 0, 0, 1
    FROM leads WHERE sql_date__c IS NOT NULL
),
deal_regs AS (
    SELECT
        d.partner_account__c AS partner_id,
        d.status__c AS status,
        CAST(date_trunc('month', d.submitted_date__c) AS DATE) AS submitted_month_start,
        CAST(date_trunc('month', d.decision_date__c) AS DATE) AS decision_month_start,
        d.estimated_amount__c
            * usd_rate(upper(trim(d.currencyisocode)), date_trunc('month', d.submitted_date__c), r.usd_per_unit)
            AS estimated_amount_usd
    FROM raw_crm.deal_registration d
    ASOF LEFT JOIN _rates r
        ON upper(trim(d.currencyisocode)) = r.currency_code
        AND CAST(date_trunc('month', d.submitted_date__c) AS DATE) >= r.rate_month_start
    WHERE NOT coalesce(d.isdeleted, false) AND d.partner_account__c IS NOT NULL
),
deal_reg_events AS (
    SELECT partner_id, submitted_month_start AS month_start, 1 AS deal_regs_submitted,
        estimated_amount_usd AS deal_reg_value_submitted_usd, 0 AS deal_regs_approved,
        0 AS deal_regs_rejected
    FROM deal_regs WHERE submitted_month_start IS NOT NULL
    UNION ALL
    SELECT partner_id, decision_month_start, 0, NULL,
        CASE WHEN status = 'Approved' THEN 1 ELSE 0 END,
        CASE WHEN status = 'Rejected' THEN 1 ELSE 0 END
    FROM deal_regs
    WHERE decision_month_start IS NOT NULL AND status IN ('Approved', 'Rejected')
),
claims AS (
    SELECT
        partner_id,
        upper(trim(currency)) AS currency_code,
        lower(trim(status)) AS status,
        requested_amount,
        approved_amount,
        CAST(date_trunc('month', submitted_on) AS DATE) AS submitted_month_start,
        CAST(date_trunc('month', decided_on) AS DATE) AS decided_month_start
    FROM raw_portal.mdf_claims
    WHERE partner_id IS NOT NULL
),
payments AS (
    SELECT
        pm.partner_id,
        p.custrecord_mdf_amount AS amount,
        CAST(date_trunc('month', p.custrecord_mdf_paid_date) AS DATE) AS paid_month_start,
        CASE WHEN p.custrecord_mdf_currency IS NULL THEN 'USD' ELSE upper(trim(c.symbol)) END
            AS currency_code
    FROM raw_erp.customrecord_mdf_payment p
    LEFT JOIN raw_erp.currency c ON p.custrecord_mdf_currency = c.id
    JOIN _partner_map pm ON p.custrecord_mdf_partner = pm.erp_partner_id
    WHERE p.custrecord_mdf_paid_date IS NOT NULL
),
mdf_events AS (
    SELECT claims.partner_id, submitted_month_start AS month_start, 1 AS mdf_claims_submitted,
        requested_amount * usd_rate(claims.currency_code, submitted_month_start, r.usd_per_unit)
            AS mdf_requested_usd,
        0 AS mdf_claims_approved, 0 AS mdf_claims_denied, NULL::DOUBLE AS mdf_approved_usd,
        NULL::DOUBLE AS mdf_paid_usd
    FROM claims
    ASOF LEFT JOIN _rates r
        ON claims.currency_code = r.currency_code AND submitted_month_start >= r.rate_month_start
    WHERE submitted_month_start IS NOT NULL
    UNION ALL
    SELECT claims.partner_id, decided_month_start, 0, NULL,
        CASE WHEN status IN ('approved', 'paid') THEN 1 ELSE 0 END,
        CASE WHEN status = 'denied' THEN 1 ELSE 0 END,
        CASE WHEN status IN ('approved', 'paid') THEN
            approved_amount * usd_rate(claims.currency_code, decided_month_start, r.usd_per_unit)
        END,
        NULL
    FROM claims
    ASOF LEFT JOIN _rates r
        ON claims.currency_code = r.currency_code AND decided_month_start >= r.rate_month_start
    WHERE decided_month_start IS NOT NULL AND status IN ('approved', 'paid', 'denied')
    UNION ALL
    SELECT payments.partner_id, paid_month_start, 0, NULL, 0, 0, NULL,
        amount * usd_rate(payments.currency_code, paid_month_start, r.usd_per_unit)
    FROM payments
    ASOF LEFT JOIN _rates r
        ON payments.currency_code = r.currency_code AND paid_month_start >= r.rate_month_start
),
asset_events AS (
    SELECT
        partner_id,
        CAST(date_trunc('month', occurred_at) AS DATE) AS month_start,
        count(*) FILTER (WHERE lower(trim(action)) = 'download') AS asset_downloads,
        count(*) FILTER (WHERE lower(trim(action)) = 'share') AS asset_shares,
        count(*) FILTER (WHERE lower(trim(action)) = 'cobrand') AS asset_cobrands
    FROM raw_portal.asset_usage
    WHERE partner_id IS NOT NULL AND occurred_at IS NOT NULL
    GROUP BY ALL
),
keys AS (
    SELECT partner_id, month_start FROM lead_events
    UNION SELECT partner_id, month_start FROM deal_reg_events
    UNION SELECT partner_id, month_start FROM mdf_events
    UNION SELECT partner_id, month_start FROM asset_events
),
l AS (
    SELECT partner_id, month_start, sum(leads_created) AS leads_created, sum(mqls) AS mqls,
        sum(sqls) AS sqls
    FROM lead_events GROUP BY ALL
),
d AS (
    SELECT partner_id, month_start, sum(deal_regs_submitted) AS deal_regs_submitted,
        coalesce(sum(deal_reg_value_submitted_usd), 0) AS deal_reg_value_submitted_usd,
        sum(deal_regs_approved) AS deal_regs_approved, sum(deal_regs_rejected) AS deal_regs_rejected
    FROM deal_reg_events GROUP BY ALL
),
m AS (
    SELECT partner_id, month_start, sum(mdf_claims_submitted) AS mdf_claims_submitted,
        coalesce(sum(mdf_requested_usd), 0) AS mdf_requested_usd,
        sum(mdf_claims_approved) AS mdf_claims_approved, sum(mdf_claims_denied) AS mdf_claims_denied,
        coalesce(sum(mdf_approved_usd), 0) AS mdf_approved_usd,
        coalesce(sum(mdf_paid_usd), 0) AS mdf_paid_usd
    FROM mdf_events GROUP BY ALL
)
SELECT
    keys.partner_id,
    keys.month_start,
    l.leads_created, l.mqls, l.sqls,
    d.deal_regs_submitted, d.deal_reg_value_submitted_usd, d.deal_regs_approved, d.deal_regs_rejected,
    m.mdf_claims_submitted, m.mdf_requested_usd, m.mdf_claims_approved, m.mdf_claims_denied,
    m.mdf_approved_usd, m.mdf_paid_usd,
    a.asset_downloads, a.asset_shares, a.asset_cobrands
FROM keys
LEFT JOIN l USING (partner_id, month_start)
LEFT JOIN d USING (partner_id, month_start)
LEFT JOIN m USING (partner_id, month_start)
LEFT JOIN asset_events a USING (partner_id, month_start);

-- Trainings as of each spine month's end.
CREATE OR REPLACE TEMP TABLE _trainings AS
SELECT
    s.partner_id,
    s.month_start,
    count(*) FILTER (WHERE t.completed_on BETWEEN s.month_start AND s.month_end_date)
        AS courses_completed,
    count(*) FILTER (
        WHERE coalesce(t.is_certification, false) AND coalesce(t.passed, false)
            AND t.completed_on BETWEEN s.month_start AND s.month_end_date
    ) AS certifications_earned,
    count(*) FILTER (
        WHERE coalesce(t.is_certification, false) AND coalesce(t.passed, false)
            AND t.completed_on <= s.month_end_date
            AND (t.expires_on IS NULL OR t.expires_on > s.month_end_date)
    ) AS active_certifications,
    count(*) FILTER (
        WHERE t.due_on <= s.month_end_date
            AND (t.completed_on IS NULL OR t.completed_on > s.month_end_date)
    ) AS overdue_trainings
FROM _spine s
JOIN raw_portal.trainings t ON s.partner_id = t.partner_id
GROUP BY ALL;

-- The latest business plan of each partner-quarter, its revenue target in USD.
CREATE OR REPLACE TEMP TABLE _plans AS
WITH plans AS (
    SELECT
        partner_id,
        CAST(split_part(period, '-', 1) || CASE split_part(period, '-', 2)
            WHEN 'Q1' THEN '-01-01' WHEN 'Q2' THEN '-04-01'
            WHEN 'Q3' THEN '-07-01' WHEN 'Q4' THEN '-10-01' END AS DATE) AS quarter_start_date,
        upper(trim(currency)) AS currency_code,
        revenue_target
    FROM raw_portal.business_plans
    WHERE partner_id IS NOT NULL
    QUALIFY quarter_start_date IS NOT NULL AND row_number() OVER (
        PARTITION BY partner_id, quarter_start_date ORDER BY updated_at DESC NULLS LAST, id DESC
    ) = 1
)
SELECT
    plans.partner_id,
    plans.quarter_start_date,
    revenue_target * usd_rate(plans.currency_code, quarter_start_date, r.usd_per_unit)
        AS revenue_target_usd
FROM plans
ASOF LEFT JOIN _rates r
    ON plans.currency_code = r.currency_code AND plans.quarter_start_date >= r.rate_month_start;

CREATE OR REPLACE TABLE handwritten.fct_partner_months AS
SELECT
    s.partner_id,
    s.month_start,
    s.sales_volume_usd,
    s.units_sold,
    s.gross_margin_usd,
    CASE WHEN round(s.previous_month_sales_volume_usd, 2) <> 0
        THEN s.sales_volume_usd / s.previous_month_sales_volume_usd END - 1 AS sales_volume_mom_pct,
    CASE WHEN round(s.year_ago_sales_volume_usd, 2) <> 0
        THEN s.sales_volume_usd / s.year_ago_sales_volume_usd END - 1 AS sales_volume_yoy_pct,
    s.sales_volume_robust_z,
    coalesce(abs(s.sales_volume_robust_z) > 3, false) AS is_sales_anomaly,
    CASE WHEN NOT r.is_unconverted THEN r.reported_sales_usd END AS reported_sales_usd,
    r.revision AS effective_report_revision,
    r.report_source AS effective_report_source,
    coalesce(o.partner_sourced_revenue_usd, 0) AS partner_sourced_revenue_usd,
    coalesce(o.partner_influenced_revenue_usd, 0) AS partner_influenced_revenue_usd,
    coalesce(o.partner_sourced_revenue_usd, 0) + coalesce(o.partner_influenced_revenue_usd, 0)
        AS partner_led_revenue_usd,
    coalesce(o.pipeline_created_usd, 0) AS pipeline_created_usd,
    CAST(coalesce(o.opportunities_created, 0) AS BIGINT) AS opportunities_created,
    CAST(coalesce(o.opportunities_won, 0) AS BIGINT) AS opportunities_won,
    CAST(coalesce(o.opportunities_lost, 0) AS BIGINT) AS opportunities_lost,
    CASE WHEN o.opportunities_won + o.opportunities_lost <> 0
        THEN CAST(o.opportunities_won AS DOUBLE) / (o.opportunities_won + o.opportunities_lost)
    END AS win_rate,
    CASE WHEN o.won_amount_count <> 0 THEN o.won_amount_usd_sum / o.won_amount_count END
        AS avg_won_deal_usd,
    CASE WHEN o.won_days_to_close_count <> 0
        THEN CAST(o.won_days_to_close_sum AS DOUBLE) / o.won_days_to_close_count
    END AS avg_days_to_close,
    CAST(coalesce(a.leads_created, 0) AS BIGINT) AS leads_created,
    CAST(coalesce(a.mqls, 0) AS BIGINT) AS mqls,
    CAST(coalesce(a.sqls, 0) AS BIGINT) AS sqls,
    CAST(coalesce(a.deal_regs_submitted, 0) AS BIGINT) AS deal_regs_submitted,
    coalesce(a.deal_reg_value_submitted_usd, 0) AS deal_reg_value_submitted_usd,
    CAST(coalesce(a.deal_regs_approved, 0) AS BIGINT) AS deal_regs_approved,
    CAST(coalesce(a.deal_regs_rejected, 0) AS BIGINT) AS deal_regs_rejected,
    CAST(coalesce(a.mdf_claims_submitted, 0) AS BIGINT) AS mdf_claims_submitted,
    coalesce(a.mdf_requested_usd, 0) AS mdf_requested_usd,
    CAST(coalesce(a.mdf_claims_approved, 0) AS BIGINT) AS mdf_claims_approved,
    CAST(coalesce(a.mdf_claims_denied, 0) AS BIGINT) AS mdf_claims_denied,
    coalesce(a.mdf_approved_usd, 0) AS mdf_approved_usd,
    coalesce(a.mdf_paid_usd, 0) AS mdf_paid_usd,
    CAST(coalesce(t.courses_completed, 0) AS BIGINT) AS courses_completed,
    CAST(coalesce(t.certifications_earned, 0) AS BIGINT) AS certifications_earned,
    CAST(coalesce(t.active_certifications, 0) AS BIGINT) AS active_certifications,
    CAST(coalesce(t.overdue_trainings, 0) AS BIGINT) AS overdue_trainings,
    CAST(coalesce(a.asset_downloads, 0) AS BIGINT) AS asset_downloads,
    CAST(coalesce(a.asset_shares, 0) AS BIGINT) AS asset_shares,
    CAST(coalesce(a.asset_cobrands, 0) AS BIGINT) AS asset_cobrands,
    p.revenue_target_usd / 3 AS revenue_target_usd,
    CASE WHEN round(p.revenue_target_usd / 3, 2) <> 0
        THEN s.sales_volume_usd / (p.revenue_target_usd / 3) END AS revenue_attainment
FROM _sales s
LEFT JOIN _trainings t USING (partner_id, month_start)
LEFT JOIN _reports r USING (partner_id, month_start)
LEFT JOIN _opportunities o USING (partner_id, month_start)
LEFT JOIN _activity a USING (partner_id, month_start)
LEFT JOIN _plans p
    ON s.partner_id = p.partner_id
    AND s.month_start >= p.quarter_start_date
    AND s.month_start < p.quarter_start_date + INTERVAL 3 MONTH;

CREATE OR REPLACE TABLE handwritten.rpt_partner_reconciliation AS
WITH amounts AS (
    SELECT
        partner_id,
        month_start,
        sales_volume_usd AS erp_sales_usd,
        reported_sales_usd,
        coalesce(reported_sales_usd, 0) AS reported_or_zero_usd,
        reported_sales_usd IS NOT NULL AS has_effective_report,
        effective_report_revision,
        CAST(month_start + INTERVAL 1 MONTH + INTERVAL 9 DAY AS DATE) AS report_due_date
    FROM handwritten.fct_partner_months
),
neighbours AS (
    SELECT
        *,
        reported_or_zero_usd - erp_sales_usd AS variance_usd,
        lag(erp_sales_usd) OVER w AS previous_erp_sales_usd,
        lag(reported_or_zero_usd) OVER w AS previous_reported_or_zero_usd,
        lead(erp_sales_usd) OVER w AS next_erp_sales_usd,
        lead(reported_or_zero_usd) OVER w AS next_reported_or_zero_usd
    FROM amounts
    WINDOW w AS (PARTITION BY partner_id ORDER BY month_start)
),
tested AS (
    SELECT
        *,
        CASE WHEN round(erp_sales_usd, 2) <> 0 THEN variance_usd / erp_sales_usd END AS variance_pct,
        getvariable('as_of') > report_due_date AS is_report_due,
        round(abs(variance_usd), 2) <= 50
            OR (round(erp_sales_usd, 2) <> 0 AND round(abs(variance_usd), 2) <= 0.02 * abs(erp_sales_usd))
            AS is_within_tolerance,
        coalesce(
            round(abs((reported_or_zero_usd + previous_reported_or_zero_usd)
                - (erp_sales_usd + previous_erp_sales_usd)), 2) <= 50
            OR (round(erp_sales_usd + previous_erp_sales_usd, 2) <> 0
                AND round(abs((reported_or_zero_usd + previous_reported_or_zero_usd)
                    - (erp_sales_usd + previous_erp_sales_usd)), 2)
                    <= 0.02 * abs(erp_sales_usd + previous_erp_sales_usd)),
            false
        ) AS is_within_tolerance_with_previous_month,
        coalesce(
            round(abs((reported_or_zero_usd + next_reported_or_zero_usd)
                - (erp_sales_usd + next_erp_sales_usd)), 2) <= 50
            OR (round(erp_sales_usd + next_erp_sales_usd, 2) <> 0
                AND round(abs((reported_or_zero_usd + next_reported_or_zero_usd)
                    - (erp_sales_usd + next_erp_sales_usd)), 2)
                    <= 0.02 * abs(erp_sales_usd + next_erp_sales_usd)),
            false
        ) AS is_within_tolerance_with_next_month
    FROM neighbours
)
SELECT
    partner_id,
    month_start,
    erp_sales_usd,
    reported_sales_usd,
    variance_usd,
    variance_pct,
    has_effective_report,
    effective_report_revision,
    report_due_date,
    is_report_due,
    is_within_tolerance,
    is_within_tolerance_with_previous_month,
    is_within_tolerance_with_next_month,
    CASE
        WHEN NOT has_effective_report THEN
            CASE
                WHEN round(erp_sales_usd, 2) = 0 THEN 'no_activity'
                WHEN is_report_due THEN 'missing_report'
                ELSE 'awaiting_report'
            END
        WHEN is_within_tolerance THEN 'matched'
        WHEN is_within_tolerance_with_previous_month OR is_within_tolerance_with_next_month
            THEN 'timing_difference'
        WHEN round(erp_sales_usd, 2) = 0 THEN 'no_erp_sales'
        WHEN variance_usd > 0 THEN 'over_reported'
        ELSE 'under_reported'
    END AS status
FROM tested;
