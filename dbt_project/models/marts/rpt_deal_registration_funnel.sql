-- The deal-registration funnel by partner and submission month (grain: partner_id x
-- month_start, one row per row of the partner-month spine, zeros without registrations).
-- Each registration submitted in the month is counted once, by its status now: approved
-- (Approved now), rejected, expired (approved, then no opportunity within 90 days) or
-- pending (Submitted, undecided); won when a closed-won opportunity that is not deleted
-- names it. approval_rate = approved / (approved + rejected); conversion_rate = won /
-- approved; the median days from submission to decision are taken over the month's
-- registrations that have a Decision_Date__c (NULL when none).

with

spine as (

    select * from {{ ref('int_partner_months_spined') }}

),

deal_registrations as (

    select * from {{ ref('int_deal_registrations_classified') }}

    where
        partner_id is not null
        and submitted_month_start is not null

),

submission_months as (

    select
        partner_id,
        submitted_month_start as month_start,
        count(*) as deal_regs_submitted,
        coalesce(sum(estimated_amount_usd), 0) as deal_reg_value_submitted_usd,
        sum(case when is_approved then 1 else 0 end) as deal_regs_approved,
        sum(case when is_rejected then 1 else 0 end) as deal_regs_rejected,
        sum(case when is_expired then 1 else 0 end) as deal_regs_expired,
        sum(case when is_pending then 1 else 0 end) as deal_regs_pending,
        sum(case when is_won then 1 else 0 end) as deal_regs_won,
        sum(won_amount_usd) as won_amount_usd,
        {{ median('days_to_decision') }} as median_days_to_decision

    from deal_registrations

    group by
        partner_id,
        submitted_month_start

),

final as (

    select
        spine.partner_id,
        spine.month_start,
        {{ count_or_zero('submission_months.deal_regs_submitted') }} as deal_regs_submitted,
        coalesce(submission_months.deal_reg_value_submitted_usd, 0)
            as deal_reg_value_submitted_usd,
        {{ count_or_zero('submission_months.deal_regs_approved') }} as deal_regs_approved,
        {{ count_or_zero('submission_months.deal_regs_rejected') }} as deal_regs_rejected,
        {{ count_or_zero('submission_months.deal_regs_expired') }} as deal_regs_expired,
        {{ count_or_zero('submission_months.deal_regs_pending') }} as deal_regs_pending,
        {{ count_or_zero('submission_months.deal_regs_won') }} as deal_regs_won,
        coalesce(submission_months.won_amount_usd, 0) as won_amount_usd,
        {{ safe_divide(
            'cast(submission_months.deal_regs_approved as ' ~ type_double() ~ ')',
            'submission_months.deal_regs_approved + submission_months.deal_regs_rejected'
        ) }} as approval_rate,
        {{ safe_divide(
            'cast(submission_months.deal_regs_won as ' ~ type_double() ~ ')',
            'submission_months.deal_regs_approved'
        ) }} as conversion_rate,
        submission_months.median_days_to_decision

    from spine

    left join submission_months
        on spine.partner_id = submission_months.partner_id
        and spine.month_start = submission_months.month_start

)

select * from final
