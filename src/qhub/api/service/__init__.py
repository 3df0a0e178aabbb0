"""Kipu Quantum Hub service gateway SDK."""
