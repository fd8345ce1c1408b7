"""Verification metrics and the LFW protocol."""
