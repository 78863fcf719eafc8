-- One row per partner (grain: partner_id): every CRM Account with IsPartner = true that is
-- not soft-deleted, with its attributes now and the span of its partner-month spine.
-- partner_tier is the tier held now (from the CRM); since when it has been seen, and how
-- often the tier changed, come from the tier-history snapshot (dim_partner_tier_history).

with

accounts as (

    select * from {{ ref('stg_crm__accounts') }}

),

erp_partners_mapped as (

    select * from {{ ref('int_erp_partners_mapped') }}

),

spine as (

    select * from {{ ref('int_partner_months_spined') }}

),

spine_bounds as (

    select
        partner_id,
        min(month_start) as first_month_start,
        max(month_start) as last_month_start,
        count(*) as spine_month_count

    from spine

    group by partner_id

),

tier_history as (

    select * from {{ ref('dim_partner_tier_history') }}

),

tier_versions as (

    select
        partner_id,
        max(case when is_current then valid_from end) as tier_observed_since,
        count(*) - 1 as tier_changes_observed

    from tier_history

    group by partner_id

),

mapped_erp_partners as (

    select
        partner_id,
        count(*) as mapped_erp_partner_count

    from erp_partners_mapped

    where partner_id is not null

    group by partner_id

),

final as (

    select
        accounts.account_id as partner_id,
        accounts.account_name as partner_name,
        accounts.erp_partner_id,
        accounts.partner_tier,
        tier_versions.tier_observed_since,
        coalesce(tier_versions.tier_changes_observed, 0) as tier_changes_observed,
        accounts.partner_type,
        accounts.specialization,
        accounts.partner_status,
        accounts.region,
        accounts.billing_country,
        accounts.industry,
        accounts.recruitment_cost_usd,
        accounts.partner_since_date,
        accounts.terminated_on_date,
        spine_bounds.first_month_start,
        spine_bounds.last_month_start,
        coalesce(spine_bounds.spine_month_count, 0) as spine_month_count,
        coalesce(mapped_erp_partners.mapped_erp_partner_count, 0) as mapped_erp_partner_count,
        (
            accounts.terminated_on_date is null
            or accounts.terminated_on_date > {{ as_of_date() }}
        ) as is_active,
        accounts.created_at

    from accounts

    left join spine_bounds
        on accounts.account_id = spine_bounds.partner_id

    left join mapped_erp_partners
        on accounts.account_id = mapped_erp_partners.partner_id

    left join tier_versions
        on accounts.account_id = tier_versions.partner_id

    where
        accounts.is_partner
        and not accounts.is_deleted

)

select * from final
