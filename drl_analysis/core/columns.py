"""The canonical columns, their units and their plausible ranges.

This is the one place that names the columns of an exposure and the unit each
dose quantity is stored in; every other module imports from here.

Units follow the German survey tables (see ``domain-notes.md`` of the project):
DAP in cGy·cm² (= µGy·m²), AGD in mGy, DLP in mGy·cm, CTDIvol in mGy.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Dose quantities for which DRLs exist, in canonical units.
DOSE_QUANTITIES: tuple[str, ...] = ("dap_cgycm2", "agd_mgy", "dlp_mgycm", "ctdivol_mgy")

#: Columns of one exposure as read from a survey, in template order.
EXPOSURE_COLUMNS: tuple[str, ...] = (
    "facility_id",
    "exam_code",
    "dap_cgycm2",
    "agd_mgy",
    "dlp_mgycm",
    "ctdivol_mgy",
    "ctdi_phantom_cm",
    "weight_kg",
    "age_years",
)

#: Numeric columns of an exposure (everything but the two identifiers).
NUMERIC_COLUMNS: tuple[str, ...] = EXPOSURE_COLUMNS[2:]

#: Columns that ``drl-analysis export`` writes first, in this order, then ``flags``.
EXPORT_COLUMNS: tuple[str, ...] = (
    "source_file",
    "sheet",
    "source_row",
    "data_source",
    "year",
    *EXPOSURE_COLUMNS,
)


@dataclass(frozen=True)
class Quantity:
    """A numeric column: its unit, a label for readers and its plausible range.

    ``low`` and ``high`` bound values that can occur in a real examination of
    an adult or a child; a value outside is stored but flagged ``out_of_range``.
    """

    column: str
    unit: str
    label: str
    low: float
    high: float


QUANTITIES: dict[str, Quantity] = {
    q.column: q
    for q in (
        Quantity("dap_cgycm2", "cGy·cm²", "DAP", 0.01, 200_000.0),
        Quantity("agd_mgy", "mGy", "AGD", 0.05, 30.0),
        Quantity("dlp_mgycm", "mGy·cm", "DLP", 1.0, 30_000.0),
        Quantity("ctdivol_mgy", "mGy", "CTDIvol", 0.05, 500.0),
        Quantity("ctdi_phantom_cm", "cm", "CTDI phantom", 16.0, 32.0),
        Quantity("weight_kg", "kg", "Patient weight", 0.3, 350.0),
        Quantity("age_years", "years", "Age", 0.0, 120.0),
    )
}

#: The CTDI reference phantoms, diameter in cm.
PHANTOMS_CM: tuple[int, ...] = (16, 32)

#: The CT dose quantities: referenced to a CTDI phantom, so 16 cm and 32 cm
#: values of one exam are never pooled (16 cm values are 2-3 times the 32 cm ones).
CT_QUANTITIES: tuple[str, ...] = ("ctdivol_mgy", "dlp_mgycm")


def header_label(column: str) -> str:
    """A reader's column header with the unit, e.g. ``"DAP [cGy·cm²]"``."""
    q = QUANTITIES.get(column)
    if q is None:
        return column.replace("_", " ")
    return f"{q.label} [{q.unit}]"


# Flags stored with an exposure, in its ``flags`` column: tokens separated by
# ";", each ``kind`` or ``kind:column`` (e.g. ``unit_slip_x100:dap_cgycm2``).
FLAG_OUT_OF_RANGE = "out_of_range"  # a value outside its quantity's plausible range
FLAG_UNIT_SLIP = "unit_slip"  # prefix: a factor 10/100/1000 from its exam's distribution
FLAG_UNKNOWN_EXAM = "unknown_exam_code"  # the catalogue does not know the exam code
FLAG_AMBIGUOUS_NUMBER = "ambiguous_notation"  # "1.234" where the sheet shows no notation
FLAG_UNMAPPED_PROCEDURE = "unmapped_procedure"  # an RDSR study the procedure map gives no exam code
FLAG_MIXED_PHANTOMS = "mixed_phantoms"  # an RDSR's CT events on both CTDI phantoms (as mixed_phantoms:dlp_mgycm)

#: Flag kinds that make a value implausible: such values are left out of DRL
#: statistics (and counted).
IMPLAUSIBLE_KINDS: tuple[str, ...] = (FLAG_OUT_OF_RANGE, FLAG_UNIT_SLIP)


def flag_token(kind: str, column: str | None = None) -> str:
    """One flag token, ``kind`` or ``kind:column``."""
    return kind if column is None else f"{kind}:{column}"


