"""Reading scientific PDFs into sections, tables and unit-checked facts (entry point: tools.literature.pdf.read_pdf)."""
