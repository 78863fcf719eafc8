-- Partner-reported lines held against the ERP invoice they quote (grain: partner_id x
-- month_start x invoice_ref x sku): the lines of effective reports with an invoice_ref,
-- summed per invoice and SKU (a duplicated line counts twice), against the sales lines of
-- that SKU on the ERP transaction whose number (tranid) is the invoice_ref. month_start is
-- the reported period; is_other_month marks an invoice dated in another month (a timing
-- difference). Units must agree within the SKU tolerance and the USD amount (reported at
-- the period's rate, ERP at the transaction's exchangerate) within the reconciliation
-- tolerance. status is the first that holds:
--   1. unknown_invoice: no ERP transaction has that number (also a data-quality finding);
--   2. voided_invoice: the transaction is voided, so it counts nowhere;
--   3. other_partner_invoice: the transaction belongs to another (or no) CRM partner;
--   4. sku_not_on_invoice: the transaction has no sales line of that SKU;
--   5. matched: units and amount both within tolerance;
--   6. over_reported / under_reported by the sign of the units variance (of the amount
--      variance when the units agree).
-- Lines whose partner-month has no usable effective report (a missing currency rate) are
-- left out, as in rpt_partner_reconciliation.
--
-- Stored month by month (macros/month_marts.sql, docs/models.md decision 31): a month is
-- rebuilt when its reported lines, or anything of an invoice they quote (its number's
-- transaction, type, date, void, mapped partner, any of its sales lines), changed.

{{ config(**month_mart_config()) }}

{%- set by_month = month_marts_by_month() %}

with

effective_report_lines as (

    select * from {{ ref('int_partner_report_lines_effective') }}

    where
        invoice_ref is not null
        and report_total_usd is not null

),

spine as (

    select * from {{ ref('int_partner_months_spined') }}

),

transactions as (

    select * from {{ ref('stg_erp__transactions') }}

),

sales_lines as (

    select * from {{ ref('int_erp_sales_lines_converted') }}

),

erp_partners_mapped as (

    select * from {{ ref('int_erp_partners_mapped') }}

),

reported_lines as (

    select
        effective_report_lines.partner_id,
        effective_report_lines.month_start,
        effective_report_lines.invoice_ref,
        coalesce(effective_report_lines.sku, '(no sku)') as sku,
        effective_report_lines.quantity,
        effective_report_lines.amount_usd

    from effective_report_lines

    inner join spine
        on effective_report_lines.partner_id = spine.partner_id
        and effective_report_lines.month_start = spine.month_start

),

-- One transaction per number (the lowest id, should a number repeat).
ranked_transactions as (

    select
        transactions.*,
        row_number() over (
            partition by transactions.transaction_number
            order by transactions.transaction_id
        ) as number_rank

    from transactions

    where transactions.transaction_number is not null

),

invoices as (

    select
        ranked_transactions.transaction_id,
        ranked_transactions.transaction_number,
        ranked_transactions.transaction_type,
        ranked_transactions.transaction_date,
        ranked_transactions.is_voided,
        erp_partners_mapped.partner_id as erp_mapped_partner_id

    from ranked_transactions

    left join erp_partners_mapped
        on ranked_transactions.erp_partner_id = erp_partners_mapped.erp_partner_id

    where ranked_transactions.number_rank = 1

),

{% if by_month %}

-- Each invoice's sales lines, as one digest per transaction.
invoice_lines as (

    select
        transaction_id,
        {{ rows_digest(['transaction_line_id', 'sku', 'units', 'sales_usd']) }} as lines_digest

    from sales_lines

    group by transaction_id

),

