"""Tests written to kill mutants that the rest of the suite let live (issue 12, part 2)."""
