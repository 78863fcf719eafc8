-- Data-quality findings (grain: finding_type x record_id): records that the models could not
-- attribute or had to decide about, so that nothing is dropped silently. severity 'error'
-- when money is left out of a partner's figures, 'warning' otherwise.

with

accounts as (

    select * from {{ ref('stg_crm__accounts') }}

),

partners as (

    select * from {{ ref('dim_partners') }}

),

spine as (

    select * from {{ ref('int_partner_months_spined') }}

),

erp_partners_mapped as (

    select * from {{ ref('int_erp_partners_mapped') }}

),

erp_partners as (

    select * from {{ ref('stg_erp__partners') }}

),

erp_item_months as (

    select * from {{ ref('int_erp_sales_aggregated_to_erp_partner_item_months') }}

),

erp_sales as (

    select * from {{ ref('int_erp_sales_aggregated_to_partner_months') }}

),

mdf_payments as (

    select * from {{ ref('stg_erp__mdf_payments') }}

),

reports as (

    select * from {{ ref('int_partner_reports_ranked') }}

),

effective_report_lines as (

    select * from {{ ref('int_partner_report_lines_effective') }}

),

pos_files as (

    select * from {{ ref('stg_portal__pos_files') }}

),

transactions as (

    select * from {{ ref('stg_erp__transactions') }}

),

trainings as (

    select * from {{ ref('stg_portal__trainings') }}

),

mdf_claims as (

    select * from {{ ref('stg_portal__mdf_claims') }}

),

asset_usage_events as (

    select * from {{ ref('stg_portal__asset_usage_events') }}

),

business_plans as (

    select * from {{ ref('stg_portal__business_plans') }}

),

unmapped_partner_sales as (

    select
        erp_partner_id,
        sum(sales_usd) as sales_usd,
        sum(sales_line_count) as sales_line_count

    from erp_item_months

    group by erp_partner_id

),

unmapped_partner_mdf as (

    select
        erp_partner_id,
        count(*) as mdf_payment_count

    from mdf_payments

    group by erp_partner_id

),

-- ERP partners that map to no CRM partner: their sales and MDF are in no partner's figures.
erp_partner_unmapped as (

    select
        'erp_partner_unmapped' as finding_type,
        case
            when coalesce(unmapped_partner_sales.sales_line_count, 0) > 0
                or coalesce(unmapped_partner_mdf.mdf_payment_count, 0) > 0
                then 'error'
            else 'warning'
        end as severity,
        'erp' as source_system,
        'partner' as source_table,
        {{ dbt.safe_cast('erp_partners_mapped.erp_partner_id', dbt.type_string()) }} as record_id,
        cast(null as {{ dbt.type_string() }}) as partner_id,
        erp_partners_mapped.erp_partner_id,
        cast(null as date) as month_start,
        unmapped_partner_sales.sales_usd as amount_usd,
        {{ dbt.concat([
            "'no CRM partner Account has ERP_Partner_Id__c = this id; externalid: '",
            "coalesce(erp_partners_mapped.external_account_id, '(none)')",
            "'; sales lines: '",
            dbt.safe_cast(
                'coalesce(unmapped_partner_sales.sales_line_count, 0)', dbt.type_string()
            ),
            "'; MDF payments: '",
            dbt.safe_cast('coalesce(unmapped_partner_mdf.mdf_payment_count, 0)', dbt.type_string()),
            "case when erp_partners_mapped.is_in_erp_partner_table then ''"
                ~ " else '; not in the ERP partner table' end",
        ]) }} as detail

    from erp_partners_mapped

    left join unmapped_partner_sales
        on erp_partners_mapped.erp_partner_id = unmapped_partner_sales.erp_partner_id

    left join unmapped_partner_mdf
        on erp_partners_mapped.erp_partner_id = unmapped_partner_mdf.erp_partner_id

    where erp_partners_mapped.mapping_status = 'unmapped'

),

-- Several CRM partners claim one ERP partner: all its figures go to the first of them.
erp_partner_ambiguous as (

    select
        'erp_partner_mapped_ambiguously' as finding_type,
        'error' as severity,
        'crm' as source_system,
        'account' as source_table,
        {{ dbt.safe_cast('erp_partner_id', dbt.type_string()) }} as record_id,
        partner_id,
        erp_partner_id,
        cast(null as date) as month_start,
        cast(null as {{ type_double() }}) as amount_usd,
        {{ dbt.concat([
            dbt.safe_cast('crm_candidate_count', dbt.type_string()),
            "' CRM partners have this ERP_Partner_Id__c; mapped to the earliest partner'",
        ]) }} as detail

    from erp_partners_mapped

    where mapping_status = 'ambiguous'

),

-- The ERP externalid names another Account than the CRM field: the CRM field wins.
erp_partner_external_id_mismatch as (

    select
        'erp_partner_external_id_mismatch' as finding_type,
        'warning' as severity,
        'erp' as source_system,
        'partner' as source_table,
        {{ dbt.safe_cast('erp_partner_id', dbt.type_string()) }} as record_id,
        partner_id,
        erp_partner_id,
        cast(null as date) as month_start,
        cast(null as {{ type_double() }}) as amount_usd,
        {{ dbt.concat([
            "'ERP externalid '",
            "external_account_id",
            "' disagrees with the CRM mapping; the CRM field wins'",
        ]) }} as detail

    from erp_partners_mapped

    where is_external_id_mismatch

),