month_inputs as (

    select
        reported_lines.month_start,
        {{ month_inputs_digest(
            rows_digest([
                'reported_lines.partner_id',
                'reported_lines.invoice_ref',
                'reported_lines.sku',
                'reported_lines.quantity',
                'reported_lines.amount_usd',
                'invoices.transaction_id',
                'invoices.transaction_type',
                'invoices.transaction_date',
                'invoices.is_voided',
                'invoices.erp_mapped_partner_id',
                'invoice_lines.lines_digest',
            ]),
            is_within_unit_tolerance('u', 'e') ~ is_within_tolerance('v', 'f'),
        ) }} as month_inputs_digest

    from reported_lines

    left join invoices
        on reported_lines.invoice_ref = invoices.transaction_number

    left join invoice_lines
        on invoices.transaction_id = invoice_lines.transaction_id

    group by reported_lines.month_start

),

months_to_build as (

    {{ months_to_build('month_inputs') }}

),

{% endif %}

reported as (

    select
        partner_id,
        month_start,
        invoice_ref,
        sku,
        count(*) as reported_line_count,
        sum(quantity) as reported_units,
        sum(amount_usd) as reported_sales_usd

    from reported_lines

    {% if by_month -%}
    where month_start in (select month_start from months_to_build)
    {%- endif %}

    group by
        partner_id,
        month_start,
        invoice_ref,
        sku

),

invoice_skus as (

    select
        transaction_id,
        sku,
        sum(units) as erp_units,
        sum(sales_usd) as erp_sales_usd

    from sales_lines

    where transaction_id in (
        select invoices.transaction_id
        from invoices
        inner join reported on invoices.transaction_number = reported.invoice_ref
    )

    group by
        transaction_id,
        sku

),

joined as (

    select
        reported.partner_id,
        reported.month_start,
        reported.invoice_ref,
        reported.sku,
        invoices.transaction_id,
        invoices.transaction_type,
        invoices.transaction_date,
        coalesce(invoices.is_voided, false) as is_voided,
        invoices.erp_mapped_partner_id,
        reported.reported_line_count,
        reported.reported_units,
        reported.reported_sales_usd,
        invoice_skus.erp_units,
        invoice_skus.erp_sales_usd,
        reported.reported_units - coalesce(invoice_skus.erp_units, 0) as variance_units,
        reported.reported_sales_usd - coalesce(invoice_skus.erp_sales_usd, 0) as variance_usd,
        (invoices.transaction_id is not null) as is_known_invoice,
        (invoice_skus.transaction_id is not null) as is_sku_on_invoice,
        {% if by_month -%}
        month_inputs.month_inputs_digest
        {%- else -%}
        cast(null as bigint) as month_inputs_digest
        {%- endif %}

    from reported

    {% if by_month -%}
    inner join month_inputs
        on reported.month_start = month_inputs.month_start
    {%- endif %}

    left join invoices
        on reported.invoice_ref = invoices.transaction_number

    left join invoice_skus
        on invoices.transaction_id = invoice_skus.transaction_id
        and reported.sku = invoice_skus.sku

),

final as (

    select
        partner_id,
        month_start,
        invoice_ref,
        sku,
        transaction_id,
        transaction_type,
        transaction_date,
        coalesce(
            {{ month_start('transaction_date') }} <> month_start,
            false
        ) as is_other_month,
        reported_line_count,
        reported_units,
        erp_units,
        variance_units,
        reported_sales_usd,
        erp_sales_usd,
        variance_usd,
        case
            when not is_known_invoice then 'unknown_invoice'
            when is_voided then 'voided_invoice'
            when erp_mapped_partner_id is null or erp_mapped_partner_id <> partner_id
                then 'other_partner_invoice'
            when not is_sku_on_invoice then 'sku_not_on_invoice'
            when {{ is_within_unit_tolerance('variance_units', 'erp_units') }}
                and {{ is_within_tolerance('variance_usd', 'erp_sales_usd') }}
                then 'matched'
            when variance_units > 0 then 'over_reported'
            when variance_units < 0 then 'under_reported'
            when variance_usd > 0 then 'over_reported'
            else 'under_reported'
        end as status,
        month_inputs_digest as _month_inputs_digest

    from joined

)

{{ with_month_markers('final', 'months_to_build') }}