def is_implausible(flags: str | None, column: str) -> bool:
    """Whether ``flags`` mark the value in ``column`` as implausible.

    >>> is_implausible("unit_slip_x100:dap_cgycm2;unknown_exam_code", "dap_cgycm2")
    True
    >>> is_implausible("out_of_range:weight_kg", "dap_cgycm2")
    False
    """
    if not flags:
        return False
    for token in flags.split(";"):
        kind, _, col = token.partition(":")
        if col == column and kind.startswith(IMPLAUSIBLE_KINDS):
            return True
    return False


# ---------------------------------------------------------------------------
# What each column means: the one place for the descriptions that published
# tables carry (the Table Schemas of a version's datapackage.json). Every
# column a run writes has a description here, by name, or by a pattern for
# columns named after a year or a read field; a name that means something
# else in one table gets a description for that table as well.
# ---------------------------------------------------------------------------

#: Said of a dose value whose unit is the row's ``unit`` (the canonical unit of its ``quantity``).
_IN_UNIT = "in the unit of the row's unit column (the canonical unit of its quantity)"


def _dose(text: str) -> str:
    return f"{text}, {_IN_UNIT}"


#: Column -> its meaning, with the unit where it has one.
COLUMN_DESCRIPTIONS: dict[str, str] = {
    # One exposure, canonical units
    "facility_id": "facility (hospital or practice) as numbered by its data source; identifies a facility only "
    "together with data_source; in the pseudonymised edition a keyed pseudonym F-XXXXXXXX",
    "exam_code": "examination code of the exam-code catalogue (codes 9xxx are this project's own)",
    "exam_name": "name of the examination in the exam-code catalogue",
    "dap_cgycm2": "dose-area product, cGy·cm² (= µGy·m²)",
    "agd_mgy": "average glandular dose (mammography), mGy",
    "dlp_mgycm": "dose-length product (CT), mGy·cm",
    "ctdivol_mgy": "volume CT dose index CTDIvol, mGy",
    "ctdi_phantom_cm": "diameter of the CTDI reference phantom the CT values refer to, cm (16 head, 32 body)",
    "weight_kg": "patient weight, kg",
    "age_years": "patient age, years",
    "source_file": "name of the input file the row comes from (relative to the input folder)",
    "sheet": "sheet of the input file",
    "source_row": "row of the sheet as a spreadsheet shows it (1 = the first row)",
    "data_source": "data source that submitted the survey (the medical body); in the pseudonymised edition a "
    "keyed pseudonym S-XXXXXXXX",
    "year": "survey year",
    "flags": "ingest flags of the value or its row, separated by ';', each kind or kind:column "
    "(out_of_range, unit_slip_xN, unknown_exam_code, ambiguous_notation)",
    # DRL statistics (drl_table.csv, drl_by_year.csv)
    "quantity": "dose quantity: dap_cgycm2, agd_mgy, dlp_mgycm or ctdivol_mgy",
    "unit": "unit of the row's dose values (the canonical unit of its quantity)",
    "n_facilities": "number of facilities that count (at least min_per_facility exams)",
    "n_exams": "number of exams of the facilities that count",
    "p25": _dose("25th percentile of the facility medians"),
    "p50": _dose("50th percentile of the facility medians (the achievable dose)"),
    "p75": _dose("75th percentile of the facility medians: the proposed diagnostic reference level"),
    "qcd": "quartile coefficient of dispersion of the facility medians, (p75 - p25) / (p75 + p25), unitless",
    "p50_ci_low": _dose("lower end of the 95 % bootstrap confidence interval of p50"),
    "p50_ci_high": _dose("upper end of the 95 % bootstrap confidence interval of p50"),
    "p75_ci_low": _dose("lower end of the 95 % bootstrap confidence interval of p75"),
    "p75_ci_high": _dose("upper end of the 95 % bootstrap confidence interval of p75"),
    "current_drl": _dose("current diagnostic reference level of the catalogue edition drl_edition"),
    "drl": _dose("current diagnostic reference level of the catalogue edition drl_edition"),
    "drl_edition": "catalogue edition of the current DRL, e.g. DE-2016",
    "p75_to_drl": "p75 divided by the current DRL, unitless",
    "share_facilities_above_drl": "share of the facilities that count whose median lies above the current DRL, 0 to 1",
    "share_exams_above_drl": "share of the exams above the current DRL, 0 to 1",
    "n_facilities_below_min": "facilities left out because they reported fewer than min_per_facility exams",
    "n_exams_below_min": "exams of the facilities left out for having fewer than min_per_facility exams",
    "n_excluded_implausible": "values left out because ingest flagged them implausible",
    "n_excluded_phantom": "CT values left out because their CTDI phantom is not the exam's reference phantom",
    "n_excluded_weight": "values left out because the patient weight lies outside weight_range_kg",
    "mean_weight_kg": "mean patient weight of the values used, kg",
    "facility_statistic": "statistic taken per facility: median (or mean, the practice before 2022)",
    "quantile_method": "numpy percentile method (linear; weibull is Excel's QUARTILE.EXC)",
    "min_per_facility": "minimum number of exams for a facility to count",
    "years": "survey years of the row, separated by ';' or given as a range",
    "weight_range_kg": "patient-weight range of the values used, kg (empty: all weights)",
    "edition_requested": "catalogue edition asked for (newest: the newest per exam)",
    "bootstrap_resamples": "number of bootstrap resamples of the facilities",
    "seed": "seed of the random numbers (bootstrap, clustering)",
    "ci_method": "how the confidence intervals were computed",
    "min_facilities": "minimum number of facilities that count for a proposed DRL (p75); fewer give a typical value",
    "status_note": "the row's status in words, with the counts behind it",
    "typical_value": _dose("median of the facility medians where too few facilities count for a proposed DRL "
                           "(ICRP 135's typical value); empty for a proposed DRL"),
    "p75_ci_order_low": _dose("lower end of the distribution-free 95 % confidence interval of p75 (an order "
                              "statistic of the facility medians); empty below 11 facilities"),
    "p75_ci_order_high": _dose("upper end of the distribution-free 95 % confidence interval of p75"),
    "p75_ci_order_coverage": "exact coverage of the distribution-free interval of p75 (binomial), 0 to 1",
    "in_report": "whether the report shows the parameter in its parameters table",
    # Outliers, facilities above the DRL, alerts (04)
    "value": _dose("the dose value"),
    "exam_median": _dose("median of the exam's plausible values (same quantity and CTDI phantom)"),
    "ratio_to_median": "value divided by exam_median, unitless",
    "reason": "why the row is listed, in words",
    "reason_kind": "kind of outlier: unit_slip, far_above, far_below or flagged",
    "slip_factor": "power of ten by which a suspected unit slip is off (10, 100, 1000, 0.1, ...); empty otherwise",
    "z_exam": "robust distance from the exam's median on a log10 scale, in robust SDs (weight-corrected)",
    "facility_median": _dose("median of the facility's values for the exam, quantity and year"),
    "ratio_to_facility_median": "value divided by facility_median, unitless",
    "z_facility": "robust distance from the facility's median on a log10 scale, in within-facility robust SDs",
    "weight_exponent": "slope of log10 dose on log10 patient weight within the exam and quantity, unitless",
    "status": "whether the value was used, or why it was left out of the references",
    "ratio_to_drl": "facility_median divided by the current DRL, unitless",
    "survey_p95": _dose("95th percentile of the facility medians of the exam, quantity and year"),
    "above_drl": "whether facility_median lies above the current DRL",
    "above_p95": "whether facility_median lies above survey_p95",
    "alert": "kind of alert: facility_above_drl (in several years) or source_implausible_share",
    "years_reported": "years in which the facility reported the exam, separated by ';'",
    "facility_medians": "the facility's median per year, 'year: median; ...', in the unit of unit",
    "n_implausible": "values of the data source flagged implausible",
    "n_values": "number of values",
    "share_implausible": "n_implausible divided by n_values, 0 to 1",
    "evidence": "the alert's evidence in words",
    "n_total": "number of values of the exam and quantity, used or not",
    "issue": "kind of data-quality issue of the value (e.g. out_of_range, unit_slip_at_ingest)",
    "detail": "the issue in words",
    # Clustering (04)
    "cluster": "KMeans cluster, 1..k (empty when the item was not clustered)",
    "ward_cluster": "cluster of Ward's hierarchical clustering of the same features, for comparison",
    "median_dose_to_drl": "median of the item's dose values divided by their current DRL, unitless",
    "n_exam_codes": "number of exam codes the data source reported",
    "n_imputed": "number of the item's features filled in (missing for a year)",
    "imputed": "features filled in, separated by ';'",
    "note": "why the item was not clustered or what was filled in",
    "n_members": "number of items in the cluster",
    "members": "the items of the cluster, separated by ';'",
    "drivers": "features that set the cluster apart from the average, in words",
    "clustering": "what was clustered: exam_codes or data_sources",
    "feature": "feature column used for clustering",
    "label": "the feature as a reader's label",
    "scale": "scale the feature was clustered on: log or linear",
    "mean": "mean of the feature (geometric mean on the log scale), in the feature's units",
    "sd": "standard deviation of the feature on the clustering scale",
    "noise_sd": "sampling noise of the feature on the clustering scale",
    "reliability": "share of the feature's spread that is not sampling noise, 0 to 1",
    "weight": "weight of the feature in the clustering",
    "k": "number of clusters tried",
    "silhouette": "silhouette score of the KMeans clustering with k clusters, -1 to 1",
    "used": "whether this k was used",
    "k_chosen_by": "how k was chosen: silhouette, given, given, capped or none",
    "ari_kmeans_ward": "adjusted Rand index between the KMeans and Ward clusterings, -1 to 1",
    "parameter": "name of a parameter",
    "meaning": "what the parameter means",
    # Ingest (02)
    "files": "number of input files",
    "rows_read": "rows read from the sheets",
    "rows_stored": "rows stored as exposures",
    "rows_rejected": "rows not stored (each with its reason in the rejections table)",
    "values_repaired": "values changed by a repair rule (each in the repairs table)",
    "rows_flagged": "stored rows with at least one flag",
    "balanced": "whether rows_read = rows_stored + rows_rejected",
    "header_row": "row of the sheet's header as a spreadsheet shows it",
    "rows": "number of rows",
    "rule": "repair rule (see drl_analysis/ingest/repair.py)",
    "inference": "what the rule inferred, in words (an inference that could be wrong)",
    "touched": "rows (or, for header rules, columns) the inference touched; see unit",
    "values": "number of values",
    "origin": "where the exposures came from: survey file, or RDSR (a DICOM dose report)",
    "exposures": "number of exposures stored",
    "report": "kind of DICOM dose report: ct (CT Radiation Dose, TID 10011) or projection (Projection X-Ray "
    "Radiation Dose, TID 10001)",
    "study_description": "study description of the DICOM dose reports",
    "studies": "number of studies (one DICOM dose report each)",
    "requested_procedure": "requested procedures the dose reports name, most frequent first (at most 3)",
    "protocol": "acquisition protocols the dose reports name, most frequent first (at most 3)",
    "without_exam_code": "dose reports stored without exam code: the procedure map gives none (flagged "
    "unmapped_procedure)",
    # Dose-report screens read by OCR (01)
    "layout": "screen layout the image was read with (a YAML file of drl_analysis/data/layouts)",
    "dap_total_gycm2": "total dose-area product read off the screen, Gy·cm²",
    "dap_exposure_gycm2": "dose-area product of the exposures (acquisitions), Gy·cm²",
    "dap_fluoro_gycm2": "dose-area product of fluoroscopy, Gy·cm²",
    "exposure_series": "number of exposure series",
    "exposure_images": "number of exposure images",
    "fluoro_time_min": "fluoroscopy time, min",
    "air_kerma_total_mgy": "total air kerma at the reference point, mGy",
    "air_kerma_frontal_mgy": "air kerma of the frontal plane, mGy",
    "air_kerma_lateral_mgy": "air kerma of the lateral plane, mGy",
    "consistent": "whether the values read agree with the screen's own sums",
    "needs_review": "whether a person should check the values read",
    "notation": "the number notation the screen's values were read in: en (1,234.5) or de (1.234,5)",
    "notation_from": ("what decided the notation: numbers (those showing one), sums (they hold in one notation only), "
                      "field size (dose-area product / air kerma plausible in one only), unclear (values marked), "
                      "one number, against the field size (values marked); "
                      "empty when no number reads differently in the two"),
    "review_fields": "the fields a reviewer should look at, comma-separated",
    "source": "where the values come from: ocr (read off the image) or corrected (a reviewer's corrections applied)",
    "corrected_fields": "the fields whose values a reviewer corrected, comma-separated",
    # The annual report's own tables (05)
    "item": "what the row states",
    "kind": "kind of the row's item",
    "from": "table the parameter was taken from",
    "clustered": "what was clustered: exam codes or data sources",
}

