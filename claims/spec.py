"""Every choice the QĐ 130 specification leaves open, in one place.

Each constant names the section of the claims specification (the research note kept with the
project specs, "claims-xml130", cited here as §n) that it comes from. Constants marked
UNVERIFIED are our reading of a point the sources do not settle: correct them here, and only
here, when the provincial BHXH or the official XSD says otherwise. Facts confirmed by the
sources live with the code that uses them; dated code values live in claims/codelists/.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import ROUND_HALF_UP
from typing import Literal

# --- Spec releases (§1, §4.7) -------------------------------------------------------------
# UNVERIFIED (§4.7, §12.1): QĐ 3176's annex was not read; its only known differences are the
# XML13 renames. Episodes ending on or after 01/01/2025 use the 3176 XML13 (§4.7 recommendation).
RELEASE_3176_FROM = dt.date(2025, 1, 1)
DEFAULT_RELEASE = "4750"


def release_for(end_of_care: dt.date) -> str:
    """Spec release whose tables apply to an episode that ended on ``end_of_care`` (§1, §4.7)."""
    return "3176" if end_of_care >= RELEASE_3176_FROM else "4750"


# --- Envelope and documents (§2.3–§2.5) --------------------------------------------------
XML_DECLARATION = b'<?xml version="1.0" encoding="utf-8"?>\n'  # §2.3 "table document header"
# The 2024 template declares xsi/xsd on GIAMDINHHS (§2.3 "namespaces", [P]).
ENVELOPE_NSMAP = {
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
    "xsd": "http://www.w3.org/2001/XMLSchema",
}
# UNVERIFIED (§2.3 NGAYLAP): the creation date is written yyyyMMdd, as all code seen does.
NGAYLAP_FORMAT = "%Y%m%d"
# UNVERIFIED (§2.3 SOLUONGHOSO, §12.4): one HOSO (one episode) per envelope, as vendors send.
EPISODES_PER_ENVELOPE = 1
# UNVERIFIED (§2.5 escaping): CDATA is optional; we use normal XML escaping everywhere so the
# bytes are canonical and round-trip through any parser.
USE_CDATA = False
# UNVERIFIED (§2.5 charset): text is normalised to NFC before building; NFD is not known to be
# rejected, NFC is the safe choice.
UNICODE_FORM: Literal["NFC"] = "NFC"
# Largest XML document we parse (envelope or table), in bytes; larger inputs are refused.
MAX_XML_BYTES = 64 * 1024 * 1024

# --- Numbers (§2.5, §7.6) ------------------------------------------------------------------
# UNVERIFIED (§7.6, §12.7): rounding mode is not specified; half away from zero.
ROUNDING = ROUND_HALF_UP
# Money is written with exactly two decimals ("536000.00"); §7.6 says trailing zeros are
# optional (UNVERIFIED which the portal prefers), the issue asks for two decimals.
MONEY_DECIMALS = 2
# UNVERIFIED (§7.6): quantities and unit prices (≤ 3 dp) are written without trailing zeros
# ("1", "0.5", "1234.567"), as in the §6.4 example.
DEC3_DECIMALS = 3
# UNVERIFIED (§2.5 percentages, §4.2 #27, §7.5): MUC_HUONG may carry decimals (95 × 50 % = 47.5)
# and 4 characters after QĐ 1931/2026; other percentages stay integers.
MUC_HUONG_MAX_LENGTH = 4
MUC_HUONG_DECIMALS = 2

# UNVERIFIED (§7.1): the 4750 text writes "× TYLE_TT_DV" without "/100"; TYLE_TT_DV is a
# percentage, so XML3 THANH_TIEN_BV/BH divide it by 100.
TYLE_TT_DV_DIVISOR = 100

# --- Benefit level (§5.10, §7.5) -----------------------------------------------------------
# UNVERIFIED (§5.10): card benefit code (3rd character of MA_THE_BHYT) → card level in %.
CARD_BENEFIT_LEVEL = {"1": 100, "2": 100, "3": 95, "4": 80, "5": 100}
# UNVERIFIED (§7.5): base salary 2,340,000 VND from 01/07/2024; visits whose in-scope total is
# below 15 % of it are paid at 100 %.
BASE_SALARY = ((dt.date(2024, 7, 1), 2_340_000),)
LOW_COST_RATIO_PERCENT = 15
# Because the card-level mapping above is UNVERIFIED, a MUC_HUONG that disagrees with
# card level × category ratio is reported as a warning, not a blocking error (§8.3 rule 21).
MUC_HUONG_MISMATCH_BLOCKS = False
# UNVERIFIED (§7.5): category 9 (patient not using BHYT) episodes are not exported.
EXPORT_NON_BHYT = False
NON_BHYT_CATEGORY = "9"

# --- Cost groups (§5.4) --------------------------------------------------------------------
# UNVERIFIED (§5.4, §7.4): T_VTYT sums MA_NHOM 10 only; some vendors add the legacy group 11,
# which we neither emit nor accept (legacy groups are absent from codelists/ma_nhom.csv).
VTYT_GROUPS = frozenset({"10"})
DRUG_TABLE_GROUPS = frozenset({"4", "7", "17"})  # §5.4 typical table XML2 [C]
PERFORMER_GROUPS = frozenset({"1", "2", "3", "8", "18"})  # §4.3 #34/#38 [P]
MACHINE_GROUPS = frozenset({"1", "2", "3"})  # §5.4 "MA_MAY expected for 1, 2, 3" [C]
BED_GROUPS = frozenset({"14", "15", "16"})
IMAGING_GROUP = "2"
CONSULTATION_GROUP = "13"
SURGERY_GROUP = "8"
TRANSPORT_GROUP = "12"
TT_THAU_NOT_REQUIRED_XML2 = frozenset({"7", "17"})
# Which tables are sent only for some MA_LOAI_KCB (§2.3 "which FILEHOSO to include", [P]).
XML5_VISIT_TYPES = frozenset({"02", "03", "04", "05", "06", "08", "09"})
XML8_VISIT_TYPES = frozenset({"03", "04", "06"})

# --- Formats (§4, §5.6, §5.7, §8.2) --------------------------------------------------------
SO_CCCD_RE = re.compile(r"^(\d{9}|\d{12}|[A-Z]\d{7})$")
MA_TTDV_RE = re.compile(r"^\d{10}$")
FACILITY_RE = re.compile(r"^[0-9A-Z]{5}$")
CARD_RE = re.compile(r"^[A-Z]{2}[0-9][0-9]{2}[0-9]{10}$")
MA_GIUONG_RE = re.compile(r"^[HTCK]\d{3}$")
# §5.6 working regex [C]; for funding 3 the facility part is not checked.
MA_MAY_RE = re.compile(r"^(?:[A-ZĐ]{2,3}\.[12]\.\d{5}\..+|[A-ZĐ]{2,3}\.3[^.]*\..+)$")
MAX_SECONDARY_ICD = 12  # §4.1 #28

# --- Imaging (§6) ----------------------------------------------------------------------------
# MA_MAY is never derived from the DICOM Modality (§6.2 suggests a Modality → group table,
# UNVERIFIED): it is the code registered for the machine, configured per AE title / station
# (settings claims.machine_codes), so it matches the facility's 06/DM equipment catalogue.
# UNVERIFIED (§6.2 NGUOI_THUC_HIEN, §12.8): the performer of an imaging line is the performing
# technologist (Operators' Name, mapped to a CCHN code through settings); the reporting
# radiologist goes in XML4 MA_BS_DOC_KQ.
IMAGING_PERFORMER = "technologist"
# UNVERIFIED (§6.3 TEN_CHI_SO): for narrative imaging results the index name is the service name.
IMAGING_TEN_CHI_SO_FROM_SERVICE = True
# UNVERIFIED (§6.2 time rules): DICOM dates/times are the facility's local time (Asia/Ho_Chi_Minh),
# the same clock as the HIS, and are used without conversion.
DICOM_TIME_IS_LOCAL = True
# Report signing times are kept in UTC and written (XML4/XML3 NGAY_KQ) in the server's local
# time zone, which a deployment sets to the facility's (Asia/Ho_Chi_Minh), like the HIS clock.
REPORT_TIME_IS_SERVER_LOCAL = True
# UNVERIFIED (§6.2, §8.3 rule 22): warning when an imaging result comes > 70 min after performance.
IMAGING_RESULT_DELAY_WARNING_MINUTES = 70

# --- Signature (§2.6) ------------------------------------------------------------------------
# [C] parameters; UNVERIFIED (§2.6, §12.3) whether the official XSD scopes the signature
# differently: we sign the whole envelope (Reference URI="") with the Signature in CHUKYDONVI.
SIGNATURE_METHOD = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
DIGEST_METHOD = "http://www.w3.org/2001/04/xmlenc#sha256"
C14N_METHOD = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"

# --- Files (§2.7) ------------------------------------------------------------------------------
# §2.7 recommends <MACSKCB>/<yyyyMMdd>/<MA_LK>_v<n>.xml; MA_LK is a value from the HIS and paths
# are never built from data, so files are named from our own episode id:
# <outbox>/<yyyyMMdd>/ep<id>_v<n>.xml, and the day manifest maps them to MA_LK.
FILE_NAME_FORMAT = "ep{episode_id:08d}_v{version}.xml"
MANIFEST_NAME = "manifest.json"

# --- Portal (§9) -------------------------------------------------------------------------------
PORTAL_SUBMIT_PATH = "/api/qd130/guiHoSoXmlQD3176"  # §9.4 [P][C]
PORTAL_CHECKIN_PATH = "/api/qd130/checkInKcbQd3176"  # §9.3 [P][C]
# UNVERIFIED (§9.5, §12.5): no results service for QĐ 130 files is known; this path is our own
# extension, served by the test stand-in, so acknowledgement tracking has one seam to fill.
PORTAL_RESULT_PATH = "/api/qd130/ketQuaXuLy"
