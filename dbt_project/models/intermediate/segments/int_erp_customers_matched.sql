-- Every ERP customer with the CRM end-customer Account it matches and that Account's
-- industry, region and country (grain: erp_customer_id). The ERP customer carries no
-- industry or region; its companyname is the Name of the end customer's CRM Account.
-- Names match after normalized_name() (case, surrounding spaces and runs of spaces
-- ignored), against Accounts of Type 'Customer' that are not soft-deleted:
--   matched    exactly one such Account has the name;
--   ambiguous  several have it (no guess is made);
--   unmatched  none has it, or the customer has no name.
-- Without a match (or with an Account missing a value) industry, region and country are
-- 'Unknown', so the customer's sales still count, under 'Unknown'.

with

customers as (

    select * from {{ ref('stg_erp__customers') }}

),

accounts as (

    select * from {{ ref('stg_crm__accounts') }}

),

customer_accounts as (

    select
        account_id,
        {{ normalized_name('account_name') }} as match_name,
        industry,
        region,
        billing_country

    from accounts

    where
        account_type = 'Customer'
        and not is_deleted
        and account_name is not null

),

name_counts as (

    select
        match_name,
        count(*) as account_count

    from customer_accounts

    group by match_name

),

customer_names as (

    select
        erp_customer_id,
        company_name,
        {{ normalized_name('company_name') }} as match_name

    from customers

),

final as (

    select
        customer_names.erp_customer_id,
        customer_names.company_name,
        case when name_counts.account_count = 1 then customer_accounts.account_id end
            as end_customer_account_id,
        case
            when name_counts.account_count = 1 then 'matched'
            when name_counts.account_count > 1 then 'ambiguous'
            else 'unmatched'
        end as match_status,
        coalesce(
            case when name_counts.account_count = 1 then customer_accounts.industry end,
            'Unknown'
        ) as industry,
        coalesce(
            case when name_counts.account_count = 1 then customer_accounts.region end,
            'Unknown'
        ) as region,
        coalesce(
            case when name_counts.account_count = 1 then customer_accounts.billing_country end,
            'Unknown'
        ) as country

    from customer_names

    left join name_counts
        on customer_names.match_name = name_counts.match_name

    left join customer_accounts
        on customer_names.match_name = customer_accounts.match_name
        and name_counts.account_count = 1

)

select * from final
