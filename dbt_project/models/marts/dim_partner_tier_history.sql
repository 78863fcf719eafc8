-- The tier history of every partner (grain: partner_id x valid_from), read from the snapshot
-- snp_crm__partner_tiers: one row per tier a partner has been seen to hold, from when the
-- snapshot first saw it to when it saw the next one (NULL while current). The history
-- starts at the first snapshot; the first version of a partner is its tier at that time
-- (tier_change 'first_seen'). Tiers rank Registered < Silver < Gold < Platinum, so a
-- change is an 'upgrade' or a 'downgrade' (a tier outside that list is 'changed').

with

snapshot_rows as (

    select * from {{ ref('snp_crm__partner_tiers') }}

),

partners as (

    select account_id as partner_id

    from {{ ref('stg_crm__accounts') }}

    where
        is_partner
        and not is_deleted

),

versions as (

    select
        snapshot_rows.account_id as partner_id,
        snapshot_rows.partner_tier,
        snapshot_rows.dbt_valid_from as valid_from,
        snapshot_rows.dbt_valid_to as valid_to,
        snapshot_rows.dbt_scd_id as tier_version_id,
        -- bigint on every engine (Spark's row_number is an int).
        cast(row_number() over (
            partition by snapshot_rows.account_id
            order by snapshot_rows.dbt_valid_from
        ) as bigint) as version_number,
        lag(snapshot_rows.partner_tier) over (
            partition by snapshot_rows.account_id
            order by snapshot_rows.dbt_valid_from
        ) as previous_tier

    from snapshot_rows

    inner join partners
        on snapshot_rows.account_id = partners.partner_id

),

ranked as (

    select
        *,
        {{ tier_rank('partner_tier') }} as tier_rank,
        {{ tier_rank('previous_tier') }} as previous_tier_rank

    from versions

),

final as (

    select
        partner_id,
        valid_from,
        valid_to,
        partner_tier,
        previous_tier,
        version_number,
        case
            when version_number = 1 then 'first_seen'
            when tier_rank > previous_tier_rank then 'upgrade'
            when tier_rank < previous_tier_rank then 'downgrade'
            else 'changed'
        end as tier_change,
        (valid_to is null) as is_current,
        tier_version_id

    from ranked

)

select * from final
