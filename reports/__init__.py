"""The scorecard pages (docs/reports.md)."""

# Every page, and the server that serves them, forbid any request: the pages are one file.
CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
