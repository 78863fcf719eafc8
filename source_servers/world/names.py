"""Word lists and reference data of the synthetic ecosystem."""

from __future__ import annotations

import numpy as np

REGIONS = ("NA", "EMEA", "APAC", "LATAM")
REGION_WEIGHTS = (0.40, 0.30, 0.18, 0.12)

# country, region, weight within region, transaction currency, company suffix
COUNTRIES = (
    ("United States", "NA", 0.82, "USD", "Inc."),
    ("Canada", "NA", 0.18, "CAD", "Ltd."),
    ("United Kingdom", "EMEA", 0.28, "GBP", "Ltd"),
    ("Germany", "EMEA", 0.24, "EUR", "GmbH"),
    ("France", "EMEA", 0.16, "EUR", "SAS"),
    ("Netherlands", "EMEA", 0.10, "EUR", "B.V."),
    ("Spain", "EMEA", 0.08, "EUR", "S.L."),
    ("Italy", "EMEA", 0.08, "EUR", "S.r.l."),
    ("Ireland", "EMEA", 0.06, "EUR", "Ltd"),
    ("Japan", "APAC", 0.30, "JPY", "K.K."),
    ("Australia", "APAC", 0.30, "AUD", "Pty Ltd"),
    ("Singapore", "APAC", 0.20, "USD", "Pte. Ltd."),
    ("India", "APAC", 0.20, "USD", "Pvt. Ltd."),
    ("Brazil", "LATAM", 0.50, "BRL", "Ltda."),
    ("Mexico", "LATAM", 0.30, "USD", "S.A. de C.V."),
    ("Chile", "LATAM", 0.10, "USD", "SpA"),
    ("Colombia", "LATAM", 0.10, "USD", "S.A.S."),
)

# NetSuite's default ids for the first four; base value in USD per unit; decimals.
CURRENCIES = (
    ("USD", 1.0, 2),
    ("GBP", 1.27, 2),
    ("CAD", 0.74, 2),
    ("EUR", 1.09, 2),
    ("JPY", 0.0068, 0),
    ("AUD", 0.66, 2),
    ("BRL", 0.19, 2),
    ("CHF", 1.12, 2),
    ("MXN", 0.055, 2),
    ("SGD", 0.74, 2),
)

TIERS = ("Platinum", "Gold", "Silver", "Registered")
TIER_WEIGHTS = (0.06, 0.17, 0.32, 0.45)
TIER_SIZE = (4.0, 2.0, 1.0, 0.45)
TIER_RECRUIT = ((40_000, 90_000), (20_000, 45_000), (8_000, 20_000), (3_000, 8_000))

PARTNER_TYPES = ("Reseller", "Distributor", "Referral", "System Integrator")
PARTNER_TYPE_WEIGHTS = (0.45, 0.10, 0.20, 0.25)
PARTNER_TYPE_SIZE = (1.0, 1.8, 0.6, 0.9)

INDUSTRIES = (
    "Technology",
    "Manufacturing",
    "Financial Services",
    "Healthcare",
    "Retail",
    "Education",
    "Government",
    "Energy",
    "Telecommunications",
    "Media",
)

PRODUCT_LINES = (
    "Core Platform",
    "Analytics",
    "Security",
    "Integration",
    "Cloud Infrastructure",
    "Support Services",
    "Training & Enablement",
)
# median list price (USD) and number of SKUs per product line
PRODUCT_LINE_PRICE = (1800.0, 900.0, 700.0, 1100.0, 450.0, 350.0, 600.0)
PRODUCT_LINE_SKUS = (22, 18, 18, 16, 18, 14, 14)
EDITIONS = ("Starter", "Standard", "Professional", "Enterprise", "Premium", "Ultimate")
UNITS = ("License", "Subscription (1 yr)", "Add-on", "Node Pack", "Seat Pack (10)", "Bundle")

SPECIALIZATIONS = (
    ("Cloud Migration", ("Cloud Infrastructure", "Core Platform")),
    ("Security", ("Security",)),
    ("Data & Analytics", ("Analytics",)),
    ("Managed Services", ("Support Services", "Cloud Infrastructure")),
    ("Integration", ("Integration",)),
    ("Industry Solutions", ("Core Platform", "Training & Enablement")),
)

PARTNER_WORD_A = (
    "Apex",
    "Blue Harbor",
    "Summit",
    "Northstar",
    "Vertex",
    "Crescent",
    "Ironwood",
    "Silverline",
    "Redwood",
    "Bright Path",
    "Cobalt",
    "Evergreen",
    "Keystone",
    "Lighthouse",
    "Meridian",
    "Nimbus",
    "Orbit",
    "Pinnacle",
    "Quantum",
    "Riverbend",
    "Sapphire",
    "Tidewater",
    "Upland",
    "Vanguard",
    "Westgate",
    "Zenith",
    "Aurora",
    "Beacon",
    "Cascade",
    "Delta",
    "Ember",
    "Falcon",
    "Granite",
    "Horizon",
    "Inland",
    "Juniper",
    "Kestrel",
    "Lakeside",
    "Maple",
    "Nova",
    "Oakridge",
    "Polaris",
    "Quarry",
    "Rockford",
    "Stonebridge",
    "Trident",
    "Unity",
    "Valley",
    "Willow",
    "Atlas",
)
PARTNER_WORD_B = (
    "Systems",
    "Solutions",
    "Technologies",
    "Networks",
    "Consulting",
    "Data",
    "Cloud",
    "Digital",
    "IT Services",
    "Integrations",
    "Partners",
    "Group",
    "Labs",
    "Computing",
    "Infotech",
    "Software",
    "Analytics",
    "Advisory",
    "Security",
    "Logic",
    "Dynamics",
    "Works",
    "Connect",
    "Stack",
    "Ventures",
    "Global",
    "Tech",
    "Interactive",
    "Informatics",
    "Innovations",
    "Microsystems",
    "Associates",
    "Engineering",
    "Platforms",
    "Services",
    "Resources",
    "Alliance",
    "Direct",
    "Channel",
    "Edge",
    "Hub",
    "Wave",
    "Path",
    "Point",
    "Bridge",
)

