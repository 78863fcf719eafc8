with

source as (

    select * from {{ source('portal', 'trainings') }}

),

renamed as (

    select

        ----------  ids
        id as training_id,
        partner_id as partner_id,
        learner_id as learner_id,
        course_id as course_id,

        ----------  strings
        course_name as course_name,

        ----------  booleans
        coalesce(is_certification, false) as is_certification,
        coalesce(passed, false) as is_passed,

        ----------  dates & timestamps
        enrolled_on as enrolled_date,
        due_on as due_date,
        completed_on as completed_date,
        expires_on as expires_date,
        updated_at as updated_at,
        _loaded_at as loaded_at

    from source

)

select * from renamed
