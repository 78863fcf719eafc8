"""Org shapes: the same world served as differently customised Salesforce and NetSuite
accounts and with another POS file layout.

A shape is data only. For each served object it lists the world tables ("parts") it is
made of, how their columns and picklist values are renamed and, for an object made of
several parts, the record type each part's rows carry. `source_servers.shaping` applies
a shape at serve time (DuckDB views over the world tables), so SOQL, SuiteQL, describe
and the metadata catalog all see the shaped names. World tables a shape does not
mention are served unchanged under their own names.

`default` serves the world as generated (no views at all).
"""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_SHAPE = "default"
ORG_SHAPE_VARIABLE = "PARTNERPULSE_STANDIN_ORG_SHAPE"


@dataclass(frozen=True)
class Part:
    """One world table served as (some of) the rows of a served object."""

    table: str  # world table, e.g. "deal_registration__c"
    renames: dict[str, str] = field(default_factory=dict)  # world column -> served field
    values: dict[str, dict[str, str]] = field(default_factory=dict)  # world column -> value map
    # (DeveloperName, label) of the record type of these rows (objects with several parts)
    record_type: tuple[str, str] | None = None


@dataclass(frozen=True)
class Served:
    """A served object (Salesforce sObject or SuiteQL table) and the parts it is made of."""

    name: str
    parts: tuple[Part, ...]


@dataclass(frozen=True)
class PosLayout:
    """How the POS files are written: a column per world POS field, in order, plus
    extras, with their number, date and period formats."""

    delimiter: str
    encoding: str
    decimal: str  # decimal mark
    thousands: str  # thousands separator ("" for none)
    date_format: str  # strftime format of sold_on
    period_format: str  # strftime format of the period's first day
    columns: dict[str, str]  # world POS column -> column name in this layout
    extra_columns: tuple[str, ...] = ()  # filled by the stand-in, meaningless to readers


@dataclass(frozen=True)
class OrgShape:
    name: str
    crm: tuple[Served, ...] = ()
    erp: tuple[Served, ...] = ()
    pos: PosLayout | None = None  # None: the world's own files, copied as they are

    @property
    def is_default(self) -> bool:
        return self.name == DEFAULT_SHAPE


DEFAULT = OrgShape(DEFAULT_SHAPE)

# ---------------------------------------------------------------------------------------
# northwind: a partner program run on a differently customised org
# ---------------------------------------------------------------------------------------

DEAL_REGISTRATION = ("Deal_Registration", "Deal Registration")
STANDARD_LEAD = ("Standard_Lead", "Standard Lead")
# 18-character RecordType ids (key prefix 012, the world's pod, case-safe suffix).
RECORD_TYPE_IDS = {
    DEAL_REGISTRATION[0]: "0128d0000000001AAA",
    STANDARD_LEAD[0]: "0128d0000000002AAA",
}

