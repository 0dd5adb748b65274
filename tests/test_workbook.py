"""Reading submitted files: every format, and every kind of bad input.

A bad file gets one line naming the file and the reason, in the summary and
in the rejections table; the run goes on with the other files.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from conftest import SOURCE, survey_rows, template_row

from drl_analysis import cli
from drl_analysis.ingest.workbook import FileRejected, decode_text, find_files, read_file, sniff_delimiter

GOOD_ROWS = [template_row(1, 9003, 10.5, weight=70.0, age=40.0), template_row(2, "Hirnschädel", "", "", 800.0, 55.0, 16)]


# --- formats ----------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252"])
def test_csv_with_any_delimiter_and_encoding(write_csv, ingest, delimiter, encoding):
    decimal = "," if delimiter != "," else "."
    rows = survey_rows(
        [
            template_row(1, 9003, f"10{decimal}5", weight="70"),
            template_row(2, "Hirnschädel", "", "", "800", f"55{decimal}5", "16"),
        ],
        header_row=1,
    )
    path = write_csv("Ärztliche_Stelle_Süd_2022.csv", rows, delimiter=delimiter, encoding=encoding)
    run = ingest(path)
    stored = run.exposures
    assert stored["source_row"].tolist() == [2, 3]
    assert stored["sheet"].tolist() == ["", ""]
    assert stored["dap_cgycm2"].iloc[0] == 10.5
    assert stored["ctdivol_mgy"].iloc[1] == 55.5
    assert stored["exam_code"].tolist() == ["9003", "1010"]
    assert stored["data_source"].iloc[0] == "Ärztliche Stelle Süd"
    name = {",": "comma", ";": "semicolon", "\t": "tab"}[delimiter]
    expected_encoding = "cp1252" if encoding == "cp1252" else "utf-8-sig"
    assert f"CSV, {expected_encoding}, {name}-separated" in run.summary.files[0].notes


def test_german_csv_with_quoted_decimal_commas_in_a_comma_separated_file(write_csv, ingest):
    rows = survey_rows([template_row(1, 9003, "10,5", weight="70,5")], header_row=1)
    run = ingest(write_csv("AeSt_Nord_2023.csv", rows, delimiter=","))
    assert run.value("dap_cgycm2", 2) == 10.5
    assert run.value("weight_kg", 2) == 70.5


def test_delimiter_sniffed_from_consistent_counts():
    assert sniff_delimiter("a;b;c\n1,5;2;3\n") == ";"
    assert sniff_delimiter("a\tb\tc\n1,5\t2\t3\n") == "\t"
    assert sniff_delimiter("a,b,c\n1.5,2,3\n") == ","


def test_csv_text_decoded_as_utf8_else_windows_1252():
    assert decode_text("Körper".encode("utf-8")) == ("Körper", "utf-8-sig")
    assert decode_text("Körper".encode("cp1252")) == ("Körper", "cp1252")
    assert decode_text("Gerät;DFP [mGy·cm2];Körper\r".encode("mac_roman")) == ("Gerät;DFP [mGy·cm2];Körper\r",
                                                                               "mac_roman")
    assert decode_text("Gerät;12,5\r\n".encode("cp1252")) == ("Gerät;12,5\r\n", "cp1252")


def test_excel_csv_for_macintosh(tmp_path, ingest):
    """Excel's "CSV (Macintosh)": Mac Roman and lone carriage returns."""
    rows = survey_rows([template_row("Gerät 2", "Hirnschädel", "", "", "800", "55,5", "16")], header_row=1)
    text = "\r".join(";".join("" if v is None else str(v) for v in row) for row in rows) + "\r"
    path = tmp_path / "in" / "Ärztliche_Stelle_Süd_2022.csv"
    path.parent.mkdir(parents=True)
    path.write_bytes(text.encode("mac_roman", errors="replace"))  # Mac Roman has no "²": Excel writes "?"
    run = ingest(path)
    assert run.exposures[["facility_id", "exam_code", "data_source"]].values.tolist() == [
        ["Gerät 2", "1010", "Ärztliche Stelle Süd"]]
    assert "CSV, mac_roman, semicolon-separated" in run.summary.files[0].notes


