-- The frame of the GX suite `report_line_matching` (grain: channel x report_id): every
-- received report (API revision, or loaded POS file) with its lines held against the ERP
-- records of its partner. The CRM partner maps to the ERP partner its Account names
-- (dim_partners.erp_partner_id: the CRM wins); the ERP records are its sales lines
-- (int_erp_sales_lines_converted: invoices and credit memos, not voided). A line is
--   * of an unknown invoice when its invoice_ref is no transaction number of those lines;
--   * of a SKU never invoiced when no such line of the partner has its SKU.
-- The checks validate one channel at a time (`where channel = 'api'`, `'pos'`).

with

report_lines as (

    select * from {{ ref('int_partner_report_lines_unioned') }}

),

reports as (

    select * from {{ ref('int_partner_reports_unioned') }}

),

partners as (

    select * from {{ ref('dim_partners') }}

),

erp_sales_lines as (

    select * from {{ ref('int_erp_sales_lines_converted') }}

),

partner_documents as (

    select distinct
        erp_partner_id,
        transaction_number

    from erp_sales_lines

),

partner_skus as (

    select distinct
        erp_partner_id,
        sku

    from erp_sales_lines

),

matched as (

    select
        report_lines.report_source,
        report_lines.report_id,
        report_lines.sku,
        report_lines.amount,
        report_lines.invoice_ref,
        partners.erp_partner_id,
        (report_lines.invoice_ref is not null and partner_documents.transaction_number is null)
            as is_unknown_invoice_ref,
        (report_lines.sku is not null and partner_skus.sku is null) as is_sku_never_invoiced

    from report_lines

    left join partners
        on report_lines.partner_id = partners.partner_id

    left join partner_documents
        on partners.erp_partner_id = partner_documents.erp_partner_id
        and report_lines.invoice_ref = partner_documents.transaction_number

    left join partner_skus
        on partners.erp_partner_id = partner_skus.erp_partner_id
        and report_lines.sku = partner_skus.sku

),

line_summary as (

    select
        report_source,
        report_id,
        any_value(erp_partner_id) as erp_partner_id,
        count(*) as lines,
        count(invoice_ref) as lines_with_invoice_ref,
        count(*) filter (where is_unknown_invoice_ref) as unknown_invoice_ref_lines,
        sum(amount) filter (where is_unknown_invoice_ref) as unknown_invoice_ref_amount,
        {{ ordered_string_agg(
            'invoice_ref', ', ', distinct=true, where='is_unknown_invoice_ref'
        ) }} as unknown_invoice_refs,
        count(*) filter (where is_sku_never_invoiced) as sku_never_invoiced_lines,
        sum(amount) filter (where is_sku_never_invoiced) as sku_never_invoiced_amount,
        {{ ordered_string_agg('sku', ', ', distinct=true, where='is_sku_never_invoiced') }}
            as skus_never_invoiced

    from matched

    group by
        report_source,
        report_id

),

final as (

    select
        reports.report_source as channel,
        reports.report_id,
        reports.partner_id,
        reports.period,
        reports.period_month_start as month_start,
        reports.revision,
        reports.report_status as status,
        line_summary.erp_partner_id,
        line_summary.lines,
        line_summary.lines_with_invoice_ref,
        line_summary.unknown_invoice_ref_lines,
        line_summary.unknown_invoice_ref_amount,
        line_summary.unknown_invoice_refs,
        line_summary.sku_never_invoiced_lines,
        line_summary.sku_never_invoiced_amount,
        line_summary.skus_never_invoiced

    from reports

    -- A report without lines has nothing to match.
    inner join line_summary
        on reports.report_source = line_summary.report_source
        and reports.report_id = line_summary.report_id

)

select * from final
