"""Text analysis for ads, messages and call transcripts."""
