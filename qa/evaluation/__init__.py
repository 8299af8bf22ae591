"""Evaluation: ``qa eval`` runs question sets through the engine (run), scores them (metrics) and draws them (plots)."""