def _write_xls(path: Path, rows: list[list]) -> Path:
    import xlwt

    wb = xlwt.Workbook(encoding="utf-8")
    ws = wb.add_sheet("Exposure data")
    for r, row in enumerate(rows):
        for c, v in enumerate(row):
            if v not in ("", None):
                ws.write(r, c, v)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(str(path))
    return path


def _write_ods(path: Path, rows: list[list]) -> Path:
    width = max(len(r) for r in rows)
    frame = pd.DataFrame([[None if v == "" else v for v in r] + [None] * (width - len(r)) for r in rows])
    path.parent.mkdir(parents=True, exist_ok=True)
    with pd.ExcelWriter(path, engine="odf") as writer:
        frame.to_excel(writer, sheet_name="Exposure data", header=False, index=False)
    return path


@pytest.mark.parametrize("fmt", ["xlsx", "xlsm", "xls", "ods"])
def test_every_workbook_format_reads_the_same(tmp_path, write_xlsx, ingest, fmt):
    rows = survey_rows(GOOD_ROWS)
    if fmt == "xls":
        path = _write_xls(tmp_path / "in" / "survey.xls", rows)
    elif fmt == "ods":
        path = _write_ods(tmp_path / "in" / "survey.ods", rows)
    else:
        path = write_xlsx(f"survey.{fmt}", rows)
    run = ingest(path)
    stored = run.exposures
    assert stored["sheet"].tolist() == ["Exposure data", "Exposure data"]
    assert stored["source_row"].tolist() == [12, 13]
    assert stored["facility_id"].tolist() == ["1", "2"]
    assert stored["exam_code"].tolist() == ["9003", "1010"]
    assert stored["dap_cgycm2"].iloc[0] == 10.5
    assert stored[["dlp_mgycm", "ctdivol_mgy", "ctdi_phantom_cm"]].iloc[1].tolist() == [800.0, 55.0, 16.0]
    assert (stored["data_source"] == SOURCE).all() and (stored["year"] == 2023).all()
    assert run.summary.files[0].notes == []


def test_xlsx_named_xls_is_read_with_a_note(write_xlsx, ingest):
    path = write_xlsx("survey.xlsx", survey_rows(GOOD_ROWS))
    renamed = path.with_name("survey.xls")
    path.rename(renamed)
    run = ingest(renamed)
    assert len(run.exposures) == 2
    note = "the file is xlsx although its name ends in .xls; read as xlsx"
    assert note in run.summary.files[0].notes
    assert note in run.table("submissions")["message"].iloc[0]


def test_csv_named_xlsx_is_read_with_a_note(write_csv, ingest):
    path = write_csv("AeSt_Nord_2023.csv", survey_rows([template_row(1, 9003, "10,5")], header_row=1), delimiter=";")
    renamed = path.with_name("AeSt_Nord_2023.xlsx")
    path.rename(renamed)
    run = ingest(renamed)
    assert run.value("dap_cgycm2", 2) == 10.5
    assert run.value("sheet", 2) == ""
    assert "the file is csv although its name ends in .xlsx; read as csv" in run.summary.files[0].notes


def test_office_lock_files_and_other_files_in_folders_are_passed_over(tmp_path, write_xlsx):
    good = write_xlsx("survey.xlsx", survey_rows(GOOD_ROWS))
    (good.parent / "~$survey.xlsx").write_bytes(b"lock")
    (good.parent / "readme.txt").write_text("notes")
    (good.parent / "sub").mkdir()
    deeper = write_xlsx("sub/deeper.XLSX", survey_rows(GOOD_ROWS))
    files, problems = find_files([good.parent, tmp_path / "missing.xlsx", good.parent / "readme.txt"])
    assert files == sorted([good, deeper])
    assert [(p.name, why) for p, why in problems] == [
        ("missing.xlsx", "no such file or folder"),
        ("readme.txt", "not a survey file (supported: .xlsx, .xlsm, .xls, .ods, .csv) nor a DICOM file"),
    ]


