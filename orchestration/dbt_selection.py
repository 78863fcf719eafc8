"""Which dbt nodes go where: the dbt selection strings of the Dagster assets and of CI.

Plain strings in a module of their own, so that tools outside Dagster (the benchmarks) use
the same selections without importing the asset definitions.
"""

# The month-grained models (what a month's rebuild must run): the incremental models, the
# partner-report models, and everything downstream of them.
MONTH_GRAINED_SELECT = "config.materialized:incremental+ int_partner_report_lines_unioned+"
# The partitioned ones among them: the partner-month marts and everything built on them.
PARTITIONED_SELECT = "fct_partner_months+ rpt_partner_invoice_reconciliation+"
# dbt tests that check the project's SQL rather than the data a run brings: the grain and
# keys of intermediate models and of the validation frames (the Great Expectations structure
# checks test the frames' keys in every run anyway), relationships between models, and
# invariants that hold by construction. CI runs them (tests/dbt on hand-made rows, tests/e2e
# on a whole world); a pipeline run runs the tests that guard data (sources, staging, the
# marts' grain, keys, values), and only on the models it rebuilds (docs/models.md).
CI_ONLY_TESTS = (
    "resource_type:test,fqn:partnerpulse.intermediate "
    "resource_type:test,fqn:partnerpulse.validation "
    "test_name:relationships test_name:expression_is_true"
)