#: Columns named after something else: (pattern, description with ``{0}``, ``{1}`` for the groups).
COLUMN_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"median_dose_to_drl_(\d{4})", "median of the item's dose values in {0} divided by their current DRL, unitless"),
    (r"qcd_dose_to_drl_(\d{4})", "quartile coefficient of dispersion of dose / current DRL in {0}, unitless"),
    (r"conf_(\w+)", "OCR confidence of the value read for column {0}, 0 to 100"),
    (r"raw_(\w+)", "the text read off the screen for column {0}, as shown there (with its unit)"),
)

#: (table file name, column) -> its meaning where it differs from :data:`COLUMN_DESCRIPTIONS`.
#: A table of the pseudonymised edition is named as the identified one (``annual_report_pseudonymised_x.csv``
#: looks up ``annual_report_x.csv``).
TABLE_COLUMN_DESCRIPTIONS: dict[tuple[str, str], str] = {
    ("drl_table.csv", "status"): "proposed (p75 given), typical_value_only (fewer than min_facilities facilities: "
    "their median only), no_facility_with_enough_exams or no_value_counted",
    ("drl_by_year.csv", "status"): "as in drl_table.csv, for the year",
    ("annual_report_drl.csv", "status"): "as in drl_table.csv",
    ("drl_table.csv", "n_values"): "dose values of the exam code and quantity in the survey, counted or not",
    ("drl_by_year.csv", "n_values"): "dose values of the exam code and quantity in the year, counted or not",
    ("annual_report_drl.csv", "n_values"): "dose values of the exam code and quantity in the survey, counted or not",
    ("annual_report_parameters.csv", "label"): "the parameter's name in the report (empty: not shown there)",
    ("annual_report_cluster_sizes.csv", "members"): "number of items in the cluster",
    ("annual_report_cluster_sizes.csv", "cluster"): "KMeans cluster, 1..k",
    ("annual_report_parameters.csv", "value"): "the parameter's value",
    ("annual_report_provenance.csv", "value"): "the item's value (a version, a commit or a SHA-256)",
    ("annual_report_summary.csv", "value"): "the item's value",
    ("parameters.csv", "value"): "the parameter's value",
    ("ingest_failed_files.csv", "reason"): "why the file could not be read",
    ("ingest_rejections_by_reason.csv", "reason"): "why the rows were not stored",
    ("ingest_inferences_by_file.csv", "unit"): "what touched counts: rows or columns",
    ("ingest_inferences_by_file.csv", "share"): "touched rows divided by the file's rows read, 0 to 1 "
    "(empty for header rules)",
    ("ingest_rdsr_reports.csv", "read"): "DICOM dose reports read (one per file)",
    ("ingest_rdsr_reports.csv", "stored"): "dose reports stored as exposures",
    ("ingest_rdsr_reports.csv", "rejected"): "dose reports whose study was not stored (each reason in the rejections "
    "table)",
    ("ingest_rdsr_reports.csv", "replaced"): "dose reports replaced by a later cumulative report of the same study "
    "and device",
    ("ingest_sheets.csv", "status"): "what the sheet held: data, or why it was not read",
    ("ingest_sheets.csv", "reason"): "how the sheet was read, or why not",
    ("ingest_sheets.csv", "year"): "survey year the sheet was stored under",
    ("excluded_values.csv", "reason"): "why the values were left out, in words",
    ("excluded_values.csv", "n_values"): "number of values with this status",
    ("annual_report_outliers_by_reason.csv", "reason"): "kind of outlier: unit_slip, far_above, far_below or flagged",
    ("annual_report_outliers_by_reason.csv", "values"): "number of outlying values",
}

