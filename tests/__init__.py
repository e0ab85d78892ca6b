"""The test suite (a package: its helper modules are imported relatively)."""