-- A CRM partner whose ERP_Partner_Id__c is not a number or names no ERP partner.
crm_erp_partner_id_invalid as (

    select
        case
            when accounts.erp_partner_id is null then 'crm_erp_partner_id_invalid'
            else 'crm_erp_partner_id_unknown'
        end as finding_type,
        'warning' as severity,
        'crm' as source_system,
        'account' as source_table,
        accounts.account_id as record_id,
        accounts.account_id as partner_id,
        accounts.erp_partner_id,
        cast(null as date) as month_start,
        cast(null as {{ type_double() }}) as amount_usd,
        {{ dbt.concat(["'ERP_Partner_Id__c = '", "accounts.erp_partner_id_raw"]) }} as detail

    from accounts

    left join erp_partners
        on accounts.erp_partner_id = erp_partners.erp_partner_id

    where
        accounts.is_partner
        and not accounts.is_deleted
        and accounts.erp_partner_id_raw is not null
        and erp_partners.erp_partner_id is null

),

-- Partner spine anomalies.
partner_spine_issues as (

    select
        case
            when partner_since_date is null then 'partner_since_missing'
            else 'partner_terminated_without_date'
        end as finding_type,
        'warning' as severity,
        'crm' as source_system,
        'account' as source_table,
        account_id as record_id,
        account_id as partner_id,
        erp_partner_id,
        cast(null as date) as month_start,
        cast(null as {{ type_double() }}) as amount_usd,
        case
            when partner_since_date is null
                then 'Partner_Since__c is NULL; the spine starts at the month of CreatedDate'
            else 'Terminated without Terminated_On__c; the spine runs to the as_of month'
        end as detail

    from accounts

    where
        is_partner
        and not is_deleted
        and (
            partner_since_date is null
            or (partner_status = 'Terminated' and terminated_on_date is null)
        )

),

-- ERP sales of a mapped partner dated outside its partner-month spine.
erp_sales_outside_spine as (

    select
        'erp_sales_outside_partnership' as finding_type,
        'error' as severity,
        'erp' as source_system,
        'transaction' as source_table,
        {{ dbt.concat([
            'erp_sales.partner_id',
            "'|'",
            dbt.safe_cast('erp_sales.month_start', dbt.type_string()),
        ]) }} as record_id,
        erp_sales.partner_id,
        cast(null as {{ dbt.type_bigint() }}) as erp_partner_id,
        erp_sales.month_start,
        erp_sales.sales_volume_usd as amount_usd,
        'ERP sales dated before Partner_Since__c, after termination or after as_of'
            as detail

    from erp_sales

    left join spine
        on erp_sales.partner_id = spine.partner_id
        and erp_sales.month_start = spine.month_start

    where spine.partner_id is null

),

-- Reports: clashes, duplicates, unknown partners, periods off the spine, bad headers, rates.
report_findings as (

    select
        case
            when reports.exclusion_reason = 'invalid_header' then 'report_invalid_header'
            when reports.exclusion_reason = 'superseded_by_api' then 'report_api_csv_clash'
            when reports.exclusion_reason = 'duplicate_revision' then 'report_duplicate_revision'
            when partners.partner_id is null then 'report_unknown_partner'
            when spine.partner_id is null then 'report_outside_partnership'
            else 'report_missing_currency_rate'
        end as finding_type,
        case
            when reports.exclusion_reason in ('superseded_by_api', 'duplicate_revision')
                then 'warning'
            else 'error'
        end as severity,
        'portal' as source_system,
        case reports.report_source
            when 'api' then 'sales_reports'
            else 'pos_files'
        end as source_table,
        reports.report_id as record_id,
        reports.partner_id,
        cast(null as {{ dbt.type_bigint() }}) as erp_partner_id,
        reports.period_month_start as month_start,
        reports.reported_sales_usd as amount_usd,
        case
            when reports.exclusion_reason = 'invalid_header'
                then 'report without a valid partner, period or revision'
            when reports.exclusion_reason = 'superseded_by_api'
                then 'the API carries the same partner, period and revision; the API report wins'
            when reports.exclusion_reason = 'duplicate_revision'
                then 'same source and revision as another report; the latest received wins'
            when partners.partner_id is null
                then 'partner_id is not a CRM partner'
            when spine.partner_id is null
                then 'period is not on the partner-month spine'
            else 'a line currency has no rate for the period month; reported_sales_usd is NULL'
        end as detail

    from reports

    left join partners
        on reports.partner_id = partners.partner_id

    left join spine
        on reports.partner_id = spine.partner_id
        and reports.period_month_start = spine.month_start

    where
        reports.exclusion_reason in ('invalid_header', 'superseded_by_api', 'duplicate_revision')
        or (
            reports.exclusion_reason is null
            and (
                partners.partner_id is null
                or spine.partner_id is null
                or reports.unconverted_line_count > 0
            )
        )

),

