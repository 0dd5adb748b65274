"""Dose values read off screenshots of dose-report screens.

Modules, by job: :mod:`~drl_analysis.ocr.layouts` (screen layouts),
:mod:`~drl_analysis.ocr.images` (files, decoding, crops),
:mod:`~drl_analysis.ocr.page` (finding the table), :mod:`~drl_analysis.ocr.engines`
(Tesseract), :mod:`~drl_analysis.ocr.values` (numbers, units, times),
:mod:`~drl_analysis.ocr.glyphs` (what a number's crop shows),
:mod:`~drl_analysis.ocr.trust` (which reading to take),
:mod:`~drl_analysis.ocr.reader` (one report), :mod:`~drl_analysis.ocr.batch`
(many reports, the output table) and :mod:`~drl_analysis.ocr.review` (what a
reviewer needs).
"""
