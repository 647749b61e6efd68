"""Credentials: proxy certificates, tokens, TLS context, and VOMS attribute certificates."""
