"""Tests of curvature: derivatives, operators, spectra, critical points."""