# --- bad inputs ---------------------------------------------------------------


def _good_xlsx_bytes() -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "Exposure data"
    for row in survey_rows(GOOD_ROWS):
        ws.append([None if v == "" else v for v in row])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def pdf_named_xlsx(path: Path) -> None:
    path.write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n")


def truncated_xlsx(path: Path) -> None:
    data = _good_xlsx_bytes()
    path.write_bytes(data[: len(data) // 2])


def password_protected_xlsx(path: Path) -> None:
    from msoffcrypto.format.ooxml import OOXMLFile

    with path.open("wb") as out:
        OOXMLFile(io.BytesIO(_good_xlsx_bytes())).encrypt("geheim", out)


def empty_workbook(path: Path) -> None:
    from openpyxl import Workbook

    Workbook().save(path)


def zero_byte_file(path: Path) -> None:
    path.write_bytes(b"")


_LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    + "".join(f' <!ENTITY lol{i} "{("&lol%s;" % ("" if i == 1 else i - 1)) * 10}">\n' for i in range(1, 10))
    + "]>\n"
)


def _rewrite_zip(src: bytes, path: Path, parts: dict[str, bytes]) -> None:
    with zipfile.ZipFile(io.BytesIO(src)) as zin, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            zout.writestr(item.filename, parts.pop(item.filename, zin.read(item.filename)))
        for name, data in parts.items():
            zout.writestr(name, data)


def xml_bomb_in_a_sheet(path: Path) -> None:
    src = _good_xlsx_bytes()
    with zipfile.ZipFile(io.BytesIO(src)) as z:
        sheet = z.read("xl/worksheets/sheet1.xml").decode()
    sheet = _LAUGHS + sheet.replace("<t>ID of the facility or device</t>", "<t>&lol9;</t>")
    _rewrite_zip(src, path, {"xl/worksheets/sheet1.xml": sheet.encode()})


def xml_bomb_in_shared_strings(path: Path) -> None:
    src = _good_xlsx_bytes()
    with zipfile.ZipFile(io.BytesIO(src)) as z:
        types = z.read("[Content_Types].xml").decode()
        rels = z.read("xl/_rels/workbook.xml.rels").decode()
    types = types.replace(
        "</Types>",
        '<Override PartName="/xl/sharedStrings.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>',
    )
    rels = rels.replace(
        "</Relationships>",
        '<Relationship Id="rIdSST" Target="sharedStrings.xml" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"/></Relationships>',
    )
    sst = _LAUGHS + (
        '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="1">'
        "<si><t>&lol9;</t></si></sst>"
    )
    _rewrite_zip(src, path, {"[Content_Types].xml": types.encode(), "xl/_rels/workbook.xml.rels": rels.encode(),
                             "xl/sharedStrings.xml": sst.encode()})


def zip_without_a_workbook(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("photo.txt", "not a workbook")


def png_named_csv(path: Path) -> None:
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))


def html_named_xls(path: Path) -> None:
    # Web applications export "Excel" files that are HTML tables.
    path.write_text("<!DOCTYPE html><html><body><table><tr><td>DAP</td></tr></table></body></html>", encoding="utf-8")


def binary_of_no_known_kind(path: Path) -> None:
    path.write_bytes(bytes(range(256)) * 8)


