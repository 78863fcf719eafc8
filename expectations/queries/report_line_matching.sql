-- Suite `report_line_matching`: every landed report line held against the ERP records of
-- its partner. One row per report (API revision, or loaded POS file) of channel $channel
-- ('api' or 'pos'), its lines matched in DuckDB:
--   * invoice_ref names no invoice or credit memo (not voided) of the partner's ERP record;
--   * the SKU was never on a (not voided) invoice or credit memo of the partner.
-- The CRM partner maps to its ERP partner through Account.ERP_Partner_Id__c (the CRM wins).
-- Parameters: $channel.

with

partner_map as (

    select id as partner_id, try_cast(erp_partner_id__c as bigint) as erp_partner_id
    from raw_crm.account
    where coalesce(ispartner, false) and not coalesce(isdeleted, false)

),

erp_documents as (

    select id as transaction_id, partner as erp_partner_id, tranid
    from raw_erp.transaction
    where type in ('CustInvc', 'CustCred') and coalesce(lower(trim(status)), '') <> 'voided'

),

partner_documents as (

    select distinct erp_partner_id, tranid from erp_documents

),

partner_skus as (

    select distinct documents.erp_partner_id, items.itemid as sku
    from raw_erp.transactionline as lines
    inner join erp_documents as documents on documents.transaction_id = lines.transaction
    inner join raw_erp.item as items on items.id = lines.item
    where not coalesce(lines.mainline, false) and not coalesce(lines.taxline, false)

),

report_lines as (

    select
        'api' as channel,
        reports.id as report_id,
        reports.partner_id,
        reports.period,
        reports.revision,
        reports.status,
        lines.sku,
        lines.amount,
        lines.invoice_ref
    from raw_portal.sales_reports as reports
    inner join raw_portal.sales_report_lines as lines on lines.report_id = reports.id
    where $channel = 'api'

    union all

    select
        'pos' as channel,
        files.file_name as report_id,
        files.partner_id,
        files.period,
        files.revision,
        files.status,
        lines.sku,
        lines.amount,
        lines.invoice_ref
    from raw_portal.pos_files as files
    inner join raw_portal.pos_report_lines as lines on lines.file_name = files.file_name
    where $channel = 'pos' and files.status = 'loaded'

),

matched as (

    select
        report_lines.*,
        partner_map.erp_partner_id,
        (report_lines.invoice_ref is not null and partner_documents.tranid is null)
            as is_unknown_invoice_ref,
        (report_lines.sku is not null and partner_skus.sku is null) as is_sku_never_invoiced

    from report_lines
    left join partner_map on partner_map.partner_id = report_lines.partner_id
    left join partner_documents
        on partner_documents.erp_partner_id = partner_map.erp_partner_id
        and partner_documents.tranid = report_lines.invoice_ref
    left join partner_skus
        on partner_skus.erp_partner_id = partner_map.erp_partner_id
        and partner_skus.sku = report_lines.sku

)

select
    channel,
    report_id,
    partner_id,
    period,
    cast(try_strptime(period, '%Y-%m') as date) as month_start,
    revision,
    status,
    any_value(erp_partner_id) as erp_partner_id,
    count(*) as lines,
    count(invoice_ref) as lines_with_invoice_ref,
    count(*) filter (where is_unknown_invoice_ref) as unknown_invoice_ref_lines,
    sum(amount) filter (where is_unknown_invoice_ref) as unknown_invoice_ref_amount,
    string_agg(distinct invoice_ref, ', ' order by invoice_ref)
        filter (where is_unknown_invoice_ref) as unknown_invoice_refs,
    count(*) filter (where is_sku_never_invoiced) as sku_never_invoiced_lines,
    sum(amount) filter (where is_sku_never_invoiced) as sku_never_invoiced_amount,
    string_agg(distinct sku, ', ' order by sku) filter (where is_sku_never_invoiced)
        as skus_never_invoiced

from matched
group by channel, report_id, partner_id, period, revision, status
order by partner_id, period, revision, report_id
