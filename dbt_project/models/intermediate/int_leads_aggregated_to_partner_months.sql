-- Partner leads per partner and month (grain: partner_id x month_start; only months with
-- activity): leads created (CreatedDate), MQLs (MQL_Date__c) and SQLs (SQL_Date__c) in the
-- month. Soft-deleted leads count nowhere.

with

leads as (

    select * from {{ ref('stg_crm__leads') }}

    where
        not is_deleted
        and partner_id is not null

),

events as (

    select
        partner_id,
        {{ month_start('created_at') }} as month_start,
        1 as leads_created,
        0 as mqls,
        0 as sqls

    from leads

    where created_at is not null

    union all

    select
        partner_id,
        {{ month_start('mql_date') }} as month_start,
        0 as leads_created,
        1 as mqls,
        0 as sqls

    from leads

    where mql_date is not null

    union all

    select
        partner_id,
        {{ month_start('sql_date') }} as month_start,
        0 as leads_created,
        0 as mqls,
        1 as sqls

    from leads

    where sql_date is not null

),

final as (

    select
        partner_id,
        month_start,
        sum(leads_created) as leads_created,
        sum(mqls) as mqls,
        sum(sqls) as sqls

    from events

    group by
        partner_id,
        month_start

)

select * from final