#: Columns that hold codes or names: text, even where every value looks like a number.
TEXT_COLUMNS: frozenset[str] = frozenset(
    {"facility_id", "exam_code", "data_source", "drl_edition", "source_file", "sheet", "quantity", "unit",
     "years", "years_reported", "flags", "imputed", "members", "parameter", "value", "item"}
)


def _table_key(table: str) -> str:
    return table.replace("annual_report_pseudonymised_", "annual_report_")


def describe_column(column: str, table: str | None = None) -> str | None:
    """What a column of a published table means, with its unit; None when undocumented.

    Parameters
    ----------
    column : str
    table : str, optional
        The table's file name (e.g. ``"drl_table.csv"``), for columns whose
        meaning depends on the table.

    >>> describe_column("dap_cgycm2")
    'dose-area product, cGy·cm² (= µGy·m²)'
    >>> describe_column("median_dose_to_drl_2023")
    "median of the item's dose values in 2023 divided by their current DRL, unitless"
    """
    import re

    if table is not None:
        text = TABLE_COLUMN_DESCRIPTIONS.get((_table_key(table), column))
        if text:
            return text
    if column in COLUMN_DESCRIPTIONS:
        return COLUMN_DESCRIPTIONS[column]
    for pattern, text in COLUMN_PATTERNS:
        m = re.fullmatch(pattern, column)
        if m:
            return text.format(*m.groups())
    return None