CUSTOMER_WORD_A = (
    "Acme",
    "Northwind",
    "Contoso",
    "Fabrikam",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark",
    "Wayne",
    "Wonka",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
    "Hooli",
    "Vandelay",
    "Massive",
    "Oceanic",
    "Pied Piper",
    "Sterling",
    "Gringotts",
    "Duff",
    "Monarch",
    "Aperture",
    "Black Mesa",
    "Bluth",
    "Dunder",
    "Prestige",
    "Rekall",
    "Strickland",
    "Virtucon",
    "Wernham",
    "Zorg",
    "Ajax",
    "Bell",
    "Cardinal",
    "Dominion",
    "Eastern",
    "Frontier",
    "Golden",
    "Heritage",
    "Imperial",
    "Jupiter",
    "Kingsway",
    "Liberty",
    "Mercury",
    "National",
    "Olympic",
    "Pacific",
    "Royal",
    "Sovereign",
    "Titan",
    "United",
    "Victory",
    "Western",
    "Yellowstone",
    "Zephyr",
    "Alpine",
    "Coastal",
    "Metro",
    "Harbor",
)
CUSTOMER_WORD_B = (
    "Logistics",
    "Manufacturing",
    "Bank",
    "Health",
    "Retail",
    "Foods",
    "Energy",
    "Motors",
    "Insurance",
    "Pharma",
    "Airlines",
    "Telecom",
    "Media",
    "Chemicals",
    "Textiles",
    "Mining",
    "Shipping",
    "Hotels",
    "Foods & Beverage",
    "Electronics",
    "Capital",
    "Utilities",
    "Steel",
    "Paper",
    "Robotics",
    "Biotech",
    "Agriculture",
    "Construction",
    "Publishing",
    "Software",
    "Hospital",
    "University",
    "Markets",
    "Apparel",
    "Aerospace",
    "Dairy",
    "Semiconductors",
    "Railways",
    "Water",
    "Trading",
)
CUSTOMER_SUFFIX = ("", "Corp", "Holdings", "Group", ", Inc.", "International", "Co.", "AG")

CAMPAIGN_TYPES = ("Through-Channel", "Webinar", "Event", "Digital")

COURSES = (
    # course_id, name, is_certification
    ("CRS-101", "Platform Fundamentals", False),
    ("CRS-102", "Selling the Platform", False),
    ("CRS-110", "Analytics Essentials", False),
    ("CRS-120", "Security Foundations", False),
    ("CRS-130", "Integration Patterns", False),
    ("CRS-140", "Cloud Deployment Basics", False),
    ("CRS-150", "Partner Portal Onboarding", False),
    ("CRS-160", "Pricing and Licensing", False),
    ("CRT-201", "Certified Sales Professional", True),
    ("CRT-210", "Certified Implementation Consultant", True),
    ("CRT-220", "Certified Security Specialist", True),
    ("CRT-230", "Certified Analytics Architect", True),
    ("CRT-240", "Certified Support Engineer", True),
)
COURSE_WEIGHTS = (0.14, 0.12, 0.08, 0.08, 0.07, 0.07, 0.12, 0.08, 0.07, 0.06, 0.04, 0.04, 0.03)

ASSET_TYPES = ("datasheet", "presentation", "video", "case_study", "logo_pack", "email_template")

DENIAL_REASONS = (
    "Missing proof of performance",
    "Activity not pre-approved",
    "Claim submitted after deadline",
    "Expenses not eligible",
)


def unique_names(
    rng: np.random.Generator, n: int, parts: tuple[tuple[str, ...], ...], sep: str = " "
) -> list[str]:
    """`n` distinct names drawn from the cartesian product of word lists."""
    sizes = [len(p) for p in parts]
    capacity = int(np.prod(sizes))
    picks = rng.choice(capacity, size=min(n, capacity), replace=False)
    names = []
    for code in picks.tolist():
        words = []
        for part, size in zip(reversed(parts), reversed(sizes), strict=True):
            words.append(part[code % size])
            code //= size
        words.reverse()
        name = ""
        for w in words:
            if not w:
                continue
            name = w if not name else (name + w if w.startswith(",") else name + sep + w)
        names.append(name)
    for i in range(capacity, n):  # more than the lists can name: number them
        names.append(f"{names[i % capacity]} {i // capacity + 1}")
    return names
