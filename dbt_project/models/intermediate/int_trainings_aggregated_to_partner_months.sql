-- Training and certification measures for every spine row (grain: partner_id x month_start):
-- flows (completions and certifications earned in the month) and stocks at the month's last
-- day (certifications active, enrolments overdue).

with

spine as (

    select * from {{ ref('int_partner_months_spined') }}

),

trainings as (

    select * from {{ ref('stg_portal__trainings') }}

    where partner_id is not null

),

measured as (

    select
        spine.partner_id,
        spine.month_start,
        sum(
            case
                when trainings.completed_date >= spine.month_start
                    and trainings.completed_date <= spine.month_end_date
                    then 1
                else 0
            end
        ) as courses_completed,
        sum(
            case
                when trainings.is_certification
                    and trainings.is_passed
                    and trainings.completed_date >= spine.month_start
                    and trainings.completed_date <= spine.month_end_date
                    then 1
                else 0
            end
        ) as certifications_earned,
        sum(
            case
                when trainings.is_certification
                    and trainings.is_passed
                    and trainings.completed_date <= spine.month_end_date
                    and (
                        trainings.expires_date is null
                        or trainings.expires_date > spine.month_end_date
                    )
                    then 1
                else 0
            end
        ) as active_certifications,
        sum(
            case
                when trainings.due_date <= spine.month_end_date
                    and (
                        trainings.completed_date is null
                        or trainings.completed_date > spine.month_end_date
                    )
                    then 1
                else 0
            end
        ) as overdue_trainings

    from spine

    inner join trainings
        on spine.partner_id = trainings.partner_id

    group by
        spine.partner_id,
        spine.month_start

),

final as (

    select
        spine.partner_id,
        spine.month_start,
        coalesce(measured.courses_completed, 0) as courses_completed,
        coalesce(measured.certifications_earned, 0) as certifications_earned,
        coalesce(measured.active_certifications, 0) as active_certifications,
        coalesce(measured.overdue_trainings, 0) as overdue_trainings

    from spine

    left join measured
        on spine.partner_id = measured.partner_id
        and spine.month_start = measured.month_start

)

select * from final
