"""The local Dataflow: the Dataflow API's launch, list, get and cancel of Flex Template jobs,
each job the scoring pipeline run on Beam's DirectRunner as the Dataflow workers' account.

Run as `python -m local_emulator.dataflow --state-dir DIR` (the stack starts it).
"""
