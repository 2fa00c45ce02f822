"""Streaming stages: extraction, URL, language, quality and PII filters and transforms."""
