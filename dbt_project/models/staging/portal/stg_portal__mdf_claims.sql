with

source as (

    select * from {{ source('portal', 'mdf_claims') }}

),

renamed as (

    select

        ----------  ids
        id as mdf_claim_id,
        partner_id as partner_id,
        campaign_id as campaign_id,

        ----------  strings
        upper(trim(currency)) as currency_code,
        lower(trim(status)) as claim_status,
        denial_reason as denial_reason,

        ----------  numerics
        requested_amount as requested_amount,
        approved_amount as approved_amount,

        ----------  dates & timestamps
        submitted_on as submitted_date,
        decided_on as decided_date,
        updated_at as updated_at,
        _loaded_at as loaded_at

    from source

)

select * from renamed
