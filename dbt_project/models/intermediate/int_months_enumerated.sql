-- Every calendar month from 1970-01 to 2069-12: the calendar the monthly models join to.

with

numbers as (

    {{ dbt.generate_series(1200) }}

),

months as (

    select
        {{ add_months("cast('1970-01-01' as date)", "generated_number - 1") }} as month_start

    from numbers

),

final as (

    select
        month_start,
        {{ month_end('month_start') }} as month_end_date

    from months

)

select * from final
