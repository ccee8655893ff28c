"""Batch scanning of ads: streamed readers, an append-only resumable journal, the per-row scoring shared by every
engine (in process, worker processes, Ray, the jobs API) and the scan's summary.

Every engine scores a row through `service.batch.rows.score_row`, which calls `service.ads.score_ad_item`, the
function behind `POST /v1/ads/score`.
"""