-- POS files rejected whole by the loader (they count as not received).
pos_files_rejected as (

    select
        'pos_file_rejected' as finding_type,
        'warning' as severity,
        'portal' as source_system,
        'pos_files' as source_table,
        pos_file_name as record_id,
        partner_id,
        cast(null as {{ dbt.type_bigint() }}) as erp_partner_id,
        period_month_start as month_start,
        cast(null as {{ type_double() }}) as amount_usd,
        {{ dbt.concat([
            "'file rejected ('",
            "coalesce(rejection_reason, 'no reason given')",
            "'); rows quarantined: '",
            dbt.safe_cast('coalesce(rows_quarantined, 0)', dbt.type_string()),
        ]) }} as detail

    from pos_files

    where not is_loaded

),

-- Lines of effective reports whose SKU or invoice reference the ERP does not know.
report_line_findings as (

    select
        'report_line_unknown_sku' as finding_type,
        'warning' as severity,
        'portal' as source_system,
        case report_source when 'api' then 'sales_report_lines' else 'pos_report_lines' end
            as source_table,
        {{ dbt.concat([
            'effective_report_lines.report_id',
            "'|'",
            dbt.safe_cast('effective_report_lines.line_number', dbt.type_string()),
        ]) }} as record_id,
        effective_report_lines.partner_id,
        cast(null as {{ dbt.type_bigint() }}) as erp_partner_id,
        effective_report_lines.month_start,
        effective_report_lines.amount_usd,
        {{ dbt.concat([
            "'SKU not in the ERP item table: '",
            "coalesce(effective_report_lines.sku, '(none)')",
        ]) }}
            as detail

    from effective_report_lines

    where effective_report_lines.item_id is null

    union all

    select
        'report_line_unknown_invoice_ref' as finding_type,
        'warning' as severity,
        'portal' as source_system,
        case report_source when 'api' then 'sales_report_lines' else 'pos_report_lines' end
            as source_table,
        {{ dbt.concat([
            'effective_report_lines.report_id',
            "'|'",
            dbt.safe_cast('effective_report_lines.line_number', dbt.type_string()),
        ]) }} as record_id,
        effective_report_lines.partner_id,
        cast(null as {{ dbt.type_bigint() }}) as erp_partner_id,
        effective_report_lines.month_start,
        effective_report_lines.amount_usd,
        {{ dbt.concat([
            "'invoice_ref names no ERP transaction: '",
            'effective_report_lines.invoice_ref',
        ]) }}
            as detail

    from effective_report_lines

    left join transactions
        on effective_report_lines.invoice_ref = transactions.transaction_number

    where
        effective_report_lines.invoice_ref is not null
        and transactions.transaction_id is null

),

-- Other portal records naming a partner_id that is not a CRM partner.
portal_records as (

    select 'trainings' as source_table, training_id as record_id, partner_id from trainings

    union all

    select 'mdf_claims' as source_table, mdf_claim_id as record_id, partner_id from mdf_claims

    union all

    select 'asset_usage' as source_table, asset_usage_event_id as record_id, partner_id
    from asset_usage_events

    union all

    select 'business_plans' as source_table, business_plan_id as record_id, partner_id
    from business_plans

),

portal_unknown_partner as (

    select
        'portal_record_unknown_partner' as finding_type,
        'warning' as severity,
        'portal' as source_system,
        portal_records.source_table,
        {{ dbt.concat(['portal_records.source_table', "'|'", 'portal_records.record_id']) }}
            as record_id,
        portal_records.partner_id,
        cast(null as {{ dbt.type_bigint() }}) as erp_partner_id,
        cast(null as date) as month_start,
        cast(null as {{ type_double() }}) as amount_usd,
        {{ dbt.concat([
            "'partner_id is not a CRM partner: '",
            "coalesce(portal_records.partner_id, '(none)')",
        ]) }}
            as detail

    from portal_records

    left join partners
        on portal_records.partner_id = partners.partner_id

    where partners.partner_id is null

),

unioned as (

    select * from erp_partner_unmapped
    union all
    select * from erp_partner_ambiguous
    union all
    select * from erp_partner_external_id_mismatch
    union all
    select * from crm_erp_partner_id_invalid
    union all
    select * from partner_spine_issues
    union all
    select * from erp_sales_outside_spine
    union all
    select * from report_findings
    union all
    select * from pos_files_rejected
    union all
    select * from report_line_findings
    union all
    select * from portal_unknown_partner

),

final as (

    select
        cast(finding_type as {{ dbt.type_string() }}) as finding_type,
        cast(severity as {{ dbt.type_string() }}) as severity,
        cast(source_system as {{ dbt.type_string() }}) as source_system,
        cast(source_table as {{ dbt.type_string() }}) as source_table,
        cast(record_id as {{ dbt.type_string() }}) as record_id,
        partner_id,
        erp_partner_id,
        month_start,
        amount_usd,
        cast(detail as {{ dbt.type_string() }}) as detail

    from unioned

)

select * from final