NORTHWIND = OrgShape(
    "northwind",
    crm=(
        Served(
            "Account",
            (
                Part(
                    "account",
                    renames={
                        "Region__c": "Sales_Region__c",
                        "Partner_Tier__c": "Program_Level__c",
                        "Partner_Type__c": "Channel_Type__c",
                        "Partner_Status__c": "Program_Status__c",
                        "ERP_Partner_Id__c": "NetSuite_Id__c",
                        "Specialization__c": "Focus_Area__c",
                        "Partner_Since__c": "Program_Join_Date__c",
                        "Terminated_On__c": "Program_Exit_Date__c",
                        "Recruitment_Cost__c": "Onboarding_Cost__c",
                    },
                    values={
                        "Partner_Tier__c": {
                            "Platinum": "Elite",
                            "Gold": "Premier",
                            "Silver": "Select",
                            "Registered": "Member",
                        },
                        "Region__c": {
                            "NA": "North America",
                            "EMEA": "Europe Middle East Africa",
                            "APAC": "Asia Pacific",
                            "LATAM": "Latin America",
                        },
                        "Partner_Type__c": {
                            "Reseller": "VAR",
                            "Distributor": "Wholesale Distributor",
                            "Referral": "Referral Agent",
                            "System Integrator": "SI",
                        },
                        "Partner_Status__c": {"Active": "Enrolled", "Terminated": "Exited"},
                    },
                ),
            ),
        ),
        Served(
            "Opportunity",
            (
                Part(
                    "opportunity",
                    renames={
                        "Partner_Role__c": "Partner_Involvement__c",
                        # The deal registration is now a Lead row with the same Id.
                        "Deal_Registration__c": "Registered_Deal__c",
                        "Product_Line__c": "Product_Family__c",
                    },
                    values={
                        "Partner_Role__c": {
                            "Sourced": "Partner Originated",
                            "Influenced": "Partner Assisted",
                        }
                    },
                ),
            ),
        ),
        Served(
            "Lead",
            (
                Part(
                    "lead",
                    renames={
                        "MQL_Date__c": "Marketing_Qualified_On__c",
                        "SQL_Date__c": "Sales_Qualified_On__c",
                    },
                    record_type=STANDARD_LEAD,
                ),
                # No Deal_Registration__c object in this org: registrations are leads.
                Part(
                    "deal_registration__c",
                    renames={
                        "Partner_Account__c": "PartnerAccountId",
                        "End_Customer__c": "End_Customer_Account__c",
                        "Product_Line__c": "Product_Family__c",
                        "Estimated_Amount__c": "Deal_Value__c",
                        "Status__c": "Registration_Status__c",
                        "Submitted_Date__c": "Registration_Submitted__c",
                        "Decision_Date__c": "Registration_Decided__c",
                        "Expiration_Date__c": "Registration_Expires__c",
                        "Opportunity__c": "Registered_Opportunity__c",
                    },
                    values={
                        "Status__c": {
                            "Submitted": "Pending Review",
                            "Approved": "Accepted",
                            "Rejected": "Declined",
                            "Expired": "Lapsed",
                        }
                    },
                    record_type=DEAL_REGISTRATION,
                ),
            ),
        ),
        Served(
            "Campaign",
            (Part("campaign", renames={"Partner_Account__c": "Sponsoring_Partner__c"}),),
        ),
    ),
    erp=(
        Served("partner", (Part("partner", renames={"externalid": "custentity_crm_account_id"}),)),
        Served(
            "customrecord_coop_payment",
            (
                Part(
                    "customrecord_mdf_payment",
                    renames={
                        "custrecord_mdf_partner": "custrecord_cp_partner",
                        "custrecord_mdf_claim": "custrecord_cp_claim_ref",
                        "custrecord_mdf_amount": "custrecord_cp_amount",
                        "custrecord_mdf_currency": "custrecord_cp_currency",
                        "custrecord_mdf_paid_date": "custrecord_cp_paid_on",
                    },
                ),
            ),
        ),
    ),
    pos=PosLayout(
        delimiter=";",
        encoding="cp1252",
        decimal=",",
        thousands=".",
        date_format="%d.%m.%Y",
        period_format="%m/%Y",
        columns={
            "partner_id": "Reseller",
            "period": "Periode",
            "sku": "Artikelnummer",
            "quantity": "Menge",
            "amount": "Umsatz",
            "currency": "Waehrung",
            "end_customer": "Endkunde",
            "invoice_ref": "Rechnung",
            "sold_on": "Verkaufsdatum",
        },
        extra_columns=("Filiale",),
    ),
)

SHAPES = {shape.name: shape for shape in (DEFAULT, NORTHWIND)}


def get_shape(name: str | None) -> OrgShape:
    """The shape called `name` (None or "" is the default); ValueError when unknown."""
    shape = SHAPES.get((name or DEFAULT_SHAPE).strip().lower())
    if shape is None:
        raise ValueError(f"unknown org shape {name!r}; expected one of {sorted(SHAPES)}")
    return shape
