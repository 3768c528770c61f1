"""Showing results: markdown tables and number formatting (``tables``)."""