BAD_INPUTS = {
    "html_named_xls.xls": (html_named_xls, "not a workbook: the file is an HTML page"),
    "binary.xlsx": (binary_of_no_known_kind, "not a workbook: the file holds binary data of an unknown kind"),
    "pdf_named_xlsx.xlsx": (pdf_named_xlsx, "not a workbook: the file is a PDF document"),
    "truncated.xlsx": (truncated_xlsx, "corrupt or truncated workbook"),
    "password_protected.xlsx": (password_protected_xlsx, "password-protected workbook"),
    "empty_workbook.xlsx": (empty_workbook, "the workbook holds no exposure data"),
    "zero_bytes.xlsx": (zero_byte_file, "the file is empty (0 bytes)"),
    "xml_bomb_in_sheet.xlsx": (xml_bomb_in_a_sheet, "declares XML entities"),
    "xml_bomb_in_shared_strings.xlsx": (xml_bomb_in_shared_strings, "declares XML entities"),
    "zip_without_workbook.xlsx": (zip_without_a_workbook, "a zip archive that holds no workbook"),
    "image_named_csv.csv": (png_named_csv, "not a workbook: the file is a PNG image"),
}


@pytest.fixture
def folder_with_one_bad_file(tmp_path, request):
    """A folder holding one good submission and the bad file named by the test's parameter."""
    name = request.param
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "AeSt_Nord_2023.xlsx").write_bytes(_good_xlsx_bytes())
    BAD_INPUTS[name][0](folder / name)
    return folder, name, BAD_INPUTS[name][1]


@pytest.mark.parametrize("folder_with_one_bad_file", sorted(BAD_INPUTS), indirect=True)
def test_bad_file_gets_one_line_and_the_run_goes_on(folder_with_one_bad_file, ingest):
    folder, name, reason = folder_with_one_bad_file
    run = ingest(folder)
    failed = [f for f in run.summary.files if f.status == "failed"]
    assert [f.source_file for f in failed] == [name]
    assert reason in failed[0].message
    assert "\n" not in failed[0].message
    lines = [ln for ln in run.summary.text().splitlines() if ln.startswith("FAILED")]
    assert len(lines) == 1 and lines[0].startswith(f"FAILED {name}: ") and reason in lines[0]
    rejections = run.rejections
    mine = rejections[rejections["source_file"] == name]
    assert len(mine) == 1 and reason in mine["reason"].iloc[0]
    assert mine["sheet"].isna().all() and mine["source_row"].isna().all()
    # the good file is stored in full; nothing from the bad one
    stored = run.exposures
    assert set(stored["source_file"]) == {"AeSt_Nord_2023.xlsx"}
    assert len(stored) == 2
    assert run.summary.ok


def test_file_over_the_size_limit_is_refused_unread(tmp_path, ingest, write_csv):
    rows = survey_rows([template_row(1, 9003, str(10 + k), weight="70") for k in range(200)], header_row=1)
    path = write_csv("AeSt_Nord_2023.csv", rows)
    small = write_csv("AeSt_Sued_2023.csv", survey_rows([template_row(1, 9003, "10")], header_row=1))
    assert path.stat().st_size > 0.002 * 2**20 > small.stat().st_size
    run = ingest(path, small, max_file_mb=0.002)
    outcome = {f.source_file: f for f in run.summary.files}
    assert outcome["AeSt_Nord_2023.csv"].status == "failed"
    assert "more than the limit of 0.002 MB (--max-file-mb)" in outcome["AeSt_Nord_2023.csv"].message
    assert outcome["AeSt_Sued_2023.csv"].status == "stored"
    rejected = run.rejections
    assert rejected.loc[rejected["source_file"] == "AeSt_Nord_2023.csv", "reason"].tolist() == [
        outcome["AeSt_Nord_2023.csv"].message]
    assert "FAILED AeSt_Nord_2023.csv: the file is 0.00" in run.summary.text()


