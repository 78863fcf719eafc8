-- Every ERP partner id (from the partner table, and any id an ERP transaction or MDF payment
-- names) with the CRM partner it maps to through Account.ERP_Partner_Id__c
-- (grain: erp_partner_id). The CRM field decides; the ERP externalid is only compared.
-- Unmapped or ambiguously mapped partners stay here, flagged, and become data-quality findings.

with

erp_partners as (

    select * from {{ ref('stg_erp__partners') }}

),

transactions as (

    select * from {{ ref('stg_erp__transactions') }}

),

mdf_payments as (

    select * from {{ ref('stg_erp__mdf_payments') }}

),

accounts as (

    select * from {{ ref('stg_crm__accounts') }}

),

referenced_ids as (

    select erp_partner_id from erp_partners

    union

    select erp_partner_id from transactions where erp_partner_id is not null

    union

    select erp_partner_id from mdf_payments where erp_partner_id is not null

),

crm_candidates as (

    select
        erp_partner_id,
        account_id as partner_id,
        count(*) over (partition by erp_partner_id) as candidate_count,
        row_number() over (
            partition by erp_partner_id
            order by partner_since_date, created_at, account_id
        ) as candidate_rank

    from accounts

    where
        is_partner
        and not is_deleted
        and erp_partner_id is not null

),

chosen as (

    select * from crm_candidates where candidate_rank = 1

),

final as (

    select
        referenced_ids.erp_partner_id,
        chosen.partner_id,
        erp_partners.external_account_id,
        erp_partners.company_name,
        erp_partners.partner_entity_code,
        coalesce(chosen.candidate_count, 0) as crm_candidate_count,
        case
            when chosen.partner_id is null then 'unmapped'
            when chosen.candidate_count > 1 then 'ambiguous'
            else 'mapped'
        end as mapping_status,
        coalesce(
            chosen.partner_id is not null
            and erp_partners.external_account_id is not null
            and erp_partners.external_account_id <> chosen.partner_id,
            false
        ) as is_external_id_mismatch,
        (erp_partners.erp_partner_id is not null) as is_in_erp_partner_table,
        coalesce(erp_partners.is_inactive, false) as is_inactive

    from referenced_ids

    left join erp_partners
        on referenced_ids.erp_partner_id = erp_partners.erp_partner_id

    left join chosen
        on referenced_ids.erp_partner_id = chosen.erp_partner_id

)

select * from final
