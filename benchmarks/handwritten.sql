-- The limit of the transformation figure and the transformation stage of the data floor:
-- every mart of dbt_project/models/marts computed straight from the raw tables (raw_crm,
-- raw_erp, raw_portal) into schema `handwritten`, as one would write it by hand in
-- DuckDB, with the definitions of docs/metrics.md as the dbt models implement them
-- (benchmarks/compare.py checks every mart against dbt's, row by row and column by
-- column).
--
-- Run with `SET VARIABLE as_of = DATE 'YYYY-MM-DD'` first. Constants are the defaults of
-- the dbt vars in dbt_project.yml: tolerance 2% or 50 USD (units: 0 or 2%), reports due on
-- day 10 of the next month, anomalies at a robust z of 3 with at least 6 of the 12
-- trailing months, the scorecard's month the one before as_of's, its weights (sales 3,
-- the other eight measures 1) and tier thresholds.
--
-- Only what is used twice becomes a temp table; everything else is a CTE. Currency rates
-- are looked up with ASOF joins on the monthly rates (carried forward) instead of a
-- month-by-currency calendar.
--
-- History. dim_partner_tier_history (and dim_partners' tier_observed_since and
-- tier_changes_observed) cannot come from the raw tables alone: the CRM keeps no field
-- history, so dbt's snapshot snp_crm__partner_tiers records each tier as it sees it,
-- stamped with the time the snapshot ran, and keeps that record from build to build. A
-- hand-written pipeline has to keep the same state, so this script keeps its own
-- snapshot, handwritten.partner_tier_snapshot (created on first use, never replaced):
-- each run closes the versions whose tier changed and adds a version for every account
-- new or changed, stamped with `snapshot_at` (default: now). It reads no dbt table. The
-- stamp is an input like as_of: to compare with dbt's marts, the harness passes the time
-- dbt's snapshot ran, since a version's times and id (md5 of account id and stamp, as
-- dbt's) are that time.
--
-- Casts that dbt writes as dbt.safe_cast (ERP_Partner_Id__c as a number, a report's or a
-- plan's period as a date) are TRY_CAST here: NULL when malformed, as the models'
-- documentation says. (dbt-duckdb renders safe_cast as a plain CAST, which fails instead;
-- on the generated worlds every value is well formed, so both agree.)

CREATE SCHEMA IF NOT EXISTS handwritten;

-- The month the scorecard scores: the last closed month.
SET VARIABLE scorecard_month = CAST(date_trunc('month', getvariable('as_of')) - INTERVAL 1 MONTH AS DATE);
SET VARIABLE snapshot_at = coalesce(getvariable('snapshot_at'), CAST(now() AS TIMESTAMP));

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

-- The rate an ASOF join found, as the month's rate: USD is 1, an unknown month none.
CREATE OR REPLACE TEMP MACRO usd_rate(currency_code, month_start, asof_rate) AS
    CASE
        WHEN month_start IS NULL OR currency_code IS NULL THEN NULL
        WHEN currency_code = 'USD' THEN 1.0
        ELSE asof_rate
    END;

-- Money compares with zero and with tolerances on values rounded to cents; units exactly.
CREATE OR REPLACE TEMP MACRO safe_divide_usd(numerator, denominator) AS
    CASE WHEN round(denominator, 2) <> 0 THEN numerator / denominator END;
CREATE OR REPLACE TEMP MACRO within_usd_tolerance(variance, base) AS
    round(abs(variance), 2) <= 50
    OR (round(base, 2) <> 0 AND round(abs(variance), 2) <= 0.02 * abs(base));
CREATE OR REPLACE TEMP MACRO within_unit_tolerance(variance, base) AS
    abs(variance) <= 0 OR (base <> 0 AND abs(variance) <= 0.02 * abs(base));
CREATE OR REPLACE TEMP MACRO tier_rank(tier) AS
    CASE tier WHEN 'Platinum' THEN 4 WHEN 'Gold' THEN 3 WHEN 'Silver' THEN 2 WHEN 'Registered' THEN 1 END;

-- CRM accounts, typed once: partners, their ERP ids and their regions are read everywhere.
CREATE OR REPLACE TEMP TABLE _accounts AS
SELECT
    id AS account_id,
    TRY_CAST(nullif(trim(erp_partner_id__c), '') AS BIGINT) AS erp_partner_id,
    nullif(trim(erp_partner_id__c), '') AS erp_partner_id_raw,
    name AS account_name,
    billingcountry AS billing_country,
    region__c AS region,
    industry,
    partner_tier__c AS partner_tier,
    partner_type__c AS partner_type,
    specialization__c AS specialization,
    partner_status__c AS partner_status,
    recruitment_cost__c AS recruitment_cost_usd,
    -- A partner that counts: soft-deleted accounts count nowhere.
    coalesce(ispartner, false) AND NOT coalesce(isdeleted, false) AS is_partner,
    partner_since__c AS partner_since_date,
    terminated_on__c AS terminated_on_date,
    createddate AS created_at
FROM raw_crm.account;

-- CRM partner per ERP partner id (the earliest partner Account naming it), and how many
-- partners name it.
CREATE OR REPLACE TEMP TABLE _partner_map AS
SELECT erp_partner_id, partner_id, candidate_count
FROM (
    SELECT
        erp_partner_id,
        account_id AS partner_id,
        count(*) OVER (PARTITION BY erp_partner_id) AS candidate_count,
        row_number() OVER (
            PARTITION BY erp_partner_id ORDER BY partner_since_date, created_at, account_id
        ) AS rn
    FROM _accounts
    WHERE is_partner AND erp_partner_id IS NOT NULL
)
WHERE rn = 1;

-- Every ERP partner id the ERP knows or names, with its mapping (partner counts and
-- data-quality findings).
CREATE OR REPLACE TEMP TABLE _erp_partners AS
WITH referenced AS (
    SELECT id AS erp_partner_id FROM raw_erp.partner
    UNION
    SELECT partner FROM raw_erp.transaction WHERE partner IS NOT NULL
    UNION
    SELECT custrecord_mdf_partner FROM raw_erp.customrecord_mdf_payment
    WHERE custrecord_mdf_partner IS NOT NULL
)
SELECT
    r.erp_partner_id,
    m.partner_id,
    nullif(trim(p.externalid), '') AS external_account_id,
    coalesce(m.candidate_count, 0) AS crm_candidate_count,
    CASE
        WHEN m.partner_id IS NULL THEN 'unmapped'
        WHEN m.candidate_count > 1 THEN 'ambiguous'
        ELSE 'mapped'
    END AS mapping_status,
    coalesce(nullif(trim(p.externalid), '') <> m.partner_id, false) AS is_external_id_mismatch,
    p.id IS NOT NULL AS is_in_erp_partner_table
FROM referenced r
LEFT JOIN raw_erp.partner p ON r.erp_partner_id = p.id
LEFT JOIN _partner_map m ON r.erp_partner_id = m.erp_partner_id;

-- The partner-month spine: from the partner's first month to today's month (or the month
-- it was terminated).
CREATE OR REPLACE TEMP TABLE _spine AS
WITH bounded AS (
    SELECT
        account_id AS partner_id,
        CAST(date_trunc('month', coalesce(partner_since_date, CAST(created_at AS DATE))) AS DATE)
            AS first_month_start,
        CAST(date_trunc('month', terminated_on_date) AS DATE) AS termination_month_start
    FROM _accounts
    WHERE is_partner
)
SELECT
    partner_id,
    CAST(m AS DATE) AS month_start,
    last_day(CAST(m AS DATE)) AS month_end_date,
    CAST(m AS DATE) = first_month_start AS is_first_month,
    coalesce(CAST(m AS DATE) = termination_month_start, false) AS is_termination_month
FROM bounded,
    unnest(generate_series(
        first_month_start,
        CASE
            WHEN termination_month_start < date_trunc('month', getvariable('as_of'))
                THEN termination_month_start
            ELSE CAST(date_trunc('month', getvariable('as_of')) AS DATE)
        END,
        INTERVAL 1 MONTH
    )) AS t(m);

-- ERP sales lines (invoices and credit memos, not voided; item lines only) in USD at the
-- transaction's own rate, credit memos negative. A view: read by two statements, each
-- needing other rows.
CREATE OR REPLACE TEMP VIEW _sales_lines AS
SELECT
    l."transaction" AS transaction_id,
    t.partner AS erp_partner_id,
    l.item AS item_id,
    CAST(date_trunc('month', t.trandate) AS DATE) AS month_start,
    t.sign * l.netamount * t.usd_per_unit AS sales_usd,
    t.sign * l.quantity AS units
FROM raw_erp.transactionline l
JOIN (
    SELECT
        t.id,
        t.partner,
        t.trandate,
        CASE t.type WHEN 'CustCred' THEN -1 ELSE 1 END AS sign,
        CASE
            WHEN t.exchangerate IS NULL AND upper(trim(c.symbol)) = 'USD' THEN 1
            ELSE t.exchangerate
        END AS usd_per_unit
    FROM raw_erp.transaction t
    LEFT JOIN raw_erp.currency c ON t.currency = c.id
    WHERE t.type IN ('CustInvc', 'CustCred')
        AND NOT coalesce(lower(trim(t.status)) = 'voided', false)
) t ON l."transaction" = t.id
WHERE l.mainline = false AND l.taxline = false;

-- ... summed per ERP partner (NULL: direct sales), item and month.
CREATE OR REPLACE TEMP TABLE _erp_item_months AS
SELECT
    erp_partner_id,
    item_id,
    month_start,
    sum(sales_usd) AS sales_usd,
    sum(units) AS units,
    count(*) AS sales_line_count
FROM _sales_lines
GROUP BY ALL;

-- ... mapped to CRM partners, with SKU, product line and cost of goods at standard cost.
CREATE OR REPLACE TEMP TABLE _partner_item_months AS
SELECT
    m.partner_id,
    s.item_id,
    coalesce(i.itemid, '(no item)') AS sku,
    i.class AS product_line_id,
    s.month_start,
    s.sales_usd AS sales_volume_usd,
    s.units AS units_sold,
    s.units * coalesce(i.cost, 0) AS cost_of_goods_usd,
    s.sales_usd - s.units * coalesce(i.cost, 0) AS gross_margin_usd,
    s.sales_line_count
FROM _erp_item_months s
JOIN _partner_map m ON s.erp_partner_id = m.erp_partner_id
LEFT JOIN raw_erp.item i ON s.item_id = i.id;

-- Every line of every partner report received (API revisions, loaded POS files), in USD
-- at the rate of the report's period month.
CREATE OR REPLACE TEMP TABLE _report_lines AS
WITH api AS (
    SELECT
        id,
        partner_id,
        TRY_CAST(period || '-01' AS DATE) AS month_start,
        upper(trim(currency)) AS currency_code
    FROM raw_portal.sales_reports
),
pos AS (
    SELECT file_name, partner_id, TRY_CAST(period || '-01' AS DATE) AS month_start
    FROM raw_portal.pos_files
    WHERE coalesce(lower(trim(status)) = 'loaded', false)
),
lines AS (
    SELECT
        'api' AS report_source,
        l.report_id,
        l.line_no AS line_number,
        h.partner_id,
        h.month_start,
        l.sku,
        nullif(trim(l.invoice_ref), '') AS invoice_ref,
        h.currency_code,
        l.quantity,
        l.amount
    FROM raw_portal.sales_report_lines l
    JOIN api h ON l.report_id = h.id
    UNION ALL
    SELECT
        'pos',
        l.file_name,
        l.row_number,
        h.partner_id,
        h.month_start,
        l.sku,
        nullif(trim(l.invoice_ref), ''),
        upper(trim(l.currency)),
        l.quantity,
        l.amount
    FROM raw_portal.pos_report_lines l
    JOIN pos h ON l.file_name = h.file_name
)
SELECT
    lines.*,
    usd_rate(lines.currency_code, lines.month_start, r.usd_per_unit) AS usd_per_unit,
    lines.amount * usd_rate(lines.currency_code, lines.month_start, r.usd_per_unit) AS amount_usd
FROM lines
ASOF LEFT JOIN _rates r
    ON lines.currency_code = r.currency_code AND lines.month_start >= r.rate_month_start;

-- Every report received, with its total and its part in deciding the partner-month's
-- effective report: the latest revision that is neither withdrawn, nor a POS file of a
-- revision the API also carries, nor a duplicate of its revision received earlier.
CREATE OR REPLACE TEMP TABLE _reports AS
WITH headers AS (
    SELECT
        'api' AS report_source,
        id AS report_id,
        partner_id,
        TRY_CAST(period || '-01' AS DATE) AS month_start,
        revision,
        coalesce(lower(trim(status)) = 'withdrawn', false) AS is_withdrawn,
        coalesce(updated_at, submitted_at) AS received_at
    FROM raw_portal.sales_reports
    UNION ALL
    SELECT
        'pos',
        file_name,
        partner_id,
        TRY_CAST(period || '-01' AS DATE),
        coalesce(revision, 1),
        false,
        file_modified_at
    FROM raw_portal.pos_files
    WHERE coalesce(lower(trim(status)) = 'loaded', false)
),
totals AS (
    SELECT
        report_source,
        report_id,
        sum(amount_usd) AS amount_usd,
        count(*) FILTER (WHERE amount IS NOT NULL AND usd_per_unit IS NULL) AS unconverted_line_count
    FROM _report_lines
    GROUP BY ALL
),
flagged AS (
    SELECT
        h.*,
        CASE WHEN t.unconverted_line_count > 0 THEN NULL ELSE coalesce(t.amount_usd, 0) END
            AS reported_sales_usd,
        coalesce(t.unconverted_line_count, 0) AS unconverted_line_count,
        h.report_source = 'pos' AND EXISTS (
            SELECT 1 FROM headers a
            WHERE a.report_source = 'api'
                AND a.partner_id = h.partner_id
                AND a.month_start = h.month_start
                AND a.revision = h.revision
        ) AS is_superseded_by_api,
        row_number() OVER (
            PARTITION BY h.partner_id, h.month_start, h.revision, h.report_source
            ORDER BY h.received_at DESC NULLS LAST, h.report_id DESC
        ) AS rank_within_revision
    FROM headers h
    LEFT JOIN totals t USING (report_source, report_id)
),
candidates AS (
    SELECT
        *,
        NOT is_superseded_by_api
            AND rank_within_revision = 1
            AND NOT is_withdrawn
            AND partner_id IS NOT NULL
            AND month_start IS NOT NULL
            AND revision IS NOT NULL AS is_candidate
    FROM flagged
),
ranked AS (
    SELECT
        *,
        CASE WHEN is_candidate THEN row_number() OVER (
            PARTITION BY partner_id, month_start, is_candidate ORDER BY revision DESC
        ) END AS candidate_rank
    FROM candidates
)
SELECT
    report_source,
    report_id,
    partner_id,
    month_start,
    revision,
    reported_sales_usd,
    unconverted_line_count,
    coalesce(candidate_rank = 1, false) AS is_effective,
    CASE
        WHEN partner_id IS NULL OR month_start IS NULL OR revision IS NULL THEN 'invalid_header'
        WHEN is_superseded_by_api THEN 'superseded_by_api'
        WHEN rank_within_revision > 1 THEN 'duplicate_revision'
        WHEN is_withdrawn THEN 'withdrawn'
        WHEN candidate_rank > 1 THEN 'older_revision'
    END AS exclusion_reason
FROM ranked;

-- The lines of the effective reports, with the ERP item their SKU names (the lowest item
-- id should two share it) and the report's total.
CREATE OR REPLACE TEMP TABLE _effective_lines AS
WITH skus AS (
    SELECT itemid AS sku, id AS item_id, class AS product_line_id
    FROM raw_erp.item
    WHERE itemid IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY itemid ORDER BY id) = 1
)
SELECT
    l.report_source,
    l.report_id,
    l.line_number,
    l.partner_id,
    l.month_start,
    l.sku,
    s.item_id,
    s.product_line_id,
    l.invoice_ref,
    l.quantity,
    l.amount_usd,
    r.reported_sales_usd AS report_total_usd
FROM _report_lines l
JOIN _reports r USING (report_source, report_id)
LEFT JOIN skus s ON l.sku = s.sku
WHERE r.is_effective;

-- Opportunities (not deleted) with their partner role, months, amounts in USD at the rate
-- of creation and of closing, and the gross margin at close (the amount x the ERP
-- gross-margin ratio of their product line, or of the whole ERP).
CREATE OR REPLACE TEMP TABLE _opportunities AS
WITH costed AS (
    SELECT i.class AS product_line_id, s.sales_usd, s.units * coalesce(i.cost, 0) AS cost_usd
    FROM _erp_item_months s
    LEFT JOIN raw_erp.item i ON s.item_id = i.id
),
product_line_margins AS (
    SELECT
        c.name AS product_line,
        safe_divide_usd(
            coalesce(sum(costed.sales_usd), 0) - coalesce(sum(costed.cost_usd), 0),
            coalesce(sum(costed.sales_usd), 0)
        ) AS gross_margin_ratio
    FROM raw_erp.classification c
    LEFT JOIN costed ON c.id = costed.product_line_id
    GROUP BY c.id, c.name
),
whole_erp_margin AS (
    SELECT safe_divide_usd(
        coalesce(sum(sales_usd), 0) - coalesce(sum(cost_usd), 0), coalesce(sum(sales_usd), 0)
    ) AS gross_margin_ratio
    FROM costed
),
approved AS (
    SELECT id FROM raw_crm.deal_registration
    WHERE status__c = 'Approved' AND NOT coalesce(isdeleted, false)
),
opps AS (
    SELECT
        o.id AS opportunity_id,
        o.partneraccountid AS partner_id,
        o.accountid AS end_customer_account_id,
        o.campaignid AS campaign_id,
        o.deal_registration__c AS deal_registration_id,
        o.product_line__c AS product_line,
        upper(trim(o.currencyisocode)) AS currency_code,
        o.amount,
        coalesce(o.isclosed, false) AS is_closed,
        coalesce(o.iswon, false) AS is_won,
        coalesce(o.isclosed, false) AND coalesce(o.iswon, false) AS is_closed_won,
        coalesce(o.isclosed, false) AND NOT coalesce(o.iswon, false) AS is_closed_lost,
        coalesce(o.partner_role__c = 'Sourced', false) OR a.id IS NOT NULL AS is_partner_sourced,
        CAST(o.createddate AS DATE) AS created_date,
        o.closedate AS close_date,
        CAST(date_trunc('month', o.createddate) AS DATE) AS created_month_start,
        CAST(date_trunc('month', o.closedate) AS DATE) AS close_month_start
    FROM raw_crm.opportunity o
    LEFT JOIN approved a ON o.deal_registration__c = a.id
    WHERE NOT coalesce(o.isdeleted, false)
)
SELECT
    opps.*,
    opps.partner_id IS NOT NULL AND NOT opps.is_partner_sourced AS is_partner_influenced,
    opps.amount * usd_rate(opps.currency_code, opps.close_month_start, rc.usd_per_unit)
        AS amount_usd_at_close,
    opps.amount * usd_rate(opps.currency_code, opps.created_month_start, rn.usd_per_unit)
        AS amount_usd_at_creation,
    opps.amount * usd_rate(opps.currency_code, opps.close_month_start, rc.usd_per_unit)
        * coalesce(m.gross_margin_ratio, w.gross_margin_ratio) AS gross_margin_usd_at_close,
    date_diff('day', opps.created_date, opps.close_date) AS days_to_close
FROM opps
ASOF LEFT JOIN _rates rc
    ON opps.currency_code = rc.currency_code AND opps.close_month_start >= rc.rate_month_start
ASOF LEFT JOIN _rates rn
    ON opps.currency_code = rn.currency_code AND opps.created_month_start >= rn.rate_month_start
LEFT JOIN product_line_margins m ON opps.product_line = m.product_line
CROSS JOIN whole_erp_margin w;

-- Deal registrations (not deleted): estimated amount in USD at the submission month's
-- rate, status now, won when a closed-won opportunity names them.
CREATE OR REPLACE TEMP TABLE _deal_regs AS
WITH won AS (
    SELECT deal_registration_id, sum(amount_usd_at_close) AS won_amount_usd
    FROM _opportunities
    WHERE is_closed_won AND deal_registration_id IS NOT NULL
    GROUP BY ALL
),
regs AS (
    SELECT
        id AS deal_registration_id,
        partner_account__c AS partner_id,
        status__c AS status,
        upper(trim(currencyisocode)) AS currency_code,
        estimated_amount__c AS estimated_amount,
        submitted_date__c AS submitted_date,
        decision_date__c AS decision_date,
        CAST(date_trunc('month', submitted_date__c) AS DATE) AS submitted_month_start,
        CAST(date_trunc('month', decision_date__c) AS DATE) AS decision_month_start
    FROM raw_crm.deal_registration
    WHERE NOT coalesce(isdeleted, false)
)
SELECT
    regs.deal_registration_id,
    regs.partner_id,
    coalesce(regs.status = 'Approved', false) AS is_approved,
    coalesce(regs.status = 'Rejected', false) AS is_rejected,
    coalesce(regs.status = 'Expired', false) AS is_expired,
    coalesce(regs.status = 'Submitted', false) AS is_pending,
    won.deal_registration_id IS NOT NULL AS is_won,
    coalesce(won.won_amount_usd, 0) AS won_amount_usd,
    regs.estimated_amount * usd_rate(regs.currency_code, regs.submitted_month_start, r.usd_per_unit)
        AS estimated_amount_usd,
    date_diff('day', regs.submitted_date, regs.decision_date) AS days_to_decision,
    regs.submitted_month_start,
    regs.decision_month_start
FROM regs
ASOF LEFT JOIN _rates r
    ON regs.currency_code = r.currency_code AND regs.submitted_month_start >= r.rate_month_start
LEFT JOIN won ON regs.deal_registration_id = won.deal_registration_id;

-- ERP MDF payments in USD at the paid month's rate (no currency: USD), with the CRM
-- partner and the campaign of the claim they settle.
CREATE OR REPLACE TEMP TABLE _mdf_payments AS
WITH payments AS (
    SELECT
        p.custrecord_mdf_partner AS erp_partner_id,
        p.custrecord_mdf_claim AS mdf_claim_id,
        p.custrecord_mdf_amount AS amount,
        p.custrecord_mdf_paid_date AS paid_date,
        CAST(date_trunc('month', p.custrecord_mdf_paid_date) AS DATE) AS paid_month_start,
        CASE WHEN p.custrecord_mdf_currency IS NULL THEN 'USD' ELSE upper(trim(c.symbol)) END
            AS currency_code
    FROM raw_erp.customrecord_mdf_payment p
    LEFT JOIN raw_erp.currency c ON p.custrecord_mdf_currency = c.id
)
SELECT
    m.partner_id,
    cl.campaign_id,
    payments.paid_date,
    payments.paid_month_start,
    payments.amount
        * usd_rate(payments.currency_code, payments.paid_month_start, r.usd_per_unit) AS amount_usd
FROM payments
ASOF LEFT JOIN _rates r
    ON payments.currency_code = r.currency_code AND payments.paid_month_start >= r.rate_month_start
LEFT JOIN _partner_map m ON payments.erp_partner_id = m.erp_partner_id
LEFT JOIN raw_portal.mdf_claims cl ON payments.mdf_claim_id = cl.id;

-- Campaigns (not deleted), their cost in USD at the rate of the month they ended (started).
CREATE OR REPLACE TEMP TABLE _campaigns AS
WITH campaigns AS (
    SELECT
        id AS campaign_id,
        name AS campaign_name,
        type AS campaign_type,
        partner_account__c AS partner_id,
        startdate AS start_date,
        enddate AS end_date,
        upper(trim(currencyisocode)) AS currency_code,
        actualcost AS actual_cost,
        CAST(date_trunc('month', coalesce(enddate, startdate)) AS DATE) AS cost_month_start
    FROM raw_crm.campaign
    WHERE NOT coalesce(isdeleted, false)
)
SELECT
    campaigns.* EXCLUDE (cost_month_start),
    campaigns.actual_cost
        * usd_rate(campaigns.currency_code, campaigns.cost_month_start, r.usd_per_unit)
        AS actual_cost_usd
FROM campaigns
ASOF LEFT JOIN _rates r
    ON campaigns.currency_code = r.currency_code AND campaigns.cost_month_start >= r.rate_month_start;

-- Closed-won revenue and gross margin attributed to each campaign per close month.
CREATE OR REPLACE TEMP TABLE _campaign_revenue AS
SELECT
    c.campaign_id,
    c.partner_id AS campaign_partner_id,
    o.close_month_start AS month_start,
    count(*) AS opportunities_won,
    coalesce(sum(o.amount_usd_at_close), 0) AS attributed_revenue_usd,
    coalesce(sum(o.gross_margin_usd_at_close), 0) AS attributed_gross_margin_usd
FROM _opportunities o
JOIN _campaigns c ON o.campaign_id = c.campaign_id
WHERE o.is_closed_won
GROUP BY ALL;

-- The latest business plan of each partner-quarter, its targets in USD at the rate of the
-- quarter's first month.
CREATE OR REPLACE TEMP TABLE _plans AS
WITH plans AS (
    SELECT
        id AS business_plan_id,
        partner_id,
        period,
        TRY_CAST(split_part(period, '-', 1) || CASE split_part(period, '-', 2)
            WHEN 'Q1' THEN '-01-01' WHEN 'Q2' THEN '-04-01'
            WHEN 'Q3' THEN '-07-01' WHEN 'Q4' THEN '-10-01' END AS DATE) AS quarter_start_date,
        upper(trim(currency)) AS currency_code,
        revenue_target,
        deal_reg_target,
        mdf_target,
        certifications_target
    FROM raw_portal.business_plans
    WHERE partner_id IS NOT NULL
    QUALIFY quarter_start_date IS NOT NULL AND row_number() OVER (
        PARTITION BY partner_id, quarter_start_date ORDER BY updated_at DESC NULLS LAST, id DESC
    ) = 1
)
SELECT
    plans.business_plan_id,
    plans.partner_id,
    plans.period,
    plans.quarter_start_date,
    revenue_target * usd_rate(plans.currency_code, quarter_start_date, r.usd_per_unit)
        AS revenue_target_usd,
    deal_reg_target * usd_rate(plans.currency_code, quarter_start_date, r.usd_per_unit)
        AS deal_reg_target_usd,
    mdf_target * usd_rate(plans.currency_code, quarter_start_date, r.usd_per_unit)
        AS mdf_target_usd,
    certifications_target
FROM plans
ASOF LEFT JOIN _rates r
    ON plans.currency_code = r.currency_code AND plans.quarter_start_date >= r.rate_month_start;

-- == fct_partner_months =================================================================

CREATE OR REPLACE TABLE handwritten.fct_partner_months AS
WITH erp AS (
    SELECT partner_id, month_start, sum(sales_volume_usd) AS sales_volume_usd,
        sum(units_sold) AS units_sold, sum(gross_margin_usd) AS gross_margin_usd
    FROM _partner_item_months
    GROUP BY ALL
),
monthly AS (
    SELECT
        s.partner_id,
        s.month_start,
        coalesce(e.sales_volume_usd, 0) AS sales_volume_usd,
        coalesce(e.units_sold, 0) AS units_sold,
        coalesce(e.gross_margin_usd, 0) AS gross_margin_usd
    FROM _spine s
    LEFT JOIN erp e USING (partner_id, month_start)
),
-- The spine is contiguous, so the previous month, a year ago and the trailing 12 months
-- are rows back in the partner's window.
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
    SELECT *, list_aggregate(trailing_sales, 'median') AS trailing_median_usd
    FROM windowed
),
sales AS (
    SELECT
        *,
        CASE
            WHEN len(trailing_sales) >= 6 THEN list_aggregate(
                list_transform(trailing_sales, lambda x: abs(x - trailing_median_usd)), 'median'
            )
        END AS trailing_mad_usd
    FROM medians
),
opportunities AS (
    SELECT
        partner_id,
        created_month_start AS month_start,
        count(*) AS opportunities_created,
        sum(amount_usd_at_creation) AS pipeline_created_usd,
        0 AS opportunities_won,
        0 AS opportunities_lost,
        NULL::DOUBLE AS partner_sourced_revenue_usd,
        NULL::DOUBLE AS partner_influenced_revenue_usd,
        NULL::DOUBLE AS won_amount_usd_sum,
        0 AS won_amount_count,
        0 AS won_days_to_close_sum,
        0 AS won_days_to_close_count
    FROM _opportunities
    WHERE partner_id IS NOT NULL AND created_month_start IS NOT NULL
    GROUP BY ALL
    UNION ALL
    SELECT
        partner_id,
        close_month_start,
        0,
        NULL,
        count(*) FILTER (WHERE is_closed_won),
        count(*) FILTER (WHERE is_closed_lost),
        sum(amount_usd_at_close) FILTER (WHERE is_closed_won AND is_partner_sourced),
        sum(amount_usd_at_close) FILTER (WHERE is_closed_won AND is_partner_influenced),
        sum(amount_usd_at_close) FILTER (WHERE is_closed_won),
        count(amount_usd_at_close) FILTER (WHERE is_closed_won),
        sum(days_to_close) FILTER (WHERE is_closed_won),
        count(days_to_close) FILTER (WHERE is_closed_won)
    FROM _opportunities
    WHERE partner_id IS NOT NULL AND is_closed AND close_month_start IS NOT NULL
    GROUP BY ALL
),
opportunity_months AS (
    SELECT
        partner_id,
        month_start,
        sum(opportunities_created) AS opportunities_created,
        coalesce(sum(pipeline_created_usd), 0) AS pipeline_created_usd,
        sum(opportunities_won) AS opportunities_won,
        sum(opportunities_lost) AS opportunities_lost,
        coalesce(sum(partner_sourced_revenue_usd), 0) AS partner_sourced_revenue_usd,
        coalesce(sum(partner_influenced_revenue_usd), 0) AS partner_influenced_revenue_usd,
        coalesce(sum(won_amount_usd_sum), 0) AS won_amount_usd_sum,
        sum(won_amount_count) AS won_amount_count,
        coalesce(sum(won_days_to_close_sum), 0) AS won_days_to_close_sum,
        sum(won_days_to_close_count) AS won_days_to_close_count
    FROM opportunities
    GROUP BY ALL
),
leads AS (
    SELECT partneraccountid AS partner_id, createddate, mql_date__c, sql_date__c
    FROM raw_crm.lead
    WHERE NOT coalesce(isdeleted, false) AND partneraccountid IS NOT NULL
),
lead_months AS (
    SELECT partner_id, month_start, sum(leads_created) AS leads_created, sum(mqls) AS mqls,
        sum(sqls) AS sqls
    FROM (
        SELECT partner_id, CAST(date_trunc('month', createddate) AS DATE) AS month_start,
            1 AS leads_created, 0 AS mqls, 0 AS sqls
        FROM leads WHERE createddate IS NOT NULL
        UNION ALL
        SELECT partner_id, CAST(date_trunc('month', mql_date__c) AS DATE), 0, 1, 0
        FROM leads WHERE mql_date__c IS NOT NULL
        UNION ALL
        SELECT partner_id, CAST(date_trunc('month', sql_date__c) AS DATE), 0, 0, 1
        FROM leads WHERE sql_date__c IS NOT NULL
    )
    GROUP BY ALL
),
deal_reg_months AS (
    SELECT partner_id, month_start, sum(submitted) AS deal_regs_submitted,
        coalesce(sum(value_usd), 0) AS deal_reg_value_submitted_usd,
        sum(approved) AS deal_regs_approved, sum(rejected) AS deal_regs_rejected
    FROM (
        SELECT partner_id, submitted_month_start AS month_start, 1 AS submitted,
            estimated_amount_usd AS value_usd, 0 AS approved, 0 AS rejected
        FROM _deal_regs
        WHERE partner_id IS NOT NULL AND submitted_month_start IS NOT NULL
        UNION ALL
        SELECT partner_id, decision_month_start, 0, NULL,
            CASE WHEN is_approved THEN 1 ELSE 0 END, CASE WHEN is_rejected THEN 1 ELSE 0 END
        FROM _deal_regs
        WHERE partner_id IS NOT NULL AND decision_month_start IS NOT NULL
            AND (is_approved OR is_rejected)
    )
    GROUP BY ALL
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
    SELECT partner_id, paid_month_start, 0, NULL, 0, 0, NULL, amount_usd
    FROM _mdf_payments
    WHERE partner_id IS NOT NULL AND paid_date IS NOT NULL
),
mdf_months AS (
    SELECT partner_id, month_start, sum(mdf_claims_submitted) AS mdf_claims_submitted,
        coalesce(sum(mdf_requested_usd), 0) AS mdf_requested_usd,
        sum(mdf_claims_approved) AS mdf_claims_approved, sum(mdf_claims_denied) AS mdf_claims_denied,
        coalesce(sum(mdf_approved_usd), 0) AS mdf_approved_usd,
        coalesce(sum(mdf_paid_usd), 0) AS mdf_paid_usd
    FROM mdf_events
    GROUP BY ALL
),
asset_months AS (
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
-- Trainings as of each spine month's end: flows in the month, stocks at its last day.
training_months AS (
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
    GROUP BY ALL
)
SELECT
    s.partner_id,
    s.month_start,
    s.sales_volume_usd,
    s.units_sold,
    s.gross_margin_usd,
    safe_divide_usd(s.sales_volume_usd, s.previous_month_sales_volume_usd) - 1
        AS sales_volume_mom_pct,
    safe_divide_usd(s.sales_volume_usd, s.year_ago_sales_volume_usd) - 1 AS sales_volume_yoy_pct,
    CASE WHEN round(s.trailing_mad_usd, 2) <> 0
        THEN (s.sales_volume_usd - s.trailing_median_usd) / (1.4826 * s.trailing_mad_usd)
    END AS sales_volume_robust_z,
    coalesce(abs(sales_volume_robust_z) > 3, false) AS is_sales_anomaly,
    r.reported_sales_usd,
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
    CAST(coalesce(l.leads_created, 0) AS BIGINT) AS leads_created,
    CAST(coalesce(l.mqls, 0) AS BIGINT) AS mqls,
    CAST(coalesce(l.sqls, 0) AS BIGINT) AS sqls,
    CAST(coalesce(d.deal_regs_submitted, 0) AS BIGINT) AS deal_regs_submitted,
    coalesce(d.deal_reg_value_submitted_usd, 0) AS deal_reg_value_submitted_usd,
    CAST(coalesce(d.deal_regs_approved, 0) AS BIGINT) AS deal_regs_approved,
    CAST(coalesce(d.deal_regs_rejected, 0) AS BIGINT) AS deal_regs_rejected,
    CAST(coalesce(m.mdf_claims_submitted, 0) AS BIGINT) AS mdf_claims_submitted,
    coalesce(m.mdf_requested_usd, 0) AS mdf_requested_usd,
    CAST(coalesce(m.mdf_claims_approved, 0) AS BIGINT) AS mdf_claims_approved,
    CAST(coalesce(m.mdf_claims_denied, 0) AS BIGINT) AS mdf_claims_denied,
    coalesce(m.mdf_approved_usd, 0) AS mdf_approved_usd,
    coalesce(m.mdf_paid_usd, 0) AS mdf_paid_usd,
    CAST(coalesce(t.courses_completed, 0) AS BIGINT) AS courses_completed,
    CAST(coalesce(t.certifications_earned, 0) AS BIGINT) AS certifications_earned,
    CAST(coalesce(t.active_certifications, 0) AS BIGINT) AS active_certifications,
    CAST(coalesce(t.overdue_trainings, 0) AS BIGINT) AS overdue_trainings,
    CAST(coalesce(a.asset_downloads, 0) AS BIGINT) AS asset_downloads,
    CAST(coalesce(a.asset_shares, 0) AS BIGINT) AS asset_shares,
    CAST(coalesce(a.asset_cobrands, 0) AS BIGINT) AS asset_cobrands,
    p.revenue_target_usd / 3 AS revenue_target_usd,
    safe_divide_usd(s.sales_volume_usd, p.revenue_target_usd / 3) AS revenue_attainment
FROM sales s
LEFT JOIN training_months t USING (partner_id, month_start)
LEFT JOIN _reports r ON r.is_effective AND s.partner_id = r.partner_id AND s.month_start = r.month_start
LEFT JOIN opportunity_months o USING (partner_id, month_start)
LEFT JOIN lead_months l USING (partner_id, month_start)
LEFT JOIN deal_reg_months d USING (partner_id, month_start)
LEFT JOIN mdf_months m USING (partner_id, month_start)
LEFT JOIN asset_months a USING (partner_id, month_start)
LEFT JOIN _plans p
    ON s.partner_id = p.partner_id
    AND s.month_start >= p.quarter_start_date
    AND s.month_start < p.quarter_start_date + INTERVAL 3 MONTH;

-- == rpt_partner_reconciliation ===========================================================

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
        safe_divide_usd(variance_usd, erp_sales_usd) AS variance_pct,
        getvariable('as_of') > report_due_date AS is_report_due,
        within_usd_tolerance(variance_usd, erp_sales_usd) AS is_within_tolerance,
        coalesce(within_usd_tolerance(
            (reported_or_zero_usd + previous_reported_or_zero_usd)
                - (erp_sales_usd + previous_erp_sales_usd),
            erp_sales_usd + previous_erp_sales_usd
        ), false) AS is_within_tolerance_with_previous_month,
        coalesce(within_usd_tolerance(
            (reported_or_zero_usd + next_reported_or_zero_usd) - (erp_sales_usd + next_erp_sales_usd),
            erp_sales_usd + next_erp_sales_usd
        ), false) AS is_within_tolerance_with_next_month
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

-- == products =============================================================================

CREATE OR REPLACE TABLE handwritten.dim_product_lines AS
SELECT
    c.id AS product_line_id,
    c.name AS product_line_name,
    (SELECT count(*) FROM raw_erp.item i WHERE i.class = c.id) AS item_count
FROM raw_erp.classification c;

CREATE OR REPLACE TABLE handwritten.dim_products AS
SELECT
    i.id AS item_id,
    i.itemid AS sku,
    i.displayname AS item_name,
    i.class AS product_line_id,
    c.name AS product_line_name,
    i.cost AS standard_cost_usd,
    i.cost IS NULL AS is_missing_standard_cost
FROM raw_erp.item i
LEFT JOIN raw_erp.classification c ON i.class = c.id;

-- Every spine month x every product line: ERP sell-in by the item's product line, and the
-- effective report's lines whose SKU names an item of it (NULL without a report).
CREATE OR REPLACE TABLE handwritten.fct_partner_product_months AS
WITH erp AS (
    SELECT partner_id, product_line_id, month_start,
        sum(sales_volume_usd) AS sales_volume_usd, sum(units_sold) AS units_sold,
        sum(cost_of_goods_usd) AS cost_of_goods_usd, sum(gross_margin_usd) AS gross_margin_usd
    FROM _partner_item_months
    GROUP BY ALL
),
reported AS (
    SELECT partner_id, month_start, product_line_id,
        sum(amount_usd) AS reported_sales_usd, sum(quantity) AS reported_units
    FROM _effective_lines
    WHERE product_line_id IS NOT NULL
    GROUP BY ALL
)
SELECT
    f.partner_id,
    c.id AS product_line_id,
    c.name AS product_line_name,
    f.month_start,
    coalesce(e.sales_volume_usd, 0) AS sales_volume_usd,
    coalesce(e.units_sold, 0) AS units_sold,
    coalesce(e.cost_of_goods_usd, 0) AS cost_of_goods_usd,
    coalesce(e.gross_margin_usd, 0) AS gross_margin_usd,
    CASE WHEN f.reported_sales_usd IS NOT NULL THEN coalesce(r.reported_sales_usd, 0) END
        AS reported_sales_usd,
    CASE WHEN f.reported_sales_usd IS NOT NULL THEN coalesce(r.reported_units, 0) END
        AS reported_units
FROM handwritten.fct_partner_months f
CROSS JOIN raw_erp.classification c
LEFT JOIN erp e
    ON f.partner_id = e.partner_id AND c.id = e.product_line_id AND f.month_start = e.month_start
LEFT JOIN reported r
    ON f.partner_id = r.partner_id AND c.id = r.product_line_id AND f.month_start = r.month_start;

-- == partners =============================================================================

-- The hand-written snapshot of every account's tier (see the header): close the current
-- versions whose tier changed, then add one for every account without a current version.
CREATE TABLE IF NOT EXISTS handwritten.partner_tier_snapshot (
    account_id VARCHAR,
    partner_tier VARCHAR,
    valid_from TIMESTAMP,
    valid_to TIMESTAMP,
    version_id VARCHAR
);

UPDATE handwritten.partner_tier_snapshot s
SET valid_to = getvariable('snapshot_at')
FROM _accounts a
WHERE s.account_id = a.account_id
    AND s.valid_to IS NULL
    AND s.partner_tier IS DISTINCT FROM a.partner_tier;

INSERT INTO handwritten.partner_tier_snapshot
SELECT
    a.account_id,
    a.partner_tier,
    getvariable('snapshot_at'),
    NULL,
    md5(a.account_id || '|' || CAST(getvariable('snapshot_at') AS VARCHAR))
FROM _accounts a
WHERE NOT EXISTS (
    SELECT 1 FROM handwritten.partner_tier_snapshot s
    WHERE s.account_id = a.account_id AND s.valid_to IS NULL
);

CREATE OR REPLACE TABLE handwritten.dim_partner_tier_history AS
WITH versions AS (
    SELECT
        s.account_id AS partner_id,
        s.valid_from,
        s.valid_to,
        s.partner_tier,
        lag(s.partner_tier) OVER w AS previous_tier,
        row_number() OVER w AS version_number,
        s.version_id AS tier_version_id
    FROM handwritten.partner_tier_snapshot s
    JOIN _accounts a ON s.account_id = a.account_id AND a.is_partner
    WINDOW w AS (PARTITION BY s.account_id ORDER BY s.valid_from)
)
SELECT
    partner_id,
    valid_from,
    valid_to,
    partner_tier,
    previous_tier,
    version_number,
    CASE
        WHEN version_number = 1 THEN 'first_seen'
        WHEN tier_rank(partner_tier) > tier_rank(previous_tier) THEN 'upgrade'
        WHEN tier_rank(partner_tier) < tier_rank(previous_tier) THEN 'downgrade'
        ELSE 'changed'
    END AS tier_change,
    valid_to IS NULL AS is_current,
    tier_version_id
FROM versions;

CREATE OR REPLACE TABLE handwritten.dim_partners AS
WITH spine_bounds AS (
    SELECT partner_id, min(month_start) AS first_month_start, max(month_start) AS last_month_start,
        count(*) AS spine_month_count
    FROM _spine
    GROUP BY ALL
),
tiers AS (
    SELECT
        partner_id,
        max(valid_from) FILTER (WHERE is_current) AS tier_observed_since,
        count(*) - 1 AS tier_changes_observed
    FROM handwritten.dim_partner_tier_history
    GROUP BY ALL
),
mapped AS (
    SELECT partner_id, count(*) AS mapped_erp_partner_count
    FROM _erp_partners
    WHERE partner_id IS NOT NULL
    GROUP BY ALL
)
SELECT
    a.account_id AS partner_id,
    a.account_name AS partner_name,
    a.erp_partner_id,
    a.partner_tier,
    t.tier_observed_since,
    coalesce(t.tier_changes_observed, 0) AS tier_changes_observed,
    a.partner_type,
    a.specialization,
    a.partner_status,
    a.region,
    a.billing_country,
    a.industry,
    a.recruitment_cost_usd,
    a.partner_since_date,
    a.terminated_on_date,
    b.first_month_start,
    b.last_month_start,
    coalesce(b.spine_month_count, 0) AS spine_month_count,
    coalesce(m.mapped_erp_partner_count, 0) AS mapped_erp_partner_count,
    a.terminated_on_date IS NULL OR a.terminated_on_date > getvariable('as_of') AS is_active,
    a.created_at
FROM _accounts a
LEFT JOIN spine_bounds b ON a.account_id = b.partner_id
LEFT JOIN mapped m ON a.account_id = m.partner_id
LEFT JOIN tiers t ON a.account_id = t.partner_id
WHERE a.is_partner;

-- == deal registrations, plans, campaigns, conflicts ======================================

CREATE OR REPLACE TABLE handwritten.rpt_deal_registration_funnel AS
WITH submission_months AS (
    SELECT
        partner_id,
        submitted_month_start AS month_start,
        count(*) AS deal_regs_submitted,
        coalesce(sum(estimated_amount_usd), 0) AS deal_reg_value_submitted_usd,
        count(*) FILTER (WHERE is_approved) AS deal_regs_approved,
        count(*) FILTER (WHERE is_rejected) AS deal_regs_rejected,
        count(*) FILTER (WHERE is_expired) AS deal_regs_expired,
        count(*) FILTER (WHERE is_pending) AS deal_regs_pending,
        count(*) FILTER (WHERE is_won) AS deal_regs_won,
        sum(won_amount_usd) AS won_amount_usd,
        quantile_cont(days_to_decision, 0.5) AS median_days_to_decision
    FROM _deal_regs
    WHERE partner_id IS NOT NULL AND submitted_month_start IS NOT NULL
    GROUP BY ALL
)
SELECT
    s.partner_id,
    s.month_start,
    coalesce(m.deal_regs_submitted, 0) AS deal_regs_submitted,
    coalesce(m.deal_reg_value_submitted_usd, 0) AS deal_reg_value_submitted_usd,
    coalesce(m.deal_regs_approved, 0) AS deal_regs_approved,
    coalesce(m.deal_regs_rejected, 0) AS deal_regs_rejected,
    coalesce(m.deal_regs_expired, 0) AS deal_regs_expired,
    coalesce(m.deal_regs_pending, 0) AS deal_regs_pending,
    coalesce(m.deal_regs_won, 0) AS deal_regs_won,
    coalesce(m.won_amount_usd, 0) AS won_amount_usd,
    CASE WHEN m.deal_regs_approved + m.deal_regs_rejected <> 0
        THEN CAST(m.deal_regs_approved AS DOUBLE) / (m.deal_regs_approved + m.deal_regs_rejected)
    END AS approval_rate,
    CASE WHEN m.deal_regs_approved <> 0
        THEN CAST(m.deal_regs_won AS DOUBLE) / m.deal_regs_approved
    END AS conversion_rate,
    m.median_days_to_decision
FROM _spine s
LEFT JOIN submission_months m USING (partner_id, month_start);

-- Each plan of a CRM partner against fct_partner_months over the quarter's spine months
-- so far; certifications at the end of the latest of them.
CREATE OR REPLACE TABLE handwritten.rpt_partner_plan_attainment AS
WITH actuals AS (
    SELECT
        p.partner_id,
        p.quarter_start_date,
        count(*) AS months_on_spine,
        sum(f.sales_volume_usd) AS revenue_actual_usd,
        sum(f.deal_reg_value_submitted_usd) AS deal_reg_value_actual_usd,
        sum(f.mdf_approved_usd) AS mdf_approved_actual_usd,
        arg_max(f.active_certifications, f.month_start) AS active_certifications_actual
    FROM _plans p
    JOIN handwritten.fct_partner_months f
        ON p.partner_id = f.partner_id
        AND f.month_start >= p.quarter_start_date
        AND f.month_start < p.quarter_start_date + INTERVAL 3 MONTH
    GROUP BY ALL
)
SELECT
    p.partner_id,
    p.quarter_start_date,
    p.period AS quarter,
    p.business_plan_id,
    coalesce(a.months_on_spine, 0) AS months_on_spine,
    p.quarter_start_date + INTERVAL 3 MONTH <= date_trunc('month', getvariable('as_of'))
        AS is_quarter_complete,
    coalesce(a.revenue_actual_usd, 0) AS revenue_actual_usd,
    p.revenue_target_usd,
    safe_divide_usd(coalesce(a.revenue_actual_usd, 0), p.revenue_target_usd) AS revenue_attainment,
    coalesce(a.deal_reg_value_actual_usd, 0) AS deal_reg_value_actual_usd,
    p.deal_reg_target_usd AS deal_reg_value_target_usd,
    safe_divide_usd(coalesce(a.deal_reg_value_actual_usd, 0), p.deal_reg_target_usd)
        AS deal_reg_value_attainment,
    coalesce(a.mdf_approved_actual_usd, 0) AS mdf_approved_actual_usd,
    p.mdf_target_usd AS mdf_approved_target_usd,
    safe_divide_usd(coalesce(a.mdf_approved_actual_usd, 0), p.mdf_target_usd)
        AS mdf_approved_attainment,
    a.active_certifications_actual,
    p.certifications_target AS active_certifications_target,
    CASE WHEN p.certifications_target <> 0
        THEN CAST(a.active_certifications_actual AS DOUBLE) / p.certifications_target
    END AS active_certifications_attainment
FROM _plans p
JOIN _accounts acc ON p.partner_id = acc.account_id AND acc.is_partner
LEFT JOIN actuals a USING (partner_id, quarter_start_date);

CREATE OR REPLACE TABLE handwritten.rpt_campaign_romi AS
WITH revenue AS (
    SELECT campaign_id, sum(opportunities_won) AS opportunities_won,
        sum(attributed_revenue_usd) AS attributed_revenue_usd,
        sum(attributed_gross_margin_usd) AS attributed_gross_margin_usd
    FROM _campaign_revenue
    GROUP BY ALL
),
claims AS (
    SELECT campaign_id, count(*) AS mdf_claims
    FROM raw_portal.mdf_claims
    WHERE campaign_id IS NOT NULL
    GROUP BY ALL
),
paid AS (
    SELECT campaign_id, count(*) AS mdf_payments, sum(amount_usd) AS mdf_paid_usd
    FROM _mdf_payments
    WHERE campaign_id IS NOT NULL
    GROUP BY ALL
)
SELECT
    c.campaign_id,
    c.campaign_name,
    c.campaign_type,
    c.partner_id,
    c.start_date,
    c.end_date,
    c.currency_code,
    c.actual_cost,
    c.actual_cost_usd AS cost_usd,
    coalesce(cl.mdf_claims, 0) AS mdf_claims,
    coalesce(p.mdf_payments, 0) AS mdf_payments,
    coalesce(p.mdf_paid_usd, 0) AS mdf_paid_usd,
    CAST(coalesce(r.opportunities_won, 0) AS BIGINT) AS opportunities_won,
    coalesce(r.attributed_revenue_usd, 0) AS attributed_revenue_usd,
    coalesce(r.attributed_gross_margin_usd, 0) AS attributed_gross_margin_usd,
    safe_divide_usd(coalesce(r.attributed_gross_margin_usd, 0) - p.mdf_paid_usd, p.mdf_paid_usd)
        AS romi,
    safe_divide_usd(coalesce(r.attributed_revenue_usd, 0), p.mdf_paid_usd) AS revenue_per_mdf_usd
FROM _campaigns c
LEFT JOIN revenue r ON c.campaign_id = r.campaign_id
LEFT JOIN claims cl ON c.campaign_id = cl.campaign_id
LEFT JOIN paid p ON c.campaign_id = p.campaign_id;

-- Two opportunities for one end customer, from two partners or a partner and direct sales,
-- open at the same time (an open one until as_of).
CREATE OR REPLACE TABLE handwritten.rpt_channel_conflicts AS
WITH open_periods AS (
    SELECT
        opportunity_id,
        end_customer_account_id,
        partner_id,
        is_closed,
        is_won,
        amount_usd_at_creation,
        created_date AS open_from_date,
        CASE WHEN is_closed THEN close_date ELSE getvariable('as_of') END AS open_to_date
    FROM _opportunities
    WHERE end_customer_account_id IS NOT NULL AND created_date IS NOT NULL
)
SELECT
    a.opportunity_id,
    b.opportunity_id AS conflicting_opportunity_id,
    a.end_customer_account_id,
    acc.account_name AS end_customer_name,
    CASE WHEN a.partner_id IS NULL OR b.partner_id IS NULL THEN 'partner_vs_direct'
        ELSE 'partner_vs_partner' END AS conflict_type,
    a.partner_id,
    b.partner_id AS conflicting_partner_id,
    a.open_from_date,
    a.open_to_date,
    b.open_from_date AS conflicting_open_from_date,
    b.open_to_date AS conflicting_open_to_date,
    greatest(a.open_from_date, b.open_from_date) AS overlap_start_date,
    least(a.open_to_date, b.open_to_date) AS overlap_end_date,
    a.is_closed,
    a.is_won,
    b.is_closed AS conflicting_is_closed,
    b.is_won AS conflicting_is_won,
    a.amount_usd_at_creation,
    b.amount_usd_at_creation AS conflicting_amount_usd_at_creation,
    NOT a.is_closed AND NOT b.is_closed AS is_open_now
FROM open_periods a
JOIN open_periods b
    ON a.end_customer_account_id = b.end_customer_account_id
    AND a.opportunity_id < b.opportunity_id
    AND a.open_from_date <= b.open_to_date
    AND b.open_from_date <= a.open_to_date
LEFT JOIN _accounts acc ON a.end_customer_account_id = acc.account_id
WHERE (a.partner_id IS NOT NULL OR b.partner_id IS NOT NULL)
    AND (a.partner_id IS NULL OR b.partner_id IS NULL OR a.partner_id <> b.partner_id);

-- == the ecosystem ========================================================================

-- The measures of each month for the whole ecosystem and for each region (the partner's
-- region now), from the first spine month to the as_of month; months without partners
-- are zeros.
CREATE OR REPLACE TEMP TABLE _ecosystem AS
WITH partner_months AS (
    SELECT
        s.partner_id,
        s.month_start,
        coalesce(a.region, 'Unknown') AS region,
        a.billing_country,
        s.is_first_month,
        s.is_termination_month,
        CASE WHEN s.is_first_month THEN a.recruitment_cost_usd END AS recruitment_cost_usd,
        f.sales_volume_usd,
        f.partner_led_revenue_usd
    FROM _spine s
    JOIN _accounts a ON s.partner_id = a.account_id
    JOIN handwritten.fct_partner_months f USING (partner_id, month_start)
),
segmented AS (
    SELECT 'ecosystem' AS segment_type, 'all' AS segment, * FROM partner_months
    UNION ALL
    SELECT 'region', region, * FROM partner_months
),
ranked AS (
    SELECT
        *,
        row_number() OVER (PARTITION BY segment_type, segment, month_start
            ORDER BY sales_volume_usd, partner_id) AS ascending_sales_rank,
        row_number() OVER (PARTITION BY segment_type, segment, month_start
            ORDER BY sales_volume_usd DESC, partner_id) AS descending_sales_rank,
        count(*) OVER (PARTITION BY segment_type, segment, month_start) AS partner_count
    FROM segmented
),
measures AS (
    SELECT
        segment_type,
        segment,
        month_start,
        count(*) AS active_partners,
        count(*) FILTER (WHERE is_first_month) AS new_partners,
        count(*) FILTER (WHERE is_termination_month) AS churned_partners,
        coalesce(sum(recruitment_cost_usd), 0) AS recruitment_cost_usd,
        count(DISTINCT billing_country) AS countries_covered,
        sum(sales_volume_usd) AS sales_volume_usd,
        sum(partner_led_revenue_usd) AS partner_led_revenue_usd,
        avg(sales_volume_usd) AS mean_sales_volume_usd,
        stddev_pop(sales_volume_usd) AS stddev_sales_volume_usd,
        sum((2 * ascending_sales_rank - partner_count - 1) * sales_volume_usd)
            AS gini_weighted_sales_usd,
        sum(sales_volume_usd) FILTER (WHERE descending_sales_rank <= ceiling(0.2 * partner_count))
            AS top20_sales_volume_usd
    FROM ranked
    GROUP BY ALL
),
closed_won AS (
    SELECT
        o.close_month_start AS month_start,
        coalesce(p.region, c.region, 'Unknown') AS region,
        o.amount_usd_at_close
    FROM _opportunities o
    LEFT JOIN _accounts p ON o.partner_id = p.account_id
    LEFT JOIN _accounts c ON o.end_customer_account_id = c.account_id
    WHERE o.is_closed_won AND o.close_month_start IS NOT NULL
),
closed_won_segmented AS (
    SELECT 'ecosystem' AS segment_type, 'all' AS segment, month_start,
        sum(amount_usd_at_close) AS total_closed_won_usd
    FROM closed_won
    GROUP BY ALL
    UNION ALL
    SELECT 'region', region, month_start, sum(amount_usd_at_close)
    FROM closed_won
    GROUP BY ALL
),
segment_months AS (
    SELECT s.segment_type, s.segment, CAST(m AS DATE) AS month_start
    FROM (SELECT DISTINCT segment_type, segment FROM segmented) s,
        unnest(generate_series(
            (SELECT min(month_start) FROM _spine),
            CAST(date_trunc('month', getvariable('as_of')) AS DATE),
            INTERVAL 1 MONTH
        )) AS t(m)
)
SELECT
    sm.segment_type,
    sm.segment,
    sm.month_start,
    coalesce(m.active_partners, 0) AS active_partners,
    coalesce(m.new_partners, 0) AS new_partners,
    coalesce(m.churned_partners, 0) AS churned_partners,
    CASE WHEN m.active_partners - m.new_partners <> 0
        THEN CAST(m.churned_partners AS DOUBLE) / (m.active_partners - m.new_partners)
    END AS partner_churn_rate,
    coalesce(m.recruitment_cost_usd, 0) AS recruitment_cost_usd,
    CASE WHEN m.new_partners <> 0 THEN m.recruitment_cost_usd / m.new_partners END
        AS cost_per_new_partner_usd,
    coalesce(m.countries_covered, 0) AS countries_covered,
    coalesce(m.sales_volume_usd, 0) AS sales_volume_usd,
    coalesce(m.partner_led_revenue_usd, 0) AS partner_led_revenue_usd,
    coalesce(cw.total_closed_won_usd, 0) AS total_closed_won_usd,
    safe_divide_usd(coalesce(m.partner_led_revenue_usd, 0), cw.total_closed_won_usd)
        AS partner_led_share,
    safe_divide_usd(m.stddev_sales_volume_usd, m.mean_sales_volume_usd) AS sales_volume_cv,
    safe_divide_usd(m.gini_weighted_sales_usd / m.active_partners, m.sales_volume_usd)
        AS sales_volume_gini,
    safe_divide_usd(coalesce(m.top20_sales_volume_usd, 0), m.sales_volume_usd) AS top20_sales_share
FROM segment_months sm
LEFT JOIN measures m USING (segment_type, segment, month_start)
LEFT JOIN closed_won_segmented cw USING (segment_type, segment, month_start);

CREATE OR REPLACE TABLE handwritten.rpt_ecosystem_months AS
SELECT * EXCLUDE (segment_type, segment)
FROM _ecosystem
WHERE segment_type = 'ecosystem';

CREATE OR REPLACE TABLE handwritten.rpt_ecosystem_region_months AS
SELECT segment AS region, * EXCLUDE (segment_type, segment)
FROM _ecosystem
WHERE segment_type = 'region';

-- == line-level reconciliations ===========================================================

-- The effective reports' lines quoting an invoice, per invoice and SKU, against the sales
-- lines of that SKU on the ERP transaction of that number (the lowest id should a number
-- repeat). Only the transactions quoted are read.
CREATE OR REPLACE TABLE handwritten.rpt_partner_invoice_reconciliation AS
WITH reported AS (
    SELECT
        l.partner_id,
        l.month_start,
        l.invoice_ref,
        coalesce(l.sku, '(no sku)') AS sku,
        count(*) AS reported_line_count,
        sum(l.quantity) AS reported_units,
        sum(l.amount_usd) AS reported_sales_usd
    FROM _effective_lines l
    SEMI JOIN _spine s ON l.partner_id = s.partner_id AND l.month_start = s.month_start
    WHERE l.invoice_ref IS NOT NULL AND l.report_total_usd IS NOT NULL
    GROUP BY ALL
),
invoices AS (
    SELECT
        t.id AS transaction_id,
        t.tranid AS transaction_number,
        t.type AS transaction_type,
        t.trandate AS transaction_date,
        coalesce(lower(trim(t.status)) = 'voided', false) AS is_voided,
        m.partner_id AS erp_mapped_partner_id
    FROM raw_erp.transaction t
    LEFT JOIN _partner_map m ON t.partner = m.erp_partner_id
    WHERE t.tranid IN (SELECT invoice_ref FROM reported)
    QUALIFY row_number() OVER (PARTITION BY t.tranid ORDER BY t.id) = 1
),
invoice_skus AS (
    SELECT l.transaction_id, i.itemid AS sku, sum(l.units) AS erp_units,
        sum(l.sales_usd) AS erp_sales_usd
    FROM _sales_lines l
    LEFT JOIN raw_erp.item i ON l.item_id = i.id
    WHERE l.transaction_id IN (SELECT transaction_id FROM invoices)
    GROUP BY ALL
),
joined AS (
    SELECT
        r.*,
        v.transaction_id,
        v.transaction_type,
        v.transaction_date,
        coalesce(v.is_voided, false) AS is_voided,
        v.erp_mapped_partner_id,
        s.erp_units,
        s.erp_sales_usd,
        r.reported_units - coalesce(s.erp_units, 0) AS variance_units,
        r.reported_sales_usd - coalesce(s.erp_sales_usd, 0) AS variance_usd,
        s.transaction_id IS NOT NULL AS is_sku_on_invoice
    FROM reported r
    LEFT JOIN invoices v ON r.invoice_ref = v.transaction_number
    LEFT JOIN invoice_skus s ON v.transaction_id = s.transaction_id AND r.sku = s.sku
)
SELECT
    partner_id,
    month_start,
    invoice_ref,
    sku,
    transaction_id,
    transaction_type,
    transaction_date,
    coalesce(CAST(date_trunc('month', transaction_date) AS DATE) <> month_start, false)
        AS is_other_month,
    reported_line_count,
    reported_units,
    erp_units,
    variance_units,
    reported_sales_usd,
    erp_sales_usd,
    variance_usd,
    CASE
        WHEN transaction_id IS NULL THEN 'unknown_invoice'
        WHEN is_voided THEN 'voided_invoice'
        WHEN erp_mapped_partner_id IS NULL OR erp_mapped_partner_id <> partner_id
            THEN 'other_partner_invoice'
        WHEN NOT is_sku_on_invoice THEN 'sku_not_on_invoice'
        WHEN within_unit_tolerance(variance_units, erp_units)
            AND within_usd_tolerance(variance_usd, erp_sales_usd) THEN 'matched'
        WHEN variance_units > 0 THEN 'over_reported'
        WHEN variance_units < 0 THEN 'under_reported'
        WHEN variance_usd > 0 THEN 'over_reported'
        ELSE 'under_reported'
    END AS status
FROM joined;

-- Reported against ERP units per partner, month and SKU, with the SKU's neighbouring spine
-- months for timing differences.
CREATE OR REPLACE TABLE handwritten.rpt_partner_sku_reconciliation AS
WITH erp_skus AS (
    SELECT partner_id, month_start, sku, sum(units_sold) AS erp_units,
        sum(sales_volume_usd) AS erp_sales_usd
    FROM _partner_item_months
    GROUP BY ALL
),
reported_skus AS (
    SELECT partner_id, month_start, coalesce(sku, '(no sku)') AS sku,
        sum(quantity) AS reported_units, sum(amount_usd) AS reported_sales_usd,
        count(*) AS reported_line_count
    FROM _effective_lines
    GROUP BY ALL
),
keys AS (
    SELECT partner_id, month_start, sku FROM erp_skus
    UNION
    SELECT partner_id, month_start, sku FROM reported_skus
),
partner_months AS (
    SELECT
        partner_id,
        month_start,
        has_effective_report,
        status,
        month_start > min(month_start) OVER w AS has_previous_month,
        month_start < max(month_start) OVER w AS has_next_month
    FROM handwritten.rpt_partner_reconciliation
    WINDOW w AS (PARTITION BY partner_id)
),
amounts AS (
    SELECT
        k.partner_id,
        k.month_start,
        k.sku,
        pm.has_effective_report,
        pm.status AS partner_month_status,
        pm.has_previous_month,
        pm.has_next_month,
        EXISTS (SELECT 1 FROM raw_erp.item i WHERE i.itemid = k.sku) AS is_known_sku,
        coalesce(e.erp_units, 0) AS erp_units,
        coalesce(e.erp_sales_usd, 0) AS erp_sales_usd,
        CASE WHEN pm.has_effective_report THEN coalesce(r.reported_units, 0) END AS reported_units,
        CASE WHEN pm.has_effective_report THEN coalesce(r.reported_sales_usd, 0) END
            AS reported_sales_usd,
        CASE WHEN pm.has_effective_report THEN coalesce(r.reported_units, 0) ELSE 0 END
            AS reported_or_zero_units,
        coalesce(r.reported_line_count, 0) AS reported_line_count
    FROM keys k
    JOIN partner_months pm USING (partner_id, month_start)
    LEFT JOIN erp_skus e USING (partner_id, month_start, sku)
    LEFT JOIN reported_skus r USING (partner_id, month_start, sku)
),
classified AS (
    SELECT
        a.*,
        a.reported_or_zero_units - a.erp_units AS variance_units,
        within_unit_tolerance(a.reported_or_zero_units - a.erp_units, a.erp_units)
            AS is_within_tolerance,
        a.has_previous_month AND within_unit_tolerance(
            (a.reported_or_zero_units + coalesce(p.reported_or_zero_units, 0))
                - (a.erp_units + coalesce(p.erp_units, 0)),
            a.erp_units + coalesce(p.erp_units, 0)
        ) AS is_within_tolerance_with_previous_month,
        a.has_next_month AND within_unit_tolerance(
            (a.reported_or_zero_units + coalesce(n.reported_or_zero_units, 0))
                - (a.erp_units + coalesce(n.erp_units, 0)),
            a.erp_units + coalesce(n.erp_units, 0)
        ) AS is_within_tolerance_with_next_month
    FROM amounts a
    LEFT JOIN amounts p
        ON a.partner_id = p.partner_id AND a.sku = p.sku
        AND p.month_start = CAST(a.month_start - INTERVAL 1 MONTH AS DATE)
    LEFT JOIN amounts n
        ON a.partner_id = n.partner_id AND a.sku = n.sku
        AND n.month_start = CAST(a.month_start + INTERVAL 1 MONTH AS DATE)
)
SELECT
    partner_id,
    month_start,
    sku,
    is_known_sku,
    erp_units,
    reported_units,
    variance_units,
    CASE WHEN erp_units <> 0 THEN variance_units / erp_units END AS variance_units_pct,
    erp_sales_usd,
    reported_sales_usd,
    reported_line_count,
    has_effective_report,
    is_within_tolerance,
    is_within_tolerance_with_previous_month,
    is_within_tolerance_with_next_month,
    CASE
        WHEN NOT has_effective_report THEN partner_month_status
        WHEN NOT is_known_sku THEN 'unknown_sku'
        WHEN is_within_tolerance THEN 'matched'
        WHEN is_within_tolerance_with_previous_month OR is_within_tolerance_with_next_month
            THEN 'timing_difference'
        WHEN erp_units = 0 THEN 'no_erp_units'
        WHEN variance_units > 0 THEN 'over_reported'
        ELSE 'under_reported'
    END AS status
FROM classified;

-- == the scorecard ========================================================================

-- Each active partner's measures over the trailing 3 and 12 months to the scored month,
-- ranked among the active partners of its tier (the tier held now).
CREATE OR REPLACE TABLE handwritten.rpt_partner_scorecard_measures AS
WITH windows AS (
    SELECT
        w AS window_months,
        CAST(getvariable('scorecard_month') - to_months(w - 1) AS DATE) AS window_start,
        getvariable('scorecard_month') AS window_end
    FROM (VALUES (3), (12)) AS t(w)
),
partner_windows AS (
    SELECT
        d.partner_id,
        coalesce(d.partner_tier, 'Unknown') AS partner_tier,
        getvariable('scorecard_month') AS as_of_month,
        w.*
    FROM handwritten.dim_partners d
    SEMI JOIN _spine s
        ON d.partner_id = s.partner_id AND s.month_start = getvariable('scorecard_month')
    CROSS JOIN windows w
    WHERE d.terminated_on_date IS NULL
        OR d.terminated_on_date > last_day(getvariable('scorecard_month'))
),
-- fct_partner_months, the funnel and the reconciliation hold one row per spine month.
monthly AS (
    SELECT
        f.partner_id,
        f.month_start,
        f.sales_volume_usd,
        f.revenue_target_usd,
        f.opportunities_won,
        f.opportunities_lost,
        f.active_certifications,
        f.mdf_paid_usd,
        f.asset_downloads + f.asset_shares + f.asset_cobrands AS engagement_events,
        d.deal_regs_approved,
        d.deal_regs_won,
        r.status
    FROM handwritten.fct_partner_months f
    JOIN handwritten.rpt_deal_registration_funnel d USING (partner_id, month_start)
    JOIN handwritten.rpt_partner_reconciliation r USING (partner_id, month_start)
),
sums AS (
    SELECT
        pw.partner_id,
        pw.window_months,
        sum(m.sales_volume_usd) AS sales_volume_usd,
        sum(m.sales_volume_usd) FILTER (WHERE m.revenue_target_usd IS NOT NULL)
            AS planned_sales_volume_usd,
        sum(m.revenue_target_usd) AS revenue_target_usd,
        sum(m.opportunities_won) AS opportunities_won,
        sum(m.opportunities_lost) AS opportunities_lost,
        avg(CAST(m.active_certifications AS DOUBLE)) AS mean_active_certifications,
        sum(m.mdf_paid_usd) AS mdf_paid_usd,
        sum(m.engagement_events) AS engagement_events,
        sum(m.deal_regs_approved) AS deal_regs_approved,
        sum(m.deal_regs_won) AS deal_regs_won,
        count(*) FILTER (WHERE m.status NOT IN ('awaiting_report', 'no_activity'))
            AS months_reconciled,
        count(*) FILTER (WHERE m.status IN ('matched', 'timing_difference')) AS months_accurate
    FROM partner_windows pw
    JOIN monthly m
        ON pw.partner_id = m.partner_id
        AND m.month_start BETWEEN pw.window_start AND pw.window_end
    GROUP BY ALL
),
year_earlier AS (
    SELECT pw.partner_id, pw.window_months, count(*) AS spine_months,
        sum(f.sales_volume_usd) AS sales_volume_usd
    FROM partner_windows pw
    JOIN handwritten.fct_partner_months f
        ON pw.partner_id = f.partner_id
        AND f.month_start BETWEEN pw.window_start - INTERVAL 12 MONTH
            AND pw.window_end - INTERVAL 12 MONTH
    GROUP BY ALL
),
campaigns AS (
    SELECT pw.partner_id, pw.window_months,
        sum(c.attributed_gross_margin_usd) AS attributed_gross_margin_usd
    FROM partner_windows pw
    JOIN _campaign_revenue c
        ON pw.partner_id = c.campaign_partner_id
        AND c.month_start BETWEEN pw.window_start AND pw.window_end
    GROUP BY ALL
),
wide AS (
    SELECT
        pw.partner_id,
        pw.partner_tier,
        pw.as_of_month,
        pw.window_months,
        s.sales_volume_usd,
        CASE WHEN y.spine_months = pw.window_months
            THEN safe_divide_usd(s.sales_volume_usd, y.sales_volume_usd) - 1
        END AS sales_yoy_growth,
        safe_divide_usd(s.planned_sales_volume_usd, s.revenue_target_usd) AS revenue_attainment,
        CASE WHEN s.opportunities_won + s.opportunities_lost <> 0
            THEN CAST(s.opportunities_won AS DOUBLE) / (s.opportunities_won + s.opportunities_lost)
        END AS win_rate,
        CASE WHEN s.deal_regs_approved <> 0
            THEN CAST(s.deal_regs_won AS DOUBLE) / s.deal_regs_approved
        END AS deal_reg_conversion_rate,
        s.mean_active_certifications AS active_certifications,
        safe_divide_usd(coalesce(c.attributed_gross_margin_usd, 0) - s.mdf_paid_usd, s.mdf_paid_usd)
            AS mdf_romi,
        CASE WHEN s.months_reconciled <> 0
            THEN CAST(s.months_accurate AS DOUBLE) / s.months_reconciled
        END AS reconciliation_accuracy,
        CAST(s.engagement_events AS DOUBLE) AS engagement_events
    FROM partner_windows pw
    JOIN sums s USING (partner_id, window_months)
    LEFT JOIN year_earlier y USING (partner_id, window_months)
    LEFT JOIN campaigns c USING (partner_id, window_months)
),
long AS (
    SELECT partner_id, partner_tier, as_of_month, window_months, measure_name,
        CAST(measure_value AS DOUBLE) AS measure_value
    FROM wide
    UNPIVOT INCLUDE NULLS (measure_value FOR measure_name IN (
        sales_volume_usd, sales_yoy_growth, revenue_attainment, win_rate,
        deal_reg_conversion_rate, active_certifications, mdf_romi, reconciliation_accuracy,
        engagement_events
    ))
),
ranked AS (
    SELECT
        partner_id,
        window_months,
        measure_name,
        rank() OVER (PARTITION BY partner_tier, window_months, measure_name
            ORDER BY measure_value) - 1 AS partners_below,
        count(*) OVER (PARTITION BY partner_tier, window_months, measure_name, measure_value)
            AS partners_equal,
        count(*) OVER (PARTITION BY partner_tier, window_months, measure_name) AS partners_ranked
    FROM long
    WHERE measure_value IS NOT NULL
),
tiers AS (
    SELECT
        partner_tier,
        window_months,
        measure_name,
        count(*) AS tier_active_partners,
        count(measure_value) AS tier_partners_ranked,
        avg(measure_value) AS tier_average,
        quantile_cont(measure_value, 0.9) AS tier_top_decile
    FROM long
    GROUP BY ALL
)
SELECT
    l.partner_id,
    l.as_of_month,
    l.measure_name,
    l.window_months,
    l.partner_tier,
    l.measure_value,
    (r.partners_below + 0.5 * r.partners_equal) / r.partners_ranked AS percentile_rank,
    t.tier_average,
    t.tier_top_decile,
    t.tier_partners_ranked,
    t.tier_active_partners
FROM long l
JOIN tiers t USING (partner_tier, window_months, measure_name)
LEFT JOIN ranked r USING (partner_id, window_months, measure_name);

-- The measures pivoted to one row per partner: t3m_<measure>, t12m_<measure>, each with
-- _percentile_rank, _tier_average and _tier_top_decile.
CREATE OR REPLACE TEMP TABLE _scorecard_wide AS
PIVOT (
    SELECT
        m.partner_id,
        m.as_of_month,
        't' || m.window_months || 'm_' || m.measure_name || v.suffix AS column_name,
        v.value
    FROM handwritten.rpt_partner_scorecard_measures m,
        LATERAL (VALUES
            ('', m.measure_value),
            ('_percentile_rank', m.percentile_rank),
            ('_tier_average', m.tier_average),
            ('_tier_top_decile', m.tier_top_decile)
        ) AS v(suffix, value)
)
ON column_name
USING max(value)
GROUP BY partner_id, as_of_month;

-- One row per active partner: eligible tier (the highest whose thresholds it meets), the
-- weighted capability score of its 12-month ranks, and its lifetime value to date.
CREATE OR REPLACE TABLE handwritten.rpt_partner_scorecard AS
WITH lifetime AS (
    SELECT
        partner_id,
        sum(gross_margin_usd) AS gross_margin_to_date_usd,
        sum(mdf_paid_usd) AS mdf_paid_to_date_usd,
        max(active_certifications) FILTER (WHERE month_start = getvariable('scorecard_month'))
            AS active_certifications
    FROM handwritten.fct_partner_months
    WHERE month_start <= getvariable('scorecard_month')
    GROUP BY ALL
),
scored AS (
    SELECT
        w.*,
        d.partner_name,
        d.partner_tier,
        d.region,
        l.active_certifications,
        l.gross_margin_to_date_usd,
        l.mdf_paid_to_date_usd,
        coalesce(d.recruitment_cost_usd, 0) AS recruitment_cost_usd,
        CASE
            WHEN w.t12m_sales_volume_usd >= 7500000 AND l.active_certifications >= 8 THEN 'Platinum'
            WHEN w.t12m_sales_volume_usd >= 3500000 AND l.active_certifications >= 4 THEN 'Gold'
            WHEN w.t12m_sales_volume_usd >= 1500000 AND l.active_certifications >= 2 THEN 'Silver'
            ELSE 'Registered'
        END AS eligible_tier,
        3 * coalesce(w.t12m_sales_volume_usd_percentile_rank, 0)
            + 1 * coalesce(w.t12m_sales_yoy_growth_percentile_rank, 0)
            + 1 * coalesce(w.t12m_revenue_attainment_percentile_rank, 0)
            + 1 * coalesce(w.t12m_win_rate_percentile_rank, 0)
            + 1 * coalesce(w.t12m_deal_reg_conversion_rate_percentile_rank, 0)
            + 1 * coalesce(w.t12m_active_certifications_percentile_rank, 0)
            + 1 * coalesce(w.t12m_mdf_romi_percentile_rank, 0)
            + 1 * coalesce(w.t12m_reconciliation_accuracy_percentile_rank, 0)
            + 1 * coalesce(w.t12m_engagement_events_percentile_rank, 0) AS weighted_rank_sum,
        3 * (w.t12m_sales_volume_usd_percentile_rank IS NOT NULL)::INT
            + (w.t12m_sales_yoy_growth_percentile_rank IS NOT NULL)::INT
            + (w.t12m_revenue_attainment_percentile_rank IS NOT NULL)::INT
            + (w.t12m_win_rate_percentile_rank IS NOT NULL)::INT
            + (w.t12m_deal_reg_conversion_rate_percentile_rank IS NOT NULL)::INT
            + (w.t12m_active_certifications_percentile_rank IS NOT NULL)::INT
            + (w.t12m_mdf_romi_percentile_rank IS NOT NULL)::INT
            + (w.t12m_reconciliation_accuracy_percentile_rank IS NOT NULL)::INT
            + (w.t12m_engagement_events_percentile_rank IS NOT NULL)::INT AS ranked_weight_sum
    FROM _scorecard_wide w
    JOIN handwritten.dim_partners d USING (partner_id)
    JOIN lifetime l USING (partner_id)
)
SELECT
    partner_id,
    as_of_month,
    partner_name,
    partner_tier,
    region,
    eligible_tier,
    CASE
        WHEN tier_rank(eligible_tier) > coalesce(tier_rank(partner_tier), 0) THEN 'upgrade_candidate'
        WHEN eligible_tier = partner_tier THEN 'meets_tier'
        ELSE 'below_tier'
    END AS tier_eligibility,
    CASE eligible_tier WHEN 'Registered' THEN 'Silver' WHEN 'Silver' THEN 'Gold'
        WHEN 'Gold' THEN 'Platinum' END AS next_tier,
    CASE eligible_tier WHEN 'Registered' THEN 1500000 WHEN 'Silver' THEN 3500000
        WHEN 'Gold' THEN 7500000 END AS next_tier_min_sales_usd,
    -- greatest() skips NULLs: above Platinum there is no gap, not a gap of 0.
    CASE WHEN next_tier_min_sales_usd IS NOT NULL
        THEN greatest(next_tier_min_sales_usd - coalesce(t12m_sales_volume_usd, 0), 0)
    END AS next_tier_sales_gap_usd,
    CASE eligible_tier WHEN 'Registered' THEN 2 WHEN 'Silver' THEN 4 WHEN 'Gold' THEN 8 END
        AS next_tier_min_active_certifications,
    CASE WHEN next_tier_min_active_certifications IS NOT NULL
        THEN greatest(next_tier_min_active_certifications - coalesce(active_certifications, 0), 0)
    END AS next_tier_certifications_gap,
    CASE WHEN ranked_weight_sum <> 0 THEN weighted_rank_sum / ranked_weight_sum END
        AS capability_score,
    gross_margin_to_date_usd - mdf_paid_to_date_usd - recruitment_cost_usd
        AS lifetime_value_to_date_usd,
    active_certifications,
    COLUMNS('^t(3|12)m_')
FROM scored;

-- == data-quality findings ================================================================

-- Records the marts could not attribute or had to decide about ('error' when money is left
-- out of a partner's figures).
CREATE OR REPLACE TABLE handwritten.rpt_data_quality_findings AS
WITH erp_partner_sales AS (
    SELECT erp_partner_id, sum(sales_usd) AS sales_usd, sum(sales_line_count) AS sales_line_count
    FROM _erp_item_months
    GROUP BY ALL
),
erp_partner_mdf AS (
    SELECT custrecord_mdf_partner AS erp_partner_id, count(*) AS mdf_payment_count
    FROM raw_erp.customrecord_mdf_payment
    GROUP BY ALL
),
partner_sales AS (
    SELECT partner_id, month_start, sum(sales_volume_usd) AS sales_volume_usd
    FROM _partner_item_months
    GROUP BY ALL
),
portal_records AS (
    SELECT 'trainings' AS source_table, id AS record_id, partner_id FROM raw_portal.trainings
    UNION ALL
    SELECT 'mdf_claims', id, partner_id FROM raw_portal.mdf_claims
    UNION ALL
    SELECT 'asset_usage', id, partner_id FROM raw_portal.asset_usage
    UNION ALL
    SELECT 'business_plans', id, partner_id FROM raw_portal.business_plans
),
partners AS (
    SELECT account_id AS partner_id FROM _accounts WHERE is_partner
)
SELECT
    'erp_partner_unmapped' AS finding_type,
    CASE WHEN coalesce(s.sales_line_count, 0) > 0 OR coalesce(m.mdf_payment_count, 0) > 0
        THEN 'error' ELSE 'warning' END AS severity,
    'erp' AS source_system,
    'partner' AS source_table,
    CAST(e.erp_partner_id AS VARCHAR) AS record_id,
    NULL::VARCHAR AS partner_id,
    e.erp_partner_id,
    NULL::DATE AS month_start,
    s.sales_usd AS amount_usd,
    'no CRM partner Account has ERP_Partner_Id__c = this id; externalid: '
        || coalesce(e.external_account_id, '(none)')
        || '; sales lines: ' || coalesce(s.sales_line_count, 0)
        || '; MDF payments: ' || coalesce(m.mdf_payment_count, 0)
        || CASE WHEN e.is_in_erp_partner_table THEN '' ELSE '; not in the ERP partner table' END
        AS detail
FROM _erp_partners e
LEFT JOIN erp_partner_sales s ON e.erp_partner_id = s.erp_partner_id
LEFT JOIN erp_partner_mdf m ON e.erp_partner_id = m.erp_partner_id
WHERE e.mapping_status = 'unmapped'
UNION ALL
SELECT 'erp_partner_mapped_ambiguously', 'error', 'crm', 'account', CAST(erp_partner_id AS VARCHAR),
    partner_id, erp_partner_id, NULL, NULL,
    crm_candidate_count || ' CRM partners have this ERP_Partner_Id__c; mapped to the earliest partner'
FROM _erp_partners
WHERE mapping_status = 'ambiguous'
UNION ALL
SELECT 'erp_partner_external_id_mismatch', 'warning', 'erp', 'partner',
    CAST(erp_partner_id AS VARCHAR), partner_id, erp_partner_id, NULL, NULL,
    'ERP externalid ' || external_account_id || ' disagrees with the CRM mapping; the CRM field wins'
FROM _erp_partners
WHERE is_external_id_mismatch
UNION ALL
SELECT
    CASE WHEN a.erp_partner_id IS NULL THEN 'crm_erp_partner_id_invalid'
        ELSE 'crm_erp_partner_id_unknown' END,
    'warning', 'crm', 'account', a.account_id, a.account_id, a.erp_partner_id, NULL, NULL,
    'ERP_Partner_Id__c = ' || a.erp_partner_id_raw
FROM _accounts a
WHERE a.is_partner
    AND a.erp_partner_id_raw IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM raw_erp.partner p WHERE p.id = a.erp_partner_id)
UNION ALL
SELECT
    CASE WHEN partner_since_date IS NULL THEN 'partner_since_missing'
        ELSE 'partner_terminated_without_date' END,
    'warning', 'crm', 'account', account_id, account_id, erp_partner_id, NULL, NULL,
    CASE WHEN partner_since_date IS NULL
        THEN 'Partner_Since__c is NULL; the spine starts at the month of CreatedDate'
        ELSE 'Terminated without Terminated_On__c; the spine runs to the as_of month' END
FROM _accounts
WHERE is_partner
    AND (partner_since_date IS NULL
        OR (partner_status = 'Terminated' AND terminated_on_date IS NULL))
UNION ALL
SELECT 'erp_sales_outside_partnership', 'error', 'erp', 'transaction',
    p.partner_id || '|' || CAST(p.month_start AS VARCHAR), p.partner_id, NULL, p.month_start,
    p.sales_volume_usd, 'ERP sales dated before Partner_Since__c, after termination or after as_of'
FROM partner_sales p
ANTI JOIN _spine s USING (partner_id, month_start)
UNION ALL
SELECT
    CASE
        WHEN r.exclusion_reason = 'invalid_header' THEN 'report_invalid_header'
        WHEN r.exclusion_reason = 'superseded_by_api' THEN 'report_api_csv_clash'
        WHEN r.exclusion_reason = 'duplicate_revision' THEN 'report_duplicate_revision'
        WHEN p.partner_id IS NULL THEN 'report_unknown_partner'
        WHEN s.partner_id IS NULL THEN 'report_outside_partnership'
        ELSE 'report_missing_currency_rate'
    END,
    CASE WHEN r.exclusion_reason IN ('superseded_by_api', 'duplicate_revision')
        THEN 'warning' ELSE 'error' END,
    'portal',
    CASE r.report_source WHEN 'api' THEN 'sales_reports' ELSE 'pos_files' END,
    r.report_id,
    r.partner_id,
    NULL,
    r.month_start,
    r.reported_sales_usd,
    CASE
        WHEN r.exclusion_reason = 'invalid_header'
            THEN 'report without a valid partner, period or revision'
        WHEN r.exclusion_reason = 'superseded_by_api'
            THEN 'the API carries the same partner, period and revision; the API report wins'
        WHEN r.exclusion_reason = 'duplicate_revision'
            THEN 'same source and revision as another report; the latest received wins'
        WHEN p.partner_id IS NULL THEN 'partner_id is not a CRM partner'
        WHEN s.partner_id IS NULL THEN 'period is not on the partner-month spine'
        ELSE 'a line currency has no rate for the period month; reported_sales_usd is NULL'
    END
FROM _reports r
LEFT JOIN partners p ON r.partner_id = p.partner_id
LEFT JOIN _spine s ON r.partner_id = s.partner_id AND r.month_start = s.month_start
WHERE r.exclusion_reason IN ('invalid_header', 'superseded_by_api', 'duplicate_revision')
    OR (r.exclusion_reason IS NULL
        AND (p.partner_id IS NULL OR s.partner_id IS NULL OR r.unconverted_line_count > 0))
UNION ALL
SELECT 'pos_file_rejected', 'warning', 'portal', 'pos_files', file_name, partner_id, NULL,
    TRY_CAST(period || '-01' AS DATE), NULL,
    'file rejected (' || coalesce(reason, 'no reason given') || '); rows quarantined: '
        || coalesce(rows_quarantined, 0)
FROM raw_portal.pos_files
WHERE NOT coalesce(lower(trim(status)) = 'loaded', false)
UNION ALL
SELECT 'report_line_unknown_sku', 'warning', 'portal',
    CASE report_source WHEN 'api' THEN 'sales_report_lines' ELSE 'pos_report_lines' END,
    report_id || '|' || line_number, partner_id, NULL, month_start, amount_usd,
    'SKU not in the ERP item table: ' || coalesce(sku, '(none)')
FROM _effective_lines
WHERE item_id IS NULL
UNION ALL
SELECT 'report_line_unknown_invoice_ref', 'warning', 'portal',
    CASE report_source WHEN 'api' THEN 'sales_report_lines' ELSE 'pos_report_lines' END,
    report_id || '|' || line_number, partner_id, NULL, month_start, amount_usd,
    'invoice_ref names no ERP transaction: ' || invoice_ref
FROM _effective_lines l
WHERE invoice_ref IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM raw_erp.transaction t WHERE t.tranid = l.invoice_ref)
UNION ALL
SELECT 'portal_record_unknown_partner', 'warning', 'portal', r.source_table,
    r.source_table || '|' || r.record_id, r.partner_id, NULL, NULL, NULL,
    'partner_id is not a CRM partner: ' || coalesce(r.partner_id, '(none)')
FROM portal_records r
LEFT JOIN partners p ON r.partner_id = p.partner_id
WHERE p.partner_id IS NULL;