def _xlsx_with_empty_formatted_rows(path: Path, n_rows: int) -> None:
    """The good workbook plus ``n_rows`` rows of formatted, empty cells below its data.

    Written as sheet XML straight into the zip: building a million rows cell
    by cell with openpyxl would take minutes.
    """
    from openpyxl import Workbook
    from openpyxl.styles import PatternFill

    wb = Workbook()
    ws = wb.active
    ws.title = "Exposure data"
    rows = survey_rows(GOOD_ROWS)
    for row in rows:
        ws.append([None if v == "" else v for v in row])
    last = len(rows)
    ws.cell(last + 1, 1).fill = PatternFill("solid", fgColor="FFFF99")  # registers style 1
    buf = io.BytesIO()
    wb.save(buf)
    with zipfile.ZipFile(buf) as z:
        sheet = z.read("xl/worksheets/sheet1.xml").decode()
        parts = {i.filename: z.read(i.filename) for i in z.infolist()}
    head, tail = sheet.split("</sheetData>")
    head = head[: head.index(f'<row r="{last + 1}"')]
    first, end = last + 1, last + 1 + n_rows
    head = head.replace(head[head.index("<dimension"): head.index("/>", head.index("<dimension")) + 2],
                        f'<dimension ref="A1:I{end - 1}"/>')
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as out:
        for name, data in parts.items():
            if name != "xl/worksheets/sheet1.xml":
                out.writestr(name, data)
        with out.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as fh:
            fh.write(head.encode())
            for start in range(first, end, 100_000):
                fh.write("".join(
                    f'<row r="{r}" s="1" customFormat="1"><c r="A{r}" s="1"/><c r="I{r}" s="1"/></row>'
                    for r in range(start, min(start + 100_000, end))
                ).encode())
            fh.write(("</sheetData>" + tail).encode())


def test_million_empty_formatted_rows_after_the_data(tmp_path, ingest):
    path = tmp_path / "in" / "AeSt_Nord_2023.xlsx"
    path.parent.mkdir()
    _xlsx_with_empty_formatted_rows(path, 1_000_000)
    with zipfile.ZipFile(path) as z:
        assert b'<row r="1000013"' in z.read("xl/worksheets/sheet1.xml")[-400:]
    run = ingest(path)
    assert run.exposures["source_row"].tolist() == [12, 13]
    totals = run.summary.totals()
    # The formatted rows are no rows read: nothing of them reaches the repair.
    assert (totals["rows_read"], totals["rows_stored"], totals["rows_rejected"]) == (2, 2, 0)


@pytest.mark.parametrize("builder", [password_protected_xlsx, truncated_xlsx, xml_bomb_in_a_sheet, pdf_named_xlsx])
def test_read_file_raises_file_rejected_for_bad_files(tmp_path, builder):
    path = tmp_path / "bad.xlsx"
    builder(path)
    with pytest.raises(FileRejected):
        read_file(path)


def test_bad_files_cli_no_traceback_and_exit_zero_when_something_was_read(tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "AeSt_Nord_2023.xlsx").write_bytes(_good_xlsx_bytes())
    for name, (builder, _) in BAD_INPUTS.items():
        builder(folder / name)
    status = cli.main(["ingest", str(folder), "--db", f"sqlite:///{tmp_path / 'db.sqlite'}", "--no-progress"])
    out, err = capsys.readouterr()
    assert status == 0
    assert "Traceback" not in out + err
    failed = [ln for ln in out.splitlines() if ln.startswith("FAILED ")]
    assert sorted(ln.split(":")[0].removeprefix("FAILED ") for ln in failed) == sorted(BAD_INPUTS)
    assert f"Files: {len(BAD_INPUTS) + 1} (1 stored, 0 already stored, {len(BAD_INPUTS)} failed)" in out


def test_only_bad_files_exit_non_zero(tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    truncated_xlsx(folder / "truncated.xlsx")
    pdf_named_xlsx(folder / "report.xlsx")
    status = cli.main(["ingest", str(folder), "--db", f"sqlite:///{tmp_path / 'db.sqlite'}", "--no-progress"])
    out, err = capsys.readouterr()
    assert status == 1
    assert "Traceback" not in out + err
    assert "FAILED report.xlsx: not a workbook: the file is a PDF document" in out
