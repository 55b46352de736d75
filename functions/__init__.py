"""Cloud Function entry points: thin, one use-case call each."""
