"""Batch scoring: read a file in chunks, validate each against the contract, score the valid rows.

readers   detect_format, iter_chunks, header_of: a file as a stream of `Chunk`s
core      score_chunk (pure), score_stream / score_file: the use case the function and
          `cloudscore score` share
"""
