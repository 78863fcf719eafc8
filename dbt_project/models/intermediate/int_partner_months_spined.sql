-- The partner-month spine (grain: partner_id x month_start): every partner (IsPartner, not
-- deleted) for every month from the month of Partner_Since__c to the month of
-- Terminated_On__c, or the as_of month while not terminated (or terminated after as_of),
-- both ends included. A partner without Partner_Since__c starts at its CreatedDate's month
-- (and is a data-quality finding).

with

accounts as (

    select * from {{ ref('stg_crm__accounts') }}

),

months as (

    select * from {{ ref('int_months_enumerated') }}

),

partners as (

    select
        account_id as partner_id,
        {{ month_start('coalesce(partner_since_date, cast(created_at as date))') }}
            as first_month_start,
        {{ month_start('terminated_on_date') }} as termination_month_start

    from accounts

    where
        is_partner
        and not is_deleted

),

bounded as (

    select
        partner_id,
        first_month_start,
        termination_month_start,
        case
            when termination_month_start is not null
                and termination_month_start < {{ as_of_month_start() }}
                then termination_month_start
            else {{ as_of_month_start() }}
        end as last_month_start

    from partners

),

final as (

    select
        bounded.partner_id,
        months.month_start,
        months.month_end_date,
        bounded.first_month_start,
        bounded.last_month_start,
        (months.month_start = bounded.first_month_start) as is_first_month,
        coalesce(months.month_start = bounded.termination_month_start, false)
            as is_termination_month,
        (months.month_start = {{ as_of_month_start() }}) as is_current_month

    from bounded

    inner join months
        on months.month_start >= bounded.first_month_start
        and months.month_start <= bounded.last_month_start

)

select * from final
