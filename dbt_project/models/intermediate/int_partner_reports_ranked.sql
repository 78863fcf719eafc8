-- Every received partner report with its part in deciding the effective report of its
-- (partner_id, period) (grain: report_source x report_id):
--   1. where the API and a POS file carry the same (partner, period, revision), the API's
--      wins, even when it is withdrawn: the file is 'superseded_by_api';
--   2. two reports of one source with the same revision: the latest received wins, the
--      other is a 'duplicate_revision';
--   3. the effective report is the highest remaining revision that is not withdrawn; the
--      others are 'withdrawn' or 'older_revision'.
-- Only revision numbers and withdrawn decide; the 'restated' status is informational.

with

reports as (

    select * from {{ ref('int_partner_reports_unioned') }}

),

api_revisions as (

    select distinct
        partner_id,
        period_month_start,
        revision

    from reports

    where report_source = 'api'

),

flagged_clash as (

    select
        reports.*,
        (
            reports.report_source = 'pos'
            and api_revisions.revision is not null
        ) as is_superseded_by_api

    from reports

    left join api_revisions
        on reports.partner_id = api_revisions.partner_id
        and reports.period_month_start = api_revisions.period_month_start
        and reports.revision = api_revisions.revision

),

ranked_duplicates as (

    select
        *,
        row_number() over (
            partition by partner_id, period_month_start, revision, report_source
            order by received_at desc nulls last, report_id desc
        ) as rank_within_revision

    from flagged_clash

),

candidates as (

    select
        *,
        (
            not is_superseded_by_api
            and rank_within_revision = 1
            and not is_withdrawn
            and partner_id is not null
            and period_month_start is not null
            and revision is not null
        ) as is_candidate

    from ranked_duplicates

),

ranked as (

    select
        *,
        case
            when is_candidate
                then row_number() over (
                    partition by partner_id, period_month_start, is_candidate
                    order by revision desc
                )
        end as candidate_rank

    from candidates

),

final as (

    select
        report_source,
        report_id,
        partner_id,
        period,
        period_month_start,
        revision,
        report_status,
        is_withdrawn,
        currency_code,
        has_mixed_currencies,
        line_count,
        units_reported,
        reported_sales_usd,
        unconverted_line_count,
        received_at,
        coalesce(candidate_rank = 1, false) as is_effective,
        case
            when partner_id is null or period_month_start is null or revision is null
                then 'invalid_header'
            when is_superseded_by_api then 'superseded_by_api'
            when rank_within_revision > 1 then 'duplicate_revision'
            when is_withdrawn then 'withdrawn'
            when candidate_rank > 1 then 'older_revision'
        end as exclusion_reason

    from ranked

)

select * from final
