"""The printable report: one A4 PDF with the hospital header (reportlab, no DB, no clock).

Vietnamese needs a TrueType font with its diacritics (the 14 standard PDF fonts lack them), so
the font files come from the settings (Debian's DejaVu by default).
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from xml.sax.saxutils import escape

from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import HRFlowable, Paragraph, SimpleDocTemplate, Spacer, Table

from lienthong.clock import hospital_time
from lienthong.settings import ReportsSettings
from pacs.index.models import Study
from pacs.reports.errors import ReportError
from pacs.reports.models import Report
from pacs.reports.service import as_utc


class FontUnavailable(ReportError):
    """The configured font file is missing: the PDF cannot be produced."""

    http_status = 503


@dataclass(frozen=True)
class PrintableReport:
    """Everything printed: study identification and the report version's fields."""

    patient_name: str
    patient_id: str
    patient_birth_date: str
    patient_sex: str
    accession_number: str
    study_date: str
    study_description: str
    modalities: str
    version: int
    status: str
    findings: str
    conclusion: str
    reader_name: str
    signed_at: dt.datetime | None
    amendment_reason: str


def printable_report(report: Report, study: Study) -> PrintableReport:
    return PrintableReport(
        patient_name=study.patient_name,
        patient_id=study.patient_id,
        patient_birth_date=study.patient_birth_date,
        patient_sex=study.patient_sex,
        accession_number=study.accession_number,
        study_date=study.study_date,
        study_description=study.study_description,
        modalities=study.modalities_in_study.replace("\\", "/"),
        version=report.version,
        status=report.status,
        findings=report.findings,
        conclusion=report.conclusion,
        reader_name=report.reader_name,
        signed_at=as_utc(report.signed_at) if report.signed_at else None,
        amendment_reason=report.amendment_reason,
    )


def _register_fonts(settings: ReportsSettings) -> tuple[str, str]:
    """Register the configured faces (once per file) and return their font names."""
    names = []
    for path in (settings.font_path, settings.bold_font_path):
        if not path.is_file():
            raise FontUnavailable(f"report font not found: {path.name}")
        name = f"LT-{path.stem}"
        if name not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(TTFont(name, str(path)))
        names.append(name)
    return names[0], names[1]


def _text(value: str) -> str:
    """Plain text for a Paragraph: markup escaped, line breaks kept."""
    return escape(value).replace("\n", "<br/>")


def _date(value: str) -> str:
    return f"{value[6:8]}/{value[4:6]}/{value[0:4]}" if len(value) == 8 else value


def render_pdf(report: PrintableReport, settings: ReportsSettings) -> bytes:
    """The PDF bytes of one report version. Raises FontUnavailable."""
    font, font_bold = _register_fonts(settings)
    body = ParagraphStyle("body", fontName=font, fontSize=10.5, leading=14)
    small = ParagraphStyle("small", parent=body, fontSize=9, leading=12)
    head = ParagraphStyle("head", parent=body, fontName=font_bold, fontSize=13, leading=17)
    title = ParagraphStyle("title", parent=head, fontSize=16, leading=22, alignment=1)
    section = ParagraphStyle("section", parent=head, fontSize=11, spaceBefore=8)

    story: list[object] = [Paragraph(_text(settings.hospital_name.upper()), head)]
    story.append(Paragraph(_text(settings.department), body))
    if settings.address:
        story.append(Paragraph(_text(settings.address), small))
    story += [Spacer(1, 4 * mm), HRFlowable(width="100%"), Spacer(1, 3 * mm)]
    story.append(Paragraph("PHIẾU KẾT QUẢ CHẨN ĐOÁN HÌNH ẢNH", title))
    sex = {"M": "Nam", "F": "Nữ"}.get(report.patient_sex, report.patient_sex)
    rows = [
        ["Họ tên:", report.patient_name.replace("^", " ").strip(), "Mã BN:", report.patient_id],
        ["Ngày sinh:", _date(report.patient_birth_date), "Giới:", sex],
        ["Số phiếu:", report.accession_number, "Ngày chụp:", _date(report.study_date)],
        ["Kỹ thuật:", f"{report.modalities} {report.study_description}".strip(), "", ""],
    ]
    cells = [[Paragraph(_text(c), body) for c in row] for row in rows]
    story.append(Table(cells, colWidths=[25 * mm, 75 * mm, 25 * mm, 45 * mm]))
    story.append(Paragraph("MÔ TẢ", section))
    story.append(Paragraph(_text(report.findings) or "—", body))
    story.append(Paragraph("KẾT LUẬN", section))
    story.append(Paragraph(_text(report.conclusion) or "—", body))
    if report.amendment_reason:
        story.append(Paragraph("LÝ DO ĐIỀU CHỈNH", section))
        story.append(Paragraph(_text(report.amendment_reason), body))
    story.append(Spacer(1, 8 * mm))
    if report.signed_at is not None:
        when = hospital_time(report.signed_at)
        signature = (
            f"Ngày {when:%d} tháng {when:%m} năm {when:%Y}, {when:%H:%M}<br/>"
            f"Bác sĩ đọc kết quả (đã ký, phiên bản {report.version})<br/><br/>"
            f"{_text(report.reader_name)}"
        )
    else:
        signature = f"BẢN NHÁP — CHƯA KÝ (phiên bản {report.version})"
    story.append(Paragraph(signature, ParagraphStyle("sig", parent=body, alignment=2)))

    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=15 * mm,
        bottomMargin=15 * mm, title="Kết quả chẩn đoán hình ảnh", author=settings.hospital_name,
    )
    doc.build(story)
    return buffer.getvalue()
